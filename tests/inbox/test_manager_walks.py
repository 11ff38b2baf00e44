"""A success manager's lists walk their own tickets: each ticket's copy of its account's
success manager (kept by database triggers) and one walk per visibility branch, merged.

The copy must follow every write that could change it, on PostgreSQL (with two
transactions racing) and on SQLite (the demo); the merged walks must list exactly what
the plain filter lists, page after page."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from helpdesk.models import Role
from inbox.models import Ticket, TicketAccess
from inbox.selectors import TicketFilters, ticket_list_for_inbox, user_team_ids
from inbox.services import ticket_assign, ticket_set_status, ticket_set_tags
from tests.accounts.factories import AccountFactory, ContactFactory
from tests.inbox.inbox_helpers import (
    database_dsn,
    new_ticket,
    plan_without_sorting,
    reference_numbers,
    walked_numbers,
)

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def manager_copy(ticket: Ticket) -> int | None:
    return Ticket.objects.values_list("success_manager_id", flat=True).get(pk=ticket.pk)


def test_ticket_copies_its_accounts_manager_through_every_write(
    success_manager, account, make_user
):
    successor = make_user(Role.SUCCESS, username="sue")
    other = AccountFactory(name="Globex", success_manager=successor)
    ContactFactory(email="c@acme.example", account=account)
    ticket = new_ticket(email="c@acme.example")
    assert manager_copy(ticket) == success_manager.pk  # on insert

    account.success_manager = successor  # a model save of the account
    account.save()
    assert manager_copy(ticket) == successor.pk
    Account.objects.filter(pk=account.pk).update(success_manager=None)  # a bulk update
    assert manager_copy(ticket) is None
    Account.objects.filter(pk=account.pk).update(success_manager=success_manager)
    assert manager_copy(ticket) == success_manager.pk

    Ticket.objects.filter(pk=ticket.pk).update(account=other)  # the ticket moves
    assert manager_copy(ticket) == successor.pk
    Ticket.objects.filter(pk=ticket.pk).update(account=None)
    assert manager_copy(ticket) is None
    Ticket.objects.filter(pk=ticket.pk).update(account=account)
    assert manager_copy(ticket) == success_manager.pk

    # A save that sends a stale copy (loaded before the manager changed) cannot undo it.
    loaded = Ticket.objects.get(pk=ticket.pk)
    Account.objects.filter(pk=account.pk).update(success_manager=successor)
    loaded.subject = "Edited"
    loaded.save()
    assert manager_copy(ticket) == successor.pk
    # Nor can a direct write of the copy.
    Ticket.objects.filter(pk=ticket.pk).update(success_manager=success_manager)
    assert manager_copy(ticket) == successor.pk

    successor.delete()  # the account's manager goes (SET NULL), and the copy with it
    assert manager_copy(ticket) is None


def _row_version(ticket: Ticket) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT ctid::text FROM inbox_ticket WHERE id = %s", [ticket.pk])
        return cursor.fetchone()[0]


def test_account_writes_that_keep_the_manager_leave_tickets_alone(success_manager, account):
    """An account save rewrites the manager column with its old value (a metrics run saves
    accounts often): the WHEN clause skips the trigger, so no ticket row is rewritten."""
    ContactFactory(email="c@acme.example", account=account)
    ticket = new_ticket(email="c@acme.example")
    version = _row_version(ticket)
    account.name = "Acme Renamed"
    account.save()
    assert _row_version(ticket) == version
    Account.objects.filter(pk=account.pk).update(success_manager=None)
    assert _row_version(ticket) != version


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["ticket move", "manager change"])
def test_concurrent_ticket_move_and_manager_change_leave_the_copy_current(
    success_manager, make_user, first
):
    """One transaction moves a ticket to an account, another changes that account's
    manager. Whichever commits first, the ticket ends up with the new manager: both take
    the account's advisory lock (shared and exclusive) before reading or writing."""
    successor = make_user(Role.SUCCESS, username="sue")
    target = AccountFactory(name="Initech", success_manager=success_manager)
    ticket = new_ticket()
    mover = psycopg.connect(database_dsn())
    changer = psycopg.connect(database_dsn())
    try:
        errors: list[BaseException] = []

        def run(conn: psycopg.Connection, sql: str, params: list) -> None:
            try:
                conn.execute(sql, params)
                conn.commit()
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        move = ("UPDATE inbox_ticket SET account_id = %s WHERE id = %s", [target.pk, ticket.pk])
        change = (
            "UPDATE accounts_account SET success_manager_id = %s WHERE id = %s",
            [successor.pk, target.pk],
        )
        holder, waiter = (mover, changer) if first == "ticket move" else (changer, mover)
        held, waiting = (move, change) if first == "ticket move" else (change, move)
        holder.execute(*held)  # not committed: holds the account's lock
        thread = threading.Thread(target=run, args=(waiter, *waiting))
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive(), "the second transaction should wait for the first"
        holder.commit()
        thread.join(timeout=10)
        assert not errors, errors
    finally:
        mover.close()
        changer.close()
    assert manager_copy(ticket) == successor.pk


@pytest.fixture
def manager_scene(scene, success_manager, support_team):
    """The shared scene plus a ticket assigned to the success manager and one shared with
    them, both on an account they do not manage: every branch of what they see has some."""
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
def test_merged_walks_list_what_the_plain_filter_lists(success_manager, manager_scene, params):
    filters = TicketFilters(**params)
    expected = reference_numbers(success_manager, filters)
    for page_size in (1, 2, 50):
        assert walked_numbers(success_manager, filters, page_size) == expected, page_size


def test_merged_walks_find_every_branch(success_manager, manager_scene):
    numbers = set(walked_numbers(success_manager, TicketFilters(view="all"), 2))
    assigned, _shared, both = manager_scene[-3:]
    assert {assigned.number, both.number} <= numbers
    solved = walked_numbers(success_manager, TicketFilters(view="solved"), 2)
    assert manager_scene[-2].number in solved  # shared with them
    assert len(solved) == len(set(solved))


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({"view": "all", "priority": "urgent"}, "inbox_ticket_sm_open_walk_idx"),
        ({"view": "solved", "channel": "api"}, "inbox_ticket_sm_done_walk_idx"),
    ],
)
def test_manager_walk_reads_their_own_index(success_manager, manager_scene, params, index):
    """Their accounts' branch walks the index that leads with their copy, index only, in
    page order: it reads their tickets, not everyone's (a thirtieth of them at scale)."""
    with CaptureQueriesContext(connection) as queries:
        ticket_list_for_inbox(user=success_manager, filters=TicketFilters(**params))
    listing = next(q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"])
    assert "UNION ALL" in listing
    plan = plan_without_sorting(listing)
    walks = [line for line in plan.splitlines() if f"using {index}" in line]
    assert walks, plan
    assert all("Index Only Scan" in line for line in walks), plan


def test_assigned_and_shared_branches_are_not_walked_by_date(success_manager, manager_scene):
    """Their few tickets are found through the assignee (or access) index and sorted: a
    walk of every done ticket by date looking for them read 900,000 index entries for a
    manager with none (0.2 s at 1 M). With sorting priced out, a branch ordered by the
    bare date would take that walk."""
    with CaptureQueriesContext(connection) as queries:
        ticket_list_for_inbox(user=success_manager, filters=TicketFilters(view="solved"))
    listing = next(q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"])
    plan = plan_without_sorting(listing)
    assert "inbox_ticket_sm_done_walk_idx" in plan, plan
    assert "inbox_ticket_done_walk_idx" not in plan, plan


def test_manager_page_query_count(success_manager, manager_scene, django_assert_num_queries):
    team_ids = user_team_ids(user=success_manager)
    with django_assert_num_queries(2):  # the page (merged walks in a subquery), its tags
        page = ticket_list_for_inbox(
            user=success_manager,
            filters=TicketFilters(view="all", priority="normal"),
            team_ids=team_ids,
        )
    assert page.tickets


def test_other_roles_do_not_merge_walks(agent, admin_user, manager_scene):
    for user in (agent, admin_user):
        with CaptureQueriesContext(connection) as queries:
            ticket_list_for_inbox(user=user, filters=TicketFilters(view="all", priority="high"))
        assert "UNION" not in queries.captured_queries[0]["sql"]


def test_rare_channel_filter_reads_the_channel_index(admin_user, manager_scene):
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


SQLITE_MANAGER_COPY = """
from accounts.models import Account
from accounts.services import contact_get_or_create
from helpdesk.models import Role, User
from inbox.models import Ticket
from inbox.services import InboundContent, ticket_create

ann = User.objects.create(username="ann", role=Role.SUCCESS)
bob = User.objects.create(username="bob", role=Role.SUCCESS)
acme = Account.objects.create(name="Acme", success_manager=ann)
globex = Account.objects.create(name="Globex", success_manager=bob)
contact = contact_get_or_create(email="c@acme.example", name="C")
contact.account = acme
contact.save()
ticket = ticket_create(requester=contact, subject="Hi", content=InboundContent(body_text="x"))
def copy():
    return Ticket.objects.values_list("success_manager_id", flat=True).get(pk=ticket.pk)
assert ticket.account_id == acme.pk, ticket.account_id
assert copy() == ann.pk, copy()
Account.objects.filter(pk=acme.pk).update(success_manager=bob)
assert copy() == bob.pk, copy()
Ticket.objects.filter(pk=ticket.pk).update(account=globex, success_manager=ann)
assert copy() == bob.pk, copy()
Account.objects.filter(pk=globex.pk).update(success_manager=None)
assert copy() is None, copy()
print("sqlite-manager-copy-ok")
"""


def test_manager_copy_triggers_on_sqlite(tmp_path):
    """The demo's database keeps the copy too (and keeps its triggers through migrate)."""
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'copy.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    result = subprocess.run(
        [*manage, "shell", "-v0", "-c", SQLITE_MANAGER_COPY],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "sqlite-manager-copy-ok" in result.stdout, result.stdout + result.stderr
