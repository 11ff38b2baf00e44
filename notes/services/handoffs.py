"""Writes for handoffs between support and success: a small state machine.

pending -> accepted | declined | cancelled (or cancelled by a transfer);
accepted -> completed (returned to support, or transferred).
A return_to_support handoff has nothing after support takes the ticket back, so accepting
it completes it, together with the escalation (or transfer) it answers: neither is left
"accepted" once the ticket is support's again. Every step is a TicketEvent (kind handoff)
and a notification; answering locks the handoff row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import metrics_mark_dirty
from helpdesk.models import Membership, Role, Team, TeamKind, User
from inbox.models import EventKind, Ticket, TicketAccess
from inbox.services import event_record, ticket_assign

from ..models import Handoff, HandoffKind, HandoffReason, HandoffStatus, NotificationKind
from ..notify import notify
from ..selectors import team_member_ids
from .notes import follower_add, note_create, ticket_access_grant_missing


class HandoffError(Exception):
    """A handoff step that is not allowed now; the message says why, for the user."""


def _is_success_person(user: User) -> bool:
    return user.role == Role.SUCCESS or (
        Membership.objects.filter(user=user, team__kind=TeamKind.SUCCESS).exists()
    )


def _is_receiver(handoff: Handoff, user: User) -> bool:
    if user.is_admin_role or handoff.to_user_id == user.pk:
        return True
    return bool(
        handoff.to_team_id
        and Membership.objects.filter(team_id=handoff.to_team_id, user=user).exists()
    )


def _target_ids(handoff: Handoff) -> set[int]:
    if handoff.to_user_id:
        return {handoff.to_user_id}
    return team_member_ids(team_ids=[handoff.to_team_id]).get(handoff.to_team_id, set())


def _target_label(handoff: Handoff) -> str:
    return f"@{handoff.to_user.username}" if handoff.to_user_id else f"@{handoff.to_team.handle}"


HANDOFF_WEBHOOKS = {
    "requested": "handoff.created",
    "accepted": "handoff.accepted",
    "declined": "handoff.declined",
    "returned": "handoff.returned",
}
HANDOFF_TRIGGERS = {
    "requested": "handoff_created",
    "accepted": "handoff_answered",
    "declined": "handoff_answered",
    "returned": "handoff_answered",
}


def _handoff_event(*, handoff: Handoff, actor: User, action: str, **data: object) -> None:
    event = event_record(
        ticket=handoff.ticket,
        actor=actor,
        kind=EventKind.HANDOFF,
        data={
            "action": action,
            "handoff": handoff.pk,
            "kind": handoff.kind,
            "reason": handoff.reason,
            "to_user": handoff.to_user_id,
            "to_team": handoff.to_team_id,
            **data,
        },
    )
    # Escalations are a health-score input: every handoff step can move the account's score.
    metrics_mark_dirty(account_id=handoff.ticket.account_id)
    if action in HANDOFF_WEBHOOKS:
        from api.webhooks import handoff_payload, webhook_emit  # lazy: the API sits above

        webhook_emit(HANDOFF_WEBHOOKS[action], handoff_payload(handoff))
    if action in HANDOFF_TRIGGERS:
        from automations.engine import trigger  # rules sit on top of collaboration

        trigger(kind=HANDOFF_TRIGGERS[action], ticket=handoff.ticket, event_key=f"event:{event.pk}")


def _lock_pending_state(handoff: Handoff) -> Handoff:
    # Two people may answer one handoff at once: the row lock serialises them, the loser
    # then sees the new status and gets a clear HandoffError.
    return (
        Handoff.objects.select_for_update(of=("self",))
        .select_related("ticket", "from_user", "to_user", "to_team")
        .get(pk=handoff.pk)
    )


STATUS_REFUSALS = {
    HandoffStatus.ACCEPTED: "This handoff was already accepted.",
    HandoffStatus.DECLINED: "This handoff was declined; it cannot be answered again.",
    HandoffStatus.CANCELLED: "This handoff was cancelled or passed on.",
    HandoffStatus.COMPLETED: "This handoff is complete (returned or transferred).",
}


def _require_pending(handoff: Handoff) -> None:
    if handoff.status != HandoffStatus.PENDING:
        raise HandoffError(STATUS_REFUSALS[handoff.status])


def _check_target(*, kind: str, to_user: User | None, to_team: Team | None, actor: User) -> None:
    if (to_user is None) == (to_team is None):
        raise HandoffError("Choose one person or one team to hand the ticket to.")
    if to_user is not None:
        if to_user.pk == actor.pk:
            raise HandoffError("You cannot hand a ticket to yourself.")
        if not to_user.is_active:
            raise HandoffError(f"{to_user} is no longer active.")
    wants_success = kind != HandoffKind.RETURN_TO_SUPPORT
    if to_team is not None and (to_team.kind == TeamKind.SUCCESS) != wants_success:
        raise HandoffError(f"{to_team} is not a {'success' if wants_success else 'support'} team.")
    if to_user is not None and wants_success and not _is_success_person(to_user):
        raise HandoffError(f"{to_user} is not a success manager.")


@transaction.atomic
def handoff_create(
    *,
    ticket: Ticket,
    from_user: User,
    to_user: User | None = None,
    to_team: Team | None = None,
    kind: str = HandoffKind.ESCALATE_TO_SUCCESS,
    reason: str,
    note_markdown: str,
) -> Handoff:
    """Hand the ticket to success (by default its account's success manager) with context.

    The context note is required and is an ordinary internal note (mentions work); the
    author follows the ticket; the target is notified and given access to the ticket.
    """
    # Lock the ticket so two people escalating at once make one pending handoff, not two.
    ticket = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("account", "account__success_manager")
        .get(pk=ticket.pk)
    )
    if kind not in HandoffKind.values:
        raise HandoffError("Unknown kind of handoff.")
    if reason not in HandoffReason.values:
        raise HandoffError("Choose a reason for the handoff.")
    if not (note_markdown or "").strip():
        raise HandoffError("A handoff needs a context note.")
    if Handoff.objects.filter(ticket=ticket, status=HandoffStatus.PENDING).exists():
        raise HandoffError("This ticket already has a pending handoff; answer it first.")
    if to_user is None and to_team is None:
        if kind == HandoffKind.RETURN_TO_SUPPORT:
            to_team = ticket.team
        elif ticket.account_id and ticket.account.success_manager_id:
            to_user = ticket.account.success_manager
        if to_user is None and to_team is None:
            raise HandoffError("This account has no success manager; choose a person or team.")
    _check_target(kind=kind, to_user=to_user, to_team=to_team, actor=from_user)
    note = note_create(ticket=ticket, author=from_user, body_markdown=note_markdown)
    try:
        with transaction.atomic():
            handoff = Handoff.objects.create(
                ticket=ticket,
                from_user=from_user,
                to_user=to_user,
                to_team=to_team,
                kind=kind,
                reason=reason,
                context_note=note,
            )
    except IntegrityError as exc:  # the partial unique index is the last line of defence
        raise HandoffError("This ticket already has a pending handoff; answer it first.") from exc
    follower_add(ticket=ticket, user=from_user)
    targets = _target_ids(handoff)
    ticket_access_grant_missing(
        ticket=ticket, user_ids=targets, reason=TicketAccess.Reason.HANDOFF, granted_by=from_user
    )
    _handoff_event(handoff=handoff, actor=from_user, action="requested")
    notify(
        recipients=targets,
        kind=NotificationKind.HANDOFF_REQUESTED,
        actor=from_user,
        ticket=ticket,
        handoff=handoff,
        text=(
            f"@{from_user.username} handed #{ticket.number} to {_target_label(handoff)} "
            f"({handoff.get_reason_display()}): {ticket.subject}"
        ),
    )
    return handoff


@transaction.atomic
def handoff_accept(*, handoff: Handoff, user: User) -> Handoff:
    """Take the handed-off ticket: ownership moves to `user`; the sender keeps following."""
    handoff = _lock_pending_state(handoff)
    _require_pending(handoff)
    if not _is_receiver(handoff, user):
        raise HandoffError("Only the person or team it was handed to can accept it.")
    is_return = handoff.kind == HandoffKind.RETURN_TO_SUPPORT
    handoff.status = HandoffStatus.COMPLETED if is_return else HandoffStatus.ACCEPTED
    handoff.responded_by, handoff.responded_at = user, timezone.now()
    handoff.save(update_fields=["status", "responded_by", "responded_at", "updated_at"])
    completed: list[int] = []
    if is_return:
        # Support has the ticket back: the success side's accepted handoff is done too.
        answered = Handoff.objects.select_for_update(of=("self",)).filter(
            ticket=handoff.ticket,
            status=HandoffStatus.ACCEPTED,
            kind__in=[HandoffKind.ESCALATE_TO_SUCCESS, HandoffKind.TRANSFER],
        )
        completed = list(answered.values_list("pk", flat=True))
        answered.update(status=HandoffStatus.COMPLETED, updated_at=timezone.now())
    ticket_assign(ticket=handoff.ticket, actor=user, assignee=user)
    follower_add(ticket=handoff.ticket, user=handoff.from_user)
    extra = {"completed": completed} if is_return else {}
    _handoff_event(handoff=handoff, actor=user, action="accepted", by=user.pk, **extra)
    notify(
        recipients=[handoff.from_user_id],
        kind=NotificationKind.HANDOFF_ACCEPTED,
        actor=user,
        ticket=handoff.ticket,
        handoff=handoff,
        text=f"@{user.username} accepted the handoff of #{handoff.ticket.number}",
    )
    return handoff


@transaction.atomic
def handoff_decline(*, handoff: Handoff, user: User, reason: str) -> Handoff:
    """Say no, with a reason; the ticket keeps its owner."""
    handoff = _lock_pending_state(handoff)
    _require_pending(handoff)
    if not _is_receiver(handoff, user):
        raise HandoffError("Only the person or team it was handed to can decline it.")
    reason = (reason or "").strip()
    if not reason:
        raise HandoffError("Say why you decline the handoff.")
    handoff.status = HandoffStatus.DECLINED
    handoff.responded_by, handoff.responded_at = user, timezone.now()
    handoff.response_text = reason
    handoff.save(
        update_fields=["status", "responded_by", "responded_at", "response_text", "updated_at"]
    )
    _handoff_event(handoff=handoff, actor=user, action="declined", by=user.pk)
    notify(
        recipients=[handoff.from_user_id],
        kind=NotificationKind.HANDOFF_DECLINED,
        actor=user,
        ticket=handoff.ticket,
        handoff=handoff,
        text=f"@{user.username} declined the handoff of #{handoff.ticket.number}: {reason}",
    )
    return handoff


def _require_owner(handoff: Handoff, user: User, verb: str) -> None:
    if handoff.status != HandoffStatus.ACCEPTED:
        if handoff.status == HandoffStatus.PENDING:
            raise HandoffError(f"Accept the handoff before you {verb} it.")
        raise HandoffError(STATUS_REFUSALS[handoff.status])
    is_owner = handoff.responded_by_id == user.pk or handoff.ticket.assignee_id == user.pk
    if not (is_owner or user.is_admin_role):
        raise HandoffError(f"Only the person who accepted the handoff can {verb} it.")


@transaction.atomic
def handoff_return(*, handoff: Handoff, user: User, note_markdown: str) -> Handoff:
    """Hand the ticket back to support with an outcome note; the agent owns it again."""
    handoff = _lock_pending_state(handoff)
    if handoff.kind == HandoffKind.RETURN_TO_SUPPORT:
        raise HandoffError("This handoff already went back to support.")
    _require_owner(handoff, user, "return")
    if not (note_markdown or "").strip():
        raise HandoffError("Write the outcome for support before returning the ticket.")
    ticket = handoff.ticket
    note = note_create(ticket=ticket, author=user, body_markdown=note_markdown)
    escalation = (
        Handoff.objects.filter(ticket=ticket, kind=HandoffKind.ESCALATE_TO_SUCCESS)
        .select_related("from_user")
        .order_by("-created_at", "-id")
        .first()
    )
    agent = escalation.from_user if escalation else handoff.from_user
    handoff.status = HandoffStatus.COMPLETED
    handoff.response_text = note.body_markdown
    handoff.save(update_fields=["status", "response_text", "updated_at"])
    ticket_assign(ticket=ticket, actor=user, assignee=agent if agent.is_active else None)
    follower_add(ticket=ticket, user=user)
    _handoff_event(handoff=handoff, actor=user, action="returned", to_agent=agent.pk, note=note.pk)
    notify(
        recipients=[agent.pk],
        kind=NotificationKind.HANDOFF_RETURNED,
        actor=user,
        ticket=ticket,
        note=note,
        handoff=handoff,
        text=f"@{user.username} returned #{ticket.number} to support: {ticket.subject}",
    )
    return handoff


@transaction.atomic
def handoff_transfer(*, handoff: Handoff, user: User, to_user: User, note_markdown: str) -> Handoff:
    """Pass the handoff to another success manager; returns the new pending handoff."""
    handoff = _lock_pending_state(handoff)
    # Whatever its state: the kind alone rules it out (and says so, not "it is complete").
    if handoff.kind == HandoffKind.RETURN_TO_SUPPORT:
        raise HandoffError("A return to support cannot be transferred to success.")
    if handoff.status == HandoffStatus.PENDING:
        if not _is_receiver(handoff, user):
            raise HandoffError("Only the person or team it was handed to can transfer it.")
        handoff.status = HandoffStatus.CANCELLED  # superseded by the transfer
    else:
        _require_owner(handoff, user, "transfer")
        handoff.status = HandoffStatus.COMPLETED
    if not (note_markdown or "").strip():
        raise HandoffError("A transfer needs a note for the next success manager.")
    _check_target(kind=HandoffKind.TRANSFER, to_user=to_user, to_team=None, actor=user)
    handoff.responded_by = handoff.responded_by or user
    handoff.responded_at = handoff.responded_at or timezone.now()
    handoff.save(update_fields=["status", "responded_by", "responded_at", "updated_at"])
    ticket = handoff.ticket
    note = note_create(ticket=ticket, author=user, body_markdown=note_markdown)
    new = Handoff.objects.create(
        ticket=ticket,
        from_user=user,
        to_user=to_user,
        kind=HandoffKind.TRANSFER,
        reason=handoff.reason,
        context_note=note,
    )
    follower_add(ticket=ticket, user=user)
    ticket_access_grant_missing(
        ticket=ticket, user_ids=[to_user.pk], reason=TicketAccess.Reason.HANDOFF, granted_by=user
    )
    _handoff_event(handoff=new, actor=user, action="transferred", previous=handoff.pk)
    notify(
        recipients=[to_user.pk],
        kind=NotificationKind.HANDOFF_REQUESTED,
        actor=user,
        ticket=ticket,
        handoff=new,
        text=f"@{user.username} transferred #{ticket.number} to you: {ticket.subject}",
    )
    return new


@transaction.atomic
def handoff_cancel(*, handoff: Handoff, user: User) -> Handoff:
    """Withdraw a pending handoff (its sender or an admin)."""
    handoff = _lock_pending_state(handoff)
    _require_pending(handoff)
    if handoff.from_user_id != user.pk and not user.is_admin_role:
        raise HandoffError("Only the sender can cancel a handoff.")
    handoff.status = HandoffStatus.CANCELLED
    handoff.responded_by, handoff.responded_at = user, timezone.now()
    handoff.save(update_fields=["status", "responded_by", "responded_at", "updated_at"])
    _handoff_event(handoff=handoff, actor=user, action="cancelled")
    return handoff


def handoff_overdue_notify(*, now: datetime | None = None) -> int:
    """Tell team leads once about handoffs pending longer than HANDOFF_OVERDUE_HOURS."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.HANDOFF_OVERDUE_HOURS)
    done = 0
    with transaction.atomic():
        # skip_locked: two sweeps running at once each take different rows, none twice.
        overdue = list(
            Handoff.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=HandoffStatus.PENDING,
                created_at__lt=cutoff,
                overdue_notified_at__isnull=True,
            )
            .select_related("ticket", "to_user", "to_team")[:500]
        )
        if not overdue:
            return 0
        leads = Membership.objects.filter(is_lead=True, user__is_active=True)
        lead_ids_by_team: dict[int, set[int]] = {}
        success_leads: set[int] = set()
        for team_id, user_id, kind in leads.values_list("team_id", "user_id", "team__kind"):
            lead_ids_by_team.setdefault(team_id, set()).add(user_id)
            if kind == TeamKind.SUCCESS:
                success_leads.add(user_id)
        user_teams: dict[int, set[int]] = {}
        memberships = Membership.objects.filter(
            user_id__in=[h.to_user_id for h in overdue if h.to_user_id]
        )
        for user_id, team_id in memberships.values_list("user_id", "team_id"):
            user_teams.setdefault(user_id, set()).add(team_id)
        for handoff in overdue:
            team_ids = (
                {handoff.to_team_id} if handoff.to_team_id else user_teams.get(handoff.to_user_id)
            ) or set()
            recipients = set().union(*(lead_ids_by_team.get(t, set()) for t in team_ids))
            recipients = recipients or success_leads
            notify(
                recipients=recipients,
                kind=NotificationKind.HANDOFF_OVERDUE,
                ticket=handoff.ticket,
                handoff=handoff,
                text=(
                    f"The handoff of #{handoff.ticket.number} to {_target_label(handoff)} has "
                    f"waited more than {settings.HANDOFF_OVERDUE_HOURS} hours"
                ),
            )
            handoff.overdue_notified_at = now
            done += 1
        Handoff.objects.bulk_update(overdue, ["overdue_notified_at"])
    return done
