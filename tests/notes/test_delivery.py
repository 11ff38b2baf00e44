"""Notification e-mail: digests, immediate mails, preferences, through a real SMTP server.

The SMTP sink is aiosmtpd on loopback; Django's SMTP backend talks to it for real.
"""

from __future__ import annotations

import datetime as dt
import email
import socket
from email import policy

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.utils import timezone

from helpdesk.models import Role
from inbox.models import OutboundEmail, OutboundKind
from inbox.services import reply_create
from notes.models import Notification
from notes.services import handoff_create, note_create, notification_preference_set
from notes.tasks import deliver_notifications_task
from tests.helpdesk.factories import MembershipFactory

pytestmark = pytest.mark.django_db


class Recorder:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.recipients.append(list(envelope.rcpt_tos))
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_sink(settings):
    recorder = Recorder()
    port = _free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.NOTIFICATION_DIGEST_MINUTES = 5
    settings.SITE_URL = "https://tandem.example"
    try:
        yield recorder
    finally:
        controller.stop()


def sweep_at(when, capture) -> None:
    """Run the beat sweep at `when`, with its after-commit sends (the SMTP part) executed."""
    with time_machine.travel(when, tick=False), capture(execute=True):
        deliver_notifications_task.delay()


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def bob(make_user, support_team):
    user = make_user(Role.AGENT, username="bob", email="bob@staff.tandem.example")
    MembershipFactory(team=support_team, user=user)
    return user


def test_ten_events_in_the_window_make_one_digest_mail(
    smtp_sink, ticket, agent, bob, django_capture_on_commit_callbacks
):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for i in range(10):
            with django_capture_on_commit_callbacks(execute=True):
                note_create(ticket=ticket, author=agent, body_markdown=f"@bob point {i}")
        assert Notification.objects.filter(recipient=bob, email_state="pending").count() == 10
    # inside the window the sweep sends nothing
    sweep_at(start + dt.timedelta(minutes=3), django_capture_on_commit_callbacks)
    assert smtp_sink.messages == []
    # past the window: one digest with all ten
    sweep_at(start + dt.timedelta(minutes=6), django_capture_on_commit_callbacks)
    assert len(smtp_sink.messages) == 1
    mail = smtp_sink.messages[0]
    assert smtp_sink.recipients == [["bob@staff.tandem.example"]]
    assert mail["Subject"] == "Tandem: 10 new notifications"
    body = text_of(mail)
    note_ids = Notification.objects.filter(recipient=bob).values_list("note_id", flat=True)
    for note_id in note_ids:
        assert f"https://tandem.example/tickets/{ticket.number}/#note-{note_id}" in body
    assert body.count("@alice mentioned you") == 10
    assert set(
        Notification.objects.filter(recipient=bob).values_list("email_state", flat=True)
    ) == {"sent"}
    outbox = OutboundEmail.objects.get()
    assert (outbox.kind, outbox.status) == (OutboundKind.DIGEST, "sent")
    # the next sweep finds nothing left: no second mail
    sweep_at(start + dt.timedelta(minutes=9), django_capture_on_commit_callbacks)
    assert len(smtp_sink.messages) == 1


def test_digests_are_per_user(
    smtp_sink, ticket, agent, bob, success_manager, django_capture_on_commit_callbacks
):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(3):
            note_create(ticket=ticket, author=agent, body_markdown="@bob and @sam")
    sweep_at(start + dt.timedelta(minutes=6), django_capture_on_commit_callbacks)
    assert sorted(r[0] for r in smtp_sink.recipients) == [
        "bob@staff.tandem.example",
        success_manager.email,
    ]
    assert all(m["Subject"] == "Tandem: 3 new notifications" for m in smtp_sink.messages)


def test_immediate_preference_mails_at_once(
    smtp_sink, ticket, agent, bob, django_capture_on_commit_callbacks
):
    notification_preference_set(user=bob, kind="mentioned", email="immediate")
    with django_capture_on_commit_callbacks(execute=True):
        note_create(ticket=ticket, author=agent, body_markdown="@bob urgent: the CFO called")
    assert len(smtp_sink.messages) == 1
    mail = smtp_sink.messages[0]
    assert "@alice mentioned you on #" in mail["Subject"]
    assert mail["From"] == "Tandem <no-reply@tandem.example>"  # never the support mailbox
    assert mail["Auto-Submitted"] == "auto-generated"
    assert OutboundEmail.objects.get().kind == OutboundKind.NOTIFICATION
    assert Notification.objects.get(recipient=bob).email_state == "sent"


def test_off_preference_is_never_mailed(
    smtp_sink, ticket, agent, bob, django_capture_on_commit_callbacks
):
    notification_preference_set(user=bob, kind="mentioned", email="off")
    with django_capture_on_commit_callbacks(execute=True):
        note_create(ticket=ticket, author=agent, body_markdown="@bob fyi")
    sweep_at(timezone.now() + dt.timedelta(minutes=10), django_capture_on_commit_callbacks)
    assert smtp_sink.messages == []
    notification = Notification.objects.get(recipient=bob)
    assert notification.email_state == "skipped"
    assert notification.read_at is None  # still shown in the app


def test_preferences_are_per_kind(
    smtp_sink, ticket, agent, success_manager, django_capture_on_commit_callbacks
):
    notification_preference_set(user=success_manager, kind="handoff_requested", email="immediate")
    with django_capture_on_commit_callbacks(execute=True):
        handoff_create(
            ticket=ticket, from_user=agent, reason="churn_risk", note_markdown="@sam pls"
        )
    # the handoff goes at once, the mention in the context note waits for the digest
    assert len(smtp_sink.messages) == 1
    assert "handed #" in smtp_sink.messages[0]["Subject"]
    states = dict(
        Notification.objects.filter(recipient=success_manager).values_list("kind", "email_state")
    )
    # A pending churn-risk escalation turns the account red (escalations component 0), and
    # that notification waits for the digest like the mention.
    assert states == {"handoff_requested": "sent", "mentioned": "pending", "account_red": "pending"}


def test_customer_text_in_subject_cannot_inject_headers(
    smtp_sink, make_ticket, agent, bob, django_capture_on_commit_callbacks
):
    ticket = make_ticket(subject="Hi\r\nBcc: evil@attacker.example")
    notification_preference_set(user=bob, kind="mentioned", email="immediate")
    with django_capture_on_commit_callbacks(execute=True):
        note_create(ticket=ticket, author=agent, body_markdown="@bob")
    assert smtp_sink.recipients == [["bob@staff.tandem.example"]]
    assert smtp_sink.messages[0]["Bcc"] is None


def test_notes_never_reach_the_customer(
    smtp_sink, ticket, agent, success_manager, contact, django_capture_on_commit_callbacks
):
    secret = "INTERNAL-ONLY discount of 40 percent"
    for preference in ("mentioned", "handoff_requested"):
        notification_preference_set(user=success_manager, kind=preference, email="immediate")
    with django_capture_on_commit_callbacks(execute=True):
        note_create(ticket=ticket, author=agent, body_markdown=f"@sam {secret}")
    with django_capture_on_commit_callbacks(execute=True):
        handoff_create(ticket=ticket, from_user=agent, reason="churn_risk", note_markdown=secret)
    with django_capture_on_commit_callbacks(execute=True):
        reply_create(ticket=ticket, author=agent, body_text="We are looking into it.")
    reply = OutboundEmail.objects.get(kind=OutboundKind.REPLY)
    assert reply.to == [contact.email]
    assert secret not in reply.body_text
    assert secret not in reply.body_html
    customer_mails = [
        m
        for m, rcpt in zip(smtp_sink.messages, smtp_sink.recipients, strict=True)
        if contact.email in rcpt
    ]
    assert len(customer_mails) == 1
    assert secret not in customer_mails[0].as_string()
    # every staff notification mail went to staff only
    staff_rcpts = {r for rcpt in smtp_sink.recipients for r in rcpt} - {contact.email}
    assert staff_rcpts == {success_manager.email}


@pytest.fixture
def worker_smtp_sink(monkeypatch):
    """An SMTP sink the real Celery worker process mails to (set up before the worker)."""
    recorder = Recorder()
    port = _free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("TEST_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    monkeypatch.setenv("EMAIL_HOST", "127.0.0.1")
    monkeypatch.setenv("EMAIL_PORT", str(port))
    monkeypatch.setenv("NOTIFICATION_DIGEST_MINUTES", "0")
    try:
        yield recorder
    finally:
        controller.stop()


def wait_for(condition, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the worker")
        time.sleep(0.2)


@pytest.mark.celery_worker
def test_real_worker_mails_immediately_and_the_sweep_sends_one_digest(
    worker_smtp_sink, celery_worker, make_ticket, agent, make_user, support_team
):
    bob = make_user(Role.AGENT, username="bob", email="bob@staff.tandem.example")
    MembershipFactory(team=support_team, user=bob)
    cat = make_user(Role.AGENT, username="cat", email="cat@staff.tandem.example")
    MembershipFactory(team=support_team, user=cat)
    notification_preference_set(user=cat, kind="mentioned", email="immediate")
    ticket = make_ticket()
    # committed for real (transactional test): each note enqueues delivery after commit
    for i in range(10):
        note_create(ticket=ticket, author=agent, body_markdown=f"@bob @cat point {i}")
    wait_for(lambda: len(worker_smtp_sink.messages) == 10)  # cat: ten immediate mails
    assert {r[0] for r in worker_smtp_sink.recipients} == {"cat@staff.tandem.example"}
    # bob's ten wait for the digest; the beat sweep (sent to the worker) makes one mail
    assert Notification.objects.filter(recipient=bob, email_state="pending").count() == 10
    deliver_notifications_task.delay()
    wait_for(lambda: len(worker_smtp_sink.messages) == 11)
    digest = worker_smtp_sink.messages[-1]
    assert worker_smtp_sink.recipients[-1] == ["bob@staff.tandem.example"]
    assert digest["Subject"] == "Tandem: 10 new notifications"
    wait_for(
        lambda: (
            not OutboundEmail.objects.exclude(status="sent").exists()
            and OutboundEmail.objects.count() == 11
        )
    )


def test_a_lost_enqueue_is_delivered_by_the_sweep(
    smtp_sink, ticket, agent, bob, django_capture_on_commit_callbacks
):
    """Redis down at commit time: the row is already there, and the next sweep mails it."""
    notification_preference_set(user=bob, kind="mentioned", email="immediate")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        note_create(ticket=ticket, author=agent, body_markdown="@bob the broker is down")
    assert callbacks  # the enqueue that never ran
    assert smtp_sink.messages == []
    assert Notification.objects.get(recipient=bob).email_state == "pending"
    sweep_at(timezone.now(), django_capture_on_commit_callbacks)
    assert len(smtp_sink.messages) == 1
    assert Notification.objects.get(recipient=bob).email_state == "sent"


def test_notifications_roll_back_with_their_cause(ticket, agent, bob):
    from django.db import transaction

    def fail_after_note() -> None:
        with transaction.atomic():
            note_create(ticket=ticket, author=agent, body_markdown="@bob never mind")
            raise RuntimeError("the request failed after the note")

    with pytest.raises(RuntimeError):
        fail_after_note()
    assert not Notification.objects.exists()


def test_customer_html_in_subject_is_escaped_in_mail_and_page(
    smtp_sink, make_ticket, agent, bob, client, django_capture_on_commit_callbacks
):
    ticket = make_ticket(subject='<img src=x onerror="alert(1)">Refund')
    notification_preference_set(user=bob, kind="mentioned", email="immediate")
    with django_capture_on_commit_callbacks(execute=True):
        note_create(ticket=ticket, author=agent, body_markdown="@bob see this")
    html = smtp_sink.messages[0].get_body(preferencelist=("html",)).get_content()
    assert "<img" not in html
    assert "&lt;img" in html
    client.force_login(bob)
    page = client.get("/notifications/").content.decode()
    assert "<img src=x" not in page
    assert "&lt;img src=x" in page
