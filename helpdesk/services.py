"""Writes for the organisation: audit entries and login throttling."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from .models import AuditLog, User

LOGIN_FAILURE_LIMIT = getattr(settings, "LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT_SECONDS = getattr(settings, "LOGIN_LOCKOUT_SECONDS", 15 * 60)


def client_ip(request: HttpRequest | None) -> str | None:
    """The peer address; X-Forwarded-For is trusted only through SECURE_PROXY_SSL_HEADER's
    proxy, which rewrites REMOTE_ADDR (gunicorn --forwarded-allow-ips), never from headers."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    request: HttpRequest | None = None,
    object_repr: str = "",
    data: dict[str, Any] | None = None,
) -> AuditLog:
    return AuditLog.objects.create(
        action=action,
        actor=actor if actor is not None and actor.pk else None,
        ip_address=client_ip(request),
        object_repr=object_repr[:200],
        data=data or {},
    )


def _login_key(username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"login-failures:{digest}"


def login_is_locked(*, username: str) -> bool:
    return (cache.get(_login_key(username)) or 0) >= LOGIN_FAILURE_LIMIT


def login_reserve_attempt(*, username: str) -> bool:
    """Count an attempt before checking the password; False once the limit is reached.

    Counting first (an atomic increment) means fifty parallel guesses cannot all slip in
    before the first failure is recorded: at most LOGIN_FAILURE_LIMIT are ever evaluated.
    """
    key = _login_key(username)
    cache.add(key, 0, LOGIN_LOCKOUT_SECONDS)
    attempts = cache.incr(key)
    return attempts <= LOGIN_FAILURE_LIMIT


def login_succeeded(*, username: str) -> None:
    cache.delete(_login_key(username))


SYSTEM_HANDLE = "tandem-bot"


def system_user() -> User:
    """The inactive account that automations act as where a person is required (handoffs)."""
    user, created = User.objects.get_or_create(
        username=SYSTEM_HANDLE,
        defaults={
            "first_name": "Tandem",
            "last_name": "automation",
            "role": "admin",
            "is_active": False,
        },
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
