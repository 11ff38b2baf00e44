"""helpdesk.db: the plain-SQL INSERT and UPDATE of the ingest hot path."""

from __future__ import annotations

import pytest
from django.utils import timezone

from helpdesk.db import row_insert, row_update
from inbox.models import InboundEmail, InboundStatus

pytestmark = pytest.mark.django_db


def _inbound(**kwargs) -> InboundEmail:
    return InboundEmail(
        message_key=kwargs.pop("message_key", "<k@example>"),
        raw=b"Subject: hi\r\n\r\nbody",
        sha256="0" * 64,
        size=21,
        source="test",
        **kwargs,
    )


def test_row_insert_stores_what_save_would_and_sets_the_id():
    inbound = _inbound()
    row_insert(inbound)
    assert inbound.pk is not None
    assert not inbound._state.adding
    stored = InboundEmail.objects.get(pk=inbound.pk)
    assert bytes(stored.raw) == b"Subject: hi\r\n\r\nbody"
    assert stored.status == InboundStatus.RECEIVED  # the field default, as save() sends it
    assert stored.updated_at == inbound.updated_at  # auto_now applied on the way in


def test_row_update_writes_only_the_named_fields_and_refreshes_auto_now():
    inbound = _inbound()
    row_insert(inbound)
    before = InboundEmail.objects.get(pk=inbound.pk).updated_at
    inbound.status = InboundStatus.PROCESSED
    inbound.processed_at = timezone.now()
    inbound.source = "not written"
    row_update(inbound, ["status", "processed_at"])
    stored = InboundEmail.objects.get(pk=inbound.pk)
    assert stored.status == InboundStatus.PROCESSED
    assert stored.processed_at == inbound.processed_at
    assert stored.source == "test"
    assert stored.updated_at >= before
    assert stored.updated_at == inbound.updated_at
