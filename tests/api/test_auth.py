"""Tokens (hashed, shown once, revocable), the session with CSRF, throttling, idempotency."""

from __future__ import annotations

import hashlib
import re
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from api.models import ApiToken, IdempotencyKey
from api.services import token_create, token_revoke
from inbox.models import Message, Ticket
from notes.models import Note

pytestmark = pytest.mark.django_db


def test_only_the_hash_of_a_token_is_stored(agent):
    token, raw = token_create(user=agent, name="CI")
    assert len(raw) >= 43  # 32 random bytes, URL-safe base64
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM api_apitoken")
        rows = cursor.fetchall()
    assert raw not in repr(rows)
    assert token.prefix == raw[:8]


def test_revoked_token_answers_401_on_the_next_call(api_for, agent):
    client = api_for(agent)
    assert client.get("/api/v1/users/me/").status_code == 200
    token = ApiToken.objects.get(user=agent)
    assert token.last_used_at is not None
    token_revoke(token=token)
    response = client.get("/api/v1/users/me/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked token."


def test_deactivated_user_token_answers_401(api_for, agent):
    client = api_for(agent)
    agent.is_active = False
    agent.save()
    assert client.get("/api/v1/users/me/").status_code == 401


def test_session_auth_needs_csrf_for_writes(agent, make_ticket):
    ticket = make_ticket()
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)
    assert client.get(f"/api/v1/tickets/{ticket.number}/").status_code == 200
    response = client.post(
        f"/api/v1/tickets/{ticket.number}/notes/", {"body": "no csrf"}, format="json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Note.objects.exists()


def test_state_change_via_get_is_405(api_for, agent, make_ticket):
    ticket = make_ticket()
    client = api_for(agent)
    assert client.get(f"/api/v1/tickets/{ticket.number}/take/").status_code == 405
    assert client.delete(f"/api/v1/tickets/{ticket.number}/").status_code == 405
    assert client.put(f"/api/v1/tickets/{ticket.number}/", {}, format="json").status_code == 405


def test_throttling_answers_429_per_token(api_for, agent, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    first, second = api_for(agent), api_for(agent)
    codes = [first.get("/api/v1/users/me/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = first.get("/api/v1/users/me/")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert second.get("/api/v1/users/me/").status_code == 200  # another token, own budget


# --- the tokens page ----------------------------------------------------------------------


def test_tokens_page_creates_shows_once_and_revokes(client, agent, other_agent):
    client.force_login(agent)
    page = client.post("/settings/tokens/", {"name": "CRM sync"})
    assert page.status_code == 200
    raw = re.search(r'data-testid="new-token">([^<]+)<', page.content.decode()).group(1)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert api.get("/api/v1/users/me/").json()["username"] == "alice"
    again = client.get("/settings/tokens/").content.decode()
    assert "CRM sync" in again
    assert raw not in again  # shown once only
    token = ApiToken.objects.get(user=agent)
    # Someone else cannot revoke it (404); the owner can.
    client.force_login(other_agent)
    assert client.post(f"/settings/tokens/{token.pk}/revoke/").status_code == 404
    assert api.get("/api/v1/users/me/").status_code == 200
    client.force_login(agent)
    assert client.post(f"/settings/tokens/{token.pk}/revoke/").status_code == 302
    assert api.get("/api/v1/users/me/").status_code == 401
    assert "revoked" in client.get("/settings/tokens/").content.decode()


def test_tokens_page_needs_login_and_a_name(client, agent):
    assert client.get("/settings/tokens/").status_code == 302
    client.force_login(agent)
    response = client.post("/settings/tokens/", {"name": ""})
    assert response.status_code == 400
    assert "Give the token a name" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_admin_creates_a_token_and_sees_it_once(client, admin_user, agent):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    response = client.post(
        "/admin/api/apitoken/add/", {"user": agent.pk, "name": "Ops"}, follow=True
    )
    assert response.status_code == 200
    text = response.content.decode()
    raw = re.search(r"The new token is (\S+) ", text).group(1)
    token = ApiToken.objects.get(name="Ops")
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.user == agent


# --- idempotency keys ---------------------------------------------------------------------


def test_idempotency_key_replays_the_first_response(api_for, agent, support_team):
    client = api_for(agent)
    payload = {
        "subject": "Once",
        "body": "only once",
        "requester_email": "i@acme.example",
        "team": support_team.pk,
    }
    first = client.post("/api/v1/tickets/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/v1/tickets/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Ticket.objects.filter(subject="Once").count() == 1
    other = client.post("/api/v1/tickets/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert other.json()["number"] != first.json()["number"]
    # Keys are per method and path: the same key on another endpoint is another request.
    ticket = Ticket.objects.get(number=first.json()["number"])
    url = f"/api/v1/tickets/{ticket.number}/messages/"
    reply = client.post(url, {"body": "hello"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    reply_again = client.post(url, {"body": "hello"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert reply.json()["id"] == reply_again.json()["id"]
    assert Message.objects.filter(ticket=ticket, direction="outbound").count() == 1


def test_failed_request_is_not_remembered(api_for, agent):
    client = api_for(agent)
    bad = client.post("/api/v1/tickets/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-9")
    assert bad.status_code == 400
    good = client.post(
        "/api/v1/tickets/",
        {"subject": "s", "body": "b", "requester_email": "x@acme.example"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-9",
    )
    assert good.status_code == 201
    assert IdempotencyKey.objects.get().response_status == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_key_create_one_object(agent, contact):
    """Two requests racing with the same key: one ticket, both answers the same."""
    _token, raw = token_create(user=agent, name="race")
    payload = {"subject": "Race", "body": "b", "requester_email": "r@acme.example"}
    answers: list = []
    barrier = threading.Barrier(2)

    def post() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
        barrier.wait()
        answers.append(
            client.post("/api/v1/tickets/", payload, format="json", HTTP_IDEMPOTENCY_KEY="same")
        )
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201, 201]
    assert answers[0].json()["number"] == answers[1].json()["number"]
    assert Ticket.objects.filter(subject="Race").count() == 1


def test_password_change_invalidates_tokens(api_for, agent):
    client = api_for(agent)
    assert client.get("/api/v1/users/me/").status_code == 200
    agent.set_password("a-new-long-password-123")
    agent.save()
    assert client.get("/api/v1/users/me/").status_code == 401


def test_role_change_invalidates_tokens(api_for, agent):
    client = api_for(agent)
    assert client.get("/api/v1/users/me/").status_code == 200
    agent.role = "success"
    agent.save()
    assert client.get("/api/v1/users/me/").status_code == 401


def test_no_cors_headers_for_other_origins(api_for, agent, client):
    client.force_login(agent)
    response = client.get("/api/v1/users/me/", HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 200
    assert not response.has_header("Access-Control-Allow-Origin")
    assert not response.has_header("Access-Control-Allow-Credentials")


def test_idempotency_key_reused_with_another_body_is_422(api_for, agent, support_team):
    client = api_for(agent)
    payload = {"subject": "A", "body": "b", "requester_email": "a@acme.example"}
    first = client.post("/api/v1/tickets/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert first.status_code == 201
    other = {**payload, "subject": "B"}
    reused = client.post("/api/v1/tickets/", other, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert reused.status_code == 422
    assert not Ticket.objects.filter(subject="B").exists()
