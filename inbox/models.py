"""The work: tickets, messages, attachments, the audit trail, tags and saved views."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce, Least, Lower
from django.urls import reverse

from helpdesk.models import Priority, TimestampedModel


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    ON_HOLD = "on_hold", "On hold"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


SLA_NONE = datetime.datetime(9999, 1, 1, tzinfo=datetime.UTC)  # "no clock running"
FAR_PAST = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)  # sorts before any real time
# "Last customer message" order: tickets without one last. The inbox sorts by exactly this
# expression, so PostgreSQL walks the index below instead of sorting every visible ticket.
LAST_CUSTOMER_MESSAGE_SORT = Coalesce("last_customer_message_at", Value(FAR_PAST))
OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)
DONE_STATUSES = (Status.SOLVED, Status.CLOSED)


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEB = "web", "Web"
    API = "api", "API"
    PORTAL = "portal", "Portal"
    PHONE = "phone", "Phone"


class Tag(models.Model):
    name = models.CharField(max_length=64)
    color = models.CharField(max_length=7, default="#64748b")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="inbox_tag_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


# The columns the inbox's visibility, views and filters test, carried by its walk indexes.
LIST_WALK_COLUMNS = [
    "status",
    "team",
    "assignee",
    "account",
    "priority",
    "channel",
    "sla_first_response_breached",
    "sla_next_response_breached",
    "sla_resolution_breached",
]


class Ticket(TimestampedModel):
    number = models.PositiveIntegerField(unique=True, editable=False)
    subject = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    # requester, account, team and assignee lead composite indexes (Meta.indexes) that
    # serve every look-up by the column; an index of the column alone as well would only
    # cost each ticket INSERT another index write.
    requester = models.ForeignKey(
        "accounts.Contact", on_delete=models.PROTECT, related_name="tickets", db_index=False
    )
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        db_index=False,
    )
    team = models.ForeignKey(
        "helpdesk.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        db_index=False,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        db_index=False,
    )
    mailbox = models.ForeignKey(
        "helpdesk.Mailbox", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="tickets", through="TicketTag")

    # Facts recorded when they happen; metrics only aggregate them.
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_response_business_seconds = models.FloatField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_message_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    public_reply_count = models.PositiveIntegerField(default=0)

    # SLA clocks (due times) and breach flags.
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    next_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    sla_first_response_breached = models.BooleanField(default=False)
    sla_next_response_breached = models.BooleanField(default=False)
    sla_resolution_breached = models.BooleanField(default=False)

    snoozed_until = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_tickets"
    )
    follow_up_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="follow_ups"
    )
    is_unparsed = models.BooleanField(
        default=False, help_text="Created from mail that could not be parsed; raw kept."
    )
    # Bumped on every timeline item, so a composer can tell it is stale.
    version = models.PositiveIntegerField(default=0)
    # The soonest running SLA clock, kept by the database so "sort by SLA due" is an index
    # walk: first response (while unanswered), next response, resolution; none -> year 9999.
    sla_due_at = models.GeneratedField(
        expression=Least(
            Coalesce(
                Case(
                    When(first_response_at__isnull=True, then=F("first_response_due_at")),
                    default=Value(None, output_field=models.DateTimeField()),
                ),
                Value(SLA_NONE),
            ),
            Coalesce("next_response_due_at", Value(SLA_NONE)),
            Coalesce("resolution_due_at", Value(SLA_NONE)),
        ),
        output_field=models.DateTimeField(),
        db_persist=True,
    )
    # PostgreSQL full-text vector kept current on write (GIN index made in migration 0002).
    search_vector = SearchVectorField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # INCLUDE id: a capped nav count of a team's solved tickets is an index-only scan.
            models.Index(
                fields=["team", "status", "-created_at"],
                include=["id"],
                name="inbox_ticket_team_status_idx",
            ),
            models.Index(
                fields=["assignee", "status", "-created_at"],
                name="inbox_ticket_assignee_idx",
            ),
            models.Index(fields=["status", "-created_at"], name="inbox_ticket_status_idx"),
            models.Index(fields=["account", "created_at"], name="inbox_ticket_account_idx"),
            models.Index(fields=["account", "solved_at"], name="inbox_ticket_acct_solved_idx"),
            # The sender's recent tickets (the ingest flood limit) as one range scan; the
            # planner had ANDed the requester bitmap with every ticket of the last hour.
            models.Index(fields=["requester", "created_at"], name="inbox_ticket_requester_idx"),
            models.Index(
                fields=["sla_due_at", "id"],
                name="inbox_ticket_sla_due_idx",
                condition=models.Q(status__in=["new", "open", "pending", "on_hold"]),
            ),
            # The Snoozed view: only open tickets snooze, and with the status in the condition
            # the planner no longer ANDs this with a bitmap of every open ticket.
            models.Index(
                fields=["snoozed_until"],
                include=["id"],
                name="inbox_ticket_snoozed_idx",
                condition=models.Q(
                    snoozed_until__isnull=False, status__in=["new", "open", "pending", "on_hold"]
                ),
            ),
            # Every working-view nav count (mine, unassigned, my teams, all open, pending) of
            # every visibility branch as an index-only scan that stops at the cap: the
            # count's columns are all here.
            models.Index(
                fields=["team", "assignee", "status", "snoozed_until"],
                include=["id"],
                name="inbox_ticket_open_cover_idx",
                condition=models.Q(status__in=["new", "open", "pending", "on_hold"]),
            ),
            # Mine: an agent's open tickets newest (or oldest) first, handed over in order so
            # the page stops at 50 instead of joining and sorting every one (373 at 1 M).
            # INCLUDE snoozed_until: Mine's nav count (awake ones) and the Snoozed count's
            # assigned-to-me branch are index-only scans, not heap visits (1 ms at 1 M).
            models.Index(
                fields=["assignee", "-created_at", "-id"],
                include=["snoozed_until"],
                name="inbox_ticket_mine_idx",
                condition=models.Q(status__in=["new", "open", "pending", "on_hold"]),
            ),
            # A success manager's views: open tickets of the accounts they manage.
            models.Index(
                fields=["account", "status"],
                name="inbox_ticket_acct_open_idx",
                condition=models.Q(status__in=["new", "open", "pending", "on_hold"]),
            ),
            # The inbox's ids-first walks (inbox.selectors.ticket_list_for_inbox): open, or
            # done, tickets by date with every column that visibility, the views and the
            # filters test, so a page's ids come from the index alone however many tickets
            # the walk skips (few open tickets are old; most done ones are someone else's).
            models.Index(
                fields=["created_at", "id"],
                include=[*LIST_WALK_COLUMNS, "snoozed_until"],
                name="inbox_ticket_open_walk_idx",
                condition=models.Q(status__in=["new", "open", "pending", "on_hold"]),
            ),
            models.Index(
                fields=["created_at", "id"],
                include=LIST_WALK_COLUMNS,
                name="inbox_ticket_done_walk_idx",
                condition=models.Q(status__in=["solved", "closed"]),
            ),
            # A filter on a rare channel (or one the desk does not use) finds its few tickets
            # here; the walks above would read every ticket of the view to find none.
            models.Index(fields=["channel", "created_at", "id"], name="inbox_ticket_channel_idx"),
            # Sort by last customer message, any view: walked in order and stopped at a page.
            # Without it every visible ticket was fetched and sorted (0.35 s for an agent's
            # open tickets at 1 M, 1 s for the admin's Solved).
            models.Index(
                LAST_CUSTOMER_MESSAGE_SORT.desc(),
                F("id").desc(),
                name="inbox_ticket_customer_idx",
            ),
            # Sort by SLA due in the Solved view (the index above it holds open tickets only):
            # 1 s of sorting 900,000 rows at 1 M before. Inserts, which are open, skip it.
            models.Index(
                fields=["sla_due_at", "id"],
                name="inbox_ticket_sla_due_done_idx",
                condition=models.Q(status__in=["solved", "closed"]),
            ),
            models.Index(
                fields=["team", "created_at"],
                name="inbox_ticket_unassigned_idx",
                condition=models.Q(
                    assignee__isnull=True, status__in=["new", "open", "pending", "on_hold"]
                ),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["new", "open", "pending", "on_hold", "solved", "closed"]
                ),
                name="inbox_ticket_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(priority__in=["low", "normal", "high", "urgent"]),
                name="inbox_ticket_priority_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(merged_into=models.F("id")),
                name="inbox_ticket_not_merged_into_self",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"

    def get_absolute_url(self) -> str:
        return reverse("inbox:ticket", args=[self.number])

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_sla_breached(self) -> bool:
        return (
            self.sla_first_response_breached
            or self.sla_next_response_breached
            or self.sla_resolution_breached
        )


class TicketCC(models.Model):
    """An address copied on the ticket's mail; CCs may thread replies by subject token."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="ccs")
    email = models.EmailField(max_length=254)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "ticket", Lower("email"), name="inbox_ticketcc_unique_per_ticket"
            )
        ]

    def __str__(self) -> str:
        return self.email


# The ticket columns a tag link copies (TicketTag), kept by the database triggers that
# inbox.db_triggers installs.
TAG_LINK_COPIES = {
    "created_at": "ticket_created_at",
    "team_id": "ticket_team_id",
    "account_id": "ticket_account_id",
    "assignee_id": "ticket_assignee_id",
    "status": "ticket_status",
    "priority": "ticket_priority",
}


class TicketTag(models.Model):
    """A tag on a ticket, with copies of the ticket's columns that the inbox filters by.

    The copies let a tag-filtered inbox page walk one index, this tag's tickets newest first,
    and test who may see each one and which view it is in without reading the ticket: at a
    million tickets a tag is on 3 % of them, and walking tickets by date probing each one's
    tags read 50,000 tickets for a success manager's Solved + tag page (0.3 s). Database
    triggers write them (on a new link, and on every change of those ticket columns), so no
    code path can leave them stale; Django never writes them.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, db_index=False)
    ticket_created_at = models.DateTimeField(null=True, editable=False)
    ticket_team_id = models.BigIntegerField(null=True, editable=False)
    ticket_account_id = models.BigIntegerField(null=True, editable=False)
    ticket_assignee_id = models.BigIntegerField(null=True, editable=False)
    ticket_status = models.CharField(max_length=16, null=True, editable=False)
    ticket_priority = models.CharField(max_length=16, null=True, editable=False)

    class Meta:
        db_table = "inbox_ticket_tags"
        unique_together = [("ticket", "tag")]  # also the index that finds a ticket's tags
        indexes = [
            models.Index(
                fields=["tag", "-ticket_created_at", "-ticket"],
                include=[
                    "ticket_team_id",
                    "ticket_account_id",
                    "ticket_assignee_id",
                    "ticket_status",
                    "ticket_priority",
                ],
                name="inbox_tickettag_walk_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}:{self.tag_id}"


class TicketAccess(models.Model):
    """Extra visibility: a user who may see a ticket outside their usual scope."""

    class Reason(models.TextChoices):
        MENTIONED = "mentioned", "Mentioned"
        HANDOFF = "handoff", "Handoff"
        FOLLOWING = "following", "Following"
        GRANTED = "granted", "Granted"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="access_grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ticket_grants"
    )
    reason = models.CharField(max_length=16, choices=Reason.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "ticket"], name="inbox_ticketaccess_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} -> {self.ticket}"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound (customer)"
    OUTBOUND = "outbound", "Outbound (agent)"


class DeliveryStatus(models.TextChoices):
    NONE = "", "Not e-mailed"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Message(TimestampedModel):
    """A public message on the ticket: what the customer wrote or what we answered."""

    # No index of its own: the (ticket, created_at) index below leads with it.
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=16, choices=Direction.choices)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
    )
    author_contact = models.ForeignKey(
        "accounts.Contact",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
    )
    # Auto-acknowledgements, survey mails: never a first response.
    is_automatic = models.BooleanField(default=False)
    subject = models.CharField(max_length=998, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True, help_text="Sanitised HTML (nh3).")
    from_email = models.CharField(max_length=320, blank=True)
    to = models.JSONField(default=list, blank=True)
    cc = models.JSONField(default=list, blank=True)
    # RFC 5322 identity and threading.
    message_id = models.CharField(max_length=998, null=True, blank=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.TextField(blank=True)
    delivery_status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, blank=True, default=DeliveryStatus.NONE
    )
    delivery_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    is_unparsed = models.BooleanField(default=False)
    parse_notes = models.TextField(blank=True, help_text="Oversized parts left out, etc.")
    raw_source = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="inbox_message_ticket_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["message_id"],
                condition=models.Q(message_id__isnull=False) & ~models.Q(message_id=""),
                name="inbox_message_message_id_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(direction__in=["inbound", "outbound"]),
                name="inbox_message_direction_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(author_user__isnull=False, author_contact__isnull=False),
                name="inbox_message_one_author",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} message on {self.ticket_id}"


class Attachment(TimestampedModel):
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attachments", null=True, blank=True
    )
    file = models.FileField(upload_to="attachments/%Y/%m/")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    content_id = models.CharField(max_length=998, blank=True, help_text="For cid: inline images.")
    is_inline = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sha256__regex=r"^[0-9a-f]{64}$"),
                name="inbox_attachment_sha256_hex",
            ),
        ]

    def __str__(self) -> str:
        return self.filename


class EventKind(models.TextChoices):
    CREATED = "created", "Created"
    STATUS = "status", "Status changed"
    PRIORITY = "priority", "Priority changed"
    ASSIGNED = "assigned", "Assigned"
    TEAM = "team", "Team changed"
    TAGS = "tags", "Tags changed"
    MERGED = "merged", "Merged"
    SNOOZED = "snoozed", "Snoozed"
    REOPENED = "reopened", "Reopened"
    SLA_WARNING = "sla_warning", "SLA about to breach"
    SLA_BREACHED = "sla_breached", "SLA breached"
    HANDOFF = "handoff", "Handoff"
    ACCESS_GRANTED = "access_granted", "Access granted"
    FOLLOW_UP = "follow_up", "Follow-up created"
    RULE = "rule", "Automation rule fired"
    NOTE_MADE_PUBLIC = "note_public", "Note made public"


class TicketEvent(models.Model):
    """Immutable audit trail of every user-visible change."""

    # No index of its own: the (ticket, created_at) index below leads with it.
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="inbox_event_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.ticket_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("Ticket events are immutable.")
        super().save(*args, **kwargs)


class SavedView(TimestampedModel):
    """A named inbox filter, personal (owner) or shared with a team."""

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="saved_views",
    )
    team = models.ForeignKey(
        "helpdesk.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="saved_views",
    )
    filters = models.JSONField(default=dict, blank=True)
    sort = models.CharField(max_length=32, default="newest")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(owner__isnull=False, team__isnull=True)
                    | models.Q(owner__isnull=True, team__isnull=False)
                ),
                name="inbox_savedview_personal_xor_team",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class InboundStatus(models.TextChoices):
    RECEIVED = "received", "Received (raw stored)"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (loop, bounce, duplicate)"
    FAILED = "failed", "Failed to parse (flagged ticket made)"


class InboundEmail(TimestampedModel):
    """Raw inbound mail, stored before parsing so that nothing received is lost."""

    # The Message-ID, or a stable id derived from the raw bytes when the mail has none.
    message_key = models.CharField(max_length=998, unique=True)
    raw = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    mailbox = models.ForeignKey(
        "helpdesk.Mailbox", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=16, default="file")  # imap, file, http, api
    status = models.CharField(
        max_length=16, choices=InboundStatus.choices, default=InboundStatus.RECEIVED
    )
    error = models.TextField(blank=True)
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ticket = models.ForeignKey(
        Ticket, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="inbox_inbound_pending_idx",
                condition=models.Q(status="received"),
            )
        ]

    def __str__(self) -> str:
        return self.message_key


class OutboundKind(models.TextChoices):
    REPLY = "reply", "Agent reply"
    ACKNOWLEDGEMENT = "ack", "Auto-acknowledgement"
    SURVEY = "survey", "Survey"
    NOTIFICATION = "notification", "Staff notification"
    DIGEST = "digest", "Staff digest"


class OutboundEmail(TimestampedModel):
    """Outbox row: written with its cause, sent by Celery, swept when stuck."""

    kind = models.CharField(max_length=16, choices=OutboundKind.choices)
    ticket_message = models.OneToOneField(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="outbound"
    )
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    from_email = models.CharField(max_length=320)
    to = models.JSONField(default=list)
    cc = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=998)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    # Stable across retries so a resend after a timeout is recognisable downstream.
    message_id = models.CharField(max_length=998, unique=True)
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="inbox_outbound_queued_idx",
                condition=models.Q(status="queued"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {', '.join(self.to)}"
