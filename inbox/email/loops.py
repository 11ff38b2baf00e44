"""Recognise machine-sent mail (RFC 3834 and de-facto signals) and delivery reports.

Auto-submitted mail is still stored, but never answered automatically, never reopens a
ticket and never notifies anyone. A bounce (RFC 3464 DSN) of our own mail marks that
outbound message failed instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage

_MSGID_RE = re.compile(r"<[^<>\s]{1,900}>")
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
_BOUNCE_SUBJECT_RE = re.compile(
    r"(?i)undeliver|delivery (status notification|failure|has failed)|returned mail|"
    r"failure notice|mail delivery failed"
)


@dataclass
class LoopSignals:
    auto_reason: str = ""  # why this is machine mail ("" for a person)
    is_bounce: bool = False
    bounced_message_ids: list[str] = field(default_factory=list)
    bounce_reason: str = ""
    null_return_path: bool = False
    original_message_ids: list[str] = field(default_factory=list)  # what an MDN is about

    @property
    def is_auto(self) -> bool:
        return bool(self.auto_reason)


def _get(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:
        value = next((raw for key, raw in msg.raw_items() if key.lower() == name.lower()), None)
    return "" if value is None else " ".join(str(value).split())


def loop_signals(msg: EmailMessage, *, from_email: str) -> LoopSignals:
    """Read the headers that mark mail as automatic, and any bounce report in it."""
    signals = LoopSignals()
    reasons = []
    auto = _get(msg, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        reasons.append(f"Auto-Submitted: {auto}")
    precedence = _get(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        reasons.append(f"Precedence: {precedence}")
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply"):
        value = _get(msg, name).lower()
        if value and value not in ("no", "false", "0"):
            reasons.append(name)
    for name in ("List-Id", "List-Unsubscribe", "List-Post"):  # RFC 2369 / 2919 list mail
        if _get(msg, name):
            reasons.append(name)
            break
    return_paths = []
    try:
        return_paths = [str(v) for v in (msg.get_all("Return-Path") or [])]
    except Exception:
        return_paths = [str(v) for k, v in msg.raw_items() if k.lower() == "return-path"]
    if return_paths and return_paths[-1].strip() in ("<>", ""):
        signals.null_return_path = True
        reasons.append("empty Return-Path")
    content_type = msg.get_content_type()
    report_type = (msg.get_param("report-type") or "") if content_type else ""
    report_type = str(report_type).lower()
    local_part = from_email.partition("@")[0].lower()
    if content_type == "multipart/report" and report_type == "disposition-notification":
        reasons.append("read receipt (MDN)")
        signals.original_message_ids = _original_ids(msg)
    elif (content_type == "multipart/report" and report_type == "delivery-status") or (
        local_part in _BOUNCE_SENDERS and _BOUNCE_SUBJECT_RE.search(_get(msg, "Subject"))
    ):
        signals.is_bounce = True
        reasons.append("delivery status notification")
        _read_bounce(msg, signals)
    elif local_part in _BOUNCE_SENDERS:
        reasons.append(f"sent by {local_part}")
    signals.auto_reason = "; ".join(reasons)
    return signals


def _original_ids(msg: EmailMessage) -> list[str]:
    """Original-Message-ID of a read receipt (RFC 8098), so it joins its thread."""
    for part in msg.walk():
        if part.get_content_type() == "message/disposition-notification":
            try:
                text = part.as_string()
            except Exception:  # unreadable report part: no thread hint
                return []
            return re.findall(r"(?im)^original-message-id:\s*(<[^<>\s]+>)", text)[:5]
    return []


def _read_bounce(msg: EmailMessage, signals: LoopSignals) -> None:
    """Find the Message-IDs the bounce is about and the diagnostic a person can read."""
    ids: list[str] = []
    diagnostic = ""
    for part in msg.walk():
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "text/rfc822-headers"):
            try:
                text = part.as_string()
            except Exception:
                text = ""
            match = re.search(r"(?im)^message-id:\s*(<[^<>\s]+>)", text)
            if match:
                ids.append(match.group(1))
        elif content_type == "message/delivery-status" and not diagnostic:
            try:
                text = part.as_string()
            except Exception:
                text = ""
            status = re.search(r"(?im)^status:\s*(\S+)", text)
            code = re.search(r"(?im)^diagnostic-code:\s*(.+(?:\n[ \t].+)*)", text)
            diagnostic = " ".join(
                x
                for x in (status and status.group(1), code and " ".join(code.group(1).split()))
                if x
            )
    for name in ("In-Reply-To", "References"):
        ids += _MSGID_RE.findall(_get(msg, name))
    if not ids:
        # Some MTAs quote the original headers in the text part only.
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                try:
                    text = part.get_content()
                except Exception:  # undecodable text part: nothing to read there
                    text = ""
                ids += re.findall(r"(?im)^\s*message-id:\s*(<[^<>\s]+>)", text)
    signals.bounced_message_ids = list(dict.fromkeys(ids))
    signals.bounce_reason = diagnostic[:500] or "delivery failed (bounce)"


def sender_verified(msg: EmailMessage, *, from_email: str, trusted: list[str]) -> bool | None:
    """Did our own MTA see an aligned DMARC (or DKIM) pass for the From domain? (RFC 8601)

    None when no trusted authserv-id is configured. Only the topmost header carrying a
    trusted authserv-id counts: our MTA prepends its own, and anything below it came with
    the mail and may be forged.
    """
    if not trusted:
        return None
    domain = from_email.rpartition("@")[2].lower()
    try:
        values = [str(v) for v in (msg.get_all("Authentication-Results") or [])]
    except Exception:
        values = [str(v) for k, v in msg.raw_items() if k.lower() == "authentication-results"]
    wanted = {t.lower() for t in trusted}
    for value in values:
        authserv = (value.split(";", 1)[0].split() or [""])[0].lower()
        if authserv not in wanted:
            continue
        text = " ".join(value.split()).lower()
        dmarc = re.search(r"\bdmarc=pass\b[^;]*?header\.from=([^\s;]+)", text)
        if dmarc and _aligned(dmarc.group(1), domain):
            return True
        return any(
            _aligned(d, domain) for d in re.findall(r"\bdkim=pass\b[^;]*?header\.d=([^\s;]+)", text)
        )
    return False


def _aligned(signer: str, domain: str) -> bool:
    """Relaxed alignment (RFC 7489 3.1): the same domain or one a subdomain of the other."""
    signer = signer.strip().lower().rstrip(".")
    return bool(domain) and (
        signer == domain or domain.endswith("." + signer) or signer.endswith("." + domain)
    )
