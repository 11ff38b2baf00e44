"""Django admin shows customer records only to the people whose book they are in."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.forms import MultiWidget

from accounts.models import Account, RevenueEvent
from helpdesk.models import Role
from tests.accounts.factories import AccountFactory, ContactFactory, RevenueEventFactory
from tests.helpdesk.factories import AuditLogFactory

pytestmark = pytest.mark.django_db

ACCOUNTS = "/admin/accounts/account/"


@pytest.fixture
def other_manager(make_user):
    return make_user(Role.SUCCESS, username="tara")


@pytest.fixture
def globex(other_manager):
    """An account in another success manager's book."""
    account = AccountFactory(name="Globex", success_manager=other_manager)
    ContactFactory(email="gina@globex.example", name="Gina Globex", account=account)
    RevenueEventFactory(account=account, mrr_delta=Decimal("700"), external_id="globex-new")
    return account


def _change_form_data(response) -> dict[str, str]:
    """The change form as the browser would submit it unchanged (main form and inlines)."""

    def text(current: object) -> str:
        if current is None or current is False:
            return ""
        return "on" if current is True else str(current)

    def fields(form) -> dict[str, str]:
        data = {}
        for name in form.fields:
            bound, key = form[name], form.add_prefix(name)
            widget = bound.field.widget
            if isinstance(widget, MultiWidget):  # e.g. a split date and time
                parts = widget.decompress(bound.value())
                data.update(
                    {f"{key}{s}": text(p) for s, p in zip(widget.widgets_names, parts, strict=True)}
                )
            else:
                data[key] = text(bound.value())
        return data

    data = fields(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        data.update(fields(inline.formset.management_form))
        for sub in inline.formset.initial_forms:
            data.update(fields(sub))
    return {key: item for key, item in data.items() if item != ""}


def test_success_manager_changelist_lists_only_their_accounts(client, account, globex):
    client.force_login(account.success_manager)
    body = client.get(ACCOUNTS).content.decode()
    assert "Acme" in body
    assert "Globex" not in body
    assert "1 account" in body


def test_success_manager_gets_404_for_another_managers_account(client, account, globex):
    client.force_login(account.success_manager)
    assert client.get(f"{ACCOUNTS}{account.pk}/change/").status_code == 200
    for page in ("change", "delete", "history"):
        response = client.get(f"{ACCOUNTS}{globex.pk}/{page}/")
        assert response.status_code == 404, page
        assert b"Globex" not in response.content


def test_success_manager_cannot_adopt_another_managers_account(client, account, globex):
    """A POST to someone else's account is refused and changes nothing."""
    client.force_login(account.success_manager)
    response = client.post(
        f"{ACCOUNTS}{globex.pk}/change/",
        {"name": "Globex", "success_manager": account.success_manager.pk, "lifecycle": "active"},
    )
    assert response.status_code == 404
    globex.refresh_from_db()
    assert globex.success_manager.username == "tara"


def test_success_manager_field_is_read_only_for_a_success_manager(client, account, other_manager):
    client.force_login(account.success_manager)
    page = client.get(f"{ACCOUNTS}{account.pk}/change/")
    assert "success_manager" not in page.context["adminform"].form.fields
    data = _change_form_data(page)
    data.update({"plan": "enterprise", "success_manager": str(other_manager.pk)})
    response = client.post(f"{ACCOUNTS}{account.pk}/change/", data)
    assert response.status_code == 302, (data, response.context["adminform"].form.errors)
    account.refresh_from_db()
    assert account.plan == "enterprise"  # the rest of the form was saved ...
    assert account.success_manager.username == "sam"  # ... the hand-over was not


def test_admin_can_reassign_the_success_manager(client, admin_user, account, other_manager):
    client.force_login(admin_user)
    page = client.get(f"{ACCOUNTS}{account.pk}/change/")
    data = _change_form_data(page)
    data["success_manager"] = str(other_manager.pk)
    assert client.post(f"{ACCOUNTS}{account.pk}/change/", data).status_code == 302
    account.refresh_from_db()
    assert account.success_manager == other_manager


def test_admin_changelist_lists_every_account(client, admin_user, account, globex):
    client.force_login(admin_user)
    body = client.get(ACCOUNTS).content.decode()
    assert "Acme" in body
    assert "Globex" in body


def test_success_manager_sees_only_their_contacts_and_revenue(client, contact, globex):
    client.force_login(contact.account.success_manager)
    contacts = client.get("/admin/accounts/contact/").content.decode()
    assert "carol@acme.example" in contacts
    assert "gina@globex.example" not in contacts
    gina = globex.contacts.get()
    assert client.get(f"/admin/accounts/contact/{gina.pk}/change/").status_code == 404
    revenue = client.get("/admin/accounts/revenueevent/").content.decode()
    assert "Globex" not in revenue


def test_success_manager_cannot_record_revenue_on_another_book(client, account, globex):
    client.force_login(account.success_manager)
    response = client.post(
        "/admin/accounts/revenueevent/add/",
        {
            "account": globex.pk,
            "kind": "expansion",
            "mrr_delta": "5000",
            "occurred_on": dt.date(2026, 2, 1).isoformat(),
        },
    )
    assert response.status_code == 200
    assert "account" in response.context["adminform"].form.errors
    assert not RevenueEvent.objects.filter(account=globex, kind="expansion").exists()


def test_account_autocomplete_offers_only_the_managers_book(client, account, globex):
    client.force_login(account.success_manager)
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "accounts", "model_name": "contact", "field_name": "account", "term": ""},
    )
    names = [row["text"] for row in response.json()["results"]]
    assert names == ["Acme"]


@pytest.mark.parametrize(
    "page", [ACCOUNTS, "/admin/accounts/contact/", "/admin/accounts/revenueevent/"]
)
def test_agent_reaches_no_customer_pages_in_admin(client, agent, account, page):
    client.force_login(agent)
    assert client.get(page).status_code == 403
    assert client.get(f"{ACCOUNTS}{account.pk}/change/").status_code in (403, 404)


def test_agent_admin_index_has_no_customer_section(client, agent, account):
    client.force_login(agent)
    index = client.get("/admin/").content.decode()
    assert "Canned responses" in index
    assert "/admin/accounts/" not in index
    assert Account.objects.get(pk=account.pk).name == "Acme"


def test_audit_trail_is_listed_for_admins_and_cannot_be_edited(client, admin_user, agent):
    entry = AuditLogFactory(actor=agent, action="role_changed", object_repr="alice")
    client.force_login(admin_user)
    listing = client.get("/admin/helpdesk/auditlog/").content.decode()
    assert "role_changed" in listing
    assert "192.0.2.10" in listing
    response = client.post(f"/admin/helpdesk/auditlog/{entry.pk}/change/", {"action": "login"})
    assert response.status_code == 403
    assert client.get(f"/admin/helpdesk/auditlog/{entry.pk}/delete/").status_code == 403
    entry.refresh_from_db()
    assert entry.action == "role_changed"
    with pytest.raises(ValueError, match="immutable"):
        entry.save()


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUCCESS])
def test_audit_trail_is_hidden_from_non_admin_roles(client, make_user, role):
    AuditLogFactory(action="login_failed", object_repr="mallory")
    client.force_login(make_user(role))
    response = client.get("/admin/helpdesk/auditlog/")
    assert response.status_code in (302, 403)
    assert b"mallory" not in response.content


def test_admin_login_page_renders_for_a_visitor_and_admin_can_sign_in(client, admin_user):
    """Scoping asks who the user is; on the login page nobody is signed in yet."""
    assert client.get("/admin/login/").status_code == 200
    admin_user.set_password("s3cret-pass")
    admin_user.save()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": admin_user.username, "password": "s3cret-pass", "next": "/admin/"},
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
