"""Browser test for automations: an admin creates a rule in Django admin; mail from a red
account arrives; the ticket is urgent with the rule named in its timeline; the success
manager has a notification. System Chromium, live server, real ingest path."""

from __future__ import annotations

import json

import pytest

from accounts.models import AccountMetrics
from helpdesk.models import Role
from helpdesk.roles import user_sync_role
from inbox.email.ingest import email_ingest
from inbox.models import Ticket
from notes.models import Notification
from tests.accounts.factories import AccountDomainFactory, AccountFactory
from tests.helpdesk.factories import MailboxFactory, MembershipFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pass-word-123"

RAW = (
    b"From: Carol Customer <carol@redco.example>\r\n"
    b"To: support@tandem.example\r\n"
    b"Subject: Everything is down again\r\n"
    b"Message-ID: <outage-1@redco.example>\r\n"
    b"Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Our whole team is blocked. Please help.\r\n"
)


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_admin_rule_makes_red_account_mail_urgent_and_notifies_the_csm(
    live_server, browser, screenshot_dir
):
    support = TeamFactory(name="Support", handle="support")
    MailboxFactory(email="support@tandem.example", team=support)
    admin = UserFactory(username="ada", role=Role.ADMIN, is_superuser=True)
    sam = UserFactory(username="sam", first_name="Sam", role=Role.SUCCESS)
    agent = UserFactory(username="alice", role=Role.AGENT)
    for user in (admin, sam, agent):
        user_sync_role(user=user)
    MembershipFactory(team=support, user=agent)
    account = AccountFactory(name="RedCo", success_manager=sam)
    AccountDomainFactory(account=account, domain="redco.example")
    AccountMetrics.objects.create(account=account, health_band="red", health_score=18)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        _login(page, live_server.url, "ada")
        page.goto(f"{live_server.url}/admin/automations/rule/add/")
        page.fill("#id_name", "Red account → urgent + notify CSM")
        page.select_option("#id_trigger", "ticket_created")
        page.fill(
            "#id_conditions",
            json.dumps({"all": [{"field": "account.health_band", "op": "is", "value": "red"}]}),
        )
        page.fill(
            "#id_actions",
            json.dumps(
                [
                    {"type": "set_priority", "value": "urgent"},
                    {"type": "notify", "value": ["success_manager"]},
                ]
            ),
        )
        page.screenshot(path=screenshot_dir / "1-rule-form.png", full_page=True)
        page.click("input[name=_save]")
        page.wait_for_load_state()
        assert "was added successfully" in page.content()

        result = email_ingest(raw=RAW, source="file")
        assert result.created_ticket
        ticket = Ticket.objects.get(pk=result.ticket_id)
        assert ticket.priority == "urgent"

        page.goto(f"{live_server.url}/tickets/{ticket.number}/")
        timeline = page.locator("#timeline").inner_text()
        assert "Red account → urgent + notify CSM" in timeline
        assert "urgent" in page.content().lower()
        page.screenshot(path=screenshot_dir / "2-ticket-urgent.png", full_page=True)

        csm = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        _login(csm, live_server.url, "sam")
        assert csm.locator(".bell-count").inner_text().strip() == "1"
        csm.goto(f"{live_server.url}/notifications/")
        assert "Red account → urgent + notify CSM" in csm.content()
        csm.screenshot(path=screenshot_dir / "3-csm-notification.png", full_page=True)
        assert Notification.objects.filter(recipient=sam, ticket=ticket, kind="rule").count() == 1
    finally:
        context.close()
        from django.db import connections

        connections.close_all()
