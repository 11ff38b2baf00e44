"""Run automation rules: match conditions against a ticket and its account, do the actions.

Rules run synchronously inside the transaction of the change that triggered them, so a rule's
effects commit or roll back with their cause. A change made by a rule may trigger further rules;
the chain of rule ids rides in a context variable and stops at MAX_CHAIN_DEPTH.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.utils import timezone

from helpdesk.business_hours import schedule_from_model
from helpdesk.services import config_cached
from inbox.models import Direction, EventKind, Message, Ticket

from .models import TIME_TRIGGERS, Rule, RuleFiring, Trigger
from .schema import FIELDS

logger = logging.getLogger(__name__)

MAX_CHAIN_DEPTH = 3
_chain: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar(
    "automation_chain", default=()
)


# --- facts ------------------------------------------------------------------------------


def _account_metrics(account: Any) -> Any:
    try:
        return account.metrics
    except ObjectDoesNotExist:  # not computed yet
        return None


def ticket_facts(*, ticket: Ticket, now: dt.datetime) -> dict[str, Any]:
    """Everything a condition may look at, read with a fixed number of queries."""
    account = ticket.account
    metrics = _account_metrics(account) if account else None
    latest_body = (
        Message.objects.filter(ticket=ticket, direction=Direction.INBOUND)
        .order_by("-created_at", "-id")
        .values_list("body_text", flat=True)
        .first()
    ) or ""
    team = ticket.team
    schedule = schedule_from_model(team.business_hours if team else None)
    business_now = schedule is None or schedule.is_open(now)  # no schedule: always open
    renewal = account.renewal_date if account else None
    email = ticket.requester.email.lower()
    return {
        "ticket.status": ticket.status,
        "ticket.priority": ticket.priority,
        "ticket.channel": ticket.channel,
        "ticket.team": team.handle if team else "",
        "ticket.assignee": ticket.assignee.username if ticket.assignee_id else "",
        "ticket.tags": sorted(tag.name.lower() for tag in ticket.tags.all()),
        "ticket.subject": ticket.subject,
        "ticket.body": latest_body,
        "requester.email": email,
        "requester.domain": email.rpartition("@")[2],
        "account.plan": account.plan if account else "",
        "account.mrr": float(account.mrr) if account else None,
        "account.health_band": (metrics.health_band if metrics else "") or "",
        "account.lifecycle": account.lifecycle if account else "",
        "account.days_to_renewal": (renewal - now.date()).days if renewal else None,
        "account.success_manager": (
            account.success_manager.username if account and account.success_manager_id else ""
        ),
        "business_hours.now": business_now,
    }


# --- conditions ---------------------------------------------------------------------------


def condition_holds(condition: dict[str, Any], facts: dict[str, Any]) -> bool:
    actual = facts.get(condition["field"])
    op = condition["op"]
    expected = condition.get("value")
    kind = FIELDS[condition["field"]]
    if op == "is_empty":
        return actual in (None, "", [])
    if op == "not_empty":
        return actual not in (None, "", [])
    if op == "is_true":
        return bool(actual)
    if op == "is_false":
        return not actual
    if actual is None:
        return False
    if kind == "number":
        actual, expected = float(actual), float(expected)
        return {
            "is": actual == expected,
            "gt": actual > expected,
            "gte": actual >= expected,
            "lt": actual < expected,
            "lte": actual <= expected,
        }[op]
    if kind == "list":
        present = str(expected).lower() in actual
        return present if op == "contains" else not present
    text = str(actual).lower()
    if op == "is":
        return text == str(expected).lower()
    if op == "is_not":
        return text != str(expected).lower()
    if op == "in":
        return text in {str(value).lower() for value in expected}
    if op == "not_in":
        return text not in {str(value).lower() for value in expected}
    if op == "contains":
        return str(expected).lower() in text
    if op == "not_contains":
        return str(expected).lower() not in text
    if op == "ends_with":
        return text.endswith(str(expected).lower())
    return False


def conditions_hold(conditions: dict[str, Any], facts: dict[str, Any]) -> bool:
    """All of "all" and, when "any" is given, at least one of "any"."""
    all_items = conditions.get("all", []) if conditions else []
    any_items = conditions.get("any", []) if conditions else []
    if not all(condition_holds(item, facts) for item in all_items):
        return False
    return not any_items or any(condition_holds(item, facts) for item in any_items)


# --- running -------------------------------------------------------------------------------


@dataclass
class Outcome:
    rule: Rule
    matched: bool
    actions: list[str] = field(default_factory=list)


def _load_ticket(ticket_id: int) -> Ticket:
    return (
        Ticket.objects.select_related(
            "requester",
            "account",
            "account__metrics",
            "account__success_manager",
            "team",
            "team__business_hours",
            "assignee",
        )
        .prefetch_related(
            "tags", "team__business_hours__intervals", "team__business_hours__holidays"
        )
        .get(pk=ticket_id)
    )


def active_rules(trigger: str) -> list[Rule]:
    # Every ticket event asks; rules change rarely (helpdesk.services retires the cache).
    rules = config_cached(
        f"rules:{trigger}",
        lambda: tuple(
            Rule.objects.filter(trigger=trigger, is_active=True).order_by("position", "id")
        ),
    )
    return list(rules)


def rules_fire(
    *,
    trigger: str,
    ticket_id: int,
    event_key: str,
    rules: Iterable[Rule] | None = None,
    clock_at: dt.datetime | None = None,
) -> list[RuleFiring]:
    """Run the active rules of `trigger` for the ticket, once per (rule, ticket, event).

    `clock_at` is the moment a time rule's clock started; the sweep skips fired tickets by it.
    """
    chain = _chain.get()
    rules = list(rules) if rules is not None else active_rules(trigger)
    if not rules:
        return []
    if len(chain) >= MAX_CHAIN_DEPTH:
        from inbox.services import event_record

        ticket = Ticket.objects.get(pk=ticket_id)
        event_record(
            ticket=ticket,
            actor=None,
            kind=EventKind.RULE,
            data={
                "stopped": True,
                "chain": list(chain),
                "trigger": trigger,
                "reason": f"rule chain reached the depth limit of {MAX_CHAIN_DEPTH}",
            },
        )
        return []
    now = timezone.now()
    ticket = _load_ticket(ticket_id)
    facts = ticket_facts(ticket=ticket, now=now)
    done = set(
        RuleFiring.objects.filter(
            ticket_id=ticket_id, event_key=event_key, rule__in=rules
        ).values_list("rule_id", flat=True)
    )
    firings = []
    for rule in rules:
        if rule.pk in done or not conditions_hold(rule.conditions, facts):
            continue
        firing = _fire(
            rule=rule, ticket=ticket, event_key=event_key, chain=chain, clock_at=clock_at
        )
        if firing is not None:
            firings.append(firing)
            ticket = _load_ticket(ticket_id)  # actions changed it; later rules see the change
            facts = ticket_facts(ticket=ticket, now=now)
    return firings


def _fire(
    *,
    rule: Rule,
    ticket: Ticket,
    event_key: str,
    chain: tuple[int, ...],
    clock_at: dt.datetime | None = None,
) -> RuleFiring | None:
    from inbox.services import event_record

    from .actions import action_run

    try:
        with transaction.atomic():
            firing = RuleFiring.objects.create(
                rule=rule,
                ticket=ticket,
                event_key=event_key,
                clock_at=clock_at,
                chain=[*chain, rule.pk],
            )
    except IntegrityError:
        return None  # a concurrent run fired it first: once per event
    token = _chain.set((*chain, rule.pk))
    done: list[str] = []
    try:
        for action in rule.actions:
            # A failing action must not undo its cause (a customer's mail, an agent's reply).
            try:
                with transaction.atomic():
                    done.append(action_run(action=action, ticket=ticket, rule=rule))
            except Exception as exc:  # any failure is recorded on the firing and the timeline
                logger.warning("rule %s action %s failed: %s", rule.pk, action, exc)
                done.append(f"failed {action.get('type')}: {exc}")
    finally:
        _chain.reset(token)
    firing.actions_done = done
    firing.save(update_fields=["actions_done"])
    event_record(
        ticket=ticket,
        actor=None,
        kind=EventKind.RULE,
        data={
            "rule": rule.pk,
            "name": rule.name,
            "trigger": rule.trigger,
            "actions": done,
            "chain": [*chain, rule.pk],
        },
    )
    return firing


def trigger(*, kind: str, ticket: Ticket, event_key: str) -> list[RuleFiring]:
    """Entry point for services: fire the rules of an event trigger; return the firings."""
    if kind in TIME_TRIGGERS:
        raise ValueError("time-based triggers run from the sweep")
    return rules_fire(trigger=kind, ticket_id=ticket.pk, event_key=event_key)


def rule_dry_run(*, rule: Rule, tickets: Iterable[Ticket]) -> list[dict[str, Any]]:
    """Which of `tickets` the rule would match and what it would do, changing nothing."""
    from .actions import action_describe

    now = timezone.now()
    tickets = list(tickets)
    due_ids = None
    if rule.is_time_based:
        # A time rule matches only a ticket whose clock has crossed the threshold.
        from .sweep import rule_due_ticket_ids  # the sweep builds on this module

        due_ids = rule_due_ticket_ids(rule=rule, ticket_ids=[t.pk for t in tickets], now=now)
    results = []
    for ticket in tickets:
        facts = ticket_facts(ticket=ticket, now=now)
        matched = (due_ids is None or ticket.pk in due_ids) and conditions_hold(
            rule.conditions, facts
        )
        results.append(
            {
                "ticket": ticket,
                "matched": matched,
                "actions": [action_describe(action=a, ticket=ticket) for a in rule.actions]
                if matched
                else [],
            }
        )
    return results


__all__ = ["Trigger", "rule_dry_run", "rules_fire", "ticket_facts", "trigger"]
