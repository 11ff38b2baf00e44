"""Automation rules: a trigger, conditions on the ticket and its account, and actions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from helpdesk.models import TimestampedModel


class Trigger(models.TextChoices):
    TICKET_CREATED = "ticket_created", "Ticket created"
    CUSTOMER_REPLIED = "customer_replied", "Customer replied"
    AGENT_REPLIED = "agent_replied", "Agent replied"
    STATUS_CHANGED = "status_changed", "Status changed"
    ASSIGNED = "assigned", "Assigned"
    TAG_ADDED = "tag_added", "Tag added"
    HANDOFF_CREATED = "handoff_created", "Handoff created"
    HANDOFF_ANSWERED = "handoff_answered", "Handoff answered"
    HEALTH_BAND_CHANGED = "health_band_changed", "Account health band changed"
    # Time-based: checked by Celery beat against `hours`.
    HOURS_SINCE_CREATED = "hours_since_created", "Hours since created"
    HOURS_SINCE_CUSTOMER_MESSAGE = "hours_since_customer", "Hours since last customer message"
    HOURS_SINCE_PENDING = "hours_since_pending", "Hours since pending"
    HOURS_UNTIL_SLA_BREACH = "hours_until_sla", "Hours until SLA breach"
    DAYS_UNTIL_RENEWAL = "days_until_renewal", "Days until account renewal"


TIME_TRIGGERS = {
    Trigger.HOURS_SINCE_CREATED,
    Trigger.HOURS_SINCE_CUSTOMER_MESSAGE,
    Trigger.HOURS_SINCE_PENDING,
    Trigger.HOURS_UNTIL_SLA_BREACH,
    Trigger.DAYS_UNTIL_RENEWAL,
}


class Rule(TimestampedModel):
    """One automation. Conditions and actions are JSON validated by automations.schema.

    conditions: {"all": [cond, ...], "any": [cond, ...]} where cond is
    {"field": "account.health_band", "op": "is", "value": "red"}.
    actions: [{"type": "set_priority", "value": "urgent"}, ...].
    """

    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    trigger = models.CharField(max_length=32, choices=Trigger.choices)
    threshold = models.FloatField(
        null=True, blank=True, help_text="Hours (or days for renewal) for time-based triggers."
    )
    conditions = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            models.Index(
                fields=["trigger", "position"],
                name="automations_rule_trigger_idx",
                condition=models.Q(is_active=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(threshold__isnull=True) | models.Q(threshold__gte=0),
                name="automations_rule_threshold_nonnegative",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_time_based(self) -> bool:
        return self.trigger in TIME_TRIGGERS

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from .schema import validate_actions, validate_conditions

        errors = {}
        for name, check in (("conditions", validate_conditions), ("actions", validate_actions)):
            try:
                check(getattr(self, name))
            except ValidationError as exc:
                errors[name] = exc.messages
        if self.is_time_based and self.threshold is None:
            errors["threshold"] = ["A time-based trigger needs a threshold."]
        if errors:
            raise ValidationError(errors)

    def snapshot(self) -> dict:
        """The rule as data, for the change log."""
        return {
            "name": self.name,
            "is_active": self.is_active,
            "position": self.position,
            "trigger": self.trigger,
            "threshold": self.threshold,
            "conditions": self.conditions,
            "actions": self.actions,
        }


class RuleChange(models.Model):
    """Who changed a rule, when, and what it was before and after (immutable)."""

    rule = models.ForeignKey(Rule, on_delete=models.SET_NULL, null=True, related_name="changes")
    rule_name = models.CharField(max_length=200)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=16)  # created, changed, deleted
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule_name} {self.action}"


class RuleFiring(models.Model):
    """A rule fired for a ticket on one trigger event; unique so it never fires twice."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="firings")
    ticket = models.ForeignKey("inbox.Ticket", on_delete=models.CASCADE, related_name="+")
    event_key = models.CharField(max_length=200)
    # When a time rule's clock started (last customer message, pending since, SLA due), so the
    # sweep can skip already-fired tickets in SQL instead of spending its batch on them.
    clock_at = models.DateTimeField(null=True, blank=True)
    chain = models.JSONField(default=list, help_text="Rule ids that led here, outermost first.")
    actions_done = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "ticket", "event_key"], name="automations_firing_once_per_event"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.ticket_id} ({self.event_key})"
