"""Writes for collaboration: notes, mentions, followers, notifications and handoffs.

Every function is one user-visible action in one transaction. Notifications are rows
written in the same transaction as their cause (notes.notify); e-mail is delivered later by
notes.tasks, so nothing is lost when Redis or SMTP is down.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from helpdesk.models import Membership, Role, Team, TeamKind, User
from helpdesk.sanitize import render_markdown
from inbox.models import EventKind, Ticket, TicketAccess
from inbox.services import event_record, ticket_assign, ticket_grant_access, ticket_touch

from .mentions import ResolvedMentions, mentions_resolve
from .models import (
    Delivery,
    Follower,
    Handoff,
    HandoffKind,
    HandoffReason,
    HandoffStatus,
    Mention,
    Note,
    NoteRevision,
    Notification,
    NotificationKind,
    NotificationPreference,
)
from .notify import notify
from .selectors import team_member_ids, user_ids_who_see_ticket


class NoteInvalid(ValueError):
    """The note cannot be saved as given (e.g. empty body)."""


class NoteForbidden(PermissionError):
    """The user may see the note but not change it (not the author, or too late)."""


class HandoffError(Exception):
    """A handoff step that is not allowed now; the message says why, for the user."""


# --- notes and mentions -----------------------------------------------------------------


def _render(body_markdown: str) -> tuple[str, str]:
    body = (body_markdown or "").strip()
    if not body:
        raise NoteInvalid("A note needs some text.")
    return body, render_markdown(body)


@transaction.atomic
def note_create(*, ticket: Ticket, author: User | None, body_markdown: str) -> Note:
    """Add an internal note to the ticket (never e-mailed, never shown to the customer).

    @mentions are stored as rows and notified; a mentioned person who cannot see the ticket
    is given access to it (recorded as an event).
    """
    body, html = _render(body_markdown)
    note = Note.objects.create(ticket=ticket, author=author, body_markdown=body, body_html=html)
    ticket_touch(ticket=ticket)
    _mentions_record(note=note, resolved=mentions_resolve(html=html), actor=author)
    return note


def _mentions_record(
    *, note: Note, resolved: ResolvedMentions, actor: User | None, only_new: bool = False
) -> list[Notification]:
    """Store the note's mentions and notify who they name, in a fixed number of queries."""
    if not resolved.users and not resolved.teams:
        return []
    users, teams = resolved.users, resolved.teams
    if only_new:  # an edit notifies only the people it newly names
        existing = Mention.objects.filter(note=note).values_list("user_id", "team_id")
        known_users = {user_id for user_id, _ in existing if user_id}
        known_teams = {team_id for _, team_id in existing if team_id}
        users = [u for u in users if u.pk not in known_users]
        teams = [t for t in teams if t.pk not in known_teams]
        if not users and not teams:
            return []
    Mention.objects.bulk_create(
        [Mention(note=note, user=u) for u in users] + [Mention(note=note, team=t) for t in teams],
        ignore_conflicts=only_new,
    )
    direct_ids = {u.pk for u in users}
    team_ids: set[int] = set()
    members = team_member_ids(team_ids=[t.pk for t in teams]) if teams else {}
    for ids in members.values():
        team_ids |= ids
    team_ids -= direct_ids
    actor_id = actor.pk if actor else None
    recipients = (direct_ids | team_ids) - {actor_id}
    _grant_missing_access(
        ticket=note.ticket,
        user_ids=recipients,
        reason=TicketAccess.Reason.MENTIONED,
        granted_by=actor,
    )
    ticket = note.ticket
    who = f"@{actor.username}" if actor else "An automation"
    created = notify(
        recipients=direct_ids,
        kind=NotificationKind.MENTIONED,
        actor=actor,
        ticket=ticket,
        note=note,
        text=f"{who} mentioned you on #{ticket.number}: {ticket.subject}",
    )
    if team_ids:
        handles = ", ".join(f"@{t.handle}" for t in teams)
        created += notify(
            recipients=team_ids,
            kind=NotificationKind.MENTIONED,
            actor=actor,
            ticket=ticket,
            note=note,
            text=f"{who} mentioned {handles} on #{ticket.number}: {ticket.subject}",
            data={"teams": [t.handle for t in teams]},
        )
    return created


def _grant_missing_access(
    *, ticket: Ticket, user_ids: Iterable[int], reason: str, granted_by: User | None
) -> list[int]:
    """Give access to those of `user_ids` who cannot see the ticket yet; return their ids.

    One query when everyone can already see it (the common case, e.g. a team mention on the
    team's own ticket); each grant is its own event so the audit trail names the person.
    """
    ids = set(user_ids)
    missing = ids - user_ids_who_see_ticket(ticket=ticket, user_ids=ids)
    if not missing:
        return []
    for user in User.objects.filter(pk__in=missing, is_active=True, is_staff=True):
        ticket_grant_access(ticket=ticket, user=user, reason=reason, granted_by=granted_by)
    return sorted(missing)


@transaction.atomic
def note_edit(*, note: Note, user: User, body_markdown: str) -> Note:
    """Change a note's text: only its author, only within NOTE_EDIT_WINDOW_MINUTES.

    The previous text is kept as a NoteRevision; newly mentioned people are notified.
    """
    note = Note.objects.select_for_update().select_related("ticket").get(pk=note.pk)
    if note.author_id != user.pk:
        raise NoteForbidden("Only the author can edit a note.")
    window = timedelta(minutes=settings.NOTE_EDIT_WINDOW_MINUTES)
    if timezone.now() - note.created_at > window:
        raise NoteForbidden(
            f"Notes can be edited for {settings.NOTE_EDIT_WINDOW_MINUTES} minutes after posting."
        )
    body, html = _render(body_markdown)
    if body == note.body_markdown:
        return note  # no-op: no revision, nobody notified
    NoteRevision.objects.create(note=note, body_markdown=note.body_markdown, edited_by=user)
    note.body_markdown, note.body_html, note.edited_at = body, html, timezone.now()
    note.save(update_fields=["body_markdown", "body_html", "edited_at", "updated_at"])
    ticket_touch(ticket=note.ticket)
    _mentions_record(note=note, resolved=mentions_resolve(html=html), actor=user, only_new=True)
    return note


@transaction.atomic
def note_set_pinned(*, note: Note, user: User, is_pinned: bool) -> Note:
    """Pin a note to the top of its ticket (or unpin it); anyone who sees the ticket may."""
    note = Note.objects.select_for_update().get(pk=note.pk)
    if note.is_pinned == is_pinned:
        return note
    note.is_pinned = is_pinned
    note.save(update_fields=["is_pinned", "updated_at"])
    ticket_touch(ticket=note.ticket)
    return note


# --- followers ----------------------------------------------------------------------------


@transaction.atomic
def follower_add(*, ticket: Ticket, user: User) -> bool:
    """Follow the ticket (customer replies and status changes notify followers)."""
    _follower, created = Follower.objects.get_or_create(ticket=ticket, user=user)
    return created


@transaction.atomic
def follower_remove(*, ticket: Ticket, user: User) -> bool:
    deleted, _ = Follower.objects.filter(ticket=ticket, user=user).delete()
    return bool(deleted)


# --- notifications ---------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, notification_id: int, user: User) -> int:
    """Mark one of the user's notifications read; another user's id changes nothing."""
    return Notification.objects.filter(
        pk=notification_id, recipient=user, read_at__isnull=True
    ).update(read_at=timezone.now())


@transaction.atomic
def notification_mark_all_read(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


@transaction.atomic
def notification_preference_set(*, user: User, kind: str, email: str) -> NotificationPreference:
    if kind not in NotificationKind.values or email not in Delivery.values:
        raise ValueError("Unknown notification kind or delivery.")
    pref, _ = NotificationPreference.objects.update_or_create(
        user=user, kind=kind, defaults={"email": email}
    )
    return pref


# --- handoffs ----------------------------------------------------------------------------


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


def _handoff_event(*, handoff: Handoff, actor: User, action: str, **data: object) -> None:
    event_record(
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
    _grant_missing_access(
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
    handoff.status = HandoffStatus.ACCEPTED
    handoff.responded_by, handoff.responded_at = user, timezone.now()
    handoff.save(update_fields=["status", "responded_by", "responded_at", "updated_at"])
    ticket_assign(ticket=handoff.ticket, actor=user, assignee=user)
    follower_add(ticket=handoff.ticket, user=handoff.from_user)
    _handoff_event(handoff=handoff, actor=user, action="accepted", by=user.pk)
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
    if handoff.status == HandoffStatus.PENDING:
        if not _is_receiver(handoff, user):
            raise HandoffError("Only the person or team it was handed to can transfer it.")
        handoff.status = HandoffStatus.CANCELLED  # superseded by the transfer
    else:
        _require_owner(handoff, user, "transfer")
        handoff.status = HandoffStatus.COMPLETED
    if handoff.kind == HandoffKind.RETURN_TO_SUPPORT:
        raise HandoffError("A return to support cannot be transferred to success.")
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
    _grant_missing_access(
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
