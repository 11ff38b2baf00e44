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
