"""Issue 2 points the other foundation tests left undemonstrated.

The layout and pinned requirements, the environment-driven settings (SQLite default, eager
Celery and local-memory cache without Redis, Redis as broker and cache with it), the Celery
app's configuration, the rest of the database constraints, a factory for every model, an
admin setting a help desk up through the admin forms alone, autocomplete on foreign keys to
the large tables, the demo's default size, docker-compose, the README commands, `.ci/run`
and `makemigrations --check`.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import factory
import pytest
import yaml
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect, ForeignKeyRawIdWidget
from django.db import IntegrityError, transaction
from django.forms import MultiWidget
from django.test import RequestFactory

from accounts.models import Account, HealthScoreConfig, RevenueEvent
from helpdesk.models import (
    BusinessHours,
    CannedResponse,
    Mailbox,
    Membership,
    Role,
    SLAPolicy,
    Team,
    User,
)
from tests.accounts.factories import AccountMetricsFactory, SurveyResponseFactory
from tests.helpdesk.factories import (
    BusinessHoursFactory,
    MailboxFactory,
    SLAPolicyFactory,
    TeamFactory,
)
from tests.inbox.factories import MessageFactory, OutboundEmailFactory

ROOT = Path(__file__).resolve().parents[2]
APPS = ("helpdesk", "accounts", "inbox", "notes")


# --- 1. layout, pinned requirements ------------------------------------------------------


def test_layout_of_the_design_is_in_place():
    for folder in ("config", "helpdesk", "inbox", "accounts", "notes", "tests", "bench"):
        assert (ROOT / folder).is_dir(), folder
    for name in (
        "manage.py",
        "requirements.txt",
        "requirements-dev.txt",
        "docker-compose.yml",
        "README.md",
        "pyproject.toml",
        ".ci/run",
        "config/settings.py",
        "config/urls.py",
        "config/celery.py",
        "config/wsgi.py",
        "config/asgi.py",
    ):
        assert (ROOT / name).is_file(), name
    assert os.access(ROOT / ".ci/run", os.X_OK)
    for app in APPS:
        for module in ("models.py", "admin.py", "services.py", "migrations/0001_initial.py"):
            found = (ROOT / app / module).exists() or (
                ROOT / app / module.replace(".py", "")
            ).is_dir()
            assert found, f"{app}/{module}"


def test_requirements_are_pinned_on_django_5_2_lts():
    lines = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip() and not line.startswith("-")
    ]
    assert lines
    unpinned = [line for line in lines if "==" not in line]
    assert not unpinned, unpinned
    pins = {line.split("==")[0].split("[")[0].lower(): line.split("==")[1] for line in lines}
    assert pins["django"].startswith("5.2.")
    for package in ("djangorestframework", "celery", "django-environ", "psycopg", "nh3"):
        assert any(name.startswith(package) for name in pins), package
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in dev
    for package in ("pytest-django", "factory[-_]boy", "playwright", "ruff"):
        assert re.search(rf"^{package}==", dev, re.M | re.I), package
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "[tool.ruff" in pyproject
    assert "[tool.pytest" in pyproject


# --- 2. settings from the environment, Celery -----------------------------------------

PRINT_SETTINGS = """
import json
from django.conf import settings
from config.celery import app
print(json.dumps({
    "db": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "cache": settings.CACHES["default"]["BACKEND"],
    "eager": app.conf.task_always_eager,
    "broker": app.conf.broker_url,
    "debug": settings.DEBUG,
    "hosts": settings.ALLOWED_HOSTS,
    "email_host": settings.EMAIL_HOST,
    "email_port": settings.EMAIL_PORT,
    "secret": settings.SECRET_KEY,
}))
"""


def _settings_under(env: dict[str, str]) -> dict:
    base = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v0", "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_default_without_any_variable_is_sqlite_eager_and_local_memory(tmp_path):
    # An empty directory as HOME and no .env variables: only the defaults apply.
    found = _settings_under({"HOME": str(tmp_path)})
    assert found["db"] == "django.db.backends.sqlite3"
    assert found["db_name"].endswith("db.sqlite3")
    assert found["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert found["eager"] is True


def test_production_variables_select_postgresql_and_redis():
    found = _settings_under(
        {
            "DATABASE_URL": "postgres://tandem:pw@db.internal:5432/tandem",
            "REDIS_URL": "redis://cache.internal:6379/2",
            "SECRET_KEY": "s3cret-from-the-environment-" * 2,
            "DEBUG": "0",
            "ALLOWED_HOSTS": "help.example.com,help2.example.com",
            "EMAIL_HOST": "smtp.example.com",
            "EMAIL_PORT": "587",
        }
    )
    assert found["db"] == "django.db.backends.postgresql"
    assert found["db_name"] == "tandem"
    assert found["cache"] == "helpdesk.cache.ReusedClientRedisCache"
    assert found["eager"] is False
    assert found["broker"] == "redis://cache.internal:6379/2"
    assert found["debug"] is False
    assert found["hosts"] == ["help.example.com", "help2.example.com"]
    assert (found["email_host"], found["email_port"]) == ("smtp.example.com", 587)
    assert found["secret"] == "s3cret-from-the-environment-" * 2


def test_celery_app_autodiscovers_tasks_acks_late_and_outlasts_long_tasks():
    from django.conf import settings

    from config.celery import app

    assert app.main == "config" or app.main
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    # A task may run (and be retried with backoff) well past an hour: redelivery only later.
    assert visibility >= 3600
    assert visibility > settings.CELERY_TASK_TIME_LIMIT
    app.loader.import_default_modules()  # what a worker does at start
    for name in ("tandem.ping", "accounts.recompute_metrics", "inbox.sla_sweep"):
        assert name in app.tasks, name


# --- 3. the rest of the database constraints ----------------------------------------------


def rejected(create, **kwargs) -> bool:
    with pytest.raises(IntegrityError), transaction.atomic():
        create(**kwargs)
    return True


@pytest.mark.django_db
def test_team_name_is_unique():
    TeamFactory(name="Tier 1")
    assert rejected(TeamFactory, name="Tier 1")


@pytest.mark.django_db
def test_business_hours_and_sla_policy_names_are_unique():
    BusinessHoursFactory(name="EU office")
    assert rejected(BusinessHoursFactory, name="EU office")
    SLAPolicyFactory(name="Gold")
    assert rejected(SLAPolicyFactory, name="Gold")


@pytest.mark.django_db
def test_mailbox_address_is_unique():
    MailboxFactory(email="help@tandem.example")
    assert rejected(MailboxFactory, email="help@tandem.example")


@pytest.mark.django_db
def test_survey_response_external_id_is_unique():
    SurveyResponseFactory(external_id="typeform-7", ticket=None)
    assert rejected(SurveyResponseFactory, external_id="typeform-7", ticket=None)


@pytest.mark.django_db
def test_one_metrics_row_per_account():
    metrics = AccountMetricsFactory()
    assert rejected(AccountMetricsFactory, account=metrics.account)


@pytest.mark.django_db
def test_one_outbound_email_per_message():
    message = MessageFactory(direction="outbound", author_contact=None)
    OutboundEmailFactory(ticket_message=message, ticket=message.ticket)
    assert rejected(OutboundEmailFactory, ticket_message=message, ticket=message.ticket)


# --- 3. a factory for every model ---------------------------------------------------------


def _factory_models() -> set[type]:
    models = set()
    for app in APPS:
        module = importlib.import_module(f"tests.{app}.factories")
        for _name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, factory.django.DjangoModelFactory) and value._meta.model:
                models.add(value._meta.model)
    return models


def test_every_model_of_the_four_apps_has_a_factory():
    covered = _factory_models()
    missing = sorted(
        model._meta.label
        for app in APPS
        for model in apps.get_app_config(app).get_models()
        if model not in covered
    )
    assert not missing, f"no factory-boy factory for {missing}"


@pytest.mark.django_db
def test_every_factory_builds_a_row_the_database_accepts():
    for app in APPS:
        module = importlib.import_module(f"tests.{app}.factories")
        for name, value in inspect.getmembers(module, inspect.isclass):
            if value.__module__ != module.__name__:
                continue
            if issubclass(value, factory.django.DjangoModelFactory) and value._meta.model:
                with transaction.atomic():
                    row = value()
                    assert type(row).objects.filter(pk=row.pk).exists(), name
                    transaction.set_rollback(True)


# --- 4. admin: a real admin sets a help desk up without touching code -----------------


def _main_form_defaults(response) -> dict[str, str]:
    """The add form's fields as the browser would submit them untouched."""
    form = response.context["adminform"].form
    data: dict[str, str] = {}
    for name in form.fields:
        bound, key = form[name], form.add_prefix(name)
        widget = bound.field.widget
        value = bound.value()
        if isinstance(widget, MultiWidget):
            parts = widget.decompress(value)
            for suffix, part in zip(widget.widgets_names, parts, strict=True):
                if part not in (None, ""):
                    data[f"{key}{suffix}"] = str(part)
        elif value not in (None, "", False, [], ()):
            data[key] = "on" if value is True else str(value)
    return data


def _with_inlines(response, rows: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    """Management forms of every inline on the page, with `rows` filled in by prefix."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        filled = rows.get(prefix, [])
        data[f"{prefix}-TOTAL_FORMS"] = str(len(filled))
        data[f"{prefix}-INITIAL_FORMS"] = "0"
        for index, row in enumerate(filled):
            for field, value in row.items():
                data[f"{prefix}-{index}-{field}"] = value
    missing = set(rows) - {i.formset.prefix for i in response.context["inline_admin_formsets"]}
    assert not missing, f"no inline {missing} on the page"
    return data


def _admin_add(client, url: str, fields: dict[str, str], rows=None) -> None:
    page = client.get(url)
    assert page.status_code == 200, url
    data = {**_main_form_defaults(page), **fields, **_with_inlines(page, rows or {})}
    response = client.post(url, data)
    errors = ""
    if response.status_code != 302 and response.context:
        errors = str(response.context["adminform"].form.errors) + str(
            [i.formset.errors for i in response.context["inline_admin_formsets"]]
        )
    assert response.status_code == 302, (url, errors)


@pytest.mark.django_db
def test_admin_sets_up_a_help_desk_through_the_admin_forms(client, admin_user, make_user):
    agent = make_user(Role.AGENT, username="ann")
    client.force_login(admin_user)
    joined = {"joined_at_0": "2026-03-02", "joined_at_1": "09:00:00"}

    _admin_add(
        client,
        "/admin/helpdesk/businesshours/add/",
        {"name": "London office", "time_zone": "Europe/London"},
        {
            "intervals": [
                {"weekday": str(day), "opens_at": "09:00", "closes_at": "17:30"} for day in range(5)
            ],
            "holidays": [{"date": "2026-12-25", "name": "Christmas"}],
        },
    )
    hours = BusinessHours.objects.get(name="London office")
    assert hours.intervals.count() == 5
    assert hours.holidays.get().name == "Christmas"

    _admin_add(
        client,
        "/admin/helpdesk/slapolicy/add/",
        {"name": "Standard", "business_hours": str(hours.pk)},
        {
            "targets": [
                {
                    "priority": "normal",
                    "first_response_minutes": "240",
                    "next_response_minutes": "480",
                    "resolution_minutes": "2880",
                },
                {"priority": "urgent", "first_response_minutes": "30"},
            ]
        },
    )
    policy = SLAPolicy.objects.get(name="Standard")
    assert policy.targets.get(priority="urgent").first_response_minutes == 30

    _admin_add(
        client,
        "/admin/helpdesk/team/add/",
        {
            "name": "Tier 1",
            "handle": "tier1",
            "kind": "support",
            "auto_assign": "round_robin",
            "sla_policy": str(policy.pk),
            "business_hours": str(hours.pk),
        },
        {"memberships": [{"user": str(agent.pk), "is_lead": "on", **joined}]},
    )
    team = Team.objects.get(handle="tier1")
    assert (team.sla_policy, team.business_hours, team.auto_assign) == (
        policy,
        hours,
        "round_robin",
    )
    assert Membership.objects.get(team=team, user=agent).is_lead

    _admin_add(
        client,
        "/admin/helpdesk/user/add/",
        {
            "username": "sally",
            "email": "sally@tandem.example",
            "role": Role.SUCCESS,
            "password1": "a-Long-pass-phrase-42",
            "password2": "a-Long-pass-phrase-42",
        },
    )
    sally = User.objects.get(username="sally")
    assert sally.role == Role.SUCCESS
    assert sally.check_password("a-Long-pass-phrase-42")
    assert sally.has_perm("accounts.add_revenueevent")  # the role's group came with it
    assert not sally.has_perm("helpdesk.change_slapolicy")

    _admin_add(
        client,
        "/admin/helpdesk/mailbox/add/",
        {
            "name": "Support",
            "email": "support@acme-help.example",
            "team": str(team.pk),
            "is_active": "on",
            "imap_port": "993",
            "imap_folder": "INBOX",
        },
    )
    assert Mailbox.objects.get(email="support@acme-help.example").team == team

    _admin_add(
        client,
        "/admin/helpdesk/cannedresponse/add/",
        {"title": "Thanks", "body": "Hi {{ requester.first_name }}!", "team": str(team.pk)},
    )
    assert CannedResponse.objects.get(title="Thanks").team == team

    _admin_add(
        client,
        "/admin/accounts/account/add/",
        {"name": "Globex", "plan": "pro", "lifecycle": "active", "success_manager": str(sally.pk)},
        {
            "contacts": [{"email": "hank@globex.example", "name": "Hank"}],
            "revenue_events": [
                {
                    "kind": "new",
                    "mrr_delta": "900.00",
                    "occurred_on": "2026-01-05",
                    "external_id": "crm-globex-1",
                }
            ],
        },
    )
    globex = Account.objects.get(name="Globex")
    assert globex.success_manager == sally
    assert globex.contacts.get().email == "hank@globex.example"
    assert RevenueEvent.objects.get(account=globex).mrr_delta == Decimal("900.00")

    config = HealthScoreConfig.objects.first()
    url = (
        f"/admin/accounts/healthscoreconfig/{config.pk}/change/"
        if config
        else "/admin/accounts/healthscoreconfig/add/"
    )
    page = client.get(url)
    data = {**_main_form_defaults(page), **_with_inlines(page, {})}
    data["weight_nps"] = "5"
    assert client.post(url, data).status_code == 302
    assert HealthScoreConfig.objects.get().weight_nps == 5


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/helpdesk/user/?q=ann&role__exact=agent",
        "/admin/helpdesk/team/?q=tier",
        "/admin/helpdesk/mailbox/?q=support",
        "/admin/helpdesk/cannedresponse/?q=thanks",
        "/admin/accounts/account/?q=globex&lifecycle__exact=active",
        "/admin/accounts/contact/?q=hank",
        "/admin/accounts/revenueevent/?kind__exact=new",
        "/admin/inbox/ticket/?q=printer&status__exact=open",
    ],
)
def test_admin_changelists_search_and_filter(client, admin_user, url):
    client.force_login(admin_user)
    response = client.get(url)
    assert response.status_code == 200  # an unknown filter would redirect to ?e=1
    changelist = response.context["cl"]
    assert changelist.search_fields
    assert len(changelist.list_display) > 2


LARGE_TABLES = ("accounts.Account", "accounts.Contact", "inbox.Ticket")


def _editable_foreign_keys(request):
    """(label, form field name, widget) for every admin form field pointing at a big table."""
    for model, model_admin in admin.site._registry.items():
        if not (
            model_admin.has_add_permission(request) or model_admin.has_change_permission(request)
        ):
            continue  # a read-only page (derived data) renders no form
        forms = [(model._meta.label, model_admin.get_form(request, None), None)]
        for inline in model_admin.get_inline_instances(request):
            formset = inline.get_formset(request)
            forms.append(
                (f"{model._meta.label} inline {inline.model._meta.label}", formset.form, inline)
            )
        for label, form, inline in forms:
            for name, field in form.base_fields.items():
                target = getattr(getattr(field, "queryset", None), "model", None)
                if target is None or target._meta.label not in LARGE_TABLES:
                    continue
                if inline is not None and name == inline.get_formset(request).fk.name:
                    continue  # the parent: not shown
                widget = getattr(field.widget, "widget", field.widget)
                yield label, name, widget


@pytest.mark.django_db
def test_foreign_keys_to_contacts_accounts_and_tickets_use_autocomplete(admin_user):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    seen = []
    for label, name, widget in _editable_foreign_keys(request):
        seen.append((label, name))
        assert isinstance(widget, AutocompleteSelect | ForeignKeyRawIdWidget), (
            f"{label}.{name} renders a <select> of every row"
        )
    assert any(name == "account" for _, name in seen)  # the check did look at something


# --- 6. seed_demo's default size -------------------------------------------------------------


def test_seed_demo_defaults_to_about_a_thousand_tickets():
    from helpdesk.management.commands.seed_demo import Command

    parser = Command().create_parser("manage.py", "seed_demo")
    defaults = vars(parser.parse_args([]))
    assert 900 <= defaults["tickets"] <= 1100


# --- 7. README, docker-compose; 8. .ci/run --------------------------------------------------


def test_readme_gives_the_two_commands_and_the_production_path():
    readme = (ROOT / "README.md").read_text()
    assert "scripts/demo.sh" in readme
    assert "scripts/test.sh" in readme
    assert "docker compose up" in readme
    for variable in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"):
        assert f"`{variable}`" in readme, variable
    demo = (ROOT / "scripts/demo.sh").read_text()
    assert "seed_demo" in demo
    assert "127.0.0.1:8000" in demo
    assert "apt-get" in demo or "pip install" in demo
    test = (ROOT / "scripts/test.sh").read_text()
    for needed in ("postgresql", "redis-server", "services.sh start", "pytest"):
        assert needed in test, needed
    for script in ("scripts/demo.sh", "scripts/test.sh", "scripts/services.sh"):
        assert os.access(ROOT / script, os.X_OK), script


def test_docker_compose_runs_web_worker_beat_postgres_and_redis():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    commands = {name: json.dumps(service.get("command", "")) for name, service in services.items()}
    images = {name: service.get("image", "") for name, service in services.items()}
    assert any("gunicorn" in command for command in commands.values())
    assert any("celery" in c and "worker" in c for c in commands.values())
    assert any("celery" in c and "beat" in c for c in commands.values())
    assert any(image.startswith("postgres") for image in images.values())
    assert any(image.startswith("redis") for image in images.values())
    app_env = json.dumps([s.get("environment", {}) for s in services.values()])
    assert "DATABASE_URL" in app_env
    assert "REDIS_URL" in app_env


def test_ci_runs_the_readme_test_command_and_an_empty_run_fails(tmp_path):
    ci = (ROOT / ".ci/run").read_text()
    assert "set -e" in ci
    assert re.search(r"^exec scripts/test\.sh", ci, re.M)
    test = (ROOT / "scripts/test.sh").read_text()
    last = [line for line in test.splitlines() if line.strip()][-1]
    assert last.startswith(".venv/bin/python -m pytest"), "pytest's exit status is the script's"
    # pytest itself exits non-zero (5) when nothing was collected: so does .ci/run.
    empty = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"},
        timeout=120,
    )
    assert empty.returncode == 5, empty.stdout[-2000:]


def test_makemigrations_check_is_clean():
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout
