"""Turn raw RFC 5322 bytes into a `ParsedEmail`, tolerating what real mail servers send.

The standard library parser (`policy=default`) does the MIME work. Around it: a charset
fallback that never loses the text (declared charset, then UTF-8, then detection, then
Latin-1, which maps every byte), clean-up of raw 8-bit headers and NULs that PostgreSQL
refuses, limits on nesting and part counts, and nh3 for any HTML.
"""

from __future__ import annotations

import codecs
import hashlib
import html
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

import nh3
from django.conf import settings

from helpdesk.sanitize import sanitize_html

from .loops import LoopSignals, loop_signals, sender_verified

MAX_DEPTH = 20  # nested multiparts deeper than this are not walked (poison mail)
MAX_PARTS = 500  # parts beyond this are left in the raw source only
MAX_RECIPIENTS = 50  # addresses kept per header (and so CCs added per mail)
MAX_BODY_CHARS = 1_000_000  # text kept on the message; the raw source keeps the rest
MAX_HTML_CHARS = 2_000_000
MAX_HTML_UNCLOSED = 3_000  # unclosed tags; real mail has a few dozen

_MSGID_RE = re.compile(r"<[^<>\s]{1,900}>")
_ADDRESS_RE = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Bidi overrides and zero-width characters hide a file's real extension (RTLO attacks).
_INVISIBLE_RE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# Undecodable bytes smuggled in by the parser (surrogateescape); a regex, not a Python loop
# over every character of a body.
_SURROGATE_RE = re.compile("[\udc80-\udcff]")


class ParseError(Exception):
    """The bytes could not be understood as a mail message."""


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    is_inline: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class ParsedEmail:
    message_id: str | None
    in_reply_to: str
    references: list[str]
    subject: str
    from_email: str
    from_name: str
    reply_to: str
    to: list[str]
    cc: list[str]
    body_text: str
    body_html: str
    attachments: list[ParsedAttachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    loop: LoopSignals = field(default_factory=LoopSignals)
    # True/False from our trusted MTA's Authentication-Results; None when not configured.
    sender_verified: bool | None = None

    @property
    def thread_ids(self) -> list[str]:
        """In-Reply-To first, then every References entry, newest first (RFC 5322 3.6.4)."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids += [ref for ref in reversed(self.references) if ref not in ids]
        ids += [ref for ref in self.loop.original_message_ids if ref not in ids]
        return ids


# --- text helpers --------------------------------------------------------------------------


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str]:
    """Decode `data`, trying the declared charset first; return (text, note)."""
    declared = (charset or "").strip().strip("\"'").lower()
    if declared:
        try:
            codecs.lookup(declared)
        except LookupError:
            note = f"unknown charset {declared!r}"
        else:
            try:
                return data.decode(declared), ""
            except (UnicodeDecodeError, ValueError):
                note = f"text is not valid {declared}"
    else:
        note = ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return text, (f"{note}; decoded as utf-8" if note else "")
    guessed = _detect_charset(data)
    if guessed and guessed != "ascii":
        try:
            return data.decode(guessed), f"{note or 'no charset'}; detected {guessed}".strip("; ")
        except (UnicodeDecodeError, LookupError):
            pass
    # Latin-1 maps every byte to a character: nothing is lost, the raw source has the rest.
    return data.decode("latin-1"), f"{note or 'undecodable text'}; decoded as latin-1"


_CANDIDATES = [
    "cp1252", "iso8859_15", "cp1250", "iso8859_2", "koi8_r", "cp1251", "iso8859_5", "cp866",
    "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "shift_jis", "euc_jp", "iso2022_jp",
    "gb18030", "big5", "euc_kr",
]  # fmt: skip


def _detect_charset(data: bytes) -> str | None:
    """Guess a legacy charset: statistics for long text, a small heuristic for short text."""
    high = [i for i, byte in enumerate(data) if byte >= 0x80]
    if not high:
        return "ascii"
    if len(high) >= 48:
        try:
            from charset_normalizer import from_bytes

            best = from_bytes(data[:65536], cp_isolation=_CANDIDATES).best()
        except Exception:
            best = None
        if best is not None:
            return best.encoding
    # Short text. Accented Latin letters sit alone inside ASCII words ("Café"); Cyrillic
    # words are runs of high bytes. Between KOI8-R and CP1251, the wrong one flips case.
    paired = sum(
        1
        for i in high
        if (i > 0 and data[i - 1] >= 0x80) or (i + 1 < len(data) and data[i + 1] >= 0x80)
    )
    if paired / len(high) < 0.5:
        return "cp1252"
    scores = {}
    for candidate in ("cp1251", "koi8_r"):
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError:
            continue
        letters = [ch for ch in text if "\u0400" <= ch <= "\u04ff"]
        scores[candidate] = sum(ch.islower() for ch in letters) / max(len(letters), 1)
    return max(scores, key=scores.get) if scores else None


def clean_text(value: str) -> str:
    """Make parser output storable: restore raw 8-bit bytes, drop NULs and control chars."""
    if _has_8bit(value):
        # The parser smuggles undecodable header bytes as surrogates (RFC 6532 UTF-8 or
        # an undeclared legacy charset); turn them back into bytes and decode properly.
        raw = value.encode("utf-8", "surrogateescape")
        value, _note = decode_bytes(raw, None)
    value = value.encode("utf-8", "replace").decode("utf-8")  # any other lone surrogate
    return _CONTROL_RE.sub("", value)


def clean_line(value: str, limit: int = 998) -> str:
    """One header line for display: no CR/LF (no header injection later), trimmed."""
    return " ".join(clean_text(value).split())[:limit]


_TAG_RE = re.compile(r"<[^>]{0,2000}>")
_OPEN_TAG_RE = re.compile(r"<[A-Za-z]")


def _html_is_tractable(markup: str) -> bool:
    """Small enough and shallow enough (opened minus closed tags) to sanitise quickly."""
    if len(markup) > MAX_HTML_CHARS:
        return False
    return len(_OPEN_TAG_RE.findall(markup)) - markup.count("</") <= MAX_HTML_UNCLOSED


def html_to_text(markup: str) -> str:
    """Plain text of an HTML body, for search and for quoting."""
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|</li>|</h\d>", "\n", markup)
    text = html.unescape(nh3.clean(markup, tags=set(), strip_comments=True))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def safe_filename(name: str, content_type: str = "") -> str:
    """A display file name without paths, control or invisible characters (RTLO)."""
    name = unicodedata.normalize("NFKC", clean_text(name or ""))
    name = _INVISIBLE_RE.sub("", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\"'<>:|?*\r\n\t]", "_", name).strip(" .")
    if not name:
        extension = mimetypes.guess_extension(content_type or "") or ".bin"
        name = f"attachment{extension}"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[:190]}.{ext[:9]}" if dot and len(ext) < 10 else name[:200]
    return name


# --- headers -----------------------------------------------------------------------------


def _raw_values(msg: EmailMessage, name: str) -> list[str]:
    return [str(raw) for key, raw in msg.raw_items() if key.lower() == name.lower()]


def _has_8bit(value: str) -> bool:
    return _SURROGATE_RE.search(value) is not None


def header(msg: EmailMessage, name: str) -> str:
    """A header's decoded value (RFC 2047), or its raw value when the parser chokes."""
    raws = _raw_values(msg, name)
    if raws and _has_8bit(raws[0]):
        # Raw 8-bit header: UTF-8 (RFC 6532) or an undeclared legacy charset; the policy
        # would turn the bytes into U+FFFD, so decode them here (clean_text guesses).
        return clean_text(raws[0])
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except Exception:  # malformed header the default policy cannot model
        return raws[0] if raws else ""


def message_ids(value: str) -> list[str]:
    return _MSGID_RE.findall(clean_text(value or ""))


def _first_message_id(value: str) -> str | None:
    ids = message_ids(value)
    if ids:
        return ids[0]
    bare = clean_line(value or "", 900).strip()
    # Some mailers omit the angle brackets; keep an id-like token rather than nothing.
    if bare and " " not in bare and "@" in bare:
        return f"<{bare.strip('<>')}>"
    return None


def valid_address(address: str) -> str:
    address = clean_line(address or "", 320).strip().strip("<>")
    if len(address) > 254 or not _ADDRESS_RE.match(address):
        return ""
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def _addresses(msg: EmailMessage, name: str) -> list[tuple[str, str]]:
    raws = _raw_values(msg, name)
    if any(_has_8bit(raw) for raw in raws):
        values = [clean_text(raw) for raw in raws]
    else:
        try:
            values = [str(v) for v in (msg.get_all(name) or [])]
        except Exception:
            values = raws
    found = []
    for display, address in getaddresses([clean_text(v) for v in values]):
        address = valid_address(address)
        if address:
            found.append((clean_line(display, 200), address))
    return found


# --- the parser ------------------------------------------------------------------------------


class _MemoHeaderRegistry(HeaderRegistry):
    """The standard header registry, remembering the headers it has parsed.

    Parsing header objects is most of the CPU of reading a mail: the MIME code re-parses
    Content-Type for every `get_content_type`, `get_param` or `get_filename`, and most
    mails share their Content-Type, MIME-Version and encoding headers. A header object
    depends only on its name and value and is never changed after parsing, so one may be
    handed out again.
    """

    MAX_ENTRIES = 4096
    MAX_VALUE_CHARS = 2000  # long values (References, Received) are rarely repeated

    def __init__(self) -> None:
        super().__init__()
        self._memo: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: str) -> BaseHeader:
        if len(value) > self.MAX_VALUE_CHARS:
            return super().__call__(name, value)
        key = (name, value)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= self.MAX_ENTRIES:
                self._memo.clear()  # bounded: a flood of unique headers cannot grow it
            found = self._memo[key] = super().__call__(name, value)
        return found


# policy.default with the remembering registry (same classes, same parsing, same output).
PARSE_POLICY = policy.default.clone(header_factory=_MemoHeaderRegistry())


def message_from_bytes(raw: bytes) -> EmailMessage:
    return BytesParser(policy=PARSE_POLICY).parsebytes(raw)


def message_key_for(raw: bytes) -> str:
    """The Message-ID, or a stable id from the bytes, so re-delivery is idempotent."""
    try:
        headers = BytesParser(policy=PARSE_POLICY).parsebytes(raw, headersonly=True)
        found = _first_message_id(header(headers, "Message-ID"))
    except Exception:
        found = None
    if found and len(found) <= 900:
        return found
    return f"<sha256.{hashlib.sha256(raw).hexdigest()}@tandem.invalid>"


def conversation_keys(raw: bytes) -> set[str]:
    """What ties a mail to others in a batch: its sender and the Message-IDs it has or cites.

    Mails sharing a key are processed in order by one worker (a reply after its original,
    a sender's second mail after the first, which makes the contact); the rest may run
    side by side. Headers only, from the parser's memo.
    """
    try:
        headers = BytesParser(policy=PARSE_POLICY).parsebytes(raw, headersonly=True)
        keys = {f"from:{address}" for _, address in _addresses(headers, "From")}
        for name in ("Message-ID", "In-Reply-To", "References"):
            keys.update(f"id:{found}" for found in message_ids(header(headers, name)))
    except Exception:  # unreadable headers: the mail keeps to itself (flagged later)
        return set()
    return keys


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse raw mail bytes. Raises ParseError only when nothing sensible can be read."""
    if not raw or not raw.strip():
        raise ParseError("empty message")
    try:
        msg = message_from_bytes(raw)
    except Exception as exc:  # the stdlib parser is lenient; this is rare
        raise ParseError(f"MIME parser failed: {type(exc).__name__}") from exc

    notes: list[str] = []
    senders = _addresses(msg, "From") or _addresses(msg, "Sender")
    from_name, from_email = senders[0] if senders else ("", "")
    if not from_name and senders:
        from_name = clean_line(parseaddr(header(msg, "From"))[0], 200)
    reply_to = next((addr for _name, addr in _addresses(msg, "Reply-To")), "")
    walker = _Walker(notes)
    walker.visit(msg, 0)
    body_text = "\n\n".join(t for t in walker.texts if t.strip())
    html_src = "\n".join(walker.htmls)
    if html_src and not _html_is_tractable(html_src):
        # The sanitiser's tree building grows with the square of the nesting depth: a
        # poison mail of 50,000 unclosed tags would take minutes. Keep its text only.
        notes.append("HTML too large or too deeply nested; shown as text, kept in the raw")
        if not body_text:
            body_text = html.unescape(_TAG_RE.sub(" ", html_src[:MAX_BODY_CHARS]))
        html_src = ""
    body_html = sanitize_html(html_src) if html_src else ""
    if not body_text and html_src:
        body_text = html_to_text(html_src)
    if len(body_text) > MAX_BODY_CHARS:
        body_text = body_text[:MAX_BODY_CHARS]
        notes.append("text truncated; the full text is in the raw source")
    if msg.defects:
        notes.append("MIME defects: " + ", ".join(sorted({type(d).__name__ for d in msg.defects})))
    return ParsedEmail(
        message_id=_first_message_id(header(msg, "Message-ID")),
        in_reply_to=(message_ids(header(msg, "In-Reply-To")) or [""])[0],
        references=message_ids(header(msg, "References"))[-50:],
        subject=clean_line(header(msg, "Subject"), 500),
        from_email=from_email,
        from_name=from_name,
        reply_to=reply_to,
        to=[addr for _n, addr in _addresses(msg, "To")][:MAX_RECIPIENTS],
        cc=[addr for _n, addr in _addresses(msg, "Cc")][:MAX_RECIPIENTS],
        body_text=body_text,
        body_html=body_html,
        attachments=walker.attachments,
        notes=notes,
        loop=loop_signals(msg, from_email=from_email),
        sender_verified=sender_verified(
            msg,
            from_email=from_email,
            trusted=list(getattr(settings, "EMAIL_TRUSTED_AUTHSERV_IDS", []) or []),
        ),
    )


class _Walker:
    """Collect text, HTML and attachments from a MIME tree with depth and count limits."""

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.attachments: list[ParsedAttachment] = []
        self.parts = 0
        self.limit = settings.ATTACHMENT_MAX_BYTES

    def visit(self, part: EmailMessage, depth: int) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            if self.parts == MAX_PARTS + 1:
                self.notes.append(f"more than {MAX_PARTS} MIME parts; the rest is in the raw")
            return
        if depth > MAX_DEPTH:
            self.notes.append(f"MIME nesting deeper than {MAX_DEPTH}; inner parts in the raw")
            return
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            self._forwarded(part)
            return
        if part.get_content_maintype() == "multipart" and not part.is_multipart():
            # A multipart without a usable boundary: the parser kept it as one text blob.
            self.texts.append(self._text(part))
            return
        if part.is_multipart():
            payload = part.get_payload()
            for child in payload if isinstance(payload, list) else []:
                if isinstance(child, EmailMessage):
                    self.visit(child, depth + 1)
            return
        try:
            disposition = part.get_content_disposition()
        except Exception:
            disposition = None
        filename = self._filename(part)
        if (
            content_type in ("text/plain", "text/html")
            and disposition != "attachment"
            and not filename
        ):
            text = self._text(part)
            (self.texts if content_type == "text/plain" else self.htmls).append(text)
            return
        data = self._payload(part)
        self._attach(
            filename=filename,
            content_type=content_type,
            data=data,
            content_id=clean_line(header(part, "Content-ID"), 900).strip("<>"),
            is_inline=disposition == "inline" or (disposition is None and content_type != ""),
        )

    def _forwarded(self, part: EmailMessage) -> None:
        """Keep a forwarded message whole, as a .eml attachment."""
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        try:
            data = inner.as_bytes(policy=policy.default) if inner is not None else b""
        except Exception:  # an inner message too broken to re-serialise
            data = b""
        if not data and isinstance(payload, str):
            data = payload.encode("utf-8", "surrogateescape")
        subject = clean_line(header(inner, "Subject"), 150) if inner is not None else ""
        self._attach(
            filename=self._filename(part) or f"{subject or 'forwarded message'}.eml",
            content_type="message/rfc822",
            data=data,
            content_id="",
            is_inline=False,
        )

    def _attach(
        self, *, filename: str, content_type: str, data: bytes, content_id: str, is_inline: bool
    ) -> None:
        name = safe_filename(filename, content_type)
        if len(data) > self.limit:
            self.notes.append(
                f"attachment {name!r} ({len(data)} bytes) is over the {self.limit}-byte limit"
                " and was left out; it is in the raw source"
            )
            return
        self.attachments.append(
            ParsedAttachment(
                filename=name,
                content_type=clean_line(content_type, 255) or "application/octet-stream",
                data=data,
                content_id=content_id,
                is_inline=is_inline and bool(content_id),
            )
        )

    def _filename(self, part: EmailMessage) -> str:
        try:
            return clean_line(part.get_filename() or "", 255)
        except Exception:  # broken RFC 2231 parameters
            self.notes.append("unreadable attachment file name")
            return ""

    def _payload(self, part: EmailMessage) -> bytes:
        try:
            data = part.get_payload(decode=True)
        except Exception:
            data = None
        if data is None:
            raw = part.get_payload()
            data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
        if any(type(d).__name__.startswith("InvalidBase64") for d in part.defects):
            self.notes.append("bad base64 in a part; decoded what could be read")
        return data

    def _text(self, part: EmailMessage) -> str:
        data = self._payload(part)
        try:
            charset = part.get_content_charset()
        except Exception:
            charset = None
        text, note = decode_bytes(data, charset)
        if note:
            self.notes.append(note)
        return clean_text(text).replace("\r\n", "\n")
