"""Browser test: an agent escalates to the account's success manager, who accepts, notes
with a mention, and returns the ticket; the agent sees the mention. System Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpdesk.models import Role
from helpdesk.roles import user_sync_role
from inbox.services import InboundContent, ticket_create
from notes.models import Handoff, HandoffStatus, Mention, Notification
from tests.accounts.factories import AccountDomainFactory, AccountFactory, ContactFactory
from tests.helpdesk.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-word-123"
TICKET_TEMPLATE = Path(__file__).resolve().parents[2] / "inbox/templates/inbox/ticket.html"
HAS_COMPOSER = 'id="composer"' in TICKET_TEMPLATE.read_text()


@pytest.fixture
def browser(browser, transactional_db):
    """The session's Chromium (tests/e2e/conftest.py); one Playwright per process."""
    from django.db import connections

    yield browser
    # ORM calls made while Playwright's loop runs get their own connection (asgiref
    # context); close it, or the test database cannot be dropped at the end.
    connections.close_all()


@pytest.fixture
def scene(transactional_db):
    support = TeamFactory(name="Support", handle="support", kind="support")
    success = TeamFactory(name="Success", handle="success", kind="success")
    alice = UserFactory(username="alice", first_name="Alice", last_name="Agent", role=Role.AGENT)
    sam = UserFactory(username="sam", first_name="Sam", last_name="Success", role=Role.SUCCESS)
    for user in (alice, sam):
        user_sync_role(user=user)
    MembershipFactory(team=support, user=alice)
    MembershipFactory(team=success, user=sam)
    account = AccountFactory(name="Acme", success_manager=sam)
    AccountDomainFactory(account=account, domain="acme.example")
    carol = ContactFactory(email="carol@acme.example", name="Carol", account=account)
    ticket = ticket_create(
        requester=carol,
        subject="We are thinking about cancelling",
        content=InboundContent(body_text="The last outage cost us a week."),
        team=support,
    )
    return {"alice": alice, "sam": sam, "ticket": ticket}


def login(browser, live_server, username):
    page = browser.new_context().new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/inbox/.*"))
    return page


def bell(page) -> int:
    return int(page.locator(".bell-count").inner_text())


def escalate_and_accept(browser, live_server, scene):
    """Alice escalates from the ticket page; Sam sees the notification and accepts."""
    ticket = scene["ticket"]
    agent = login(browser, live_server, "alice")
    agent.goto(f"{live_server.url}/tickets/{ticket.number}/")
    agent.click("#escalate summary")
    agent.select_option("#escalate-form select[name=reason]", label="Churn risk")
    # the target defaults to the account's success manager
    target = agent.locator("#escalate-form select[name=target] option:checked").inner_text()
    assert target.startswith("@sam")
    assert "account's success manager" in target
    agent.fill("#escalate-form textarea[name=note]", "Carol's CFO is unhappy after the outage.")
    agent.click("#escalate-form button[name=escalate]")
    agent.wait_for_url(re.compile(r".*#handoff-\d+$"))
    handoff = Handoff.objects.get()
    panel = agent.locator(f"#handoff-{handoff.pk}")
    assert "Pending" in panel.inner_text()
    assert "@alice → @sam" in panel.inner_text()

    manager = login(browser, live_server, "sam")
    # Two: the handoff, and "account turned red" — a pending churn-risk escalation zeroes the
    # health score's escalations component and the recompute runs on the handoff's commit.
    assert bell(manager) == 2
    assert Notification.objects.filter(recipient__username="sam", kind="account_red").exists()
    manager.click(".bell")
    manager.wait_for_url(re.compile(r".*/notifications/$"))
    item = manager.locator('.notifications li.unread[data-kind="handoff_requested"]').first
    assert "@alice handed" in item.inner_text()
    assert "Churn risk" in item.inner_text()
    item.locator("a").first.click()
    manager.wait_for_url(re.compile(rf".*/tickets/{ticket.number}/#handoff-{handoff.pk}$"))
    assert "Carol's CFO is unhappy" in manager.locator(f"#handoff-{handoff.pk}").inner_text()
    manager.click(f"#handoff-{handoff.pk} button[name=accept]")
    manager.wait_for_url(re.compile(rf".*#handoff-{handoff.pk}$"))
    assert "Accepted" in manager.locator(f"#handoff-{handoff.pk}").inner_text()
    handoff.refresh_from_db()
    assert handoff.status == HandoffStatus.ACCEPTED
    ticket.refresh_from_db()
    assert ticket.assignee == scene["sam"]
    return agent, manager, handoff


def agent_sees_mention(agent, live_server, note_id, ticket):
    agent.goto(f"{live_server.url}/notifications/")
    assert bell(agent) >= 1
    mention = agent.locator('.notifications li[data-kind="mentioned"]').first
    assert "@sam mentioned you" in mention.inner_text()
    href = mention.locator("a").first.get_attribute("href")
    assert href == f"/tickets/{ticket.number}/#note-{note_id}"


def test_escalate_accept_return_with_mention(browser, live_server, scene):
    ticket = scene["ticket"]
    agent, manager, handoff = escalate_and_accept(browser, live_server, scene)
    # Sam returns the ticket with an outcome note that mentions Alice.
    manager.click(f"#handoff-{handoff.pk} details.action:has(button[name=return]) summary")
    manager.fill(
        f"#handoff-{handoff.pk} textarea[name=note]", "Offered two months free. @alice over to you"
    )
    manager.click(f"#handoff-{handoff.pk} button[name=return]")
    manager.wait_for_url(re.compile(rf".*#handoff-{handoff.pk}$"))
    assert "Completed" in manager.locator(f"#handoff-{handoff.pk}").inner_text()
    ticket.refresh_from_db()
    assert ticket.assignee == scene["alice"]

    note_id = Mention.objects.get(user=scene["alice"]).note_id
    agent_sees_mention(agent, live_server, note_id, ticket)
    returned = agent.locator('.notifications li[data-kind="handoff_returned"]').first
    assert "@sam returned" in returned.inner_text()
    accepted = agent.locator('.notifications li[data-kind="handoff_accepted"]').first
    assert "@sam accepted" in accepted.inner_text()


def test_mention_autocomplete_in_the_escalation_note(browser, live_server, scene):
    agent = login(browser, live_server, "alice")
    agent.goto(f"{live_server.url}/tickets/{scene['ticket'].number}/")
    agent.click("#escalate summary")
    textarea = agent.locator("#escalate-form textarea[name=note]")
    textarea.click()
    textarea.press_sequentially("Please help @sa")
    option = agent.locator('.mention-list li[data-handle="sam"]')
    option.wait_for()
    textarea.press("Enter")
    assert textarea.input_value() == "Please help @sam "


@pytest.mark.skipif(
    not HAS_COMPOSER,
    reason="the ticket page's composer (form#composer, the inbox branch) is not on this branch",
)
def test_success_manager_writes_note_in_composer_mentioning_agent(browser, live_server, scene):
    ticket = scene["ticket"]
    agent, manager, handoff = escalate_and_accept(browser, live_server, scene)
    manager.goto(f"{live_server.url}/tickets/{ticket.number}/")
    composer = manager.locator("form#composer")
    composer.locator("[name=mode][value=note]").check()
    composer.locator("textarea[name=body]").fill("Spoke to the CFO. @alice FYI")
    composer.locator("button[type=submit][name=send]").click()
    manager.wait_for_load_state()
    note_id = Mention.objects.get(user=scene["alice"]).note_id
    assert manager.locator(f"#note-{note_id}").count() == 1
    manager.click(f"#handoff-{handoff.pk} details.action:has(button[name=return]) summary")
    manager.fill(f"#handoff-{handoff.pk} textarea[name=note]", "Resolved with a credit.")
    manager.click(f"#handoff-{handoff.pk} button[name=return]")
    manager.wait_for_url(re.compile(rf".*#handoff-{handoff.pk}$"))
    agent_sees_mention(agent, live_server, note_id, ticket)
    agent.locator('.notifications li[data-kind="mentioned"] a').first.click()
    agent.wait_for_url(re.compile(rf".*#note-{note_id}$"))
    assert "Spoke to the CFO" in agent.locator(f"#note-{note_id}").inner_text()


def test_opening_a_notification_marks_it_read(browser, live_server, scene):
    from notes.models import Notification
    from notes.services import handoff_create

    handoff = handoff_create(
        ticket=scene["ticket"], from_user=scene["alice"], reason="other", note_markdown="x"
    )
    manager = login(browser, live_server, "sam")
    assert bell(manager) == 1
    manager.goto(f"{live_server.url}/notifications/")
    manager.locator(".notifications li.unread a").first.click()
    manager.wait_for_url(re.compile(rf".*#handoff-{handoff.pk}$"))
    deadline = 50
    while Notification.objects.filter(read_at__isnull=True).exists() and deadline:
        manager.wait_for_timeout(100)
        deadline -= 1
    manager.reload()
    assert bell(manager) == 0
