"""Inbox HTML views: parse input, call one selector or service, render."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    QueryDict,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from helpdesk.models import CannedResponse, Macro, Priority, User
from helpdesk.services import config_snapshot
from notes.services import NoteInvalid, note_create

from .forms import (
    AssignForm,
    BulkForm,
    ComposerForm,
    MergeForm,
    SavedViewForm,
    SnoozeForm,
    TicketPropertiesForm,
)
from .models import Attachment, Status, Ticket
from .selectors import (
    SORTS,
    VIEWS,
    active_staff_by_name,
    activity_since,
    nav_counts_for_user,
    presence_for_ticket,
    saved_view_filters,
    saved_view_get_for_user,
    saved_views_for_user,
    teams_by_name,
    ticket_filters_from_params,
    ticket_get_for_page,
    ticket_get_for_user,
    ticket_list_for_inbox,
    ticket_page_context,
    ticket_visible_queryset,
    user_team_ids,
)
from .services import (
    PROPERTY_FIELDS,
    InvalidTransition,
    PropertiesConflict,
    TicketTaken,
    canned_render,
    macro_apply,
    presence_touch,
    reply_create,
    saved_view_create,
    ticket_assign,
    ticket_merge,
    ticket_set_status,
    ticket_snooze,
    ticket_take,
    ticket_update_properties,
    tickets_bulk_update,
)


def _default_view(user: User) -> str:
    # Success managers work what is handed to them; agents start from their teams' queue.
    return "handoffs" if user.is_success_manager else "team"


@login_required
def inbox_list_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    team_ids = user_team_ids(user=user)
    saved_views = saved_views_for_user(user=user, team_ids=team_ids)
    active_saved = None
    if request.GET.get("saved", "").isdigit():
        active_saved = saved_view_get_for_user(user=user, view_id=int(request.GET["saved"]))
        filters = saved_view_filters(active_saved)
    else:
        filters = ticket_filters_from_params(request.GET, default_view=_default_view(user))
    page = ticket_list_for_inbox(
        user=user, filters=filters, cursor=request.GET.get("cursor", ""), team_ids=team_ids
    )
    counts = nav_counts_for_user(user=user, saved_views=saved_views, team_ids=team_ids)
    params = filters.as_params()
    next_url = None
    if page.next_cursor:
        query = QueryDict(mutable=True)
        query.update(params)
        if active_saved:
            query = QueryDict(mutable=True)
            query["saved"] = str(active_saved.pk)
        query["cursor"] = page.next_cursor
        next_url = f"?{query.urlencode()}"
    context = {
        "page": page,
        "tickets": page.tickets,
        "filters": filters,
        "views": VIEWS,
        "sorts": SORTS,
        "counts": counts,
        "saved_views": [(saved, counts.get(f"saved-{saved.pk}", 0)) for saved in saved_views],
        "active_saved": active_saved,
        "next_url": next_url,
        "is_first_page": not request.GET.get("cursor"),
        "statuses": Status.choices,
        "current_query": request.GET.urlencode(),
    }
    context.update(_filter_choices(selected_assignee=filters.assignee))
    context["my_teams"] = [team for team in context["all_teams"] if team.pk in team_ids]
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "ticket-rows":
        return render(request, "inbox/partials/rows.html", context)
    return render(request, "inbox/list.html", context)


def _filter_choices(*, selected_assignee: str = "") -> dict:
    """Teams and agents for the filter and bulk menus, rendered here rather than in a
    template loop: a few hundred agents twice over was most of the list page's time."""
    from helpdesk.models import Priority

    from .models import Channel

    with config_snapshot():  # cached with the configuration, one version check
        teams = teams_by_name()
        agents = active_staff_by_name()
    assignee_options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (pk, mark_safe(" selected") if pk == selected_assignee else "", name)
            for pk, name in agents
        ),
    )
    bulk_choices = json.dumps(
        {
            "assign": [["none", "Nobody"], *([pk, name] for pk, name in agents)],
            "team": [[str(team.pk), team.name] for team in teams],
            "status": [[str(value), str(label)] for value, label in Status.choices],
            "priority": [[str(value), str(label)] for value, label in Priority.choices],
        }
    )
    return {
        "priorities": Priority.choices,
        "channels": Channel.choices,
        "all_teams": teams,
        "assignee_options": assignee_options,
        "bulk_choices": bulk_choices,  # autoescaped into a double-quoted attribute
    }


# --- the ticket page -------------------------------------------------------------------


def _render_ticket(
    request: HttpRequest, ticket: Ticket, *, status: int = 200, **extra: object
) -> HttpResponse:
    user = request.user
    context = {
        "ticket": ticket,
        "loaded_at": timezone.now().isoformat(),
        "composer": extra.pop("composer", None) or ComposerForm(initial={"mode": "reply"}),
        "statuses": Status.choices,
        "priorities": Priority.choices,
    }
    context.update(ticket_page_context(ticket=ticket, user=user))  # the panel's too
    context.update(extra)
    presence_touch(ticket_id=ticket.pk, user=user)
    return render(request, "inbox/ticket.html", context, status=status)


@login_required
def ticket_detail_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = ticket_get_for_page(user=request.user, number=number)
    return _render_ticket(request, ticket)


@login_required
@require_POST
def ticket_compose_view(request: HttpRequest, number: int) -> HttpResponse:
    """Send a public reply or add an internal note; warn first if others wrote meanwhile."""
    ticket = ticket_get_for_page(user=request.user, number=number)
    form = ComposerForm(request.POST, files_list=request.FILES.getlist("attachments"))
    if not form.is_valid():
        return _render_ticket(request, ticket, status=400, composer=form)
    data = form.cleaned_data
    if data["loaded_at"] and not data["confirm"]:
        newer = activity_since(ticket=ticket, user=request.user, since=data["loaded_at"])
        if newer:
            # Show what arrived and ask again, instead of answering blind.
            again = ComposerForm(
                initial={"mode": data["mode"], "body": data["body"], "confirm": True}
            )
            return _render_ticket(request, ticket, status=409, composer=again, newer=newer)
    try:
        if data["mode"] == "note":
            note_create(ticket=ticket, author=request.user, body_markdown=data["body"])
            messages.success(request, "Internal note added.")
        else:
            reply_create(
                ticket=ticket,
                author=request.user,
                body_text=data["body"],
                new_status=data["then_status"] or None,
                attachments=form.files_list,
            )
            messages.success(request, "Reply sent.")
    except (InvalidTransition, NoteInvalid) as exc:
        form.add_error(None, str(exc))
        return _render_ticket(request, ticket, status=400, composer=form)
    return redirect(ticket.get_absolute_url())


@login_required
@require_POST
def ticket_take_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, number=number)
    try:
        ticket_take(ticket=ticket, user=request.user)
    except TicketTaken as exc:
        page_ticket = ticket_get_for_page(user=request.user, number=number)
        return _render_ticket(
            request, page_ticket, status=409, take_error=f"{exc.assignee} already has this ticket."
        )
    messages.success(request, f"#{ticket.number} is yours.")
    return redirect(ticket.get_absolute_url())


@login_required
@require_POST
def ticket_assign_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, number=number)
    form = AssignForm(request.POST)
    if not form.is_valid():
        return _render_ticket(
            request,
            ticket_get_for_page(user=request.user, number=number),
            status=400,
            control_errors=form.errors,
        )
    ticket_assign(ticket=ticket, actor=request.user, assignee=form.cleaned_data["assignee"])
    messages.success(request, "Assignee updated.")
    return redirect(ticket.get_absolute_url())


def _conflict_message(exc: PropertiesConflict, ticket: Ticket) -> str:
    """Say what a colleague changed meanwhile and what it is now."""
    now = {
        "status": ticket.get_status_display(),
        "priority": ticket.get_priority_display(),
        "assignee": str(ticket.assignee) if ticket.assignee else "nobody",
        "team": ticket.team.name if ticket.team else "no team",
        "tags": exc.current["tags"].replace(",", ", ") or "no tags",
    }
    parts = [f"{field} (now {now[field]})" for field in exc.fields]
    return (
        f"Not saved: changed meanwhile by someone else: {'; '.join(parts)}. "
        "Check the fields and save again."
    )


@login_required
@require_POST
def ticket_update_view(request: HttpRequest, number: int) -> HttpResponse:
    """Apply the side panel's fields; each changed field goes through its own service."""
    ticket = ticket_get_for_user(user=request.user, number=number)
    form = TicketPropertiesForm(request.POST)
    if not form.is_valid():
        page_ticket = ticket_get_for_page(user=request.user, number=number)
        return _render_ticket(request, page_ticket, status=400, control_errors=form.errors)
    data = form.cleaned_data
    # The values the page showed (hidden `was_*` inputs): without them every field is applied.
    seen = {
        field: request.POST[f"was_{field}"]
        for field in PROPERTY_FIELDS
        if f"was_{field}" in request.POST
    }
    try:
        ticket_update_properties(
            ticket=ticket,
            actor=request.user,
            status=data["status"],
            priority=data["priority"],
            assignee=data["assignee"],
            team=data["team"],
            tags=form.tag_names() if "tags" in request.POST else None,
            seen=seen or None,
        )
    except PropertiesConflict as exc:
        page_ticket = ticket_get_for_page(user=request.user, number=number)
        return _render_ticket(
            request,
            page_ticket,
            status=409,
            control_errors={"conflict": [_conflict_message(exc, page_ticket)]},
        )
    except InvalidTransition as exc:
        page_ticket = ticket_get_for_page(user=request.user, number=number)
        return _render_ticket(
            request, page_ticket, status=400, control_errors={"status": [str(exc)]}
        )
    messages.success(request, "Ticket updated.")
    return redirect(ticket.get_absolute_url())


@login_required
@require_POST
def ticket_status_view(request: HttpRequest, number: int) -> HttpResponse:
    """One-click status (the Solve button, the `s` key)."""
    ticket = ticket_get_for_user(user=request.user, number=number)
    status = request.POST.get("status", "")
    try:
        ticket = ticket_set_status(ticket=ticket, actor=request.user, status=status)
    except InvalidTransition as exc:
        page_ticket = ticket_get_for_page(user=request.user, number=number)
        return _render_ticket(
            request, page_ticket, status=400, control_errors={"status": [str(exc)]}
        )
    messages.success(request, f"#{ticket.number} is now {ticket.get_status_display().lower()}.")
    return redirect(ticket.get_absolute_url())


@login_required
@require_POST
def ticket_merge_view(request: HttpRequest, number: int) -> HttpResponse:
    source = ticket_get_for_user(user=request.user, number=number)
    form = MergeForm(request.POST)
    error = None
    if form.is_valid():
        target = (
            ticket_visible_queryset(user=request.user)
            .filter(number=form.cleaned_data["target"])
            .first()
        )
        if target is None:
            error = "No ticket with that number that you can see."
        else:
            try:
                ticket_merge(source=source, target=target, actor=request.user)
            except InvalidTransition as exc:
                error = str(exc)
            else:
                messages.success(request, f"#{source.number} was merged into #{target.number}.")
                return redirect(target.get_absolute_url())
    else:
        error = "Type the number of the ticket to merge into."
    page_ticket = ticket_get_for_page(user=request.user, number=number)
    return _render_ticket(request, page_ticket, status=400, control_errors={"merge": [error]})


@login_required
@require_POST
def ticket_snooze_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, number=number)
    form = SnoozeForm(request.POST)
    if form.is_valid():
        try:
            ticket_snooze(ticket=ticket, actor=request.user, until=form.cleaned_data["until"])
        except InvalidTransition as exc:
            form.add_error(None, str(exc))
        else:
            until = form.cleaned_data["until"]
            messages.success(
                request,
                f"Snoozed until {timezone.localtime(until):%b %-d, %H:%M}."
                if until
                else "Woken up.",
            )
            return redirect(reverse("inbox:list") if until else ticket.get_absolute_url())
    page_ticket = ticket_get_for_page(user=request.user, number=number)
    errors = [str(e) for e in form.non_field_errors()] or ["Choose when it comes back."]
    return _render_ticket(request, page_ticket, status=400, control_errors={"snooze": errors})


@login_required
@require_POST
def ticket_macro_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, number=number)
    team_ids = user_team_ids(user=request.user)
    macro = (
        Macro.objects.select_related("canned_response", "set_team")
        .filter(pk=_int(request.POST.get("macro")))
        .filter(team__isnull=True)
        .first()
        or Macro.objects.select_related("canned_response", "set_team")
        .filter(pk=_int(request.POST.get("macro")), team_id__in=team_ids)
        .first()
    )
    if macro is None:
        page_ticket = ticket_get_for_page(user=request.user, number=number)
        return _render_ticket(
            request, page_ticket, status=400, control_errors={"macro": ["Choose a macro."]}
        )
    try:
        macro_apply(ticket=ticket, macro=macro, actor=request.user)
    except InvalidTransition as exc:
        page_ticket = ticket_get_for_page(user=request.user, number=number)
        return _render_ticket(
            request, page_ticket, status=400, control_errors={"macro": [str(exc)]}
        )
    messages.success(request, f"Macro “{macro.name}” applied.")
    return redirect(ticket.get_absolute_url())


@login_required
def ticket_canned_view(request: HttpRequest, number: int, canned_id: int) -> HttpResponse:
    """The canned response with its placeholders filled, as text for the composer."""
    ticket = ticket_get_for_page(user=request.user, number=number)
    team_ids = user_team_ids(user=request.user)
    from django.db.models import Q

    canned = (
        CannedResponse.objects.filter(pk=canned_id)
        .filter(
            Q(owner=request.user)
            | Q(owner__isnull=True, team__isnull=True)
            | Q(owner__isnull=True, team_id__in=team_ids)
        )
        .first()
    )
    if canned is None:
        return HttpResponse("Not found", status=404, content_type="text/plain")
    body = canned_render(body=canned.body, ticket=ticket, agent=request.user)
    return HttpResponse(body, content_type="text/plain; charset=utf-8")


@login_required
@require_http_methods(["GET", "POST"])
def ticket_presence_view(request: HttpRequest, number: int) -> HttpResponse:
    """Polled by the ticket page: record my presence, answer who else is here."""
    ticket = ticket_get_for_user(user=request.user, number=number)
    is_typing = request.method == "POST" and request.POST.get("typing") == "1"
    presence_touch(ticket_id=ticket.pk, user=request.user, is_typing=is_typing)
    others = presence_for_ticket(ticket_id=ticket.pk, exclude_user_id=request.user.pk)
    return render(request, "inbox/partials/presence.html", {"others": others})


@login_required
def attachment_download_view(request: HttpRequest, number: int, attachment_id: int) -> HttpResponse:
    """Serve an attachment of a ticket the user may see; always as a download, never inline.

    404 for a missing attachment, one of another ticket, or a ticket the user cannot see.
    """
    ticket = ticket_get_for_user(user=request.user, number=number)
    attachment = Attachment.objects.filter(pk=attachment_id, message__ticket=ticket).first()
    if attachment is None:
        raise Http404("No such attachment.")
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename,
        # Served as opaque bytes: an uploaded .html or .svg must not run on our origin.
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


# --- bulk actions and saved views ------------------------------------------------------


@login_required
@require_POST
def inbox_bulk_view(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    back = reverse("inbox:list") + (
        "?" + request.POST["return_query"] if request.POST.get("return_query") else ""
    )
    if not form.is_valid():
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        messages.error(request, f"Bulk action not applied: {errors}")
        return HttpResponseRedirect(back)
    # Only tickets the user can see; an unknown number is silently left out (404 semantics).
    tickets = list(
        ticket_visible_queryset(user=request.user).filter(number__in=form.cleaned_data["tickets"])
    )
    done = tickets_bulk_update(
        tickets=tickets,
        actor=request.user,
        action=form.cleaned_data["action"],
        value=form.cleaned_data.get("target"),
    )
    messages.success(request, f"Updated {done} ticket{'s' if done != 1 else ''}.")
    return HttpResponseRedirect(back)


@login_required
@require_POST
def saved_view_create_view(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST, user=request.user)
    query = QueryDict(request.POST.get("query", ""))
    filters = ticket_filters_from_params(query, default_view="all")
    if not form.is_valid():
        messages.error(request, "Give the view a name.")
        return HttpResponseRedirect(reverse("inbox:list") + "?" + query.urlencode())
    saved = saved_view_create(
        owner=request.user,
        name=form.cleaned_data["name"],
        filters=filters.as_params(),
        sort=filters.sort,
        team=form.cleaned_data["share_with_team"],
    )
    messages.success(request, f"Saved view “{saved.name}”.")
    return HttpResponseRedirect(reverse("inbox:list") + f"?saved={saved.pk}")


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
