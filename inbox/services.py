"""Writes for the inbox: one function per user-visible action, each in a transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from accounts.models import Contact
from accounts.services import metrics_mark_dirty
from accounts.surveys import surveys_on_solve
from helpdesk.models import Mailbox, Priority, Team, User
from notes.models import NotificationKind
from notes.notify import notify

from .models import (
    DONE_STATUSES,
    Channel,
    Direction,
    EventKind,
    Message,
    Status,
    Tag,
    Ticket,
    TicketAccess,
    TicketEvent,
)

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


def _search_append(*, ticket_id: int, text: str) -> None:
    """Add one new body to the vector without re-reading the whole thread."""
    if connection.vendor != "postgresql" or not text:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inbox_ticket SET search_vector = coalesce(search_vector, ''::tsvector)"
            " || setweight(to_tsvector('english', left(%s, %s)), 'B') WHERE id = %s",
            [text, SEARCH_BODY_LIMIT, ticket_id],
        )


def _apply_status_facts(ticket: Ticket, new_status: str, now: datetime) -> list[str]:
    """Record solved/closed/reopen facts for a status change; return the changed fields."""
    old = ticket.status
    ticket.status = new_status
    ticket.status_changed_at = now
    fields = ["status", "status_changed_at"]
    if new_status in DONE_STATUSES and old not in DONE_STATUSES:
        ticket.solved_at = now  # the latest solve counts (reopening extends resolution)
        fields.append("solved_at")
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


@transaction.atomic
def ticket_create(
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
) -> Ticket:
    """Open a ticket with the requester's first message, as every channel does."""
    now = created_at or timezone.now()
    if team is None and mailbox is not None:
        team = mailbox.team
    ticket = Ticket.objects.create(
        number=ticket_next_number(),
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
    )
    _message_create_inbound(ticket=ticket, contact=requester, content=content, now=now)
    if tags:
        ticket_set_tags(ticket=ticket, actor=created_by, names=tags, record=False)
    event_record(
        ticket=ticket,
        actor=created_by,
        kind=EventKind.CREATED,
        data={"channel": channel, "follow_up_of": follow_up_of.number if follow_up_of else None},
    )
    if follow_up_of is not None:
        event_record(
            ticket=follow_up_of,
            actor=None,
            kind=EventKind.FOLLOW_UP,
            data={"ticket": ticket.number},
        )
    ticket_search_refresh(ticket_id=ticket.pk)
    metrics_mark_dirty(account_id=ticket.account_id)
    from api.webhooks import ticket_payload, webhook_emit  # lazy: api sits above inbox

    webhook_emit("ticket.created", ticket_payload(ticket))
    _run_rules(kind="ticket_created", ticket=ticket, event_key="created")
    return ticket


def _message_create_inbound(
    *, ticket: Ticket, contact: Contact, content: InboundContent, now: datetime
) -> Message:
    return Message.objects.create(
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


@transaction.atomic
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
    ticket.save(update_fields=sorted(set(fields)))
    ticket_touch(ticket=ticket)
    _search_append(ticket_id=ticket.pk, text=content.body_text)
    recipients = [] if is_automatic else _watchers(ticket)
    notify(
        recipients=recipients,
        kind=NotificationKind.CUSTOMER_REPLIED,
        ticket=ticket,
        actor=None,
        text=f"{contact} replied on #{ticket.number}",
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
        if ticket.status == Status.NEW and new_status is None:
            new_status = Status.OPEN
    if new_status and new_status != ticket.status:
        old = ticket.status
        fields += _apply_status_facts(ticket, new_status, now)
        event_record(
            ticket=ticket, actor=author, kind=EventKind.STATUS, data={"from": old, "to": new_status}
        )
    ticket.save(update_fields=sorted(set(fields)))
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
    ticket.save(update_fields=["priority", "updated_at"])
    event_record(
        ticket=ticket, actor=actor, kind=EventKind.PRIORITY, data={"from": old, "to": priority}
    )
    from api.webhooks import ticket_payload, webhook_emit  # lazy: api sits above inbox

    webhook_emit("ticket.updated", ticket_payload(ticket, changes={"priority": [old, priority]}))
    return ticket


@transaction.atomic
def ticket_take(*, ticket: Ticket, user: User) -> Ticket:
    """Assign the ticket to `user`; a concurrent taker waits on the row lock and loses."""
    ticket = (
        Ticket.objects.select_for_update(of=("self",)).select_related("assignee").get(pk=ticket.pk)
    )
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
    ticket.save(update_fields=["team", "updated_at"])
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
