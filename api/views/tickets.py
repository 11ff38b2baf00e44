"""Tickets, their messages, notes and handoffs."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.services import contact_get_or_create
from helpdesk.models import Priority
from inbox.models import Channel, Message, Ticket, TicketAccess
from inbox.selectors import ticket_visible_queryset
from inbox.services import (
    InboundContent,
    reply_create,
    ticket_assign,
    ticket_create,
    ticket_grant_access,
    ticket_set_priority,
    ticket_set_status,
    ticket_set_tags,
    ticket_set_team,
    ticket_take,
)
from notes.models import Handoff, Note
from notes.services import note_create

from .. import serializers as s
from ..filters import TicketFilter
from ..idempotency import idempotent
from ..pagination import OldestFirstCursorPagination
from .common import TICKET_LIST_RELATED, StrictQueryMixin, visible_ticket

# --- tickets ------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List the tickets you may see", responses=s.TicketSerializer),
    retrieve=extend_schema(summary="A ticket by number", responses=s.TicketSerializer),
    create=extend_schema(
        summary="Create a ticket from a requester's first message (channel api)",
        request=s.TicketCreateSerializer,
        responses={201: s.TicketSerializer},
    ),
    partial_update=extend_schema(
        summary="Change status, priority, assignee, team or tags",
        request=s.TicketUpdateSerializer,
        responses=s.TicketSerializer,
    ),
)
class TicketViewSet(StrictQueryMixin, viewsets.GenericViewSet):
    lookup_field = "number"
    lookup_value_regex = r"[0-9]+"
    filterset_class = TicketFilter
    serializer_class = s.TicketSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Ticket]:
        if getattr(self, "swagger_fake_view", False):
            return Ticket.objects.none()  # schema generation
        return (
            ticket_visible_queryset(user=self.request.user)
            .select_related(*TICKET_LIST_RELATED)
            .prefetch_related("tags")
            # The columns the list shows: every other column of five tables cost a third of
            # the page's time in reading and converting (the search vector alone kilobytes).
            .only(*s.TICKET_LIST_COLUMNS)
        )

    def _ticket_response(self, ticket: Ticket, code: int = status.HTTP_200_OK) -> Response:
        ticket = (
            Ticket.objects.select_related(*TICKET_LIST_RELATED)
            .prefetch_related("tags")
            .get(pk=ticket.pk)
        )
        return Response(s.TicketSerializer(ticket).data, status=code)

    def list(self, request: Request) -> Response:
        self.check_query_params(request)  # before filtering: a typo'd filter is an error
        queryset = self.filter_queryset(self.get_queryset())
        return self.paginated(request, queryset, s.TicketSerializer)

    def retrieve(self, request: Request, number: str) -> Response:
        return self._ticket_response(visible_ticket(request, number))

    @idempotent
    def create(self, request: Request) -> Response:
        data = s.TicketCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        with transaction.atomic():
            requester = contact_get_or_create(
                email=values["requester_email"], name=values.get("requester_name", "")
            )
            ticket = ticket_create(
                requester=requester,
                subject=values["subject"],
                content=InboundContent(
                    body_text=values["body"],
                    subject=values["subject"],
                    from_email=requester.email,
                ),
                channel=Channel.API,
                team=values.get("team"),
                priority=values.get("priority") or Priority.NORMAL,
                tags=values.get("tags") or (),
                created_by=request.user,
            )
            # The creator may read what they opened, also outside their usual scope (an
            # agent logging a call for another team); else the 201 body is the last they see.
            if not ticket_visible_queryset(user=request.user).filter(pk=ticket.pk).exists():
                ticket_grant_access(
                    ticket=ticket,
                    user=request.user,
                    reason=TicketAccess.Reason.GRANTED,
                    granted_by=request.user,
                )
        return self._ticket_response(ticket, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, number: str) -> Response:
        ticket = visible_ticket(request, number)
        data = s.TicketUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = request.user
        with transaction.atomic():
            if "team" in values:
                ticket = ticket_set_team(ticket=ticket, actor=user, team=values["team"])
            if "assignee" in values:
                ticket = ticket_assign(ticket=ticket, actor=user, assignee=values["assignee"])
            if "priority" in values:
                ticket = ticket_set_priority(ticket=ticket, actor=user, priority=values["priority"])
            if "tags" in values:
                ticket_set_tags(ticket=ticket, actor=user, names=values["tags"])
            if "status" in values:
                ticket = ticket_set_status(ticket=ticket, actor=user, status=values["status"])
        return self._ticket_response(ticket)

    @extend_schema(
        summary="Take the ticket (assign it to yourself); 409 if someone else holds it",
        request=None,
        responses=s.TicketSerializer,
    )
    @action(detail=True, methods=["post"])
    @idempotent  # a retry replays the first answer (not a 409 naming the caller's own take)
    def take(self, request: Request, number: str) -> Response:
        ticket = ticket_take(ticket=visible_ticket(request, number), user=request.user)
        return self._ticket_response(ticket)

    @extend_schema(
        methods=["GET"],
        summary="The ticket's public messages, oldest first",
        responses=s.MessageSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Post a public reply (e-mailed to the requester)",
        request=s.ReplyCreateSerializer,
        responses={201: s.MessageSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        pagination_class=OldestFirstCursorPagination,
        filterset_class=None,
    )
    def messages(self, request: Request, number: str) -> Response:
        ticket = visible_ticket(request, number)
        if request.method == "POST":
            return self._reply(request, ticket)
        queryset = Message.objects.filter(ticket=ticket).select_related(
            "author_user", "author_contact"
        )
        return self.paginated(request, queryset, s.MessageSerializer)

    @idempotent
    def _reply(self, request: Request, ticket: Ticket) -> Response:
        data = s.ReplyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = reply_create(
            ticket=ticket,
            author=request.user,
            body_text=data.validated_data["body"],
            new_status=data.validated_data.get("status"),
        )
        message = Message.objects.select_related("author_user", "author_contact").get(pk=message.pk)
        return Response(s.MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        summary="The ticket's internal notes, oldest first",
        responses=s.NoteSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Add an internal note (Markdown; never e-mailed)",
        request=s.NoteCreateSerializer,
        responses={201: s.NoteSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        pagination_class=OldestFirstCursorPagination,
        filterset_class=None,
    )
    def notes(self, request: Request, number: str) -> Response:
        ticket = visible_ticket(request, number)
        if request.method == "POST":
            return self._note(request, ticket)
        queryset = Note.objects.filter(ticket=ticket).select_related("author")
        return self.paginated(request, queryset, s.NoteSerializer)

    @idempotent
    def _note(self, request: Request, ticket: Ticket) -> Response:
        data = s.NoteCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = note_create(
            ticket=ticket, author=request.user, body_markdown=data.validated_data["body"]
        )
        return Response(s.NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        summary="The ticket's handoffs, newest first",
        responses=s.HandoffSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Hand the ticket off to a user or a team",
        request=s.HandoffCreateSerializer,
        responses={201: s.HandoffSerializer},
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def handoffs(self, request: Request, number: str) -> Response:
        ticket = visible_ticket(request, number)
        if request.method == "POST":
            return self._handoff_create(request, ticket)
        queryset = Handoff.objects.filter(ticket=ticket).select_related(*HANDOFF_RELATED)
        return self.paginated(request, queryset, s.HandoffSerializer)

    @idempotent
    def _handoff_create(self, request: Request, ticket: Ticket) -> Response:
        data = s.HandoffCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        handoff_create = handoff_service("handoff_create")
        values = data.validated_data
        handoff = handoff_create(
            ticket=ticket,
            from_user=request.user,
            to_user=values.get("to_user"),
            to_team=values.get("to_team"),
            kind=values["kind"],
            reason=values["reason"],
            note_markdown=values["note"],
        )
        return _handoff_response(handoff, status.HTTP_201_CREATED)


# --- handoffs -----------------------------------------------------------------------------

HANDOFF_RELATED = ("ticket", "from_user", "to_user", "to_team", "responded_by")


def handoff_service(name: str) -> Any:
    """The notes app's handoff action `name` (one state machine for web and API)."""
    from notes import services as notes_services

    return getattr(notes_services, name)


def _handoff_response(handoff: Handoff, code: int = status.HTTP_200_OK) -> Response:
    handoff = Handoff.objects.select_related(*HANDOFF_RELATED).get(pk=handoff.pk)
    return Response(s.HandoffSerializer(handoff).data, status=code)


class HandoffViewSet(viewsets.GenericViewSet):
    """Answer a handoff: visible when its ticket is, or when it is addressed to you."""

    serializer_class = s.HandoffSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[Handoff]:
        if getattr(self, "swagger_fake_view", False):
            return Handoff.objects.none()  # schema generation
        user = self.request.user
        visible = ticket_visible_queryset(user=user).values("id")
        return Handoff.objects.filter(
            Q(ticket_id__in=visible) | Q(to_user=user) | Q(to_team__memberships__user=user)
        ).distinct()

    def _handoff(self, pk: str) -> Handoff:
        try:
            return self.get_queryset().get(pk=int(pk))
        except (Handoff.DoesNotExist, ValueError, OverflowError) as exc:
            raise Http404 from exc

    @extend_schema(summary="Accept the handoff (ownership moves)", request=None)
    @action(detail=True, methods=["post"])
    @idempotent  # a retried answer replays the first one instead of a 409
    def accept(self, request: Request, pk: str) -> Response:
        handoff = self._handoff(pk)
        handoff_accept = handoff_service("handoff_accept")
        handoff = handoff_accept(handoff=handoff, user=request.user)
        return _handoff_response(handoff)

    @extend_schema(summary="Decline the handoff with a reason", request=s.HandoffDeclineSerializer)
    @action(detail=True, methods=["post"])
    @idempotent  # a retried answer replays the first one instead of a 409
    def decline(self, request: Request, pk: str) -> Response:
        handoff = self._handoff(pk)
        data = s.HandoffDeclineSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        handoff_decline = handoff_service("handoff_decline")
        handoff = handoff_decline(
            handoff=handoff, user=request.user, reason=data.validated_data["reason"]
        )
        return _handoff_response(handoff)

    @extend_schema(summary="Return the ticket to the sender", request=s.HandoffReturnSerializer)
    @action(detail=True, methods=["post"], url_path="return", url_name="return")
    @idempotent  # a retried answer replays the first one instead of a 409
    def return_(self, request: Request, pk: str) -> Response:
        handoff = self._handoff(pk)
        data = s.HandoffReturnSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        handoff_return = handoff_service("handoff_return")
        handoff = handoff_return(
            handoff=handoff, user=request.user, note_markdown=data.validated_data["note"]
        )
        return _handoff_response(handoff)
