"""The staff and team lists of the inbox and ticket pages, cached with the configuration."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from helpdesk.models import Role
from helpdesk.services import CONFIG_VERSION_KEY
from tests.helpdesk.factories import TeamFactory
from tests.inbox.inbox_helpers import new_ticket

# Committed for real: a write inside an open test transaction keeps the cache off (it would
# be our own uncommitted change).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page(client, agent, support_team):
    """The agent's ticket page, with the staff and teams committed as in production."""
    ticket = new_ticket(team=support_team)
    client.force_login(agent)

    def get(url: str = f"/tickets/{ticket.number}/") -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return response.content.decode(), len(queries)

    return get


def test_ticket_page_reads_staff_and_teams_once_until_a_user_changes(page, make_user):
    _, first = page()
    html, cached = page()
    assert cached == first - 2  # the staff (with escalation targets) and the teams
    assert "Newcomer Nora" not in html
    make_user(Role.AGENT, username="nora", first_name="Newcomer", last_name="Nora")
    html, fresh = page()
    assert "Newcomer Nora" in html  # retired by the save, not served stale
    assert fresh == first


def test_deactivated_user_leaves_the_assignee_menus(page, make_user):
    leaver = make_user(Role.AGENT, username="lee", first_name="Leaving", last_name="Lee")
    html, _ = page()
    assert "Leaving Lee" in html
    assert "Leaving Lee" in page("/inbox/?view=team")[0]
    leaver.is_active = False
    leaver.save()
    assert "Leaving Lee" not in page()[0]
    assert "Leaving Lee" not in page("/inbox/?view=team")[0]


def test_new_team_is_in_the_inbox_menus_at_once(page):
    page("/inbox/?view=team")
    TeamFactory(name="Night shift", handle="night")
    assert "Night shift" in page("/inbox/?view=team")[0]


def test_a_login_does_not_retire_the_configuration(client, agent):
    from django.core.cache import cache

    cache.set(CONFIG_VERSION_KEY, "before", timeout=None)
    client.force_login(agent)  # saves last_login
    assert cache.get(CONFIG_VERSION_KEY) == "before"
