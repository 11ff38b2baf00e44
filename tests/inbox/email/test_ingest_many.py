"""email_ingest_many: a batch of raw mail committed in one INSERT, then processed one by one."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from inbox.email.ingest import email_ingest, email_ingest_many
from inbox.models import InboundEmail, InboundStatus, Message, Ticket

from .conftest import build_mail

pytestmark = pytest.mark.django_db


def _mails(n: int, prefix: str = "batch") -> list[bytes]:
    return [
        build_mail(message_id=f"<{prefix}-{i}@acme.example>", subject=f"Batch {i}")
        for i in range(n)
    ]


def test_batch_makes_one_ticket_per_mail_in_order(mailbox):
    results = email_ingest_many(raws=_mails(3), mailbox=mailbox, source="imap")

    assert [r.status for r in results] == [InboundStatus.PROCESSED] * 3
    assert not any(r.is_duplicate for r in results)
    tickets = Ticket.objects.in_bulk([r.ticket_id for r in results])
    assert [tickets[r.ticket_id].subject for r in results] == ["Batch 0", "Batch 1", "Batch 2"]
    assert InboundEmail.objects.filter(status=InboundStatus.PROCESSED).count() == 3


def test_batch_with_a_stored_mail_and_a_repeat_inside_it(mailbox):
    earlier, fresh = _mails(2)
    first = email_ingest(raw=earlier, mailbox=mailbox)

    results = email_ingest_many(raws=[earlier, fresh, fresh], mailbox=mailbox, source="imap")

    assert [r.is_duplicate for r in results] == [True, False, True]
    assert results[0].ticket_id == first.ticket_id
    assert results[2].ticket_id == results[1].ticket_id
    assert results[2].inbound_id == results[1].inbound_id
    assert InboundEmail.objects.count() == 2
    assert Message.objects.count() == 2


def test_batch_is_stored_in_one_insert(mailbox):
    from inbox.email.ingest import inbound_store_many

    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores mail by get_or_create, one per mail")
    stored_before = email_ingest(raw=_mails(1, prefix="old")[0], mailbox=mailbox)
    raws = [*_mails(5), _mails(1, prefix="old")[0]]
    with CaptureQueriesContext(connection) as queries:
        stored = inbound_store_many(raws=raws, mailbox=mailbox, source="imap")
    statements = [q["sql"].split()[0] for q in queries if "SAVEPOINT" not in q["sql"]]
    # One INSERT for six mails, one SELECT for the one stored before.
    assert statements == ["INSERT", "SELECT"]
    assert [created for _, created in stored] == [True] * 5 + [False]
    assert stored[-1][0].pk == stored_before.inbound_id
    assert len({row.pk for row, _ in stored}) == 6


@pytest.fixture
def ticket_insert_fails_for_batch_1():
    """A real server-side failure (SQLSTATE 08006, connection failure) on one mail's ticket."""
    if connection.vendor != "postgresql":
        pytest.skip("a PL/pgSQL trigger")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION test_fail_batch_1() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.subject = 'Batch 1' THEN
                    RAISE EXCEPTION 'connection lost' USING ERRCODE = '08006';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_fail_batch_1 BEFORE INSERT ON inbox_ticket
                FOR EACH ROW EXECUTE FUNCTION test_fail_batch_1();
            """
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER test_fail_batch_1 ON inbox_ticket; DROP FUNCTION test_fail_batch_1();"
        )


@pytest.mark.django_db(transaction=True)
def test_database_failure_mid_batch_keeps_the_rest_stored_for_the_sweep(
    mailbox, ticket_insert_fails_for_batch_1
):
    """The database fails on mail 2: mails 2 and 3 stay `received`, none is lost."""
    raws = _mails(3)
    with pytest.raises(OperationalError):
        email_ingest_many(raws=raws, mailbox=mailbox, source="imap")
    assert sorted(InboundEmail.objects.values_list("status", flat=True)) == [
        InboundStatus.PROCESSED,
        InboundStatus.RECEIVED,
        InboundStatus.RECEIVED,
    ]
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE inbox_ticket DISABLE TRIGGER test_fail_batch_1")
    again = email_ingest_many(raws=raws, mailbox=mailbox, source="imap")  # the next poll
    assert [r.is_duplicate for r in again] == [True, False, False]
    assert Ticket.objects.count() == 3
    assert not InboundEmail.objects.exclude(status=InboundStatus.PROCESSED).exists()


# --- lanes: a batch processed by two threads, each on its own connection -----------------


@pytest.fixture
def ticket_insert_pids():
    """The server pid of every connection that INSERTs a ticket (a real trigger)."""
    if connection.vendor != "postgresql":
        pytest.skip("a PL/pgSQL trigger")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TABLE test_ticket_pids (pid int NOT NULL);
            CREATE FUNCTION test_ticket_pid() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO test_ticket_pids VALUES (pg_backend_pid());
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_ticket_pid AFTER INSERT ON inbox_ticket
                FOR EACH ROW EXECUTE FUNCTION test_ticket_pid();
            """
        )

    def distinct_pids() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(DISTINCT pid) FROM test_ticket_pids")
            return cursor.fetchone()[0]

    yield distinct_pids
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER test_ticket_pid ON inbox_ticket; DROP FUNCTION test_ticket_pid();"
            " DROP TABLE test_ticket_pids;"
        )


def _conversations() -> list[bytes]:
    """Three customers' first mails, then a colleague's reply to each (another sender)."""
    firsts = [
        build_mail(
            sender=f"customer{i} <c{i}@acme{i}.example>",
            message_id=f"<first-{i}@acme.example>",
            subject=f"Question {i}",
        )
        for i in range(3)
    ]
    replies = [
        build_mail(
            sender=f"colleague{i} <k{i}@acme{i}.example>",
            message_id=f"<reply-{i}@acme.example>",
            subject=f"Re: Question {i}",
            In_Reply_To=f"<first-{i}@acme.example>",
        )
        for i in range(3)
    ]
    return firsts + replies


@pytest.mark.django_db(transaction=True)
def test_two_lanes_process_a_batch_on_two_connections_and_keep_threads(mailbox, ticket_insert_pids):
    results = email_ingest_many(raws=_conversations(), mailbox=mailbox, workers=2)

    assert [r.status for r in results] == [InboundStatus.PROCESSED] * 6
    assert [r.created_ticket for r in results] == [True] * 3 + [False] * 3
    # Each reply joined its original's ticket though it came from another sender.
    assert [r.ticket_id for r in results[3:]] == [r.ticket_id for r in results[:3]]
    subjects = Ticket.objects.in_bulk([r.ticket_id for r in results])
    assert [subjects[r.ticket_id].subject for r in results[:3]] == [
        "Question 0",
        "Question 1",
        "Question 2",
    ]
    assert ticket_insert_pids() == 2  # both lanes wrote
    assert not InboundEmail.objects.exclude(status=InboundStatus.PROCESSED).exists()


def test_inside_a_transaction_the_batch_runs_in_order_on_this_connection(
    mailbox, ticket_insert_pids
):
    """Other connections could not see the rows stored in an open transaction."""
    results = email_ingest_many(raws=_conversations(), mailbox=mailbox, workers=2)

    assert [r.ticket_id for r in results[3:]] == [r.ticket_id for r in results[:3]]
    assert ticket_insert_pids() == 1


def test_lanes_keep_tied_mails_together_in_order():
    from inbox.email.ingest import _lanes

    raws = [
        *_conversations(),  # 0-2 firsts, 3-5 replies to them
        build_mail(sender="customer0 <c0@acme0.example>", message_id="<again-0@acme.example>"),
    ]
    stored = [(InboundEmail(pk=index + 1, raw=raw), True) for index, raw in enumerate(raws)]

    lanes = _lanes(stored, 2)

    assert sorted(index for lane in lanes for index in lane) == list(range(7))
    assert len(lanes) == 2
    lane_of = {index: number for number, lane in enumerate(lanes) for index in lane}
    assert lane_of[0] == lane_of[3] == lane_of[6]  # reply by Message-ID, same sender
    assert lane_of[1] == lane_of[4]
    assert lane_of[2] == lane_of[5]
    assert all(lane == sorted(lane) for lane in lanes)  # arrival order within a lane


@pytest.mark.django_db(transaction=True)
def test_a_database_failure_in_one_lane_leaves_the_other_lane_done(
    mailbox, ticket_insert_fails_for_batch_1
):
    raws = [
        build_mail(
            sender=f"s{i} <s{i}@acme.example>", message_id=f"<lane-{i}@x>", subject=f"Batch {i}"
        )
        for i in range(4)
    ]
    with pytest.raises(OperationalError):
        email_ingest_many(raws=raws, mailbox=mailbox, workers=2)
    statuses = dict(InboundEmail.objects.values_list("message_key", "status"))
    assert statuses["<lane-1@x>"] == InboundStatus.RECEIVED  # kept for the sweep
    assert statuses["<lane-0@x>"] == InboundStatus.PROCESSED  # the first mail, in either lane
    processed = [key for key, status in statuses.items() if status == InboundStatus.PROCESSED]
    assert len(processed) >= 2  # the lane without the failure finished its mails
