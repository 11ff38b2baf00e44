import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from accounts.models import AccountMetrics
from automations.engine import MAX_CHAIN_DEPTH, condition_holds, conditions_hold, rules_fire
from automations.models import Rule, RuleFiring
from automations.services import rule_save
from automations.sweep import time_rules_sweep
from inbox import services as inbox
from inbox.models import EventKind, OutboundEmail, Ticket, TicketEvent
from notes.models import Note, Notification
from tests.helpdesk.factories import CannedResponseFactory, MembershipFactory, TeamFactory

pytestmark = pytest.mark.django_db


def make_rule(trigger, actions, conditions=None, **extra):
    rule = Rule(
        name=extra.pop("name", f"rule {trigger}"),
        trigger=trigger,
        actions=actions,
        conditions=conditions or {},
        **extra,
    )
    return rule_save(rule=rule, user=None)


def new_ticket(contact, team, subject="Help please", body="It is broken"):
    return inbox.ticket_create(
        requester=contact,
        subject=subject,
        team=team,
        content=inbox.InboundContent(body_text=body, from_email=contact.email),
    )


def tags(ticket):
    return set(ticket.tags.values_list("name", flat=True))


def rule_events(ticket):
    return list(TicketEvent.objects.filter(ticket=ticket, kind=EventKind.RULE))


# --- triggers ---------------------------------------------------------------------------


def test_ticket_created_trigger_fires_and_is_named_in_the_timeline(contact, support_team):
    rule = make_rule(
        "ticket_created", [{"type": "add_tags", "value": ["triaged"]}], name="Tag new tickets"
    )
    ticket = new_ticket(contact, support_team)
    assert "triaged" in tags(ticket)
    [event] = rule_events(ticket)
    assert event.data["name"] == "Tag new tickets"
    assert event.data["rule"] == rule.pk
    assert event.data["actions"] == ["+tags triaged"]


def test_customer_replied_trigger(contact, support_team):
    make_rule("customer_replied", [{"type": "set_priority", "value": "high"}])
    ticket = new_ticket(contact, support_team)
    assert ticket.priority == "normal"
    inbox.message_add_inbound(
        ticket=ticket, contact=contact, content=inbox.InboundContent(body_text="any news?")
    )
    ticket.refresh_from_db()
    assert ticket.priority == "high"


def test_agent_replied_trigger_ignores_automatic_replies(contact, support_team, agent):
    make_rule("agent_replied", [{"type": "add_tags", "value": ["answered"]}])
    ticket = new_ticket(contact, support_team)
    inbox.reply_create(ticket=ticket, author=None, body_text="auto ack", is_automatic=True)
    assert "answered" not in tags(ticket)
    inbox.reply_create(ticket=ticket, author=agent, body_text="Here you go")
    assert "answered" in tags(ticket)


def test_status_changed_trigger_with_condition(contact, support_team, agent):
    make_rule(
        "status_changed",
        [{"type": "add_tags", "value": ["was-solved"]}],
        {"all": [{"field": "ticket.status", "op": "is", "value": "solved"}]},
    )
    ticket = new_ticket(contact, support_team)
    inbox.ticket_set_status(ticket=ticket, actor=agent, status="pending")
    assert "was-solved" not in tags(ticket)
    inbox.ticket_set_status(ticket=ticket, actor=agent, status="solved")
    assert "was-solved" in tags(ticket)


def test_assigned_trigger(contact, support_team, agent):
    make_rule("assigned", [{"type": "add_tags", "value": ["owned"]}])
    ticket = new_ticket(contact, support_team)
    inbox.ticket_take(ticket=ticket, user=agent)
    assert "owned" in tags(ticket)


def test_tag_added_trigger_fires_on_additions_only(contact, support_team, agent):
    make_rule(
        "tag_added",
        [{"type": "set_priority", "value": "urgent"}],
        {"all": [{"field": "ticket.tags", "op": "contains", "value": "outage"}]},
    )
    ticket = new_ticket(contact, support_team)
    inbox.ticket_set_tags(ticket=ticket, actor=agent, names=["billing"])
    ticket.refresh_from_db()
    assert ticket.priority == "normal"
    inbox.ticket_set_tags(ticket=ticket, actor=agent, names=["billing", "outage"])
    ticket.refresh_from_db()
    assert ticket.priority == "urgent"


def test_inactive_rules_do_not_fire(contact, support_team):
    make_rule("ticket_created", [{"type": "add_tags", "value": ["x"]}], is_active=False)
    assert tags(new_ticket(contact, support_team)) == set()


def test_rules_run_in_position_order_and_see_earlier_changes(contact, support_team):
    make_rule(
        "ticket_created",
        [{"type": "add_tags", "value": ["second"]}],
        position=20,
        conditions={"all": [{"field": "ticket.tags", "op": "contains", "value": "first"}]},
    )
    make_rule("ticket_created", [{"type": "add_tags", "value": ["first"]}], position=10)
    assert tags(new_ticket(contact, support_team)) == {"first", "second"}


# --- conditions on the account ------------------------------------------------------------


def test_red_account_rule_makes_ticket_urgent_and_notifies_the_success_manager(
    contact, support_team, success_manager
):
    AccountMetrics.objects.create(account=contact.account, health_band="red", health_score=20)
    make_rule(
        "ticket_created",
        [
            {"type": "set_priority", "value": "urgent"},
            {"type": "notify", "value": ["success_manager"]},
        ],
        {"all": [{"field": "account.health_band", "op": "is", "value": "red"}]},
        name="Red account → urgent + notify CSM",
    )
    ticket = new_ticket(contact, support_team)
    assert ticket.priority == "urgent"
    notification = Notification.objects.get(recipient=success_manager, kind="rule")
    assert "Red account" in notification.text
    assert notification.ticket_id == ticket.pk


def test_green_account_is_left_alone(contact, support_team):
    AccountMetrics.objects.create(account=contact.account, health_band="green", health_score=90)
    make_rule(
        "ticket_created",
        [{"type": "set_priority", "value": "urgent"}],
        {"all": [{"field": "account.health_band", "op": "is", "value": "red"}]},
    )
    assert new_ticket(contact, support_team).priority == "normal"


FACTS = {
    "ticket.status": "open",
    "ticket.priority": "high",
    "ticket.channel": "email",
    "ticket.team": "support",
    "ticket.assignee": "",
    "ticket.tags": ["vip", "billing"],
    "ticket.subject": "Refund please",
    "ticket.body": "I want my MONEY back",
    "requester.email": "carol@acme.example",
    "requester.domain": "acme.example",
    "account.plan": "enterprise",
    "account.mrr": 5000.0,
    "account.health_band": "red",
    "account.lifecycle": "active",
    "account.days_to_renewal": 20,
    "account.success_manager": "sam",
    "business_hours.now": False,
}


@pytest.mark.parametrize(
    ("field", "op", "value", "expected"),
    [
        ("ticket.status", "is", "OPEN", True),
        ("ticket.status", "is_not", "open", False),
        ("ticket.priority", "in", ["high", "urgent"], True),
        ("ticket.priority", "not_in", ["high", "urgent"], False),
        ("ticket.assignee", "is_empty", None, True),
        ("ticket.team", "not_empty", None, True),
        ("ticket.tags", "contains", "VIP", True),
        ("ticket.tags", "not_contains", "vip", False),
        ("ticket.tags", "is_empty", None, False),
        ("ticket.subject", "contains", "refund", True),
        ("ticket.body", "not_contains", "money", False),
        ("requester.email", "ends_with", "@acme.example", True),
        ("requester.domain", "is", "acme.example", True),
        ("account.plan", "is", "enterprise", True),
        ("account.mrr", "gt", 4999, True),
        ("account.mrr", "gte", 5000, True),
        ("account.mrr", "lt", 5000, False),
        ("account.mrr", "lte", 5000, True),
        ("account.mrr", "is", "5000", True),
        ("account.days_to_renewal", "lte", 30, True),
        ("account.days_to_renewal", "gt", 30, False),
        ("account.health_band", "in", ["red", "yellow"], True),
        ("account.lifecycle", "is", "at_risk", False),
        ("account.success_manager", "is", "sam", True),
        ("business_hours.now", "is_false", None, True),
        ("business_hours.now", "is_true", None, False),
    ],
)
def test_condition_operators(field, op, value, expected):
    assert condition_holds({"field": field, "op": op, "value": value}, FACTS) is expected


def test_missing_number_never_matches_a_comparison():
    facts = {**FACTS, "account.days_to_renewal": None}
    assert not condition_holds({"field": "account.days_to_renewal", "op": "lt", "value": 30}, facts)
    assert condition_holds({"field": "account.days_to_renewal", "op": "is_empty"}, facts)


def test_all_and_any_groups():
    red = {"field": "account.health_band", "op": "is", "value": "red"}
    trial = {"field": "account.lifecycle", "op": "is", "value": "trial"}
    vip = {"field": "ticket.tags", "op": "contains", "value": "vip"}
    assert conditions_hold({"all": [red], "any": [trial, vip]}, FACTS)
    assert not conditions_hold({"all": [red, trial]}, FACTS)
    assert not conditions_hold({"any": [trial]}, FACTS)
    assert conditions_hold({}, FACTS)


def test_business_hours_condition_uses_the_team_schedule(contact):
    from tests.helpdesk.factories import BusinessHoursFactory, BusinessHoursIntervalFactory

    hours = BusinessHoursFactory(time_zone="Europe/Berlin")
    for day in range(5):
        BusinessHoursIntervalFactory(business_hours=hours, weekday=day)
    team = TeamFactory(business_hours=hours)
    make_rule(
        "ticket_created",
        [{"type": "add_tags", "value": ["after-hours"]}],
        {"all": [{"field": "business_hours.now", "op": "is_false"}]},
    )
    with time_machine.travel(dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC), tick=False):
        assert tags(new_ticket(contact, team)) == set()  # Monday 11:00 in Berlin
    with time_machine.travel(dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC), tick=False):
        assert tags(new_ticket(contact, team)) == {"after-hours"}  # Sunday


# --- actions ---------------------------------------------------------------------------------


def test_set_status_priority_team_and_assignee_actions(contact, support_team, agent):
    tier2 = TeamFactory(handle="tier2")
    make_rule(
        "ticket_created",
        [
            {"type": "set_status", "value": "open"},
            {"type": "set_priority", "value": "low"},
            {"type": "set_team", "value": "tier2"},
            {"type": "set_assignee", "value": "alice"},
        ],
    )
    ticket = new_ticket(contact, support_team)
    assert (ticket.status, ticket.priority, ticket.team_id, ticket.assignee_id) == (
        "open",
        "low",
        tier2.pk,
        agent.pk,
    )
    assert TicketEvent.objects.filter(ticket=ticket, kind=EventKind.TEAM).exists()


def test_round_robin_assignment_rotates_and_skips_unavailable(contact, support_team, make_user):
    members = [make_user("agent", username=f"rr{i}") for i in range(3)]
    for member in members:
        MembershipFactory(team=support_team, user=member)
    members[1].is_available = False
    members[1].save()
    make_rule("ticket_created", [{"type": "set_assignee", "value": "round_robin"}])
    assignees = [new_ticket(contact, support_team).assignee.username for _ in range(3)]
    assert assignees == ["rr0", "rr2", "rr0"]


def test_remove_tags_action(contact, support_team, agent):
    make_rule("status_changed", [{"type": "remove_tags", "value": ["waiting"]}])
    ticket = new_ticket(contact, support_team)
    inbox.ticket_set_tags(ticket=ticket, actor=agent, names=["waiting", "billing"])
    inbox.ticket_set_status(ticket=ticket, actor=agent, status="open")
    assert tags(ticket) == {"billing"}


def test_add_note_action_writes_an_internal_note(contact, support_team):
    make_rule(
        "ticket_created",
        [{"type": "add_note", "value": "Check the **contract**."}],
        name="Contract check",
    )
    ticket = new_ticket(contact, support_team)
    note = Note.objects.get(ticket=ticket)
    assert note.author is None
    assert "<strong>contract</strong>" in note.body_html
    assert "Contract check" in note.body_markdown


def test_send_canned_reply_fills_placeholders_and_is_an_automatic_reply(contact, support_team):
    canned = CannedResponseFactory(body="Hi {{ requester.first_name }}, we are on it & more.")
    make_rule("ticket_created", [{"type": "send_canned_reply", "value": canned.pk}])
    ticket = new_ticket(contact, support_team)
    outbound = OutboundEmail.objects.get(ticket=ticket)
    assert outbound.body_text == "Hi Carol, we are on it & more."
    assert outbound.to == ["carol@acme.example"]
    ticket.refresh_from_db()
    assert ticket.first_response_at is None  # automatic messages are no first response


def test_notify_action_reaches_team_members(contact, support_team, agent, make_user):
    colleague = make_user("agent", username="bruno")
    MembershipFactory(team=support_team, user=colleague)
    make_rule("ticket_created", [{"type": "notify", "value": ["@support"]}])
    new_ticket(contact, support_team)
    assert set(
        Notification.objects.filter(kind="rule").values_list("recipient__username", flat=True)
    ) == {"alice", "bruno"}


def test_snooze_action(contact, support_team):
    make_rule("ticket_created", [{"type": "snooze", "value": 24}])
    ticket = new_ticket(contact, support_team)
    assert ticket.snoozed_until > timezone.now() + dt.timedelta(hours=23)


def test_a_failing_action_is_recorded_and_does_not_undo_the_cause(contact, support_team):
    make_rule(
        "ticket_created",
        [
            {"type": "set_team", "value": "no-such-team"},
            {"type": "add_tags", "value": ["still-ran"]},
        ],
    )
    ticket = new_ticket(contact, support_team)
    assert Ticket.objects.filter(pk=ticket.pk).exists()
    assert "still-ran" in tags(ticket)
    [event] = rule_events(ticket)
    assert event.data["actions"][0].startswith("failed set_team")


# --- safety ------------------------------------------------------------------------------------


def test_a_rule_never_fires_twice_for_the_same_event(contact, support_team):
    rule = make_rule("customer_replied", [{"type": "add_tags", "value": ["again"]}])
    ticket = new_ticket(contact, support_team)
    assert rules_fire(trigger="customer_replied", ticket_id=ticket.pk, event_key="message:1")
    assert rules_fire(trigger="customer_replied", ticket_id=ticket.pk, event_key="message:1") == []
    assert RuleFiring.objects.filter(rule=rule, ticket=ticket).count() == 1


def test_rules_that_flip_a_field_stop_at_the_depth_limit_with_the_chain_recorded(
    contact, support_team, agent
):
    to_pending = make_rule(
        "status_changed",
        [{"type": "set_status", "value": "pending"}],
        {"all": [{"field": "ticket.status", "op": "is", "value": "open"}]},
        name="open → pending",
    )
    to_open = make_rule(
        "status_changed",
        [{"type": "set_status", "value": "open"}],
        {"all": [{"field": "ticket.status", "op": "is", "value": "pending"}]},
        name="pending → open",
    )
    ticket = new_ticket(contact, support_team)
    inbox.ticket_set_status(ticket=ticket, actor=agent, status="open")
    firings = list(RuleFiring.objects.filter(ticket=ticket).order_by("id"))
    # Bounded: no chain is longer than the limit, and the flip-flop ends.
    assert max(len(firing.chain) for firing in firings) == MAX_CHAIN_DEPTH
    assert len(firings) <= 2**MAX_CHAIN_DEPTH
    assert firings[0].chain == [to_pending.pk]
    assert firings[1].chain == [to_pending.pk, to_open.pk]
    assert firings[2].chain == [to_pending.pk, to_open.pk, to_pending.pk]
    stopped = [e for e in rule_events(ticket) if e.data.get("stopped")]
    assert stopped
    assert stopped[0].data["chain"] == [to_pending.pk, to_open.pk, to_pending.pk]
    assert "depth limit" in stopped[0].data["reason"]


def test_evaluating_50_rules_costs_the_same_queries_as_5(
    contact, support_team, django_assert_num_queries
):
    ticket = new_ticket(contact, support_team)
    never = {"all": [{"field": "account.plan", "op": "is", "value": "no-such-plan"}]}
    for _ in range(5):
        make_rule("customer_replied", [{"type": "add_tags", "value": ["x"]}], never)
    with django_assert_num_queries(5):  # rules, ticket+account, tags, last message, firings
        rules_fire(trigger="customer_replied", ticket_id=ticket.pk, event_key="k1")
    for _ in range(45):
        make_rule("customer_replied", [{"type": "add_tags", "value": ["x"]}], never)
    assert Rule.objects.filter(trigger="customer_replied").count() == 50
    with django_assert_num_queries(5):  # rules, ticket+account, tags, last message, firings
        rules_fire(trigger="customer_replied", ticket_id=ticket.pk, event_key="k2")


# --- time-based -----------------------------------------------------------------------------


def test_pending_five_days_without_customer_reply_is_solved_with_a_canned_reply(
    contact, support_team, agent
):
    canned = CannedResponseFactory(body="Hi {{ requester.first_name }}, closing this for now.")
    make_rule(
        "hours_since_pending",
        [
            {"type": "send_canned_reply", "value": canned.pk},
            {"type": "set_status", "value": "solved"},
        ],
        threshold=120,
        name="Pending 5 days → solve",
    )
    start = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        ticket = new_ticket(contact, support_team)
        inbox.reply_create(
            ticket=ticket, author=agent, body_text="Can you send logs?", new_status="pending"
        )
    with time_machine.travel(start + dt.timedelta(days=4, hours=23), tick=False):
        assert time_rules_sweep() == 0
    with time_machine.travel(start + dt.timedelta(days=5, hours=1), tick=False):
        assert time_rules_sweep() == 1
        assert time_rules_sweep() == 0  # the sweep run twice fires once
    ticket.refresh_from_db()
    assert ticket.status == "solved"
    assert (
        OutboundEmail.objects.filter(ticket=ticket, body_text__contains="closing this").count() == 1
    )


def test_hours_since_created_fires_once_per_ticket(contact, support_team):
    make_rule("hours_since_created", [{"type": "add_tags", "value": ["old"]}], threshold=48)
    start = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        first = new_ticket(contact, support_team)
    with time_machine.travel(start + dt.timedelta(days=1), tick=False):
        second = new_ticket(contact, support_team)
    with time_machine.travel(start + dt.timedelta(hours=49), tick=False):
        assert time_rules_sweep() == 1
    with time_machine.travel(start + dt.timedelta(hours=80), tick=False):
        assert time_rules_sweep() == 1
        assert time_rules_sweep() == 0
    assert "old" in tags(first)
    assert "old" in tags(second)


def test_hours_since_customer_message_restarts_with_a_new_message(contact, support_team):
    make_rule("hours_since_customer", [{"type": "add_tags", "value": ["waiting"]}], threshold=2)
    start = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        ticket = new_ticket(contact, support_team)
    with time_machine.travel(start + dt.timedelta(hours=3), tick=False):
        assert time_rules_sweep() == 1
        inbox.message_add_inbound(
            ticket=ticket, contact=contact, content=inbox.InboundContent(body_text="hello?")
        )
    with time_machine.travel(start + dt.timedelta(hours=4), tick=False):
        assert time_rules_sweep() == 0
    with time_machine.travel(start + dt.timedelta(hours=6), tick=False):
        assert time_rules_sweep() == 1


def test_hours_until_sla_breach(contact, support_team):
    make_rule("hours_until_sla", [{"type": "set_priority", "value": "high"}], threshold=1)
    ticket = new_ticket(contact, support_team)
    Ticket.objects.filter(pk=ticket.pk).update(
        first_response_due_at=timezone.now() + dt.timedelta(hours=3)
    )
    assert time_rules_sweep() == 0
    Ticket.objects.filter(pk=ticket.pk).update(
        first_response_due_at=timezone.now() + dt.timedelta(minutes=30)
    )
    assert time_rules_sweep() == 1
    ticket.refresh_from_db()
    assert ticket.priority == "high"


def test_renewal_within_30_days_mentions_the_success_manager(
    contact, support_team, success_manager
):
    account = contact.account
    account.renewal_date = timezone.now().date() + dt.timedelta(days=45)
    account.mrr = Decimal("900")
    account.save()
    make_rule(
        "days_until_renewal", [{"type": "add_note", "value": "@sam renewal is close"}], threshold=30
    )
    ticket = new_ticket(contact, support_team)
    assert time_rules_sweep() == 0
    account.renewal_date = timezone.now().date() + dt.timedelta(days=20)
    account.save()
    assert time_rules_sweep() == 1
    assert "@sam renewal is close" in Note.objects.get(ticket=ticket).body_markdown
    assert time_rules_sweep() == 0  # keyed by the renewal date: once per renewal


def test_a_backlog_of_non_matching_tickets_does_not_starve_newer_ones(contact, support_team):
    """Tickets that fail the conditions are walked round-robin, not re-read first every time."""
    make_rule(
        "hours_since_created",
        [{"type": "add_tags", "value": ["stale"]}],
        {"all": [{"field": "ticket.priority", "op": "is", "value": "high"}]},
        threshold=1,
    )
    start = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        backlog = [new_ticket(contact, support_team) for _ in range(3)]  # normal priority
        newer = [new_ticket(contact, support_team) for _ in range(2)]
    Ticket.objects.filter(pk__in=[t.pk for t in newer]).update(priority="high")
    with time_machine.travel(start + dt.timedelta(hours=2), tick=False):
        assert time_rules_sweep(batch=2) == 0  # the two oldest of the backlog
        assert time_rules_sweep(batch=2) == 1  # the last of the backlog and the first newer
        assert time_rules_sweep(batch=2) == 1  # the second newer, then wraps to the start
        assert time_rules_sweep(batch=2) == 0
    assert all("stale" in tags(t) for t in newer)
    assert not any("stale" in tags(t) for t in backlog)


def test_tickets_already_fired_do_not_use_up_the_batch(contact, support_team):
    make_rule("hours_since_customer", [{"type": "add_tags", "value": ["waiting"]}], threshold=1)
    start = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        tickets = [new_ticket(contact, support_team) for _ in range(3)]
    with time_machine.travel(start + dt.timedelta(hours=2), tick=False):
        assert time_rules_sweep(batch=2) == 2
        assert time_rules_sweep(batch=2) == 1
        assert time_rules_sweep(batch=2) == 0
    assert all("waiting" in tags(t) for t in tickets)
    assert set(RuleFiring.objects.values_list("clock_at", flat=True)) == {start}


def test_handoff_triggers_and_the_create_handoff_action(
    contact, support_team, agent, success_manager
):
    from notes.models import Handoff
    from notes.services import handoff_accept

    make_rule(
        "ticket_created",
        [{"type": "create_handoff", "value": "churn_risk"}],
        {"all": [{"field": "ticket.subject", "op": "contains", "value": "cancel"}]},
        name="Cancellation → success",
    )
    make_rule("handoff_created", [{"type": "add_tags", "value": ["escalated"]}])
    make_rule("handoff_answered", [{"type": "add_tags", "value": ["answered-by-csm"]}])
    ticket = new_ticket(contact, support_team, subject="We want to cancel")
    handoff = Handoff.objects.get(ticket=ticket)
    assert handoff.to_user == success_manager  # the account's success manager by default
    assert handoff.reason == "churn_risk"
    assert "escalated" in tags(ticket)
    handoff_accept(handoff=handoff, user=success_manager)
    assert "answered-by-csm" in tags(ticket)
    ticket.refresh_from_db()
    assert ticket.assignee == success_manager


def test_health_band_change_fires_rules_on_open_tickets_and_emits_a_webhook(
    contact, support_team, agent, success_manager
):
    from accounts.metrics import recompute_accounts
    from accounts.models import AccountMetrics
    from api.models import Webhook, WebhookDelivery
    from notes.services import handoff_create

    make_rule(
        "health_band_changed",
        [{"type": "add_tags", "value": ["account-red"]}],
        {"all": [{"field": "account.health_band", "op": "is", "value": "red"}]},
    )
    Webhook.objects.create(
        name="crm",
        url="https://crm.example/hook",
        secret="s3cret",
        event_kinds=["account.health_changed"],
    )
    tickets = [new_ticket(contact, support_team) for _ in range(11)]  # backlog 11 -> 0 points
    handoff_create(
        ticket=tickets[0],
        from_user=agent,
        reason="churn_risk",
        note_markdown="They talk about leaving.",
    )  # escalations -> 0 points
    recompute_accounts(account_ids=[contact.account_id])
    assert AccountMetrics.objects.get(account=contact.account).health_band == "red"
    assert all("account-red" in tags(ticket) for ticket in tickets)
    delivery = WebhookDelivery.objects.get(event="account.health_changed")
    assert delivery.payload["health"]["to"]["band"] == "red"
    recompute_accounts(account_ids=[contact.account_id])  # no change: nothing fires again
    assert RuleFiring.objects.filter(rule__trigger="health_band_changed").count() == 11
