"""Reads for collaboration, shaped for the screens that show them."""

from __future__ import annotations

from typing import Any

from helpdesk.models import User
from inbox.models import Ticket


def ticket_panel_context(*, ticket: Ticket, user: User) -> dict[str, Any]:
    """Return what the ticket page's collaboration panel shows (handoffs, followers).

    The ticket page calls this once and renders notes/partials/ticket_panel.html with it, so
    the panel's queries are counted with the page's.
    """
    return {}
