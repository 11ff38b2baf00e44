"""/api/v1/ routes (DESIGN.md "REST API v1": keep these paths)."""

from django.http import HttpRequest, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("handoffs", views.HandoffViewSet, basename="handoff")
router.register("accounts", views.AccountViewSet, basename="account")
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("revenue-events", views.RevenueEventViewSet, basename="revenue-event")
router.register("survey-responses", views.SurveyResponseViewSet, basename="survey-response")
router.register("notifications", views.NotificationViewSet, basename="notification")
router.register("users", views.UserViewSet, basename="user")


@csrf_exempt  # nothing to protect: it only ever answers 404
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Unknown API paths answer JSON like every other API error, not the HTML 404 page."""
    return JsonResponse({"detail": "Not found."}, status=404)


app_name = "api"
urlpatterns = [*router.urls, re_path(r"^(?P<path>[\s\S]*)$", api_not_found, name="not-found")]
