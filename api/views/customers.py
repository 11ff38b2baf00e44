"""Accounts, contacts, revenue events and survey responses."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Account, AccountMetrics, Contact, RevenueEvent, SurveyResponse
from accounts.selectors import account_visible_queryset
from helpdesk.models import Role

from .. import serializers as s
from .. import services
from ..filters import AccountFilter, ContactFilter, SurveyResponseFilter
from ..idempotency import idempotent
from ..permissions import RoleModelPermission
from .common import StrictQueryMixin, visible_ticket

ALREADY_ANSWERED = "This ticket already has this survey kind."

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
            values["ticket"] = visible_ticket(request, values["ticket"])
            if SurveyResponse.objects.filter(ticket=values["ticket"], kind=values["kind"]).exists():
                raise ValidationError({"ticket": [ALREADY_ANSWERED]})
        try:
            with transaction.atomic():
                response = services.survey_response_create(**values)
        except IntegrityError as exc:  # a concurrent answer for the same ticket and kind
            raise ValidationError({"ticket": [ALREADY_ANSWERED]}) from exc
        response = SurveyResponse.objects.select_related("ticket").get(pk=response.pk)
        return Response(s.SurveyResponseSerializer(response).data, status=status.HTTP_201_CREATED)
