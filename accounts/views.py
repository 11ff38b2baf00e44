"""Account pages and the two dashboards: parse input, call one selector, render."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from helpdesk.models import Role, Team, User

from . import display
from .charts import multi_line
from .metrics.health import COMPONENTS, health_explain
from .metrics.portfolio import portfolio_compute, portfolio_trend
from .metrics.support import support_rows
from .models import SCORE_RANGE, HealthBand, Lifecycle
from .selectors import (
    SORTS,
    account_filter_choices,
    account_list_for_user,
    account_page_for_user,
    account_visible_queryset,
)
from .services import SurveyError
from .surveys import QUESTIONS, SCALES, SurveyLinkInvalid, invitation_for_token, survey_answer

PAGE_SIZE = 100
DASHBOARD_ROWS = 25


class AccountFilterForm(forms.Form):
    sort = forms.ChoiceField(choices=[(key, key) for key in SORTS], required=False)
    manager = forms.IntegerField(required=False, min_value=1)
    plan = forms.CharField(required=False, max_length=64)
    band = forms.ChoiceField(choices=[("", "Any"), *HealthBand.choices], required=False)
    page = forms.IntegerField(required=False, min_value=1)


class PeriodForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The period must start before it ends.")
            if (end - start).days > 3 * 366:
                raise forms.ValidationError("Choose a period of at most three years.")
        return data

    def period(self, *, default_days: int = 90) -> tuple[dt.date, dt.date]:
        today = timezone.localdate()
        data = self.cleaned_data if self.is_valid() else {}
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=default_days - 1)
        return start, end


@login_required
def account_list_view(request: HttpRequest) -> HttpResponse:
    form = AccountFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    accounts = account_list_for_user(
        user=request.user,
        sort=filters.get("sort") or "name",
        success_manager_id=filters.get("manager"),
        plan=filters.get("plan") or None,
        band=filters.get("band") or None,
    )
    page = Paginator(accounts, PAGE_SIZE).get_page(filters.get("page") or 1)
    query = request.GET.copy()
    query.pop("sort", None)
    query.pop("page", None)
    return render(
        request,
        "accounts/list.html",
        {
            "form": form,
            "page": page,
            "accounts": page.object_list,
            "sort": filters.get("sort") or "name",
            "query": query.urlencode(),
            **account_filter_choices(user=request.user),
        },
    )


@login_required
def account_detail_view(request: HttpRequest, account_id: int) -> HttpResponse:
    page = account_page_for_user(user=request.user, account_id=account_id)
    components = page.metrics.health_components if page.metrics else {}
    return render(
        request,
        "accounts/detail.html",
        {
            "page": page,
            "account": page.account,
            "metrics": page.metrics,
            "explanation": health_explain(components),
            # jsonb does not keep key order: show the components in their fixed order.
            "components": [components[name] for name in COMPONENTS if name in components],
            "metric_rows": display.metric_rows(
                page.metrics, page.snapshots, start=page.trend_start, end=page.trend_end
            ),
        },
    )


def _portfolio_rows(rows: list) -> list[dict]:
    return [
        {
            "label": row.label,
            "customers_at_start": row.customers_at_start,
            "customers_at_end": row.customers_at_end,
            "retention": display.rate_text(row.retention_rate),
            "churn": display.rate_text(row.churn_rate),
            "upsell": display.rate_text(row.upsell_rate),
            "nrr": display.rate_text(row.net_revenue_retention),
            "grr": display.rate_text(row.gross_revenue_retention),
            "csat": display.percent_text(row.csat_percent),
            "nps": display.signed_text(row.nps),
            "mrr_at_end": display.money_text(row.mrr_at_end),
        }
        for row in rows
    ]


@login_required
def success_dashboard_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = PeriodForm(request.GET or None)
    start, end = form.period(default_days=90)
    visible = account_visible_queryset(user=user)
    book = account_list_for_user(user=user, sort="health")
    if user.role == Role.SUCCESS:
        book = book.filter(success_manager=user)
    at_risk = account_list_for_user(user=user, sort="health").filter(
        Q(metrics__health_band=HealthBand.RED) | Q(lifecycle=Lifecycle.AT_RISK)
    )
    account_ids = list(visible.values_list("pk", flat=True))
    managers = {
        manager.pk: manager.get_full_name() or manager.username
        for manager in User.objects.filter(managed_accounts__in=visible).distinct()
    }
    portfolio = portfolio_compute(
        account_ids=account_ids, start=start, end=end, manager_names=managers
    )
    trend = portfolio_trend(account_ids=account_ids, end=timezone.localdate(), months=12)
    chart = multi_line(
        {
            "Retention": [row.retention_rate for _, row in trend],
            "Churn": [row.churn_rate for _, row in trend],
            "Upsell": [row.upsell_rate for _, row in trend],
            "NRR": [row.net_revenue_retention for _, row in trend],
        },
        labels=[first.strftime("%b %Y") for (first, _), _ in trend],
    )
    return render(
        request,
        "accounts/dashboard_success.html",
        {
            "form": form,
            "start": start,
            "end": end,
            "book": book[:DASHBOARD_ROWS],
            "at_risk": at_risk[:DASHBOARD_ROWS],
            "overall_rows": _portfolio_rows([portfolio.overall]),
            "by_manager": _portfolio_rows(portfolio.by_manager),
            "by_plan": _portfolio_rows(portfolio.by_plan),
            "trend_chart": chart,
            "trend": [
                {"period": f"{first:%b %Y}", **_portfolio_rows([row])[0]}
                for (first, _), row in trend
            ],
        },
    )


def _support_table(rows: list, names: dict) -> list[dict]:
    return sorted(
        (
            {
                "label": names[row.key],
                "created": row.created,
                "first_response": display.duration_text(row.first_response_median),
                "resolution": display.duration_text(row.resolution_median),
                "fcr": display.rate_text(row.first_contact_resolution_rate),
                "csat": display.percent_text(row.csat_percent),
                "backlog": row.backlog,
            }
            for row in rows
            if row.key in names
        ),
        key=lambda item: item["label"].lower(),
    )


@login_required
def support_dashboard_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = PeriodForm(request.GET or None)
    start, end = form.period(default_days=90)
    now = timezone.now()
    window_start = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    window_end = min(now, timezone.make_aware(dt.datetime.combine(end, dt.time.max)))
    is_admin = user.is_superuser or user.role == Role.ADMIN
    teams = Team.objects.order_by("name")
    if not is_admin:
        # Counts of other teams' work are not this user's to see (SECURITY.md).
        teams = teams.filter(memberships__user=user)
    team_names: dict[int | None, str] = {team.pk: team.name for team in teams}
    agents = User.objects.filter(teams__in=list(team_names)).distinct()
    agent_names: dict[int | None, str] = {
        agent.pk: agent.get_full_name() or agent.username for agent in agents
    }
    if is_admin:
        team_names[None] = "No team"
        agent_names[None] = "Unassigned"
    by_team = support_rows(group="team", start=window_start, end=window_end)
    by_agent = support_rows(group="agent", start=window_start, end=window_end)
    return render(
        request,
        "accounts/dashboard_support.html",
        {
            "form": form,
            "start": start,
            "end": end,
            "tables": [
                ("team", _support_table(by_team, team_names)),
                ("agent", _support_table(by_agent, agent_names)),
            ],
        },
    )


# --- public survey page (no login) ----------------------------------------------------------


class SurveyAnswerForm(forms.Form):
    score = forms.TypedChoiceField(coerce=int, widget=forms.RadioSelect)
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea)

    def __init__(self, *args: object, kind: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        low, high = SCORE_RANGE[kind]
        self.fields["score"].choices = [(n, str(n)) for n in range(low, high + 1)]


def _survey_gone(request: HttpRequest) -> HttpResponse:
    # Garbage, tampered, expired and used links all look the same: 404.
    return render(request, "accounts/survey_gone.html", status=404)


@never_cache
@csrf_protect
def survey_answer_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = invitation_for_token(token=token)
    except SurveyLinkInvalid:
        return _survey_gone(request)
    initial = {"score": request.GET.get("score")} if request.method == "GET" else None
    form = SurveyAnswerForm(
        request.POST if request.method == "POST" else None, initial=initial, kind=invitation.kind
    )
    if request.method == "POST" and form.is_valid():
        try:
            survey_answer(
                token=token,
                score=form.cleaned_data["score"],
                comment=form.cleaned_data["comment"],
            )
        except SurveyLinkInvalid:
            return _survey_gone(request)
        except SurveyError as exc:
            form.add_error(None, str(exc))
        else:
            return render(request, "accounts/survey_thanks.html")
    low_label, high_label = SCALES[invitation.kind]
    return render(
        request,
        "accounts/survey_answer.html",
        {
            "form": form,
            "question": QUESTIONS[invitation.kind],
            "low_label": low_label,
            "high_label": high_label,
        },
        status=400 if form.errors else 200,
    )
