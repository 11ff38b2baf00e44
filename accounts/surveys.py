"""Survey invitations: signed, single-use, expiring links e-mailed through the outbox.

CSAT (and CES when enabled) go to the requester when a ticket is solved; NPS goes to account
contacts on a schedule, never more often than SurveySettings.nps_interval_days per contact.
Inbox modules are imported inside functions: inbox depends on accounts, not the reverse.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from .models import (
    SCORE_RANGE,
    Contact,
    Lifecycle,
    SurveyInvitation,
    SurveyKind,
    SurveySettings,
)
from .services import SurveyError, survey_response_create

logger = logging.getLogger(__name__)

SIGNING_NAMESPACE = "tandem.accounts.survey"
QUESTIONS = {
    SurveyKind.CSAT: "How satisfied are you with the support you received?",
    SurveyKind.CES: "How easy was it to get your issue resolved?",
    SurveyKind.NPS: "How likely are you to recommend us to a friend or colleague?",
}
SCALES = {
    SurveyKind.CSAT: ("Very unsatisfied", "Very satisfied"),
    SurveyKind.CES: ("Very difficult", "Very easy"),
    SurveyKind.NPS: ("Not at all likely", "Extremely likely"),
}


class SurveyLinkInvalid(Exception):
    """The token is garbage, tampered, expired, or already used (the page answers 404)."""


def survey_token_make(*, invitation: SurveyInvitation) -> str:
    # HMAC-SHA256 over the invitation id: unguessable, and tampering breaks it.
    return signing.dumps({"i": invitation.pk, "k": invitation.kind}, salt=SIGNING_NAMESPACE)


def survey_url(*, invitation: SurveyInvitation) -> str:
    path = reverse("accounts:survey_answer", args=[survey_token_make(invitation=invitation)])
    return settings.SITE_URL.rstrip("/") + path


def invitation_for_token(*, token: str, lock: bool = False) -> SurveyInvitation:
    """The open invitation a token names; SurveyLinkInvalid for anything else."""
    try:
        payload = signing.loads(token, salt=SIGNING_NAMESPACE)
        invitation_id = int(payload["i"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise SurveyLinkInvalid from exc
    queryset = SurveyInvitation.objects.select_related("contact", "ticket")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    invitation = queryset.filter(pk=invitation_id, kind=payload.get("k")).first()
    if invitation is None or invitation.used_at is not None:
        raise SurveyLinkInvalid
    if invitation.expires_at <= timezone.now():
        raise SurveyLinkInvalid
    return invitation


def _mail_body(invitation: SurveyInvitation, url: str) -> tuple[str, str]:
    greeting = f"Hi {invitation.contact.first_name}," if invitation.contact.first_name else "Hi,"
    about = f' about your request "{invitation.ticket.subject}"' if invitation.ticket_id else ""
    question = QUESTIONS[invitation.kind]
    low, high = SCORE_RANGE[invitation.kind]
    low_label, high_label = SCALES[invitation.kind]
    # One link per score opens the page with that score chosen; sending it is one click more
    # (a GET never records an answer: mail scanners follow links).
    choices = "\n".join(f"  {score}: {url}?score={score}" for score in range(low, high + 1))
    text = (
        f"{greeting}\n\nWe would love your feedback{about}.\n{question}\n"
        f"({low} = {low_label.lower()}, {high} = {high_label.lower()})\n\n{choices}\n\n"
        f"No login needed. Thank you!"
    )
    return f"Quick question: {question}", text


@transaction.atomic
def survey_invite(
    *, kind: str, contact: Contact, ticket: Any = None, now: dt.datetime | None = None
) -> SurveyInvitation | None:
    """Write the invitation and its outbox mail in one transaction; None if already sent."""
    from inbox.models import OutboundEmail, OutboundKind
    from inbox.outbound import new_message_id

    now = now or timezone.now()
    config = SurveySettings.load()
    invitation = SurveyInvitation(
        kind=kind,
        contact=contact,
        account_id=(ticket.account_id if ticket is not None else contact.account_id),
        ticket=ticket,
        expires_at=now + dt.timedelta(days=config.token_valid_days),
    )
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError:
        return None  # one invitation per (ticket, kind): a re-solve sends nothing new
    url = survey_url(invitation=invitation)
    subject, body = _mail_body(invitation, url)
    outbound = OutboundEmail.objects.create(
        kind=OutboundKind.SURVEY,
        ticket=ticket,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[contact.email],
        subject=subject,
        body_text=body,
        # Bulk mail we originate: list headers so clients offer to opt out (RFC 2369/8058).
        headers={"Auto-Submitted": "auto-generated", "Precedence": "bulk"},
        message_id=new_message_id(),
        next_attempt_at=now,
    )
    transaction.on_commit(lambda: _enqueue_send(outbound.pk))
    return invitation


def _enqueue_send(outbound_id: int) -> None:
    from inbox.tasks import send_outbound_task

    try:
        send_outbound_task.delay(outbound_id)
    except Exception:
        logger.warning("survey mail enqueue failed for %s", outbound_id, exc_info=True)


def surveys_on_solve(*, ticket: Any) -> list[SurveyInvitation]:
    """Invite the requester to rate a just-solved ticket (CSAT, and CES if enabled)."""
    config = SurveySettings.load()
    kinds = [
        k
        for k, on in (
            (SurveyKind.CSAT, config.csat_on_solve),
            (SurveyKind.CES, config.ces_on_solve),
        )
        if on
    ]
    sent = []
    for kind in kinds:
        invitation = survey_invite(kind=kind, contact=ticket.requester, ticket=ticket)
        if invitation is not None:
            sent.append(invitation)
    return sent


def nps_send_due(*, limit: int = 500, now: dt.datetime | None = None) -> int:
    """Send NPS to account contacts not asked within the interval; return how many."""
    now = now or timezone.now()
    config = SurveySettings.load()
    if not config.nps_enabled:
        return 0
    due_before = now - dt.timedelta(days=config.nps_interval_days)
    ids = list(
        Contact.objects.filter(account__isnull=False)
        .exclude(account__lifecycle=Lifecycle.CHURNED)
        .filter(Q(last_nps_sent_at__isnull=True) | Q(last_nps_sent_at__lte=due_before))
        .order_by("last_nps_sent_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for contact_id in ids:
        with transaction.atomic():
            # Re-check under the row lock: two runs must not both survey one contact.
            contact = (
                Contact.objects.select_for_update()
                .filter(pk=contact_id)
                .filter(Q(last_nps_sent_at__isnull=True) | Q(last_nps_sent_at__lte=due_before))
                .first()
            )
            if contact is None:
                continue
            survey_invite(kind=SurveyKind.NPS, contact=contact, now=now)
            contact.last_nps_sent_at = now
            contact.save(update_fields=["last_nps_sent_at", "updated_at"])
            sent += 1
    return sent


@transaction.atomic
def survey_answer(*, token: str, score: int, comment: str = "") -> None:
    """Record the answer to an invitation once; the token is spent in the same transaction."""
    invitation = invitation_for_token(token=token, lock=True)  # concurrent double submit
    survey_response_create(
        kind=invitation.kind,
        score=score,
        contact=invitation.contact,
        account=invitation.account,
        ticket_id=invitation.ticket_id,
        comment=comment,
    )
    invitation.used_at = timezone.now()
    invitation.save(update_fields=["used_at", "updated_at"])


__all__ = [
    "SurveyError",
    "SurveyLinkInvalid",
    "nps_send_due",
    "survey_answer",
    "survey_invite",
    "surveys_on_solve",
]
