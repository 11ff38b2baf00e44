"""Writes for the inbox: one function per user-visible action, each in a transaction."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Count, F, Max, Model, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from accounts.models import Contact
from accounts.services import metrics_mark_dirty
from accounts.surveys import surveys_on_solve
from helpdesk.business_hours import (
    Schedule,
    add_business_seconds,
    business_seconds_between,
    schedule_from_model,
)
from helpdesk.db import row_insert, row_insert_with_children
from helpdesk.models import AutoAssign, Macro, Mailbox, Membership, Priority, Role, Team, User
from helpdesk.services import config_cached
from notes.models import NotificationKind
from notes.notify import notify

from .models import (
    DONE_STATUSES,
    OPEN_STATUSES,
    Attachment,
    Channel,
    Direction,
    EventKind,
    Message,
    SavedView,
    Status,
    Tag,
    Ticket,
    TicketAccess,
    TicketEvent,
)

logger = logging.getLogger(__name__)

SEARCH_BODY_LIMIT = 100_000  # characters of one body indexed (tsvector caps at 1 MB)


class TicketTaken(Exception):
    """Someone else took the ticket first; carries who, so the UI can say so."""

    def __init__(self, *, ticket: Ticket) -> None:
        self.ticket = ticket
        self.assignee = ticket.assignee
        super().__init__(f"Ticket #{ticket.number} is already assigned to {ticket.assignee}.")


class InvalidTransition(Exception):
    """The requested change is not allowed from the ticket's current state."""


# --- helpers ---------------------------------------------------------------------------


def event_record(
    *, ticket: Ticket, actor: User | None, kind: str, data: dict | None = None
) -> TicketEvent:
    """Append an immutable audit row and bump the ticket's timeline version."""
    event = TicketEvent.objects.create(ticket=ticket, actor=actor, kind=kind, data=data or {})
    ticket_touch(ticket=ticket)
    return event


def ticket_touch(*, ticket: Ticket) -> None:
    """Bump the timeline version (composers compare it to detect new activity)."""
    Ticket.objects.filter(pk=ticket.pk).update(version=F("version") + 1)
    ticket.version += 1
    nav_counts_invalidate()


# Inside nav_counts_batched(): whether a write asked for a bump (one is due at the end).
_nav_bump_pending: ContextVar[list[bool] | None] = ContextVar("nav_bump_pending", default=None)


def nav_counts_invalidate() -> None:
    """Retire every cached navigation count: now, and again once the change is committed.

    The second bump closes the window in which another request could count (and cache) the
    state from before our commit after the first bump. Inside nav_counts_batched() both
    wait for the batch's end.
    """
    pending = _nav_bump_pending.get()
    if pending is not None:
        pending[0] = True
        return
    _nav_version_bump()
    transaction.on_commit(_nav_version_bump)


@contextmanager
def nav_counts_batched() -> Iterator[None]:
    """One navigation-count bump for a batch of committed writes, after the last of them.

    For a run of short transactions with no reader in between (a fetched batch of mail):
    two Redis calls per mail were a tenth of the ingest time. Counts may lag the batch by
    its duration (under a second), never longer: the bump comes in `finally`, and (as any
    invalidation) once more after the commit when an outer transaction is still open.
    """
    if _nav_bump_pending.get() is not None:  # nested: the outer batch bumps
        yield
        return
    pending = [False]
    token = _nav_bump_pending.set(pending)
    try:
        yield
    finally:
        _nav_bump_pending.reset(token)
        if pending[0]:
            nav_counts_invalidate()


def _nav_version_bump() -> None:
    from .selectors import NAV_VERSION_KEY

    try:
        cache.incr(NAV_VERSION_KEY)
    except ValueError:  # not set yet (first write, or the cache was flushed)
        cache.add(NAV_VERSION_KEY, 1, timeout=None)
    except Exception:
        logger.warning("could not invalidate the inbox navigation counts")


def ticket_next_number() -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval('inbox_ticket_number_seq')")
            return int(cursor.fetchone()[0])
    # SQLite serialises writers, so max + 1 inside the transaction cannot collide.
    return (Ticket.objects.aggregate(top=Max("number"))["top"] or 0) + 1


def ticket_search_refresh(*, ticket_id: int) -> None:
    """Rebuild the ticket's full-text vector: subject, requester e-mail, message bodies."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE inbox_ticket t SET search_vector =
                setweight(to_tsvector('simple', coalesce(t.subject, '')), 'A')
                || setweight(to_tsvector('english', coalesce(t.subject, '')), 'A')
                || setweight(to_tsvector('simple', coalesce(c.email, '')), 'A')
                || setweight(to_tsvector('english', coalesce((
                    SELECT string_agg(left(m.body_text, %s), ' ' ORDER BY m.id)
                    FROM inbox_message m WHERE m.ticket_id = t.id), '')), 'B')
            FROM accounts_contact c
            WHERE c.id = t.requester_id AND t.id = %s
            """,
            [SEARCH_BODY_LIMIT, ticket_id],
        )


def _search_vector_for_new_ticket(*, subject: str, email: str, body: str) -> RawSQL:
    """The vector ticket_search_refresh would build for a ticket with one message, as an
    expression for the ticket's INSERT on PostgreSQL (which saves the UPDATE that refresh
    costs)."""
    return RawSQL(
        "setweight(to_tsvector('simple', %s), 'A')"
        " || setweight(to_tsvector('english', %s), 'A')"
        " || setweight(to_tsvector('simple', %s), 'A')"
        " || setweight(to_tsvector('english', left(%s, %s)), 'B')",
        [subject, subject, email, body, SEARCH_BODY_LIMIT],
    )


def _search_vector_appended(*, text: str) -> RawSQL | None:
    """The vector with one new body added (the thread is not re-read), as an expression for
    an UPDATE of the ticket."""
    if connection.vendor != "postgresql" or not text:
        return None
    return RawSQL(
        "coalesce(search_vector, ''::tsvector)"
        " || setweight(to_tsvector('english', left(%s, %s)), 'B')",
        [text, SEARCH_BODY_LIMIT],
    )


def _search_append(*, ticket_id: int, text: str) -> None:
    """Add one new body to the ticket's vector, for a caller that makes no UPDATE of its own."""
    appended = _search_vector_appended(text=text)
    if appended is not None:
        Ticket.objects.filter(pk=ticket_id).update(search_vector=appended)


def _apply_status_facts(
    ticket: Ticket, new_status: str, now: datetime, *, survey: bool = True
) -> list[str]:
    """Record solved/closed/reopen facts for a status change; return the changed fields.

    `survey`: invite the requester to rate a solve (not for a duplicate closed by a merge:
    the conversation goes on in the target, and the customer would rate it twice).
    """
    old = ticket.status
    ticket.status = new_status
    ticket.status_changed_at = now
    fields = ["status", "status_changed_at"]
    if new_status in DONE_STATUSES and old not in DONE_STATUSES:
        ticket.solved_at = now  # the latest solve counts (reopening extends resolution)
        fields.append("solved_at")
        if survey:
            surveys_on_solve(ticket=ticket)  # CSAT/CES invitation + outbox row, same transaction
    if new_status == Status.CLOSED and old != Status.CLOSED:
        ticket.closed_at = now
        fields.append("closed_at")
    if old in DONE_STATUSES and new_status not in DONE_STATUSES:
        ticket.reopen_count += 1
        fields.append("reopen_count")
    if new_status in DONE_STATUSES:
        ticket.snoozed_until = None
        fields.append("snoozed_until")
    return fields


def _run_rules(*, kind: str, ticket: Ticket, event_key: str) -> None:
    """Fire the automation rules of an event; refresh `ticket` if a rule changed it."""
    from automations.engine import trigger  # rules sit on top of the inbox

    if trigger(kind=kind, ticket=ticket, event_key=event_key):
        ticket.refresh_from_db()


# --- tickets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundContent:
    """A customer's message as any channel delivers it."""

    body_text: str
    body_html: str = ""
    subject: str = ""
    from_email: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    message_id: str | None = None
    in_reply_to: str = ""
    references: str = ""
    raw_source: bytes | None = None
    is_unparsed: bool = False
    parse_notes: str = ""


def ticket_create(**kwargs: Any) -> Ticket:
    """Open a ticket with the requester's first message, as every channel does (the arguments
    of ticket_create_with_message)."""
    ticket, _message = ticket_create_with_message(**kwargs)
    return ticket


# No savepoint of its own: nothing catches a failure half-way, and the caller's transaction
# (or this one, when there is none) rolls back whole; a savepoint per mail cost 2 queries.
@transaction.atomic(savepoint=False)
def ticket_create_with_message(
    *,
    requester: Contact,
    subject: str,
    content: InboundContent,
    channel: str = Channel.EMAIL,
    team: Team | None = None,
    mailbox: Mailbox | None = None,
    priority: str = Priority.NORMAL,
    tags: Iterable[str] = (),
    created_by: User | None = None,
    follow_up_of: Ticket | None = None,
    created_at: datetime | None = None,
) -> tuple[Ticket, Message]:
    """Open a ticket with the requester's first message; return both."""
    now = created_at or timezone.now()
    if team is None and mailbox is not None:
        team = mailbox.team
    ticket = Ticket(
        subject=(subject or "(no subject)")[:500],
        status=Status.NEW,
        priority=priority,
        channel=channel,
        requester=requester,
        account_id=requester.account_id,
        team=team,
        mailbox=mailbox,
        follow_up_of=follow_up_of,
        is_unparsed=content.is_unparsed,
        created_at=now,
        status_changed_at=now,
        last_customer_message_at=now,
        version=1,  # the 'created' event's bump, written with the row (event_record's touch)
    )
    _sla_set_targets(ticket)  # due times go in with the INSERT, not a second UPDATE
    message = _message_inbound(ticket=ticket, contact=requester, content=content, now=now)
    created = TicketEvent(
        ticket=ticket,
        actor=created_by,
        kind=EventKind.CREATED,
        data={"channel": channel, "follow_up_of": follow_up_of.number if follow_up_of else None},
    )
    if connection.vendor == "postgresql":
        # One statement for the ticket, its first message and its 'created' event: the
        # number from its sequence and the search vector made by the INSERT itself (no
        # nextval round trip, no refresh UPDATE, no ORM compile, no second and third INSERT).
        row_insert_with_children(
            ticket,
            children=[(message, "ticket_id"), (created, "ticket_id")],
            expressions={
                "number": RawSQL("nextval('inbox_ticket_number_seq')", []),
                "search_vector": _search_vector_for_new_ticket(
                    subject=ticket.subject, email=requester.email, body=content.body_text
                ),
            },
            fetch=("number",),
        )
    else:
        ticket.number = ticket_next_number()
        ticket.save(force_insert=True)  # save() below picks up the now-stored ticket's id
        message.save(force_insert=True)
        created.save(force_insert=True)
    if tags:
        ticket_set_tags(ticket=ticket, actor=created_by, names=tags, record=False)
    nav_counts_invalidate()
    if ticket.team_id is not None and ticket.assignee_id is None:
        ticket_auto_assign(ticket=ticket)
    if follow_up_of is not None:
        event_record(
            ticket=follow_up_of,
            actor=None,
            kind=EventKind.FOLLOW_UP,
            data={"ticket": ticket.number},
        )
    metrics_mark_dirty(account_id=ticket.account_id)
    from api.webhooks import ticket_payload, webhook_emit  # lazy: api sits above inbox

    webhook_emit("ticket.created", ticket_payload(ticket))
    _run_rules(kind="ticket_created", ticket=ticket, event_key="created")
    return ticket, message


def _message_create_inbound(
    *, ticket: Ticket, contact: Contact, content: InboundContent, now: datetime
) -> Message:
    message = _message_inbound(ticket=ticket, contact=contact, content=content, now=now)
    _row_create(message)
    return message


def _message_inbound(
    *, ticket: Ticket, contact: Contact, content: InboundContent, now: datetime
) -> Message:
    """The customer's message as a row, not yet stored."""
    return Message(
        ticket=ticket,
        direction=Direction.INBOUND,
        author_contact=contact,
        subject=content.subject[:998],
        body_text=content.body_text,
        body_html=content.body_html,
        from_email=content.from_email or contact.email,
        to=list(content.to),
        cc=list(content.cc),
        message_id=content.message_id or None,
        in_reply_to=content.in_reply_to,
        references=content.references,
        raw_source=content.raw_source,
        is_unparsed=content.is_unparsed,
        parse_notes=content.parse_notes,
        created_at=now,
    )


def _row_create(obj: Model) -> None:
    """INSERT a new row: plain SQL on PostgreSQL (the ingest hot path), save() elsewhere."""
    if connection.vendor == "postgresql":
        row_insert(obj)
    else:
        obj.save(force_insert=True)


@transaction.atomic  # a savepoint: callers catch InvalidTransition and carry on
def message_add_inbound(
    *,
    ticket: Ticket,
    contact: Contact,
    content: InboundContent,
    at: datetime | None = None,
    is_automatic: bool = False,
) -> Message:
    """Add a customer's message to an open or solved ticket (solved reopens it).

    A closed ticket is final: the caller opens a follow-up ticket instead. An automatic
    message (auto-reply, bounce: RFC 3834) is kept but reopens nothing and notifies nobody.
    """
    now = at or timezone.now()
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)  # races with status edits
    if ticket.status == Status.CLOSED:
        raise InvalidTransition("A closed ticket takes no new messages; open a follow-up.")
    message = _message_create_inbound(ticket=ticket, contact=contact, content=content, now=now)
    fields = ["updated_at"]
    if not is_automatic:  # an auto-reply is not the customer talking (SLA clocks)
        ticket.last_customer_message_at = now
        fields.append("last_customer_message_at")
    if ticket.status in (Status.SOLVED, Status.PENDING) and not is_automatic:
        was_solved = ticket.status == Status.SOLVED
        fields += _apply_status_facts(ticket, Status.OPEN, now)
        if was_solved:
            event_record(ticket=ticket, actor=None, kind=EventKind.REOPENED, data={})
    if ticket.snoozed_until is not None and not is_automatic:
        ticket.snoozed_until = None  # a customer reply wakes a snoozed ticket
        fields.append("snoozed_until")
    fields += _sla_customer_wrote(ticket, now)
    # The timeline bump and the new body's words ride on this UPDATE (no ticket_touch or
    # _search_append of their own): the row is locked above.
    ticket.version += 1
    fields.append("version")
    appended = _search_vector_appended(text=content.body_text)
    if appended is not None:
        ticket.search_vector = appended
        fields.append("search_vector")
    ticket.save(update_fields=sorted(set(fields)))
    ticket.__dict__.pop("search_vector", None)  # an expression, not a value (see create)
    nav_counts_invalidate()
    recipients = [] if is_automatic else _watchers(ticket)
    notify(
        recipients=recipients,
        kind=NotificationKind.CUSTOMER_REPLIED,
        ticket=ticket,
        actor=None,
        text=f"{contact} replied on #{ticket.number}",
        data={"message": message.pk},  # links to the message in the timeline
    )
    metrics_mark_dirty(account_id=ticket.account_id)
    from api.webhooks import message_payload, webhook_emit  # lazy: api sits above inbox

    webhook_emit("message.created", message_payload(message))
    _run_rules(kind="customer_replied", ticket=ticket, event_key=f"message:{message.pk}")
    return message


def _watchers(ticket: Ticket) -> list[int]:
    """The assignee and followers: who hears about customer replies and status changes."""
    from notes.models import Follower

    ids = set(Follower.objects.filter(ticket=ticket).values_list("user_id", flat=True))
    if ticket.assignee_id:
        ids.add(ticket.assignee_id)
    return sorted(ids)


@transaction.atomic
def reply_create(
    *,
    ticket: Ticket,
    author: User,
    body_text: str,
    body_html: str = "",
    new_status: str | None = None,
    is_automatic: bool = False,
    at: datetime | None = None,
    attachments: Iterable[UploadedFile] = (),
) -> Message:
    """Post a public reply to the customer; it is e-mailed through the outbox.

    Records the first response (a public, non-automatic reply by a user) and the count of
    public agent replies used by first-contact resolution.
    """
    now = at or timezone.now()
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if ticket.status == Status.CLOSED:
        raise InvalidTransition("A closed ticket cannot be replied to.")
    message = Message.objects.create(
        ticket=ticket,
        direction=Direction.OUTBOUND,
        author_user=author,
        is_automatic=is_automatic,
        subject=ticket.subject,
        body_text=body_text,
        body_html=body_html,
        created_at=now,
    )
    fields = ["updated_at"]
    if not is_automatic:
        ticket.last_agent_message_at = now
        ticket.public_reply_count += 1
        fields += ["last_agent_message_at", "public_reply_count"]
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            fields.append("first_response_at")
            policy = _sla_policy(ticket)
            ticket.first_response_business_seconds = business_seconds_between(
                start=ticket.created_at, end=now, schedule=policy.schedule if policy else None
            )
            fields.append("first_response_business_seconds")
        # An answer stops the next-response clock until the customer writes again.
        if ticket.next_response_due_at is not None:
            ticket.next_response_due_at = None
            fields.append("next_response_due_at")
        if ticket.status == Status.NEW and new_status is None:
            new_status = Status.OPEN
    if new_status and new_status != ticket.status:
        old = ticket.status
        fields += _apply_status_facts(ticket, new_status, now)
        event_record(
            ticket=ticket, actor=author, kind=EventKind.STATUS, data={"from": old, "to": new_status}
        )
    ticket.save(update_fields=sorted(set(fields)))
    for upload in attachments:
        _attachment_create(message=message, upload=upload)
    ticket_touch(ticket=ticket)
    _search_append(ticket_id=ticket.pk, text=body_text)
    from .outbound import reply_enqueue  # the e-mail channel turns the reply into mail

    reply_enqueue(message=message)
    metrics_mark_dirty(account_id=ticket.account_id)
    from api.webhooks import message_payload, webhook_emit  # lazy: api sits above inbox

    webhook_emit("message.created", message_payload(message))
    if not is_automatic:
        _run_rules(kind="agent_replied", ticket=ticket, event_key=f"message:{message.pk}")
    return message


@transaction.atomic
def ticket_set_status(
    *, ticket: Ticket, actor: User | None, status: str, at: datetime | None = None
) -> Ticket:
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)  # concurrent edits
    if status == ticket.status:
        return ticket
    if status not in Status.values:
        raise InvalidTransition(f"Unknown status {status!r}.")
    if ticket.status == Status.CLOSED:
        raise InvalidTransition("A closed ticket cannot change status.")
    old = ticket.status
    now = at or timezone.now()
    fields = _apply_status_facts(ticket, status, now)
    ticket.save(update_fields=[*fields, "updated_at"])
    event = event_record(
        ticket=ticket, actor=actor, kind=EventKind.STATUS, data={"from": old, "to": status}
    )
    recipients = [uid for uid in _watchers(ticket) if actor is None or uid != actor.pk]
    notify(
        recipients=recipients,
        kind=NotificationKind.STATUS_CHANGED,
        ticket=ticket,
        actor=actor,
        text=f"#{ticket.number} is now {ticket.get_status_display().lower()}",
        data={"event": event.pk},
    )
    metrics_mark_dirty(account_id=ticket.account_id)
    from api.webhooks import ticket_payload, webhook_emit  # lazy: api sits above inbox

    webhook_emit("ticket.updated", ticket_payload(ticket, changes={"status": [old, status]}))
    _run_rules(kind="status_changed", ticket=ticket, event_key=f"event:{event.pk}")
    return ticket


@transaction.atomic
def ticket_set_priority(*, ticket: Ticket, actor: User | None, priority: str) -> Ticket:
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if priority == ticket.priority:
        return ticket
    if priority not in Priority.values:
        raise InvalidTransition(f"Unknown priority {priority!r}.")
    old = ticket.priority
    ticket.priority = priority
    ticket.save(update_fields=["priority", "updated_at", *_sla_set_targets(ticket)])
    event_record(
        ticket=ticket, actor=actor, kind=EventKind.PRIORITY, data={"from": old, "to": priority}
    )
    from api.webhooks import ticket_payload, webhook_emit  # lazy: api sits above inbox

    webhook_emit("ticket.updated", ticket_payload(ticket, changes={"priority": [old, priority]}))
    return ticket


@transaction.atomic
def ticket_take(*, ticket: Ticket, user: User) -> Ticket:
    """Assign the ticket to `user`; a concurrent taker waits on the row lock and loses."""
    # No select_related("assignee"): after waiting on the lock PostgreSQL re-reads only the
    # locked row, so a joined assignee would be the stale (empty) one; load it afterwards.
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if ticket.assignee_id == user.pk:
        return ticket
    if ticket.assignee_id is not None:
        raise TicketTaken(ticket=ticket)
    return _assign(ticket=ticket, actor=user, assignee=user)


@transaction.atomic
def ticket_assign(*, ticket: Ticket, actor: User | None, assignee: User | None) -> Ticket:
    """Assign (or unassign with None) explicitly: an explicit choice overrides a holder."""
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if ticket.assignee_id == (assignee.pk if assignee else None):
        return ticket
    return _assign(ticket=ticket, actor=actor, assignee=assignee)


def _assign(*, ticket: Ticket, actor: User | None, assignee: User | None) -> Ticket:
    old = ticket.assignee_id
    ticket.assignee = assignee
    ticket.save(update_fields=["assignee", "updated_at"])
    event = event_record(
        ticket=ticket,
        actor=actor,
        kind=EventKind.ASSIGNED,
        data={"from": old, "to": assignee.pk if assignee else None},
    )
    if assignee is not None and (actor is None or assignee.pk != actor.pk):
        notify(
            recipients=[assignee.pk],
            kind=NotificationKind.ASSIGNED,
            ticket=ticket,
            actor=actor,
            text=f"#{ticket.number} was assigned to you",
            data={"event": event.pk},
        )
    from api.webhooks import ticket_payload, webhook_emit  # lazy: api sits above inbox

    webhook_emit(
        "ticket.updated", ticket_payload(ticket, changes={"assignee_id": [old, ticket.assignee_id]})
    )
    if assignee is not None:
        _run_rules(kind="assigned", ticket=ticket, event_key=f"event:{event.pk}")
    return ticket


@transaction.atomic
def ticket_set_team(*, ticket: Ticket, actor: User | None, team: Team | None) -> Ticket:
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if ticket.team_id == (team.pk if team else None):
        return ticket
    old = ticket.team_id
    ticket.team = team
    ticket.save(update_fields=["team", "updated_at", *_sla_set_targets(ticket)])
    event_record(
        ticket=ticket, actor=actor, kind=EventKind.TEAM, data={"from": old, "to": ticket.team_id}
    )
    from api.webhooks import ticket_payload, webhook_emit  # lazy: api sits above inbox

    webhook_emit(
        "ticket.updated", ticket_payload(ticket, changes={"team_id": [old, ticket.team_id]})
    )
    return ticket


@transaction.atomic
def ticket_set_tags(
    *, ticket: Ticket, actor: User | None, names: Iterable[str], record: bool = True
) -> list[str]:
    """Set the ticket's tags to `names` (created on first use); return the sorted names."""
    wanted = {name.strip().lower()[:64] for name in names if name.strip()}
    existing = {tag.name.lower(): tag for tag in Tag.objects.filter(name__in=wanted)}
    missing = [Tag(name=name) for name in sorted(wanted - existing.keys())]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {tag.name.lower(): tag for tag in Tag.objects.filter(name__in=wanted)}
    before = sorted(ticket.tags.values_list("name", flat=True))
    ticket.tags.set(existing.values())
    after = sorted(existing)
    if record and before != after:
        event = event_record(
            ticket=ticket, actor=actor, kind=EventKind.TAGS, data={"from": before, "to": after}
        )
        from api.webhooks import ticket_payload, webhook_emit  # lazy: api sits above inbox

        webhook_emit("ticket.updated", ticket_payload(ticket, changes={"tags": [before, after]}))
        if set(after) - set(before):
            _run_rules(kind="tag_added", ticket=ticket, event_key=f"event:{event.pk}")
    return after


PROPERTY_FIELDS = ("status", "priority", "assignee", "team", "tags")


class PropertiesConflict(Exception):
    """A field the user changed was also changed by someone else since their page loaded."""

    def __init__(self, *, ticket: Ticket, fields: list[str], current: dict[str, str]) -> None:
        self.ticket = ticket
        self.fields = fields
        self.current = current
        super().__init__(", ".join(fields))


def _tags_key(names: Iterable[str]) -> str:
    return ",".join(sorted({name.strip().lower()[:64] for name in names if name.strip()}))


def ticket_properties_key(*, ticket: Ticket) -> dict[str, str]:
    """The side panel's fields as the strings the page renders (and a stale check compares)."""
    return {
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": str(ticket.assignee_id or ""),
        "team": str(ticket.team_id or ""),
        "tags": _tags_key(ticket.tags.values_list("name", flat=True)),
    }


@transaction.atomic
def ticket_update_properties(
    *,
    ticket: Ticket,
    actor: User,
    status: str,
    priority: str,
    assignee: User | None,
    team: Team | None,
    tags: list[str] | None,
    seen: dict[str, str] | None = None,
) -> Ticket:
    """Apply the side panel's fields (tags None: leave them).

    With `seen` (the values the page showed) only the fields the user changed are applied,
    and a field someone else changed meanwhile is refused with PropertiesConflict: a form
    submitted from a stale page never silently undoes a colleague's take or solve.
    """
    # The lock spans the check and the writes, so nobody changes a field in between.
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    current = ticket_properties_key(ticket=locked)
    wanted = {
        "status": status,
        "priority": priority,
        "assignee": str(assignee.pk if assignee else ""),
        "team": str(team.pk if team else ""),
    }
    if tags is not None:
        wanted["tags"] = _tags_key(tags)
    if seen is not None:
        shown = {
            field: _tags_key(value.split(",")) if field == "tags" else value
            for field, value in seen.items()
            if field in PROPERTY_FIELDS
        }
        changed = {f: v for f, v in wanted.items() if f in shown and v != shown[f]}
        clashes = [f for f, v in changed.items() if current[f] not in (shown[f], v)]
        if clashes:
            raise PropertiesConflict(ticket=locked, fields=clashes, current=current)
        # Fields the user left as shown are not written back over a colleague's change.
        wanted = {f: v for f, v in wanted.items() if f not in shown or f in changed}
    if "priority" in wanted:
        ticket_set_priority(ticket=locked, actor=actor, priority=priority)
    if "team" in wanted:
        ticket_set_team(ticket=locked, actor=actor, team=team)
    if "assignee" in wanted and wanted["assignee"] != current["assignee"]:
        ticket_assign(ticket=locked, actor=actor, assignee=assignee)
    if "tags" in wanted and tags is not None:
        ticket_set_tags(ticket=locked, actor=actor, names=tags)
    if "status" in wanted:
        ticket_set_status(ticket=locked, actor=actor, status=status)
    return Ticket.objects.get(pk=ticket.pk)


def ticket_grant_access(
    *, ticket: Ticket, user: User, reason: str, granted_by: User | None
) -> bool:
    """Let `user` see `ticket` outside their usual scope; True when newly granted."""
    _grant, created = TicketAccess.objects.get_or_create(
        ticket=ticket, user=user, defaults={"reason": reason, "granted_by": granted_by}
    )
    if created:
        event_record(
            ticket=ticket,
            actor=granted_by,
            kind=EventKind.ACCESS_GRANTED,
            data={"user": user.pk, "reason": reason},
        )
    return created


# --- SLA -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SLAClock:
    """The targets in force for one ticket: minutes per clock and the schedule they run in."""

    first_response_minutes: int | None
    next_response_minutes: int | None
    resolution_minutes: int | None
    schedule: Schedule | None


def _sla_policy(ticket: Ticket) -> SLAClock | None:
    """Return the team's SLA targets for the ticket's priority, or None when untracked."""
    if ticket.team_id is None:
        return None
    return config_cached(
        f"sla-clock:{ticket.team_id}:{ticket.priority}",
        lambda: _sla_policy_load(team_id=ticket.team_id, priority=ticket.priority),
    )


def _sla_policy_load(*, team_id: int, priority: str) -> SLAClock | None:
    team = Team.objects.select_related("sla_policy__business_hours").filter(pk=team_id).first()
    if team is None:
        return None
    policy = team.sla_policy
    if policy is None:
        return None
    target = policy.targets.filter(priority=priority).first()
    if target is None:
        return None
    return SLAClock(
        first_response_minutes=target.first_response_minutes,
        next_response_minutes=target.next_response_minutes,
        resolution_minutes=target.resolution_minutes,
        schedule=schedule_from_model(policy.business_hours),
    )


def _due(start: datetime, minutes: int | None, schedule: Schedule | None) -> datetime | None:
    if minutes is None:
        return None
    return add_business_seconds(start=start, seconds=minutes * 60, schedule=schedule)


def _sla_set_targets(ticket: Ticket) -> list[str]:
    """(Re)compute first-response and resolution due times from creation; return fields.

    Runs on create and when priority or team (hence the policy) changes: the clock always
    counts from the ticket's creation, in the business hours of the policy now in force.
    """
    clock = _sla_policy(ticket)
    first_due = resolution_due = None
    if clock is not None:
        if ticket.first_response_at is None:
            first_due = _due(ticket.created_at, clock.first_response_minutes, clock.schedule)
        else:
            first_due = ticket.first_response_due_at
        resolution_due = _due(ticket.created_at, clock.resolution_minutes, clock.schedule)
    fields = []
    if first_due != ticket.first_response_due_at:
        ticket.first_response_due_at = first_due
        fields.append("first_response_due_at")
    if resolution_due != ticket.resolution_due_at:
        ticket.resolution_due_at = resolution_due
        fields.append("resolution_due_at")
    return fields


def _sla_customer_wrote(ticket: Ticket, now: datetime) -> list[str]:
    """Start the next-response clock (once answered before; the oldest unanswered counts)."""
    if ticket.first_response_at is None or ticket.next_response_due_at is not None:
        return []
    clock = _sla_policy(ticket)
    if clock is None or clock.next_response_minutes is None:
        return []
    ticket.next_response_due_at = _due(now, clock.next_response_minutes, clock.schedule)
    return ["next_response_due_at"]


# Response clocks run while the customer waits on us; pending/on hold wait on the customer.
SLA_RESPONSE_STATUSES = (Status.NEW, Status.OPEN)
SLA_SWEEP_BATCH = 500


def _sla_recipient_ids(ticket: Ticket) -> list[int]:
    """Who hears about the ticket's SLA: its assignee, else every member of its team.

    An unassigned ticket is the one most at risk; warning nobody would let it breach.
    """
    if ticket.assignee_id:
        return [ticket.assignee_id]
    if ticket.team_id:
        return list(
            Membership.objects.filter(team_id=ticket.team_id).values_list("user_id", flat=True)
        )
    return []


def sla_breach_candidates_q(*, now: datetime) -> Q:
    return (
        Q(
            status__in=SLA_RESPONSE_STATUSES,
            first_response_at__isnull=True,
            first_response_due_at__lt=now,
            sla_first_response_breached=False,
        )
        | Q(
            status__in=SLA_RESPONSE_STATUSES,
            next_response_due_at__lt=now,
            sla_next_response_breached=False,
        )
        | Q(
            status__in=OPEN_STATUSES,
            resolution_due_at__lt=now,
            sla_resolution_breached=False,
        )
    )


@transaction.atomic
def ticket_sla_check(*, ticket_id: int, now: datetime | None = None) -> list[str]:
    """Flag the ticket's newly breached SLA clocks, once each; return the breached clocks."""
    now = now or timezone.now()
    # skip_locked: a ticket being edited right now is checked on the next sweep.
    ticket = (
        Ticket.objects.select_for_update(skip_locked=True)
        .filter(sla_breach_candidates_q(now=now), pk=ticket_id)
        .first()
    )
    if ticket is None:
        return []
    breached = []
    if (
        ticket.status in SLA_RESPONSE_STATUSES
        and ticket.first_response_at is None
        and ticket.first_response_due_at
        and ticket.first_response_due_at < now
        and not ticket.sla_first_response_breached
    ):
        ticket.sla_first_response_breached = True
        breached.append("first_response")
    if (
        ticket.status in SLA_RESPONSE_STATUSES
        and ticket.next_response_due_at
        and ticket.next_response_due_at < now
        and not ticket.sla_next_response_breached
    ):
        ticket.sla_next_response_breached = True
        breached.append("next_response")
    if (
        ticket.status in OPEN_STATUSES
        and ticket.resolution_due_at
        and ticket.resolution_due_at < now
        and not ticket.sla_resolution_breached
    ):
        ticket.sla_resolution_breached = True
        breached.append("resolution")
    if not breached:
        return []
    ticket.save(update_fields=[f"sla_{name}_breached" for name in breached] + ["updated_at"])
    event = event_record(
        ticket=ticket, actor=None, kind=EventKind.SLA_BREACHED, data={"clocks": breached}
    )
    labels = ", ".join(name.replace("_", " ") for name in breached)
    notify(
        recipients=_sla_recipient_ids(ticket),
        kind=NotificationKind.SLA_BREACHED,
        ticket=ticket,
        text=f"#{ticket.number} breached its SLA ({labels})",
        data={"clocks": breached, "event": event.pk},
    )
    return breached


def _sla_running_clocks(ticket: Ticket) -> dict[str, datetime]:
    """Due time of each SLA clock still running on the ticket (not met, not breached)."""
    clocks = {}
    responding = ticket.status in SLA_RESPONSE_STATUSES
    if (
        responding
        and ticket.first_response_at is None
        and ticket.first_response_due_at
        and not ticket.sla_first_response_breached
    ):
        clocks["first_response"] = ticket.first_response_due_at
    if responding and ticket.next_response_due_at and not ticket.sla_next_response_breached:
        clocks["next_response"] = ticket.next_response_due_at
    if (
        ticket.status in OPEN_STATUSES
        and ticket.resolution_due_at
        and not ticket.sla_resolution_breached
    ):
        clocks["resolution"] = ticket.resolution_due_at
    return clocks


def sla_warning_candidates_q(*, now: datetime, until: datetime) -> Q:
    """Tickets with a running clock due in [now, until): the ones the sweep may warn about."""
    return (
        Q(
            status__in=SLA_RESPONSE_STATUSES,
            first_response_at__isnull=True,
            first_response_due_at__gte=now,
            first_response_due_at__lt=until,
            sla_first_response_breached=False,
        )
        | Q(
            status__in=SLA_RESPONSE_STATUSES,
            next_response_due_at__gte=now,
            next_response_due_at__lt=until,
            sla_next_response_breached=False,
        )
        | Q(
            status__in=OPEN_STATUSES,
            resolution_due_at__gte=now,
            resolution_due_at__lt=until,
            sla_resolution_breached=False,
        )
    )


@transaction.atomic
def ticket_sla_warn(*, ticket_id: int, now: datetime, until: datetime) -> list[str]:
    """Warn the assignee (or the team) about clocks due before `until`, once per clock.

    Returns the clocks warned about.

    A clock is its name and due time: the sla_warning events are the record, so a clock
    that restarts (a new customer message) or moves (a priority change) warns again.
    """
    # skip_locked: a ticket being edited right now is looked at on the next sweep.
    ticket = (
        Ticket.objects.select_for_update(skip_locked=True)
        .filter(sla_warning_candidates_q(now=now, until=until), pk=ticket_id)
        .first()
    )
    if ticket is None:
        return []
    warned = {
        (clock, due)
        for data in TicketEvent.objects.filter(
            ticket=ticket, kind=EventKind.SLA_WARNING
        ).values_list("data", flat=True)
        for clock, due in (data.get("due") or {}).items()
    }
    due_soon = {
        clock: due
        for clock, due in _sla_running_clocks(ticket).items()
        if now <= due < until and (clock, due.isoformat()) not in warned
    }
    if not due_soon:
        return []
    clocks = sorted(due_soon, key=lambda clock: (due_soon[clock], clock))
    event = event_record(
        ticket=ticket,
        actor=None,
        kind=EventKind.SLA_WARNING,
        data={"clocks": clocks, "due": {clock: due_soon[clock].isoformat() for clock in clocks}},
    )
    minutes = max(1, round((due_soon[clocks[0]] - now).total_seconds() / 60))
    labels = ", ".join(name.replace("_", " ") for name in clocks)
    notify(
        recipients=_sla_recipient_ids(ticket),
        kind=NotificationKind.SLA_WARNING,
        ticket=ticket,
        text=f"#{ticket.number} is about to breach its SLA ({labels}) in {minutes} min",
        data={"clocks": clocks, "event": event.pk},
    )
    return clocks


def sla_warning_sweep(*, now: datetime | None = None) -> int:
    """Warn about every clock due within SLA_WARNING_MINUTES; return tickets warned."""
    lead = settings.SLA_WARNING_MINUTES
    if lead <= 0:
        return 0
    now = now or timezone.now()
    until = now + timedelta(minutes=lead)
    warned, last_id = 0, 0
    while True:
        # Keyset by id: tickets already warned stay candidates until due, so the walk goes
        # past them instead of stopping at a batch that warned nobody.
        ids = list(
            Ticket.objects.filter(sla_warning_candidates_q(now=now, until=until), pk__gt=last_id)
            .order_by("id")
            .values_list("id", flat=True)[:SLA_SWEEP_BATCH]
        )
        for ticket_id in ids:
            if ticket_sla_warn(ticket_id=ticket_id, now=now, until=until):
                warned += 1
        if len(ids) < SLA_SWEEP_BATCH:
            return warned
        last_id = ids[-1]


def sla_sweep(*, now: datetime | None = None) -> int:
    """Warn about clocks about to run out, then flag every ticket whose clock ran out.

    Returns how many tickets were flagged as breached.
    """
    now = now or timezone.now()
    sla_warning_sweep(now=now)
    flagged = 0
    while True:
        ids = list(
            Ticket.objects.filter(sla_breach_candidates_q(now=now))
            .order_by("id")
            .values_list("id", flat=True)[:SLA_SWEEP_BATCH]
        )
        results = [ticket_sla_check(ticket_id=ticket_id, now=now) for ticket_id in ids]
        flagged += sum(1 for result in results if result)
        # Stop when a batch flagged nothing (the rest are locked: the next sweep gets them).
        if len(ids) < SLA_SWEEP_BATCH or not any(results):
            return flagged


# --- assignment ------------------------------------------------------------------------


def ticket_auto_assign(*, ticket: Ticket, mode: str | None = None) -> User | None:
    """Give the ticket to a member of its team, by `mode` or the team's auto-assign mode.

    Runs inside the caller's transaction (ticket_create, an automation rule). The team row
    is locked so that two tickets arriving together advance the round-robin cursor in turn.
    """
    if ticket.team_id is None:
        return None
    team_id = ticket.team_id
    if mode is None and config_cached(
        f"team-auto-assign:{team_id}",
        lambda: Team.objects.filter(pk=team_id).values_list("auto_assign", flat=True).first(),
    ) in (AutoAssign.OFF, None):
        return None  # nothing to assign: no need to lock the team row
    team = Team.objects.select_for_update().get(pk=ticket.team_id)
    mode = mode or team.auto_assign
    if mode == AutoAssign.OFF:
        return None
    members = (
        User.objects.filter(
            memberships__team=team,
            is_active=True,
            is_available=True,
            role__in=[Role.AGENT, Role.ADMIN],
        )
        .order_by("id")
        .distinct()
    )
    if mode == AutoAssign.LOAD_BALANCED:
        chosen = (
            members.annotate(
                open_count=Count(
                    "assigned_tickets", filter=Q(assigned_tickets__status__in=OPEN_STATUSES)
                )
            )
            .order_by("open_count", "id")
            .first()
        )
    else:
        ids = list(members.values_list("id", flat=True))
        if not ids:
            return None
        after = [uid for uid in ids if uid > (team.last_assigned_user_id or 0)]
        chosen = User.objects.get(pk=(after or ids)[0])
    if chosen is None:
        return None
    team.last_assigned_user = chosen
    team.save(update_fields=["last_assigned_user", "updated_at"])
    _assign(ticket=ticket, actor=None, assignee=chosen)
    return chosen


# --- merge and snooze ------------------------------------------------------------------


@transaction.atomic
def ticket_merge(*, source: Ticket, target: Ticket, actor: User | None) -> Ticket:
    """Move the source's messages and notes to the target and close the source.

    The source keeps a pointer (merged_into), so links and mail threads still find the
    conversation; replies to the source's Message-IDs now thread onto the target.
    """
    if source.pk == target.pk:
        raise InvalidTransition("A ticket cannot be merged into itself.")
    # Lock both rows in id order, so two opposite merges cannot deadlock.
    locked = {
        t.pk: t
        for t in Ticket.objects.select_for_update()
        .filter(pk__in=[source.pk, target.pk])
        .order_by("pk")
    }
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id is not None or source.status == Status.CLOSED:
        raise InvalidTransition(f"#{source.number} is closed and cannot be merged.")
    if target.status == Status.CLOSED or target.merged_into_id is not None:
        raise InvalidTransition(f"#{target.number} is closed; merge into an open ticket.")
    from notes.models import Note

    moved = Message.objects.filter(ticket=source).update(ticket=target)
    Note.objects.filter(ticket=source).update(ticket=target)
    source_tags = list(source.tags.all())
    if source_tags:
        target.tags.add(*source_tags)
    now = timezone.now()
    fields = [
        *_apply_status_facts(source, Status.CLOSED, now, survey=False),
        "merged_into",
        "updated_at",
    ]
    source.merged_into = target
    source.save(update_fields=fields)
    last_customer = max(
        filter(None, [source.last_customer_message_at, target.last_customer_message_at]),
        default=None,
    )
    if last_customer != target.last_customer_message_at:
        target.last_customer_message_at = last_customer
        target.save(update_fields=["last_customer_message_at", "updated_at"])
    event_record(
        ticket=source,
        actor=actor,
        kind=EventKind.MERGED,
        data={"into": target.number, "messages": moved},
    )
    event_record(
        ticket=target,
        actor=actor,
        kind=EventKind.MERGED,
        data={"from": source.number, "messages": moved},
    )
    ticket_search_refresh(ticket_id=target.pk)
    ticket_search_refresh(ticket_id=source.pk)
    metrics_mark_dirty(account_id=source.account_id)
    metrics_mark_dirty(account_id=target.account_id)
    return target


@transaction.atomic
def ticket_snooze(*, ticket: Ticket, actor: User | None, until: datetime | None) -> Ticket:
    """Hide the ticket from working views until `until` (None wakes it now)."""
    ticket = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if until is not None and until <= timezone.now():
        raise InvalidTransition("Snooze until a time in the future.")
    if until is not None and ticket.status in DONE_STATUSES:
        raise InvalidTransition("A solved ticket needs no snooze.")
    if ticket.snoozed_until == until:
        return ticket
    ticket.snoozed_until = until
    ticket.save(update_fields=["snoozed_until", "updated_at"])
    event_record(
        ticket=ticket,
        actor=actor,
        kind=EventKind.SNOOZED,
        data={"until": until.isoformat() if until else None},
    )
    return ticket


# --- bulk actions ----------------------------------------------------------------------

BULK_ACTIONS = ("assign", "team", "status", "priority", "add_tag")


def tickets_bulk_update(
    *, tickets: Iterable[Ticket], actor: User, action: str, value: object
) -> int:
    """Apply one change to many tickets, each through its own service (own lock, own event).

    Each ticket is its own transaction: one closed ticket does not undo the others.
    Return how many tickets changed or were already in the wanted state.
    """
    done = 0
    for ticket in tickets:
        try:
            if action == "assign":
                ticket_assign(ticket=ticket, actor=actor, assignee=value)  # type: ignore[arg-type]
            elif action == "team":
                ticket_set_team(ticket=ticket, actor=actor, team=value)  # type: ignore[arg-type]
            elif action == "status":
                ticket_set_status(ticket=ticket, actor=actor, status=str(value))
            elif action == "priority":
                ticket_set_priority(ticket=ticket, actor=actor, priority=str(value))
            elif action == "add_tag":
                with transaction.atomic():
                    names = [*ticket.tags.values_list("name", flat=True), str(value)]
                    ticket_set_tags(ticket=ticket, actor=actor, names=names)
            else:
                raise InvalidTransition(f"Unknown bulk action {action!r}.")
        except InvalidTransition:
            continue
        done += 1
    return done


# --- canned responses and macros -------------------------------------------------------

PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-z_]+)\.([a-z_]+)\s*\}\}")


def canned_render(*, body: str, ticket: Ticket, agent: User | None) -> str:
    """Fill `{{ requester.first_name }}`-style placeholders; unknown ones stay as typed.

    A fixed table of values, not the template engine: a canned body written by any agent
    must not reach arbitrary attributes.
    """
    requester = ticket.requester
    values = {
        ("requester", "first_name"): requester.first_name,
        ("requester", "name"): requester.name or requester.email,
        ("requester", "email"): requester.email,
        ("ticket", "number"): str(ticket.number),
        ("ticket", "subject"): ticket.subject,
        ("account", "name"): ticket.account.name if ticket.account_id else "",
        ("account", "success_manager"): (
            ticket.account.success_manager.username
            if ticket.account_id and ticket.account.success_manager_id
            else ""
        ),
        ("agent", "first_name"): (agent.first_name or agent.username) if agent else "",
        ("agent", "name"): (agent.get_full_name() or agent.username) if agent else "",
    }

    def fill(match: re.Match[str]) -> str:
        value = values.get((match.group(1), match.group(2)))
        return match.group(0) if value is None else value

    return PLACEHOLDER_RE.sub(fill, body)


@transaction.atomic
def macro_apply(*, ticket: Ticket, macro: Macro, actor: User) -> Message | None:
    """Run a macro: post its canned reply (if any) and apply its field changes."""
    message = None
    if macro.canned_response_id is not None:
        body = canned_render(body=macro.canned_response.body, ticket=ticket, agent=actor)
        message = reply_create(ticket=ticket, author=actor, body_text=body)
    if macro.set_priority:
        ticket_set_priority(ticket=ticket, actor=actor, priority=macro.set_priority)
    if macro.set_team_id is not None:
        ticket_set_team(ticket=ticket, actor=actor, team=macro.set_team)
    if macro.add_tags:
        names = [*ticket.tags.values_list("name", flat=True), *macro.add_tags]
        ticket_set_tags(ticket=ticket, actor=actor, names=names)
    if macro.set_status:
        ticket_set_status(ticket=ticket, actor=actor, status=macro.set_status)
    return message


# --- presence (collision detection) ----------------------------------------------------

PRESENCE_TTL_SECONDS = 20  # the page polls every 5 s; a closed tab fades within 20 s


def presence_touch(*, ticket_id: int, user: User, is_typing: bool = False) -> None:
    """Record that `user` is viewing (or writing on) the ticket, in the cache with a TTL.

    Presence is ephemeral: losing it (cache flush) only hides a hint, so no DB row.
    """
    key = f"presence:{ticket_id}"
    entry = {
        "id": user.pk,
        "name": user.get_full_name() or user.username,
        "typing": is_typing,
        "at": timezone.now().timestamp(),
    }
    cache.set(f"{key}:{user.pk}", entry, PRESENCE_TTL_SECONDS)
    # The member list may race with another viewer's write; a lost id reappears on the
    # next poll, 5 s later, which is all the precision presence needs.
    members = set(cache.get(key) or ()) | {user.pk}
    cache.set(key, sorted(members), PRESENCE_TTL_SECONDS * 3)


def _attachment_create(*, message: Message, upload: UploadedFile) -> Attachment:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    # Only the base name is kept: a path in an uploaded name must not reach storage.
    name = (upload.name or "attachment").replace("\\", "/").rsplit("/", 1)[-1][:255]
    return Attachment.objects.create(
        message=message,
        file=upload,
        filename=name,
        content_type=(upload.content_type or "application/octet-stream")[:255],
        size=upload.size,
        sha256=digest.hexdigest(),
    )


# --- saved views -----------------------------------------------------------------------


@transaction.atomic
def saved_view_create(
    *, owner: User, name: str, filters: dict[str, str], sort: str, team: Team | None = None
) -> SavedView:
    """Save the current list filter, for the owner alone or shared with one of their teams."""
    if team is not None and not team.memberships.filter(user=owner).exists():
        raise InvalidTransition("You can only share a view with a team you belong to.")
    return SavedView.objects.create(
        name=name.strip()[:100],
        owner=None if team else owner,
        team=team,
        filters={k: v for k, v in filters.items() if k not in ("sort", "cursor")},
        sort=sort,
    )
