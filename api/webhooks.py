"""Outbound webhooks: outbox rows written with the event, delivered signed by Celery.

Receivers verify `X-Tandem-Signature: sha256=<hex>`, the HMAC-SHA256 with the webhook's
secret over `<X-Tandem-Timestamp>.<raw body>`, and reject old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from helpdesk.services import config_cached

from .models import Webhook, WebhookDelivery

USER_AGENT = "Tandem-Webhooks/1"


def webhook_emit(kind: str, payload: dict[str, Any]) -> list[int]:
    """Queue `kind` with `payload` for every active webhook subscribed to it.

    The rows are written in the caller's transaction (nothing lost if Redis is down: the
    sweep finds them); the Celery task is asked only after commit.
    """
    # Few webhooks exist; filtering the kinds in Python works on SQLite and PostgreSQL.
    # Every ticket event asks; webhooks change rarely (helpdesk.services retires the cache).
    active = config_cached("webhooks:active", lambda: tuple(Webhook.objects.filter(is_active=True)))
    webhooks = [hook for hook in active if hook.wants(kind)]
    if not webhooks:
        return []
    now = timezone.now()
    data = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(webhook=hook, event=kind, payload=data, next_attempt_at=now)
            for hook in webhooks
        ]
    )
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: _enqueue(ids))
    return ids


def _enqueue(delivery_ids: list[int]) -> None:
    from .tasks import deliver_webhook_task

    for delivery_id in delivery_ids:
        try:
            deliver_webhook_task.delay(delivery_id)
        except Exception:  # broker down: the periodic sweep delivers it later
            import logging

            logging.getLogger(__name__).warning("webhook enqueue failed for %s", delivery_id)


# --- signing --------------------------------------------------------------------------------


def webhook_body(delivery: WebhookDelivery) -> bytes:
    envelope = {
        "id": str(delivery.event_id),
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def webhook_signature_verify(
    *, secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = 300
) -> bool:
    """Check a signature as a receiver would (also used by the tests)."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, signature)


# --- safe targets -----------------------------------------------------------------------------


class UnsafeTarget(Exception):
    """The URL is not http(s) or resolves to an address we must not call."""


def _is_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return _is_private(mapped)
    return not address.is_global or address.is_multicast


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str
    path: str


def target_resolve(url: str, *, allow_private: bool) -> Target:
    """Resolve the URL once and refuse private, loopback, link-local or mapped addresses.

    The connection then goes to the address checked here (no second lookup an attacker's
    DNS could answer differently).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget("Only http and https URLs are allowed.")
    if parts.username or parts.password:
        raise UnsafeTarget("Credentials in the URL are not allowed.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"Cannot resolve {parts.hostname}: {exc}") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise UnsafeTarget(f"{parts.hostname} has no address.")
    if not allow_private and any(_is_private(address) for address in addresses):
        raise UnsafeTarget(f"{parts.hostname} resolves to a private or loopback address.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(parts.scheme, parts.hostname, port, str(addresses[0]), path)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed address, with the certificate checked against the host name."""

    def __init__(self, host: str, address: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def webhook_post(*, target: Target, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST once; return the status code. Redirects are not followed (http.client never
    does), so a 3xx is simply not a success."""
    if target.scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPSConnection(
            target.host,
            target.address,
            port=target.port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        connection = http.client.HTTPConnection(target.address, target.port, timeout=timeout)
    try:
        host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
        connection.request("POST", target.path, body=body, headers={**headers, "Host": host_header})
        response = connection.getresponse()
        response.read(64 * 1024)  # drain a little; the body is not used
        return response.status
    finally:
        connection.close()


# --- payloads (built from what the caller holds: no extra queries) ---------------------------


def ticket_payload(ticket: Any, *, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = {
        "ticket": {
            "number": ticket.number,
            "subject": ticket.subject,
            "status": ticket.status,
            "priority": ticket.priority,
            "channel": ticket.channel,
            "team_id": ticket.team_id,
            "assignee_id": ticket.assignee_id,
            "account_id": ticket.account_id,
            "requester_id": ticket.requester_id,
        }
    }
    if changes is not None:
        payload["changes"] = changes
    return payload


def message_payload(message: Any) -> dict[str, Any]:
    return {
        "ticket": {"number": message.ticket.number},
        "message": {
            "id": message.pk,
            "direction": message.direction,
            "author_user_id": message.author_user_id,
            "author_contact_id": message.author_contact_id,
            "is_automatic": message.is_automatic,
            "body_text": message.body_text,
            "created_at": message.created_at,
        },
    }


def note_payload(note: Any) -> dict[str, Any]:
    return {
        "ticket": {"number": note.ticket.number},
        "note": {
            "id": note.pk,
            "author_id": note.author_id,
            "body_markdown": note.body_markdown,
            "created_at": note.created_at,
        },
    }


def handoff_payload(handoff: Any) -> dict[str, Any]:
    """For handoff.created/accepted/declined/returned (wired by the notes services)."""
    return {
        "ticket": {"number": handoff.ticket.number},
        "handoff": {
            "id": handoff.pk,
            "kind": handoff.kind,
            "reason": handoff.reason,
            "status": handoff.status,
            "from_user_id": handoff.from_user_id,
            "to_user_id": handoff.to_user_id,
            "to_team_id": handoff.to_team_id,
            "responded_by_id": handoff.responded_by_id,
        },
    }


def account_health_payload(
    account: Any, *, old_score: float | None, old_band: str, new_score: float | None, new_band: str
) -> dict[str, Any]:
    """For account.health_changed (wired by the metrics recompute)."""
    return {
        "account": {"id": account.pk, "name": account.name},
        "health": {
            "from": {"score": old_score, "band": old_band},
            "to": {"score": new_score, "band": new_band},
        },
    }
