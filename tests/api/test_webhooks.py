"""Outbound webhooks against a real HTTP receiver on loopback, delivered by a real worker."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api.models import DeliveryStatus, Webhook, WebhookDelivery
from api.tasks import deliver_webhook_task
from api.webhooks import UnsafeTarget, target_resolve, webhook_signature_verify
from inbox.services import ticket_set_priority

SECRET = "s3cret-shared-with-the-receiver"


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answers in turn; the last repeats
    requests: list[dict] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            box.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": body, "at": time.time()}
            )
            index = min(len(box.requests), len(box.statuses)) - 1
            status = box.statuses[index] if box.statuses else 200
            self.send_response(status)
            if status in (301, 302, 307):
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


def _webhook(url: str, kinds: list[str], *, allow_private: bool = True) -> Webhook:
    return Webhook.objects.create(
        name="CRM", url=url, secret=SECRET, event_kinds=kinds, allow_private_targets=allow_private
    )


@pytest.fixture
def fast_worker(transactional_db, request, monkeypatch):
    """A real Celery worker whose webhook retries are quick (3 attempts, 0.3 s base)."""
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_SECONDS", "0.3")
    monkeypatch.setenv("WEBHOOK_MAX_ATTEMPTS", "3")
    return request.getfixturevalue("celery_worker")


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_signed_delivery_and_nothing_for_unsubscribed_events(
    fast_worker, receiver, make_ticket, agent
):
    _webhook(receiver.url, ["ticket.created", "note.created"])
    ticket = make_ticket(subject="Webhook me")
    [request] = receiver.wait_for(1)
    headers = request["headers"]
    assert headers["X-Tandem-Event"] == "ticket.created"
    assert headers["Content-Type"] == "application/json"
    assert webhook_signature_verify(
        secret=SECRET,
        timestamp=headers["X-Tandem-Timestamp"],
        body=request["body"],
        signature=headers["X-Tandem-Signature"],
    )
    assert not webhook_signature_verify(
        secret="wrong",
        timestamp=headers["X-Tandem-Timestamp"],
        body=request["body"],
        signature=headers["X-Tandem-Signature"],
    )
    body = json.loads(request["body"])
    assert body["event"] == "ticket.created"
    assert body["data"]["ticket"]["number"] == ticket.number
    assert body["data"]["ticket"]["subject"] == "Webhook me"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 1, 200)
    assert headers["X-Tandem-Delivery"] == str(delivery.event_id)

    # ticket.updated is not subscribed: no row, no request.
    ticket_set_priority(ticket=ticket, actor=agent, priority="urgent")
    time.sleep(1.5)
    assert len(receiver.requests) == 1
    assert not WebhookDelivery.objects.filter(event="ticket.updated").exists()


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_failing_receiver_is_retried_with_backoff_then_marked_failed(
    fast_worker, receiver, make_ticket
):
    receiver.statuses = [500]
    _webhook(receiver.url, ["ticket.created"])
    make_ticket()
    requests = receiver.wait_for(3)
    assert len(requests) == 3
    deadline = time.monotonic() + 15
    delivery = WebhookDelivery.objects.get()
    while delivery.status == DeliveryStatus.PENDING and time.monotonic() < deadline:
        time.sleep(0.1)
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 3, 500)
    assert delivery.error == "HTTP 500"
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(requests)]
    # Exponential backoff: the base, then twice the base.
    assert gaps[0] >= 0.3
    assert gaps[1] >= 0.6
    time.sleep(1.5)
    assert len(receiver.requests) == 3  # nothing after "failed"


@pytest.mark.django_db
def test_private_target_without_the_allowance_is_refused(receiver, make_ticket, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    _webhook(receiver.url, ["ticket.created"], allow_private=False)
    make_ticket()
    delivery = WebhookDelivery.objects.get()
    deliver_webhook_task(delivery.pk)  # in-process (the on-commit enqueue never ran)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "private or loopback" in delivery.error
    assert receiver.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost:8080/x",
        "http://10.1.2.3/x",
        "http://192.168.0.10/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[::ffff:10.0.0.1]/x",
        "http://[fd00::1]/x",
        "http://[fe80::1]/x",
        "http://0.0.0.0/x",
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http://user:pw@93.184.216.34/x",
    ],
)
def test_unsafe_targets_are_refused(url):
    with pytest.raises(UnsafeTarget):
        target_resolve(url, allow_private=False)


def test_public_address_is_allowed_and_pinned():
    target = target_resolve("https://93.184.216.34:8443/hook?x=1", allow_private=False)
    assert (target.address, target.port, target.path) == ("93.184.216.34", 8443, "/hook?x=1")


@pytest.mark.django_db
def test_redirects_are_not_followed(receiver, make_ticket):
    receiver.statuses = [302]
    _webhook(receiver.url, ["ticket.created"])
    make_ticket()
    delivery = WebhookDelivery.objects.get()
    deliver_webhook_task(delivery.pk)
    delivery.refresh_from_db()
    assert [r["path"] for r in receiver.requests] == ["/hook"]  # /elsewhere never called
    assert (delivery.status, delivery.error, delivery.attempts) == ("pending", "HTTP 302", 1)
    assert delivery.next_attempt_at is not None


@pytest.mark.django_db
def test_emit_writes_rows_in_the_callers_transaction(receiver, make_ticket, agent):
    from django.db import transaction

    _webhook(receiver.url, ["ticket.updated", "note.created", "message.created"])
    inactive = _webhook(receiver.url, ["ticket.updated"])
    inactive.is_active = False
    inactive.save()
    ticket = make_ticket()

    def change_then_fail() -> None:
        with transaction.atomic():
            ticket_set_priority(ticket=ticket, actor=agent, priority="high")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert not WebhookDelivery.objects.exists()  # rolled back with the change
    ticket_set_priority(ticket=ticket, actor=agent, priority="high")
    from notes.services import note_create

    note_create(ticket=ticket, author=agent, body_markdown="hello")
    events = sorted(WebhookDelivery.objects.values_list("event", flat=True))
    assert events == ["note.created", "ticket.updated"]  # the inactive hook gets nothing
    update = WebhookDelivery.objects.get(event="ticket.updated")
    assert update.payload["changes"] == {"priority": ["normal", "high"]}


@pytest.mark.django_db
def test_sweep_sends_deliveries_whose_enqueue_was_lost(receiver, make_ticket, settings):
    from api.tasks import sweep_webhooks_task

    settings.CELERY_TASK_ALWAYS_EAGER = True
    _webhook(receiver.url, ["ticket.created"])
    make_ticket()  # in a test transaction: the on-commit enqueue never runs, like a lost one
    assert sweep_webhooks_task() == 1
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == "delivered"
    assert sweep_webhooks_task() == 0  # nothing twice


@pytest.mark.django_db
def test_admin_shows_webhooks_and_the_delivery_log(client, admin_user, receiver, make_ticket):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    form = client.get("/admin/api/webhook/add/").content.decode()
    assert "ticket.created" in form
    assert "account.health_changed" in form
    response = client.post(
        "/admin/api/webhook/add/",
        {
            "name": "Slack bridge",
            "url": receiver.url,
            "secret": "x" * 20,
            "event_kinds": ["ticket.created", "handoff.accepted"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    hook = Webhook.objects.get(name="Slack bridge")
    assert hook.event_kinds == ["ticket.created", "handoff.accepted"]
    assert hook.allow_private_targets is False
    make_ticket()
    log = client.get("/admin/api/webhookdelivery/").content.decode()
    assert "ticket.created" in log
    assert "Pending" in log
