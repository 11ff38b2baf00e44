"""Fan notifications out as rows in the caller's transaction (e-mail is delivered later).

Kept free of inbox imports so that inbox services can notify without an import cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model

from .models import Notification


def notify(
    *,
    recipients: Iterable[int],
    kind: str,
    text: str,
    actor: Any = None,
    ticket: Any = None,
    note: Any = None,
    handoff: Any = None,
    account: Any = None,
    data: dict | None = None,
) -> list[Notification]:
    """Create one notification per active recipient (the actor excluded) in one insert."""
    actor_id = getattr(actor, "pk", None)
    wanted = {int(uid) for uid in recipients if uid is not None and uid != actor_id}
    if not wanted:
        return []
    active_ids = (
        get_user_model().objects.filter(pk__in=wanted, is_active=True).values_list("pk", flat=True)
    )
    rows = [
        Notification(
            recipient_id=uid,
            kind=kind,
            actor_id=actor_id,
            ticket=ticket,
            note=note,
            handoff=handoff,
            account=account,
            text=text[:500],
            data=data or {},
        )
        for uid in sorted(active_ids)
    ]
    created = Notification.objects.bulk_create(rows)
    from .delivery import notifications_enqueue  # e-mail after commit; the sweep backs it up

    notifications_enqueue(notification_ids=[n.pk for n in created])
    return created
