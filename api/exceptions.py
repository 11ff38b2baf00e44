"""Map domain exceptions to HTTP answers, in one place for every endpoint."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from inbox.services import InvalidTransition, TicketTaken
from notes.services import NoteInvalid


class Conflict(Exception):
    """A lost race or a state that no longer allows the request (409)."""


ANSWER_ACTIONS = {"accept", "decline", "return_"}


def _handoff_exception_status(exc: Exception, context: dict[str, Any]) -> int | None:
    """Map notes' HandoffError (written on another branch) by what the refusal means.

    "Only the person ... can" is a permission refusal (403); on accept/decline/return the
    other refusals are about the handoff's current state, i.e. a lost race (409); on create
    a second pending handoff is a conflict (409) and anything else is bad input (400).
    """
    if type(exc).__name__ != "HandoffError" or not type(exc).__module__.startswith("notes."):
        return None
    message = str(exc)
    if message.startswith("Only "):
        return status.HTTP_403_FORBIDDEN
    action = getattr(context.get("view"), "action", None)
    if action in ANSWER_ACTIONS or "already" in message:
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
    handoff_status = _handoff_exception_status(exc, context)
    if handoff_status is not None:
        return Response({"detail": str(exc), "code": "handoff_refused"}, status=handoff_status)
    return exception_handler(exc, context)
