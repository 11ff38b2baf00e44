"""Template context for every page: the unread notification count behind the bell."""

from __future__ import annotations

from django.http import HttpRequest

from .selectors import notification_unread_count


def notifications(request: HttpRequest) -> dict[str, int]:
    """Return the signed-in user's unread count (one query; none for anonymous visitors)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notification_count": notification_unread_count(user=user)}
