"""Reads for collaboration, shaped for the screens that show them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import Account
from helpdesk.models import Membership, Role, Team, TeamKind, User
from inbox.models import Ticket
from inbox.selectors import ticket_get_for_user

from .models import (
    Follower,
    Handoff,
    HandoffReason,
    HandoffStatus,
    Mention,
    Note,
    Notification,
    NotificationKind,
)

NOTIFICATION_PAGE_SIZE = 50
AUTOCOMPLETE_LIMIT = 8


def user_ids_who_see_ticket(*, ticket: Ticket, user_ids: Iterable[int]) -> set[int]:
    """Return which of `user_ids` may see `ticket`, in one query.

    The batched twin of inbox.selectors.ticket_visibility_q (kept equal by
    tests/notes/test_mentions.py::test_batched_visibility_matches_ticket_visibility).
    """
    ids = {int(uid) for uid in user_ids}
    if not ids:
        return set()
    visible = Q(role=Role.ADMIN) | Q(is_superuser=True) | Q(ticket_grants__ticket_id=ticket.pk)
    if ticket.assignee_id:
        visible |= Q(pk=ticket.assignee_id)
    if ticket.account_id:
        visible |= Q(
            role=Role.SUCCESS,
            pk__in=Account.objects.filter(pk=ticket.account_id).values("success_manager_id"),
        )
    if ticket.team_id:
        visible |= Q(role=Role.AGENT, memberships__team_id=ticket.team_id)
    return set(
        User.objects.filter(visible, pk__in=ids, is_active=True)
        .values_list("pk", flat=True)
        .distinct()
    )


def team_member_ids(*, team_ids: Iterable[int]) -> dict[int, set[int]]:
    """Return the active members of each team, in one query."""
    members: dict[int, set[int]] = {}
    rows = Membership.objects.filter(team_id__in=list(team_ids), user__is_active=True)
    for team_id, user_id in rows.values_list("team_id", "user_id"):
        members.setdefault(team_id, set()).add(user_id)
    return members


def success_targets() -> tuple[list[User], list[Team]]:
    """Who an escalation may go to: success managers (by role or team) and success teams."""
    users = list(
        User.objects.filter(
            Q(role=Role.SUCCESS) | Q(memberships__team__kind=TeamKind.SUCCESS),
            is_active=True,
        )
        .distinct()
        .order_by("username")
    )
    teams = list(Team.objects.filter(kind=TeamKind.SUCCESS).order_by("name"))
    return users, teams


def target_options(
    *, users: list[User], teams: list[Team], default_user_id: int | None, chosen: str = ""
) -> list[dict[str, Any]]:
    """The escalation target choices, the account's success manager first and preselected."""
    chosen = chosen or (f"user:{default_user_id}" if default_user_id else "")
    options = []
    for person in sorted(users, key=lambda u: (u.pk != default_user_id, u.username)):
        label = f"@{person.username} — {person.get_full_name() or person.username}"
        if person.pk == default_user_id:
            label += " (account's success manager)"
        options.append({"value": f"user:{person.pk}", "label": label})
    options += [
        {"value": f"team:{team.pk}", "label": f"@{team.handle} — {team.name} (team)"}
        for team in teams
    ]
    for option in options:
        option["selected"] = option["value"] == chosen
    return options


def ticket_panel_context(
    *,
    ticket: Ticket,
    user: User,
    pinned_notes: list[Note] | None = None,
    team_ids: Iterable[int] | None = None,
    targets: tuple[list[User], list[Team]] | None = None,
) -> dict[str, Any]:
    """Return what the ticket page's collaboration panel shows (handoffs, followers).

    Six queries whatever the number of rows: handoffs, followers, pinned notes, my teams,
    success people, success teams. The ticket page passes what it loaded already (the
    pinned notes newest first, the viewer's team ids, success_targets() without the
    viewer) and so adds only the first two.
    """
    handoffs = list(
        Handoff.objects.filter(ticket=ticket)
        .select_related("from_user", "to_user", "to_team", "responded_by", "context_note")
        .order_by("-created_at", "-id")
    )
    followers = list(
        Follower.objects.filter(ticket=ticket).select_related("user").order_by("created_at")
    )
    if pinned_notes is None:
        pinned_notes = list(
            Note.objects.filter(ticket=ticket, is_pinned=True)
            .select_related("author")
            .order_by("-created_at", "-id")
        )
    if team_ids is None:
        team_ids = Membership.objects.filter(user=user).values_list("team_id", flat=True)
    my_team_ids = set(team_ids)
    if targets is None:
        target_users, target_teams = success_targets()
        # Nobody hands a ticket to themselves: the viewer is not offered as a target.
        target_users = [u for u in target_users if u.pk != user.pk]
    else:
        target_users, target_teams = targets
    is_admin = user.is_admin_role
    for handoff in handoffs:
        is_receiver = handoff.to_user_id == user.pk or handoff.to_team_id in my_team_ids or is_admin
        is_owner = handoff.responded_by_id == user.pk or ticket.assignee_id == user.pk
        handoff.can_answer = handoff.status == HandoffStatus.PENDING and is_receiver
        handoff.can_cancel = handoff.status == HandoffStatus.PENDING and (
            handoff.from_user_id == user.pk or is_admin
        )
        handoff.can_return = handoff.status == HandoffStatus.ACCEPTED and (is_owner or is_admin)
        handoff.can_transfer = handoff.can_answer or handoff.can_return
    pending = next((h for h in handoffs if h.status == HandoffStatus.PENDING), None)
    # Success is already on it (pending or accepted and not yet returned): no second escalation
    # from the panel.
    active = next(
        (h for h in handoffs if h.status in (HandoffStatus.PENDING, HandoffStatus.ACCEPTED)), None
    )
    account = ticket.account if ticket.account_id else None
    default_manager_id = account.success_manager_id if account else None
    return {
        "panel_handoffs": handoffs,
        "panel_pending_handoff": pending,
        "panel_active_handoff": active,
        "panel_followers": followers,
        "panel_is_following": any(f.user_id == user.pk for f in followers),
        "panel_pinned_notes": pinned_notes,
        "panel_reasons": HandoffReason.choices,
        "panel_target_options": target_options(
            users=target_users,
            teams=target_teams,
            default_user_id=default_manager_id,
        ),
        "panel_transfer_users": target_users,
    }


def handoff_get_for_user(*, user: User, handoff_id: int) -> Handoff:
    """Fetch a handoff whose ticket `user` may see; 404 for missing and forbidden alike."""
    handoff = (
        Handoff.objects.select_related("ticket", "from_user", "to_user", "to_team")
        .filter(pk=handoff_id)
        .first()
    )
    if handoff is None:
        raise Http404("No such handoff.")
    ticket_get_for_user(user=user, number=handoff.ticket.number)
    return handoff


def note_get_for_user(*, user: User, note_id: int) -> Note:
    """Fetch a note whose ticket `user` may see; 404 for missing and forbidden alike."""
    note = Note.objects.select_related("ticket", "author").filter(pk=note_id).first()
    if note is None:
        raise Http404("No such note.")
    ticket_get_for_user(user=user, number=note.ticket.number)
    return note


def notification_list_for_user(
    *, user: User, limit: int = NOTIFICATION_PAGE_SIZE
) -> QuerySet[Notification]:
    """The user's latest notifications, newest first, with what each row links to."""
    return (
        Notification.objects.filter(recipient=user)
        .select_related("actor", "ticket", "account")
        .order_by("-created_at", "-id")[:limit]
    )


def notification_unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def mention_candidates(*, query: str, limit: int = AUTOCOMPLETE_LIMIT) -> list[dict[str, str]]:
    """Staff users and teams whose handle (or name) starts with `query`, for the picker."""
    query = query.strip().lstrip("@")[:63]
    users = User.objects.filter(is_active=True, is_staff=True)
    teams = Team.objects.all()
    if query:
        users = users.filter(
            Q(username__istartswith=query)
            | Q(first_name__istartswith=query)
            | Q(last_name__istartswith=query)
        )
        teams = teams.filter(Q(handle__istartswith=query) | Q(name__istartswith=query))
    rows = [
        {"handle": u.username, "label": u.get_full_name() or u.username, "kind": "user"}
        for u in users.order_by("username")[:limit]
    ]
    rows += [
        {"handle": t.handle, "label": t.name, "kind": "team"}
        for t in teams.order_by("handle")[:limit]
    ]
    return rows[:limit]


# --- selectors for the inbox's Mentions and Handoffs views and the account page ----------


def note_list_for_mentions(*, user: User, limit: int = 50) -> QuerySet[Note]:
    """Notes mentioning `user` or one of their teams, on tickets they see; unread first.

    Unread means the user still has an unread "mentioned" notification for the note.
    """
    from django.db.models import Exists, OuterRef

    from inbox.selectors import ticket_visible_queryset

    my_teams = Membership.objects.filter(user=user).values("team_id")
    mentioned = Mention.objects.filter(
        Q(user=user) | Q(team_id__in=my_teams), note_id=OuterRef("pk")
    )
    unread = Notification.objects.filter(
        recipient=user,
        note_id=OuterRef("pk"),
        kind=NotificationKind.MENTIONED,
        read_at__isnull=True,
    )
    return (
        Note.objects.filter(Exists(mentioned))
        .filter(ticket__in=ticket_visible_queryset(user=user))
        .annotate(is_unread=Exists(unread))
        .select_related("ticket", "author", "ticket__account")
        .order_by("-is_unread", "-created_at", "-id")[:limit]
    )


def handoff_list_for_user(*, user: User, limit: int = 50) -> dict[str, list[Handoff]]:
    """Handoffs waiting for `user` or their teams, and the ones they sent (newest first)."""
    my_teams = Membership.objects.filter(user=user).values("team_id")
    related = ("ticket", "ticket__account", "from_user", "to_user", "to_team", "context_note")
    pending = (
        Handoff.objects.filter(Q(to_user=user) | Q(to_team_id__in=my_teams))
        .filter(status=HandoffStatus.PENDING)
        .select_related(*related)
        .order_by("created_at", "id")[:limit]
    )
    sent = (
        Handoff.objects.filter(from_user=user)
        .select_related(*related, "responded_by")
        .order_by("-created_at", "-id")[:limit]
    )
    return {"pending_for_me": list(pending), "sent_by_me": list(sent)}


def handoff_list_for_account(*, account_id: int, limit: int = 50) -> QuerySet[Handoff]:
    """The account's handoffs with their outcomes, for the account page."""
    return (
        Handoff.objects.filter(ticket__account_id=account_id)
        .select_related("ticket", "from_user", "to_user", "to_team", "responded_by")
        .order_by("-created_at", "-id")[:limit]
    )
