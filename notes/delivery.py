"""E-mail delivery of notifications: immediate mails and per-user digests, via the outbox.

A notification row is its own outbox entry (`email_state` pending -> sent / skipped). The
functions here turn pending rows into OutboundEmail rows in one transaction and ask the mail
worker to send them after commit; the beat sweep retries whatever a lost task left behind.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from helpdesk.models import User
from inbox.models import OutboundEmail, OutboundKind
from inbox.outbound import new_message_id

from .models import Delivery, Notification, NotificationPreference

SWEEP_BATCH = 2000


def _preferences(user_ids: set[int]) -> dict[tuple[int, str], str]:
    rows = NotificationPreference.objects.filter(user_id__in=user_ids)
    return {(uid, kind): email for uid, kind, email in rows.values_list("user_id", "kind", "email")}


def _outbound_for(*, user: User, notifications: list[Notification], kind: str) -> OutboundEmail:
    site = settings.SITE_URL.rstrip("/")
    items = [
        {"text": n.text, "url": site + n.target_url, "at": n.created_at} for n in notifications
    ]
    context = {"user": user, "items": items, "site": site}
    if kind == OutboundKind.DIGEST:
        subject = f"Tandem: {len(items)} new notification{'s' if len(items) != 1 else ''}"
    else:
        subject = f"Tandem: {notifications[0].text}"
    outbound = OutboundEmail.objects.create(
        kind=kind,
        from_email=settings.NOTIFICATION_FROM_EMAIL,
        to=[user.email],
        # Header injection: notification text can carry a customer's subject line.
        subject=" ".join(subject.split())[:200],
        body_text=render_to_string("notes/email/notifications.txt", context),
        body_html=render_to_string("notes/email/notifications.html", context),
        headers={"Auto-Submitted": "auto-generated"},
        message_id=new_message_id(),
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _enqueue_send(outbound.pk))
    return outbound


def _enqueue_send(outbound_id: int) -> None:
    from inbox.tasks import send_outbound_task

    try:
        send_outbound_task.delay(outbound_id)
    except Exception:  # broker down: the outbox row stays queued for the mail sweep
        import logging

        logging.getLogger(__name__).warning("notification send enqueue failed %s", outbound_id)


def notifications_deliver(
    *, notification_ids: list[int] | None = None, now: datetime | None = None
) -> list[int]:
    """Mail pending notifications per each recipient's preference; return outbox row ids.

    `immediate` rows go out at once, one mail each; `digest` rows (the default) wait until
    the recipient's oldest pending one is NOTIFICATION_DIGEST_MINUTES old, then all of that
    recipient's pending digest rows go out as one mail; `off` rows are skipped. Called with
    ids right after the cause commits, and without ids by the beat sweep.
    """
    now = now or timezone.now()
    window = timedelta(minutes=settings.NOTIFICATION_DIGEST_MINUTES)
    sent: list[int] = []
    with transaction.atomic():
        # skip_locked: a sweep and an immediate task never mail the same row twice.
        queryset = Notification.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            email_state="pending"
        )
        if notification_ids is not None:
            queryset = queryset.filter(pk__in=notification_ids)
        pending = list(
            queryset.select_related("recipient", "ticket").order_by("created_at", "id")[
                :SWEEP_BATCH
            ]
        )
        if not pending:
            return sent
        prefs = _preferences({n.recipient_id for n in pending})
        skipped: list[Notification] = []
        digests: dict[int, list[Notification]] = defaultdict(list)
        for notification in pending:
            recipient = notification.recipient
            mode = prefs.get((recipient.pk, notification.kind), Delivery.DIGEST)
            if mode == Delivery.OFF or not recipient.email or not recipient.is_active:
                skipped.append(notification)
            elif mode == Delivery.IMMEDIATE:
                outbound = _outbound_for(
                    user=recipient, notifications=[notification], kind=OutboundKind.NOTIFICATION
                )
                sent.append(outbound.pk)
                notification.email_state, notification.emailed_at = "sent", now
            else:
                digests[recipient.pk].append(notification)
        for rows in digests.values():
            if notification_ids is not None or now - rows[0].created_at < window:
                continue  # the digest waits for the window so a burst makes one mail
            outbound = _outbound_for(
                user=rows[0].recipient, notifications=rows, kind=OutboundKind.DIGEST
            )
            sent.append(outbound.pk)
            for notification in rows:
                notification.email_state, notification.emailed_at = "sent", now
        for notification in skipped:
            notification.email_state = "skipped"
        changed = [n for n in pending if n.email_state != "pending"]
        Notification.objects.bulk_update(changed, ["email_state", "emailed_at"])
    return sent


def notifications_enqueue(*, notification_ids: list[int]) -> None:
    """After commit, ask Celery to mail what must go out at once (the sweep is the backstop)."""
    if not notification_ids:
        return

    def enqueue() -> None:
        from .tasks import deliver_notifications_task

        try:
            deliver_notifications_task.delay(notification_ids=notification_ids)
        except Exception:  # broker down: the beat sweep delivers the rows later
            import logging

            logging.getLogger(__name__).warning("notification enqueue failed")

    transaction.on_commit(enqueue)
