"""Invariant 5: the incremental path and a rebuild from scratch give identical metrics.

Hypothesis generates a stream of tickets, replies (some automatic), notes, status changes,
customer messages, survey answers, revenue events and moves of the contact between two
accounts of one plan. Each goes through its service with
the on-commit hooks executed (so the dirty flag and the eager recompute task run as in
production); then `recompute_metrics` rebuilds both accounts from the raw tables and
must produce the very same rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from decimal import Decimal

import time_machine
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from accounts.metrics import METRIC_FIELDS
from accounts.models import Account, AccountMetrics
from accounts.services import (
    SurveyError,
    contact_move,
    revenue_event_create,
    survey_response_create,
)
from helpdesk.models import Role
from inbox import services as inbox
from inbox.models import Status
from notes.services import note_create
from tests.accounts.factories import AccountFactory, ContactFactory
from tests.helpdesk.factories import UserFactory

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
COMPARED = [name for name in METRIC_FIELDS if name != "computed_at"]
_plans = itertools.count()

# Offsets are in hours plus half an hour, so no generated instant sits on a window edge
# and the comparison is about the paths, not about rounding at the boundary.
hours_ago = st.integers(min_value=0, max_value=24 * 140).map(
    lambda h: NOW - dt.timedelta(hours=h, minutes=30)
)
ticket_ref = st.integers(min_value=0, max_value=7)
delay = st.integers(min_value=0, max_value=24 * 10).map(lambda h: dt.timedelta(hours=h))

operations = st.lists(
    st.one_of(
        st.tuples(st.just("ticket"), hours_ago),
        st.tuples(st.just("reply"), ticket_ref, delay, st.booleans(), st.booleans()),
        st.tuples(st.just("note"), ticket_ref),
        st.tuples(
            st.just("status"),
            ticket_ref,
            delay,
            st.sampled_from([Status.OPEN, Status.PENDING, Status.SOLVED, Status.CLOSED]),
        ),
        st.tuples(st.just("inbound"), ticket_ref, delay),
        st.tuples(
            st.just("survey"),
            st.sampled_from(["csat", "ces", "nps"]),
            st.integers(min_value=0, max_value=10),
            hours_ago,
            st.booleans(),
        ),
        st.tuples(
            st.just("revenue"),
            st.sampled_from(["new", "expansion", "contraction", "churn", "reactivation"]),
            st.integers(min_value=1, max_value=500),
            st.integers(min_value=-2, max_value=800),
            st.integers(min_value=0, max_value=1),
        ),
        st.tuples(st.just("move")),
    ),
    max_size=25,
).map(lambda rest: [("ticket", NOW - dt.timedelta(days=3, minutes=30)), *rest])


class IncrementalEqualsRebuildTest(TestCase):
    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(ops=operations)
    def test_incremental_path_equals_recompute_from_scratch(self, ops):
        with time_machine.travel(NOW, tick=False):
            plan = f"plan-{next(_plans)}"
            accounts = [AccountFactory(plan=plan), AccountFactory(plan=plan)]
            # The generated contact moves between the two accounts ("move" operations).
            self.contact = ContactFactory(account=accounts[0])
            agent = UserFactory(role=Role.AGENT)
            tickets: list = []
            clocks: dict[int, dt.datetime] = {}
            with self.captureOnCommitCallbacks(execute=True):
                inbox.ticket_create(
                    requester=ContactFactory(account=accounts[1]),
                    subject="Other account",
                    content=inbox.InboundContent(body_text="hello"),
                    created_at=NOW - dt.timedelta(days=2, minutes=30),
                )
            for op in ops:
                with self.captureOnCommitCallbacks(execute=True):
                    self._apply(op, accounts, agent, tickets, clocks)
            ids = [a.pk for a in accounts]
            assert not Account.objects.filter(pk__in=ids, metrics_dirty_at__isnull=False).exists()
            rows = AccountMetrics.objects.filter(account_id__in=ids).order_by("account_id")
            incremental = list(rows.values("account_id", *COMPARED))
            mrr = list(Account.objects.filter(pk__in=ids).order_by("pk").values_list("mrr"))
            AccountMetrics.objects.filter(account_id__in=ids).delete()
            for pk in ids:
                call_command("recompute_metrics", "--account", str(pk), verbosity=0)
            assert list(rows.values("account_id", *COMPARED)) == incremental
            assert list(Account.objects.filter(pk__in=ids).order_by("pk").values_list("mrr")) == mrr

    def _apply(self, op, accounts, agent, tickets, clocks) -> None:
        kind = op[0]
        contact = self.contact
        if kind == "move":
            other = accounts[1] if contact.account_id == accounts[0].pk else accounts[0]
            self.contact = contact_move(contact=contact, account=other)
            return
        if kind == "ticket":
            ticket = inbox.ticket_create(
                requester=contact,
                subject="Generated",
                content=inbox.InboundContent(body_text="hello"),
                created_at=op[1],
            )
            tickets.append(ticket)
            clocks[ticket.pk] = op[1]
            return
        if kind in ("survey", "revenue"):
            self._apply_account_event(op, accounts, contact, tickets)
            return
        if not tickets:
            return
        ticket = tickets[op[1] % len(tickets)]
        if kind == "note":
            note_create(ticket=ticket, author=agent, body_markdown="internal")
            return
        at = min(NOW, clocks[ticket.pk] + op[2])
        clocks[ticket.pk] = at
        try:
            if kind == "reply":
                inbox.reply_create(
                    ticket=ticket,
                    author=agent,
                    body_text="answer",
                    is_automatic=op[3],
                    new_status=Status.SOLVED if op[4] else None,
                    at=at,
                )
            elif kind == "status":
                inbox.ticket_set_status(ticket=ticket, actor=agent, status=op[3], at=at)
            else:
                inbox.message_add_inbound(
                    ticket=ticket,
                    contact=contact,
                    content=inbox.InboundContent(body_text="more"),
                    at=at,
                )
        except inbox.InvalidTransition:
            pass  # a closed ticket takes nothing: the service refused, nothing changed

    def _apply_account_event(self, op, accounts, contact, tickets) -> None:
        if op[0] == "survey":
            _, kind, raw, at, on_ticket = op
            low, high = {"csat": (1, 5), "ces": (1, 7), "nps": (0, 10)}[kind]
            ticket_id = tickets[-1].pk if on_ticket and tickets else None
            # A second answer for the same (ticket, kind) is refused and changes nothing.
            with contextlib.suppress(SurveyError):
                survey_response_create(
                    kind=kind,
                    score=low + raw % (high - low + 1),
                    contact=contact,
                    ticket_id=ticket_id,
                    responded_at=at,
                )
            return
        _, kind, amount, days_ago, which = op
        sign = 1 if kind in ("new", "expansion", "reactivation") else -1
        revenue_event_create(
            account=accounts[which],
            kind=kind,
            mrr_delta=Decimal(sign * amount),
            occurred_on=NOW.date() - dt.timedelta(days=days_ago),
        )
