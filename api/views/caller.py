"""The caller's own data: notifications and users/me."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from notes.models import Notification

from .. import serializers as s
from .. import services
from ..filters import NotificationFilter
from ..idempotency import idempotent
from .common import StrictQueryMixin

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
    @idempotent
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
        return get_user_model().objects.none()

    @extend_schema(summary="The signed-in user", responses=s.MeSerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
    def me(self, request: Request) -> Response:
        user = get_user_model().objects.prefetch_related("teams").get(pk=request.user.pk)
        return Response(s.MeSerializer(user).data)
