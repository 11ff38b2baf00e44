"""import_revenue and import_survey_responses (idempotent), and admin edits marking dirty."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account, AccountMetrics, RevenueEvent, SurveyResponse
from tests.accounts.factories import AccountFactory

pytestmark = pytest.mark.django_db


def _csv(tmp_path, text: str):
    path = tmp_path / "data.csv"
    path.write_text(text)
    return str(path)


def test_import_revenue_is_idempotent_on_external_id(tmp_path, account):
    other = AccountFactory(name="Initech")
    path = _csv(
        tmp_path,
        "external_id,account,kind,mrr_delta,occurred_on,note\n"
        f"inv-1,{account.pk},new,100.00,2026-01-01,first\n"
        "inv-2,acme.example,expansion,50,2026-02-01,\n"
        "inv-3,Initech,new,75,2026-03-01,\n",
    )
    out = StringIO()
    call_command("import_revenue", path, stdout=out)
    assert "Imported 3 revenue event(s); 0 already present; 0 error(s)." in out.getvalue()
    call_command("import_revenue", path, stdout=out)
    assert "Imported 0 revenue event(s); 3 already present" in out.getvalue()
    assert RevenueEvent.objects.count() == 3
    assert RevenueEvent.objects.get(external_id="inv-2").account == account
    # Marked dirty and (eager Celery on commit) recomputed: MRR follows the events.
    assert Account.objects.get(pk=other.pk).metrics_dirty_at is not None
    call_command("recompute_metrics", stdout=out)
    assert AccountMetrics.objects.get(account=account).mrr == Decimal("150.00")


def test_import_revenue_reports_bad_rows_and_keeps_good_ones(tmp_path, account):
    path = _csv(
        tmp_path,
        "external_id,account,kind,mrr_delta,occurred_on\n"
        f"ok-1,{account.pk},new,10,2026-01-01\n"
        f"bad-sign,{account.pk},churn,10,2026-01-01\n"
        "bad-account,nobody.example,new,10,2026-01-01\n"
        f"bad-date,{account.pk},new,10,yesterday\n",
    )
    err = StringIO()
    with pytest.raises(CommandError, match="3 row"):
        call_command("import_revenue", path, stdout=StringIO(), stderr=err)
    assert "line 3: A churn event must remove MRR." in err.getvalue()
    assert "line 4: no single account matches 'nobody.example'" in err.getvalue()
    assert list(RevenueEvent.objects.values_list("external_id", flat=True)) == ["ok-1"]
    with pytest.raises(CommandError, match="Missing column"):
        call_command("import_revenue", _csv(tmp_path, "id,kind\n1,new\n"), stdout=StringIO())


def test_import_survey_responses(tmp_path, account, contact):
    path = _csv(
        tmp_path,
        "external_id,email,kind,score,responded_at,comment\n"
        "s-1,carol@acme.example,nps,9,2026-03-01T10:00:00+00:00,great\n"
        "s-2,new.person@acme.example,csat,2,2026-03-02T10:00:00,meh\n"
        "s-3,carol@acme.example,csat,9,2026-03-02T10:00:00,\n",
    )
    err = StringIO()
    with pytest.raises(CommandError, match="1 row"):
        call_command("import_survey_responses", path, stdout=StringIO(), stderr=err)
    assert "line 4: A CSAT score is a whole number from 1 to 5." in err.getvalue()
    with pytest.raises(CommandError):
        call_command("import_survey_responses", path, stdout=StringIO(), stderr=StringIO())
    assert SurveyResponse.objects.count() == 2  # idempotent on external_id
    imported = SurveyResponse.objects.get(external_id="s-2")
    assert (imported.account, imported.source, imported.score) == (account, "import", 2)
    assert imported.responded_at == dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)


def test_admin_revenue_edit_marks_the_account_dirty(client, admin_user, account):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    response = client.post(
        "/admin/accounts/revenueevent/add/",
        {
            "account": account.pk,
            "kind": "new",
            "mrr_delta": "40",
            "occurred_on": "2026-01-05",
            "note": "",
        },
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.metrics_dirty_at is not None
