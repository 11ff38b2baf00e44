"""Writes for collaboration: one function per user-visible action, each in a transaction.

Notifications are rows written in the same transaction as their cause (notes.notify);
e-mail is delivered later by notes.tasks, so nothing is lost when Redis or SMTP is down.
Callers import from here: `from notes.services import note_create, handoff_accept`.
"""

from .handoffs import (
    HandoffError,
    handoff_accept,
    handoff_cancel,
    handoff_create,
    handoff_decline,
    handoff_overdue_notify,
    handoff_return,
    handoff_transfer,
)
from .notes import (
    NoteForbidden,
    NoteInvalid,
    follower_add,
    follower_remove,
    note_create,
    note_edit,
    note_set_pinned,
    notification_mark_all_read,
    notification_mark_read,
    notification_preference_set,
)

__all__ = [
    "HandoffError",
    "NoteForbidden",
    "NoteInvalid",
    "follower_add",
    "follower_remove",
    "handoff_accept",
    "handoff_cancel",
    "handoff_create",
    "handoff_decline",
    "handoff_overdue_notify",
    "handoff_return",
    "handoff_transfer",
    "note_create",
    "note_edit",
    "note_set_pinned",
    "notification_mark_all_read",
    "notification_mark_read",
    "notification_preference_set",
]
