"""API tokens, outbound webhooks with their delivery log, and idempotency keys."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A personal API token; only the SHA-256 of the secret is stored (shown once)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the raw token, so a user can tell their tokens apart.
    prefix = models.CharField(max_length=8, editable=False)
    # What the token was issued against: a password change or a role change since then
    # makes it invalid (like Django's session auth hash for sessions).
    user_auth_hash = models.CharField(max_length=128, editable=False, default="")
    user_role = models.CharField(max_length=16, editable=False, default="")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"
        indexes = [models.Index(fields=["user", "-created_at"], name="api_apitoken_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class EventKind(models.TextChoices):
    TICKET_CREATED = "ticket.created", "Ticket created"
    TICKET_UPDATED = "ticket.updated", "Ticket updated"
    MESSAGE_CREATED = "message.created", "Message created"
    NOTE_CREATED = "note.created", "Note created"
    HANDOFF_CREATED = "handoff.created", "Handoff created"
    HANDOFF_ACCEPTED = "handoff.accepted", "Handoff accepted"
    HANDOFF_DECLINED = "handoff.declined", "Handoff declined"
    HANDOFF_RETURNED = "handoff.returned", "Handoff returned"
    ACCOUNT_HEALTH_CHANGED = "account.health_changed", "Account health changed"
    RULE_FIRED = "rule.fired", "Automation rule sent a webhook"


class Webhook(models.Model):
    """An admin-configured receiver of signed event POSTs."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=200, help_text="Shared secret for the X-Tandem-Signature HMAC-SHA256."
    )
    event_kinds = models.JSONField(default=list, blank=True, help_text="Events sent here.")
    is_active = models.BooleanField(default=True)
    allow_private_targets = models.BooleanField(
        default=False,
        help_text="Allow URLs resolving to private, loopback or link-local addresses "
        "(only for receivers on your own network).",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def wants(self, kind: str) -> bool:
        return self.is_active and kind in (self.event_kinds or [])


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """Outbox row and delivery log: written with the event, sent by Celery."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    event = models.CharField(max_length=64, choices=EventKind.choices)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="api_delivery_pending_idx",
                condition=models.Q(status="pending"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.webhook_id} ({self.status})"


class IdempotencyKey(models.Model):
    """The first response to a POST carrying an Idempotency-Key, replayed on retries."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    # SHA-256 of the parsed body: the same key with another body is a client bug (422).
    request_hash = models.CharField(max_length=64, default="")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key", "method", "path"], name="api_idempotencykey_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
