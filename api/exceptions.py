"""Map domain exceptions to HTTP answers, in one place for every endpoint."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from inbox.services import InvalidTransition, TicketTaken
from notes.services import NoteInvalid


class HandoffsUnavailable(Exception):
    """The handoff services are not installed yet (they land from another branch)."""


class Conflict(Exception):
    """A lost race or a state that no longer allows the request (409)."""


def _handoff_exception_status(exc: Exception) -> int | None:
    """Handoff errors live in notes.services (another branch): map them by name."""
    name = type(exc).__name__
    if type(exc).__module__ != "notes.services" or not name.startswith("Handoff"):
        return None
    if any(word in name for word in ("Answered", "Taken", "Conflict", "State", "NotPending")):
        return status.HTTP_409_CONFLICT
    return status.HTTP_400_BAD_REQUEST


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, TicketTaken):
        assignee = exc.assignee
        return Response(
            {
                "detail": str(exc),
                "code": "ticket_taken",
                "assignee": (
                    {"id": assignee.pk, "username": assignee.username} if assignee else None
                ),
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, InvalidTransition | Conflict):
        # Unknown values are caught by the serializers (400); what reaches here is a state
        # that does not allow the change (a closed ticket): a conflict with the current state.
        return Response(
            {"detail": str(exc), "code": "invalid_transition"}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, NoteInvalid):
        return Response({"body": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, HandoffsUnavailable):
        return Response(
            {"detail": "Handoffs are not available on this server yet.", "code": "unavailable"},
            status=status.HTTP_501_NOT_IMPLEMENTED,
        )
    handoff_status = _handoff_exception_status(exc)
    if handoff_status is not None:
        return Response({"detail": str(exc), "code": type(exc).__name__}, status=handoff_status)
    return exception_handler(exc, context)
