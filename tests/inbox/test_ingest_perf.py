"""E-mail ingest on its hot path: the query budget and the per-process configuration cache.

Every cache of configuration is proven to retire: change the configuration, ingest again,
see the new behaviour (in this process through the signals, in another through the
shared version key, and after a rolled-back change).
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.core.cache import cache
from django.db import connection, transaction

from api.models import Webhook, WebhookDelivery
from automations.models import Rule
from helpdesk.models import AutoAssign, Mailbox, Team
from helpdesk.services import CONFIG_VERSION_KEY, config_cached, config_snapshot
from inbox.email.ingest import email_ingest
from inbox.models import InboundStatus, Ticket
from inbox.services import ticket_search_refresh
from tests.helpdesk.factories import (
    MailboxFactory,
    MembershipFactory,
    SLAPolicyFactory,
    SLATargetFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

# Raw row in its own transaction (3: begin, INSERT, commit; savepoints here, inside the
# test's transaction); process in a second one: begin, lock the raw row, one look-up of the
# Message-ID and the thread, the contact found or inserted with its account (one
# statement), ticket with its message and 'created' event (one INSERT with data-modifying
# CTEs, numbered by its sequence and with its search vector), raw row done, commit. No
# savepoint around the
# processing (a failure rolls back and flags in a new transaction); a new sender needs no
# count of their recent tickets.
NEW_TICKET_QUERIES = 10


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a change's on-commit work, as its commit would: the cache is then used again."""
    return django_capture_on_commit_callbacks


@pytest.fixture
def team(committed) -> Team:
    # Configuration committed (on-commit run), as it is when mail arrives in production.
    with committed(execute=True):
        policy = SLAPolicyFactory()
        SLATargetFactory(policy=policy, priority="normal", first_response_minutes=60)
        return TeamFactory(name="Mail", handle="mail", sla_policy=policy)


@pytest.fixture
def mailbox(team, committed) -> Mailbox:
    with committed(execute=True):
        return MailboxFactory(email="help@tandem.example", team=team)


def mail(*, sender: str | None = None, subject: str = "Printer on fire", **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender or f"Carol <{uuid.uuid4().hex[:12]}@acme.example>"  # new contact
    message["To"] = "help@tandem.example"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="acme.example")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hello, my printer is on fire.")
    return message.as_bytes()


def ingest(mailbox: Mailbox, raw: bytes | None = None, **kwargs: str) -> Ticket:
    result = email_ingest(raw=raw or mail(**kwargs), mailbox=mailbox)
    assert result.status == InboundStatus.PROCESSED, result.reason
    return Ticket.objects.get(pk=result.ticket_id)


def test_new_ticket_mail_query_count(mailbox, django_assert_num_queries):
    ingest(mailbox)  # warms the process caches (SLA, webhooks, rules, mailboxes)
    with django_assert_num_queries(NEW_TICKET_QUERIES, exact=True):
        result = email_ingest(raw=mail(), mailbox=mailbox)
    ticket = Ticket.objects.get(pk=result.ticket_id)
    assert result.created_ticket
    assert ticket.first_response_due_at is not None  # the cached SLA clock applied
    assert ticket.version == 1
    assert ticket.events.get().kind == "created"
    assert Ticket.objects.filter(pk=ticket.pk, search_vector="printer").exists()


def _vector(ticket_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT search_vector::text FROM inbox_ticket WHERE id = %s", [ticket_id])
        return cursor.fetchone()[0]


def test_vector_written_with_the_ticket_is_the_one_a_refresh_builds(mailbox):
    ticket = ingest(mailbox, sender="Dana Fox <dana.fox@globex.example>", subject="Export fails")
    written = _vector(ticket.pk)
    assert "'export':1a" in written.replace("'export':1A", "'export':1a").lower()
    ticket_search_refresh(ticket_id=ticket.pk)
    assert _vector(ticket.pk) == written


def test_known_sender_is_counted_against_the_ticket_limit(mailbox, settings):
    settings.EMAIL_SENDER_TICKET_LIMIT = 2
    sender = "Eve <eve@initech.example>"
    first = ingest(mailbox, sender=sender)  # new sender: no count made
    second = ingest(mailbox, sender=sender)
    third = email_ingest(raw=mail(sender=sender), mailbox=mailbox)
    assert first.pk != second.pk
    assert not third.created_ticket
    assert third.ticket_id == second.pk  # kept on the newest ticket, quietly
    assert "rate limit" in third.reason


def test_reply_mail_query_count(mailbox, django_assert_num_queries):
    ticket = ingest(mailbox, sender="Fay <fay@hooli.example>")
    first_id = ticket.messages.get().message_id
    sender = "Fay <fay@hooli.example>"
    ingest(mailbox, mail(sender=sender, In_Reply_To=first_id))  # warms the reply rules
    # Raw row (3), begin, lock it, one thread look-up, the ticket, the contact, then the
    # reply as message_add_inbound writes it (savepoint, ticket lock, message, one ticket
    # UPDATE with its new words, followers, release), is the sender a CC?, raw row done,
    # commit.
    with django_assert_num_queries(16, exact=True):
        result = email_ingest(raw=mail(sender=sender, In_Reply_To=first_id), mailbox=mailbox)
    assert result.ticket_id == ticket.pk
    assert not result.created_ticket
    assert ticket.messages.count() == 3
    assert Ticket.objects.filter(pk=ticket.pk, search_vector="fire").exists()
    written = _vector(ticket.pk)
    ticket_search_refresh(ticket_id=ticket.pk)
    assert _vector(ticket.pk) == written  # the appended words are the refresh's


def test_duplicate_mail_is_two_queries(mailbox, django_assert_num_queries):
    raw = mail()
    first = email_ingest(raw=raw, mailbox=mailbox)
    with django_assert_num_queries(4):  # the conflicting insert, the stored row (+ savepoint)
        again = email_ingest(raw=raw, mailbox=mailbox)
    assert again.is_duplicate
    assert again.ticket_id == first.ticket_id


def test_rule_cache_retires_on_create_change_and_delete(mailbox, committed):
    assert ingest(mailbox).priority == "normal"
    with committed(execute=True):
        rule = Rule.objects.create(
            name="All urgent",
            trigger="ticket_created",
            actions=[{"type": "set_priority", "value": "urgent"}],
        )
    assert ingest(mailbox).priority == "urgent"
    with committed(execute=True):
        rule.actions = [{"type": "set_priority", "value": "high"}]
        rule.save()
    assert ingest(mailbox).priority == "high"
    with committed(execute=True):
        rule.delete()
    assert ingest(mailbox).priority == "normal"


def test_uncommitted_change_is_read_fresh_in_its_own_transaction(mailbox):
    assert ingest(mailbox).priority == "normal"
    Rule.objects.create(
        name="All urgent",
        trigger="ticket_created",
        actions=[{"type": "set_priority", "value": "urgent"}],
    )
    assert ingest(mailbox).priority == "urgent"


def test_webhook_cache_retires(mailbox, committed):
    ingest(mailbox)
    assert not WebhookDelivery.objects.exists()
    with committed(execute=True):
        hook = Webhook.objects.create(
            name="CRM", url="https://crm.example/hook", secret="s", event_kinds=["ticket.created"]
        )
    ingest(mailbox)
    assert WebhookDelivery.objects.filter(webhook=hook, event="ticket.created").count() == 1
    with committed(execute=True):
        hook.is_active = False
        hook.save()
    ingest(mailbox)
    assert WebhookDelivery.objects.count() == 1


def test_sla_cache_retires_on_target_and_team_change(mailbox, team, committed):
    ticket = ingest(mailbox)
    assert (ticket.first_response_due_at - ticket.created_at).total_seconds() == 3600
    target = team.sla_policy.targets.get()
    with committed(execute=True):
        target.first_response_minutes = 30
        target.save()
    ticket = ingest(mailbox)
    assert (ticket.first_response_due_at - ticket.created_at).total_seconds() == 1800
    with committed(execute=True):
        team.sla_policy = None
        team.save()
    assert ingest(mailbox).first_response_due_at is None


def test_auto_assign_cache_retires(mailbox, team, committed):
    agent = UserFactory(username="amy")
    MembershipFactory(team=team, user=agent)
    assert ingest(mailbox).assignee_id is None
    with committed(execute=True):
        team.auto_assign = AutoAssign.ROUND_ROBIN
        team.save()
    assert ingest(mailbox).assignee_id == agent.pk
    team.refresh_from_db()
    assert team.last_assigned_user_id == agent.pk  # the cursor moved; state, not config
    assert ingest(mailbox).assignee_id == agent.pk


def test_mailbox_address_cache_retires(mailbox, committed):
    assert ingest(mailbox, sender="Other desk <desk@tandem.example>").pk
    with committed(execute=True):
        MailboxFactory(email="desk@tandem.example", team=mailbox.team)
    result = email_ingest(raw=mail(sender="Other desk <desk@tandem.example>"), mailbox=mailbox)
    assert result.status == InboundStatus.IGNORED
    assert "loop" in result.reason


def test_rolled_back_config_change_is_forgotten(mailbox):
    ingest(mailbox)
    sid = transaction.savepoint()
    Rule.objects.create(
        name="All urgent",
        trigger="ticket_created",
        actions=[{"type": "set_priority", "value": "urgent"}],
    )
    assert ingest(mailbox).priority == "urgent"
    transaction.savepoint_rollback(sid)
    assert ingest(mailbox).priority == "normal"


def test_change_by_another_process_is_seen_through_the_version_key(mailbox):
    ingest(mailbox)
    # Another process wrote the rule (no signal here) and bumped the shared version.
    Rule.objects.bulk_create(
        [
            Rule(
                name="All urgent",
                trigger="ticket_created",
                actions=[{"type": "set_priority", "value": "urgent"}],
            )
        ]
    )
    assert ingest(mailbox).priority == "normal"  # proves the cache is in use
    cache.set(CONFIG_VERSION_KEY, "bumped elsewhere", timeout=None)
    assert ingest(mailbox).priority == "urgent"


def test_cache_flush_retires_everything(mailbox):
    calls = []

    def load() -> int:
        calls.append(1)
        return len(calls)

    with config_snapshot():
        assert config_cached("probe", load) == 1
        assert config_cached("probe", load) == 1
    cache.delete(CONFIG_VERSION_KEY)
    with config_snapshot():
        assert config_cached("probe", load) == 2
    assert config_cached("probe", load) == 3  # outside a snapshot: always fresh


def test_raw_insert_inside_a_transaction_still_stores_once(mailbox):
    raw = mail()
    with transaction.atomic():
        first = email_ingest(raw=raw, mailbox=mailbox)
        second = email_ingest(raw=raw, mailbox=mailbox)
    assert second.is_duplicate
    assert second.inbound_id == first.inbound_id


def test_mailbox_settings_cache_retires(mailbox, committed):
    """The just-stored path takes the mailbox (and team) from the cache: a change counts."""
    other = TeamFactory(name="Billing", handle="billing")
    assert ingest(mailbox).team_id == mailbox.team_id
    assert ingest(mailbox).team_id == mailbox.team_id  # served from the cache now
    with committed(execute=True):
        stored = Mailbox.objects.get(pk=mailbox.pk)
        stored.team = other
        stored.save()
    # The caller still holds its stale object; the stored settings decide.
    assert ingest(mailbox).team_id == other.pk


def test_row_processed_by_another_worker_is_left_alone(mailbox):
    """Between our commit of the raw row and our lock, the sweep may have processed it."""
    from inbox.email.ingest import _inbound_lock_received, inbound_store

    inbound, created = inbound_store(raw=mail(), mailbox=mailbox, source="test")
    assert created
    assert _inbound_lock_received(inbound.pk)
    swept = email_ingest(raw=bytes(inbound.raw), mailbox=mailbox)  # the "sweep" gets there
    assert swept.status == InboundStatus.PROCESSED
    assert not _inbound_lock_received(inbound.pk)
    again = email_ingest(raw=bytes(inbound.raw), mailbox=mailbox)
    assert again.is_duplicate
    assert again.ticket_id == swept.ticket_id
    assert Ticket.objects.filter(pk=swept.ticket_id).count() == 1


def test_plain_sql_insert_gives_the_objects_what_save_would(mailbox):
    """ticket_create_with_message INSERTs ticket, message and event in plain SQL on
    PostgreSQL: the objects carry the database's number, generated SLA column and ids."""
    from accounts.models import Contact
    from inbox.services import InboundContent, ticket_create_with_message

    requester = Contact.objects.create(email="erin@initech.example", name="Erin")
    made = [
        ticket_create_with_message(
            requester=requester,
            subject=f"Printer {i}",
            content=InboundContent(body_text="It jams", to=("help@tandem.example",)),
            mailbox=mailbox,
        )
        for i in range(2)
    ]
    (first, first_message), (second, _) = made
    stored = Ticket.objects.get(pk=first.pk)
    assert first.number == stored.number
    assert second.number == first.number + 1
    assert first.sla_due_at is not None
    assert first.sla_due_at == stored.sla_due_at == stored.first_response_due_at
    assert first.updated_at == stored.updated_at
    assert first_message.pk == stored.messages.get().pk
    assert stored.messages.get().to == ["help@tandem.example"]
    assert stored.events.get().kind == "created"
    # The vector was made by the INSERT and is not loaded: saving the object keeps it.
    written = _vector(first.pk)
    first.subject = "Printer 0 (edited)"
    first.save()
    assert _vector(first.pk) == written
