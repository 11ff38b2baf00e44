"""django-filter sets for the API lists; `q` is full-text search on tickets."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django.contrib.postgres.search import SearchQuery
from django.db import connection
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError

from accounts.models import Account, Contact, Lifecycle, SurveyKind, SurveyResponse
from helpdesk.models import Priority
from inbox.models import Status, Ticket
from inbox.selectors import tickets_tagged
from notes.models import Notification


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """Normalise to UTC first: PostgreSQL refuses offsets beyond +-15:59 that ISO allows."""

    def filter(self, qs: QuerySet, value: datetime | None) -> QuerySet:
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except (OverflowError, ValueError) as exc:
                raise ValidationError({self.field_name: ["Date out of range."]}) from exc
        return super().filter(qs, value)


class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """`true` or `false`; anything else is a 400 (django-filter's boolean ignores junk)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)


# Ticket filters that the tag links do not copy: with one of them the links cannot tell a
# page on their own (TicketFilter.tagged).
TICKET_ONLY_FILTERS = ("requester", "q", "created_after", "created_before")


class TicketFilter(django_filters.FilterSet):
    # distinct=False: one ticket has one status, so nothing can repeat, and a DISTINCT over
    # every column made PostgreSQL sort all open tickets to return a page (0.4 s at 1 M).
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, distinct=False)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices, distinct=False)
    team = django_filters.NumberFilter(field_name="team_id", min_value=1)
    assignee = django_filters.NumberFilter(field_name="assignee_id", min_value=1)
    unassigned = StrictBooleanFilter(field_name="assignee", lookup_expr="isnull")
    account = django_filters.NumberFilter(field_name="account_id", min_value=1)
    requester = django_filters.NumberFilter(field_name="requester_id", min_value=1)
    tag = django_filters.CharFilter(method="tagged", max_length=64)
    q = django_filters.CharFilter(method="search", max_length=500)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Ticket
        fields: list[str] = []

    def tagged(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        # Pages then follow the tag's links (api.pagination reads the annotation it adds).
        # The other filters are repeated on the links' copies of those columns, so the link
        # walk skips non-matching tickets inside its index; on the ticket they still apply.
        data = self.form.cleaned_data
        on_copies = {
            "status__in": data.get("status"),
            "priority__in": data.get("priority"),
            "team_id": data.get("team"),
            "assignee_id": data.get("assignee"),
            "account_id": data.get("account"),
        }
        also = Q(**{lookup: v for lookup, v in on_copies.items() if v})
        if data.get("unassigned") in (True, False):  # "" when not given
            also &= Q(assignee__isnull=data["unassigned"])
        # With no filter the copies lack, the page's ids come from the links first.
        page = None
        view = (getattr(self.request, "parser_context", None) or {}).get("view")
        paginator = getattr(view, "paginator", None)
        copied_only = not any(data.get(name) for name in TICKET_ONLY_FILTERS)
        if copied_only and hasattr(paginator, "tag_link_page"):
            page = paginator.tag_link_page(self.request)
        return tickets_tagged(
            queryset, user=self.request.user, tag_name=value, also=also, page=page
        )

    def search(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        value = value.strip()
        if not value:
            return queryset
        if connection.vendor != "postgresql":
            return queryset.filter(subject__icontains=value)
        # The vector holds 'simple' (exact words, e-mail addresses) and 'english' (stems).
        query = SearchQuery(value, config="simple", search_type="websearch") | SearchQuery(
            value, config="english", search_type="websearch"
        )
        return queryset.filter(search_vector=query)


class AccountFilter(django_filters.FilterSet):
    plan = django_filters.CharFilter(max_length=64)
    lifecycle = django_filters.ChoiceFilter(choices=Lifecycle.choices)
    success_manager = django_filters.NumberFilter(field_name="success_manager_id", min_value=1)
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=200)

    class Meta:
        model = Account
        fields: list[str] = []


class ContactFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(lookup_expr="iexact", max_length=254)
    account = django_filters.NumberFilter(field_name="account_id", min_value=1)
    q = django_filters.CharFilter(method="search", max_length=200)

    class Meta:
        model = Contact
        fields: list[str] = []

    def search(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        from django.db.models import Q

        return queryset.filter(Q(email__icontains=value) | Q(name__icontains=value))


class SurveyResponseFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=SurveyKind.choices)
    account = django_filters.NumberFilter(field_name="account_id", min_value=1)
    contact = django_filters.NumberFilter(field_name="contact_id", min_value=1)

    class Meta:
        model = SurveyResponse
        fields: list[str] = []


class NotificationFilter(django_filters.FilterSet):
    unread = StrictBooleanFilter(field_name="read_at", lookup_expr="isnull")

    class Meta:
        model = Notification
        fields: list[str] = []
