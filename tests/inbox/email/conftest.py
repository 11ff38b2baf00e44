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
