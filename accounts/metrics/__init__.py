"""Account metrics: derived data, rebuilt from the raw tables (see DESIGN.md)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import Account, AccountMetrics


def recompute_accounts(*, account_ids: list[int]) -> None:
    """Recompute the metrics of `account_ids` with set-based queries and clear their flags.

    Foundation version: MRR, tickets created in the window and backlog. The full metric
    contract is implemented in the metrics capability.
    """
    from django.conf import settings

    from inbox.models import DONE_STATUSES

    now = timezone.now()
    window_start = now - timezone.timedelta(days=settings.METRICS_WINDOW_DAYS)
    rows = (
        Account.objects.filter(pk__in=account_ids)
        .annotate(
            mrr_sum=Sum(
                "revenue_events__mrr_delta", filter=Q(revenue_events__occurred_on__lte=now.date())
            ),
        )
        .values("id", "mrr_sum")
    )
    ticket_counts = {
        row["account_id"]: row
        for row in (
            Account.tickets.rel.related_model.objects.filter(account_id__in=account_ids)
            .values("account_id")
            .annotate(
                created=Count("id", filter=Q(created_at__gte=window_start, created_at__lte=now)),
                backlog=Count("id", filter=~Q(status__in=DONE_STATUSES)),
            )
        )
    }
    with transaction.atomic():
        for row in rows:
            counts = ticket_counts.get(row["id"], {})
            AccountMetrics.objects.update_or_create(
                account_id=row["id"],
                defaults={
                    "mrr": row["mrr_sum"] or 0,
                    "tickets_created": counts.get("created", 0),
                    "backlog": counts.get("backlog", 0),
                    "computed_at": now,
                },
            )
        Account.objects.filter(pk__in=account_ids, metrics_dirty_at__lte=now).update(
            metrics_dirty_at=None
        )
