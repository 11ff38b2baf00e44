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

from helpdesk.models import Mailbox
from inbox.email.imap import mailbox_poll
from inbox.email.ingest import email_ingest
from inbox.models import Attachment, InboundEmail, Message, Ticket
from tests.helpdesk.factories import MailboxFactory

from .conftest import Dovecot, build_mail, free_port


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


# --- IMAP over TLS ------------------------------------------------------------------------

DOVECOT_TLS_CONF = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/home/%u
}}
service imap-login {{
  # Implicit TLS only: nothing on this server speaks IMAP in the clear.
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
"""


class DovecotTLS(Dovecot):
    """The conftest's Dovecot helper, talking IMAPS and trusting the test's certificate."""

    def __init__(self, root, port: int, cafile: str) -> None:
        super().__init__(root, port)
        self.cafile = cafile

    def client(self):
        import imaplib
        import ssl

        context = ssl.create_default_context(cafile=self.cafile)
        client = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context, timeout=10)
        client.login(self.user, self.password)
        client.select("INBOX")
        return client


@pytest.fixture
def dovecot_tls():
    """A real Dovecot serving IMAPS only, with a self-signed certificate made right now.

    The certificate names 127.0.0.1 (and nothing else), so connecting as "localhost"
    must fail host-name verification.
    """
    import shutil
    import socket
    import ssl
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    if not Path("/usr/sbin/dovecot").exists():
        pytest.fail("dovecot is not installed (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="tandem-dovecot-tls-"))
    root.chmod(0o755)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    port = free_port()
    server = DovecotTLS(root, port, cafile=str(root / "cert.pem"))
    (root / "dovecot.conf").write_text(DOVECOT_TLS_CONF.format(root=root, port=port))
    (root / "passwd").write_text(f"{server.user}:{{PLAIN}}{server.password}::::::\n")
    for sub in ("mail", "home"):
        (root / sub).mkdir()
        shutil.chown(root / sub, "dovecot", "dovecot")
    process = subprocess.Popen(
        ["/usr/sbin/dovecot", "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    context = ssl.create_default_context(cafile=server.cafile)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with (
                    socket.create_connection(("127.0.0.1", port), timeout=1) as raw_sock,
                    context.wrap_socket(raw_sock, server_hostname="127.0.0.1") as sock,
                ):
                    if sock.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"dovecot (TLS) did not start: {log}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def imaps_mailbox(support_team, dovecot_tls):
    return MailboxFactory(
        name="Support",
        email="support@tandem.example",
        team=support_team,
        imap_host=dovecot_tls.host,
        imap_port=dovecot_tls.port,
        imap_user=dovecot_tls.user,
        imap_password=dovecot_tls.password,
        imap_use_tls=True,
    )


@pytest.mark.django_db
def test_poll_over_imaps_trusting_the_servers_certificate(settings, dovecot_tls, imaps_mailbox):
    import imaplib

    settings.IMAP_CA_FILE = dovecot_tls.cafile
    dovecot_tls.append(
        build_mail(message_id="<tls-1@acme.example>", subject="Over TLS 1"),
        build_mail(message_id="<tls-2@acme.example>", subject="Over TLS 2"),
    )
    # The port speaks TLS only: a client in the clear gets no IMAP greeting.
    with pytest.raises((imaplib.IMAP4.error, OSError, EOFError)):
        imaplib.IMAP4(dovecot_tls.host, dovecot_tls.port, timeout=3)

    result = mailbox_poll(mailbox_id=imaps_mailbox.pk)

    assert (result.fetched, result.stored, result.error) == (2, 2, "")
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == ["Over TLS 1", "Over TLS 2"]
    assert all("\\Seen" in flags for flags in dovecot_tls.flags().values())
    imaps_mailbox.refresh_from_db()
    assert (imaps_mailbox.imap_last_uid, imaps_mailbox.last_poll_error) == (2, "")
    # Polling again over TLS finds nothing new and stores nothing twice.
    assert mailbox_poll(mailbox_id=imaps_mailbox.pk).fetched == 0
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_imaps_refuses_a_certificate_nobody_trusts(settings, dovecot_tls, imaps_mailbox):
    settings.IMAP_CA_FILE = ""  # the system store: it does not know our self-signed cert
    dovecot_tls.append(build_mail(message_id="<tls-untrusted@acme.example>"))

    result = mailbox_poll(mailbox_id=imaps_mailbox.pk)

    assert result.stored == 0
    assert "CERTIFICATE_VERIFY_FAILED" in result.error
    imaps_mailbox.refresh_from_db()
    assert "CERTIFICATE_VERIFY_FAILED" in imaps_mailbox.last_poll_error
    assert dovecot_tls.password not in imaps_mailbox.last_poll_error
    assert not InboundEmail.objects.exists()
    # Nothing was fetched, so nothing is marked done on the server either.
    assert not any("\\Seen" in flags for flags in dovecot_tls.flags().values())


@pytest.mark.django_db
def test_imaps_checks_the_host_name(settings, dovecot_tls, imaps_mailbox):
    settings.IMAP_CA_FILE = dovecot_tls.cafile
    dovecot_tls.append(build_mail(message_id="<tls-hostname@acme.example>"))
    # Same server, but reached as "localhost": the certificate only names 127.0.0.1.
    Mailbox.objects.filter(pk=imaps_mailbox.pk).update(imap_host="localhost")

    result = mailbox_poll(mailbox_id=imaps_mailbox.pk)

    assert result.stored == 0
    assert "CERTIFICATE_VERIFY_FAILED" in result.error
    assert "localhost" in result.error  # "Hostname mismatch, certificate is not valid for..."
    assert not InboundEmail.objects.exists()
