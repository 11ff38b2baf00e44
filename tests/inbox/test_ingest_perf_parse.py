"""The parser's remembered header objects change nothing but the time a mail takes."""

from __future__ import annotations

from dataclasses import asdict
from email import policy
from email.parser import BytesParser

import pytest

from inbox.email import parse
from inbox.email.parse import PARSE_POLICY, _MemoHeaderRegistry, message_key_for, parse_email

from .email.conftest import CORPUS

CORPUS_FILES = sorted(p for p in CORPUS.iterdir() if p.is_file())


def _parse_plain(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Parse with the standard library's policy.default, as before the memo."""
    with monkeypatch.context() as patch:
        patch.setattr(parse, "PARSE_POLICY", policy.default)
        return asdict(parse_email(raw))


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_parses_the_same_with_and_without_the_memo(path, monkeypatch, settings):
    settings.ATTACHMENT_MAX_BYTES = 100_000
    raw = path.read_bytes()
    try:
        expected = _parse_plain(raw, monkeypatch)
    except parse.ParseError:
        with pytest.raises(parse.ParseError):
            parse_email(raw)
        return
    # Twice: the second run is served from the memo the first one filled.
    assert asdict(parse_email(raw)) == expected
    assert asdict(parse_email(raw)) == expected
    with monkeypatch.context() as patch:
        patch.setattr(parse, "PARSE_POLICY", policy.default)
        plain_key = message_key_for(raw)
    assert message_key_for(raw) == plain_key


def test_a_remembered_header_is_not_shared_across_different_values():
    first = b"From: Ann <ann@example.com>\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\n\r\nhi\r\n"
    second = b"From: Bob <bob@example.com>\r\nSubject: =?utf-8?q?Th=C3=A9?=\r\n\r\nhi\r\n"
    for _ in range(2):
        one, two = parse_email(first), parse_email(second)
        assert (one.from_email, one.subject) == ("ann@example.com", "Café")
        assert (two.from_email, two.subject) == ("bob@example.com", "Thé")


def test_the_memo_is_bounded_and_skips_long_values(monkeypatch):
    registry = _MemoHeaderRegistry()
    monkeypatch.setattr(_MemoHeaderRegistry, "MAX_ENTRIES", 3)
    for n in range(10):
        assert str(registry("Subject", f"subject {n}")) == f"subject {n}"
        assert len(registry._memo) <= 3
    long_value = "x" * (_MemoHeaderRegistry.MAX_VALUE_CHARS + 1)
    registry._memo.clear()
    assert str(registry("Subject", long_value)) == long_value
    assert registry._memo == {}
    assert registry("Subject", "same") is registry("Subject", "same")


def test_parse_policy_is_policy_default_but_for_the_registry():
    settings = (
        "max_line_length", "linesep", "cte_type", "raise_on_defect", "mangle_from_",
        "message_factory", "utf8", "refold_source", "content_manager",
    )  # fmt: skip
    for name in settings:
        assert getattr(PARSE_POLICY, name) == getattr(policy.default, name), name
    assert isinstance(PARSE_POLICY.header_factory, _MemoHeaderRegistry)
    message = BytesParser(policy=PARSE_POLICY).parsebytes(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nbody\r\n"
    )
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().strip() == "body"
