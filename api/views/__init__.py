"""REST API v1: thin viewsets over the same services and selectors as the web inbox."""

from .caller import NotificationViewSet, UserViewSet
from .customers import (
    AccountViewSet,
    ContactViewSet,
    RevenueEventViewSet,
    SurveyResponseViewSet,
)
from .tickets import HandoffViewSet, TicketViewSet

__all__ = [
    "AccountViewSet",
    "ContactViewSet",
    "HandoffViewSet",
    "NotificationViewSet",
    "RevenueEventViewSet",
    "SurveyResponseViewSet",
    "TicketViewSet",
    "UserViewSet",
]
