"""Keyboard shortcuts in the browser: j/k walk the list, Enter opens, r opens the reply."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from helpdesk.models import Role
from helpdesk.roles import user_sync_role
from tests.helpdesk.factories import MembershipFactory, TeamFactory, UserFactory
from tests.inbox.inbox_helpers import new_ticket

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-word-123"


@pytest.fixture
def queue(transactional_db):
    """Alice's team queue: four tickets, newest first in the list."""
    support = TeamFactory(name="Support", handle="support")
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer", role=Role.AGENT)
    user_sync_role(user=alice)
    MembershipFactory(team=support, user=alice)
    now = timezone.now()
    subjects = ["Oldest question", "Third question", "Second question", "Newest question"]
    tickets = [
        new_ticket(team=support, subject=subject, created_at=now - dt.timedelta(hours=10 - i))
        for i, subject in enumerate(subjects)
    ]
    return {"alice": alice, "tickets": list(reversed(tickets))}  # in list order


def _log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/inbox/**")


def _selected_numbers(page) -> list[int]:
    selected = page.locator("#ticket-rows tr.row.is-selected")
    return [int(n) for n in selected.evaluate_all("rows => rows.map(r => r.dataset.number)")]


def test_j_and_k_move_the_selection_over_the_rows(live_server, page_1280, screenshot_dir, queue):
    page = page_1280
    _log_in(page, live_server)
    page.goto(f"{live_server.url}/inbox/?view=team")
    numbers = [t.number for t in queue["tickets"]]
    assert page.locator("#ticket-rows tr.row").count() == 4
    assert _selected_numbers(page) == [numbers[0]]  # the list opens on its first row

    page.keyboard.press("j")
    assert _selected_numbers(page) == [numbers[1]]
    page.keyboard.press("j")
    assert _selected_numbers(page) == [numbers[2]]
    page.screenshot(path=str(screenshot_dir / "third-row-selected.png"))
    page.keyboard.press("k")
    assert _selected_numbers(page) == [numbers[1]]
    page.keyboard.press("k")
    page.keyboard.press("k")  # already at the top: stays there
    assert _selected_numbers(page) == [numbers[0]]
    for _ in range(6):  # past the bottom: stays on the last row
        page.keyboard.press("j")
    assert _selected_numbers(page) == [numbers[3]]

    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tickets/{numbers[2]}/")
    assert page.locator("#ticket-title").inner_text() == f"#{numbers[2]} Third question"


def test_r_opens_the_reply_composer_and_typing_goes_into_it(
    live_server, page_1280, screenshot_dir, queue
):
    page = page_1280
    _log_in(page, live_server)
    ticket = queue["tickets"][0]
    page.goto(f"{live_server.url}/tickets/{ticket.number}/")
    composer = page.locator("#composer")
    page.keyboard.press("n")  # note mode first, so that r visibly switches back
    assert "mode-note" in composer.get_attribute("class")
    page.keyboard.press("Escape")  # leave the text box: shortcuts work again
    assert page.evaluate("document.activeElement.id") != "composer-body"

    page.keyboard.press("r")
    assert "mode-reply" in composer.get_attribute("class")
    assert page.locator("form#composer [name=mode][value=reply]").is_checked()
    assert page.evaluate("document.activeElement.id") == "composer-body"
    page.keyboard.type("Thanks for writing in")  # the r itself is not typed
    assert page.input_value("#composer-body") == "Thanks for writing in"
    page.screenshot(path=str(screenshot_dir / "reply-composer.png"))
