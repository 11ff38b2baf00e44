"""Time-based rules: Celery beat asks which tickets crossed a rule's threshold since last time.

Each firing is keyed by the moment the clock started (creation, the last customer message,
entering pending, the SLA due time, the renewal date), so re-running the sweep never fires a
rule twice for the same ticket, yet a new customer message starts a new clock.

Fairness: tickets already fired for their current clock are excluded in SQL, and the tickets
that are examined but fail the rule's conditions are walked round-robin by id (a cursor per
rule in the cache), so a backlog larger than one batch never starves newer tickets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat, Least
from django.utils import timezone

from inbox.models import OPEN_STATUSES, SLA_NONE, Status, Ticket
from inbox.services import SLA_RESPONSE_STATUSES

from .engine import rules_fire
from .models import Rule, RuleFiring, Trigger

BATCH = 500
CURSOR_TTL = 7 * 24 * 3600


@dataclass(frozen=True)
class _Clock:
    """Which open tickets crossed the threshold, and how one firing is keyed."""

    tickets: QuerySet[Ticket]
    fired: Q  # matches a RuleFiring (OuterRef = the ticket) made for the ticket's current clock
    key: Callable[[Ticket], str]
    started: Callable[[Ticket], dt.datetime | None]


def _sla_running_due() -> Least:
    """The soonest SLA clock still running, as the inbox counts them: a first response that
    was met, a breached clock, or a response clock paused while the customer owes us an
    answer (pending, on hold) is not about to breach. No running clock gives SLA_NONE."""
    none = Value(SLA_NONE, output_field=DateTimeField())
    responding = Q(status__in=SLA_RESPONSE_STATUSES)
    return Least(
        Case(
            When(
                responding
                & Q(first_response_at__isnull=True, sla_first_response_breached=False)
                & Q(first_response_due_at__isnull=False),
                then=F("first_response_due_at"),
            ),
            default=none,
        ),
        Case(
            When(
                responding
                & Q(sla_next_response_breached=False, next_response_due_at__isnull=False),
                then=F("next_response_due_at"),
            ),
            default=none,
        ),
        Case(
            When(
                Q(status__in=OPEN_STATUSES, sla_resolution_breached=False)
                & Q(resolution_due_at__isnull=False),
                then=F("resolution_due_at"),
            ),
            default=none,
        ),
        output_field=DateTimeField(),
    )


def _clock(rule: Rule, now: dt.datetime) -> _Clock | None:
    threshold = dt.timedelta(hours=rule.threshold or 0)
    base: QuerySet[Ticket] = Ticket.objects.filter(status__in=OPEN_STATUSES)
    if rule.trigger == Trigger.HOURS_SINCE_CREATED:
        return _Clock(
            base.filter(created_at__lte=now - threshold),
            Q(event_key="time:created"),
            lambda t: "time:created",
            lambda t: None,
        )
    if rule.trigger == Trigger.HOURS_SINCE_CUSTOMER_MESSAGE:
        return _Clock(
            base.filter(last_customer_message_at__lte=now - threshold),
            Q(clock_at=OuterRef("last_customer_message_at")),
            lambda t: f"time:customer:{t.last_customer_message_at.isoformat()}",
            lambda t: t.last_customer_message_at,
        )
    if rule.trigger == Trigger.HOURS_SINCE_PENDING:
        return _Clock(
            Ticket.objects.filter(status=Status.PENDING, status_changed_at__lte=now - threshold),
            Q(clock_at=OuterRef("status_changed_at")),
            lambda t: f"time:pending:{t.status_changed_at.isoformat()}",
            lambda t: t.status_changed_at,
        )
    if rule.trigger == Trigger.HOURS_UNTIL_SLA_BREACH:
        return _Clock(
            base.annotate(due=_sla_running_due()).filter(due__gt=now, due__lte=now + threshold),
            Q(clock_at=OuterRef("due")),
            lambda t: f"time:sla:{t.due.isoformat()}",
            lambda t: t.due,
        )
    if rule.trigger == Trigger.DAYS_UNTIL_RENEWAL:
        today = now.date()
        days = dt.timedelta(days=rule.threshold or 0)
        return _Clock(
            base.filter(
                account__renewal_date__gte=today, account__renewal_date__lte=today + days
            ).select_related("account"),
            # A date casts to ISO text on PostgreSQL and is stored as ISO text on SQLite.
            Q(
                event_key=Concat(
                    Value("time:renewal:"),
                    Cast(OuterRef("account__renewal_date"), CharField()),
                    output_field=CharField(),
                )
            ),
            lambda t: f"time:renewal:{t.account.renewal_date.isoformat()}",
            lambda t: None,
        )
    return None


def rule_due_ticket_ids(*, rule: Rule, ticket_ids: list[int], now: dt.datetime) -> set[int]:
    """Which of `ticket_ids` have crossed the time rule's threshold at `now`, fired or not."""
    clock = _clock(rule, now)
    if clock is None:
        return set()
    return set(clock.tickets.filter(pk__in=ticket_ids).values_list("pk", flat=True))


def _cursor_key(rule: Rule) -> str:
    # Keyed by the row's creation too: a rule that reuses an id (a restored or recreated
    # database, as every test run is) must not inherit another rule's place in the walk.
    return f"automations:sweep-cursor:{rule.pk}:{rule.created_at.timestamp():.6f}"


def _due_tickets(rule: Rule, clock: _Clock, batch: int) -> list[Ticket]:
    """Up to `batch` tickets not yet fired for their clock, continuing after the last sweep."""
    unfired = clock.tickets.exclude(
        Exists(RuleFiring.objects.filter(clock.fired, rule=rule, ticket=OuterRef("pk")))
    ).order_by("pk")
    after = cache.get(_cursor_key(rule), 0)
    tickets = list(unfired.filter(pk__gt=after)[:batch])
    if len(tickets) < batch and after:
        tickets += unfired.filter(pk__lte=after)[: batch - len(tickets)]  # wrap around
    if tickets:
        cache.set(_cursor_key(rule), tickets[-1].pk if len(tickets) == batch else 0, CURSOR_TTL)
    return tickets


def time_rules_sweep(*, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Fire every time-based rule whose threshold a ticket has crossed; return firings made.

    Each rule examines at most `batch` tickets per sweep; beat runs the sweep every minute.
    """
    now = now or timezone.now()
    fired = 0
    rules = Rule.objects.filter(is_active=True, trigger__in=[t.value for t in Trigger]).exclude(
        threshold__isnull=True
    )
    for rule in rules:
        clock = _clock(rule, now) if rule.is_time_based else None
        if clock is None:
            continue
        for ticket in _due_tickets(rule, clock, batch):
            with transaction.atomic():
                fired += len(
                    rules_fire(
                        trigger=rule.trigger,
                        ticket_id=ticket.pk,
                        event_key=clock.key(ticket),
                        clock_at=clock.started(ticket),
                        rules=[rule],
                    )
                )
    return fired
