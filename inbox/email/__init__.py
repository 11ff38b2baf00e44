"""The e-mail channel: parse, thread and ingest inbound mail; IMAP polling; loop guards.

Three ways in, one entry point (`ingest.email_ingest`):
- IMAP: beat runs `mail.poll_mailboxes` every minute (`imap.mailbox_poll` per mailbox);
  `manage.py poll_mailboxes` does the same once.
- Files and MTA pipes: `manage.py ingest_email <file.eml | mbox | Maildir | folder | ->`.
- HTTP: `POST /mail/inbound/<mailbox id>/` with the raw MIME as body and the header
  `X-Tandem-Mail-Token` (`manage.py mail_inbound_token <address>` prints it).

Nothing lost: the raw bytes are committed first (`InboundEmail`, unique per Message-ID or
a hash of the bytes), then parsed; any failure becomes a ticket flagged `is_unparsed` with
the raw attached. IMAP mail is flagged \\Seen only after that commit. `mail.sweep_inbound`
processes raw rows a crash left behind.

Modules: `parse` (stdlib parser, charset fallback, limits), `loops` (RFC 3834 signals,
DSN/MDN reading, Authentication-Results), `threading` (Message-IDs, then the subject
token for participants), `quotes` (fold quoted history and signatures), `ingest`, `imap`,
`views` (HTTP hook). Outbound mail lives in `inbox/outbound.py`.

Settings: ATTACHMENT_MAX_BYTES, EMAIL_MAX_MESSAGE_BYTES, EMAIL_SENDER_TICKET_LIMIT /
_WINDOW_SECONDS, EMAIL_ACK_WINDOW_SECONDS, EMAIL_TRUSTED_AUTHSERV_IDS, INBOUND_MAIL_SECRET,
IMAP_CA_FILE (the CA the IMAP poller trusts over TLS instead of the system store).
"""
