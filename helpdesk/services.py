"""Writes for the organisation: audit entries and login throttling."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest

from .models import AuditLog, User

logger = logging.getLogger(__name__)
T = TypeVar("T")

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


# --- per-process cache of rarely-changing configuration --------------------------------
#
# Every inbound mail needs the mailboxes, SLA policies, teams' assignment modes, webhooks
# and automation rules; re-reading them cost a query each per mail. They are cached per
# process and checked against one shared version key in the cache, read once per
# `config_snapshot` (one mail); outside a snapshot callers read fresh. Any save or delete
# of a watched model bumps the key now and again after commit, like the navigation
# counts: the second bump retires what another process may have loaded from the old
# committed state in between.

CONFIG_VERSION_KEY = "config:version"
CONFIG_MODELS = (
    "helpdesk.Mailbox",
    "helpdesk.Team",
    "helpdesk.SLAPolicy",
    "helpdesk.SLATarget",
    "helpdesk.BusinessHours",
    "helpdesk.BusinessHoursInterval",
    "helpdesk.Holiday",
    "automations.Rule",
    "api.Webhook",
    # The staff lists of the inbox and ticket pages (assignee menus, escalation targets).
    "helpdesk.User",
    "helpdesk.Membership",
)
# Round-robin advances the team's cursor on every assignment; that is state, not config.
TEAM_STATE_FIELDS = frozenset({"last_assigned_user", "updated_at"})
# Every login saves last_login; no cached list shows it.
USER_STATE_FIELDS = frozenset({"last_login"})
# Saves of only these fields are state, not configuration: they retire nothing.
_STATE_FIELDS = {"helpdesk.Team": TEAM_STATE_FIELDS, "helpdesk.User": USER_STATE_FIELDS}

_config_values: dict[str, Any] = {}
_config_version: list[str | None] = [None]
_config_local = threading.local()  # per thread (= per connection): snapshot, pending write


def config_cached(name: str, load: Callable[[], T]) -> T:
    """Return the cached value `name`, loading it with `load` when missing or retired."""
    if not _config_fresh():
        return load()
    try:
        return _config_values[name]
    except KeyError:
        value = _config_values[name] = load()
        return value


@contextmanager
def config_snapshot() -> Iterator[None]:
    """Check the shared version once for everything read inside (one inbound mail)."""
    depth = getattr(_config_local, "depth", 0)
    _config_local.depth = depth + 1
    try:
        if depth == 0:
            _config_local.snapshot_ok = None
            _config_local.snapshot_ok = _config_fresh()
        yield
    finally:
        _config_local.depth = depth


def config_changed(**kwargs: Any) -> None:
    """Signal receiver: a watched model was written; retire every cached value."""
    fields = kwargs.get("update_fields")
    sender = kwargs.get("sender")
    if (
        fields
        and sender is not None
        and set(fields) <= _STATE_FIELDS.get(sender._meta.label, set())
    ):
        return
    _config_values.clear()
    _config_version_bump()
    pending = getattr(_config_local, "pending", None)
    if pending is not None and _pending_registered(pending):
        return  # this transaction already bumps on commit
    callback = _ConfigCommitted()
    _config_local.pending = callback
    transaction.on_commit(callback)


class _ConfigCommitted:
    """The after-commit bump; while it is queued, this thread reads configuration fresh."""

    def __call__(self) -> None:
        if getattr(_config_local, "pending", None) is self:
            _config_local.pending = None
        _config_values.clear()
        _config_version_bump()


def _pending_registered(callback: _ConfigCommitted) -> bool:
    return any(entry[1] is callback for entry in connection.run_on_commit)


def _config_fresh() -> bool:
    """Whether the process cache may be used now (and clear it if it was retired)."""
    pending = getattr(_config_local, "pending", None)
    if pending is not None:
        if _pending_registered(pending):
            return False  # our own uncommitted change: others may not see it, nor we cache
        _config_local.pending = None  # rolled back: what we loaded meanwhile is void
        _config_values.clear()
    depth = getattr(_config_local, "depth", 0)
    if depth == 0:
        return False  # outside a snapshot every caller reads fresh, as before
    if _config_local.snapshot_ok is not None:
        return _config_local.snapshot_ok
    try:
        version = cache.get(CONFIG_VERSION_KEY)
        if version is None:  # first use, or the cache was flushed
            cache.add(CONFIG_VERSION_KEY, uuid.uuid4().hex, timeout=None)
            version = cache.get(CONFIG_VERSION_KEY)
    except Exception:
        logger.warning("configuration version unavailable: reading configuration fresh")
        return False
    if version is None:
        return False
    if version != _config_version[0]:
        _config_values.clear()
        _config_version[0] = version
    return True


def _config_version_bump() -> None:
    try:
        cache.set(CONFIG_VERSION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:
        logger.warning("could not retire the cached configuration")


for _label in CONFIG_MODELS:
    post_save.connect(config_changed, sender=_label, dispatch_uid=f"config-{_label}-save")
    post_delete.connect(config_changed, sender=_label, dispatch_uid=f"config-{_label}-delete")
