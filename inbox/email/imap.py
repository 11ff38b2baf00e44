"""Poll a mailbox over IMAP (imaplib): fetch, store, and only then mark the mail done.

Per message: FETCH with BODY.PEEK (the server's \\Seen flag stays untouched). Each batch
of fetched mail is committed in one INSERT (`email_ingest_many`) and processed, and only
after that the batch is flagged \\Seen on the server and our high-water mark
(`imap_last_uid`) moves. A poller killed anywhere in between re-fetches the mail next
time; the unique message key stores it once, and the inbound sweep processes what was
stored but not processed.

A UIDVALIDITY change (the server renumbered the folder) resets the high-water mark; the
message keys make the re-read import nothing twice. One poller per mailbox at a time
(PostgreSQL advisory lock, released when the process dies).
"""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone

from helpdesk.models import Mailbox

from .ingest import email_ingest_many

logger = logging.getLogger(__name__)

BATCH = 200  # messages per poll; the next poll continues
# Mail stored per INSERT: one commit per batch instead of per mail, memory bounded.
STORE_BATCH = 50
STORE_BATCH_BYTES = 20 * 1024 * 1024
TIMEOUT_SECONDS = 60
_LOCK_NAMESPACE = 7_201_001  # advisory-lock key space of the mail poller


@dataclass
class PollResult:
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    error: str = ""
    skipped: bool = False


@contextmanager
def _poll_lock(mailbox_id: int):
    """Hold a session advisory lock for the mailbox; yield False if another poller has it."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, mailbox_id])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, mailbox_id])


def _tls_context() -> ssl.SSLContext:
    """Verify the server's certificate and host name, always.

    IMAP_CA_FILE (a PEM bundle) replaces the system trust store, for a mail server with a
    private CA or a self-signed certificate; verification is never switched off.
    """
    cafile = getattr(settings, "IMAP_CA_FILE", "") or None
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _connect(mailbox: Mailbox) -> imaplib.IMAP4:
    """IMAPS (993) with TLS on; STARTTLS on port 143 with TLS on; plain only when off."""
    if mailbox.imap_use_tls and mailbox.imap_port == 143:
        client = imaplib.IMAP4(mailbox.imap_host, mailbox.imap_port, timeout=TIMEOUT_SECONDS)
        client.starttls(ssl_context=_tls_context())
    elif mailbox.imap_use_tls:
        client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
            mailbox.imap_host,
            mailbox.imap_port,
            ssl_context=_tls_context(),
            timeout=TIMEOUT_SECONDS,
        )
    else:
        client = imaplib.IMAP4(mailbox.imap_host, mailbox.imap_port, timeout=TIMEOUT_SECONDS)
    client.login(mailbox.imap_user, mailbox.imap_password)
    return client


def _check(response: tuple[str, list], what: str) -> list:
    status, data = response
    if status != "OK":
        raise imaplib.IMAP4.error(f"{what} failed: {status}")
    return data


def _fetched_bytes(data: list) -> bytes | None:
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def mailbox_poll(*, mailbox_id: int, batch: int = BATCH) -> PollResult:
    """Fetch new mail of one mailbox; never raises for server or mail problems."""
    result = PollResult()
    mailbox = Mailbox.objects.filter(pk=mailbox_id, is_active=True).first()
    if mailbox is None or not mailbox.imap_host:
        result.skipped = True
        return result
    with _poll_lock(mailbox.pk) as acquired:
        if not acquired:
            result.skipped = True
            return result
        client = None
        try:
            client = _connect(mailbox)
            _poll(client, mailbox, result, batch)
        except Exception as exc:
            # Never the password in the error: imaplib errors carry server text only.
            result.error = f"{type(exc).__name__}: {exc}"[:1000]
            logger.warning("polling mailbox %s failed: %s", mailbox.pk, result.error)
        finally:
            if client is not None:
                try:
                    client.logout()
                except Exception:
                    logger.info("IMAP logout failed for mailbox %s", mailbox.pk)
        Mailbox.objects.filter(pk=mailbox.pk).update(
            last_polled_at=timezone.now(), last_poll_error=result.error
        )
    return result


def _poll(client: imaplib.IMAP4, mailbox: Mailbox, result: PollResult, batch: int) -> None:
    _check(client.select(_quote(mailbox.imap_folder)), "SELECT")
    uidvalidity_data = client.response("UIDVALIDITY")[1]
    uidvalidity = int(uidvalidity_data[0]) if uidvalidity_data and uidvalidity_data[0] else None
    last_uid = mailbox.imap_last_uid
    if uidvalidity != mailbox.imap_uidvalidity:
        last_uid = 0  # renumbered folder: re-read it; message keys dedupe
        Mailbox.objects.filter(pk=mailbox.pk).update(imap_uidvalidity=uidvalidity, imap_last_uid=0)
    data = _check(client.uid("SEARCH", None, f"UID {last_uid + 1}:*"), "SEARCH")
    # "N:*" always matches the highest UID, even below N: filter.
    uids = sorted(int(uid) for uid in (data[0] or b"").split() if int(uid) > last_uid)[:batch]
    batch_mail: list[tuple[int, bytes]] = []
    batch_bytes = 0
    for uid in uids:
        fetched = _check(client.uid("FETCH", str(uid), "(BODY.PEEK[])"), "FETCH")
        raw = _fetched_bytes(fetched)
        if raw is None:
            continue  # expunged meanwhile
        result.fetched += 1
        batch_mail.append((uid, raw))
        batch_bytes += len(raw)
        if len(batch_mail) >= STORE_BATCH or batch_bytes >= STORE_BATCH_BYTES:
            _ingest_fetched(client, mailbox, result, batch_mail)
            batch_mail, batch_bytes = [], 0
    if batch_mail:
        _ingest_fetched(client, mailbox, result, batch_mail)


def _ingest_fetched(
    client: imaplib.IMAP4, mailbox: Mailbox, result: PollResult, fetched: list[tuple[int, bytes]]
) -> None:
    ingested = email_ingest_many(raws=[raw for _, raw in fetched], mailbox=mailbox, source="imap")
    for ingest in ingested:
        result.stored += 0 if ingest.is_duplicate else 1
        result.duplicates += 1 if ingest.is_duplicate else 0
    # Only now, after the commits, is the mail done on the server and in our mark.
    uids = [uid for uid, _ in fetched]
    _check(client.uid("STORE", ",".join(map(str, uids)), "+FLAGS", "(\\Seen)"), "STORE")
    top = max(uids)
    Mailbox.objects.filter(pk=mailbox.pk, imap_last_uid__lt=top).update(imap_last_uid=top)


def _quote(folder: str) -> str:
    folder = folder or "INBOX"
    if re.fullmatch(r"[A-Za-z0-9._/-]+", folder):
        return folder
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
