"""What a rule can do. Each action goes through the same services as a person would."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q
from django.utils import timezone

from helpdesk.models import CannedResponse, Team, User
from inbox import services as inbox
from inbox.models import Ticket
from notes.models import NotificationKind
from notes.notify import notify

from .models import Rule


def _users_for(tokens: list[str], ticket: Ticket) -> list[int]:
    """Resolve handles, team handles, 'success_manager' and 'assignee' to user ids."""
    ids: set[int] = set()
    names = {str(token).lstrip("@").lower() for token in tokens}
    if "success_manager" in names and ticket.account and ticket.account.success_manager_id:
        ids.add(ticket.account.success_manager_id)
    if "assignee" in names and ticket.assignee_id:
        ids.add(ticket.assignee_id)
    plain = names - {"success_manager", "assignee"}
    if plain:
        ids.update(
            User.objects.filter(is_active=True)
            .filter(Q(username__in=plain) | Q(memberships__team__handle__in=plain))
            .values_list("pk", flat=True)
        )
    return sorted(ids)


def render_canned(body: str, ticket: Ticket) -> str:
    """Fill placeholders from the inbox's fixed table (never the template engine: canned
    bodies are written by agents and must not reach arbitrary attributes)."""
    return inbox.canned_render(body=body, ticket=ticket, agent=None)


def action_run(*, action: dict[str, Any], ticket: Ticket, rule: Rule) -> str:
    """Do one action on the (fresh) ticket and say what was done, for the timeline."""
    kind, value = action["type"], action["value"]
    ticket = Ticket.objects.select_related("account", "team", "requester").get(pk=ticket.pk)
    if kind == "set_status":
        inbox.ticket_set_status(ticket=ticket, actor=None, status=value)
        return f"status → {value}"
    if kind == "set_priority":
        inbox.ticket_set_priority(ticket=ticket, actor=None, priority=value)
        return f"priority → {value}"
    if kind == "set_team":
        team = Team.objects.get(handle__iexact=value)
        inbox.ticket_set_team(ticket=ticket, actor=None, team=team)
        return f"team → {team.handle}"
    if kind == "set_assignee":
        if value in ("round_robin", "load_balanced"):
            assignee = inbox.ticket_auto_assign(ticket=ticket, mode=value)
            if assignee is None:
                return "assignee: nobody available"
        else:
            assignee = User.objects.get(username__iexact=value, is_active=True)
            inbox.ticket_assign(ticket=ticket, actor=None, assignee=assignee)
        return f"assignee → {assignee.username}"
    if kind in ("add_tags", "remove_tags"):
        current = {name.lower() for name in ticket.tags.values_list("name", flat=True)}
        change = {str(name).lower() for name in value}
        wanted = current | change if kind == "add_tags" else current - change
        inbox.ticket_set_tags(ticket=ticket, actor=None, names=wanted)
        return f"{'+' if kind == 'add_tags' else '-'}tags {', '.join(sorted(change))}"
    if kind == "add_note":
        from notes.services import note_create

        # Placeholders let a rule mention whoever owns the account: @{{ account.success_manager }}.
        body = render_canned(str(value), ticket)
        note_create(ticket=ticket, author=None, body_markdown=f"{body}\n\n*— rule: {rule.name}*")
        return "internal note added"
    if kind == "send_canned_reply":
        canned = CannedResponse.objects.get(pk=int(value))
        inbox.reply_create(
            ticket=ticket,
            author=None,
            body_text=render_canned(canned.body, ticket),
            is_automatic=True,
        )
        return f"canned reply “{canned.title}” sent"
    if kind == "notify":
        recipients = _users_for(list(value), ticket)
        notify(
            recipients=recipients,
            kind=NotificationKind.RULE,
            ticket=ticket,
            text=f"Rule “{rule.name}” on #{ticket.number}: {ticket.subject}"[:500],
        )
        return f"notified {len(recipients)}"
    if kind == "create_handoff":
        from helpdesk.services import system_user
        from notes.services import handoff_create  # the collaboration capability

        handoff_create(
            ticket=ticket,
            from_user=system_user(),
            kind="escalate_to_success",
            reason=value,
            note_markdown=f"Escalated by rule “{rule.name}”.",
        )
        return f"handoff to success ({value})"
    if kind == "snooze":
        until = timezone.now() + dt.timedelta(hours=float(value))
        inbox.ticket_snooze(ticket=ticket, actor=None, until=until)
        return f"snoozed {value} h"
    if kind == "webhook":
        from api.webhooks import webhook_emit  # the API capability

        webhook_emit(
            "rule.fired", {"ticket": ticket.number, "rule": rule.name, "signal": str(value)}
        )
        return f"webhook rule.fired ({value})"
    raise ValueError(f"unknown action {kind!r}")


def action_describe(*, action: dict[str, Any], ticket: Ticket) -> str:
    """Say what the action would do, without doing it (the rule test view)."""
    return f"{action['type']}: {action['value']}"
