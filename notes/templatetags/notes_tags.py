"""Template helpers for collaboration partials (no queries: they read loaded rows)."""

from __future__ import annotations

from django import template

from notes.models import Note

register = template.Library()


@register.filter
def can_edit(note: Note, user: object) -> bool:
    """Whether `user` may edit `note` now: `{% if note|can_edit:user %}`."""
    return note.is_editable_by(user)
