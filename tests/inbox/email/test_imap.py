"""Inbound IMAP polling against a real Dovecot on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from helpdesk.models import Mailbox
from inbox.email.imap import mailbox_poll
from inbox.models import InboundEmail, Message, Ticket

from .conftest import CORPUS, build_mail

ROOT = Path(__file__).resolve().parents[3]


def _mails(n: int, prefix: str = "imap") -> list[bytes]:
    return [
        build_mail(message_id=f"<{prefix}-{i}@acme.example>", subject=f"Mail {i}") for i in range(n)
    ]


@pytest.mark.django_db
def test_poll_stores_new_mail_once_and_marks_it_seen_after_storing(dovecot, imap_mailbox):
    dovecot.append(*_mails(3))

    result = mailbox_poll(mailbox_id=imap_mailbox.pk)

    assert (result.fetched, result.stored, result.error) == (3, 3, "")
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == [
        "Mail 0",
        "Mail 1",
        "Mail 2",
    ]
    assert set(InboundEmail.objects.values_list("source", flat=True)) == {"imap"}
    assert all("\\Seen" in flags for flags in dovecot.flags().values())
    imap_mailbox.refresh_from_db()
    assert imap_mailbox.imap_last_uid == 3
    assert imap_mailbox.imap_uidvalidity is not None
    assert imap_mailbox.last_polled_at is not None

    assert mailbox_poll(mailbox_id=imap_mailbox.pk).fetched == 0
    dovecot.append(build_mail(message_id="<imap-late@acme.example>", subject="Late"))
    assert mailbox_poll(mailbox_id=imap_mailbox.pk).stored == 1
    assert Ticket.objects.count() == 4


@pytest.mark.django_db
def test_mail_is_stored_in_batches_all_marked_and_counted(dovecot, imap_mailbox, monkeypatch):
    from inbox.email import imap

    monkeypatch.setattr(imap, "STORE_BATCH", 2)  # five mails: batches of 2, 2 and 1
    dovecot.append(*_mails(5, prefix="batched"))

    result = mailbox_poll(mailbox_id=imap_mailbox.pk)

    assert (result.fetched, result.stored, result.duplicates, result.error) == (5, 5, 0, "")
    assert Ticket.objects.count() == 5
    assert all("\\Seen" in flags for flags in dovecot.flags().values())
    imap_mailbox.refresh_from_db()
    assert imap_mailbox.imap_last_uid == 5


@pytest.mark.django_db
def test_refetch_after_a_crash_past_the_commit_creates_no_duplicate(dovecot, imap_mailbox):
    dovecot.append(*_mails(3))
    mailbox_poll(mailbox_id=imap_mailbox.pk)
    # As if the poller died after the commit but before flagging and moving the mark.
    dovecot.unflag_all()
    Mailbox.objects.filter(pk=imap_mailbox.pk).update(imap_last_uid=0)

    result = mailbox_poll(mailbox_id=imap_mailbox.pk)

    assert (result.fetched, result.stored, result.duplicates) == (3, 0, 3)
    assert Message.objects.count() == 3
    assert all("\\Seen" in flags for flags in dovecot.flags().values())


@pytest.mark.django_db
def test_uidvalidity_change_does_not_reimport(dovecot, imap_mailbox):
    dovecot.append(*_mails(2))
    mailbox_poll(mailbox_id=imap_mailbox.pk)
    Mailbox.objects.filter(pk=imap_mailbox.pk).update(imap_uidvalidity=12345)

    result = mailbox_poll(mailbox_id=imap_mailbox.pk)

    assert result.stored == 0
    assert Ticket.objects.count() == 2
    imap_mailbox.refresh_from_db()
    assert imap_mailbox.imap_uidvalidity != 12345
    assert imap_mailbox.imap_last_uid == 2


@pytest.mark.django_db
def test_poison_mail_in_the_folder_is_flagged_and_the_rest_stored(dovecot, imap_mailbox):
    dovecot.append(
        (CORPUS / "no_from.eml").read_bytes(),
        b"\x00\xff garbage that is not mail \xfe",
        *_mails(2),
    )
    result = mailbox_poll(mailbox_id=imap_mailbox.pk)
    assert (result.fetched, result.stored, result.error) == (4, 4, "")
    assert Ticket.objects.filter(is_unparsed=True).count() == 2
    assert Ticket.objects.filter(is_unparsed=False).count() == 2


@pytest.mark.django_db
def test_server_errors_are_recorded_without_credentials_and_never_raise(dovecot, imap_mailbox):
    Mailbox.objects.filter(pk=imap_mailbox.pk).update(imap_password="wrong-password-42")
    result = mailbox_poll(mailbox_id=imap_mailbox.pk)
    imap_mailbox.refresh_from_db()
    assert result.error
    assert "AUTHENTICATIONFAILED" in imap_mailbox.last_poll_error or "failed" in result.error
    assert "wrong-password-42" not in imap_mailbox.last_poll_error

    Mailbox.objects.filter(pk=imap_mailbox.pk).update(imap_port=1)  # nothing listens
    assert mailbox_poll(mailbox_id=imap_mailbox.pk).error


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def _conninfo() -> str:
    s = connection.settings_dict
    return f"host={s['HOST']} port={s['PORT']} user={s['USER']} dbname={s['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_poller_killed_between_fetch_and_store_refetches_and_stores_once(dovecot, imap_mailbox):
    dovecot.append(build_mail(message_id="<killed@acme.example>", subject="Survives a kill"))
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "CONN_MAX_AGE": "0",
    }
    with psycopg.connect(_conninfo(), autocommit=False) as blocker:
        # Hold the raw-mail table so the poller blocks on its INSERT: it has fetched the
        # mail from Dovecot but not stored it. Reads still pass (EXCLUSIVE allows SELECT).
        blocker.execute("LOCK TABLE inbox_inboundemail IN EXCLUSIVE MODE")
        poller = subprocess.Popen(
            [sys.executable, "manage.py", "poll_mailboxes", f"--mailbox={imap_mailbox.pk}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with psycopg.connect(_conninfo(), autocommit=True) as watcher:
            deadline = time.monotonic() + 30
            backend_pid = None
            while backend_pid is None:
                row = watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query ILIKE '%%inbox_inboundemail%%'"
                ).fetchone()
                backend_pid = row[0] if row else None
                assert poller.poll() is None, "the poller ended before reaching the store"
                assert time.monotonic() < deadline, "the poller never reached the store"
                time.sleep(0.05)
            os.kill(poller.pid, signal.SIGKILL)
            poller.wait(timeout=10)
            blocker.rollback()  # release the table; the dead poller's INSERT is rolled back
            deadline = time.monotonic() + 30
            while watcher.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend_pid]
            ).fetchone():
                assert time.monotonic() < deadline
                time.sleep(0.05)

    assert InboundEmail.objects.count() == 0
    assert all("\\Seen" not in flags for flags in dovecot.flags().values())
    imap_mailbox.refresh_from_db()
    assert imap_mailbox.imap_last_uid == 0

    result = mailbox_poll(mailbox_id=imap_mailbox.pk)
    again = mailbox_poll(mailbox_id=imap_mailbox.pk)

    assert (result.fetched, result.stored) == (1, 1)
    assert again.fetched == 0
    assert InboundEmail.objects.count() == 1
    assert list(Ticket.objects.values_list("subject", flat=True)) == ["Survives a kill"]
    assert all("\\Seen" in flags for flags in dovecot.flags().values())


@pytest.mark.django_db(transaction=True)
def test_a_second_poller_of_the_same_mailbox_steps_aside(dovecot, imap_mailbox):
    dovecot.append(*_mails(1, prefix="lock"))
    with psycopg.connect(_conninfo(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [7_201_001, imap_mailbox.pk])
        assert mailbox_poll(mailbox_id=imap_mailbox.pk).skipped
        assert InboundEmail.objects.count() == 0
        other.execute("SELECT pg_advisory_unlock(%s, %s)", [7_201_001, imap_mailbox.pk])
    assert mailbox_poll(mailbox_id=imap_mailbox.pk).stored == 1
