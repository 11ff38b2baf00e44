"""The same mail arriving twice at the same moment (two mailboxes, two pollers)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from inbox.email.ingest import email_ingest
from inbox.models import InboundEmail, Message, Ticket


@pytest.mark.django_db(transaction=True)
def test_concurrent_delivery_of_one_mail_stores_it_once(mailbox, make_mail):
    raw = make_mail(message_id="<race@acme.example>", subject="Raced")
    barrier = threading.Barrier(4)
    results, errors = [], []

    def deliver() -> None:
        try:
            barrier.wait()
            results.append(email_ingest(raw=raw, mailbox=mailbox, source="imap"))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(r.is_duplicate for r in results) == [False, True, True, True]
    assert InboundEmail.objects.count() == 1
    assert Message.objects.filter(message_id="<race@acme.example>").count() == 1
    assert Ticket.objects.count() == 1
