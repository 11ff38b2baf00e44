import pytest

from helpdesk.models import Role

pytestmark = pytest.mark.django_db

ADMIN_ONLY_PAGES = [
    "/admin/helpdesk/user/",
    "/admin/helpdesk/user/add/",
    "/admin/helpdesk/slapolicy/",
    "/admin/helpdesk/slapolicy/add/",
    "/admin/accounts/healthscoreconfig/",
    "/admin/helpdesk/team/",
    "/admin/helpdesk/mailbox/",
    "/admin/accounts/surveysettings/",
]


@pytest.mark.parametrize("page", ADMIN_ONLY_PAGES)
@pytest.mark.parametrize("role", [Role.AGENT, Role.SUCCESS])
def test_non_admin_roles_are_refused_admin_configuration_pages(client, make_user, role, page):
    client.force_login(make_user(role))
    response = client.get(page)
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert "/login/" in response["Location"]


@pytest.mark.parametrize("page", ADMIN_ONLY_PAGES)
def test_admin_role_reaches_configuration_pages(client, admin_user, page):
    client.force_login(admin_user)
    assert client.get(page).status_code == 200


def test_agent_reaches_their_own_admin_pages_only(client, agent):
    client.force_login(agent)
    index = client.get("/admin/").content.decode()
    assert "Canned responses" in index
    assert "Users" not in index
    assert "SLA policies" not in index
    assert client.get("/admin/helpdesk/cannedresponse/").status_code == 200


def test_success_manager_can_record_revenue_but_not_edit_weights(client, success_manager):
    client.force_login(success_manager)
    assert client.get("/admin/accounts/revenueevent/add/").status_code == 200
    assert client.get("/admin/accounts/healthscoreconfig/add/").status_code == 403


def test_role_change_moves_user_between_groups(make_user):
    from helpdesk.roles import ROLE_GROUPS, user_sync_role

    user = make_user(Role.AGENT)
    user.role = Role.SUCCESS
    user.save()
    user_sync_role(user=user)
    assert list(user.groups.values_list("name", flat=True)) == [ROLE_GROUPS[Role.SUCCESS]]
    assert user.has_perm("accounts.add_revenueevent")
    assert not user.has_perm("helpdesk.view_user")


def test_login_page_and_login_flow(client, agent):
    page = client.get("/login/")
    assert page.status_code == 200
    assert b'name="username"' in page.content
    response = client.post("/login/", {"username": "alice", "password": "pass-word-123"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/", follow=True).redirect_chain[-1][0] == "/inbox/"


def test_login_rejects_wrong_password(client, agent):
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_login_ignores_offsite_next(client, agent):
    response = client.post(
        "/login/?next=https://evil.example/",
        {"username": "alice", "password": "pass-word-123", "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_logout_requires_post_and_ends_session(client, agent):
    client.force_login(agent)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/inbox/").status_code == 302


def test_anonymous_is_sent_to_login(client):
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_landing_page_shows_navigation(client, agent):
    client.force_login(agent)
    body = client.get("/inbox/").content.decode()
    assert 'href="/inbox/"' in body
    assert 'href="/accounts/"' in body
    assert "Log out" in body
