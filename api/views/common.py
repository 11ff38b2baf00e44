"""Shared pieces of the API views: strict query parameters, the ticket fetch."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from inbox.models import Ticket
from inbox.selectors import ticket_get_for_user

PAGINATION_PARAMS = {"cursor", "page_size", "format"}
FREE_TEXT_PARAMS = {"q"}  # may be empty (a cleared search box)

TICKET_LIST_RELATED = ("requester", "account", "team", "assignee")


class StrictQueryMixin:
    """Unknown query parameters answer 400 instead of being ignored (a typo'd filter would
    otherwise return everything)."""

    def check_query_params(self, request: Request) -> None:
        allowed = set(PAGINATION_PARAMS)
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None:
            allowed |= set(filterset_class.base_filters)
        errors = {
            name: ["Unknown query parameter."] for name in set(request.query_params) - allowed
        }
        # An empty typed filter (`?status=`) is a client bug, not "no filter": say so.
        for name, values in request.query_params.lists():
            if name in allowed - FREE_TEXT_PARAMS and any(v == "" for v in values):
                errors[name] = ["This parameter needs a value."]
        if errors:
            raise ValidationError(dict(sorted(errors.items())))

    def paginated(self, request: Request, queryset: QuerySet, serializer_class: Any) -> Response:
        self.check_query_params(request)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


def visible_ticket(request: Request, number: Any) -> Ticket:
    try:
        number = int(number)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    if not 0 < number < 2**31:
        raise Http404
    return ticket_get_for_user(user=request.user, number=number)
