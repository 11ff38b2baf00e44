"""Reads for the inbox: permission-scoped querysets shaped for one screen."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from helpdesk.models import Role, User

from .models import OPEN_STATUSES, Ticket


def ticket_visibility_q(*, user: User) -> Q:
    """Return the filter of tickets `user` may see.

    Agents: their teams' tickets and tickets assigned to them. Success managers: tickets of
    the accounts they manage. Everyone: tickets explicitly shared with them (mention,
    handoff). Admins: everything.
    """
    if not user.is_active:
        return Q(pk__in=[])
    if user.is_superuser or user.role == Role.ADMIN:
        return Q()
    granted = Q(access_grants__user=user)
    if user.role == Role.SUCCESS:
        return Q(account__success_manager=user) | Q(assignee=user) | granted
    return Q(team__memberships__user=user) | Q(assignee=user) | granted


def ticket_visible_queryset(*, user: User) -> QuerySet[Ticket]:
    # A subquery on ids keeps the joins of the visibility rule from duplicating rows.
    visible_ids = Ticket.objects.filter(ticket_visibility_q(user=user)).values("id")
    if user.is_superuser or user.role == Role.ADMIN:
        return Ticket.objects.all()
    return Ticket.objects.filter(id__in=visible_ids)


def ticket_get_for_user(*, user: User, number: int, lock: bool = False) -> Ticket:
    """Fetch ticket `number` if `user` may see it; 404 for missing and forbidden alike."""
    queryset = ticket_visible_queryset(user=user).select_related(
        "requester", "account", "account__success_manager", "team", "assignee"
    )
    if lock:
        # Lock only the ticket row (nullable joins cannot be locked FOR UPDATE in PostgreSQL).
        queryset = queryset.select_for_update(of=("self",))
    try:
        return queryset.get(number=number)
    except Ticket.DoesNotExist as exc:
        raise Http404("No such ticket.") from exc


def ticket_list_for_inbox(*, user: User, limit: int = 50) -> QuerySet[Ticket]:
    """Open tickets visible to `user`, newest first, with what a list row shows."""
    return (
        ticket_visible_queryset(user=user)
        .filter(status__in=OPEN_STATUSES)
        .select_related("requester", "account", "team", "assignee")
        .prefetch_related("tags")
        .order_by("-created_at", "-id")[:limit]
    )
