"""Writes for notes, mentions, followers and notifications.

Every function is one user-visible action in one transaction. Notifications are rows
written in the same transaction as their cause (notes.notify); e-mail is delivered later by
notes.tasks, so nothing is lost when Redis or SMTP is down.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from helpdesk.models import User
from helpdesk.sanitize import render_markdown
from inbox.models import Ticket, TicketAccess
from inbox.services import ticket_grant_access, ticket_touch

from ..mentions import ResolvedMentions, mentions_resolve
from ..models import (
    Delivery,
    Follower,
    Mention,
    Note,
    NoteRevision,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from ..notify import notify
from ..selectors import team_member_ids, user_ids_who_see_ticket


class NoteInvalid(ValueError):
    """The note cannot be saved as given (e.g. empty body)."""


class NoteForbidden(PermissionError):
    """The user may see the note but not change it (not the author, or too late)."""


# --- notes and mentions -----------------------------------------------------------------


def _render(body_markdown: str) -> tuple[str, str]:
    body = (body_markdown or "").strip()
    if not body:
        raise NoteInvalid("A note needs some text.")
    return body, render_markdown(body)


@transaction.atomic
def note_create(
    *, ticket: Ticket, author: User | None, body_markdown: str, at: datetime | None = None
) -> Note:
    """Add an internal note to the ticket (never e-mailed, never shown to the customer).

    @mentions are stored as rows and notified; a mentioned person who cannot see the ticket
    is given access to it (recorded as an event). `at` backdates the note (imports, demo).
    """
    body, html = _render(body_markdown)
    note = Note.objects.create(
        ticket=ticket,
        author=author,
        body_markdown=body,
        body_html=html,
        created_at=at or timezone.now(),
    )
    ticket_touch(ticket=ticket)
    _mentions_record(note=note, resolved=mentions_resolve(html=html), actor=author)
    from api.webhooks import note_payload, webhook_emit  # lazy: the API app sits above notes

    webhook_emit("note.created", note_payload(note))
    return note


def _mentions_record(
    *, note: Note, resolved: ResolvedMentions, actor: User | None, only_new: bool = False
) -> list[Notification]:
    """Store the note's mentions and notify who they name, in a fixed number of queries."""
    if not resolved.users and not resolved.teams:
        return []
    users, teams = resolved.users, resolved.teams
    if only_new:  # an edit notifies only the people it newly names
        existing = Mention.objects.filter(note=note).values_list("user_id", "team_id")
        known_users = {user_id for user_id, _ in existing if user_id}
        known_teams = {team_id for _, team_id in existing if team_id}
        users = [u for u in users if u.pk not in known_users]
        teams = [t for t in teams if t.pk not in known_teams]
        if not users and not teams:
            return []
    Mention.objects.bulk_create(
        [Mention(note=note, user=u) for u in users] + [Mention(note=note, team=t) for t in teams],
        ignore_conflicts=only_new,
    )
    direct_ids = {u.pk for u in users}
    team_ids: set[int] = set()
    members = team_member_ids(team_ids=[t.pk for t in teams]) if teams else {}
    for ids in members.values():
        team_ids |= ids
    team_ids -= direct_ids
    actor_id = actor.pk if actor else None
    recipients = (direct_ids | team_ids) - {actor_id}
    ticket_access_grant_missing(
        ticket=note.ticket,
        user_ids=recipients,
        reason=TicketAccess.Reason.MENTIONED,
        granted_by=actor,
    )
    ticket = note.ticket
    who = f"@{actor.username}" if actor else "An automation"
    created = notify(
        recipients=direct_ids,
        kind=NotificationKind.MENTIONED,
        actor=actor,
        ticket=ticket,
        note=note,
        text=f"{who} mentioned you on #{ticket.number}: {ticket.subject}",
    )
    if team_ids:
        handles = ", ".join(f"@{t.handle}" for t in teams)
        created += notify(
            recipients=team_ids,
            kind=NotificationKind.MENTIONED,
            actor=actor,
            ticket=ticket,
            note=note,
            text=f"{who} mentioned {handles} on #{ticket.number}: {ticket.subject}",
            data={"teams": [t.handle for t in teams]},
        )
    return created


def ticket_access_grant_missing(
    *, ticket: Ticket, user_ids: Iterable[int], reason: str, granted_by: User | None
) -> list[int]:
    """Give access to those of `user_ids` who cannot see the ticket yet; return their ids.

    One query when everyone can already see it (the common case, e.g. a team mention on the
    team's own ticket); each grant is its own event so the audit trail names the person.
    """
    ids = set(user_ids)
    missing = ids - user_ids_who_see_ticket(ticket=ticket, user_ids=ids)
    if not missing:
        return []
    for user in User.objects.filter(pk__in=missing, is_active=True, is_staff=True):
        ticket_grant_access(ticket=ticket, user=user, reason=reason, granted_by=granted_by)
    return sorted(missing)


@transaction.atomic
def note_edit(*, note: Note, user: User, body_markdown: str) -> Note:
    """Change a note's text: only its author, only within NOTE_EDIT_WINDOW_MINUTES.

    The previous text is kept as a NoteRevision; newly mentioned people are notified.
    """
    note = Note.objects.select_for_update().select_related("ticket").get(pk=note.pk)
    if note.author_id != user.pk:
        raise NoteForbidden("Only the author can edit a note.")
    if timezone.now() > note.edit_deadline:
        raise NoteForbidden(
            f"Notes can be edited for {settings.NOTE_EDIT_WINDOW_MINUTES} minutes after posting."
        )
    body, html = _render(body_markdown)
    if body == note.body_markdown:
        return note  # no-op: no revision, nobody notified
    NoteRevision.objects.create(note=note, body_markdown=note.body_markdown, edited_by=user)
    note.body_markdown, note.body_html, note.edited_at = body, html, timezone.now()
    note.save(update_fields=["body_markdown", "body_html", "edited_at", "updated_at"])
    ticket_touch(ticket=note.ticket)
    _mentions_record(note=note, resolved=mentions_resolve(html=html), actor=user, only_new=True)
    return note


@transaction.atomic
def note_set_pinned(*, note: Note, user: User, is_pinned: bool) -> Note:
    """Pin a note to the top of its ticket (or unpin it); anyone who sees the ticket may."""
    note = Note.objects.select_for_update().get(pk=note.pk)
    if note.is_pinned == is_pinned:
        return note
    note.is_pinned = is_pinned
    note.save(update_fields=["is_pinned", "updated_at"])
    ticket_touch(ticket=note.ticket)
    return note


# --- followers ----------------------------------------------------------------------------


@transaction.atomic
def follower_add(*, ticket: Ticket, user: User) -> bool:
    """Follow the ticket (customer replies and status changes notify followers)."""
    _follower, created = Follower.objects.get_or_create(ticket=ticket, user=user)
    return created


@transaction.atomic
def follower_remove(*, ticket: Ticket, user: User) -> bool:
    deleted, _ = Follower.objects.filter(ticket=ticket, user=user).delete()
    return bool(deleted)


# --- notifications ---------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, notification_id: int, user: User) -> int:
    """Mark one of the user's notifications read; another user's id changes nothing."""
    return Notification.objects.filter(
        pk=notification_id, recipient=user, read_at__isnull=True
    ).update(read_at=timezone.now())


@transaction.atomic
def notification_mark_all_read(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


@transaction.atomic
def notification_preference_set(*, user: User, kind: str, email: str) -> NotificationPreference:
    if kind not in NotificationKind.values or email not in Delivery.values:
        raise ValueError("Unknown notification kind or delivery.")
    pref, _ = NotificationPreference.objects.update_or_create(
        user=user, kind=kind, defaults={"email": email}
    )
    return pref
