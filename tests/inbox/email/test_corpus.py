# ruff: noqa: RUF001 -- Cyrillic text on purpose: it is what the charset tests decode
"""The corpus: every file ends as one stored message or one flagged ticket, exactly once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from inbox.email.parse import message_key_for
from inbox.models import Attachment, InboundEmail, InboundStatus, Message, Ticket

from .conftest import CORPUS

pytestmark = pytest.mark.django_db

FLAGGED = {"no_from.eml", "no_headers.eml", "garbage_from.eml"}


@pytest.fixture
def corpus_settings(settings, mailbox):
    settings.ATTACHMENT_MAX_BYTES = 100_000  # huge_attachment.eml carries 300 KB
    settings.EMAIL_SENDER_TICKET_LIMIT = 1000  # most corpus mail comes from one sender
    return settings


def _counts() -> tuple[int, ...]:
    return (
        InboundEmail.objects.count(),
        Message.objects.count(),
        Ticket.objects.count(),
        Attachment.objects.count(),
    )


def test_every_corpus_file_is_stored_once_and_a_second_run_adds_nothing(corpus_settings):
    files = sorted(p for p in CORPUS.iterdir() if p.is_file())
    assert len(files) >= 35

    call_command("ingest_email", str(CORPUS))

    by_key = {message_key_for(p.read_bytes()): p.name for p in files}
    assert len(by_key) == len(files) - 1  # duplicate_id_second repeats duplicate_id_first
    rows = {row.message_key: row for row in InboundEmail.objects.all()}
    assert set(rows) == set(by_key)
    for key, name in by_key.items():
        row = rows[key]
        assert bytes(row.raw) in [p.read_bytes() for p in files if p.name.startswith(name[:12])]
        if name in FLAGGED:
            assert row.status == InboundStatus.FAILED, name
            assert row.ticket.is_unparsed, name
            message = row.message
            assert message.is_unparsed
            assert bytes(message.raw_source) == bytes(row.raw)
            original = message.attachments.get(filename="original.eml")
            assert original.file.read() == bytes(row.raw)
        else:
            assert row.status == InboundStatus.PROCESSED, (name, row.error)
            assert row.message is not None
            assert row.message.ticket_id == row.ticket_id
            assert not row.ticket.is_unparsed, name
    # Each stored mail made exactly one message: none lost, none duplicated.
    assert Message.objects.count() == len(rows)
    assert Ticket.objects.filter(is_unparsed=True).count() == len(FLAGGED)

    before = _counts()
    call_command("ingest_email", str(CORPUS))
    assert _counts() == before


def _ingest(name: str) -> InboundEmail:
    call_command("ingest_email", str(CORPUS / name))
    return InboundEmail.objects.get(message_key=message_key_for((CORPUS / name).read_bytes()))


@pytest.mark.parametrize(
    ("name", "subject", "body_part"),
    [
        ("koi8r_mislabeled_utf8.eml", "Проблема", "Здравствуйте! Не работает вход"),
        ("koi8r_mislabeled_ascii.eml", "Help needed", "Не работает вход в систему"),
        ("unknown_charset.eml", "Help needed", "Café crème"),
        ("iso2022jp.eml", "こんにちは", "ログインできません"),
        ("cp1251_rfc2047.eml", "Счёт за ноябрь", "Счёт выставлен дважды"),
        ("raw_8bit_utf8_headers.eml", "Grüße aus Köln — Rechnung", "Straße"),
        ("raw_8bit_latin1_headers.eml", "Problème de facture", "erroné"),
        ("quoted_printable_utf8.eml", "Café order", "Café crème brûlée, softbreak."),
        ("broken_mime_no_boundary.eml", "Help needed", "no boundary parameter"),
        ("broken_mime_unclosed.eml", "Help needed", "never closed"),
        ("nul_and_controls.eml", "Nullbyte", "Beforeafterbell"),
    ],
)
def test_charsets_and_broken_mime_decode_to_readable_text(
    corpus_settings, name, subject, body_part
):
    row = _ingest(name)
    assert row.status == InboundStatus.PROCESSED, row.error
    assert row.message.subject == subject
    assert body_part in row.message.body_text
    assert row.ticket.subject == subject


def test_encoded_file_names_and_hostile_names(corpus_settings):
    names_2231 = list(
        _ingest("rfc2231_filename.eml").message.attachments.values_list("filename", flat=True)
    )
    names_2047 = list(
        _ingest("rfc2047_filename.eml").message.attachments.values_list("filename", flat=True)
    )
    rtlo = _ingest("rtl_override_filename.eml").message.attachments.get()
    assert names_2231 == ["Счёт No 42.pdf"]
    assert names_2047 == ["фото.png"]
    assert rtlo.filename == "invoicefdp.exe"  # no ../, no right-to-left override
    assert "/" not in rtlo.file.name.rpartition("attachments/")[2].split("/", 2)[-1]


def test_attachments_keep_type_size_sha256_and_inline_cid(corpus_settings):
    message = _ingest("nested_multipart.eml").message
    assert message.body_text == "See the screenshot below."
    assert 'src="cid:shot1@x"' in message.body_html
    image, csv = message.attachments.order_by("id")
    assert (image.content_type, image.content_id, image.is_inline) == ("image/png", "shot1@x", True)
    assert (csv.filename, csv.size, csv.is_inline) == ("data.csv", 8, False)
    import hashlib

    assert csv.sha256 == hashlib.sha256(csv.file.read()).hexdigest()


def test_oversized_attachment_is_left_out_and_noted(corpus_settings):
    row = _ingest("huge_attachment.eml")
    assert row.status == InboundStatus.PROCESSED
    assert row.message.attachments.count() == 0
    assert "'big.log' (307200 bytes) is over the 100000-byte limit" in row.message.parse_notes
    assert len(bytes(row.raw)) > 300_000  # the raw source still has it


def test_forwarded_message_is_kept_as_eml_attachment(corpus_settings):
    message = _ingest("forwarded_rfc822.eml").message
    attachment = message.attachments.get()
    assert attachment.filename == "Original problem.eml"
    assert attachment.content_type == "message/rfc822"
    assert b"The original message body." in attachment.file.read()


def test_hostile_html_is_sanitised(corpus_settings):
    message = _ingest("html_only_xss.eml").message
    html = message.body_html.lower()
    for needle in ("<script", "onerror", "javascript:", "onload", "<svg", "expression(", "style="):
        assert needle not in html
    assert "<b>team</b>" in message.body_html
    assert message.subject == "Invoice <script>alert(1)</script>"  # plain text, escaped on display


def test_encoded_crlf_in_subject_cannot_become_a_header(corpus_settings):
    message = _ingest("header_injection_subject.eml").message
    assert "\n" not in message.subject
    assert "\r" not in message.subject
    assert message.subject == "Hello Bcc: evil@attacker.example"


def test_deep_nesting_and_many_parts_are_bounded(corpus_settings):
    deep = _ingest("deep_nesting.eml")
    many = _ingest("many_attachments.eml")
    assert deep.status == InboundStatus.PROCESSED
    assert "nesting deeper than" in deep.message.parse_notes
    assert many.message.attachments.count() == 60


def test_mail_without_message_id_gets_a_stable_key(corpus_settings):
    first = _ingest("no_message_id.eml")
    assert first.message_key.startswith("<sha256.")
    call_command("ingest_email", str(CORPUS / "no_message_id.eml"))
    assert InboundEmail.objects.filter(message_key=first.message_key).count() == 1
    assert Message.objects.count() == 1
