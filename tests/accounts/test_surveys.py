"""Surveys: CSAT/CES on solve, NPS on a schedule, the public single-use answer page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import AccountMetrics, SurveyInvitation, SurveyResponse, SurveySettings
from accounts.surveys import (
    invitation_for_token,
    nps_send_due,
    survey_invite,
    survey_token_make,
)
from inbox import services as inbox
from inbox.models import OutboundEmail, Status
from tests.accounts.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _solved_ticket(contact, agent, capture):
    with capture(execute=True):
        ticket = inbox.ticket_create(
            requester=contact, subject="Printer on fire", content=inbox.InboundContent("help")
        )
        inbox.reply_create(ticket=ticket, author=agent, body_text="Out", new_status=Status.SOLVED)
    return ticket


def test_merging_a_duplicate_sends_no_survey_solving_the_target_does(
    contact, agent, django_capture_on_commit_callbacks
):
    """A duplicate closed by a merge is not a solve to rate: the customer rates the ticket
    the conversation continues in, once."""
    with django_capture_on_commit_callbacks(execute=True):
        target = inbox.ticket_create(
            requester=contact, subject="Printer", content=inbox.InboundContent("help")
        )
        duplicate = inbox.ticket_create(
            requester=contact, subject="Printer again", content=inbox.InboundContent("help!")
        )
        inbox.ticket_merge(source=duplicate, target=target, actor=agent)
    duplicate.refresh_from_db()
    assert duplicate.status == Status.CLOSED
    assert not SurveyInvitation.objects.exists()
    assert not OutboundEmail.objects.filter(kind="survey").exists()
    with django_capture_on_commit_callbacks(execute=True):
        inbox.reply_create(ticket=target, author=agent, body_text="Fixed", new_status=Status.SOLVED)
    assert list(SurveyInvitation.objects.values_list("ticket_id", flat=True)) == [target.pk]


def _link(invitation) -> str:
    return f"/s/{survey_token_make(invitation=invitation)}/"


def test_solving_a_ticket_mails_the_requester_a_csat_link(
    contact, agent, django_capture_on_commit_callbacks
):
    ticket = _solved_ticket(contact, agent, django_capture_on_commit_callbacks)
    invitation = SurveyInvitation.objects.get(ticket=ticket)
    assert (invitation.kind, invitation.contact, invitation.account_id) == (
        "csat",
        contact,
        contact.account_id,
    )
    outbound = OutboundEmail.objects.get(kind="survey")
    assert outbound.to == [contact.email]
    assert outbound.status == "sent"  # the send task ran on commit
    sent = [m for m in mail.outbox if m.to == [contact.email] and "Quick question" in m.subject]
    assert len(sent) == 1
    # The token carries its signing second, so read it back from the mail rather than
    # signing again (a second boundary between the two made this flaky).
    tokens = set(re.findall(r"/s/([^/\s]+)/\?score=[1-5]", sent[0].body))
    assert len(tokens) == 1  # one signed link per score, all for this invitation
    assert invitation_for_token(token=tokens.pop()) == invitation
    assert "/?score=5" in sent[0].body
    assert "1 = very unsatisfied, 5 = very satisfied" in sent[0].body
    assert "Hi Carol" in sent[0].body


def test_a_reopened_and_resolved_ticket_is_not_surveyed_twice_and_ces_when_enabled(
    contact, agent, django_capture_on_commit_callbacks
):
    SurveySettings.objects.update_or_create(singleton=True, defaults={"ces_on_solve": True})
    ticket = _solved_ticket(contact, agent, django_capture_on_commit_callbacks)
    inbox.message_add_inbound(ticket=ticket, contact=contact, content=inbox.InboundContent("no"))
    inbox.ticket_set_status(ticket=ticket, actor=agent, status=Status.SOLVED)
    assert sorted(
        SurveyInvitation.objects.filter(ticket=ticket).values_list("kind", flat=True)
    ) == ["ces", "csat"]


def test_answering_on_the_public_page_records_once_and_updates_metrics(
    client, contact, agent, django_capture_on_commit_callbacks
):
    ticket = _solved_ticket(contact, agent, django_capture_on_commit_callbacks)
    invitation = SurveyInvitation.objects.get(ticket=ticket)
    link = _link(invitation)
    page = client.get(link + "?score=4")
    assert page.status_code == 200
    assert "How satisfied are you" in page.content.decode()
    assert "Printer on fire" not in page.content.decode()  # nothing internal on the page
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(link, {"score": "4", "comment": "quick fix"})
    assert "Thank you" in done.content.decode()
    response = SurveyResponse.objects.get()
    assert (response.kind, response.score, response.ticket, response.comment) == (
        "csat",
        4,
        ticket,
        "quick fix",
    )
    assert AccountMetrics.objects.get(account=contact.account).csat_percent == 100.0
    # Single use: the spent link is gone, and a second post records nothing.
    assert client.get(link).status_code == 404
    assert client.post(link, {"score": "1"}).status_code == 404
    assert SurveyResponse.objects.count() == 1


def test_bad_scores_re_render_the_form_with_an_error(client, contact):
    invitation = survey_invite(kind="nps", contact=contact)
    response = client.post(_link(invitation), {"score": "11"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not SurveyResponse.objects.exists()
    assert client.post(_link(invitation), {"score": "0"}).status_code == 200
    assert SurveyResponse.objects.get().score == 0


@pytest.mark.parametrize("token", ["", "garbage", "eyJpIjoxfQ:1v:forged"])
def test_garbage_tokens_answer_404(client, token):
    assert client.get(f"/s/{token}x/").status_code == 404


def test_tampered_and_expired_links_answer_404(client, contact):
    invitation = survey_invite(kind="csat", contact=contact)
    token = survey_token_make(invitation=invitation)
    # Always a different signature: "AA" over a signature that already ends in "AA" is none.
    tampered = token[:-2] + ("EE" if token.endswith("AA") else "AA")
    assert client.get(f"/s/{tampered}/").status_code == 404
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert client.get(f"/s/{token}/").status_code == 404
    assert client.post(f"/s/{token}/", {"score": "5"}).status_code == 404
    assert not SurveyResponse.objects.exists()


def test_nps_goes_out_on_schedule_no_more_often_than_the_interval(contact, account):
    SurveySettings.objects.update_or_create(singleton=True, defaults={"nps_interval_days": 30})
    ContactFactory(account=None, email="loner@example.com")  # no account: no NPS
    now = timezone.now()
    assert nps_send_due(now=now) == 1
    assert SurveyInvitation.objects.filter(kind="nps", contact=contact).count() == 1
    assert nps_send_due(now=now + dt.timedelta(days=29)) == 0
    assert nps_send_due(now=now + dt.timedelta(days=30)) == 1
    assert OutboundEmail.objects.filter(kind="survey", to=[contact.email]).count() == 2
