"""Template helpers for collaboration partials (no queries: they read loaded rows)."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from notes.models import Note

register = template.Library()


@register.filter
def can_edit(note: Note, user: object) -> bool:
    """Whether `user` may edit `note` now: `{% if note|can_edit:user %}`."""
    return note.is_editable_by(user)


def csrf_input(context: template.Context) -> str:
    """The hidden CSRF field, as `{% csrf_token %}` renders it."""
    value = context.get("csrf_token")
    if not value or value == "NOTPROVIDED":
        return ""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', value)


def note_item_html(note: Note, *, user: object, csrf: str) -> SafeString:
    """One internal note of the ticket timeline (`csrf` from csrf_input()).

    Built in Python, not a template include: fifty notes made the include a large part of
    the ticket page's render time. Every value goes through escape(); the body is the
    Markdown nh3 sanitised when the note was saved, shown as the template showed it.
    """
    pk = note.pk
    author = note.author
    name = escape((author.get_full_name() or author.username) if author else "Automation")
    edit_url = escape(reverse("notes:note_edit", args=[pk]))
    meta = f"· {timezone.localtime(note.created_at):%b %-d, %H:%M}"
    if note.edited_at:
        edited = f"{timezone.localtime(note.edited_at):%b %-d, %H:%M}"
        meta += f' · <a href="{edit_url}" title="Edited {edited}: see earlier versions">edited</a>'
    if note.is_pinned:
        meta += " · pinned"
    edit = f'<a href="{edit_url}" class="note-edit">Edit</a>' if note.is_editable_by(user) else ""
    action, label = ("notes:note_unpin", "Unpin") if note.is_pinned else ("notes:note_pin", "Pin")
    pin = (
        f'<form class="inline" method="post" action="{escape(reverse(action, args=[pk]))}">'
        f'{csrf}<button class="linkbtn" type="submit">{label}</button></form>'
    )
    # Safe: every value above is escaped, and body_html was sanitised by nh3.
    return mark_safe(
        f'<li class="item note" id="note-{pk}" data-note="{pk}">\n'
        f'  <div class="meta"><span class="internal-badge">Internal note</span> <strong>{name}'
        f'</strong> <span class="muted">{meta}</span></div>\n'
        f'  <div class="body">{note.body_html}</div>\n'
        f'  <div class="note-actions">\n    {edit}\n    {pin}\n  </div>\n</li>\n'
    )


@register.simple_tag(takes_context=True)
def note_item(context: template.Context, note: Note) -> SafeString:
    """`{% note_item note %}`: one timeline note for `user` in the context."""
    return note_item_html(note, user=context.get("user"), csrf=csrf_input(context))
