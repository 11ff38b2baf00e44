from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .selectors import account_get_for_user, account_list_for_user


@login_required
def account_list_view(request: HttpRequest) -> HttpResponse:
    accounts = account_list_for_user(user=request.user)[:200]
    return render(request, "accounts/list.html", {"accounts": accounts})


@login_required
def account_detail_view(request: HttpRequest, account_id: int) -> HttpResponse:
    account = account_get_for_user(user=request.user, account_id=account_id)
    return render(request, "accounts/detail.html", {"account": account})
