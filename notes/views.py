"""HTML views for collaboration: notifications, handoff actions, follow, note edit and pin.

Thin: parse the input, call one service or selector, render or redirect. A ticket the user
may not see answers 404 (through the selectors); a refused step re-renders its form with
the reason and status 400.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from helpdesk.models import Team, TeamKind, User
from inbox.models import Ticket
from inbox.selectors import ticket_get_for_user

from .models import Delivery, HandoffReason, NotificationKind, NotificationPreference
from .selectors import (
    handoff_get_for_user,
    mention_candidates,
    note_get_for_user,
    notification_list_for_user,
    success_targets,
    target_options,
)
from .services import (
    HandoffError,
    NoteForbidden,
    NoteInvalid,
    follower_add,
    follower_remove,
    handoff_accept,
    handoff_cancel,
    handoff_create,
    handoff_decline,
    handoff_return,
    handoff_transfer,
    note_edit,
    note_set_pinned,
    notification_mark_all_read,
    notification_mark_read,
    notification_preference_set,
)


def _see_other(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


# --- notifications ---------------------------------------------------------------------


@login_required
@require_GET
def notification_list_view(request: HttpRequest) -> HttpResponse:
    notifications = notification_list_for_user(user=request.user)
    return render(request, "notes/notifications.html", {"notifications": notifications})


@login_required
@require_POST
def notification_read_view(request: HttpRequest, notification_id: int) -> HttpResponse:
    notification_mark_read(notification_id=notification_id, user=request.user)
    return _see_other("/notifications/")


@login_required
@require_POST
def notification_read_all_view(request: HttpRequest) -> HttpResponse:
    notification_mark_all_read(user=request.user)
    return _see_other("/notifications/")


@login_required
@require_http_methods(["GET", "POST"])
def notification_preferences_view(request: HttpRequest) -> HttpResponse:
    saved = {p.kind: p.email for p in NotificationPreference.objects.filter(user=request.user)}
    if request.method == "POST":
        for kind in NotificationKind.values:
            value = request.POST.get(kind)
            if value in Delivery.values and value != saved.get(kind, Delivery.DIGEST):
                notification_preference_set(user=request.user, kind=kind, email=value)
        return _see_other("/notifications/preferences/")
    rows = [
        {"kind": kind, "label": label, "value": saved.get(kind, Delivery.DIGEST)}
        for kind, label in NotificationKind.choices
    ]
    return render(
        request,
        "notes/preferences.html",
        {"rows": rows, "deliveries": Delivery.choices},
    )


@login_required
@require_GET
def mention_autocomplete_view(request: HttpRequest) -> HttpResponse:
    """Return a small HTML list of staff users and teams matching ?q= (for the composer)."""
    rows = mention_candidates(query=request.GET.get("q", ""))
    return render(request, "notes/partials/mention_list.html", {"rows": rows})


# --- followers ----------------------------------------------------------------------------


@login_required
@require_POST
def follow_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, number=number)
    follower_add(ticket=ticket, user=request.user)
    return _see_other(f"{ticket.get_absolute_url()}#followers")


@login_required
@require_POST
def unfollow_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, number=number)
    follower_remove(ticket=ticket, user=request.user)
    return _see_other(f"{ticket.get_absolute_url()}#followers")


# --- handoffs ----------------------------------------------------------------------------


class HandoffCreateForm(forms.Form):
    reason = forms.ChoiceField(choices=HandoffReason.choices)
    target = forms.CharField(required=False)
    note = forms.CharField(
        widget=forms.Textarea, error_messages={"required": "Write a context note."}
    )

    def clean_target(self) -> tuple[User | None, Team | None]:
        value = self.cleaned_data.get("target") or ""
        kind, _, raw_id = value.partition(":")
        if not value:
            return None, None  # the account's success manager
        if not raw_id.isdigit() or kind not in ("user", "team"):
            raise forms.ValidationError("Choose a success manager or the success team.")
        if kind == "team":
            team = Team.objects.filter(pk=int(raw_id), kind=TeamKind.SUCCESS).first()
            if team is None:
                raise forms.ValidationError("Choose a success team.")
            return None, team
        users, _teams = success_targets()
        user = next((u for u in users if u.pk == int(raw_id)), None)
        if user is None:
            raise forms.ValidationError("Choose a success manager.")
        return user, None


def _handoff_form_page(
    request: HttpRequest,
    *,
    ticket: Ticket,
    form: HandoffCreateForm,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    users, teams = success_targets()
    manager_id = ticket.account.success_manager_id if ticket.account_id else None
    options = target_options(
        users=[u for u in users if u.pk != request.user.pk],
        teams=teams,
        default_user_id=manager_id,
        chosen=form.data.get("target", ""),
    )
    return render(
        request,
        "notes/handoff_form.html",
        {
            "ticket": ticket,
            "form": form,
            "error": error,
            "panel_reasons": HandoffReason.choices,
            "panel_target_options": options,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def handoff_create_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, number=number)
    if request.method == "GET":
        return _handoff_form_page(request, ticket=ticket, form=HandoffCreateForm())
    form = HandoffCreateForm(request.POST)
    if not form.is_valid():
        return _handoff_form_page(request, ticket=ticket, form=form, status=400)
    to_user, to_team = form.cleaned_data["target"]
    try:
        handoff = handoff_create(
            ticket=ticket,
            from_user=request.user,
            to_user=to_user,
            to_team=to_team,
            kind="escalate_to_success",
            reason=form.cleaned_data["reason"],
            note_markdown=form.cleaned_data["note"],
        )
    except HandoffError as exc:
        return _handoff_form_page(request, ticket=ticket, form=form, error=str(exc), status=400)
    return _see_other(f"{ticket.get_absolute_url()}#handoff-{handoff.pk}")


HANDOFF_ACTIONS = ("accept", "decline", "return", "transfer", "cancel")


@login_required
@require_http_methods(["GET", "POST"])
def handoff_action_view(request: HttpRequest, handoff_id: int, action: str) -> HttpResponse:
    """Answer a handoff: accept, decline (reason), return (outcome note), transfer, cancel."""
    handoff = handoff_get_for_user(user=request.user, handoff_id=handoff_id)
    if action not in HANDOFF_ACTIONS:
        raise Http404("No such action.")
    ticket = handoff.ticket
    context = {
        "handoff": handoff,
        "ticket": ticket,
        "action": action,
        "values": request.POST,
    }
    if action == "transfer" or request.method == "GET":
        context["transfer_users"] = [u for u in success_targets()[0] if u.pk != request.user.pk]
    if request.method == "GET":
        return render(request, "notes/handoff_action.html", context)
    user = request.user
    try:
        if action == "accept":
            result = handoff_accept(handoff=handoff, user=user)
        elif action == "decline":
            result = handoff_decline(
                handoff=handoff, user=user, reason=request.POST.get("reason", "")
            )
        elif action == "return":
            result = handoff_return(
                handoff=handoff, user=user, note_markdown=request.POST.get("note", "")
            )
        elif action == "transfer":
            to_user = next(
                (u for u in context["transfer_users"] if str(u.pk) == request.POST.get("to_user")),
                None,
            )
            if to_user is None:
                raise HandoffError("Choose the success manager to transfer to.")
            result = handoff_transfer(
                handoff=handoff,
                user=user,
                to_user=to_user,
                note_markdown=request.POST.get("note", ""),
            )
        else:
            result = handoff_cancel(handoff=handoff, user=user)
    except HandoffError as exc:
        context["error"] = str(exc)
        return render(request, "notes/handoff_action.html", context, status=400)
    return _see_other(f"{ticket.get_absolute_url()}#handoff-{result.pk}")


# --- notes -------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def note_edit_view(request: HttpRequest, note_id: int) -> HttpResponse:
    note = note_get_for_user(user=request.user, note_id=note_id)
    context = {"note": note, "ticket": note.ticket, "body": note.body_markdown}
    if request.method == "GET":
        return render(request, "notes/note_edit.html", context)
    body = request.POST.get("body", "")
    try:
        note_edit(note=note, user=request.user, body_markdown=body)
    except (NoteForbidden, NoteInvalid) as exc:
        context.update(error=str(exc), body=body)
        status = 403 if isinstance(exc, NoteForbidden) else 400
        return render(request, "notes/note_edit.html", context, status=status)
    return _see_other(f"{note.ticket.get_absolute_url()}#note-{note.pk}")


@login_required
@require_POST
def note_pin_view(request: HttpRequest, note_id: int) -> HttpResponse:
    note = note_get_for_user(user=request.user, note_id=note_id)
    note_set_pinned(note=note, user=request.user, is_pinned=True)
    return _see_other(f"{note.ticket.get_absolute_url()}#note-{note.pk}")


@login_required
@require_POST
def note_unpin_view(request: HttpRequest, note_id: int) -> HttpResponse:
    note = note_get_for_user(user=request.user, note_id=note_id)
    note_set_pinned(note=note, user=request.user, is_pinned=False)
    return _see_other(f"{note.ticket.get_absolute_url()}#note-{note.pk}")
