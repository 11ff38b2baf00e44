from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from notes.selectors import ticket_panel_context

from .selectors import ticket_get_for_user, ticket_list_for_inbox


@login_required
def inbox_list_view(request: HttpRequest) -> HttpResponse:
    tickets = ticket_list_for_inbox(user=request.user)
    return render(request, "inbox/list.html", {"tickets": tickets})


@login_required
def ticket_detail_view(request: HttpRequest, number: int) -> HttpResponse:
    ticket = ticket_get_for_user(user=request.user, number=number)
    messages = ticket.messages.select_related("author_user", "author_contact")
    context = {"ticket": ticket, "messages": messages}
    context.update(ticket_panel_context(ticket=ticket, user=request.user))
    return render(request, "inbox/ticket.html", context)
