"""Writes of the API app: tokens, and the API-only writes on customer data."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from accounts.models import Account, AccountDomain, Contact, RevenueEvent, SurveyResponse
from accounts.services import contact_get_or_create, metrics_mark_dirty
from helpdesk.models import User
from inbox.models import Ticket
from notes.models import Notification

from .models import ApiToken

TOKEN_BYTES = 32


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for `user`; return it with the raw key (shown once, never stored)."""
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken.objects.create(
        user=user,
        name=(name or "API token")[:100],
        key_hash=token_hash(raw),
        prefix=raw[:8],
        user_auth_hash=user.get_session_auth_hash(),
        user_role=user.role,
    )
    return token, raw


def token_is_current(*, token: ApiToken) -> bool:
    """False once revoked, or once the user's password or role changed since issue."""
    user = token.user
    return (
        token.revoked_at is None
        and user.is_active
        and token.user_role == user.role
        and constant_time_compare(token.user_auth_hash, user.get_session_auth_hash())
    )


@transaction.atomic
def token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke the token; the next call with it answers 401. Revoking twice is a no-op."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


@transaction.atomic
def account_create(
    *,
    name: str,
    plan: str = "",
    lifecycle: str = "",
    success_manager: User | None = None,
    domains: list[str] | tuple[str, ...] = (),
    customer_since: datetime | None = None,
    renewal_date: datetime | None = None,
) -> Account:
    account = Account.objects.create(
        name=name,
        plan=plan,
        success_manager=success_manager,
        customer_since=customer_since,
        renewal_date=renewal_date,
        **({"lifecycle": lifecycle} if lifecycle else {}),
    )
    for domain in domains:
        AccountDomain.objects.create(account=account, domain=domain)
    return account


@transaction.atomic
def contact_create(
    *, email: str, name: str = "", account: Account | None = None, phone: str = ""
) -> Contact:
    """Create a contact (the domain picks the account unless one is given)."""
    contact = contact_get_or_create(email=email, name=name)
    fields = []
    if account is not None and contact.account_id != account.pk:
        contact.account = account
        fields.append("account")
    if phone and contact.phone != phone:
        contact.phone = phone
        fields.append("phone")
    if fields:
        contact.save(update_fields=[*fields, "updated_at"])
    return contact


def revenue_event_record(
    *,
    account: Account,
    kind: str,
    mrr_delta: Decimal,
    occurred_on: datetime,
    external_id: str | None = None,
    note: str = "",
) -> tuple[RevenueEvent, bool]:
    """Record a revenue event; an existing external_id returns that event (created=False)."""
    if external_id:
        existing = RevenueEvent.objects.filter(external_id=external_id).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            event = RevenueEvent.objects.create(
                account=account,
                kind=kind,
                mrr_delta=mrr_delta,
                occurred_on=occurred_on,
                external_id=external_id or None,
                note=note,
            )
            metrics_mark_dirty(account_id=account.pk)
    except IntegrityError:
        # A concurrent import of the same external_id won; return its row.
        if not external_id:
            raise
        return RevenueEvent.objects.get(external_id=external_id), False
    return event, True


@transaction.atomic
def survey_response_create(
    *,
    kind: str,
    score: int,
    comment: str = "",
    contact: Contact | None = None,
    account: Account | None = None,
    ticket: Ticket | None = None,
    responded_at: datetime | None = None,
    external_id: str | None = None,
) -> SurveyResponse:
    if account is None:
        account = (ticket.account if ticket else None) or (contact.account if contact else None)
    if contact is None and ticket is not None:
        contact = ticket.requester
    response = SurveyResponse.objects.create(
        kind=kind,
        score=score,
        comment=comment,
        contact=contact,
        account=account,
        ticket=ticket,
        responded_at=responded_at or timezone.now(),
        source="api",
        external_id=external_id or None,
    )
    metrics_mark_dirty(account_id=account.pk if account else None)
    return response


@transaction.atomic
def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification
