"""Collaboration: internal notes, mentions, notifications, handoffs, followers."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from helpdesk.models import TimestampedModel


class Note(TimestampedModel):
    """An internal note: staff only, never e-mailed, never shown to a customer."""

    ticket = models.ForeignKey("inbox.Ticket", on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="notes",
        help_text="Empty for notes written by an automation rule.",
    )
    body_markdown = models.TextField()
    body_html = models.TextField(help_text="Markdown rendered and sanitised (nh3).")
    is_pinned = models.BooleanField(default=False)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="notes_note_ticket_idx")]

    def __str__(self) -> str:
        return f"Note {self.pk} on {self.ticket_id}"

    @property
    def edit_deadline(self) -> datetime:
        """Until when the author may edit the note (NOTE_EDIT_WINDOW_MINUTES after posting)."""
        return self.created_at + timedelta(minutes=settings.NOTE_EDIT_WINDOW_MINUTES)

    def is_editable_by(self, user: object) -> bool:
        """Return whether `user` may edit the note now: its author, within the window."""
        return (
            self.author_id is not None
            and self.author_id == getattr(user, "pk", None)
            and timezone.now() <= self.edit_deadline
        )


class NoteRevision(models.Model):
    """A previous body of an edited note (the edit history)."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="revisions")
    body_markdown = models.TextField()
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Revision of note {self.note_id}"


class Mention(models.Model):
    """A user or a team named in a note; exactly one of the two."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="mentions",
    )
    team = models.ForeignKey(
        "helpdesk.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="mentions"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, team__isnull=True)
                    | models.Q(user__isnull=True, team__isnull=False)
                ),
                name="notes_mention_user_xor_team",
            ),
            models.UniqueConstraint(
                fields=["note", "user"],
                condition=models.Q(user__isnull=False),
                name="notes_mention_unique_user",
            ),
            models.UniqueConstraint(
                fields=["note", "team"],
                condition=models.Q(team__isnull=False),
                name="notes_mention_unique_team",
            ),
        ]

    def __str__(self) -> str:
        return f"@{self.user or self.team} in note {self.note_id}"


class NotificationKind(models.TextChoices):
    MENTIONED = "mentioned", "Mentioned"
    ASSIGNED = "assigned", "Assigned to me"
    HANDOFF_REQUESTED = "handoff_requested", "Handoff requested"
    HANDOFF_ACCEPTED = "handoff_accepted", "Handoff accepted"
    HANDOFF_DECLINED = "handoff_declined", "Handoff declined"
    HANDOFF_RETURNED = "handoff_returned", "Handoff returned"
    HANDOFF_OVERDUE = "handoff_overdue", "Handoff waiting too long"
    CUSTOMER_REPLIED = "customer_replied", "Customer replied"
    STATUS_CHANGED = "status_changed", "Status changed"
    SLA_WARNING = "sla_warning", "SLA about to breach"
    SLA_BREACHED = "sla_breached", "SLA breached"
    ACCOUNT_RED = "account_red", "Account turned red"
    RULE = "rule", "Automation"


class Notification(models.Model):
    """An in-app notification; its e-mail (immediate or digest) is delivered by Celery."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ticket = models.ForeignKey(
        "inbox.Ticket", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    note = models.ForeignKey(
        Note, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    handoff = models.ForeignKey(
        "Handoff", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    text = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # E-mail outbox state: pending until delivered (immediately or in a digest) or skipped.
    email_state = models.CharField(
        max_length=8,
        choices=[("pending", "Pending"), ("sent", "Sent"), ("skipped", "Skipped")],
        default="pending",
    )
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notes_notif_recipient_idx"),
            models.Index(
                fields=["recipient"],
                name="notes_notif_unread_idx",
                condition=models.Q(read_at__isnull=True),
            ),
            models.Index(
                fields=["created_at"],
                name="notes_notif_email_idx",
                condition=models.Q(email_state="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id}"

    @property
    def target_url(self) -> str:
        """Where the notification points: the exact note, handoff, message or event."""
        if self.ticket_id:
            base = f"/tickets/{self.ticket.number}/"
            if self.note_id:
                return f"{base}#note-{self.note_id}"
            if self.handoff_id:
                return f"{base}#handoff-{self.handoff_id}"
            if self.data.get("message"):
                return f"{base}#message-{self.data['message']}"
            if self.data.get("event"):
                return f"{base}#event-{self.data['event']}"
            return base
        if self.account_id:
            return f"/accounts/{self.account_id}/"
        return "/notifications/"


class Delivery(models.TextChoices):
    IMMEDIATE = "immediate", "Immediately"
    DIGEST = "digest", "In a digest"
    OFF = "off", "Off"


class NotificationPreference(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_prefs"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    email = models.CharField(max_length=16, choices=Delivery.choices, default=Delivery.DIGEST)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notes_notificationpref_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind}: {self.email}"


class HandoffKind(models.TextChoices):
    ESCALATE_TO_SUCCESS = "escalate_to_success", "Escalate to success"
    RETURN_TO_SUPPORT = "return_to_support", "Return to support"
    TRANSFER = "transfer", "Transfer"


class HandoffReason(models.TextChoices):
    RENEWAL_RISK = "renewal_risk", "Renewal risk"
    CHURN_RISK = "churn_risk", "Churn risk"
    EXPANSION = "expansion", "Expansion opportunity"
    ONBOARDING = "onboarding", "Onboarding help"
    EXECUTIVE_COMPLAINT = "executive_complaint", "Executive complaint"
    OTHER = "other", "Other"


class HandoffStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    CANCELLED = "cancelled", "Cancelled"
    COMPLETED = "completed", "Completed"


class Handoff(TimestampedModel):
    ticket = models.ForeignKey("inbox.Ticket", on_delete=models.CASCADE, related_name="handoffs")
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="handoffs_sent"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="handoffs_received",
    )
    to_team = models.ForeignKey(
        "helpdesk.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="handoffs"
    )
    kind = models.CharField(max_length=32, choices=HandoffKind.choices)
    reason = models.CharField(max_length=32, choices=HandoffReason.choices)
    context_note = models.ForeignKey(
        Note, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=HandoffStatus.choices, default=HandoffStatus.PENDING
    )
    responded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    responded_at = models.DateTimeField(null=True, blank=True)
    response_text = models.TextField(blank=True, help_text="Decline reason or outcome.")
    overdue_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["to_user", "status"], name="notes_handoff_to_user_idx"),
            models.Index(fields=["to_team", "status"], name="notes_handoff_to_team_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(to_user__isnull=False, to_team__isnull=True)
                    | models.Q(to_user__isnull=True, to_team__isnull=False)
                ),
                name="notes_handoff_user_xor_team",
            ),
            models.UniqueConstraint(
                fields=["ticket"],
                condition=models.Q(status="pending"),
                name="notes_handoff_one_pending_per_ticket",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.ticket_id} ({self.status})"


class Follower(models.Model):
    ticket = models.ForeignKey("inbox.Ticket", on_delete=models.CASCADE, related_name="followers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "user"], name="notes_follower_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} follows {self.ticket_id}"
