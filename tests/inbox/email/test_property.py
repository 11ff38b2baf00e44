"""Property tests: whatever bytes arrive, ingest never raises and every input is stored."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inbox.email.ingest import email_ingest
from inbox.email.parse import message_key_for
from inbox.models import InboundEmail, InboundStatus

from .conftest import CORPUS, build_mail

pytestmark = pytest.mark.django_db

SEEDS = [p.read_bytes() for p in sorted(CORPUS.iterdir()) if p.stat().st_size < 30_000]
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def mutated_mail(draw) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup", "crlf"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del raw[at : at + draw(st.integers(1, 200))]
        elif op == "truncate":
            del raw[at:]
        elif op == "dup":
            raw[at:at] = raw[max(0, at - 80) : at]
        elif op == "crlf":
            raw[at:at] = draw(st.sampled_from([b"\r\n", b"\n\n", b"\r", b"\r\n\r\n", b"--"]))
    return bytes(raw)


def _assert_stored(raw: bytes, mailbox) -> None:
    started = time.monotonic()
    result = email_ingest(raw=raw, mailbox=mailbox)  # must not raise
    assert time.monotonic() - started < 10, "ingest took too long"
    row = InboundEmail.objects.get(message_key=message_key_for(raw))
    assert row.pk == result.inbound_id
    assert row.status != InboundStatus.RECEIVED
    if row.status == InboundStatus.PROCESSED:
        assert row.message_id is not None
    elif row.status == InboundStatus.FAILED:
        assert row.ticket is not None
        assert row.ticket.is_unparsed
    else:
        assert row.error  # ignored, with its reason


@pytest.fixture
def fuzz_settings(settings, mailbox):
    settings.EMAIL_SENDER_TICKET_LIMIT = 100_000
    settings.ATTACHMENT_MAX_BYTES = 50_000
    return mailbox


@FUZZ
@given(raw=st.binary(max_size=3000))
def test_arbitrary_bytes_are_stored_and_never_raise(fuzz_settings, raw):
    _assert_stored(raw, fuzz_settings)


@FUZZ
@given(raw=mutated_mail())
def test_mutated_real_messages_are_stored_and_never_raise(fuzz_settings, raw):
    _assert_stored(raw, fuzz_settings)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    subject=st.text(max_size=200),
    name=st.text(max_size=60),
    body=st.text(max_size=500),
)
def test_arbitrary_unicode_in_headers_and_body(fuzz_settings, subject, name, body):
    try:
        raw = build_mail(sender=f'"{name}" <carol@acme.example>', subject=subject, body=body)
    except Exception:  # the stdlib refuses to *build* some of these; not our concern
        raw = (
            b"Subject: "
            + subject.encode("utf-8", "surrogatepass")
            + b"\r\n\r\n"
            + body.encode("utf-8", "surrogatepass")
        )
    _assert_stored(raw, fuzz_settings)
