"""The authenticated HTTP hook for raw MIME POSTed by a mail provider."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from inbox.email.views import mailbox_inbound_token
from inbox.models import InboundEmail, Ticket
from tests.helpdesk.factories import MailboxFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_csrf():
    return Client(enforce_csrf_checks=True)


def _token(mailbox) -> str:
    return mailbox_inbound_token(mailbox_id=mailbox.pk, email=mailbox.email)


def _post(client, mailbox_id, raw, token=None):
    headers = {"X-Tandem-Mail-Token": token} if token is not None else {}
    return client.post(
        f"/mail/inbound/{mailbox_id}/", data=raw, content_type="message/rfc822", headers=headers
    )


def test_valid_token_stores_the_mail_once(client_csrf, mailbox, make_mail):
    raw = make_mail(message_id="<http-1@acme.example>", subject="Via HTTP")
    first = _post(client_csrf, mailbox.pk, raw, _token(mailbox))
    again = _post(client_csrf, mailbox.pk, raw, _token(mailbox))

    assert first.status_code == 202
    assert first.json() == {"status": "processed", "duplicate": False}
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    ticket = Ticket.objects.get()
    assert ticket.subject == "Via HTTP"
    assert ticket.mailbox == mailbox
    assert InboundEmail.objects.get().source == "http"


def test_large_mail_over_the_upload_limit_is_accepted(client_csrf, mailbox, make_mail, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    raw = make_mail(body="x" * 5000)
    assert _post(client_csrf, mailbox.pk, raw, _token(mailbox)).status_code == 202


@pytest.mark.parametrize("token", [None, "", "0" * 64, "not-hex"])
def test_missing_or_wrong_token_is_refused_and_stores_nothing(
    client_csrf, mailbox, make_mail, token
):
    response = _post(client_csrf, mailbox.pk, make_mail(), token)
    assert response.status_code == 403
    assert InboundEmail.objects.count() == 0


def test_token_of_one_mailbox_does_not_open_another(client_csrf, mailbox, make_mail, support_team):
    other = MailboxFactory(email="billing@tandem.example", team=support_team)
    response = _post(client_csrf, other.pk, make_mail(), _token(mailbox))
    assert response.status_code == 403
    unknown = _post(client_csrf, 999_999, make_mail(), _token(mailbox))
    assert unknown.status_code == 403
    assert InboundEmail.objects.count() == 0


def test_inactive_mailbox_and_get_are_refused(client_csrf, mailbox, make_mail):
    assert client_csrf.get(f"/mail/inbound/{mailbox.pk}/").status_code == 405
    mailbox.is_active = False
    mailbox.save()
    assert _post(client_csrf, mailbox.pk, make_mail(), _token(mailbox)).status_code == 403


def test_oversized_and_empty_bodies(client_csrf, mailbox, make_mail, settings):
    settings.EMAIL_MAX_MESSAGE_BYTES = 500
    assert (
        _post(client_csrf, mailbox.pk, make_mail(body="y" * 2000), _token(mailbox)).status_code
        == 413
    )
    assert _post(client_csrf, mailbox.pk, b"", _token(mailbox)).status_code == 400
    assert InboundEmail.objects.count() == 0


def test_token_command_prints_url_and_header(mailbox, capsys):
    call_command("mail_inbound_token", "support@tandem.example")
    out = capsys.readouterr().out
    assert f"POST /mail/inbound/{mailbox.pk}/" in out
    assert f"X-Tandem-Mail-Token: {_token(mailbox)}" in out
