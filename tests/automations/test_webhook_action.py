import pytest

from api.models import Webhook, WebhookDelivery
from automations.models import Rule
from automations.services import rule_save
from inbox import services as inbox

pytestmark = pytest.mark.django_db


def test_webhook_action_writes_a_delivery_for_subscribers_only(contact, support_team):
    Webhook.objects.create(
        name="crm",
        url="https://crm.example/hook",
        secret="s3cret",
        event_kinds=["rule.fired"],
    )
    Webhook.objects.create(
        name="other",
        url="https://other.example/hook",
        secret="s3cret",
        event_kinds=["ticket.created"],
    )
    rule_save(
        rule=Rule(
            name="Tell the CRM",
            trigger="ticket_created",
            actions=[{"type": "webhook", "value": "escalated"}],
        ),
        user=None,
    )
    ticket = inbox.ticket_create(
        requester=contact,
        subject="Escalate me",
        team=support_team,
        content=inbox.InboundContent(body_text="hi"),
    )
    delivery = WebhookDelivery.objects.get(event="rule.fired")
    assert delivery.webhook.name == "crm"
    assert delivery.payload == {
        "ticket": ticket.number,
        "rule": "Tell the CRM",
        "signal": "escalated",
    }
    # the other webhook only hears about ticket.created
    assert set(WebhookDelivery.objects.values_list("webhook__name", "event")) == {
        ("crm", "rule.fired"),
        ("other", "ticket.created"),
    }
