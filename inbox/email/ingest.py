"""The one entry point for inbound mail: IMAP, `ingest_email`, the HTTP hook all call it.

Order matters for "nothing lost":
1. the raw bytes are committed as an `InboundEmail` row first, keyed by Message-ID (or a
   hash of the bytes), so a second delivery of the same mail is recognised and skipped;
2. parsing and threading run in a second transaction; if anything in it fails, the mail
   becomes a ticket flagged `is_unparsed` with the raw source attached;
3. only then may a caller tell its source (IMAP) that the mail is done.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.utils import timezone

from accounts.models import Contact
from accounts.services import contact_get_or_create, contact_resolve
from helpdesk.db import insert_fields, insert_values, row_update
from helpdesk.models import Mailbox
from helpdesk.services import config_cached, config_snapshot
from inbox.models import (
    Attachment,
    Channel,
    InboundEmail,
    InboundStatus,
    Message,
    OutboundEmail,
    Status,
    Ticket,
    TicketCC,
)
from inbox.services import (
    InboundContent,
    message_add_inbound,
    nav_counts_batched,
    ticket_create_with_message,
)

from .parse import (
    ParsedAttachment,
    ParsedEmail,
    ParseError,
    clean_text,
    conversation_keys,
    message_key_for,
    parse_email,
)
from .quotes import mail_split
from .threading import (
    thread_match,
    ticket_for_subject_token,
    ticket_resolve_merged,
)

logger = logging.getLogger(__name__)

UNKNOWN_SENDER = "unknown-sender@tandem.invalid"
RAW_PREVIEW_CHARS = 20_000


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


@dataclass(frozen=True)
class IngestResult:
    inbound_id: int
    status: str
    is_duplicate: bool = False
    ticket_id: int | None = None
    message_id: int | None = None
    created_ticket: bool = False
    reason: str = ""


def email_ingest(
    *, raw: bytes, mailbox: Mailbox | None = None, source: str = "file"
) -> IngestResult:
    """Store `raw` (once per Message-ID) and turn it into a ticket message.

    Raises only when the database cannot store the raw bytes; every problem with the
    mail itself ends as a flagged ticket or an ignored row with its reason.
    """
    return email_ingest_many(raws=[raw], mailbox=mailbox, source=source)[0]


def email_ingest_many(
    *,
    raws: Sequence[bytes],
    mailbox: Mailbox | None = None,
    source: str = "file",
    workers: int | None = None,
) -> list[IngestResult]:
    """Commit a batch of raw mails in one INSERT, then process each in its own transaction.

    The poller's path: one store (and commit) per fetched batch instead of per mail. When
    processing fails after the commit, the rest stay `received` for the next poll or the
    inbound sweep; nothing stored is lost.

    `workers` (default settings.EMAIL_INGEST_WORKERS) threads process the batch, each on
    its own connection: the database's half of one mail overlaps the Python half of
    another. Mails tied by sender or Message-ID keep their order on one worker. Inside an
    open transaction (whose rows other connections cannot see) the batch runs in order.
    """
    stored = inbound_store_many(raws=[bytes(raw) for raw in raws], mailbox=mailbox, source=source)
    if workers is None:
        workers = _setting("EMAIL_INGEST_WORKERS", 2)
    lanes = min(workers, len(stored))
    if lanes > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        return _after_store_parallel(stored, lanes)
    with nav_counts_batched():  # one count bump for the batch, after its last commit
        return [_after_store_one(inbound, created) for inbound, created in stored]


def _after_store_one(inbound: InboundEmail, created: bool) -> IngestResult:
    with config_snapshot():  # one check of the cached configuration per mail
        return _after_store(inbound, created=created)


def _after_store_parallel(
    stored: list[tuple[InboundEmail, bool]], lanes: int
) -> list[IngestResult]:
    """Process `stored` on `lanes` threads (this one included); results in input order.

    A database failure stops only its own lane (its mails stay `received` for the sweep)
    and is raised once every lane has finished, as the one-lane path raises it.
    """
    results: list[IngestResult | None] = [None] * len(stored)
    failures: list[BaseException] = []

    def run(indexes: list[int], *, own_connection: bool) -> None:
        try:
            for index in indexes:
                inbound, created = stored[index]
                results[index] = _after_store_one(inbound, created)
        except BaseException as exc:  # re-raised in the calling thread
            failures.append(exc)
        finally:
            if own_connection:
                connections.close_all()  # this thread's connection ends with it

    lane_indexes = _lanes(stored, lanes)
    with nav_counts_batched():
        threads = [
            threading.Thread(
                # A copy of this context: the batch's pending count bump is shared.
                target=contextvars.copy_context().run,
                args=(run, indexes),
                kwargs={"own_connection": True},
                name=f"ingest-lane-{number}",
            )
            for number, indexes in enumerate(lane_indexes[1:], start=1)
        ]
        for thread in threads:
            thread.start()
        run(lane_indexes[0], own_connection=False)
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    return [result for result in results if result is not None]


def _lanes(stored: list[tuple[InboundEmail, bool]], lanes: int) -> list[list[int]]:
    """Split the batch into `lanes` ordered index lists; tied mails share a lane.

    Mails are tied (union-find) by a sender, a Message-ID or a stored row in common, so
    a reply never overtakes its original and two mails never make the same contact.
    """
    parent = list(range(len(stored)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    first_with: dict[str, int] = {}
    for index, (inbound, _created) in enumerate(stored):
        keys = conversation_keys(bytes(inbound.raw)) | {f"row:{inbound.pk}"}
        for key in keys:
            other = first_with.setdefault(key, index)
            parent[root(index)] = root(other)
    groups: dict[int, list[int]] = {}
    for index in range(len(stored)):
        groups.setdefault(root(index), []).append(index)
    # Largest groups first, each to the least loaded lane: lanes finish close together.
    buckets: list[list[int]] = [[] for _ in range(lanes)]
    for group in sorted(groups.values(), key=len, reverse=True):
        min(buckets, key=len).extend(group)
    return [sorted(bucket) for bucket in buckets if bucket]


def _after_store(inbound: InboundEmail, *, created: bool) -> IngestResult:
    if not created:
        if inbound.status != InboundStatus.RECEIVED:
            return replace(_result(inbound, is_duplicate=True), reason="already received")
        # A re-delivery of mail not yet processed: the stored bytes decide (they may differ).
        return inbound_process(inbound_id=inbound.pk)

    def lock() -> InboundEmail:
        # We hold the row we just stored; lock it against the sweep without reading it
        # back (ORM-compiling a join to the mailbox cost more than the SQL).
        if not _inbound_lock_received(inbound.pk):
            return InboundEmail.objects.get(pk=inbound.pk)  # processed meanwhile
        inbound.mailbox = _mailbox_cached(inbound.mailbox_id)
        return inbound

    return _process_row(inbound.pk, lock)


def _inbound_lock_received(inbound_id: int) -> bool:
    """Lock a stored row; False when another worker has processed it meanwhile."""
    if connection.vendor != "postgresql":  # SQLite serialises writers: nothing to lock
        return InboundEmail.objects.filter(pk=inbound_id, status=InboundStatus.RECEIVED).exists()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status FROM inbox_inboundemail WHERE id = %s FOR UPDATE", [inbound_id]
        )
        row = cursor.fetchone()
    return row is not None and row[0] == InboundStatus.RECEIVED


def _mailbox_cached(mailbox_id: int | None) -> Mailbox | None:
    """The mailbox with its team, from the configuration cache (retired on any save)."""
    if mailbox_id is None:
        return None
    return config_cached(
        f"mailbox:{mailbox_id}",
        lambda: Mailbox.objects.select_related("team").filter(pk=mailbox_id).first(),
    )


def inbound_store(*, raw: bytes, mailbox: Mailbox | None, source: str) -> tuple[InboundEmail, bool]:
    """Commit the raw bytes; the unique message_key makes a re-delivery a no-op."""
    return inbound_store_many(raws=[raw], mailbox=mailbox, source=source)[0]


def inbound_store_many(
    *, raws: Sequence[bytes], mailbox: Mailbox | None, source: str
) -> list[tuple[InboundEmail, bool]]:
    """Commit the raw bytes of each mail: (its row, whether this call stored it), in order."""
    if not raws:
        return []
    with transaction.atomic():
        # Not autocommit: a poller killed while its INSERT waits must not commit the rows.
        if connection.vendor == "postgresql":
            return _inbound_insert(raws=raws, mailbox=mailbox, source=source)
        return [_inbound_get_or_create(raw=raw, mailbox=mailbox, source=source) for raw in raws]


def _inbound_insert(
    *, raws: Sequence[bytes], mailbox: Mailbox | None, source: str
) -> list[tuple[InboundEmail, bool]]:
    """One INSERT .. ON CONFLICT DO NOTHING for the batch (get_or_create took a SELECT and
    a savepoint per mail); a key met twice in the batch is stored once."""
    now = timezone.now()
    rows = [
        InboundEmail(
            created_at=now,
            updated_at=now,
            message_key=message_key_for(raw),
            raw=raw,
            sha256=hashlib.sha256(raw).hexdigest(),
            size=len(raw),
            mailbox=mailbox,
            source=source[:16],
        )
        for raw in raws
    ]
    fields = insert_fields(InboundEmail)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = [value for row in rows for value in insert_values(row, fields, add=False)]
    table = connection.ops.quote_name(InboundEmail._meta.db_table)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([one_row] * len(rows))}"  # noqa: S608 - _meta names
    with connection.cursor() as cursor:
        cursor.execute(
            f"{sql} ON CONFLICT (message_key) DO NOTHING RETURNING id, message_key", values
        )
        inserted = {key: pk for pk, key in cursor.fetchall()}
    missing = {row.message_key for row in rows} - inserted.keys()
    # Re-deliveries: the stored rows decide.
    existing = {r.message_key: r for r in InboundEmail.objects.filter(message_key__in=missing)}
    stored: list[tuple[InboundEmail, bool]] = []
    ours: dict[str, InboundEmail] = {}
    for row in rows:
        key = row.message_key
        if key in ours:  # twice in this batch: the first copy's row (and, later, its fate)
            stored.append((ours[key], False))
        elif key in inserted:
            row.pk = inserted[key]
            row._state.adding = False
            row._state.db = connection.alias
            ours[key] = row
            stored.append((row, True))
        else:
            stored.append((existing[key], False))
    return stored


def _inbound_get_or_create(
    *, raw: bytes, mailbox: Mailbox | None, source: str
) -> tuple[InboundEmail, bool]:
    return InboundEmail.objects.get_or_create(
        message_key=message_key_for(raw),
        defaults={
            "raw": raw,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "size": len(raw),
            "mailbox": mailbox,
            "source": source[:16],
        },
    )


def inbound_process(*, inbound_id: int) -> IngestResult:
    """Parse and thread one stored mail; idempotent (a processed row is left alone)."""

    def lock() -> InboundEmail:
        # Two workers (poller and sweep) may reach the same row: one processes it.
        return (
            InboundEmail.objects.select_for_update(of=("self",))
            .select_related("mailbox__team")
            .get(pk=inbound_id)
        )

    return _process_row(inbound_id, lock)


def _process_row(inbound_id: int, lock: Callable[[], InboundEmail]) -> IngestResult:
    """Lock one stored mail, process it and mark it done, in one transaction.

    No savepoint around the processing (two round trips a mail): when it fails, the whole
    transaction rolls back and the mail is locked again and flagged in a second one.
    """
    try:
        with transaction.atomic():
            inbound = lock()
            if inbound.status != InboundStatus.RECEIVED:
                return _result(inbound, is_duplicate=True)
            return _finish(inbound, _process(inbound))
    except (OperationalError, InterfaceError):
        # The database, not the mail, failed: leave the raw row `received` so the next
        # poll or the inbound sweep tries again, instead of flagging good mail.
        raise
    except Exception as exc:
        logger.exception("inbound mail %s could not be processed", inbound_id)
        reason = f"processing failed: {type(exc).__name__}: {exc}"[:1000]
    with transaction.atomic():
        inbound = lock()
        if inbound.status != InboundStatus.RECEIVED:
            return _result(inbound, is_duplicate=True)
        try:
            with transaction.atomic():
                outcome = _flag_unparsed(inbound, parsed=None, reason=reason)
        except Exception as exc2:
            logger.exception("inbound mail %s could not be flagged", inbound.pk)
            outcome = _Outcome(
                status=InboundStatus.FAILED,
                reason=f"{reason}; flagging failed: {type(exc2).__name__}: {exc2}"[:2000],
            )
        return _finish(inbound, outcome)


def _finish(inbound: InboundEmail, outcome: _Outcome) -> IngestResult:
    inbound.status = outcome.status
    inbound.error = clean_text(outcome.reason)
    inbound.ticket_id = outcome.ticket_id
    inbound.message_id = outcome.message_id
    inbound.processed_at = timezone.now()
    row_update(inbound, ["status", "error", "ticket", "message", "processed_at"])
    result = _result(inbound, is_duplicate=False)
    return replace(result, created_ticket=outcome.created_ticket)


def _result(inbound: InboundEmail, *, is_duplicate: bool) -> IngestResult:
    return IngestResult(
        inbound_id=inbound.pk,
        status=inbound.status,
        is_duplicate=is_duplicate,
        ticket_id=inbound.ticket_id,
        message_id=inbound.message_id,
        reason=inbound.error,
    )


@dataclass
class _Outcome:
    status: str
    reason: str = ""
    ticket_id: int | None = None
    message_id: int | None = None
    created_ticket: bool = False


def _our_addresses() -> set[str]:
    stored = config_cached(
        "mailbox:addresses",
        lambda: frozenset(a.lower() for a in Mailbox.objects.values_list("email", flat=True)),
    )
    return {*stored, settings.DEFAULT_FROM_EMAIL.lower()}


def _process(inbound: InboundEmail) -> _Outcome:
    from inbox.outbound import acknowledgement_enqueue, outbound_mark_bounced

    raw = bytes(inbound.raw)
    if len(raw) > _setting("EMAIL_MAX_MESSAGE_BYTES", 50 * 1024 * 1024):
        return _flag_unparsed(inbound, parsed=None, reason=f"message too large ({len(raw)} B)")
    try:
        parsed = parse_email(raw)
    except ParseError as exc:
        return _flag_unparsed(inbound, parsed=None, reason=str(exc))
    if not parsed.from_email:
        return _flag_unparsed(inbound, parsed=parsed, reason="no sender address (From)")
    match = thread_match(message_id=parsed.message_id or "", thread_ids=parsed.thread_ids)
    if match.is_known:
        return _Outcome(InboundStatus.IGNORED, "a message with this Message-ID is stored")
    ours = _our_addresses()
    if parsed.from_email.lower() in ours:
        return _Outcome(InboundStatus.IGNORED, "sent from one of our own addresses (loop)")
    loop = parsed.loop
    if loop.is_bounce and loop.bounced_message_ids:
        marked = outbound_mark_bounced(
            message_ids=loop.bounced_message_ids, reason=loop.bounce_reason
        )
        if marked:
            return _Outcome(InboundStatus.IGNORED, f"bounce of our mail: {loop.bounce_reason}")

    if match.notification_id is not None:
        notification = OutboundEmail.objects.select_related("ticket").get(pk=match.notification_id)
        return _staff_reply_as_note(notification, parsed)

    mailbox = inbound.mailbox or _mailbox_for(parsed)
    ticket = None
    if match.ticket_id is not None:
        ticket = Ticket.objects.select_related("requester").get(pk=match.ticket_id)
    if ticket is None and parsed.sender_verified is not False:
        # The subject token trusts the From address: not when our MTA says it is forged.
        ticket = ticket_for_subject_token(subject=parsed.subject, sender_email=parsed.from_email)
    if parsed.sender_verified is False:
        parsed.notes.append("sender not verified (no aligned DMARC/DKIM pass from our MTA)")
    contact, new_sender = contact_resolve(email=parsed.from_email, name=parsed.from_name)
    content = _content(parsed, raw=None)
    created_ticket = False
    if ticket is not None:
        ticket = ticket_resolve_merged(ticket)
    if ticket is not None and ticket.status != Status.CLOSED:
        message = message_add_inbound(
            ticket=ticket, contact=contact, content=content, is_automatic=loop.is_auto
        )
    else:
        is_limited, newest = _sender_over_limit(contact, is_new=new_sender)
        if is_limited:
            return _limited_outcome(newest, contact=contact, content=content, parsed=parsed)
        ticket, message = ticket_create_with_message(
            requester=contact,
            subject=parsed.subject,
            content=content,
            channel=Channel.EMAIL,
            mailbox=mailbox,
            follow_up_of=ticket,  # a closed ticket gets a linked follow-up
        )
        created_ticket = True
    if loop.is_auto:  # shown as an auto-reply; never counts as the customer talking
        Message.objects.filter(pk=message.pk).update(is_automatic=True)
    _attachments_save(message=message, attachments=parsed.attachments)
    if created_ticket or _is_participant(ticket, parsed.from_email):
        _ccs_save(ticket=ticket, parsed=parsed, ours=ours)
    if (
        created_ticket
        and mailbox is not None
        and mailbox.auto_acknowledge
        and not loop.is_auto
        and not loop.is_bounce
    ):
        acknowledgement_enqueue(ticket=ticket, mailbox=mailbox)
    return _Outcome(
        InboundStatus.PROCESSED,
        "; ".join([*parsed.notes, loop.auto_reason]).strip("; "),
        ticket_id=ticket.pk,
        message_id=message.pk,
        created_ticket=created_ticket,
    )


def _staff_reply_as_note(notification: OutboundEmail, parsed: ParsedEmail) -> _Outcome:
    """Keep an e-mailed answer to a staff notification as an internal note, never public.

    The sender is not verified (no trusted DKIM/DMARC result), so the note has no author
    and says who the mail claims to be from; it is not an agent action.
    """
    from notes.services import note_create  # notes sits above inbox; import on use

    if notification.ticket is None:
        return _Outcome(InboundStatus.IGNORED, "reply to a staff notification without ticket")
    text = mail_split(parsed.body_text).body.strip() or "(empty reply)"
    note = note_create(
        ticket=notification.ticket,
        author=None,
        body_markdown=(
            f"E-mail reply to a staff notification from {parsed.from_email}"
            f" (sender not verified):\n\n{text}"
        ),
    )
    return _Outcome(
        InboundStatus.PROCESSED,
        f"reply to a staff notification: kept as internal note {note.pk}",
        ticket_id=notification.ticket_id,
    )


def _limited_outcome(
    ticket: Ticket | None, *, contact: Contact, content: InboundContent, parsed: ParsedEmail
) -> _Outcome:
    """A sender over the ticket limit: keep the mail on their newest ticket, quietly."""
    reason = "sender rate limit: no new ticket"
    if ticket is None or ticket.status == Status.CLOSED:
        return _Outcome(InboundStatus.IGNORED, f"{reason}; raw kept for replay")
    notes = "; ".join(filter(None, [content.parse_notes, reason]))
    content = replace(content, parse_notes=notes)
    message = message_add_inbound(
        ticket=ticket, contact=contact, content=content, is_automatic=True
    )
    _attachments_save(message=message, attachments=parsed.attachments)
    return _Outcome(InboundStatus.PROCESSED, reason, ticket_id=ticket.pk, message_id=message.pk)


def _sender_over_limit(contact: Contact, *, is_new: bool) -> tuple[bool, Ticket | None]:
    """Whether the sender opened too many tickets lately, and their newest ticket."""
    limit = _setting("EMAIL_SENDER_TICKET_LIMIT", 20)
    if is_new and limit > 0:  # a sender seen for the first time has opened nothing yet
        return False, None
    window = timezone.now() - timedelta(
        seconds=_setting("EMAIL_SENDER_TICKET_WINDOW_SECONDS", 3600)
    )
    if _recent_ticket_count(requester_id=contact.pk, since=window, cap=limit) < limit:
        return False, None
    recent = Ticket.objects.filter(requester=contact, created_at__gte=window)
    return True, recent.order_by("-created_at").first()


def _recent_ticket_count(*, requester_id: int, since: datetime, cap: int) -> int:
    """How many tickets the sender opened since `since`, counted up to `cap`.

    Asked for every mail from a known sender: plain SQL on PostgreSQL, where compiling
    the ORM count cost more than running it (a range scan of inbox_ticket_requester_idx).
    """
    if connection.vendor != "postgresql":
        recent = Ticket.objects.filter(requester_id=requester_id, created_at__gte=since)
        return recent.order_by()[:cap].count()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM inbox_ticket"
            " WHERE requester_id = %s AND created_at >= %s LIMIT %s) recent",
            [requester_id, since, cap],
        )
        return int(cursor.fetchone()[0])


def _mailbox_for(parsed: ParsedEmail) -> Mailbox | None:
    """For mail not fetched from a mailbox (file, stdin): the mailbox it was sent to."""
    for address in [*parsed.to, *parsed.cc]:
        mailbox = Mailbox.objects.filter(email__iexact=address, is_active=True).first()
        if mailbox is not None:
            return mailbox
    return None


def _content(parsed: ParsedEmail, *, raw: bytes | None, unparsed: bool = False) -> InboundContent:
    message_id = parsed.message_id
    if unparsed and message_id and Message.objects.filter(message_id=message_id).exists():
        message_id = None  # a flagged copy must not trip the unique Message-ID
    return InboundContent(
        body_text=parsed.body_text,
        body_html=parsed.body_html,
        subject=parsed.subject,
        from_email=parsed.from_email,
        to=tuple(parsed.to),
        cc=tuple(parsed.cc),
        message_id=message_id,
        in_reply_to=parsed.in_reply_to,
        references=" ".join(parsed.references),
        raw_source=raw,
        is_unparsed=unparsed,
        parse_notes="; ".join(parsed.notes)[:5000],
    )


def _flag_unparsed(inbound: InboundEmail, *, parsed: ParsedEmail | None, reason: str) -> _Outcome:
    """Keep mail we cannot handle as a flagged ticket, raw source attached."""
    raw = bytes(inbound.raw)
    if parsed is not None:
        content = _content(parsed, raw=raw, unparsed=True)
        notes = "; ".join(filter(None, [reason, content.parse_notes]))
        content = replace(content, parse_notes=notes[:5000])
        sender, name, subject = parsed.from_email, parsed.from_name, parsed.subject
    else:
        preview = clean_text(raw[:RAW_PREVIEW_CHARS].decode("utf-8", "replace"))
        content = InboundContent(
            body_text=preview, raw_source=raw, is_unparsed=True, parse_notes=reason
        )
        sender, name, subject = "", "", ""
    contact = contact_get_or_create(email=sender or UNKNOWN_SENDER, name=name)
    ticket, message = ticket_create_with_message(
        requester=contact,
        subject=subject or "(unreadable e-mail)",
        content=content,
        channel=Channel.EMAIL,
        mailbox=inbound.mailbox,
    )
    _attachments_save(
        message=message,
        attachments=[ParsedAttachment("original.eml", "message/rfc822", raw)],
    )
    return _Outcome(
        InboundStatus.FAILED,
        reason,
        ticket_id=ticket.pk,
        message_id=message.pk,
        created_ticket=True,
    )


def _attachments_save(*, message: Message, attachments: list[ParsedAttachment]) -> None:
    for item in attachments:
        digest = item.sha256
        extension = re.sub(r"[^A-Za-z0-9]", "", item.filename.rpartition(".")[2])[:8]
        storage_name = f"{digest[:32]}.{extension or 'bin'}"  # never the sender's file name
        Attachment.objects.create(
            message=message,
            file=ContentFile(item.data, name=storage_name),
            filename=item.filename[:255],
            content_type=item.content_type[:255],
            size=len(item.data),
            sha256=digest,
            content_id=item.content_id[:998],
            is_inline=item.is_inline,
        )


def _is_participant(ticket: Ticket, address: str) -> bool:
    if ticket.requester.email.lower() == address.lower():
        return True
    return ticket.ccs.filter(email__iexact=address).exists()


def _ccs_save(*, ticket: Ticket, parsed: ParsedEmail, ours: set[str]) -> None:
    """Keep the people copied on the thread; they may reply by subject token."""
    requester = ticket.requester.email.lower()
    wanted = {
        address.lower()
        for address in [*parsed.cc, *parsed.to]
        if address.lower() not in ours and address.lower() != requester
    }
    if not wanted:
        return
    TicketCC.objects.bulk_create(
        [TicketCC(ticket=ticket, email=address) for address in sorted(wanted)],
        ignore_conflicts=True,
    )


def inbound_stuck_ids(*, older_than_seconds: int = 120, limit: int = 200) -> list[int]:
    """Raw mail stored but not processed for a while (the process died in between)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        InboundEmail.objects.filter(status=InboundStatus.RECEIVED, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
