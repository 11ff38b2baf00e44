import pytest

from inbox import services as inbox

pytestmark = pytest.mark.django_db

BODY = (
    "Thanks, that fixed it!\n\n"
    "On Mon, 2 Nov 2026 at 10:00, Support <support@tandem.example> wrote:\n"
    "> Please try clearing the cache.\n"
    "> Best, Alice\n"
)


def test_quoted_history_is_folded_and_still_viewable(client, agent, contact, support_team):
    ticket = inbox.ticket_create(
        requester=contact,
        subject="Cache",
        team=support_team,
        content=inbox.InboundContent(
            body_text=BODY,
            body_html="<p>Thanks, that fixed it!</p><blockquote>"
            "Please try clearing the cache.</blockquote>",
        ),
    )
    client.force_login(agent)
    page = client.get(f"/tickets/{ticket.number}/").content.decode()
    visible, _, folded = page.partition('<details class="folded"><summary>Show quoted text')
    assert "Thanks, that fixed it!" in visible
    assert "Please try clearing the cache." not in visible.split('id="timeline"')[1]
    assert "Please try clearing the cache." in folded
    assert "View original formatting" in page
