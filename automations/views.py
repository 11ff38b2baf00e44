from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from helpdesk.models import Membership, Role

from .models import Rule


@login_required
def rule_list_view(request: HttpRequest) -> HttpResponse:
    """Rules, read-only, for team leads and admins (admins edit them in Django admin)."""
    user = request.user
    is_lead = Membership.objects.filter(user=user, is_lead=True).exists()
    if not (is_lead or user.is_superuser or user.role == Role.ADMIN):
        raise Http404
    rules = Rule.objects.order_by("position", "id")
    return render(request, "automations/rule_list.html", {"rules": rules})
