"""The account page's health history: band moves as the success manager reads them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.accounts.factories import AccountFactory, HealthBandChangeFactory

pytestmark = pytest.mark.django_db


def test_account_page_lists_band_moves_newest_first(client, account):
    now = timezone.now()
    HealthBandChangeFactory(
        account=account, from_band="", to_band="green", score=82, created_at=now - dt.timedelta(3)
    )
    HealthBandChangeFactory(
        account=account,
        from_band="green",
        to_band="red",
        score=31,
        created_at=now - dt.timedelta(2),
    )
    HealthBandChangeFactory(
        account=account, from_band="red", to_band="yellow", score=55, created_at=now
    )
    HealthBandChangeFactory(account=AccountFactory(name="Globex"), to_band="red", score=12)
    client.force_login(account.success_manager)
    body = client.get(f"/accounts/{account.pk}/").content.decode()
    history = body[body.index("Health history") :]
    lines = [
        history.index(text)
        for text in ("recovered from red to yellow (55)", "green → red (31)", "new → green (82)")
    ]
    assert lines == sorted(lines)
    assert "(12)" not in history  # another account's move
