"""Writes for collaboration: notes (mentions, notifications and handoffs build on these)."""

from __future__ import annotations

from django.db import transaction

from helpdesk.models import User
from helpdesk.sanitize import render_markdown
from inbox.models import Ticket
from inbox.services import ticket_touch

from .models import Note


class NoteInvalid(ValueError):
    """The note cannot be saved as given (e.g. empty body)."""


@transaction.atomic
def note_create(*, ticket: Ticket, author: User | None, body_markdown: str) -> Note:
    """Add an internal note to the ticket (never e-mailed, never shown to the customer)."""
    body = (body_markdown or "").strip()
    if not body:
        raise NoteInvalid("A note needs some text.")
    note = Note.objects.create(
        ticket=ticket, author=author, body_markdown=body, body_html=render_markdown(body)
    )
    ticket_touch(ticket=ticket)
    from api.webhooks import note_payload, webhook_emit  # lazy: the API app sits above notes

    webhook_emit("note.created", note_payload(note))
    return note
