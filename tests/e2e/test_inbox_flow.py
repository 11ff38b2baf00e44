"""An agent's day in the browser: log in, filter, search, open, reply, note, assign, solve."""

from __future__ import annotations

import pytest

from accounts.models import AccountMetrics
from helpdesk.models import CannedResponse, Role
from helpdesk.roles import user_sync_role
from inbox.models import Message, Ticket
from inbox.services import ticket_set_priority, ticket_set_tags
from notes.models import Note
from tests.accounts.factories import AccountDomainFactory, AccountFactory, ContactFactory
from tests.helpdesk.factories import MembershipFactory, TeamFactory, UserFactory
from tests.inbox.inbox_helpers import new_ticket

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-word-123"


@pytest.fixture
def scene(transactional_db):
    support = TeamFactory(name="Support", handle="support")
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer", role=Role.AGENT)
    bob = UserFactory(username="bob", first_name="Bob", last_name="Baker", role=Role.AGENT)
    sam = UserFactory(username="sam", first_name="Sam", last_name="Success", role=Role.SUCCESS)
    for user in (alice, bob, sam):
        user_sync_role(user=user)
    MembershipFactory(team=support, user=alice)
    MembershipFactory(team=support, user=bob)
    account = AccountFactory(
        name="Acme Corp", plan="enterprise", mrr=4200, lifecycle="active", success_manager=sam
    )
    AccountDomainFactory(account=account, domain="acme.example")
    AccountMetrics.objects.create(account=account, health_band="yellow", health_score=55)
    ContactFactory(email="carol@acme.example", name="Carol Jones", account=account)
    subjects = [
        ("Invoice shows the wrong VAT number", "normal", ["billing"]),
        ("Export to CSV times out", "high", ["export"]),
        ("Cannot reset my password", "urgent", ["login"]),
        ("Feature request: dark mode", "low", []),
        ("SSO login loops forever", "high", ["login", "sso"]),
    ]
    tickets = {}
    for subject, priority, tags in subjects:
        ticket = new_ticket(
            team=support,
            email="carol@acme.example",
            subject=subject,
            body=f"Hi team, {subject.lower()}. Can you help? Carol",
        )
        ticket_set_priority(ticket=ticket, actor=None, priority=priority)
        ticket_set_tags(ticket=ticket, actor=None, names=tags, record=False)
        tickets[subject] = ticket
    CannedResponse.objects.create(
        title="Looking into it",
        body="Hi {{ requester.first_name }}, thanks for reaching out — I am looking into it.",
    )
    return {"alice": alice, "bob": bob, "tickets": tickets}


def test_agent_works_a_ticket_end_to_end(live_server, page_1280, screenshot_dir, scene):
    page = page_1280
    shot = 0

    def snap(name):
        nonlocal shot
        shot += 1
        page.screenshot(path=str(screenshot_dir / f"{shot:02d}-{name}.png"), full_page=True)

    # Log in.
    page.goto(f"{live_server.url}/inbox/")
    assert "/login/" in page.url
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/inbox/**")

    # The inbox: my teams' queue with live counts.
    rows = page.locator("#ticket-rows tr.row")
    assert rows.count() == 5
    assert page.locator('a[data-view="team"] .count').inner_text() == "5"
    assert page.locator('a[data-view="unassigned"] .count').inner_text() == "5"
    assert page.locator('a[data-view="mine"] .count').inner_text() == "0"
    snap("inbox")

    # Filter: high priority.
    page.select_option("select[name=priority]", "high")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**priority=high**")
    subjects = rows.locator(".ticket-link").all_inner_texts()
    assert len(subjects) == 2
    assert all("Export" in s or "SSO" in s for s in subjects)
    snap("filtered-high")

    # Search (keyboard: "/" focuses the search box).
    page.goto(f"{live_server.url}/inbox/?view=team")
    page.keyboard.press("/")
    page.keyboard.type("password")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=password**")
    assert rows.count() == 1
    assert "Cannot reset my password" in rows.first.inner_text()
    snap("search")

    # Open it (j/k + Enter).
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_url("**/tickets/**")
    ticket = scene["tickets"]["Cannot reset my password"]
    assert (
        page.locator("#ticket-title").inner_text() == f"#{ticket.number} Cannot reset my password"
    )
    assert "Acme Corp" in page.locator(".requester").inner_text()
    # The band shown is the one the metrics recompute stored (tickets made it current).
    metrics = AccountMetrics.objects.get(account__name="Acme Corp")
    assert metrics.get_health_band_display() in page.locator(".requester .health").inner_text()
    assert "Carol Jones" in page.locator(".requester").inner_text()
    snap("ticket")

    # Reply, starting from a canned response with the requester's name filled in.
    page.select_option("#canned", label="Looking into it")
    page.wait_for_function("document.querySelector('#composer-body').value.includes('Hi Carol')")
    page.fill("#composer-body", page.input_value("#composer-body") + "\nTry the reset link again.")
    page.click('button[type=submit][name="send"]')
    page.wait_for_selector(".flash li:has-text('Reply sent.')")
    last_reply = page.locator("#timeline .item.outbound").last
    assert "Hi Carol, thanks for reaching out" in last_reply.inner_text()
    assert "Alice Archer" in last_reply.inner_text()
    snap("replied")

    # Internal note (keyboard: n switches the composer to note mode).
    page.keyboard.press("n")
    page.fill("#composer-body", "Carol's account uses **SSO**; check with IT.")
    assert "mode-note" in page.locator("#composer").get_attribute("class")
    # The mode is also an ordinary radio choice (the notes app's tests click it).
    page.locator("form#composer [name=mode][value=reply]").check()
    assert "mode-reply" in page.locator("#composer").get_attribute("class")
    page.locator("form#composer [name=mode][value=note]").check()
    assert "mode-note" in page.locator("#composer").get_attribute("class")
    snap("note-mode")
    page.click('button[type=submit][name="send"]')
    page.wait_for_selector(".flash li:has-text('Internal note added.')")
    note = page.locator("#timeline .item.note").last
    assert "Internal note" in note.text_content()
    assert "check with IT" in note.inner_text()
    assert note.locator("strong", has_text="SSO").count() == 1

    # Assign to Bob from the side panel.
    page.select_option("#prop-assignee", label="Bob Baker")
    page.click("#save-props")
    page.wait_for_selector(".flash li:has-text('Ticket updated.')")
    assert "Bob Baker" in page.locator("#ticket-assignee").inner_text()
    assert "assigned to Bob Baker" in page.locator("#timeline").inner_text()

    # Solve.
    page.click("#solve-btn")
    page.wait_for_selector(".flash li:has-text('is now solved')")
    assert page.locator("#ticket-status").inner_text() == "Solved"
    snap("solved")

    ticket.refresh_from_db()
    assert ticket.status == "solved"
    assert ticket.assignee == scene["bob"]
    assert Message.objects.filter(ticket=ticket, direction="outbound").count() == 1
    assert Note.objects.filter(ticket=ticket).count() == 1

    # Back in the inbox the solved ticket has left the working view.
    page.goto(f"{live_server.url}/inbox/?view=team")
    assert page.locator("#ticket-rows tr.row").count() == 4
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    snap("shortcuts")
    assert Ticket.objects.filter(status="solved").count() == 1


def test_narrow_laptop_and_bulk_assign(live_server, browser, screenshot_dir, scene):
    context = browser.new_context(viewport={"width": 1024, "height": 700})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/inbox/**")
    boxes = page.locator('#ticket-rows input[name="tickets"]')
    boxes.nth(0).check()
    boxes.nth(1).check()
    assert page.locator("#bulkbar").is_visible()
    assert page.locator("#bulk-count").inner_text() == "2 selected"
    page.select_option("#bulk-action", "assign")
    page.select_option("#bulk-value", label="Alice Archer")
    page.click("#bulkbar button[type=submit]")
    page.wait_for_selector(".flash li:has-text('Updated 2 tickets.')")
    assert page.locator('a[data-view="mine"] .count').inner_text() == "2"
    page.screenshot(path=str(screenshot_dir / "narrow-inbox.png"), full_page=True)
    context.close()


def login(browser, live_server, username):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/inbox/**")
    return context, page


def test_two_agents_see_each_other_and_keyboard_take_and_solve(
    live_server, browser, screenshot_dir, scene
):
    ticket = scene["tickets"]["Export to CSV times out"]
    url = f"{live_server.url}/tickets/{ticket.number}/"
    alice_ctx, alice = login(browser, live_server, "alice")
    bob_ctx, bob = login(browser, live_server, "bob")
    alice.goto(url)
    bob.goto(url)
    # Bob starts writing; Alice's page shows it on its next poll (every 5 s).
    bob.fill("#composer-body", "Looking at the export job now")
    bob.type("#composer-body", ".")
    alice.wait_for_selector("#presence .presence-chip:has-text('Bob Baker is writing')")
    alice.screenshot(path=str(screenshot_dir / "presence.png"))
    # Alice takes it with "a" and solves it with "s".
    alice.keyboard.press("a")
    alice.wait_for_selector(".flash li:has-text('is yours')")
    assert "Alice Archer" in alice.locator("#ticket-assignee").inner_text()
    # Bob's page is stale: his take now fails and tells him who has it.
    bob.click("#take-btn")
    bob.wait_for_selector("#take-error")
    assert bob.locator("#take-error").inner_text() == "Alice Archer already has this ticket."
    bob.screenshot(path=str(screenshot_dir / "taken.png"))
    alice.keyboard.press("s")
    alice.wait_for_selector(".flash li:has-text('is now solved')")
    ticket.refresh_from_db()
    assert ticket.status == "solved"
    assert ticket.assignee == scene["alice"]
    alice_ctx.close()
    bob_ctx.close()
