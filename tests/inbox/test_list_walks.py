"""The inbox's walks at scale, checked against the plain filter they replace.

Tag-filtered pages walk the tag's links (TicketTag), whose copies of the ticket's columns
database triggers keep current; filtered or narrowly visible pages read their ids from a
covering index of open or done tickets first (ids first). Both must list exactly what the
plain filter lists, in the same order, page after page."""

from __future__ import annotations

import datetime as dt
import threading

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account
from helpdesk.models import Role
from inbox.models import TAG_LINK_COPIES, Tag, Ticket, TicketAccess, TicketTag
from inbox.selectors import (
    TicketFilters,
    ticket_list_for_inbox,
    user_team_ids,
)
from inbox.services import (
    ticket_assign,
    ticket_set_priority,
    ticket_set_status,
    ticket_set_tags,
    ticket_set_team,
)
from tests.accounts.factories import AccountFactory
from tests.helpdesk.factories import TeamFactory
from tests.inbox.inbox_helpers import (
    database_dsn,
    new_ticket,
    plan_without_sorting,
    reference_numbers,
    walked_numbers,
)

pytestmark = pytest.mark.django_db


def copies_of(ticket: Ticket) -> list[dict]:
    """Each of the ticket's links' copies, next to what the ticket holds now."""
    ticket.refresh_from_db()
    links = TicketTag.objects.filter(ticket=ticket).values(*TAG_LINK_COPIES.values())
    expected = {link: getattr(ticket, column) for column, link in TAG_LINK_COPIES.items()}
    return [(dict(link), expected) for link in links]


def assert_copies_current(ticket: Ticket) -> None:
    pairs = copies_of(ticket)
    assert pairs, "the ticket has no tag links"
    for link, expected in pairs:
        assert link == expected


def test_link_copies_follow_every_change_of_the_ticket(agent, support_team, make_user):
    ticket = new_ticket(team=support_team)
    ticket_set_tags(ticket=ticket, actor=agent, names=["refund", "vip"])
    assert_copies_current(ticket)
    assert TicketTag.objects.filter(ticket=ticket, ticket_status="new").count() == 2

    billing = TeamFactory(name="Billing", handle="billing")
    ticket_set_status(ticket=ticket, actor=agent, status="pending")
    ticket_set_priority(ticket=ticket, actor=agent, priority="urgent")
    ticket_assign(ticket=ticket, actor=agent, assignee=agent)
    ticket_set_team(ticket=ticket, actor=agent, team=billing)
    assert_copies_current(ticket)
    assert set(
        TicketTag.objects.filter(ticket=ticket).values_list("ticket_team_id", flat=True)
    ) == {billing.pk}

    # Writes that bypass the services: a queryset update, a model save, raw SQL.
    other_account = AccountFactory(name="Globex")
    Ticket.objects.filter(pk=ticket.pk).update(account=other_account, assignee=None)
    assert_copies_current(ticket)
    ticket.refresh_from_db()
    ticket.status = "solved"
    ticket.save()
    assert_copies_current(ticket)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inbox_ticket SET created_at = %s WHERE id = %s",
            [timezone.now() - dt.timedelta(days=3), ticket.pk],
        )
    assert_copies_current(ticket)

    # A tag added after all that copies the ticket as it is now.
    ticket_set_tags(ticket=ticket, actor=agent, names=["refund", "vip", "late"])
    assert len(copies_of(ticket)) == 3
    assert_copies_current(ticket)


def test_link_copies_skip_unrelated_ticket_writes(agent, support_team):
    """Only a change of a copied column rewrites the links (the trigger's WHEN clause): a
    link row's ctid moves with every new version of it."""
    ticket = new_ticket(team=support_team)
    ticket_set_tags(ticket=ticket, actor=agent, names=["refund"])

    def link_version() -> tuple[str, str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ctid::text, ticket_status FROM inbox_ticket_tags WHERE ticket_id = %s",
                [ticket.pk],
            )
            return cursor.fetchone()

    before = link_version()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE inbox_ticket SET subject = 'New subject' WHERE id = %s", [ticket.pk])
        cursor.execute("UPDATE inbox_ticket SET status = status WHERE id = %s", [ticket.pk])
    assert link_version() == before
    with connection.cursor() as cursor:
        cursor.execute("UPDATE inbox_ticket SET status = 'open' WHERE id = %s", [ticket.pk])
    after = link_version()
    assert after[1] == "open"
    assert after[0] != before[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["ticket update", "tagging"])
def test_concurrent_ticket_update_and_tagging_leave_the_copy_current(support_team, first):
    """Two transactions: one changes the ticket's status, the other tags it. Whichever
    commits first, the link ends up with the committed status (FOR SHARE in the link
    trigger, a fresh snapshot in the ticket trigger)."""
    ticket = new_ticket(team=support_team)
    tag = Tag.objects.create(name="refund")
    updater = psycopg.connect(database_dsn())
    tagger = psycopg.connect(database_dsn())
    try:
        errors: list[BaseException] = []

        def run(conn: psycopg.Connection, sql: str, params: list) -> None:
            try:
                conn.execute(sql, params)
                conn.commit()
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        update = ("UPDATE inbox_ticket SET status = 'pending' WHERE id = %s", [ticket.pk])
        tagging = (
            "INSERT INTO inbox_ticket_tags (ticket_id, tag_id) VALUES (%s, %s)",
            [ticket.pk, tag.pk],
        )
        holder, waiter = (updater, tagger) if first == "ticket update" else (tagger, updater)
        held, waiting = (update, tagging) if first == "ticket update" else (tagging, update)
        holder.execute(*held)  # not committed: holds the ticket row
        thread = threading.Thread(target=run, args=(waiter, *waiting))
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive(), "the second transaction should wait for the first"
        holder.commit()
        thread.join(timeout=10)
        assert not errors, errors
    finally:
        updater.close()
        tagger.close()
    assert TicketTag.objects.get(ticket=ticket).ticket_status == "pending"


@pytest.mark.parametrize("who", ["agent", "success_manager", "admin_user"])
@pytest.mark.parametrize(
    "view", ["all", "mine", "unassigned", "team", "pending", "snoozed", "solved", "mentions"]
)
def test_tag_walk_lists_what_the_plain_filter_lists(request, scene, who, view):
    user = request.getfixturevalue(who)
    for sort in ("newest", "oldest"):
        if view == "mentions" and sort == "newest":
            continue  # unread mentions first: not a date order, the plain path lists it
        filters = TicketFilters(view=view, tag="Refund", sort=sort)
        expected = reference_numbers(user, filters)
        for page_size in (2, 50):
            assert walked_numbers(user, filters, page_size) == expected, (sort, page_size)


@pytest.mark.parametrize(
    "extra",
    [
        {"status": "open"},
        {"priority": "high"},
        {"assignee": "me"},
        {"assignee": "none"},
        {"channel": "email"},
        {"breached": True},
    ],
)
@pytest.mark.parametrize("who", ["agent", "success_manager"])
def test_tag_walk_with_other_filters(request, scene, who, extra):
    user = request.getfixturevalue(who)
    for view in ("all", "solved"):
        filters = TicketFilters(view=view, tag="refund", **extra)
        assert walked_numbers(user, filters, 3) == reference_numbers(user, filters)


def test_tag_walk_team_and_account_filters(admin_user, scene, support_team, account):
    for extra in ({"team": support_team.pk}, {"account": account.pk}):
        filters = TicketFilters(view="all", tag="refund", **extra)
        expected = reference_numbers(admin_user, filters)
        assert expected  # the scene has some, so the comparison means something
        assert walked_numbers(admin_user, filters, 2) == expected


def test_tag_walk_respects_visibility(agent, other_agent, success_manager, scene):
    """Each role sees its own tagged tickets and no one else's, checked against the scene."""
    numbers = [t.number for t in scene]
    agent_sees = set(walked_numbers(agent, TicketFilters(view="all", tag="refund"), 50))
    # Support team's open ones, the one assigned across teams, the one shared; not snoozed.
    assert agent_sees == {numbers[0], numbers[2], numbers[6], numbers[7]}
    manager_sees = set(walked_numbers(success_manager, TicketFilters(view="all", tag="refund"), 50))
    assert manager_sees == {numbers[0], numbers[4], numbers[8]}  # the acme open, awake ones
    assert walked_numbers(other_agent, TicketFilters(view="all", tag="refund"), 50) == []


def test_unknown_tag_lists_nothing(agent, scene, django_assert_num_queries):
    with django_assert_num_queries(1):  # the page; no tags to read for no rows
        page = ticket_list_for_inbox(
            user=agent, filters=TicketFilters(view="all", tag="nope"), team_ids=[]
        )
    assert page.tickets == []
    assert page.next_cursor is None


def test_tag_page_query_count(agent, scene, django_assert_num_queries):
    team_ids = user_team_ids(user=agent)
    with django_assert_num_queries(2):  # the page (link walk in a subquery), its tags
        page = ticket_list_for_inbox(
            user=agent, filters=TicketFilters(view="all", tag="refund"), team_ids=team_ids
        )
    assert page.tickets
    assert all("refund" in row.tag_names for row in page.tickets)


@pytest.mark.parametrize("who", ["agent", "success_manager", "admin_user"])
def test_tag_walk_reads_the_link_index_in_order(request, scene, who):
    """The plan walks the link index in page order (sorting priced out) and reaches a
    ticket only through its id: the copies answer visibility and the view's status."""
    user = request.getfixturevalue(who)
    filters = TicketFilters(view="solved", tag="refund")
    with CaptureQueriesContext(connection) as queries:
        ticket_list_for_inbox(user=user, filters=filters)
    listing = next(q["sql"] for q in queries.captured_queries if "inbox_ticket_tags" in q["sql"])
    plan = plan_without_sorting(listing)
    assert "inbox_tickettag_walk_idx" in plan, plan
    walk = next(line for line in plan.splitlines() if "inbox_tickettag_walk_idx" in line)
    assert "Index Only Scan" in walk or "Index Scan" in walk, plan


def test_account_success_manager_change_moves_tag_pages(success_manager, scene, make_user):
    """Visibility through the account is read from the account at query time, not copied:
    a new success manager sees the account's tagged tickets at once."""
    successor = make_user(Role.SUCCESS, username="sue")
    filters = TicketFilters(view="all", tag="refund")
    before = walked_numbers(success_manager, filters, 50)
    assert before
    Account.objects.filter(success_manager=success_manager).update(success_manager=successor)
    assert walked_numbers(successor, filters, 50) == before
    assert walked_numbers(success_manager, filters, 50) == []


@pytest.mark.parametrize(
    ("params", "walks"),
    [
        ({"view": "all"}, True),
        ({"view": "solved", "priority": "high"}, True),
        ({"view": "unassigned", "sort": "oldest"}, True),
        ({"view": "mine"}, False),  # an agent's few open tickets: probe those for the tag
        ({"view": "all", "assignee": "me"}, False),
        ({"view": "all", "account": 1}, False),
        ({"view": "all", "sort": "sla"}, False),  # not a date order: the SLA index walks
        ({"view": "all", "q": "refund"}, False),  # the search's own probe
    ],
)
def test_which_lists_walk_the_tag_links(agent, scene, params, walks):
    filters = TicketFilters(tag="refund", **params)
    with CaptureQueriesContext(connection) as queries:
        page = ticket_list_for_inbox(user=agent, filters=filters, team_ids=[])
    listing = queries.captured_queries[0]["sql"]
    assert ("ticket_created_at" in listing) is walks, listing
    assert all("refund" in row.tag_names for row in page.tickets)


def test_a_link_created_directly_copies_its_ticket():
    from tests.inbox.factories import TicketTagFactory

    link = TicketTagFactory()
    link.refresh_from_db()
    assert link.ticket_status == link.ticket.status == "open"
    assert link.ticket_created_at == link.ticket.created_at
    assert link.ticket_team_id == link.ticket.team_id
    assert link.ticket_account_id == link.ticket.account_id


@pytest.mark.parametrize("who", ["agent", "success_manager", "admin_user"])
@pytest.mark.parametrize(
    "params",
    [
        {"view": "all"},
        {"view": "all", "sort": "oldest"},
        {"view": "unassigned", "sort": "oldest"},
        {"view": "team", "priority": "high"},
        {"view": "pending"},
        {"view": "solved"},
        {"view": "solved", "channel": "email", "sort": "oldest"},
        {"view": "solved", "assignee": "none"},
        {"view": "all", "status": "open", "breached": True},
    ],
)
def test_ids_first_lists_what_the_plain_filter_lists(request, scene, who, params):
    user = request.getfixturevalue(who)
    filters = TicketFilters(**params)
    expected = reference_numbers(user, filters)
    for page_size in (2, 50):
        assert walked_numbers(user, filters, page_size) == expected, page_size


@pytest.mark.parametrize(
    ("who", "params", "index"),
    [
        ("agent", {"view": "unassigned", "sort": "oldest"}, "inbox_ticket_open_walk_idx"),
        ("success_manager", {"view": "all", "priority": "urgent"}, "inbox_ticket_open_walk_idx"),
        ("agent", {"view": "solved", "priority": "low"}, "inbox_ticket_done_walk_idx"),
        ("admin_user", {"view": "solved", "assignee": "none"}, "inbox_ticket_done_walk_idx"),
    ],
)
def test_ids_first_reads_ids_from_the_walk_index_alone(request, scene, who, params, index):
    """The ids come from an index-only walk in page order (sorting priced out): skipping a
    ticket costs an index entry, not a heap visit (an agent's Unassigned oldest first read
    two years of done tickets, 0.97 s at 1 M, before the walk index)."""
    user = request.getfixturevalue(who)
    with CaptureQueriesContext(connection) as queries:
        ticket_list_for_inbox(user=user, filters=TicketFilters(**params))
    listing = next(q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"])
    plan = plan_without_sorting(listing)
    walks = [line for line in plan.splitlines() if f"using {index}" in line]
    assert walks, plan
    assert all("Index Only Scan" in line for line in walks), plan


def test_admin_unfiltered_list_reads_rows_in_one_level(admin_user, scene):
    """Someone who sees everything, unfiltered, walks rows directly: a page's worth of
    rows is near, and a second level would only add planning."""
    with CaptureQueriesContext(connection) as queries:
        page = ticket_list_for_inbox(user=admin_user, filters=TicketFilters(view="all"))
    assert page.tickets
    assert queries.captured_queries[0]["sql"].count("SELECT") == 1


@pytest.fixture
def manager_scene(scene, success_manager, support_team):
    """The shared scene plus a ticket assigned to the success manager and one shared with
    them, both on an account they do not manage, and one of theirs also assigned to them."""
    assigned = new_ticket(team=support_team, email="g@globex.example")
    ticket_set_tags(ticket=assigned, actor=None, names=["refund"])
    ticket_assign(ticket=assigned, actor=None, assignee=success_manager)
    shared = new_ticket(team=support_team, email="g@globex.example")
    ticket_set_status(ticket=shared, actor=None, status="solved")
    TicketAccess.objects.create(ticket=shared, user=success_manager, reason="mention")
    # One more of their accounts' tickets that is also assigned to them: found by two
    # branches, listed once.
    both = new_ticket(email="c@acme.example")
    ticket_assign(ticket=both, actor=None, assignee=success_manager)
    return [*scene, assigned, shared, both]


@pytest.mark.parametrize(
    "params",
    [
        {"view": "all"},
        {"view": "all", "sort": "oldest"},
        {"view": "unassigned"},
        {"view": "team"},
        {"view": "pending"},
        {"view": "solved"},
        {"view": "solved", "sort": "oldest"},
        {"view": "all", "priority": "high"},
        {"view": "all", "assignee": "me"},
        {"view": "solved", "channel": "email"},
        {"view": "all", "status": "open", "breached": True},
    ],
)
def test_success_manager_lists_what_the_plain_filter_lists(success_manager, manager_scene, params):
    """Every branch of what they see (their accounts', assigned to them, shared with them)
    has tickets, one of them in two branches: listed once, in order, page after page."""
    filters = TicketFilters(**params)
    expected = reference_numbers(success_manager, filters)
    for page_size in (1, 2, 50):
        assert walked_numbers(success_manager, filters, page_size) == expected, page_size


def test_rare_channel_filter_reads_the_channel_index(admin_user, scene):
    """A channel few tickets (or none) came by: its own index finds them, where the walk
    of done tickets would read every one to find none (190 ms at 1 M)."""
    with CaptureQueriesContext(connection) as queries:
        page = ticket_list_for_inbox(
            user=admin_user, filters=TicketFilters(view="solved", channel="phone"), team_ids=[]
        )
    assert page.tickets == []
    listing = next(q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_ticket")  # the statistics that tell phone is rare
    plan = plan_without_sorting(listing)
    assert "inbox_ticket_channel_idx" in plan, plan
