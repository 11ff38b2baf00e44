import threading

import pytest
from django.test import Client

from helpdesk.models import AuditLog, Role
from helpdesk.services import LOGIN_FAILURE_LIMIT


@pytest.fixture(autouse=True)
def _clear_login_counters():
    """The counters live in the cache (Redis in the suite), which outlives each test."""
    from helpdesk.services import login_succeeded

    for username in ("target", "alice"):
        login_succeeded(username=username)


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_wrong_passwords_lock_the_handle_and_none_is_evaluated_beyond_the_limit(
    make_user,
):
    make_user(Role.AGENT, username="target")
    statuses: list[int] = []

    def attempt() -> None:
        from django.db import connection

        response = Client().post("/login/", {"username": "target", "password": "wrong-guess"})
        statuses.append(response.status_code)
        connection.close()  # each thread has its own connection; let the test DB go

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == 50
    assert AuditLog.objects.filter(action="login_failed").count() == LOGIN_FAILURE_LIMIT
    assert AuditLog.objects.filter(action="login_locked").count() == 50 - LOGIN_FAILURE_LIMIT
    assert statuses.count(429) == 50 - LOGIN_FAILURE_LIMIT
    # Even the right password is refused while locked.
    locked = Client().post("/login/", {"username": "target", "password": "pass-word-123"})
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.content.decode()


@pytest.mark.django_db
def test_successful_login_is_audited_and_resets_the_counter(client, agent):
    client.post("/login/", {"username": "alice", "password": "nope"})
    response = client.post("/login/", {"username": "alice", "password": "pass-word-123"})
    assert response.status_code == 302
    entry = AuditLog.objects.get(action="login")
    assert entry.actor == agent
    assert entry.ip_address == "127.0.0.1"


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["role", "deactivate", "password"])
def test_role_downgrade_deactivation_and_password_change_end_other_sessions(
    client, admin_user, change
):
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200
    if change == "role":
        admin_user.role = Role.AGENT
    elif change == "deactivate":
        admin_user.is_active = False
    else:
        admin_user.set_password("a-new-long-password")
    admin_user.save()
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_admin_role_change_is_audited_and_audit_rows_are_read_only(client, admin_user, agent):
    client.force_login(admin_user)
    page = client.get(f"/admin/helpdesk/user/{agent.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(
        {
            "role": "success",
            "groups": [],
            "user_permissions": [],
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "date_joined_0": agent.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": agent.date_joined.strftime("%H:%M:%S"),
        }
    )
    data.pop("password", None)
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = client.post(f"/admin/helpdesk/user/{agent.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = AuditLog.objects.get(action="user_changed")
    assert entry.actor == admin_user
    assert entry.data["fields"] == ["role"]
    assert client.get(f"/admin/helpdesk/auditlog/{entry.pk}/change/").status_code == 200
    assert client.post(f"/admin/helpdesk/auditlog/{entry.pk}/delete/").status_code == 403
    entry.data = {}
    with pytest.raises(ValueError, match="immutable"):
        entry.save()
