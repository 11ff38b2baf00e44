"""The inbox list: views, filters, sort, search, keyset pagination, nav counts, permissions."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from helpdesk.models import Role
from inbox.models import Ticket
from inbox.selectors import COUNT_CAP, TicketFilters, nav_counts_for_user, ticket_list_for_inbox
from inbox.services import (
    nav_counts_invalidate,
    reply_create,
    ticket_assign,
    ticket_set_priority,
    ticket_set_status,
    ticket_set_tags,
    ticket_snooze,
)
from tests.helpdesk.factories import MembershipFactory, TeamFactory
from tests.inbox.inbox_helpers import new_ticket, plan_without_sorting

pytestmark = pytest.mark.django_db


def numbers_on_page(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-number="(\d+)"', html)]


def test_team_view_lists_my_teams_tickets_not_others(client, agent, support_team):
    mine = new_ticket(team=support_team, subject="Printer on fire")
    other = new_ticket(team=TeamFactory(name="Elsewhere", handle="elsewhere"), subject="Secret")
    client.force_login(agent)
    response = client.get("/inbox/?view=team")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Printer on fire" in html
    assert "Secret" not in html
    assert numbers_on_page(html) == [mine.number]
    assert other.number not in numbers_on_page(client.get("/inbox/?view=all").content.decode())


def test_views_mine_unassigned_pending_solved(client, agent, support_team):
    a = new_ticket(team=support_team, subject="Mine")
    b = new_ticket(team=support_team, subject="Nobody's")
    c = new_ticket(team=support_team, subject="Waiting")
    d = new_ticket(team=support_team, subject="Done")
    ticket_assign(ticket=a, actor=agent, assignee=agent)
    ticket_set_status(ticket=c, actor=agent, status="pending")
    ticket_set_status(ticket=d, actor=agent, status="solved")
    client.force_login(agent)

    def page(view):
        return numbers_on_page(client.get(f"/inbox/?view={view}").content.decode())

    assert page("mine") == [a.number]
    assert set(page("unassigned")) == {b.number, c.number}
    assert page("pending") == [c.number]
    assert page("solved") == [d.number]
    assert d.number not in page("team")


def test_filters_status_priority_tag_assignee_channel_breached(client, agent, support_team):
    urgent = new_ticket(team=support_team, subject="Down")
    ticket_set_priority(ticket=urgent, actor=agent, priority="urgent")
    tagged = new_ticket(team=support_team, subject="Refund me")
    ticket_set_tags(ticket=tagged, actor=agent, names=["billing"])
    assigned = new_ticket(team=support_team, subject="Assigned")
    ticket_assign(ticket=assigned, actor=agent, assignee=agent)
    breached = new_ticket(team=support_team, subject="Late", channel="api")
    Ticket.objects.filter(pk=breached.pk).update(sla_first_response_breached=True)
    client.force_login(agent)

    def page(query):
        return numbers_on_page(client.get(f"/inbox/?view=all&{query}").content.decode())

    assert page("priority=urgent") == [urgent.number]
    assert page("tag=BILLING") == [tagged.number]
    assert page("assignee=me") == [assigned.number]
    assert page(f"assignee={agent.pk}") == [assigned.number]
    unassigned = page("assignee=none")
    assert breached.number in unassigned
    assert assigned.number not in unassigned
    assert page("channel=api") == [breached.number]
    assert page("breached=1") == [breached.number]
    assert page("status=new&priority=low") == []
    # Nonsense values are ignored, not errors.
    assert client.get("/inbox/?view=bogus&status=nope&sort=evil&team=x").status_code == 200


def test_status_filter_narrows_the_view_in_one_clause(client, agent, support_team):
    waiting = new_ticket(team=support_team, subject="Waiting")
    ticket_set_status(ticket=waiting, actor=agent, status="pending")
    done = new_ticket(team=support_team, subject="Done")
    ticket_set_status(ticket=done, actor=agent, status="solved")
    fresh = new_ticket(team=support_team, subject="Fresh")
    client.force_login(agent)

    def page(query):
        return numbers_on_page(client.get(f"/inbox/?{query}").content.decode())

    assert page("view=team&status=pending") == [waiting.number]
    assert page("view=all&status=new") == [fresh.number]
    assert page("view=solved&status=solved") == [done.number]
    # A status outside the view's own still empties it rather than widening it.
    assert page("view=team&status=solved") == []
    assert page("view=solved&status=open") == []
    # The planner sees `status = 'pending'` alone, not ANDed with the open set (whose
    # multiplied selectivities made it sort thousands of rows at a million tickets).
    with CaptureQueriesContext(connection) as queries:
        assert page("view=team&status=pending") == [waiting.number]
    (listing,) = [q["sql"] for q in queries if 'AS "number"' in q["sql"]]
    # (The ids come first, from a subquery on its own alias: any table prefix.)
    assert re.search(r'\."status" = \'pending\'', listing), listing
    assert '"status" IN' not in listing


def test_search_subject_body_and_requester_email(client, agent, support_team):
    by_subject = new_ticket(team=support_team, subject="Invoice missing for March")
    by_body = new_ticket(team=support_team, subject="Help", body="The flux capacitor broke")
    by_email = new_ticket(team=support_team, email="zed@zeta.example", subject="Hi")
    reply = new_ticket(team=support_team, subject="Other")
    reply_create(ticket=reply, author=agent, body_text="Try rebooting the gizmotron")
    client.force_login(agent)

    def search(q):
        return numbers_on_page(client.get("/inbox/", {"view": "all", "q": q}).content.decode())

    assert search("invoices") == [by_subject.number]  # stemmed
    assert search("capacitor") == [by_body.number]
    assert search("zed@zeta.example") == [by_email.number]
    assert search("gizmotron") == [reply.number]  # kept current on write
    assert search("nothing-matches-this") == []


def test_sorts(agent, support_team):
    old = new_ticket(team=support_team, created_at=timezone.now() - dt.timedelta(days=2))
    new = new_ticket(team=support_team)

    def order(sort):
        filters = TicketFilters(view="all", sort=sort)
        return [t.number for t in ticket_list_for_inbox(user=agent, filters=filters).tickets]

    assert order("newest") == [new.number, old.number]
    assert order("oldest") == [old.number, new.number]
    assert order("customer") == [new.number, old.number]
    Ticket.objects.filter(pk=new.pk).update(first_response_due_at=timezone.now())
    Ticket.objects.filter(pk=old.pk).update(first_response_due_at=timezone.now() + dt.timedelta(1))
    assert order("sla") == [new.number, old.number]


def test_keyset_pagination_walks_every_ticket_once(client, agent, support_team):
    tickets = [new_ticket(team=support_team) for _ in range(7)]
    seen = []
    cursor = ""
    for _ in range(10):
        page = ticket_list_for_inbox(
            user=agent, filters=TicketFilters(view="all"), cursor=cursor, limit=3
        )
        seen += [t.number for t in page.tickets]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == sorted((t.number for t in tickets), reverse=True)
    # A forged cursor is ignored, not a server error.
    client.force_login(agent)
    assert client.get("/inbox/?cursor=!!garbage").status_code == 200


def test_next_page_link_in_html(client, agent, support_team):
    for _ in range(51):
        new_ticket(team=support_team)
    client.force_login(agent)
    html = client.get("/inbox/?view=all").content.decode()
    assert len(numbers_on_page(html)) == 50
    link = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', html).group(1)
    second = client.get("/inbox/" + link.replace("&amp;", "&")).content.decode()
    assert len(numbers_on_page(second)) == 1


def test_snoozed_ticket_leaves_working_views_and_comes_back(client, agent, support_team):
    ticket = new_ticket(team=support_team, subject="Call me tomorrow")
    until = timezone.now() + dt.timedelta(hours=3)
    ticket_snooze(ticket=ticket, actor=agent, until=until)
    client.force_login(agent)
    assert ticket.number not in numbers_on_page(client.get("/inbox/?view=team").content.decode())
    assert numbers_on_page(client.get("/inbox/?view=snoozed").content.decode()) == [ticket.number]
    Ticket.objects.filter(pk=ticket.pk).update(snoozed_until=timezone.now() - dt.timedelta(1))
    assert ticket.number in numbers_on_page(client.get("/inbox/?view=team").content.decode())


def test_nav_counts_are_capped_and_shown(client, agent, support_team, monkeypatch):
    for _ in range(4):
        new_ticket(team=support_team)
    counts = nav_counts_for_user(user=agent)
    assert counts["team"] == 4
    assert counts["unassigned"] == 4
    assert counts["mine"] == 0
    monkeypatch.setattr("inbox.selectors.COUNT_CAP", 3)
    monkeypatch.setattr("inbox.templatetags.inbox_tags.COUNT_CAP", 3)
    assert nav_counts_for_user(user=agent)["team"] == 3
    client.force_login(agent)
    html = client.get("/inbox/").content.decode()
    assert re.search(r'data-view="team"[^>]*>\s*<span>My teams</span><span class="count">2\+', html)
    assert COUNT_CAP == 1000


def test_nav_counts_count_a_ticket_seen_through_several_branches_once(
    agent, support_team, monkeypatch
):
    """The count's branches (my teams / assigned to me / shared with me) are made disjoint so
    they can be summed without removing duplicates: each ticket still counts once, a ticket
    with no team stays in "assigned to me", and the cap holds when the first branch fills it."""
    from inbox.services import ticket_grant_access

    elsewhere = TeamFactory(name="Elsewhere", handle="elsewhere")
    in_all_three = new_ticket(team=support_team)
    ticket_assign(ticket=in_all_three, actor=agent, assignee=agent)
    ticket_grant_access(ticket=in_all_three, user=agent, reason="mention", granted_by=None)
    no_team_mine = new_ticket(team=None)
    ticket_assign(ticket=no_team_mine, actor=agent, assignee=agent)
    shared_only = new_ticket(team=elsewhere)
    ticket_grant_access(ticket=shared_only, user=agent, reason="mention", granted_by=None)
    mine_and_shared_elsewhere = new_ticket(team=elsewhere)
    ticket_assign(ticket=mine_and_shared_elsewhere, actor=agent, assignee=agent)
    ticket_grant_access(
        ticket=mine_and_shared_elsewhere, user=agent, reason="handoff", granted_by=None
    )
    new_ticket(team=support_team)  # my team's, nobody's
    new_ticket(team=elsewhere)  # invisible to me
    counts = nav_counts_for_user(user=agent)
    listed = {
        view: len(ticket_list_for_inbox(user=agent, filters=TicketFilters(view=view)).tickets)
        for view in ("mine", "unassigned", "team", "all")
    }
    assert counts["all"] == 5
    assert counts["mine"] == 3
    assert counts["unassigned"] == 2
    assert counts["team"] == 2
    assert {view: counts[view] for view in listed} == listed
    ticket_set_status(ticket=no_team_mine, actor=agent, status="solved")
    ticket_set_status(ticket=in_all_three, actor=agent, status="solved")
    nav_counts_invalidate()
    solved = ticket_list_for_inbox(user=agent, filters=TicketFilters(view="solved")).tickets
    assert nav_counts_for_user(user=agent)["solved"] == len(solved) == 2
    monkeypatch.setattr("inbox.selectors.COUNT_CAP", 2)
    nav_counts_invalidate()
    assert nav_counts_for_user(user=agent)["all"] == 2


def test_saved_views_personal_and_team(client, agent, other_agent, support_team):
    urgent = new_ticket(team=support_team, subject="Urgent one")
    ticket_set_priority(ticket=urgent, actor=agent, priority="urgent")
    new_ticket(team=support_team, subject="Calm one")
    client.force_login(agent)
    response = client.post(
        "/inbox/views/",
        {"name": "Fires", "query": "view=all&priority=urgent", "share_with_team": support_team.pk},
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Fires" in page
    assert numbers_on_page(page) == [urgent.number]
    saved_id = re.search(r"saved=(\d+)", response["Location"]).group(1)
    teammate = MembershipFactory(team=support_team, user__username="tom").user
    client.force_login(teammate)
    assert "Fires" in client.get("/inbox/").content.decode()
    # Another team's saved view is not readable by id.
    client.force_login(other_agent)
    assert client.get(f"/inbox/?saved={saved_id}").status_code == 404


def test_bulk_actions(client, agent, other_agent, support_team):
    a = new_ticket(team=support_team)
    b = new_ticket(team=support_team)
    hidden = new_ticket(team=TeamFactory(name="Elsewhere", handle="elsewhere"))
    client.force_login(agent)
    client.post(
        "/inbox/bulk/",
        {"tickets": [a.number, b.number, hidden.number], "action": "assign", "value": agent.pk},
    )
    client.post(
        "/inbox/bulk/", {"tickets": [a.number, b.number], "action": "add_tag", "value": "vip"}
    )
    response = client.post(
        "/inbox/bulk/", {"tickets": [a.number, b.number], "action": "status", "value": "pending"}
    )
    assert response.status_code == 302
    page = client.get("/inbox/?view=pending").content.decode()
    assert "Updated 2 tickets." in page
    for ticket in (a, b):
        ticket.refresh_from_db()
        assert ticket.assignee == agent
        assert ticket.status == "pending"
        assert [t.name for t in ticket.tags.all()] == ["vip"]
    hidden.refresh_from_db()
    assert hidden.assignee is None  # not visible -> untouched
    bad = client.post("/inbox/bulk/", {"tickets": [a.number], "action": "status", "value": "zzz"})
    assert "Bulk action not applied" in client.get(bad["Location"]).content.decode()


@pytest.mark.parametrize("size", [5, 50])
def test_list_query_count_is_flat(client, agent, support_team, django_assert_num_queries, size):
    for i in range(size):
        ticket = new_ticket(team=support_team)
        ticket_set_tags(ticket=ticket, actor=None, names=[f"t{i % 3}", "x"])
        if i % 2:
            ticket_assign(ticket=ticket, actor=agent, assignee=agent)
    client.force_login(agent)
    client.get("/inbox/?view=team")  # warm the session
    nav_counts_invalidate()
    # user (the session is in the cache), team ids, saved views, tickets, tags,
    # nav counts (one query), filter menus (teams, agents), unread bell
    with django_assert_num_queries(9):
        response = client.get("/inbox/?view=team")
    assert len(numbers_on_page(response.content.decode())) == min(size, 50)
    # Nothing written since: the nav counts come from the cache.
    with django_assert_num_queries(8):
        again = client.get("/inbox/?view=team")
    assert numbers_on_page(again.content.decode()) == numbers_on_page(response.content.decode())


def test_nav_counts_cached_until_a_ticket_changes(agent, other_agent, support_team, make_user):
    """A cached count is never served after a write that changes it (by anyone)."""
    tickets = [new_ticket(team=support_team) for _ in range(3)]
    assert nav_counts_for_user(user=agent)["unassigned"] == 3
    assert nav_counts_for_user(user=agent)["unassigned"] == 3  # cached
    teammate = make_user(username="tess")
    MembershipFactory(team=support_team, user=teammate)
    ticket_assign(ticket=tickets[0], actor=teammate, assignee=teammate)
    assert nav_counts_for_user(user=agent)["unassigned"] == 2
    ticket_set_status(ticket=tickets[1], actor=teammate, status="pending")
    counts = nav_counts_for_user(user=agent)
    assert (counts["pending"], counts["team"]) == (1, 3)
    reply_create(ticket=tickets[2], author=teammate, body_text="Solved it", new_status="solved")
    counts = nav_counts_for_user(user=agent)
    assert (counts["solved"], counts["team"]) == (1, 2)
    new_ticket(team=support_team)
    assert nav_counts_for_user(user=agent)["unassigned"] == 2
    # Membership is part of the key: joining a team counts its tickets at once.
    assert nav_counts_for_user(user=other_agent)["team"] == 0
    MembershipFactory(team=support_team, user=other_agent)
    assert nav_counts_for_user(user=other_agent)["team"] == 3


def test_nav_counts_cache_invalidated_on_commit(transactional_db, agent, support_team):
    """The bump after commit retires a count cached by a reader while the write was open."""
    from django.db import transaction

    from inbox.selectors import nav_counts_version

    new_ticket(team=support_team)
    before = nav_counts_version()
    with transaction.atomic():
        new_ticket(team=support_team)
        during = nav_counts_version()
        assert during > before
    assert nav_counts_version() > during
    assert nav_counts_for_user(user=agent)["unassigned"] == 2


def test_nav_counts_batched_bumps_once_after_the_batch(transactional_db, agent, support_team):
    """A batch of committed writes (fetched mail) retires the counts once, at its end: a
    count cached during the batch is stale for the batch's duration, never after it."""
    from inbox.selectors import nav_counts_version
    from inbox.services import nav_counts_batched

    new_ticket(team=support_team)
    assert nav_counts_for_user(user=agent)["unassigned"] == 1
    before = nav_counts_version()
    with nav_counts_batched():
        new_ticket(team=support_team)
        new_ticket(team=support_team)  # two commits, no bump yet
        assert nav_counts_version() == before
        assert nav_counts_for_user(user=agent)["unassigned"] == 1  # cached, the batch is open
    assert nav_counts_version() > before
    assert nav_counts_for_user(user=agent)["unassigned"] == 3


def test_nav_counts_batched_still_bumps_when_the_batch_fails(transactional_db, support_team):
    from inbox.selectors import nav_counts_version
    from inbox.services import nav_counts_batched

    new_ticket(team=support_team)
    before = nav_counts_version()

    def failing_batch() -> None:
        with nav_counts_batched():
            new_ticket(team=support_team)
            raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        failing_batch()
    assert nav_counts_version() > before


@pytest.mark.parametrize("size", [5, 50])
def test_nav_counts_query_count_is_flat(agent, support_team, django_assert_num_queries, size):
    for _ in range(size):
        new_ticket(team=support_team)
    with django_assert_num_queries(2):  # team ids, one SELECT of capped counts
        counts = nav_counts_for_user(user=agent)
    assert counts["team"] == size


# --- permissions ---------------------------------------------------------------------


def test_agent_sees_team_and_assigned_tickets_only(client, agent, other_agent, support_team):
    team_ticket = new_ticket(team=support_team)
    foreign = new_ticket(team=TeamFactory(name="Elsewhere", handle="elsewhere"))
    assigned_foreign = new_ticket(team=TeamFactory(name="Far", handle="far"))
    ticket_assign(ticket=assigned_foreign, actor=None, assignee=agent)
    client.force_login(agent)
    assert client.get(f"/tickets/{team_ticket.number}/").status_code == 200
    assert client.get(f"/tickets/{assigned_foreign.number}/").status_code == 200
    response = client.get(f"/tickets/{foreign.number}/")
    assert response.status_code == 404
    assert foreign.subject not in response.content.decode()
    assert client.get("/tickets/999999/").status_code == 404  # missing looks the same
    listed = numbers_on_page(client.get("/inbox/?view=all").content.decode())
    assert set(listed) == {team_ticket.number, assigned_foreign.number}
    # Writes are 404 too.
    assert client.post(f"/tickets/{foreign.number}/take/").status_code == 404
    assert (
        client.post(
            f"/tickets/{foreign.number}/compose/", {"mode": "reply", "body": "hi"}
        ).status_code
        == 404
    )


def test_success_manager_sees_managed_accounts_and_grants(
    client, success_manager, account, contact, support_team, make_user
):
    from inbox.services import ticket_grant_access

    managed = new_ticket(team=support_team, email=contact.email)
    stranger = new_ticket(team=support_team, email="x@unmanaged.example")
    granted = new_ticket(team=support_team, email="y@unmanaged.example")
    ticket_grant_access(ticket=granted, user=success_manager, reason="handoff", granted_by=None)
    client.force_login(success_manager)
    assert client.get(f"/tickets/{managed.number}/").status_code == 200
    assert client.get(f"/tickets/{granted.number}/").status_code == 200
    assert client.get(f"/tickets/{stranger.number}/").status_code == 404
    listed = numbers_on_page(client.get("/inbox/?view=all").content.decode())
    assert set(listed) == {managed.number, granted.number}
    other_csm = make_user(Role.SUCCESS, username="sue")
    client.force_login(other_csm)
    assert client.get(f"/tickets/{managed.number}/").status_code == 404


def test_admin_sees_everything(client, admin_user, support_team):
    tickets = [new_ticket(team=support_team), new_ticket(team=None)]
    client.force_login(admin_user)
    for ticket in tickets:
        assert client.get(f"/tickets/{ticket.number}/").status_code == 200
    assert set(numbers_on_page(client.get("/inbox/?view=all").content.decode())) == {
        t.number for t in tickets
    }


def test_anonymous_is_sent_to_login(client, support_team):
    ticket = new_ticket(team=support_team)
    assert client.get("/inbox/").status_code == 302
    assert "/login/" in client.get(f"/tickets/{ticket.number}/")["Location"]


def test_inactive_agent_sees_nothing(agent, support_team):
    new_ticket(team=support_team)
    agent.is_active = False
    agent.save()
    assert ticket_list_for_inbox(user=agent, filters=TicketFilters(view="all")).tickets == []


def test_foreign_tickets_absent_from_counts_and_search(client, other_agent, support_team):
    new_ticket(team=support_team, subject="Confidential merger question")
    counts = nav_counts_for_user(user=other_agent)
    assert set(counts.values()) == {0}
    client.force_login(other_agent)
    html = client.get("/inbox/", {"view": "all", "q": "merger"}).content.decode()
    assert "Confidential" not in html
    assert numbers_on_page(html) == []


def test_search_results_same_whichever_plan(client, agent, support_team, monkeypatch):
    """A common term walks by date, a rare one sorts the matches: same rows either way."""
    hits = [new_ticket(team=support_team, body="the widget froze") for _ in range(3)]
    new_ticket(team=support_team, body="unrelated")
    client.force_login(agent)
    expected = sorted((t.number for t in hits), reverse=True)
    assert numbers_on_page(client.get("/inbox/?view=all&q=widget").content.decode()) == expected
    monkeypatch.setattr("inbox.selectors.SEARCH_COMMON", 2)  # now "common"
    assert numbers_on_page(client.get("/inbox/?view=all&q=widget").content.decode()) == expected


def test_search_with_few_matches_hands_their_ids_to_the_list(
    client, agent, support_team, monkeypatch
):
    """Few matches: their ids go into the list query as literals (PostgreSQL guesses 0.5 %
    of the table for a rare term); the same rows, visibility still applied."""
    hits = [new_ticket(team=support_team, body="the gizmo rattles") for _ in range(3)]
    hidden = new_ticket(team=None, body="the gizmo rattles")  # no team: not the agent's
    client.force_login(agent)
    expected = sorted((t.number for t in hits), reverse=True)
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/inbox/?view=all&q=gizmo").content.decode()
    assert numbers_on_page(html) == expected
    assert hidden.number not in numbers_on_page(html)
    listing = next(q["sql"] for q in queries.captured_queries if '"number"' in q["sql"])
    ids = sorted(t.pk for t in [*hits, hidden])
    assert re.search(r'"inbox_ticket"\."id" IN \(' + r", ".join(map(str, ids)) + r"\)", listing)
    monkeypatch.setattr("inbox.selectors.SEARCH_FEW", 2)  # four matches are no longer few
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/inbox/?view=all&q=gizmo").content.decode()
    assert numbers_on_page(html) == expected
    listing = next(q["sql"] for q in queries.captured_queries if '"number"' in q["sql"])
    assert not re.search(r'"inbox_ticket"\."id" IN \(\d', listing)


def test_nav_counts_compiled_sql_reused_but_clock_moves(agent, support_team):
    """The count SQL is kept per user shape and reads the database's clock, so a snooze
    running out moves the ticket from Snoozed back to the working views on the next recount."""
    from inbox import selectors
    from inbox.services import ticket_snooze

    selectors._NAV_SQL_CACHE.clear()
    ticket = new_ticket(team=support_team)
    new_ticket(team=support_team)
    ticket_snooze(ticket=ticket, actor=agent, until=timezone.now() + dt.timedelta(hours=2))
    counts = nav_counts_for_user(user=agent)
    assert (counts["snoozed"], counts["team"]) == (1, 1)
    compiled = dict(selectors._NAV_SQL_CACHE)
    assert len(compiled) == 1
    # The snooze runs out: no write announces it (the counts' TTL does), hence the retire.
    Ticket.objects.filter(pk=ticket.pk).update(
        snoozed_until=timezone.now() - dt.timedelta(seconds=1)
    )
    nav_counts_invalidate()
    counts = nav_counts_for_user(user=agent)
    assert (counts["snoozed"], counts["team"]) == (0, 2)
    assert compiled == selectors._NAV_SQL_CACHE  # same SQL text, the clock moved


def _prepared_nav_statements() -> list[tuple[int, int]]:
    """(generic plans, custom plans) of this connection's prepared nav-count statements."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE %s",
            ["%LIMIT 1000) AS capped%"],
        )
        return cursor.fetchall()


def test_nav_counts_run_as_a_prepared_statement_planned_once(agent, support_team):
    """Planning the thirty capped counts cost more than running them: each connection
    prepares the text once and runs the same plan on every recount."""
    from django.db import connection

    new_ticket(team=support_team)
    connection.ensure_connection()
    connection.connection.execute("DEALLOCATE ALL")  # psycopg forgets its own with it
    for expected_unassigned in (1, 2, 3):
        nav_counts_invalidate()
        assert nav_counts_for_user(user=agent)["unassigned"] == expected_unassigned
        new_ticket(team=support_team)
    assert _prepared_nav_statements() == [(3, 0)]  # one statement, one plan, three runs


def test_nav_counts_unprepared_when_prepared_statements_are_off(agent, support_team):
    """prepare_threshold None (DB_PREPARED_STATEMENTS=false, for a pooler): same counts,
    nothing left prepared on the connection."""
    from django.db import connection

    new_ticket(team=support_team)
    connection.ensure_connection()
    connection.connection.execute("DEALLOCATE ALL")
    threshold = connection.connection.prepare_threshold
    connection.connection.prepare_threshold = None
    try:
        assert nav_counts_for_user(user=agent)["unassigned"] == 1
    finally:
        connection.connection.prepare_threshold = threshold
    assert _prepared_nav_statements() == []


def test_nav_counts_compiled_sql_follows_saved_view_edits(agent, support_team):
    from inbox import selectors
    from inbox.models import SavedView
    from inbox.selectors import saved_views_for_user

    new_ticket(team=support_team, priority="high")
    new_ticket(team=support_team, priority="low")
    saved = SavedView.objects.create(
        name="Hot", owner=agent, filters={"view": "team", "priority": "high"}
    )
    selectors._NAV_SQL_CACHE.clear()
    counts = nav_counts_for_user(user=agent, saved_views=saved_views_for_user(user=agent))
    assert counts[f"saved-{saved.pk}"] == 1
    saved.filters = {"view": "team", "priority": "low"}
    saved.save()
    new_ticket(team=support_team, priority="low")
    counts = nav_counts_for_user(user=agent, saved_views=saved_views_for_user(user=agent))
    assert counts[f"saved-{saved.pk}"] == 2
    assert len(selectors._NAV_SQL_CACHE) == 2  # the edit is a new shape


@pytest.mark.parametrize(
    ("view", "sort", "index"),
    [
        ("all", "customer", "inbox_ticket_customer_idx"),
        ("solved", "customer", "inbox_ticket_customer_idx"),
        ("solved", "sla", "inbox_ticket_sla_due_done_idx"),
    ],
)
def test_list_sorts_can_walk_their_index(admin_user, support_team, view, sort, index):
    """The list's ORDER BY is exactly an index's key, so PostgreSQL can hand a page over in
    order instead of sorting every visible ticket (1 s for Solved by SLA due at 1 M). With
    sorting priced out, the plan shows whether the index matches the query's expression."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL plans")
    for _ in range(3):
        ticket = new_ticket(team=support_team)
        if view == "solved":
            ticket_set_status(ticket=ticket, actor=admin_user, status="solved")
    filters = TicketFilters(view=view, sort=sort)
    with CaptureQueriesContext(connection) as queries:
        page = ticket_list_for_inbox(user=admin_user, filters=filters)
    assert len(page.tickets) == 3
    listing = next(q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"])
    plan = plan_without_sorting(listing)
    assert index in plan, plan


def test_solved_tag_filter_pages_in_order(agent, support_team, django_assert_num_queries):
    """Solved + tag walks the tag's links for the page's ids, then reads their rows: the
    tagged, visible, solved tickets in date order, page after page."""
    tagged = []
    for n in range(5):
        ticket = new_ticket(team=support_team)
        ticket_set_tags(ticket=ticket, actor=agent, names=["refund"] if n != 2 else ["other"])
        ticket_set_priority(ticket=ticket, actor=agent, priority="high")
        ticket_set_status(ticket=ticket, actor=agent, status="solved")
        if n != 2:
            tagged.append(ticket)
    hidden = new_ticket(team=TeamFactory(name="Elsewhere", handle="elsewhere"))
    ticket_set_tags(ticket=hidden, actor=None, names=["refund"])
    Ticket.objects.filter(pk=hidden.pk).update(status="solved")
    open_one = new_ticket(team=support_team)
    ticket_set_tags(ticket=open_one, actor=agent, names=["refund"])
    expected = [t.number for t in sorted(tagged, key=lambda t: (t.created_at, t.pk), reverse=True)]
    for filters in (
        TicketFilters(view="solved", tag="Refund"),
        TicketFilters(view="solved", tag="refund", priority="high"),
    ):
        seen, cursor = [], ""
        while True:
            with django_assert_num_queries(2):  # the page (link walk in a subquery), its tags
                page = ticket_list_for_inbox(
                    user=agent, filters=filters, cursor=cursor, limit=2, team_ids=[support_team.pk]
                )
            seen += [row.number for row in page.tickets]
            assert all(row.tag_names == ["refund"] for row in page.tickets)
            if not page.next_cursor:
                break
            cursor = page.next_cursor
        assert seen == expected
