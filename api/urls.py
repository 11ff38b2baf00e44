"""/api/v1/ routes (DESIGN.md "REST API v1": keep these paths)."""

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

app_name = "api"
urlpatterns = router.urls
