from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination

from inbox.selectors import TAG_ORDER_FIELD, TagLinkPage

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from rest_framework.request import Request
    from rest_framework.views import APIView


class CreatedCursorPagination(CursorPagination):
    """Newest first; stable under inserts (a cursor, not an offset)."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_ordering(self, request: Request, queryset: QuerySet, view: APIView) -> tuple[str, ...]:
        # A tag-filtered ticket list pages in its links' date order, the same order as
        # created_at (inbox.selectors.tickets_tagged): that walk stops at a page.
        if TAG_ORDER_FIELD in queryset.query.annotations:
            return tuple(order.replace("created_at", TAG_ORDER_FIELD) for order in self.ordering)
        return super().get_ordering(request, queryset, view)

    def tag_link_page(self, request: Request) -> TagLinkPage:
        """The page this request reads, as DRF's cursor will (position, direction, offset),
        for a tag filter that reads the page's ids from the tag's links first."""
        cursor = self.decode_cursor(request)
        offset, reverse, position = cursor if cursor else (0, False, None)
        return TagLinkPage(
            after=position,
            descending=self.ordering[0].startswith("-") != reverse,
            rows=offset + self.get_page_size(request) + 1,
        )

    def get_page_size(self, request: Request) -> int:
        # DRF falls back to the default on a bad value; an API client should hear about it.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
        return parameters


class OldestFirstCursorPagination(CreatedCursorPagination):
    """A ticket's thread reads oldest first."""

    ordering = ("created_at", "id")
