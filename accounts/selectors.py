"""Reads for account pages and dashboards, scoped to what the user may see."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, QuerySet
from django.http import Http404
from django.utils import timezone

from helpdesk.models import Role, User

from .models import Account, HealthBandChange, MetricSnapshot, RevenueEvent

TREND_DAYS = 90

SORTS: dict[str, list[Any]] = {
    "name": ["name", "pk"],
    "health": [F("metrics__health_score").asc(nulls_last=True), "name", "pk"],
    "-health": [F("metrics__health_score").desc(nulls_last=True), "name", "pk"],
    "mrr": ["mrr", "name", "pk"],
    "-mrr": [F("mrr").desc(), "name", "pk"],
    "renewal": [F("renewal_date").asc(nulls_last=True), "name", "pk"],
    "-renewal": [F("renewal_date").desc(nulls_last=True), "name", "pk"],
}


def account_visible_queryset(*, user: User) -> QuerySet[Account]:
    """Admins and agents see every account; success managers see their book."""
    if not user.is_active:
        return Account.objects.none()
    if user.role == Role.SUCCESS and not user.is_superuser:
        return Account.objects.filter(success_manager=user)
    return Account.objects.all()


def account_list_for_user(
    *,
    user: User,
    sort: str = "name",
    success_manager_id: int | None = None,
    plan: str | None = None,
    band: str | None = None,
) -> QuerySet[Account]:
    """The accounts list: visible accounts with their metrics row, sorted and filtered."""
    queryset = account_visible_queryset(user=user).select_related("success_manager", "metrics")
    if success_manager_id:
        queryset = queryset.filter(success_manager_id=success_manager_id)
    if plan:
        queryset = queryset.filter(plan=plan)
    if band:
        queryset = queryset.filter(metrics__health_band=band)
    return queryset.order_by(*SORTS.get(sort, SORTS["name"]))


def account_filter_choices(*, user: User) -> dict[str, list]:
    """Plans and success managers present in the user's visible accounts (two queries)."""
    visible = account_visible_queryset(user=user)
    plans = sorted(set(visible.exclude(plan="").values_list("plan", flat=True)))
    managers = list(
        User.objects.filter(managed_accounts__in=visible)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )
    return {"plans": plans, "managers": managers}


def account_get_for_user(*, user: User, account_id: int) -> Account:
    try:
        return (
            account_visible_queryset(user=user)
            .select_related("success_manager", "metrics")
            .get(pk=account_id)
        )
    except Account.DoesNotExist as exc:
        raise Http404("No such account.") from exc


@dataclass
class AccountPage:
    account: Account
    metrics: Any
    snapshots: list[MetricSnapshot]
    trend_start: dt.date
    trend_end: dt.date
    open_tickets: list = field(default_factory=list)
    handoffs: list = field(default_factory=list)
    revenue_events: list[RevenueEvent] = field(default_factory=list)
    band_changes: list[HealthBandChange] = field(default_factory=list)


def account_page_for_user(*, user: User, account_id: int, limit: int = 50) -> AccountPage:
    """Everything the account page shows, in a fixed number of queries."""
    from inbox.models import OPEN_STATUSES
    from inbox.selectors import ticket_visible_queryset
    from notes.models import Handoff

    account = account_get_for_user(user=user, account_id=account_id)
    metrics = getattr(account, "metrics", None)
    end = timezone.localdate()
    start = end - dt.timedelta(days=TREND_DAYS - 1)
    snapshots = list(
        MetricSnapshot.objects.filter(account=account, date__gte=start, date__lte=end).order_by(
            "date"
        )
    )
    # Ticket subjects follow the inbox's visibility rule, not the account's.
    visible = ticket_visible_queryset(user=user).filter(account=account)
    open_tickets = list(
        visible.filter(status__in=OPEN_STATUSES)
        .select_related("requester", "assignee", "team")
        .order_by("-created_at", "-id")[:limit]
    )
    handoffs = list(
        Handoff.objects.filter(ticket__in=visible.values("id"))
        .select_related("ticket", "from_user", "to_user", "to_team")
        .order_by("-created_at", "-id")[:limit]
    )
    return AccountPage(
        account=account,
        metrics=metrics,
        snapshots=snapshots,
        trend_start=start,
        trend_end=end,
        open_tickets=open_tickets,
        handoffs=handoffs,
        revenue_events=list(account.revenue_events.order_by("-occurred_on", "-id")[:limit]),
        band_changes=list(HealthBandChange.objects.filter(account=account)[:10]),
    )
