"""Reads for account pages, scoped to what the user may see."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from helpdesk.models import Role, User

from .models import Account


def account_visible_queryset(*, user: User) -> QuerySet[Account]:
    """Admins and agents see every account; success managers see their book."""
    if not user.is_active:
        return Account.objects.none()
    if user.role == Role.SUCCESS and not user.is_superuser:
        return Account.objects.filter(success_manager=user)
    return Account.objects.all()


def account_list_for_user(*, user: User) -> QuerySet[Account]:
    return (
        account_visible_queryset(user=user)
        .select_related("success_manager", "metrics")
        .order_by("name")
    )


def account_get_for_user(*, user: User, account_id: int) -> Account:
    try:
        return (
            account_visible_queryset(user=user)
            .select_related("success_manager", "metrics")
            .get(pk=account_id)
        )
    except Account.DoesNotExist as exc:
        raise Http404("No such account.") from exc
