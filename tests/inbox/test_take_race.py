"""Two agents take one ticket at once on PostgreSQL: exactly one wins, the other is told."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client

from inbox.models import EventKind, Ticket, TicketEvent
from inbox.services import TicketTaken, ticket_take
from tests.helpdesk.factories import MembershipFactory
from tests.inbox.inbox_helpers import new_ticket

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_thread(target, results, key):
    def wrapper():
        try:
            results[key] = target()
        except Exception as exc:  # collected and asserted by the test
            results[key] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=wrapper)
    thread.start()
    return thread


def test_second_taker_waits_on_the_row_lock_and_loses(agent, support_team, make_user):
    assert connection.vendor == "postgresql"
    bob = make_user(username="bob")
    MembershipFactory(team=support_team, user=bob)
    ticket = new_ticket(team=support_team)
    first_holds_lock = threading.Event()
    results: dict[str, object] = {}

    def first():
        with transaction.atomic():
            taken = ticket_take(ticket=ticket, user=agent)
            first_holds_lock.set()
            time.sleep(0.5)  # keep the row locked while the second taker arrives
            return taken

    def second():
        first_holds_lock.wait(5)
        return ticket_take(ticket=ticket, user=bob)

    threads = [run_in_thread(first, results, "first"), run_in_thread(second, results, "second")]
    for thread in threads:
        thread.join(15)
    assert isinstance(results["first"], Ticket)
    assert isinstance(results["second"], TicketTaken)
    assert results["second"].assignee == agent  # told who has it
    ticket.refresh_from_db()
    assert ticket.assignee == agent
    assert TicketEvent.objects.filter(ticket=ticket, kind=EventKind.ASSIGNED).count() == 1


def test_two_http_takes_at_once_one_302_one_409(agent, support_team, make_user):
    bob = make_user(username="bob", first_name="Bob", last_name="Builder")
    MembershipFactory(team=support_team, user=bob)
    ticket = new_ticket(team=support_team)
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def take_as(user):
        def go():
            client = Client()
            client.force_login(user)
            barrier.wait(5)
            response = client.post(f"/tickets/{ticket.number}/take/")
            return response.status_code, response.content.decode()

        return go

    threads = [
        run_in_thread(take_as(agent), results, "alice"),
        run_in_thread(take_as(bob), results, "bob"),
    ]
    for thread in threads:
        thread.join(15)
    statuses = sorted(status for status, _ in results.values())
    assert statuses == [302, 409]
    ticket.refresh_from_db()
    winner = ticket.assignee
    loser_key = "bob" if winner == agent else "alice"
    assert f"{winner.get_full_name()} already has this ticket." in results[loser_key][1]
    assert TicketEvent.objects.filter(ticket=ticket, kind=EventKind.ASSIGNED).count() == 1
