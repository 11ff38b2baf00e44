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
