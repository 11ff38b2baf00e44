"""REST API v1: thin viewsets over the same services and selectors as the web inbox."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Account, AccountMetrics, Contact, RevenueEvent, SurveyResponse
from accounts.selectors import account_visible_queryset
from accounts.services import contact_get_or_create
from helpdesk.models import Role
from inbox.models import Channel, Message, Ticket
from inbox.selectors import ticket_get_for_user, ticket_visible_queryset
from inbox.services import (
    InboundContent,
    reply_create,
    ticket_assign,
    ticket_create,
    ticket_set_priority,
    ticket_set_status,
    ticket_set_tags,
    ticket_set_team,
    ticket_take,
)
from notes.models import Handoff, Note, Notification
from notes.services import note_create

from . import serializers as s
from . import services
from .exceptions import HandoffsUnavailable
from .filters import (
    AccountFilter,
    ContactFilter,
    NotificationFilter,
    SurveyResponseFilter,
    TicketFilter,
)
from .idempotency import idempotent
from .pagination import OldestFirstCursorPagination
from .permissions import RoleModelPermission

PAGINATION_PARAMS = {"cursor", "page_size", "format"}

TICKET_LIST_RELATED = ("requester", "account", "team", "assignee")


class StrictQueryMixin:
    """Unknown query parameters answer 400 instead of being ignored (a typo'd filter would
    otherwise return everything)."""

    def check_query_params(self, request: Request) -> None:
        allowed = set(PAGINATION_PARAMS)
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None:
            allowed |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})

    def paginated(self, request: Request, queryset: QuerySet, serializer_class: Any) -> Response:
        self.check_query_params(request)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)


def _visible_ticket(request: Request, number: Any) -> Ticket:
    try:
        number = int(number)
    except (TypeError, ValueError) as exc:
        raise Http404 from exc
    if not 0 < number < 2**31:
        raise Http404
    return ticket_get_for_user(user=request.user, number=number)


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
        )

    def _ticket_response(self, ticket: Ticket, code: int = status.HTTP_200_OK) -> Response:
        ticket = (
            Ticket.objects.select_related(*TICKET_LIST_RELATED)
            .prefetch_related("tags")
            .get(pk=ticket.pk)
        )
        return Response(s.TicketSerializer(ticket).data, status=code)

    def list(self, request: Request) -> Response:
        self.check_query_params(request)
        queryset = self.filter_queryset(self.get_queryset())
        return self.paginated(request, queryset, s.TicketSerializer)

    def retrieve(self, request: Request, number: str) -> Response:
        return self._ticket_response(_visible_ticket(request, number))

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
                priority=values.get("priority") or "normal",
                tags=values.get("tags") or (),
                created_by=request.user,
            )
        return self._ticket_response(ticket, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, number: str) -> Response:
        ticket = _visible_ticket(request, number)
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
    def take(self, request: Request, number: str) -> Response:
        ticket = ticket_take(ticket=_visible_ticket(request, number), user=request.user)
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
        ticket = _visible_ticket(request, number)
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
        ticket = _visible_ticket(request, number)
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
        ticket = _visible_ticket(request, number)
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
            note_markdown=values.get("note", ""),
        )
        return _handoff_response(handoff, status.HTTP_201_CREATED)


# --- handoffs -----------------------------------------------------------------------------

HANDOFF_RELATED = ("ticket", "from_user", "to_user", "to_team", "responded_by")


def handoff_service(name: str) -> Any:
    """Import a handoff service lazily: they are written on another branch."""
    from notes import services as notes_services

    function = getattr(notes_services, name, None)
    if function is None:
        raise HandoffsUnavailable(name)
    return function


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
    def accept(self, request: Request, pk: str) -> Response:
        handoff = self._handoff(pk)
        handoff_accept = handoff_service("handoff_accept")
        handoff = handoff_accept(handoff=handoff, user=request.user)
        return _handoff_response(handoff)

    @extend_schema(summary="Decline the handoff with a reason", request=s.HandoffDeclineSerializer)
    @action(detail=True, methods=["post"])
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
    def return_(self, request: Request, pk: str) -> Response:
        handoff = self._handoff(pk)
        data = s.HandoffReturnSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        handoff_return = handoff_service("handoff_return")
        handoff = handoff_return(
            handoff=handoff, user=request.user, note_markdown=data.validated_data.get("note", "")
        )
        return _handoff_response(handoff)


# --- accounts and customers ---------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Accounts you may see (a success manager: their book)"),
    retrieve=extend_schema(summary="An account"),
    create=extend_schema(
        summary="Create an account",
        request=s.AccountCreateSerializer,
        responses={201: s.AccountSerializer},
    ),
)
class AccountViewSet(StrictQueryMixin, viewsets.GenericViewSet):
    serializer_class = s.AccountSerializer
    filterset_class = AccountFilter
    permission_classes = [RoleModelPermission]
    permission_model = Account
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> QuerySet[Account]:
        if getattr(self, "swagger_fake_view", False):
            return Account.objects.none()  # schema generation
        return (
            account_visible_queryset(user=self.request.user)
            .select_related("success_manager", "metrics")
            .prefetch_related("domains")
        )

    def _account(self, pk: str) -> Account:
        try:
            return self.get_queryset().get(pk=int(pk))
        except (Account.DoesNotExist, ValueError, OverflowError) as exc:
            raise Http404("No such account.") from exc

    def list(self, request: Request) -> Response:
        self.check_query_params(request)
        return self.paginated(
            request, self.filter_queryset(self.get_queryset()), s.AccountSerializer
        )

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(s.AccountSerializer(self._account(pk)).data)

    @idempotent
    def create(self, request: Request) -> Response:
        data = s.AccountCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = services.account_create(**data.validated_data)
        return Response(
            s.AccountSerializer(self._account(account.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Current metric values, when they were computed and the health components",
        responses=s.AccountMetricsSerializer,
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def metrics(self, request: Request, pk: str) -> Response:
        account = self._account(pk)
        try:
            metrics = account.metrics
        except AccountMetrics.DoesNotExist:
            metrics = AccountMetrics(account=account)  # not computed yet: all null
        return Response(s.AccountMetricsSerializer(metrics).data)


def _contact_queryset(user: Any) -> QuerySet[Contact]:
    queryset = Contact.objects.select_related("account")
    if user.role == Role.SUCCESS and not user.is_superuser:
        queryset = queryset.filter(account__in=account_visible_queryset(user=user))
    return queryset


@extend_schema_view(
    list=extend_schema(summary="Contacts (a success manager: those of their accounts)"),
    create=extend_schema(
        summary="Create a contact",
        request=s.ContactCreateSerializer,
        responses={201: s.ContactSerializer},
    ),
)
class ContactViewSet(StrictQueryMixin, viewsets.GenericViewSet):
    serializer_class = s.ContactSerializer
    filterset_class = ContactFilter
    permission_classes = [RoleModelPermission]
    permission_model = Contact

    def get_queryset(self) -> QuerySet[Contact]:
        if getattr(self, "swagger_fake_view", False):
            return Contact.objects.none()  # schema generation
        return _contact_queryset(self.request.user)

    def list(self, request: Request) -> Response:
        self.check_query_params(request)
        return self.paginated(
            request, self.filter_queryset(self.get_queryset()), s.ContactSerializer
        )

    @idempotent
    def create(self, request: Request) -> Response:
        data = s.ContactCreateSerializer(
            data=request.data, accounts=account_visible_queryset(user=request.user)
        )
        data.is_valid(raise_exception=True)
        contact = services.contact_create(**data.validated_data)
        contact = Contact.objects.select_related("account").get(pk=contact.pk)
        return Response(s.ContactSerializer(contact).data, status=status.HTTP_201_CREATED)


class RevenueEventViewSet(viewsets.GenericViewSet):
    serializer_class = s.RevenueEventSerializer
    permission_classes = [RoleModelPermission]
    permission_model = RevenueEvent

    def get_queryset(self) -> QuerySet[RevenueEvent]:
        if getattr(self, "swagger_fake_view", False):
            return RevenueEvent.objects.none()  # schema generation
        return RevenueEvent.objects.filter(
            account__in=account_visible_queryset(user=self.request.user)
        )

    @extend_schema(
        summary="Record a revenue event; an existing external_id returns that event (200)",
        request=s.RevenueEventCreateSerializer,
        responses={200: s.RevenueEventSerializer, 201: s.RevenueEventSerializer},
    )
    @idempotent
    def create(self, request: Request) -> Response:
        data = s.RevenueEventCreateSerializer(
            data=request.data, accounts=account_visible_queryset(user=request.user)
        )
        data.is_valid(raise_exception=True)
        external_id = data.validated_data.get("external_id")
        if external_id:
            existing = RevenueEvent.objects.filter(external_id=external_id).first()
            if existing is not None:
                if not self.get_queryset().filter(pk=existing.pk).exists():
                    raise Http404  # someone else's book: do not say it exists
                return Response(s.RevenueEventSerializer(existing).data)
        event, created = services.revenue_event_record(**data.validated_data)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.RevenueEventSerializer(event).data, status=code)


@extend_schema_view(
    list=extend_schema(summary="Survey responses of the accounts you may see"),
    create=extend_schema(
        summary="Record a survey response (source api)",
        request=s.SurveyResponseCreateSerializer,
        responses={201: s.SurveyResponseSerializer},
    ),
)
class SurveyResponseViewSet(StrictQueryMixin, viewsets.GenericViewSet):
    serializer_class = s.SurveyResponseSerializer
    filterset_class = SurveyResponseFilter
    permission_classes = [RoleModelPermission]
    permission_model = SurveyResponse

    def get_queryset(self) -> QuerySet[SurveyResponse]:
        if getattr(self, "swagger_fake_view", False):
            return SurveyResponse.objects.none()  # schema generation
        queryset = SurveyResponse.objects.select_related("ticket")
        user = self.request.user
        if user.role == Role.SUCCESS and not user.is_superuser:
            queryset = queryset.filter(account__in=account_visible_queryset(user=user))
        return queryset

    def list(self, request: Request) -> Response:
        self.check_query_params(request)
        queryset = self.filter_queryset(self.get_queryset())
        return self.paginated(request, queryset, s.SurveyResponseSerializer)

    @idempotent
    def create(self, request: Request) -> Response:
        accounts = account_visible_queryset(user=request.user)
        data = s.SurveyResponseCreateSerializer(
            data=request.data,
            accounts=accounts,
            contacts=_contact_queryset(request.user),
        )
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if values.get("ticket"):
            values["ticket"] = _visible_ticket(request, values["ticket"])
            if SurveyResponse.objects.filter(ticket=values["ticket"], kind=values["kind"]).exists():
                raise ValidationError({"ticket": ["This ticket already has this survey kind."]})
        response = services.survey_response_create(**values)
        response = SurveyResponse.objects.select_related("ticket").get(pk=response.pk)
        return Response(s.SurveyResponseSerializer(response).data, status=status.HTTP_201_CREATED)


# --- the caller ---------------------------------------------------------------------------


@extend_schema_view(list=extend_schema(summary="Your notifications, newest first"))
class NotificationViewSet(StrictQueryMixin, viewsets.GenericViewSet):
    serializer_class = s.NotificationSerializer
    filterset_class = NotificationFilter
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()  # schema generation
        return Notification.objects.filter(recipient=self.request.user).select_related(
            "actor", "ticket"
        )

    def list(self, request: Request) -> Response:
        self.check_query_params(request)
        queryset = self.filter_queryset(self.get_queryset())
        return self.paginated(request, queryset, s.NotificationSerializer)

    @extend_schema(summary="Mark the notification read", request=None)
    @action(detail=True, methods=["post"], filterset_class=None)
    def read(self, request: Request, pk: str) -> Response:
        try:
            notification = self.get_queryset().get(pk=int(pk))
        except (Notification.DoesNotExist, ValueError, OverflowError) as exc:
            raise Http404 from exc
        notification = services.notification_mark_read(notification=notification)
        return Response(s.NotificationSerializer(notification).data)


class UserViewSet(viewsets.GenericViewSet):
    serializer_class = s.MeSerializer

    def get_queryset(self) -> QuerySet:
        return type(self.request.user).objects.none()

    @extend_schema(summary="The signed-in user", responses=s.MeSerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def me(self, request: Request) -> Response:
        user = type(request.user).objects.prefetch_related("teams").get(pk=request.user.pk)
        return Response(s.MeSerializer(user).data)
