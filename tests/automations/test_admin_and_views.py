import json

import pytest

from automations.models import Rule, RuleChange
from helpdesk.models import Membership
from inbox import services as inbox
from inbox.models import Ticket

pytestmark = pytest.mark.django_db

RED_RULE = {
    "name": "Red account → urgent",
    "is_active": "on",
    "position": "10",
    "trigger": "ticket_created",
    "threshold": "",
    "conditions": json.dumps(
        {"all": [{"field": "account.health_band", "op": "is", "value": "red"}]}
    ),
    "actions": json.dumps([{"type": "set_priority", "value": "urgent"}]),
}


def test_admin_creates_a_rule_and_the_change_is_logged(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/automations/rule/add/", RED_RULE)
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = Rule.objects.get(name="Red account → urgent")
    change = RuleChange.objects.get(rule=rule)
    assert change.action == "created"
    assert change.changed_by == admin_user
    assert change.before is None
    assert change.after["actions"] == [{"type": "set_priority", "value": "urgent"}]

    edited = {**RED_RULE, "actions": json.dumps([{"type": "set_priority", "value": "high"}])}
    client.post(f"/admin/automations/rule/{rule.pk}/change/", edited)
    latest = RuleChange.objects.filter(rule=rule).first()
    assert latest.action == "changed"
    assert latest.before["actions"][0]["value"] == "urgent"
    assert latest.after["actions"][0]["value"] == "high"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "conditions",
            json.dumps({"all": [{"field": "ticket.colour", "op": "is", "value": 1}]}),
            "Unknown field",
        ),
        (
            "conditions",
            json.dumps({"all": [{"field": "account.mrr", "op": "contains", "value": 1}]}),
            "does not apply",
        ),
        ("actions", json.dumps([{"type": "launch_rockets", "value": 1}]), "Unknown action"),
        ("actions", json.dumps([]), "at least one action"),
    ],
)
def test_admin_rejects_invalid_rules_with_a_clear_message(
    client, admin_user, field, value, message
):
    client.force_login(admin_user)
    response = client.post("/admin/automations/rule/add/", {**RED_RULE, field: value})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Rule.objects.exists()


def test_time_trigger_needs_a_threshold(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/admin/automations/rule/add/", {**RED_RULE, "trigger": "hours_since_created"}
    )
    assert "needs a threshold" in response.content.decode()


def test_rule_test_view_shows_matches_without_changing_anything(
    client, admin_user, contact, support_team
):
    from accounts.models import AccountMetrics

    AccountMetrics.objects.create(account=contact.account, health_band="red")
    ticket = inbox.ticket_create(
        requester=contact,
        subject="Outage",
        team=support_team,
        content=inbox.InboundContent(body_text="down"),
    )
    rule = Rule.objects.create(
        name="Red → urgent",
        trigger="ticket_created",
        conditions=json.loads(RED_RULE["conditions"]),
        actions=json.loads(RED_RULE["actions"]),
    )
    client.force_login(admin_user)
    page = client.get(f"/admin/automations/rule/{rule.pk}/test/").content.decode()
    assert f"#{ticket.number} Outage" in page
    assert "would match <strong>1</strong>" in page
    assert "set_priority: urgent" in page
    ticket.refresh_from_db()
    assert ticket.priority == "normal"
    assert not Ticket.objects.filter(priority="urgent").exists()


def test_agents_cannot_reach_rule_admin(client, agent):
    client.force_login(agent)
    assert client.get("/admin/automations/rule/").status_code == 403


def test_rule_list_is_read_only_for_team_leads(client, agent, other_agent):
    Rule.objects.create(
        name="VIP plan → Tier 2",
        trigger="ticket_created",
        actions=[{"type": "set_team", "value": "tier2"}],
    )
    Membership.objects.filter(user=agent).update(is_lead=True)
    client.force_login(agent)
    page = client.get("/automations/")
    assert page.status_code == 200
    assert "VIP plan → Tier 2" in page.content.decode()
    client.force_login(other_agent)
    assert client.get("/automations/").status_code == 404
