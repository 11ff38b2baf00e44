"""Writes for customer accounts and contacts."""

from __future__ import annotations

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from .models import Account, AccountDomain, Contact

RECOMPUTE_COALESCE_SECONDS = 2


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def account_for_email(*, email: str) -> Account | None:
    """Return the account whose domains include the address's domain, if any."""
    domain = email_domain(email)
    if not domain:
        return None
    match = AccountDomain.objects.select_related("account").filter(domain=domain).first()
    return match.account if match else None


@transaction.atomic
def contact_get_or_create(*, email: str, name: str = "") -> Contact:
    """Find the contact by e-mail (case-insensitive) or create it, matching the account."""
    email = email.strip()
    contact = Contact.objects.filter(email__iexact=email).select_related("account").first()
    if contact is not None:
        if name and not contact.name:
            contact.name = name[:200]
            contact.save(update_fields=["name", "updated_at"])
        return contact
    contact = Contact(email=email, name=name[:200], account=account_for_email(email=email))
    # A concurrent creator of the same address: the unique index decides, we re-read.
    try:
        with transaction.atomic():
            contact.save()
    except Exception:
        existing = Contact.objects.filter(email__iexact=email).first()
        if existing is None:
            raise
        return existing
    return contact


def metrics_mark_dirty(*, account_id: int | None) -> None:
    """Record that the account's metrics are stale, and ask Celery after commit.

    The dirty flag is the source of truth (the periodic sweep finds it even if Redis is
    down); the on-commit task only makes it prompt. A short cache key coalesces bursts.
    """
    if account_id is None:
        return
    Account.objects.filter(pk=account_id, metrics_dirty_at__isnull=True).update(
        metrics_dirty_at=timezone.now()
    )
    transaction.on_commit(lambda: _enqueue_recompute(account_id))


def _enqueue_recompute(account_id: int) -> None:
    from .tasks import recompute_metrics_task

    try:
        if not cache.add(f"metrics:queued:{account_id}", 1, RECOMPUTE_COALESCE_SECONDS):
            return  # one already queued in this window; it will see the latest data
        recompute_metrics_task.apply_async(
            args=[[account_id]], countdown=RECOMPUTE_COALESCE_SECONDS
        )
    except Exception:
        import logging

        logging.getLogger(__name__).warning("metrics enqueue failed for %s", account_id)
