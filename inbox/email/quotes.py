"""Split a plain-text mail body into what was written, the quoted history and a signature."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The line that introduces quoted history, in the shapes common mail clients write.
_QUOTE_HEADER_RE = re.compile(
    r"^\s*(?:"
    r"On\s.{1,300}\swrote:?\s*$"  # Gmail, Apple Mail, Thunderbird (may wrap: see below)
    r"|Am\s.{1,300}\sschrieb.{0,80}:\s*$"
    r"|Le\s.{1,300}\sa\s[ée]crit\s?:\s*$"
    r"|-{2,}\s*Original Message\s*-{2,}\s*$"  # Outlook
    r"|-{2,}\s*Forwarded message\s*-{2,}\s*$"
    r"|_{10,}\s*$"  # Outlook web rule above "From: ... Sent: ..."
    r")",
    re.IGNORECASE,
)
_OUTLOOK_HEADER_RE = re.compile(r"^\s*From:\s.+$", re.IGNORECASE)
_OUTLOOK_NEXT_RE = re.compile(r"^\s*(Sent|Date|To|Subject):\s", re.IGNORECASE)
_SIGNATURE_RE = re.compile(
    r"^(?:-- ?|--|Sent from my \w+.*|Get Outlook for \w+.*|Von meinem \w+ gesendet.*)$"
)


@dataclass(frozen=True)
class MailParts:
    body: str
    quoted: str = ""
    signature: str = ""

    @property
    def has_folded(self) -> bool:
        return bool(self.quoted or self.signature)


def mail_split(text: str) -> MailParts:
    """Return the new text, the quoted history below it and the signature, folded apart.

    Conservative: when nothing is recognised, everything is body. Quoted lines in the
    middle of the text (interleaved answers) stay in the body, because the reply is there.
    """
    lines = (text or "").replace("\r\n", "\n").split("\n")
    quote_start = _quote_start(lines)
    head, quoted = lines[:quote_start], lines[quote_start:]
    signature: list[str] = []
    for index in range(len(head) - 1, -1, -1):
        if _SIGNATURE_RE.match(head[index].rstrip()) and len(head) - index <= 15:
            signature, head = head[index:], head[:index]
            break
    body = "\n".join(head).strip("\n")
    if not body.strip():  # only a quote (forward without comment): show it all
        return MailParts(body=(text or "").strip("\n"))
    return MailParts(
        body=body.rstrip(),
        quoted="\n".join(quoted).strip("\n"),
        signature="\n".join(signature).strip("\n"),
    )


def _quote_start(lines: list[str]) -> int:
    """Index of the first line of trailing quoted history (len(lines) if none)."""
    for index, line in enumerate(lines):
        if _QUOTE_HEADER_RE.match(line) or (
            # "On Mon, 3 Jan 2026 at 10:00, Someone <a@b>\nwrote:" wrapped over two lines
            line.strip().startswith("On ")
            and index + 1 < len(lines)
            and lines[index + 1].strip().lower() in ("wrote:", "wrote")
        ):
            return index
        if (
            _OUTLOOK_HEADER_RE.match(line)
            and index + 1 < len(lines)
            and _OUTLOOK_NEXT_RE.match(lines[index + 1])
        ):
            return index
    # A block of "> " lines that runs to the end (blank lines allowed) is history.
    end = len(lines)
    while end > 0 and not lines[end - 1].strip():
        end -= 1
    start = end
    while start > 0 and (lines[start - 1].startswith(">") or not lines[start - 1].strip()):
        start -= 1
    while start < end and not lines[start].strip():
        start += 1
    if start < end and any(line.startswith(">") for line in lines[start:end]):
        return start
    return len(lines)
