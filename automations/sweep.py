"""Time-based rules: Celery beat asks which tickets crossed a rule's threshold since last time.

Each firing is keyed by the moment the clock started (creation, the last customer message,
entering pending, the SLA due time, the renewal date), so re-running the sweep never fires a
rule twice for the same ticket, yet a new customer message starts a new clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Least
from django.utils import timezone

from inbox.models import OPEN_STATUSES, Status, Ticket

from .engine import rules_fire
from .models import Rule, RuleFiring, Trigger

BATCH = 500


def _candidates(rule: Rule, now: dt.datetime) -> Iterator[tuple[Ticket, str]]:
    threshold = rule.threshold or 0
    base: QuerySet[Ticket] = Ticket.objects.filter(status__in=OPEN_STATUSES)
    if rule.trigger == Trigger.HOURS_SINCE_CREATED:
        qs = base.filter(created_at__lte=now - dt.timedelta(hours=threshold))
        return ((t, "time:created") for t in qs.order_by("created_at")[:BATCH])
    if rule.trigger == Trigger.HOURS_SINCE_CUSTOMER_MESSAGE:
        qs = base.filter(last_customer_message_at__lte=now - dt.timedelta(hours=threshold))
        return (
            (t, f"time:customer:{t.last_customer_message_at.isoformat()}")
            for t in qs.order_by("last_customer_message_at")[:BATCH]
        )
    if rule.trigger == Trigger.HOURS_SINCE_PENDING:
        qs = Ticket.objects.filter(
            status=Status.PENDING, status_changed_at__lte=now - dt.timedelta(hours=threshold)
        )
        return (
            (t, f"time:pending:{t.status_changed_at.isoformat()}")
            for t in qs.order_by("status_changed_at")[:BATCH]
        )
    if rule.trigger == Trigger.HOURS_UNTIL_SLA_BREACH:
        qs = base.annotate(
            due=Least("first_response_due_at", "next_response_due_at", "resolution_due_at")
        ).filter(due__gt=now, due__lte=now + dt.timedelta(hours=threshold))
        return ((t, f"time:sla:{t.due.isoformat()}") for t in qs.order_by("due")[:BATCH])
    if rule.trigger == Trigger.DAYS_UNTIL_RENEWAL:
        today = now.date()
        qs = base.filter(
            account__renewal_date__gte=today,
            account__renewal_date__lte=today + dt.timedelta(days=threshold),
        ).select_related("account")
        return (
            (t, f"time:renewal:{t.account.renewal_date.isoformat()}")
            for t in qs.order_by("id")[:BATCH]
        )
    return iter(())


def time_rules_sweep(*, now: dt.datetime | None = None) -> int:
    """Fire every time-based rule whose threshold a ticket has crossed; return firings made."""
    now = now or timezone.now()
    fired = 0
    rules = Rule.objects.filter(is_active=True, trigger__in=[t.value for t in Trigger]).exclude(
        threshold__isnull=True
    )
    for rule in rules:
        if not rule.is_time_based:
            continue
        candidates = list(_candidates(rule, now))
        done = set(
            RuleFiring.objects.filter(rule=rule, ticket__in=[t for t, _ in candidates]).values_list(
                "ticket_id", "event_key"
            )
        )
        for ticket, key in candidates:
            if (ticket.pk, key) in done:
                continue
            with transaction.atomic():
                fired += len(
                    rules_fire(
                        trigger=rule.trigger, ticket_id=ticket.pk, event_key=key, rules=[rule]
                    )
                )
    return fired
