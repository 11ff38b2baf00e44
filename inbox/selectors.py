"""Reads for the inbox: permission-scoped querysets shaped for one screen."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet, ObjectDoesNotExist
from django.db import connection
from django.db.models import Exists, F, Model, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Now
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from accounts.models import Account
from helpdesk.models import CannedResponse, Macro, Membership, Priority, Role, Team, User
from helpdesk.prepared import fetchone_prepared, literal_sql
from helpdesk.services import config_cached, config_snapshot

from .models import (
    DONE_STATUSES,
    FAR_PAST,
    LAST_CUSTOMER_MESSAGE_SORT,
    OPEN_STATUSES,
    TAG_LINK_COPIES,
    Channel,
    EventKind,
    Message,
    SavedView,
    Status,
    Tag,
    Ticket,
    TicketAccess,
    TicketEvent,
    TicketTag,
)


def ticket_visibility_branches(*, user: User, team_ids: list[int] | None = None) -> list[Q] | None:
    """Return the filters whose union is what `user` may see; None means everything.

    Agents: their teams' tickets and tickets assigned to them. Success managers: tickets of
    the accounts they manage and tickets assigned to them. Everyone: tickets explicitly shared
    with them (mention, handoff). Admins: everything.
    """
    if not user.is_active:
        return [Q(pk__in=[])]
    if user.is_superuser or user.role == Role.ADMIN:
        return None
    # Each branch is an uncorrelated subquery on an indexed column, not a join: the planner
    # can OR three index scans instead of scanning every ticket, and no row is duplicated.
    granted = Q(id__in=TicketAccess.objects.filter(user=user).values("ticket_id"))
    if user.role == Role.SUCCESS:
        managed = Account.objects.filter(success_manager=user).values("id")
        return [Q(account_id__in=managed), Q(assignee=user), granted]
    if team_ids is None:
        my_teams: Any = Membership.objects.filter(user=user).values("team_id")
    else:
        # Known ids as literals: the planner then sees how few teams they are and walks the
        # (team, status) index instead of hash-joining memberships onto a scan of tickets.
        my_teams = team_ids
    return [Q(team_id__in=my_teams), Q(assignee=user), granted]


def ticket_visibility_q(*, user: User, team_ids: list[int] | None = None) -> Q:
    """Return the filter of tickets `user` may see (the union of the branches above)."""
    branches = ticket_visibility_branches(user=user, team_ids=team_ids)
    if branches is None:
        return Q()
    visible = Q()
    for branch in branches:
        visible |= branch
    return visible


def ticket_visible_queryset(*, user: User, team_ids: list[int] | None = None) -> QuerySet[Ticket]:
    """`team_ids`: the user's teams when already read (they then go in as literals)."""
    return Ticket.objects.filter(ticket_visibility_q(user=user, team_ids=team_ids))


def ticket_get_for_user(*, user: User, number: int, lock: bool = False) -> Ticket:
    """Fetch ticket `number` if `user` may see it; 404 for missing and forbidden alike."""
    queryset = ticket_visible_queryset(user=user).select_related(
        "requester", "account", "account__success_manager", "team", "assignee"
    )
    if lock:
        # Lock only the ticket row (nullable joins cannot be locked FOR UPDATE in PostgreSQL).
        queryset = queryset.select_for_update(of=("self",))
    try:
        return queryset.get(number=number)
    except Ticket.DoesNotExist as exc:
        raise Http404("No such ticket.") from exc


# --- the inbox list --------------------------------------------------------------------

VIEWS = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "team": "My teams",
    "all": "All open",
    "pending": "Pending",
    "snoozed": "Snoozed",
    "solved": "Solved",
    "mentions": "Mentions",
    "handoffs": "Handoffs",
}
WORKING_VIEWS = ("mine", "unassigned", "team", "all")
SORTS = {
    "newest": "Newest",
    "oldest": "Oldest",
    "customer": "Last customer message",
    "sla": "SLA due",
}
COUNT_CAP = 1000  # nav counts stop here ("999+"): never COUNT(*) a million rows per page
PAGE_SIZE = 50
FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def user_team_ids(*, user: User) -> list[int]:
    return list(user.memberships.values_list("team_id", flat=True))


def _statuses_q(allowed: Sequence[str], chosen: str) -> Q:
    """The view's statuses, narrowed to the status filter when it is one of them.

    One clause, not `status IN (...) AND status = 'open'`: PostgreSQL multiplies the two
    selectivities and, ten times short on the rows, sorts the matches instead of walking
    an index in order. A chosen status outside the view still empties it (filtered later).
    """
    if chosen in allowed:
        return Q(status=chosen)
    return Q(status__in=allowed)


def _view_q(
    *, view: str, user: User, team_ids: list[int], now: dt.datetime | Now, status: str = ""
) -> Q:
    """Return the filter of one navigation view (visibility is applied separately).

    `status` is the list's status filter, folded into the view's own status clause.
    """
    from notes.models import Handoff, HandoffStatus, Mention

    awake = Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now)
    working = _statuses_q(OPEN_STATUSES, status) & awake
    if view == "mine":
        return working & Q(assignee=user)
    if view == "unassigned":
        return working & Q(assignee__isnull=True)
    if view == "team":
        return working & Q(team_id__in=team_ids)
    if view == "pending":
        return Q(status=Status.PENDING)
    if view == "snoozed":
        return _statuses_q(OPEN_STATUSES, status) & Q(snoozed_until__gt=now)
    if view == "solved":
        return _statuses_q(DONE_STATUSES, status)
    if view == "mentions":
        mentioned = Mention.objects.filter(Q(user=user) | Q(team_id__in=team_ids))
        return Q(id__in=mentioned.values("note__ticket_id"))
    if view == "handoffs":
        handoffs = Handoff.objects.filter(
            Q(status=HandoffStatus.PENDING, to_user=user)
            | Q(status=HandoffStatus.PENDING, to_team_id__in=team_ids)
            | Q(from_user=user)
        )
        return Q(id__in=handoffs.values("ticket_id"))
    return working  # "all"


@dataclass(frozen=True)
class TicketFilters:
    """The list's filter, sort and search parameters, as parsed from the query string."""

    view: str = "team"
    status: str = ""
    priority: str = ""
    team: int | None = None
    assignee: str = ""  # a user id, "me" or "none"
    tag: str = ""
    account: int | None = None
    channel: str = ""
    breached: bool = False
    q: str = ""
    sort: str = "newest"

    def as_params(self) -> dict[str, str]:
        """The non-default values, for links that keep the current filter."""
        params = {
            "view": self.view,
            "status": self.status,
            "priority": self.priority,
            "team": str(self.team or ""),
            "assignee": self.assignee,
            "tag": self.tag,
            "account": str(self.account or ""),
            "channel": self.channel,
            "breached": "1" if self.breached else "",
            "q": self.q,
            "sort": "" if self.sort == "newest" else self.sort,
        }
        return {key: value for key, value in params.items() if value}

    @property
    def is_filtered(self) -> bool:
        return bool(set(self.as_params()) - {"view"})


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def ticket_filters_from_params(params: Mapping[str, str], *, default_view: str) -> TicketFilters:
    """Parse query parameters leniently: an unknown value is ignored, never an error page."""
    view = params.get("view") or default_view
    sort = params.get("sort") or "newest"
    status = params.get("status", "")
    priority = params.get("priority", "")
    channel = params.get("channel", "")
    assignee = params.get("assignee", "")
    if assignee not in ("me", "none") and _int_or_none(assignee) is None:
        assignee = ""
    return TicketFilters(
        view=view if view in VIEWS else default_view,
        status=status if status in Status.values else "",
        priority=priority if priority in Priority.values else "",
        team=_int_or_none(params.get("team")),
        assignee=assignee,
        tag=params.get("tag", "").strip()[:64],
        account=_int_or_none(params.get("account")),
        channel=channel if channel in Channel.values else "",
        breached=params.get("breached") in ("1", "true", "on"),
        q=params.get("q", "").strip()[:200],
        sort=sort if sort in SORTS else "newest",
    )


def _search_q(q: str) -> Q:
    """Keyword search: PostgreSQL full-text on the GIN-indexed vector, or LIKE on SQLite."""
    if connection.vendor == "postgresql":
        query = SearchQuery(q, config="english", search_type="websearch") | SearchQuery(
            q, config="simple", search_type="websearch"
        )
        return Q(search_vector=query)
    in_bodies = Message.objects.filter(body_text__icontains=q).values("ticket_id")
    return Q(subject__icontains=q) | Q(requester__email__icontains=q) | Q(id__in=in_bodies)


def _filters_q(
    *,
    user: User,
    filters: TicketFilters,
    team_ids: list[int],
    now: dt.datetime | Now | None = None,
    with_tag: bool = True,
) -> Q:
    """What the user may see, in the view, matching the filters, as one Q on Ticket.

    `with_tag=False` leaves the tag out, for a walk of the tag's links (_tag_walk_page).
    """
    now = now or timezone.now()
    conditions = [
        ticket_visibility_q(user=user, team_ids=team_ids),
        _view_q(view=filters.view, user=user, team_ids=team_ids, now=now, status=filters.status),
    ]
    if filters.status:
        conditions.append(Q(status=filters.status))
    if filters.priority:
        conditions.append(Q(priority=filters.priority))
    if filters.team:
        conditions.append(Q(team_id=filters.team))
    if filters.assignee == "me":
        conditions.append(Q(assignee=user))
    elif filters.assignee == "none":
        conditions.append(Q(assignee__isnull=True))
    elif filters.assignee:
        conditions.append(Q(assignee_id=int(filters.assignee)))
    if filters.tag and with_tag:
        tagged = TicketTag.objects.filter(tag__name__iexact=filters.tag).values("ticket_id")
        conditions.append(Q(id__in=tagged))
    if filters.account:
        conditions.append(Q(account_id=filters.account))
    if filters.channel:
        conditions.append(Q(channel=filters.channel))
    if filters.breached:
        conditions.append(
            Q(sla_first_response_breached=True)
            | Q(sla_next_response_breached=True)
            | Q(sla_resolution_breached=True)
        )
    if filters.q:
        conditions.append(_search_q(filters.q))
    combined = Q()
    for condition in conditions:
        combined &= condition
    return combined


def _filtered(
    *,
    user: User,
    filters: TicketFilters,
    team_ids: list[int],
    now: dt.datetime | Now | None = None,
) -> QuerySet[Ticket]:
    return Ticket.objects.filter(_filters_q(user=user, filters=filters, team_ids=team_ids, now=now))


# Lookups that mean the same on a tag link's copy of a ticket column as on the column.
_PLAIN_LOOKUPS = {"", "exact", "in", "isnull", "lt", "lte", "gt", "gte"}
_TAG_LINK_FIELDS = {
    "id": "ticket_id",
    "pk": "ticket_id",
    **{name.removesuffix("_id"): copy for name, copy in TAG_LINK_COPIES.items()},
    **TAG_LINK_COPIES,
}


def _on_tag_link(q: Q, prefix: str = "") -> Q:
    """Rewrite a filter of tickets as a filter of their tag links (TicketTag).

    Conditions on a column the link copies test the copy, inside the link's index; the rest
    go through the join to the ticket, so only the links that pass the first reach it.
    `prefix`: the relation that reaches the links from the model queried ("" on TicketTag).
    """
    children: list[Any] = []
    for child in q.children:
        if isinstance(child, Q):
            children.append(_on_tag_link(child, prefix))
            continue
        if not isinstance(child, tuple):  # an expression would still name Ticket's columns
            raise TypeError(f"Cannot move {child!r} onto the tag link")
        lookup, value = child
        name, _, rest = lookup.partition("__")
        copy = _TAG_LINK_FIELDS.get(name)
        if copy is None or rest not in _PLAIN_LOOKUPS:
            children.append((f"{prefix}ticket__{lookup}", value))
            continue
        if isinstance(value, Model):  # e.g. Q(assignee=user): the copy holds the id
            value = value.pk
        children.append((f"{prefix}{copy}__{rest}" if rest else prefix + copy, value))
    return Q(*children, _connector=q.connector, _negated=q.negated)


def _tag_id(name: str) -> Subquery:
    """The tag's id as a scalar subquery: PostgreSQL runs it once, first, and walks the link
    index from that id (no round trip of its own)."""
    return Subquery(Tag.objects.filter(name__iexact=name).values("id")[:1])


SEARCH_COMMON = 5000  # matches beyond which walking by date beats sorting the matches
# Matches few enough to hand the list query their ids. PostgreSQL estimates a term it has
# no statistics for at 0.5 % of the table (5,000 tickets at 1 M), whatever it matches: for
# a customer's address with 20 tickets it hash-joined all 50,000 contacts (a 70 ms page).
SEARCH_FEW = 500


@dataclass(frozen=True)
class SearchProbe:
    common: bool  # at least SEARCH_COMMON matches
    few_ids: list[int] | None  # every match's id when there are at most SEARCH_FEW


def _search_probe(q: str) -> SearchProbe:
    """How many tickets a search matches, from one capped probe on the GIN index."""
    if connection.vendor != "postgresql":
        return SearchProbe(common=False, few_ids=None)
    probe = Ticket.objects.filter(_search_q(q)).order_by().values("id")[:SEARCH_COMMON]
    sql, params = probe.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), (array_agg(id))[1:{SEARCH_FEW + 1}] FROM ({sql}) AS m",  # noqa: S608 - Django's compiled SQL, parameters apart
            params,
        )
        count, ids = cursor.fetchone()
    common = count >= SEARCH_COMMON  # then the probe stopped: its ids are not all matches
    few = not common and count <= SEARCH_FEW
    return SearchProbe(common=common, few_ids=(ids or []) if few else None)


# Sort key per sort: (annotation expression, descending?). Nullable columns are coalesced
# to a sentinel so the keyset comparison (value, id) is total.
def _sort_key(sort: str) -> tuple[Any, bool]:
    if sort == "oldest":
        return F("created_at"), False
    if sort == "customer":
        return LAST_CUSTOMER_MESSAGE_SORT, True  # the expression of its index
    if sort == "sla":
        # A stored generated column with a partial index (see Ticket.sla_due_at).
        return F("sla_due_at"), False
    return F("created_at"), True


def _cursor_encode(value: dt.datetime, ticket_id: int, rank: bool | None = None) -> str:
    position: list[Any] = [value.isoformat(), ticket_id]
    if rank is not None:
        position.append(bool(rank))
    raw = json.dumps(position).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[dt.datetime, int, bool | None] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, ticket_id, *rest = json.loads(raw)
        parsed = dt.datetime.fromisoformat(value)
        rank = rest[0] if rest else None
        if (
            parsed.tzinfo is None
            or not isinstance(ticket_id, int)
            or len(rest) > 1
            or (rank is not None and not isinstance(rank, bool))
        ):
            return None
    except (ValueError, TypeError, json.JSONDecodeError):
        return None
    return parsed, ticket_id, rank


def _mentions_order(*, user: User, team_ids: list[int]) -> tuple[Any, Any]:
    """The Mentions view's keys: an unread mention of me first, then the newest mention.

    Unread = I still have an unread "mentioned" notification on the ticket; newest = the
    latest note on the ticket that mentions me or one of my teams.
    """
    from notes.models import Mention, Notification, NotificationKind

    unread = Exists(
        Notification.objects.filter(
            recipient=user,
            kind=NotificationKind.MENTIONED,
            read_at__isnull=True,
            ticket_id=OuterRef("pk"),
        )
    )
    latest = Subquery(
        Mention.objects.filter(
            Q(user=user) | Q(team_id__in=team_ids), note__ticket_id=OuterRef("pk")
        )
        .order_by("-note__created_at")
        .values("note__created_at")[:1]
    )
    return unread, Coalesce(latest, Value(FAR_PAST))


@functools.cache
def _ticket_url_prefix() -> str:
    """inbox:ticket up to the number, reversed once rather than fifty times a page."""
    return reverse("inbox:ticket", args=[0]).removesuffix("0/")


@dataclass(slots=True)
class TicketRow:
    """One inbox row: plain values, no model instances (fifty tickets with four joined
    models and their tags cost more to build through the ORM than to query)."""

    id: int
    number: int
    subject: str
    status: str
    priority: str
    created_at: dt.datetime
    last_customer_message_at: dt.datetime | None
    snoozed_until: dt.datetime | None
    first_response_at: dt.datetime | None
    first_response_due_at: dt.datetime | None
    next_response_due_at: dt.datetime | None
    resolution_due_at: dt.datetime | None
    sla_first_response_breached: bool
    sla_next_response_breached: bool
    sla_resolution_breached: bool
    requester_name: str
    requester_email: str
    account_name: str | None
    team_name: str | None
    assignee_username: str | None
    assignee_first_name: str | None
    assignee_last_name: str | None
    sort_value: Any
    mention_unread: bool = False
    tag_names: list[str] = field(default_factory=list)

    @property
    def pk(self) -> int:
        return self.id

    # The model's own rule: it reads only the three flags a row carries too.
    is_sla_breached = property(Ticket.is_sla_breached.fget)

    @property
    def assignee_display(self) -> str | None:
        if self.assignee_username is None:
            return None
        full = f"{self.assignee_first_name or ''} {self.assignee_last_name or ''}".strip()
        return full or self.assignee_username

    def get_absolute_url(self) -> str:
        return _ticket_url_prefix() + f"{self.number}/"

    def get_status_display(self) -> str:
        return str(Status(self.status).label)

    def get_priority_display(self) -> str:
        return str(Priority(self.priority).label)


@dataclass
class TicketPage:
    tickets: list[TicketRow]
    next_cursor: str | None
    filters: TicketFilters


LIST_ROW_FIELDS = (
    "id",
    "number",
    "subject",
    "status",
    "priority",
    "created_at",
    "last_customer_message_at",
    "snoozed_until",
    "first_response_at",
    "first_response_due_at",
    "next_response_due_at",
    "resolution_due_at",
    "sla_first_response_breached",
    "sla_next_response_breached",
    "sla_resolution_breached",
    "requester__name",
    "requester__email",
    "account__name",
    "team__name",
    "assignee__username",
    "assignee__first_name",
    "assignee__last_name",
    "sort_value",
)


def ticket_list_for_inbox(
    *,
    user: User,
    filters: TicketFilters | None = None,
    cursor: str = "",
    limit: int = PAGE_SIZE,
    team_ids: list[int] | None = None,
) -> TicketPage:
    """One page of the inbox list, keyset-paginated: cost does not grow with the page number.

    Two queries: the tickets (with requester, account, team, assignee joined) and their tags,
    read as plain values into TicketRow.
    """
    filters = filters or TicketFilters()
    if team_ids is None:
        team_ids = user_team_ids(user=user)
    position = _cursor_decode(cursor) if cursor else None
    # The Mentions view's default order puts unread mentions first (a leading rank key).
    ranked = filters.view == "mentions" and filters.sort == "newest"
    if _tag_walk_suits(filters):
        return _tag_walk_page(
            user=user, filters=filters, team_ids=team_ids, position=position, limit=limit
        )
    queryset = _filtered(user=user, filters=filters, team_ids=team_ids)
    expression, descending = _sort_key(filters.sort)
    probe = _search_probe(filters.q) if filters.q else None
    if probe is not None and probe.few_ids is not None:
        # The ids as literals: the planner then knows how few rows it joins and sorts.
        queryset = queryset.filter(id__in=probe.few_ids)
    if probe is not None and filters.sort in ("newest", "oldest") and not probe.common:
        # A rare term: wrapped so the created_at index cannot drive the plan (with LIMIT,
        # PostgreSQL would walk every ticket by date looking for the few that match); the
        # GIN index finds the matches and only those are sorted. A common term keeps the
        # date walk, which finds a page of matches after a few rows.
        expression = Coalesce("created_at", Value(FAR_PAST))
    if ranked:
        rank, expression = _mentions_order(user=user, team_ids=team_ids)
        queryset = queryset.annotate(mention_unread=rank)
    queryset = queryset.annotate(sort_value=expression)
    if position is not None and ranked:
        value, last_id, was_unread = position
        after = Q(sort_value__lt=value) | Q(sort_value=value, id__lt=last_id)
        if was_unread is None or was_unread:
            queryset = queryset.filter(Q(mention_unread=False) | (Q(mention_unread=True) & after))
        else:
            queryset = queryset.filter(Q(mention_unread=False) & after)
    elif position is not None:
        value, last_id, _rank = position
        queryset = queryset.filter(_after_q("sort_value", "id", value, last_id, descending))
    order = ("-sort_value", "-id") if descending else ("sort_value", "id")
    if ranked:
        order = ("-mention_unread", *order)
    fields = (*LIST_ROW_FIELDS, "mention_unread") if ranked else LIST_ROW_FIELDS
    if probe is None and not ranked and _ids_first_suits(filters, user=user):
        # Late materialisation: the page's ids from a covering index of open (or done)
        # tickets by date, then the rows with their four joins for those ids only. The ids
        # walk tests visibility and filters inside the index, where a walk of rows visits
        # the heap for every ticket it skips: a success manager's All open + urgent read
        # 12,000 tickets (72 -> 24 ms at 1 M), an agent's Unassigned oldest first walked
        # the two years of done tickets before reaching an open one (0.97 s).
        page_ids = queryset.order_by(*order).values("id")[: limit + 1]
        queryset = Ticket.objects.filter(id__in=page_ids).annotate(sort_value=expression)
    return _page_of_rows(queryset.order_by(*order), fields, filters, limit, ranked)


# Views whose tickets the open or done walk index (Ticket.Meta) holds with every column the
# visibility, view and filters test.
_IDS_FIRST_VIEWS = ("all", "team", "unassigned", "pending", "solved")


def _ids_first_suits(filters: TicketFilters, *, user: User) -> bool:
    """Whether the list reads its page's ids first (see ticket_list_for_inbox).

    Not for someone who sees every ticket with no filter: their walk stops within a page
    of rows anyway, and the second level only adds planning (about 3 ms).
    """
    if filters.view not in _IDS_FIRST_VIEWS or filters.sort not in ("newest", "oldest"):
        return False
    narrowed = any(
        (
            filters.status,
            filters.priority,
            filters.team,
            filters.assignee,
            filters.account,
            filters.channel,
            filters.breached,
            filters.tag,
        )
    )
    return narrowed or ticket_visibility_branches(user=user, team_ids=[]) is not None


def _after_q(value_field: str, id_field: str, value: Any, last_id: int, descending: bool) -> Q:
    """The keyset condition: rows after (value, last_id) in the page order."""
    if descending:
        return Q(**{f"{value_field}__lt": value}) | Q(
            **{value_field: value, f"{id_field}__lt": last_id}
        )
    return Q(**{f"{value_field}__gt": value}) | Q(
        **{value_field: value, f"{id_field}__gt": last_id}
    )


# The annotation tickets_tagged adds: the tag link's copy of the ticket's created_at.
TAG_ORDER_FIELD = "tag_created_at"


@dataclass(frozen=True)
class TagLinkPage:
    """One page of a tag-filtered list, as its paginator will read it (api.pagination)."""

    after: Any  # the cursor's created_at (strictly after it in page order); None: first page
    descending: bool
    rows: int  # the rows the paginator reads: its cursor's offset, the page and one more


def tickets_tagged(
    queryset: QuerySet[Ticket],
    *,
    user: User,
    tag_name: str,
    also: Q | None = None,
    page: TagLinkPage | None = None,
) -> QuerySet[Ticket]:
    """Narrow `queryset` (tickets `user` may see) to those tagged `tag_name`, in link order.

    It joins the tag's links and annotates TAG_ORDER_FIELD, the link's copy of created_at:
    a list ordered by it walks the link index and stops at a page (the API's tag filter; as
    a join through the tag ordered by the ticket's created_at it walked tickets by date,
    0.1-0.2 s at 1 M). Visibility is also tested on the link's copies, inside that index;
    the ticket's own visibility filter, already on `queryset`, stays the authority. `also`:
    filters of tickets that `queryset` already applies, repeated on the copies likewise.

    `page`: when every filter of the list is on the copies, the page's ticket ids are read
    first from the links alone. Joined with the tickets, PostgreSQL misjudged how many links
    a success manager's visibility keeps and started parallel workers for a 2 ms walk
    (15-25 ms of SQL at 1 M).
    """
    filters = [f for f in (ticket_visibility_q(user=user), also) if f]  # Q() sees all
    on_link = Q(tickettag__tag_id=_tag_id(tag_name))
    if page is None:
        for tickets in filters:
            on_link &= _on_tag_link(tickets, prefix="tickettag__")
    else:
        on_copies = Q()
        for tickets in filters:
            on_copies &= _on_tag_link(tickets)
        if page.after is not None:
            lookup = "ticket_created_at__lt" if page.descending else "ticket_created_at__gt"
            on_copies &= Q(**{lookup: page.after})
        # The links' conditions are in here; the page's query then joins only these links.
        page_ids = _tag_link_ids(tag_name, on_copies, descending=page.descending, rows=page.rows)
        on_link &= Q(tickettag__ticket_id__in=page_ids)
    # One filter() call, so every condition shares the one join; the annotation reuses it.
    return queryset.filter(on_link).annotate(**{TAG_ORDER_FIELD: F("tickettag__ticket_created_at")})


# Views and filters that already narrow the list to a few tickets, found through an index of
# their own (an agent's open tickets, one account's): probing those few for the tag beats
# walking every ticket that carries it. (Mentions, whose default order ranks unread ones
# first, is not a date order either.)
_NARROW_VIEWS = ("mine", "snoozed", "mentions", "handoffs")


def _tag_walk_suits(filters: TicketFilters) -> bool:
    """Whether a tag-filtered list should walk the tag's links (_tag_walk_page)."""
    return (
        bool(filters.tag)
        and filters.sort in ("newest", "oldest")
        and not filters.q  # the search finds its own few matches (_search_probe)
        and filters.view not in _NARROW_VIEWS
        and not filters.account
        and filters.assignee in ("", "none")
    )


def _tag_walk_page(
    *,
    user: User,
    filters: TicketFilters,
    team_ids: list[int],
    position: tuple[dt.datetime, int, bool | None] | None,
    limit: int,
) -> TicketPage:
    """A tag-filtered page, newest or oldest first: the tag's links walked in date order.

    The link's index holds the tag's tickets by date with copies of the columns visibility
    and the views test (TicketTag), so the walk skips the tickets this user may not see or
    that are in another view without reading them, and stops at a page. Walking tickets by
    date and probing each one's tags instead read 50,000 tickets for a success manager's
    Solved + tag page at a million tickets; PostgreSQL cannot know how rare a tag is among
    the tickets one user sees.
    """
    descending = filters.sort == "newest"
    on_copies = _on_tag_link(
        _filters_q(user=user, filters=filters, team_ids=team_ids, with_tag=False)
    )
    if position is not None:
        value, last_id, _rank = position
        on_copies &= _after_q("ticket_created_at", "ticket_id", value, last_id, descending)
    page_ids = _tag_link_ids(filters.tag, on_copies, descending=descending, rows=limit + 1)
    # Then the page's rows with their joins, for those ids only (one statement).
    queryset = Ticket.objects.filter(id__in=page_ids).annotate(sort_value=F("created_at"))
    order = ("-sort_value", "-id") if descending else ("sort_value", "id")
    return _page_of_rows(queryset.order_by(*order), LIST_ROW_FIELDS, filters, limit, False)


def _tag_link_ids(tag_name: str, on_copies: Q, *, descending: bool, rows: int) -> QuerySet:
    """The first `rows` ticket ids of the tag's links that pass `on_copies` (a filter of
    TicketTag), in the links' date order: a walk of the link index (TicketTag.Meta)."""
    order = ("ticket_created_at", "ticket_id")
    if descending:
        order = ("-ticket_created_at", "-ticket_id")
    links = TicketTag.objects.filter(Q(tag_id=_tag_id(tag_name)) & on_copies)
    return links.order_by(*order).values("ticket_id")[:rows]


def _page_of_rows(
    queryset: QuerySet[Ticket],
    fields: Sequence[str],
    filters: TicketFilters,
    limit: int,
    ranked: bool,
) -> TicketPage:
    """Read one page (and whether there is another) as TicketRows with their tag names."""
    rows = [TicketRow(*values) for values in queryset.values_list(*fields)[: limit + 1]]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _cursor_encode(
            last.sort_value, last.pk, last.mention_unread if ranked else None
        )
    _attach_tag_names(rows)
    return TicketPage(tickets=rows, next_cursor=next_cursor, filters=filters)


def _attach_tag_names(rows: list[TicketRow]) -> None:
    """The rows' tag names in one query, in name order (Tag's ordering)."""
    by_id = {row.id: row for row in rows}
    if not by_id:
        return
    pairs = (
        Ticket.tags.through.objects.filter(ticket_id__in=by_id)
        .order_by("tag__name")
        .values_list("ticket_id", "tag__name")
    )
    for ticket_id, name in pairs:
        by_id[ticket_id].tag_names.append(name)


def _disjoint_branches(branches: list[Q]) -> list[Q]:
    """Each visibility branch minus the ones before it, so that no ticket is in two.

    The first branch (my teams, or a success manager's accounts) is the big one and stays
    whole; the later ones only exclude what it already holds. Django's negation keeps
    nullable columns right: a ticket with no team is not "in my teams", so it stays in
    "assigned to me".
    """
    disjoint: list[Q] = []
    earlier: Q | None = None
    for branch in branches:
        disjoint.append(branch if earlier is None else branch & ~earlier)
        earlier = branch if earlier is None else earlier | branch
    return disjoint


def _capped_count_sql(queryset: QuerySet) -> tuple[str, tuple]:
    return _capped_union_count_sql([queryset])


def _capped_union_count_sql(
    querysets: list[QuerySet], *, disjoint: bool = False
) -> tuple[str, tuple]:
    """COUNT the distinct ids of the union of `querysets`, stopping at COUNT_CAP.

    Counting a view as the union of visibility branches (my teams / assigned to me / shared
    with me), each capped on its own, lets every branch walk its own narrow index; a single
    WHERE with the OR made PostgreSQL read every open ticket of every team (0.1 s at 1 M).
    `disjoint`: no id is in two of them (see _disjoint_branches), so UNION ALL: the rows
    stream and the count stops with the first branch that reaches the cap, where UNION had
    to read every branch whole to remove duplicates (half the recount at 1 M).
    """
    parts: list[str] = []
    params: list[Any] = []
    for queryset in querysets:
        try:
            # No ORDER BY: any 1000 rows will do, so the planner may pick the cheapest index.
            sql, part_params = queryset.order_by().values("id")[:COUNT_CAP].query.sql_with_params()
        except EmptyResultSet:  # e.g. "My teams" for someone in no team
            continue
        # Each branch as a derived table: valid in PostgreSQL and SQLite alike (SQLite takes
        # no parenthesised or LIMITed members in a compound SELECT).
        parts.append(f"SELECT id FROM ({sql}) AS b{len(parts)}")  # noqa: S608
        params.extend(part_params)
    if not parts:
        return "0", ()
    # The SQL is Django's own compilation with parameters kept separate: nothing user-typed
    # is interpolated.
    union = (" UNION ALL " if disjoint else " UNION ").join(parts)
    sql = f"(SELECT COUNT(*) FROM (SELECT id FROM ({union}) AS u LIMIT {COUNT_CAP}) AS capped)"  # noqa: S608
    return sql, tuple(params)


NAV_VERSION_KEY = "inbox:nav-version"
# Safety net for what no write announces: a snooze running out, an SLA clock passing.
NAV_COUNTS_TTL_SECONDS = 60


def nav_counts_version() -> int:
    """The inbox-wide version every ticket write bumps (inbox.services.nav_counts_invalidate)."""
    version = cache.get(NAV_VERSION_KEY)
    if version is None:
        cache.add(NAV_VERSION_KEY, 1, timeout=None)
        version = cache.get(NAV_VERSION_KEY, 1)
    return int(version)


def nav_counts_for_user(
    *, user: User, saved_views: Iterable[SavedView] = (), team_ids: list[int] | None = None
) -> dict[str, int]:
    """Count each navigation view (and saved view), capped at COUNT_CAP, in ONE query.

    The result is cached per user under the inbox-wide version, so a page load without any
    ticket write in between costs no count query at all (the hot spot at a million tickets).
    """
    saved_views = list(saved_views)
    if team_ids is None:
        team_ids = user_team_ids(user=user)
    # Everything the counts depend on besides ticket rows is in the key: joining a team or
    # editing a saved view needs no invalidation of its own.
    saved_key = ",".join(f"{v.pk}:{v.updated_at.timestamp()}" for v in saved_views)
    teams_key = ",".join(str(team_id) for team_id in sorted(team_ids))
    key = (
        f"inbox:nav:{nav_counts_version()}:{COUNT_CAP}:{user.pk}:{user.role}:{user.is_active}:"
        f"{teams_key}:"
        f"{saved_key}"
    )
    cached = cache.get(key)
    if cached is not None:
        return cached
    shape_key = f"{COUNT_CAP}:{teams_key}:{saved_key}"
    counts = _nav_counts_query(
        user=user, saved_views=saved_views, team_ids=team_ids, shape_key=shape_key
    )
    cache.set(key, counts, NAV_COUNTS_TTL_SECONDS)
    return counts


# Nav-count SQL per user shape (user, role, teams, saved views). Compiling some thirty
# querysets cost more Python than the counts cost SQL. On PostgreSQL the clock is the
# database's (STATEMENT_TIMESTAMP), so the text is the same on every recount and each
# connection keeps it as a prepared statement: planning it cost more than running it.
_NAV_SQL_CACHE: dict[tuple, tuple[str, list[str]]] = {}
_NAV_SQL_CACHE_SIZE = 4096


def _nav_counts_query(
    *, user: User, saved_views: list[SavedView], team_ids: list[int], shape_key: str = ""
) -> dict[str, int]:
    if connection.vendor != "postgresql":
        sql, params, keys = _nav_counts_sql(
            user=user, saved_views=saved_views, team_ids=team_ids, now=timezone.now()
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return dict(zip(keys, cursor.fetchone(), strict=True))
    cache_key = (shape_key, user.pk, user.role, user.is_active, user.is_superuser)
    cached = _NAV_SQL_CACHE.get(cache_key) if shape_key else None
    if cached is None:
        sql, params, keys = _nav_counts_sql(
            user=user, saved_views=saved_views, team_ids=team_ids, now=Now()
        )
        cached = (literal_sql(sql, params), keys)
        if shape_key:
            if len(_NAV_SQL_CACHE) >= _NAV_SQL_CACHE_SIZE:
                _NAV_SQL_CACHE.clear()
            _NAV_SQL_CACHE[cache_key] = cached
    text, keys = cached
    return dict(zip(keys, fetchone_prepared(text), strict=True))


def _nav_counts_sql(
    *, user: User, saved_views: list[SavedView], team_ids: list[int], now: dt.datetime | Now
) -> tuple[str, list[Any], list[str]]:
    branches = ticket_visibility_branches(user=user, team_ids=team_ids)
    parts: list[str] = []
    params: list[Any] = []
    keys: list[str] = []
    for view in VIEWS:
        view_q = _view_q(view=view, user=user, team_ids=team_ids, now=now)
        if branches is None or (view == "mine" and user.is_active):
            # Assigned to me is a visibility branch of its own: no union needed for Mine.
            querysets = [Ticket.objects.filter(view_q)]
        else:
            querysets = [
                Ticket.objects.filter(branch & view_q) for branch in _disjoint_branches(branches)
            ]
        sql, view_params = _capped_union_count_sql(querysets, disjoint=True)
        parts.append(sql)
        params.extend(view_params)
        keys.append(view)
    for saved in saved_views:
        filters = saved_view_filters(saved)
        sql, view_params = _capped_count_sql(
            _filtered(user=user, filters=filters, team_ids=team_ids, now=now)
        )
        parts.append(sql)
        params.extend(view_params)
        keys.append(f"saved-{saved.pk}")
    return "SELECT " + ", ".join(parts), params, keys


# --- saved views -----------------------------------------------------------------------


def saved_views_for_user(*, user: User, team_ids: list[int] | None = None) -> list[SavedView]:
    """Personal views and the views of the user's teams."""
    if team_ids is None:
        team_ids = user_team_ids(user=user)
    return list(
        SavedView.objects.filter(Q(owner=user) | Q(team_id__in=team_ids))
        .select_related("team")
        .order_by("position", "name", "id")
    )


def saved_view_get_for_user(*, user: User, view_id: int) -> SavedView:
    """A saved view the user may use; 404 otherwise (other teams' views are not readable)."""
    team_ids = user_team_ids(user=user)
    try:
        return SavedView.objects.get(Q(owner=user) | Q(team_id__in=team_ids), pk=view_id)
    except SavedView.DoesNotExist as exc:
        raise Http404("No such view.") from exc


def saved_view_filters(saved: SavedView) -> TicketFilters:
    params = {str(key): str(value) for key, value in (saved.filters or {}).items()}
    params["sort"] = saved.sort
    return ticket_filters_from_params(params, default_view="all")


# --- the ticket page -------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineItem:
    kind: str  # "message", "note" or "event"
    at: dt.datetime
    obj: Any


def ticket_timeline(*, ticket: Ticket) -> tuple[list[TimelineItem], list[Any]]:
    """Return the timeline (messages, notes, events by time) and the notes, in time order.

    Four queries whatever the length: messages, their attachments, notes, events.
    """
    from notes.models import Note

    messages = list(
        Message.objects.filter(ticket=ticket)
        .select_related("author_user", "author_contact")
        .prefetch_related("attachments")
        # What the timeline shows: the raw source and address lists stay in the database.
        .only(
            *_TIMELINE_MESSAGE_FIELDS,
            "author_user__username",
            "author_user__first_name",
            "author_user__last_name",
            "author_contact__email",
            "author_contact__name",
        )
    )
    notes = list(Note.objects.filter(ticket=ticket).select_related("author"))
    events = list(
        TicketEvent.objects.filter(ticket=ticket)
        .exclude(kind=EventKind.CREATED)
        .select_related("actor")
        .only("id", "ticket_id", "kind", "data", "created_at", *_ACTOR_FIELDS)
    )
    items = (
        [TimelineItem("message", m.created_at, m) for m in messages]
        + [TimelineItem("note", n.created_at, n) for n in notes]
        + [TimelineItem("event", e.created_at, e) for e in events]
    )
    order = {"message": 0, "note": 1, "event": 2}
    items.sort(key=lambda item: (item.at, order[item.kind], item.obj.pk))
    return items, notes


_TIMELINE_MESSAGE_FIELDS = (
    "id",
    "created_at",
    "ticket_id",
    "direction",
    "author_user",
    "author_contact",
    "is_automatic",
    "body_text",
    "body_html",
    "from_email",
    "delivery_status",
    "delivery_error",
    "sent_at",
    "parse_notes",
)
_ACTOR_FIELDS = ("actor", "actor__username", "actor__first_name", "actor__last_name")
# Who the side panel may assign the ticket to.
_ASSIGNABLE_ROLES = (Role.AGENT, Role.ADMIN, Role.SUCCESS)


def _staff_and_success_targets(*, exclude_user_id: int) -> tuple[list[User], list[User]]:
    """Return the assignable staff and the escalation targets (success_targets' users), in
    one query: by name, and by username without `exclude_user_id`."""
    from django.db.models import Window
    from django.db.models.functions import RowNumber

    from helpdesk.models import TeamKind

    in_success_team = Membership.objects.filter(user_id=OuterRef("pk"), team__kind=TeamKind.SUCCESS)
    # Cached with the configuration (retired by any User or Membership save): a few hundred
    # staff rows were read and built into models on every ticket page.
    people = config_cached(
        "staff:assignable-and-success",
        lambda: list(
            User.objects.filter(is_active=True)
            .annotate(in_success_team=Exists(in_success_team))
            .filter(Q(role__in=_ASSIGNABLE_ROLES) | Q(in_success_team=True))
            # The database's own username order for the targets, as success_targets() sorts.
            .annotate(username_rank=Window(RowNumber(), order_by=F("username").asc()))
            .only("id", "username", "first_name", "last_name", "role")
            .order_by("first_name", "username")
        ),
    )
    assignable = [u for u in people if u.role in _ASSIGNABLE_ROLES]
    targets = sorted(
        (
            u
            for u in people
            if (u.role == Role.SUCCESS or u.in_success_team) and u.pk != exclude_user_id
        ),
        key=lambda u: u.username_rank,
    )
    return assignable, targets


def teams_by_name() -> list[Team]:
    """Every team (id, name, handle, kind), by name; cached with the configuration."""
    return config_cached(
        "teams:by-name",
        lambda: list(Team.objects.only("id", "name", "handle", "kind").order_by("name")),
    )


def active_staff_by_name() -> list[tuple[str, str]]:
    """(id, display name) of every active user, by first name: the assignee menus."""

    def load() -> list[tuple[str, str]]:
        rows = (
            User.objects.filter(is_active=True)
            .order_by("first_name", "username")
            .values_list("id", "username", "first_name", "last_name")
        )
        return [
            (str(pk), f"{first} {last}".strip() or username) for pk, username, first, last in rows
        ]

    return config_cached("staff:active-by-name", load)


def ticket_page_context(*, ticket: Ticket, user: User) -> dict[str, Any]:
    """Everything the ticket page shows, the collaboration panel included: fixed queries.

    `ticket` comes from ticket_get_for_page (its tags and account health are annotated).
    """
    from accounts.models import AccountMetrics
    from helpdesk.models import TeamKind
    from notes.selectors import ticket_panel_context

    timeline, notes = ticket_timeline(ticket=ticket)
    team_ids = user_team_ids(user=user)
    other_open = list(
        ticket_visible_queryset(user=user)
        .filter(requester_id=ticket.requester_id, status__in=OPEN_STATUSES)
        .exclude(pk=ticket.pk)
        .only("number", "subject", "status", "created_at")
        .order_by("-created_at")[:5]
    )
    canned = list(
        CannedResponse.objects.filter(
            Q(owner=user)
            | Q(owner__isnull=True, team__isnull=True)
            | Q(owner__isnull=True, team_id__in=team_ids)
        ).order_by("title")
    )
    macros = list(
        Macro.objects.filter(Q(team__isnull=True) | Q(team_id__in=team_ids)).order_by("name")
    )
    with config_snapshot():  # one check of the cached staff and teams for the page
        assignable, success_users = _staff_and_success_targets(exclude_user_id=user.pk)
        teams = teams_by_name()
    people = {u.pk: u.get_full_name() or u.username for u in assignable}
    # Built here, not in a template loop: a few hundred staff made the loop a third of the
    # page's render time. html.escape directly (what Django's escape() does), not
    # format_html: its lazy-string checks on three arguments per option were 2-3 ms a page.
    assignee_options = mark_safe(
        "".join(
            f'<option value="{int(pk)}"{" selected" if pk == ticket.assignee_id else ""}>'
            f"{html.escape(name)}</option>"
            for pk, name in people.items()
        )
    )
    metrics = None
    if ticket.account_id is not None:
        if hasattr(ticket, "page_health_band"):
            if ticket.page_health_band is not None:  # None: the account has no metrics row
                metrics = AccountMetrics(
                    account_id=ticket.account_id,
                    health_band=ticket.page_health_band,
                    health_score=ticket.page_health_score,
                )
        else:  # a ticket not from ticket_get_for_page
            try:
                metrics = ticket.account.metrics
            except ObjectDoesNotExist:
                metrics = None
    tag_names = getattr(ticket, "page_tag_names", None)
    if tag_names is None:
        tag_names = [tag.name for tag in ticket.tags.all()]
    pinned = [note for note in notes if note.is_pinned]
    context = {
        "timeline": timeline,
        "pinned_notes": pinned,
        "other_open": other_open,
        "canned_responses": canned,
        "macros": macros,
        "assignable": assignable,
        "teams": teams,
        "ticket_tags": tag_names,
        "people": people,
        "assignee_options": assignee_options,
        "team_names": {t.pk: t.name for t in teams},
        "account_metrics": metrics,
    }
    # The panel reuses what the page loaded: the notes, my teams, the staff and the teams.
    context.update(
        ticket_panel_context(
            ticket=ticket,
            user=user,
            pinned_notes=sorted(pinned, key=lambda n: (n.created_at, n.pk), reverse=True),
            team_ids=team_ids,
            targets=(success_users, [t for t in teams if t.kind == TeamKind.SUCCESS]),
        )
    )
    return context


def ticket_get_for_page(*, user: User, number: int) -> Ticket:
    """The ticket with what the page header and side panel show, in one query.

    Few joins (each one more made planning cost more than the query ran): the account's
    health and the tag names come as subqueries, the merged-into ticket (rare) separately.
    """
    from django.contrib.postgres.expressions import ArraySubquery

    from accounts.models import AccountMetrics

    health = AccountMetrics.objects.filter(account_id=OuterRef("account_id"))
    queryset = (
        ticket_visible_queryset(user=user)
        .select_related("requester", "account", "account__success_manager", "team", "assignee")
        .annotate(
            page_health_band=Subquery(health.values("health_band")[:1]),
            page_health_score=Subquery(health.values("health_score")[:1]),
        )
        .defer("search_vector")
    )
    if connection.vendor == "postgresql":  # elsewhere the page reads ticket.tags
        queryset = queryset.annotate(
            page_tag_names=ArraySubquery(
                Tag.objects.filter(tickets=OuterRef("pk")).order_by("name").values("name")
            )
        )
    try:
        ticket = queryset.get(number=number)
    except Ticket.DoesNotExist as exc:
        raise Http404("No such ticket.") from exc
    if ticket.merged_into_id is not None:
        ticket.merged_into = Ticket.objects.only("id", "number", "subject").get(
            pk=ticket.merged_into_id
        )
    return ticket


def activity_since(*, ticket: Ticket, user: User, since: dt.datetime) -> list[TimelineItem]:
    """Replies and notes others added after `since`: a composer's stale-page check."""
    from notes.models import Note

    messages = (
        Message.objects.filter(ticket=ticket, created_at__gt=since)
        .exclude(author_user=user)
        .select_related("author_user", "author_contact")
        .defer("raw_source")
    )
    notes = (
        Note.objects.filter(ticket=ticket, created_at__gt=since)
        .exclude(author=user)
        .select_related("author")
    )
    items = [TimelineItem("message", m.created_at, m) for m in messages] + [
        TimelineItem("note", n.created_at, n) for n in notes
    ]
    return sorted(items, key=lambda item: item.at)


def presence_for_ticket(*, ticket_id: int, exclude_user_id: int) -> list[dict]:
    """Who else has the ticket open (and who is writing), from the cache."""
    key = f"presence:{ticket_id}"
    member_ids = [uid for uid in (cache.get(key) or ()) if uid != exclude_user_id]
    entries = cache.get_many([f"{key}:{uid}" for uid in member_ids])
    return sorted(entries.values(), key=lambda entry: entry["name"])
