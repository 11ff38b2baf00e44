"""Fixtures for the e-mail channel: a mailbox, a mail builder, the corpus folder."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

from tests.helpdesk.factories import MailboxFactory

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "mail" / "corpus"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def mailbox(support_team):
    return MailboxFactory(name="Support", email="support@tandem.example", team=support_team)


def build_mail(
    *,
    sender: str = "Carol Customer <carol@acme.example>",
    to: str = "support@tandem.example",
    subject: str = "Printer on fire",
    body: str = "Hello, my printer is on fire.",
    message_id: str | None = None,
    **headers: str,
) -> bytes:
    """A well-formed customer mail; extra headers as keyword arguments (In_Reply_To=...)."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = message_id or make_msgid(domain="acme.example")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(body)
    return mail.as_bytes()


@pytest.fixture
def make_mail():
    return build_mail


class RecordingHandler:
    """An aiosmtpd handler that keeps what it accepts and can refuse on demand."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse_data: str | None = None  # e.g. "451 4.3.0 try again later"
        self.refuse_rcpt: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_data:
            return self.refuse_data
        self.messages.append(envelope.original_content or envelope.content)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def parsed(self) -> list:
        from email import message_from_bytes, policy

        return [message_from_bytes(raw, policy=policy.default) for raw in self.messages]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback (aiosmtpd); Django's SMTP backend points at it."""
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 10
    handler.controller = controller
    handler.port = port
    try:
        yield handler
    finally:
        controller.stop()


DOVECOT_CONF = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
# imap-login refuses to run as root; the Debian package's unprivileged users do the work.
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
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


class Dovecot:
    def __init__(self, root, port: int) -> None:
        self.root = root
        self.host = "127.0.0.1"
        self.port = port
        self.user = "support"
        self.password = "imap-secret-1"

    def client(self):
        import imaplib

        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(self.user, self.password)
        client.select("INBOX")
        return client

    def append(self, *raws: bytes) -> None:
        client = self.client()
        for raw in raws:
            status, _ = client.append("INBOX", None, None, raw)
            assert status == "OK"
        client.logout()

    def flags(self) -> dict[int, str]:
        """UID -> FLAGS text of every message in INBOX."""
        import re

        client = self.client()
        _, data = client.uid("FETCH", "1:*", "(FLAGS)")
        client.logout()
        found = {}
        for line in data:
            if isinstance(line, bytes):
                match = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", line)
                if match:
                    found[int(match.group(1))] = match.group(2).decode()
        return found

    def unflag_all(self) -> None:
        client = self.client()
        client.uid("STORE", "1:*", "-FLAGS", "(\\Seen)")
        client.logout()


@pytest.fixture
def dovecot():
    """A real Dovecot IMAP server on a free loopback port, with one passwd-file user.

    Its files live in a fresh 0755 temporary directory rather than pytest's tmp_path,
    because the unprivileged login and mail processes cannot enter pytest's 0700 folders.
    """
    import shutil
    import socket
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    if not Path("/usr/sbin/dovecot").exists():
        pytest.fail("dovecot is not installed (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="tandem-dovecot-"))
    root.chmod(0o755)
    port = free_port()
    server = Dovecot(root, port)
    (root / "dovecot.conf").write_text(DOVECOT_CONF.format(root=root, port=port))
    (root / "passwd").write_text(f"{server.user}:{{PLAIN}}{server.password}::::::\n")
    for sub in ("mail", "home"):
        (root / sub).mkdir()
        shutil.chown(root / sub, "dovecot", "dovecot")
    process = subprocess.Popen(
        ["/usr/sbin/dovecot", "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"dovecot did not start: {log}")
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
def imap_mailbox(support_team, dovecot):
    return MailboxFactory(
        name="Support",
        email="support@tandem.example",
        team=support_team,
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_user=dovecot.user,
        imap_password=dovecot.password,
        imap_use_tls=False,
    )
