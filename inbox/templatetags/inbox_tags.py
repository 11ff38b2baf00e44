"""Display helpers for the inbox: SLA badges, capped counts, event sentences."""

from __future__ import annotations

import datetime as dt

from django import template
from django.template.defaultfilters import filesizeformat, linebreaksbr
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from inbox.email.quotes import mail_split
from inbox.models import OPEN_STATUSES, EventKind, Message, Status
from inbox.selectors import COUNT_CAP, TicketRow
from inbox.templatetags.mail_tags import message_html
from notes.templatetags.notes_tags import csrf_input, note_item_html

register = template.Library()


@register.filter
def capped(count: int | None) -> str:
    """Show a capped navigation count: 1000 means "at least a thousand"."""
    if count is None:
        return ""
    return f"{COUNT_CAP - 1}+" if count >= COUNT_CAP else str(count)


def _span(delta: dt.timedelta) -> str:
    """A compact duration in its largest unit: 45m, 17h, 7d (the title has the exact time)."""
    seconds = int(abs(delta.total_seconds()))
    if seconds < 3600:
        return f"{max(1, seconds // 60)}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def sla_running_due(ticket: object) -> tuple[str, dt.datetime] | None:
    """The soonest SLA clock still running on the ticket, as (label, due)."""
    if getattr(ticket, "status", None) not in OPEN_STATUSES:
        return None
    clocks = []
    if ticket.first_response_at is None and ticket.first_response_due_at:
        clocks.append(("First response", ticket.first_response_due_at))
    if ticket.next_response_due_at:
        clocks.append(("Next response", ticket.next_response_due_at))
    if ticket.resolution_due_at:
        clocks.append(("Resolution", ticket.resolution_due_at))
    if ticket.status in (Status.PENDING, Status.ON_HOLD):
        clocks = [c for c in clocks if c[0] == "Resolution"]
    return min(clocks, key=lambda c: c[1]) if clocks else None


@register.simple_tag
def sla_badge(ticket: object) -> str:
    """A badge: breached (red), due within 1 hour (amber), due later (grey)."""
    running = sla_running_due(ticket)
    now = timezone.now()
    if running is None:
        if ticket.is_sla_breached:
            return mark_safe('<span class="sla sla-breached" title="SLA breached">Breached</span>')
        return ""
    label, due = running
    local = timezone.localtime(due)
    if due <= now or ticket.is_sla_breached:
        text = f"Overdue {_span(now - due)}" if due <= now else "Breached"
        return format_html(
            '<span class="sla sla-breached" title="{} due {}">{}</span>',
            label,
            f"{local:%b %-d %H:%M}",
            text,
        )
    css = "sla-soon" if due - now <= dt.timedelta(hours=1) else "sla-ok"
    return format_html(
        '<span class="sla {}" title="{} due {}">Due in {}</span>',
        css,
        label,
        f"{local:%b %-d %H:%M}",
        _span(due - now),
    )


@register.filter
def short_age(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    delta = timezone.now() - value
    if delta < dt.timedelta(minutes=1):
        return "now"
    if delta < dt.timedelta(days=7):
        return _span(delta)
    return timezone.localtime(value).strftime("%b %-d")


@register.simple_tag
def event_text(event: object, people: dict, teams: dict) -> str:
    """One sentence for a timeline event: who changed what."""
    data = event.data or {}
    kind = event.kind

    def person(uid: object) -> str:
        return people.get(uid, "someone") if uid else "nobody"

    if kind == EventKind.ASSIGNED:
        if data.get("to") and data.get("to") == getattr(event, "actor_id", None):
            return "took this ticket"
        return f"assigned to {person(data.get('to'))}" if data.get("to") else "unassigned"
    if kind == EventKind.STATUS:
        return f"changed status {data.get('from', '?')} → {data.get('to', '?')}".replace("_", " ")
    if kind == EventKind.PRIORITY:
        return f"changed priority {data.get('from', '?')} → {data.get('to', '?')}"
    if kind == EventKind.TEAM:
        return f"moved to team {teams.get(data.get('to'), 'none')}"
    if kind == EventKind.TAGS:
        return "set tags " + (", ".join(data.get("to") or []) or "(none)")
    if kind == EventKind.MERGED:
        if data.get("into"):
            return f"merged this ticket into #{data['into']}"
        return f"merged #{data.get('from')} into this ticket ({data.get('messages', 0)} messages)"
    if kind == EventKind.SNOOZED:
        if data.get("until"):
            until = dt.datetime.fromisoformat(data["until"])
            return f"snoozed until {timezone.localtime(until):%b %-d, %H:%M}"
        return "woke the ticket"
    if kind == EventKind.SLA_BREACHED:
        clocks = ", ".join(c.replace("_", " ") for c in data.get("clocks", []))
        return f"SLA breached: {clocks}"
    if kind == EventKind.SLA_WARNING:
        due = data.get("due") or {}
        parts = []
        for clock in data.get("clocks", []):
            text = clock.replace("_", " ")
            if due.get(clock):
                text += f" due {timezone.localtime(dt.datetime.fromisoformat(due[clock])):%H:%M}"
            parts.append(text)
        return "SLA about to breach: " + ", ".join(parts)
    if kind == EventKind.ACCESS_GRANTED:
        return f"gave {person(data.get('user'))} access ({data.get('reason', '')})"
    if kind == EventKind.REOPENED:
        return "reopened by the customer's reply"
    if kind == EventKind.FOLLOW_UP:
        return f"follow-up #{data.get('ticket')} created"
    if kind == EventKind.RULE:
        if data.get("stopped"):
            return f"stopped automations: {data.get('reason', 'depth limit')}"
        actions = "; ".join(data.get("actions") or [])
        return f"ran rule “{data.get('name', '?')}”: {actions}"
    if kind == EventKind.HANDOFF:
        return f"handoff {data.get('action', '')} ({str(data.get('reason', '')).replace('_', ' ')})"
    return event.get_kind_display().lower()


def _at(value: dt.datetime) -> str:
    # The |date:"M j, H:i" of the templates, with strftime (localized formatting is slow).
    return f"{timezone.localtime(value):%b %-d, %H:%M}"


def _delivery_html(m: Message) -> str:
    if m.delivery_status == "failed":
        error = f' <span class="delivery-error">{escape(m.delivery_error)}</span>'
        return (
            '<span class="delivery delivery-failed"><span class="sla sla-breached">Not delivered'
            f"</span>{error if m.delivery_error else ''}</span>"
        )
    if m.delivery_status == "sent":
        sent = f" {_at(m.sent_at)}" if m.sent_at else ""
        return f'<span class="muted delivery delivery-sent">· Sent{sent}</span>'
    if m.delivery_status == "queued":
        return '<span class="muted delivery delivery-queued">· Queued, sending…</span>'
    return ""


def _message_html(m: Message, *, ticket_number: int) -> str:
    """One message of the timeline; text escaped, HTML as mail_tags.message_html gives it."""
    if m.author_user_id:
        author = m.author_user
        avatar, name = author.username[:1].upper(), author.get_full_name() or author.username
    else:
        contact = m.author_contact
        email = contact.email if contact else ""
        avatar, name = email[:1].upper(), (contact.name if contact else "") or m.from_email
    if m.direction == "outbound":
        verb = "replied (automatic)" if m.is_automatic else "replied"
    else:
        verb = "wrote"
    parse_notes = (
        f'<div class="muted parse-notes">{escape(m.parse_notes)}</div>\n' if m.parse_notes else ""
    )
    parts = mail_split(m.body_text or "")
    if parts.body:
        body = linebreaksbr(parts.body)
    elif m.body_html:
        body = message_html(m, ticket_number)
    else:
        body = ""
    folded = ""
    if parts.has_folded:
        gap = "<br>" if parts.signature and parts.quoted else ""
        folded = (
            '<details class="folded"><summary>Show quoted text</summary><div class="body quoted">'
            f"{linebreaksbr(parts.signature)}{gap}{linebreaksbr(parts.quoted)}</div></details>\n"
        )
    if m.body_html and parts.body:
        folded += (
            '<details class="folded"><summary>View original formatting</summary>'
            f'<div class="body original">{message_html(m, ticket_number)}</div></details>\n'
        )
    attachments = m.attachments.all()
    files = ""
    if attachments:
        rows = "".join(
            f'<li><span class="clip">Attachment</span> <a href="'
            f'{escape(reverse("inbox:attachment", args=[ticket_number, a.pk]))}" download>'
            f'{escape(a.filename)}</a> <span class="muted">{escape(filesizeformat(a.size))}'
            "</span></li>"
            for a in attachments
        )
        files = f'<ul class="attachments">{rows}</ul>\n'
    return (
        f'<li class="item message {escape(m.direction)}" id="message-{m.pk}">\n'
        f'<div class="meta">\n<span class="avatar">{escape(avatar)}</span>\n'
        f"<strong>{escape(name)}</strong>\n"
        f'<span class="muted">{verb} · {_at(m.created_at)}</span>\n{_delivery_html(m)}\n'
        f'</div>\n{parse_notes}<div class="body">{body}</div>\n{folded}{files}</li>\n'
    )


def _event_html(e: object, *, people: dict, teams: dict) -> str:
    actor = e.actor
    who = (actor.get_full_name() or actor.username) if actor else "Tandem"
    alert = " event-alert" if e.kind in (EventKind.SLA_BREACHED, EventKind.SLA_WARNING) else ""
    return (
        f'<li class="event{alert}" id="event-{e.pk}">\n'
        f"<span>{escape(who)} {escape(event_text(e, people, teams))}</span>\n"
        f'<span class="muted">· {_at(e.created_at)}</span>\n</li>\n'
    )


@register.simple_tag(takes_context=True)
def ticket_timeline_items(context: template.Context, timeline: list) -> SafeString:
    """The ticket page's timeline, built in Python: fifty messages through template
    includes were most of the page's render time. Text goes through escape() (or
    linebreaksbr, which escapes), mail HTML through mail_tags.message_html (nh3), notes
    through notes_tags.note_item_html (shown to whoever the template showed them)."""
    ticket_number = context["ticket"].number
    people, teams = context.get("people") or {}, context.get("team_names") or {}
    user, csrf = context.get("user"), csrf_input(context)
    html = []
    for item in timeline:
        if item.kind == "message":
            html.append(_message_html(item.obj, ticket_number=ticket_number))
        elif item.kind == "note":
            html.append(note_item_html(item.obj, user=user, csrf=csrf))
        else:
            html.append(_event_html(item.obj, people=people, teams=teams))
    return mark_safe("".join(html))


@register.filter
def get_item(mapping: dict, key: object) -> object:
    return mapping.get(key) if mapping else None


@register.filter
def urlencode_dict(params: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


def _when(value: dt.datetime | None) -> str:
    # strftime, not date_format: localized formatting was a fifth of the list's row time.
    return f"{timezone.localtime(value):%b %-d, %Y, %H:%M}" if value else "—"


def _ticket_row(ticket: TicketRow) -> str:
    """One row; every value from the database goes through escape()."""
    url = escape(ticket.get_absolute_url())
    tags = "".join(f'<span class="tag">{escape(name)}</span>' for name in ticket.tag_names)
    team = f'<span class="muted">{escape(ticket.team_name)}</span>' if ticket.team_name else ""
    account = ticket.account_name if ticket.account_name is not None else ticket.requester_email
    snoozed = (
        f' <span class="chip" title="Snoozed until {_when(ticket.snoozed_until)}">Snoozed</span>'
        if ticket.snoozed_until
        else ""
    )
    if ticket.mention_unread:  # set by the Mentions view only
        snoozed += ' <span class="chip mention-unread">Unread mention</span>'
    assignee = ticket.assignee_display
    assignee_html = escape(assignee) if assignee else '<span class="muted">Unassigned</span>'
    number = ticket.number
    status = escape(ticket.status)
    priority = escape(ticket.priority)
    return (
        f'<tr class="row{" is-new" if ticket.status == Status.NEW else ""}" data-href="{url}"'
        f' data-number="{number}">'
        f'<td class="sel"><input type="checkbox" name="tickets" value="{number}" '
        f'aria-label="Select #{number}"></td>'
        f'<td class="subject"><a href="{url}" class="ticket-link"><span class="num">#{number}'
        f"</span> {escape(ticket.subject)}</a>"
        f'<div class="sub"><span class="prio prio-{priority}">'
        f"{escape(ticket.get_priority_display())}</span> {team} {tags}</div></td>"
        f'<td class="requester"><div>{escape(ticket.requester_name or ticket.requester_email)}'
        f'</div><div class="sub muted">{escape(account)}</div></td>'
        f'<td><span class="status status-{status}">{escape(ticket.get_status_display())}'
        f"</span>{snoozed}</td>"
        f'<td class="assignee">{assignee_html}</td><td>{sla_badge(ticket)}</td>'
        f'<td class="age muted" title="Opened {_when(ticket.created_at)}; customer last wrote'
        f' {_when(ticket.last_customer_message_at)}">{short_age(ticket.created_at)}</td></tr>\n'
    )


@register.simple_tag
def ticket_rows(tickets: list) -> SafeString:
    """The inbox rows, built in Python: the list's hot path (a template loop over fifty rows
    was half of the page's server time at a million tickets). Every value is escaped by
    escape(), as the template would."""
    return mark_safe("".join(_ticket_row(ticket) for ticket in tickets))
