"""The signed-in user's API tokens page: create (the key shown once) and revoke."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .models import ApiToken
from .services import token_create, token_revoke


@login_required
@require_http_methods(["GET", "POST"])
def token_list_view(request: HttpRequest) -> HttpResponse:
    new_key = None
    error = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name:
            error = "Give the token a name, so you know later what uses it."
        elif len(name) > 100:
            error = "At most 100 characters."
        else:
            _token, new_key = token_create(user=request.user, name=name)
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at", "-id")
    return render(
        request,
        "api/tokens.html",
        {"tokens": tokens, "new_key": new_key, "error": error},
        status=400 if error else 200,
    )


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)  # 404 for others'
    token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("api-tokens")
