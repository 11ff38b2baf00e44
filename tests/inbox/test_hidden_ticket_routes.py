"""A ticket you may not see answers 404 on every route, and the request changes nothing."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

from helpdesk.models import Role
from inbox.models import Attachment, Message, OutboundEmail, Status, Ticket, TicketEvent
from inbox.services import reply_create
from notes.models import Follower, Handoff, Mention, Note, Notification
from notes.services import follower_add, note_create
from tests.helpdesk.factories import (
    CannedResponseFactory,
    MacroFactory,
    MembershipFactory,
    TeamFactory,
)
from tests.inbox.inbox_helpers import new_ticket

pytestmark = pytest.mark.django_db

# (method, path, form data); {placeholders} are filled from the `world` fixture.
ROUTES = [
    ("get", "/tickets/{n}/", {}),
    ("post", "/tickets/{n}/compose/", {"mode": "reply", "body": "Leaked reply"}),
    ("post", "/tickets/{n}/compose/", {"mode": "note", "body": "Leaked note @{me_name}"}),
    ("post", "/tickets/{n}/take/", {}),
    ("post", "/tickets/{n}/assign/", {"assignee": "{me}"}),
    (
        "post",
        "/tickets/{n}/update/",
        {"status": "solved", "priority": "urgent", "assignee": "{me}", "team": "", "tags": "x"},
    ),
    ("post", "/tickets/{n}/status/", {"status": "solved"}),
    ("post", "/tickets/{n}/merge/", {"target": "{mine}"}),
    ("post", "/tickets/{n}/snooze/", {"hours": "4"}),
    ("post", "/tickets/{n}/macro/", {"macro": "{macro}"}),
    ("get", "/tickets/{n}/canned/{canned}/", {}),
    ("get", "/tickets/{n}/presence/", {}),
    ("post", "/tickets/{n}/presence/", {"typing": "1"}),
    ("get", "/tickets/{n}/attachments/{attachment}/", {}),
    ("get", "/tickets/{n}/attachments/{attachment}/inline/", {}),
    ("get", "/tickets/{n}/handoffs/", {}),
    ("post", "/tickets/{n}/handoffs/", {"reason": "churn_risk", "target": "", "note": "Help"}),
    ("post", "/tickets/{n}/follow/", {}),
    ("post", "/tickets/{n}/unfollow/", {}),
    ("get", "/notes/{note}/edit/", {}),
    ("post", "/notes/{note}/edit/", {"body": "Rewritten by a stranger"}),
    ("post", "/notes/{note}/pin/", {}),
    ("post", "/notes/{note}/unpin/", {}),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in ROUTES]
PLACEHOLDER_PATTERNS = {
    "{n}": "<int:number>",
    "{canned}": "<int:canned_id>",
    "{attachment}": "<int:attachment_id>",
    "{note}": "<int:note_id>",
}


@pytest.fixture
def world(make_user, account):
    """A ticket of the Vault team with history, and someone outside it on each side."""
    vault = TeamFactory(name="Vault", handle="vault")
    insider = make_user(Role.AGENT, username="ivy", first_name="Ivy", last_name="Insider")
    MembershipFactory(team=vault, user=insider)
    hidden = new_ticket(team=vault, subject="Top secret merger", body="Board only.")
    reply = reply_create(
        ticket=hidden,
        author=insider,
        body_text="See the attached plan.",
        attachments=[SimpleUploadedFile("plan.txt", b"the plan", content_type="text/plain")],
    )
    note = note_create(ticket=hidden, author=insider, body_markdown="Pinned context")
    follower_add(ticket=hidden, user=insider)
    return {
        "vault": vault,
        "insider": insider,
        "hidden": hidden,
        "note": note,
        "attachment": Attachment.objects.get(message=reply),
        "canned": CannedResponseFactory(body="Hi {{ requester.first_name }}"),
        "macro": MacroFactory(set_status=Status.SOLVED),
    }


@pytest.fixture(params=["agent", "success_manager"])
def outsider(request, support_team):
    """An agent of another team, or a success manager whose book does not hold the ticket."""
    return request.getfixturevalue(request.param)


def _fill(value: str, world: dict, user, mine: Ticket) -> str:
    return value.format(
        n=world["hidden"].number,
        me=user.pk,
        me_name=user.username,
        mine=mine.number,
        macro=world["macro"].pk,
        canned=world["canned"].pk,
        attachment=world["attachment"].pk,
        note=world["note"].pk,
    )


def _request(client, world: dict, user, mine: Ticket, method: str, path: str, data: dict):
    url = _fill(path, world, user, mine)
    filled = {key: _fill(value, world, user, mine) for key, value in data.items()}
    return getattr(client, method)(url, filled)


def snapshot(ticket: Ticket) -> dict:
    """Everything a request on the ticket could change."""
    row = Ticket.objects.get(pk=ticket.pk)
    return {
        "row": (
            row.status,
            row.priority,
            row.assignee_id,
            row.team_id,
            row.snoozed_until,
            row.merged_into_id,
            row.updated_at,
            sorted(row.tags.values_list("name", flat=True)),
        ),
        "messages": list(Message.objects.filter(ticket=row).values_list("id", "body_text")),
        "notes": list(
            Note.objects.filter(ticket=row).values_list("id", "body_markdown", "is_pinned")
        ),
        "events": TicketEvent.objects.filter(ticket=row).count(),
        "followers": sorted(Follower.objects.filter(ticket=row).values_list("user_id", flat=True)),
        "handoffs": Handoff.objects.filter(ticket=row).count(),
        "mentions": Mention.objects.filter(note__ticket=row).count(),
        "notifications": Notification.objects.count(),
        "outbound": OutboundEmail.objects.count(),
        "presence": cache.get(f"presence:{row.pk}"),
    }


@pytest.mark.parametrize(("method", "path", "data"), ROUTES, ids=ROUTE_IDS)
def test_hidden_ticket_answers_404_and_changes_nothing(
    client, world, outsider, support_team, method, path, data
):
    cache.delete(f"presence:{world['hidden'].pk}")
    mine = new_ticket(team=support_team, subject="My own ticket")
    before, mine_before = snapshot(world["hidden"]), snapshot(mine)
    client.force_login(outsider)
    response = _request(client, world, outsider, mine, method, path, data)
    assert response.status_code == 404
    body = b"".join(response) if response.streaming else response.content
    assert b"Top secret merger" not in body
    assert b"the plan" not in body
    assert snapshot(world["hidden"]) == before
    assert snapshot(mine) == mine_before


@pytest.mark.parametrize(("method", "path", "data"), ROUTES, ids=ROUTE_IDS)
def test_the_same_request_reaches_the_ticket_for_its_team(
    client, world, support_team, method, path, data
):
    """The control: the requests above are well formed, so their 404 is the visibility rule."""
    insider = world["insider"]
    mine = new_ticket(team=world["vault"], subject="Another vault ticket")
    client.force_login(insider)
    response = _request(client, world, insider, mine, method, path, data)
    assert response.status_code != 404
    assert response.status_code < 500


def test_merging_into_a_ticket_you_cannot_see_is_refused(client, agent, world, support_team):
    mine = new_ticket(team=support_team, subject="My own ticket")
    before, mine_before = snapshot(world["hidden"]), snapshot(mine)
    client.force_login(agent)
    response = client.post(f"/tickets/{mine.number}/merge/", {"target": world["hidden"].number})
    assert response.status_code == 400
    html = response.content.decode()
    assert "No ticket with that number that you can see." in html
    assert "Top secret merger" not in html
    assert snapshot(world["hidden"]) == before
    after = snapshot(mine)
    # The error page shows me as viewing my own ticket: that is all that may differ.
    after.pop("presence")
    mine_before.pop("presence")
    assert after == mine_before
    assert Ticket.objects.get(pk=mine.pk).merged_into is None


def _ticket_routes() -> set[str]:
    """Every HTML route that names a ticket or a note, from the URL configuration."""
    found: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                if route.startswith(("tickets/<int:number>", "notes/<int:note_id>")):
                    found.add(route)

    walk(get_resolver().url_patterns, "")
    return found


def test_every_ticket_route_is_in_the_matrix():
    covered = set()
    for _method, path, _data in ROUTES:
        route = path.lstrip("/")
        for placeholder, converter in PLACEHOLDER_PATTERNS.items():
            route = route.replace(placeholder, converter)
        covered.add(route)
    missing = _ticket_routes() - covered
    assert not missing, f"add these routes to ROUTES: {sorted(missing)}"
