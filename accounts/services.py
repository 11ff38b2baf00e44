"""Writes for customer accounts and contacts."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest, Lower
from django.utils import timezone

from .models import (
    SCORE_RANGE,
    Account,
    AccountDomain,
    Contact,
    Lifecycle,
    RevenueEvent,
    RevenueKind,
    SurveyResponse,
    SurveySource,
)

logger = logging.getLogger(__name__)

# A burst of changes within this many seconds shares one recompute.
RECOMPUTE_COALESCE_SECONDS = 2
# The queued-marker outlives a slow queue by a margin; if a task is lost, it expires.
RECOMPUTE_KEY_TTL_SECONDS = 60
ONE_MICROSECOND = dt.timedelta(microseconds=1)


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def account_for_email(*, email: str) -> Account | None:
    """Return the account whose domains include the address's domain, if any."""
    domain = email_domain(email)
    if not domain:
        return None
    match = (
        AccountDomain.objects.alias(domain_lower=Lower("domain"))
        .filter(domain_lower=domain)  # the case-insensitive unique index answers this
        .select_related("account")
        .first()
    )
    return match.account if match else None


def contacts_with_email(email: str) -> QuerySet[Contact]:
    """Contacts whose address is `email`, any case, through the LOWER(email) unique index.

    (`email__iexact` compiles to UPPER(...) = UPPER(...), which no index serves: every
    inbound mail scanned the whole contact table.)
    """
    return Contact.objects.alias(email_lower=Lower("email")).filter(
        email_lower=email.strip().lower()
    )


def contact_get_or_create(*, email: str, name: str = "") -> Contact:
    """Find the contact by e-mail (case-insensitive) or create it, matching the account."""
    contact, _created = contact_resolve(email=email, name=name)
    return contact


# No savepoint of its own (2 queries per inbound mail); the ORM insert race has one.
@transaction.atomic(savepoint=False)
def contact_resolve(*, email: str, name: str = "") -> tuple[Contact, bool]:
    """Return the contact with this e-mail (any case), created with its account if new, and
    whether it was created (a new sender has opened no tickets yet)."""
    email = email.strip()
    if connection.vendor == "postgresql":
        contact, created = _contact_find_or_insert(email=email, name=name[:200])
        if contact is None:  # a concurrent creator won the unique index between our reads
            contact, created = contacts_with_email(email).get(), False
    else:
        contact, created = contacts_with_email(email).first(), False
    if contact is not None:
        if not created and name and not contact.name:
            contact.name = name[:200]
            contact.save(update_fields=["name", "updated_at"])
        return contact, created
    contact = Contact(email=email, name=name[:200], account=account_for_email(email=email))
    # A concurrent creator of the same address: the unique index decides, we re-read.
    try:
        with transaction.atomic():
            contact.save()
    except Exception:
        existing = contacts_with_email(email).first()
        if existing is None:
            raise
        return existing, False
    return contact, True


def _contact_find_or_insert(*, email: str, name: str) -> tuple[Contact | None, bool]:
    """One statement for the commonest write of inbound mail (it took five: the contact,
    the account domain, a savepoint, the insert, its release). None: lost an insert race."""
    table = Contact._meta.db_table
    domains = AccountDomain._meta.db_table
    columns = [f.column for f in Contact._meta.concrete_fields]
    listed = ", ".join(connection.ops.quote_name(c) for c in columns)
    now = timezone.now()
    sql = f"""
        WITH found AS (
            SELECT {listed} FROM {table} WHERE lower(email) = lower(%(email)s)
        ), inserted AS (
            INSERT INTO {table} (created_at, updated_at, email, name, phone, account_id)
            SELECT %(now)s, %(now)s, %(email)s, %(name)s, '',
                (SELECT d.account_id FROM {domains} d WHERE lower(d.domain) = %(domain)s
                 LIMIT 1)
            WHERE NOT EXISTS (SELECT 1 FROM found)
            ON CONFLICT DO NOTHING
            RETURNING {listed}
        )
        SELECT {listed}, false FROM found UNION ALL SELECT {listed}, true FROM inserted
    """  # noqa: S608 - table and column names come from the models
    params = {"email": email, "name": name, "now": now, "domain": email_domain(email)}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None, False
    contact = Contact.from_db(
        connection.alias, [f.attname for f in Contact._meta.concrete_fields], row[:-1]
    )
    return contact, bool(row[-1])


def metrics_mark_dirty(*, account_id: int | None) -> None:
    """Record that the account's metrics are stale, and ask Celery after commit.

    The dirty flag is the source of truth (the periodic sweep finds it even if Redis is
    down); the on-commit task only makes it prompt. Every mark moves the flag to a new,
    later value so that a recompute that read the old value does not clear this change
    (compare-and-clear in accounts.metrics); the row lock this takes orders the writers.
    """
    if account_id is None:
        return
    now = timezone.now()
    Account.objects.filter(pk=account_id).update(
        metrics_dirty_at=Greatest(
            Value(now), Coalesce(F("metrics_dirty_at"), Value(now)) + ONE_MICROSECOND
        )
    )
    transaction.on_commit(lambda: metrics_enqueue(account_ids=[account_id]))


def metrics_enqueue(*, account_ids: list[int]) -> None:
    """Ask Celery to recompute, at most one queued task per account per coalescing window.

    The cache key is set when a task is queued and deleted by the task before it reads, so
    a burst of changes rides on the task already waiting; a change that lands while the
    task is running queues the next one. Broker or cache down: the sweep catches up.
    """
    from .tasks import recompute_metrics_task

    for account_id in account_ids:
        try:
            if not cache.add(coalesce_key(account_id), 1, RECOMPUTE_KEY_TTL_SECONDS):
                continue  # a queued task has not started yet; it will read this change
            recompute_metrics_task.apply_async(
                args=[[account_id]], countdown=RECOMPUTE_COALESCE_SECONDS
            )
        except Exception:
            logger.warning("metrics enqueue failed for account %s", account_id, exc_info=True)


def coalesce_key(account_id: int) -> str:
    return f"metrics:queued:{account_id}"


# --- revenue -----------------------------------------------------------------------------


class RevenueError(ValueError):
    """The revenue event contradicts its kind (sign) or its account."""


@transaction.atomic
def revenue_event_create(
    *,
    account: Account,
    kind: str,
    mrr_delta: Decimal,
    occurred_on: dt.date,
    external_id: str | None = None,
    note: str = "",
) -> tuple[RevenueEvent, bool]:
    """Record a revenue event; with an external id a repeat returns the first (idempotent).

    Returns (event, created). Churn moves the account's lifecycle to churned and
    reactivation back to active; the metrics recompute derives MRR from the events.
    """
    mrr_delta = Decimal(mrr_delta)
    if kind not in RevenueKind.values:
        raise RevenueError(f"Unknown revenue kind {kind!r}.")
    grows = kind in (RevenueKind.NEW, RevenueKind.EXPANSION, RevenueKind.REACTIVATION)
    if (grows and mrr_delta <= 0) or (not grows and mrr_delta >= 0):
        raise RevenueError(f"A {kind} event must {'add' if grows else 'remove'} MRR.")
    if external_id:
        existing = RevenueEvent.objects.filter(external_id=external_id).first()
        if existing is not None:
            if existing.account_id != account.pk:
                raise RevenueError(f"{external_id} belongs to another account.")
            return existing, False
    event = RevenueEvent(
        account=account,
        kind=kind,
        mrr_delta=mrr_delta,
        occurred_on=occurred_on,
        external_id=external_id or None,
        note=note[:500],
    )
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        # A concurrent import of the same external id won the unique index.
        existing = RevenueEvent.objects.filter(external_id=external_id).first()
        if existing is None:
            raise
        return existing, False
    _lifecycle_follow_revenue(account=account, kind=kind, occurred_on=occurred_on)
    metrics_mark_dirty(account_id=account.pk)
    if kind in (RevenueKind.CHURN, RevenueKind.REACTIVATION, RevenueKind.CONTRACTION) or (
        occurred_on <= timezone.localdate() - dt.timedelta(days=365)
    ):
        # The plan's logo churn (every same-plan account's CLV) may have moved.
        plan = account.plan
        transaction.on_commit(lambda: metrics_enqueue_plan(plan=plan))
    return event, True


def metrics_enqueue_plan(*, plan: str) -> None:
    """Ask Celery to mark and recompute a whole plan (the nightly run is the fallback)."""
    from .tasks import recompute_plan_metrics_task

    try:
        recompute_plan_metrics_task.delay(plan)
    except Exception:
        logger.warning("plan recompute enqueue failed for %r", plan, exc_info=True)


def _lifecycle_follow_revenue(*, account: Account, kind: str, occurred_on: dt.date) -> None:
    fields: dict[str, object] = {}
    if kind == RevenueKind.CHURN and account.lifecycle != Lifecycle.CHURNED:
        fields = {"lifecycle": Lifecycle.CHURNED, "churned_at": occurred_on}
    elif kind == RevenueKind.REACTIVATION and account.lifecycle == Lifecycle.CHURNED:
        fields = {"lifecycle": Lifecycle.ACTIVE, "churned_at": None}
    elif kind == RevenueKind.NEW and account.customer_since is None:
        fields = {"customer_since": occurred_on}
    if fields:
        Account.objects.filter(pk=account.pk).update(**fields, updated_at=timezone.now())
        for name, value in fields.items():
            setattr(account, name, value)


# --- contacts ----------------------------------------------------------------------------


@transaction.atomic
def contact_move(*, contact: Contact, account: Account | None) -> Contact:
    """Move a contact to another account; its survey answers follow it.

    Tickets keep the account they were raised under (history), so both accounts' survey
    metrics change and both are marked dirty.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    old_account_id = contact.account_id
    new_account_id = account.pk if account else None
    if old_account_id == new_account_id:
        return contact
    contact.account = account
    contact.save(update_fields=["account", "updated_at"])
    SurveyResponse.objects.filter(contact=contact).update(account=account)
    # Id order: two moves touching the same pair of accounts lock their rows alike.
    for account_id in sorted(pk for pk in (old_account_id, new_account_id) if pk):
        metrics_mark_dirty(account_id=account_id)
    return contact


# --- survey responses ----------------------------------------------------------------------


class SurveyError(ValueError):
    """The answer is out of range, or the ticket already has one of this kind."""


@transaction.atomic
def survey_response_create(
    *,
    kind: str,
    score: int,
    contact: Contact | None,
    account: Account | None = None,
    ticket_id: int | None = None,
    responded_at: dt.datetime | None = None,
    comment: str = "",
    source: str = SurveySource.LINK,
    external_id: str | None = None,
) -> tuple[SurveyResponse, bool]:
    """Store one answer (one per ticket and kind; idempotent on external_id).

    The account defaults to the contact's. Returns (response, created).
    """
    if kind not in SCORE_RANGE:
        raise SurveyError(f"Unknown survey kind {kind!r}.")
    low, high = SCORE_RANGE[kind]
    if not isinstance(score, int) or not low <= score <= high:
        raise SurveyError(f"A {kind.upper()} score is a whole number from {low} to {high}.")
    if external_id:
        existing = SurveyResponse.objects.filter(external_id=external_id).first()
        if existing is not None:
            return existing, False
    if (
        ticket_id is not None
        and SurveyResponse.objects.filter(ticket_id=ticket_id, kind=kind).exists()
    ):
        raise SurveyError("This ticket already has an answer to that survey.")
    if account is None and contact is not None:
        account = contact.account
    response = SurveyResponse(
        kind=kind,
        score=score,
        comment=comment[:5000],
        contact=contact,
        account=account,
        ticket_id=ticket_id,
        responded_at=responded_at or timezone.now(),
        source=source,
        external_id=external_id or None,
    )
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError as exc:
        # Two answers racing for one (ticket, kind): the unique index keeps the first.
        raise SurveyError("This ticket already has an answer to that survey.") from exc
    metrics_mark_dirty(account_id=response.account_id)
    return response, True
