"""SLA clocks and the breach sweep, auto-assignment, merge and snooze."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from helpdesk.models import AutoAssign
from inbox.models import EventKind, Message, Ticket, TicketEvent
from inbox.services import (
    InboundContent,
    InvalidTransition,
    message_add_inbound,
    reply_create,
    sla_sweep,
    ticket_assign,
    ticket_merge,
    ticket_set_priority,
    ticket_set_status,
    ticket_snooze,
)
from notes.models import Notification
from notes.services import note_create
from tests.helpdesk.factories import (
    BusinessHoursFactory,
    BusinessHoursIntervalFactory,
    HolidayFactory,
    MembershipFactory,
    TeamFactory,
)
from tests.inbox.inbox_helpers import new_ticket

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def sla_team(*, with_hours: bool = True):
    """A team whose policy counts in Mon-Fri 9-17 UTC with Christmas off."""
    from helpdesk.models import SLAPolicy, SLATarget

    business_hours = None
    if with_hours:
        business_hours = BusinessHoursFactory(time_zone="UTC")
        for day in range(5):
            BusinessHoursIntervalFactory(business_hours=business_hours, weekday=day)
        HolidayFactory(business_hours=business_hours, date=dt.date(2026, 12, 25))
    policy = SLAPolicy.objects.create(name="Standard", business_hours=business_hours)
    SLATarget.objects.create(
        policy=policy,
        priority="normal",
        first_response_minutes=120,
        next_response_minutes=240,
        resolution_minutes=16 * 60,
    )
    SLATarget.objects.create(policy=policy, priority="urgent", first_response_minutes=30)
    return TeamFactory(name="SLA team", handle="slateam", sla_policy=policy)


def test_due_times_on_create_skip_weekend_and_holiday():
    team = sla_team()
    # Thursday Dec 24 2026, 16:00 UTC: 1h Thursday; Friday holiday; weekend; Monday.
    ticket = new_ticket(team=team, created_at=dt.datetime(2026, 12, 24, 16, tzinfo=UTC))
    assert ticket.first_response_due_at == dt.datetime(2026, 12, 28, 10, tzinfo=UTC)
    # 16 business hours: 1h Thu + 8h Mon + 7h Tue -> Tuesday 16:00.
    assert ticket.resolution_due_at == dt.datetime(2026, 12, 29, 16, tzinfo=UTC)
    assert ticket.next_response_due_at is None


def test_priority_change_recomputes_due_times():
    team = sla_team(with_hours=False)
    created = timezone.now()
    ticket = new_ticket(team=team, created_at=created)
    assert ticket.first_response_due_at == created + dt.timedelta(minutes=120)
    ticket = ticket_set_priority(ticket=ticket, actor=None, priority="urgent")
    assert ticket.first_response_due_at == created + dt.timedelta(minutes=30)
    assert ticket.resolution_due_at is None  # the urgent target has no resolution clock


def test_next_response_clock_runs_from_customer_message_until_reply(agent):
    team = sla_team(with_hours=False)
    ticket = new_ticket(team=team)
    reply_create(ticket=ticket, author=agent, body_text="first answer")
    ticket.refresh_from_db()
    assert ticket.next_response_due_at is None
    assert ticket.first_response_business_seconds is not None
    wrote = timezone.now()
    message_add_inbound(
        ticket=ticket, contact=ticket.requester, content=InboundContent(body_text="more")
    )
    ticket.refresh_from_db()
    due = ticket.next_response_due_at
    assert wrote + dt.timedelta(minutes=239) < due < wrote + dt.timedelta(minutes=241)
    # A second customer message does not push the clock back.
    message_add_inbound(
        ticket=ticket, contact=ticket.requester, content=InboundContent(body_text="hello?")
    )
    ticket.refresh_from_db()
    assert ticket.next_response_due_at == due
    reply_create(ticket=ticket, author=agent, body_text="second answer")
    ticket.refresh_from_db()
    assert ticket.next_response_due_at is None


def test_sweep_flags_breach_once_records_event_and_notifies_assignee(agent):
    team = sla_team(with_hours=False)
    MembershipFactory(team=team, user=agent)
    ticket = new_ticket(team=team, created_at=timezone.now() - dt.timedelta(hours=3))
    ticket_assign(ticket=ticket, actor=None, assignee=agent)
    fresh = new_ticket(team=team)
    assert sla_sweep() == 1
    assert sla_sweep() == 0  # once
    ticket.refresh_from_db()
    assert ticket.sla_first_response_breached is True
    assert not ticket.sla_resolution_breached  # 16h not yet over
    events = TicketEvent.objects.filter(ticket=ticket, kind=EventKind.SLA_BREACHED)
    assert [e.data for e in events] == [{"clocks": ["first_response"]}]
    notes = Notification.objects.filter(recipient=agent, kind="sla_breached")
    assert [n.text for n in notes] == [f"#{ticket.number} breached its SLA (first response)"]
    assert notes[0].target_url == f"/tickets/{ticket.number}/#event-{events[0].pk}"
    fresh.refresh_from_db()
    assert not fresh.is_sla_breached


def test_sweep_ignores_answered_pending_and_solved_tickets(agent):
    team = sla_team(with_hours=False)
    old = timezone.now() - dt.timedelta(hours=3)
    answered = new_ticket(team=team, created_at=old)
    reply_create(ticket=answered, author=agent, body_text="hi")
    solved = new_ticket(team=team, created_at=old)
    ticket_set_status(ticket=solved, actor=None, status="solved")
    assert sla_sweep() == 0


def _warnings(ticket) -> list[dict]:
    return [e.data for e in TicketEvent.objects.filter(ticket=ticket, kind=EventKind.SLA_WARNING)]


def test_sweep_warns_the_assignee_once_before_the_clock_runs_out(client, agent, settings):
    team = sla_team(with_hours=False)
    MembershipFactory(team=team, user=agent)
    now = timezone.now()
    # First response due in 20 minutes (2 h target); the other ticket's in 90 minutes.
    ticket = new_ticket(team=team, created_at=now - dt.timedelta(minutes=100))
    ticket_assign(ticket=ticket, actor=None, assignee=agent)
    later = new_ticket(team=team, created_at=now - dt.timedelta(minutes=30))
    ticket_assign(ticket=later, actor=None, assignee=agent)

    settings.SLA_WARNING_MINUTES = 0  # off
    assert sla_sweep(now=now) == 0
    assert not Notification.objects.filter(kind="sla_warning").exists()

    settings.SLA_WARNING_MINUTES = 30
    assert sla_sweep(now=now) == 0  # a warning is not a breach
    sla_sweep(now=now + dt.timedelta(minutes=1))  # once per clock
    [warning] = Notification.objects.filter(recipient=agent, kind="sla_warning")
    assert warning.ticket == ticket
    assert warning.text == f"#{ticket.number} is about to breach its SLA (first response) in 20 min"
    [event] = TicketEvent.objects.filter(ticket=ticket, kind=EventKind.SLA_WARNING)
    assert event.data["clocks"] == ["first_response"]
    assert warning.target_url == f"/tickets/{ticket.number}/#event-{event.pk}"
    assert _warnings(later) == []

    client.force_login(agent)
    html = client.get(f"/tickets/{ticket.number}/").content.decode()
    due = timezone.localtime(ticket.first_response_due_at)
    assert f'id="event-{event.pk}"' in html
    assert f"SLA about to breach: first response due {due:%H:%M}" in html

    # When the clock runs out it breaches (and warns nobody again).
    assert sla_sweep(now=now + dt.timedelta(minutes=21)) == 1
    kinds = Notification.objects.filter(recipient=agent, ticket=ticket).values_list(
        "kind", flat=True
    )
    assert sorted(k for k in kinds if k.startswith("sla")) == ["sla_breached", "sla_warning"]


def test_each_new_response_clock_is_warned_about_once(agent, settings):
    settings.SLA_WARNING_MINUTES = 30
    team = sla_team(with_hours=False)
    start = timezone.now() - dt.timedelta(hours=12)
    ticket = new_ticket(team=team, created_at=start)
    ticket_assign(ticket=ticket, actor=None, assignee=agent)
    reply_create(ticket=ticket, author=agent, body_text="On it", at=start + dt.timedelta(minutes=5))

    def customer_writes(at):
        message_add_inbound(
            ticket=ticket, contact=ticket.requester, content=InboundContent(body_text="?"), at=at
        )

    customer_writes(start + dt.timedelta(hours=1))  # next response due at +5h
    sla_sweep(now=start + dt.timedelta(hours=4, minutes=40))
    sla_sweep(now=start + dt.timedelta(hours=4, minutes=45))
    reply_create(
        ticket=ticket,
        author=agent,
        body_text="Fixed?",
        at=start + dt.timedelta(hours=4, minutes=55),
    )
    customer_writes(start + dt.timedelta(hours=6))  # a new clock: due at +10h
    sla_sweep(now=start + dt.timedelta(hours=9, minutes=50))
    sla_sweep(now=start + dt.timedelta(hours=9, minutes=55))

    first, second = _warnings(ticket)
    assert first["clocks"] == second["clocks"] == ["next_response"]
    assert first["due"] != second["due"]
    texts = Notification.objects.filter(recipient=agent, kind="sla_warning").values_list(
        "text", flat=True
    )
    assert sorted(texts) == [
        f"#{ticket.number} is about to breach its SLA (next response) in 10 min",
        f"#{ticket.number} is about to breach its SLA (next response) in 20 min",
    ]
    ticket.refresh_from_db()
    assert not ticket.is_sla_breached


def test_sla_sweep_task_is_registered_with_beat():
    import inbox.tasks  # noqa: F401  (the worker autodiscovers it; the test imports it)
    from config.beat import BEAT_SCHEDULE
    from config.celery import app

    assert "inbox.sla_sweep" in app.tasks
    assert any(entry["task"] == "inbox.sla_sweep" for entry in BEAT_SCHEDULE.values())


@pytest.mark.celery_worker
def test_sla_sweep_runs_on_a_real_worker(celery_worker, make_user):
    team = sla_team(with_hours=False)
    ticket = new_ticket(team=team, created_at=timezone.now() - dt.timedelta(hours=3))
    from config.celery import app

    assert app.send_task("inbox.sla_sweep").get(timeout=30) == 1
    ticket.refresh_from_db()
    assert ticket.sla_first_response_breached


def test_sla_list_badge_and_filter(client, agent):
    team = sla_team(with_hours=False)
    MembershipFactory(team=team, user=agent)
    late = new_ticket(team=team, created_at=timezone.now() - dt.timedelta(hours=3))
    new_ticket(team=team)
    sla_sweep()
    client.force_login(agent)
    html = client.get("/inbox/?view=all").content.decode()
    assert "Overdue 1h" in html  # 3h old, 2h target
    assert "Due in 1h" in html or "Due in 2h" in html
    html = client.get("/inbox/?view=all&breached=1").content.decode()
    assert f'data-number="{late.number}"' in html
    assert html.count('data-number="') == 1
    assert "SLA breached: first response" in client.get(f"/tickets/{late.number}/").content.decode()


# --- auto-assignment -------------------------------------------------------------------


def team_with(make_user, mode, names):
    team = TeamFactory(
        name=f"Auto {mode}", handle=f"auto-{mode}".replace("_", "-"), auto_assign=mode
    )
    users = []
    for name in names:
        user = make_user(username=name)
        MembershipFactory(team=team, user=user)
        users.append(user)
    return team, users


def test_round_robin_skips_unavailable(make_user):
    team, (a, b, c) = team_with(make_user, AutoAssign.ROUND_ROBIN, ["rr1", "rr2", "rr3"])
    b.is_available = False
    b.save()
    owners = [new_ticket(team=team).assignee for _ in range(4)]
    assert owners == [a, c, a, c]
    assignment = TicketEvent.objects.filter(kind=EventKind.ASSIGNED).first()
    assert assignment.actor is None  # the system assigned it


def test_load_balanced_picks_fewest_open(make_user):
    team, (a, b) = team_with(make_user, AutoAssign.LOAD_BALANCED, ["lb1", "lb2"])
    first = new_ticket(team=team)
    assert first.assignee == a
    second = new_ticket(team=team)
    assert second.assignee == b
    ticket_set_status(ticket=first, actor=None, status="solved")  # a has 0 open now
    assert new_ticket(team=team).assignee == a


def test_auto_assign_off_leaves_unassigned(make_user):
    team, _ = team_with(make_user, AutoAssign.OFF, ["off1"])
    assert new_ticket(team=team).assignee is None


def test_auto_assign_with_nobody_available(make_user):
    team, (a,) = team_with(make_user, AutoAssign.ROUND_ROBIN, ["only"])
    a.is_available = False
    a.save()
    assert new_ticket(team=team).assignee is None


# --- merge -----------------------------------------------------------------------------


def test_merge_moves_messages_and_notes_and_closes_source(agent, support_team):
    source = new_ticket(team=support_team, subject="Dup", body="source body")
    note_create(ticket=source, author=agent, body_markdown="source note")
    from inbox.services import ticket_set_tags

    ticket_set_tags(ticket=source, actor=agent, names=["vip"])
    target = new_ticket(team=support_team, subject="Original", body="target body")
    ticket_merge(source=source, target=target, actor=agent)
    source.refresh_from_db()
    target.refresh_from_db()
    assert source.status == "closed"
    assert source.merged_into == target
    assert not Message.objects.filter(ticket=source).exists()
    bodies = sorted(Message.objects.filter(ticket=target).values_list("body_text", flat=True))
    assert bodies == ["source body", "target body"]
    assert target.notes.get().body_markdown == "source note"
    assert [t.name for t in target.tags.all()] == ["vip"]
    assert TicketEvent.objects.filter(ticket=source, kind="merged").get().data["into"] == (
        target.number
    )
    # The merged content is searchable on the target.
    found = Ticket.objects.filter(search_vector="source").values_list("number", flat=True)
    assert list(found) == [target.number]


def test_merge_refuses_self_closed_and_double(agent, support_team):
    a = new_ticket(team=support_team)
    b = new_ticket(team=support_team)
    with pytest.raises(InvalidTransition):
        ticket_merge(source=a, target=a, actor=agent)
    ticket_merge(source=a, target=b, actor=agent)
    with pytest.raises(InvalidTransition):
        ticket_merge(source=a, target=b, actor=agent)  # already merged
    c = new_ticket(team=support_team)
    with pytest.raises(InvalidTransition):
        ticket_merge(source=c, target=a, actor=agent)  # a is closed


# --- snooze ----------------------------------------------------------------------------


def test_snooze_wakes_on_customer_reply_and_refuses_past(agent, support_team):
    ticket = new_ticket(team=support_team)
    with pytest.raises(InvalidTransition):
        ticket_snooze(ticket=ticket, actor=agent, until=timezone.now() - dt.timedelta(1))
    ticket = ticket_snooze(ticket=ticket, actor=agent, until=timezone.now() + dt.timedelta(1))
    assert ticket.snoozed_until is not None
    assert TicketEvent.objects.filter(ticket=ticket, kind="snoozed").count() == 1
    message_add_inbound(
        ticket=ticket, contact=ticket.requester, content=InboundContent(body_text="ping")
    )
    ticket.refresh_from_db()
    assert ticket.snoozed_until is None
