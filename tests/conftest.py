"""Shared fixtures: people in each role, a support team, and a real Celery worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from helpdesk.models import Role
from helpdesk.roles import user_sync_role
from tests.accounts.factories import AccountDomainFactory, AccountFactory, ContactFactory
from tests.helpdesk.factories import MembershipFactory, TeamFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def make_user(db):
    """Create a user in a role, in that role's group (as admin would)."""

    def make(role: str = Role.AGENT, **kwargs: object):
        user = UserFactory(role=role, **kwargs)
        user_sync_role(user=user)
        return user

    return make


@pytest.fixture
def support_team(db):
    return TeamFactory(name="Support", handle="support", kind="support")


@pytest.fixture
def success_team(db):
    return TeamFactory(name="Success", handle="success", kind="success")


@pytest.fixture
def agent(make_user, support_team):
    user = make_user(Role.AGENT, username="alice")
    MembershipFactory(team=support_team, user=user)
    return user


@pytest.fixture
def other_agent(make_user):
    """An agent in another team, who must not see the support team's tickets."""
    user = make_user(Role.AGENT, username="olga")
    MembershipFactory(team=TeamFactory(name="Billing", handle="billing"), user=user)
    return user


@pytest.fixture
def success_manager(make_user, success_team):
    user = make_user(Role.SUCCESS, username="sam")
    MembershipFactory(team=success_team, user=user)
    return user


@pytest.fixture
def admin_user(make_user):
    return make_user(Role.ADMIN, username="ada")


@pytest.fixture
def account(success_manager):
    account = AccountFactory(name="Acme", plan="pro", success_manager=success_manager)
    AccountDomainFactory(account=account, domain="acme.example")
    return account


@pytest.fixture
def contact(account):
    return ContactFactory(email="carol@acme.example", name="Carol Customer", account=account)


def _database_url() -> str:
    settings_dict = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.fail("a real Celery worker needs the PostgreSQL test database")
    return (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}"
        f"/{settings_dict['NAME']}"
    )


@pytest.fixture
def celery_worker(transactional_db, tmp_path) -> Iterator[subprocess.Popen]:
    """Start a real Celery worker process on the test database and real Redis."""
    from config.celery import app

    if not os.environ.get("REDIS_URL"):
        pytest.fail("a real Celery worker needs REDIS_URL (run the suite with scripts/test.sh)")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "CONN_MAX_AGE": "0",
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--queues=default,mail,notifications,metrics",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            f"--hostname=test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    app.conf.task_always_eager = False
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if app.send_task("tandem.ping", args=["ready"]).get(timeout=2) == "ready":
                    break
            except Exception:
                if worker.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"worker did not start: {(tmp_path / 'worker.log').read_text()}")
        yield worker
    finally:
        app.conf.task_always_eager = True
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
