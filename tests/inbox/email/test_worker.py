"""The mail queue through a real Celery worker: SMTP delivery and IMAP polling."""

from __future__ import annotations

import time

import pytest

from inbox.models import DeliveryStatus, Message, Ticket
from inbox.services import InboundContent, reply_create, ticket_create
from inbox.tasks import poll_mailboxes_task

from .conftest import build_mail

pytestmark = pytest.mark.celery_worker


@pytest.fixture
def worker_smtp_env(smtp_server, monkeypatch):
    """Point the worker process (started after this fixture) at the loopback SMTP server."""
    monkeypatch.setenv("TEST_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    monkeypatch.setenv("EMAIL_HOST", "127.0.0.1")
    monkeypatch.setenv("EMAIL_PORT", str(smtp_server.port))
    return smtp_server


def _wait(predicate, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the worker"
        time.sleep(0.2)


def test_worker_sends_a_reply_over_smtp(worker_smtp_env, celery_worker, mailbox, contact, agent):
    ticket = ticket_create(
        requester=contact,
        subject="Worker path",
        content=InboundContent(body_text="Hi", message_id="<w1@acme.example>"),
        mailbox=mailbox,
    )
    reply = reply_create(ticket=ticket, author=agent, body_text="Sent by the worker")

    _wait(lambda: len(worker_smtp_env.messages) == 1)
    _wait(lambda: Message.objects.get(pk=reply.pk).delivery_status == DeliveryStatus.SENT)
    [mail] = worker_smtp_env.parsed()
    assert mail["Message-ID"] == Message.objects.get(pk=reply.pk).message_id
    assert mail["In-Reply-To"] == "<w1@acme.example>"


def test_beat_poll_task_runs_on_the_worker_against_dovecot(celery_worker, dovecot, imap_mailbox):
    dovecot.append(build_mail(message_id="<via-worker@acme.example>", subject="Via the worker"))

    assert poll_mailboxes_task.delay().get(timeout=30) == 1

    _wait(lambda: Ticket.objects.filter(subject="Via the worker").exists())
    assert all("\\Seen" in flags for flags in dovecot.flags().values())
