"""Fill an empty PostgreSQL database with a realistic help desk at scale, fast.

    DATABASE_URL=postgres://.../tandem_bench python bench/generate.py --tickets 1000000

What it makes (defaults are the scale of issue 8, whatever the ticket count, so that 10 k and
1 M tickets differ only in tickets):
  10 support teams of 20 agents (200), a success team of 30 success managers, an admin;
  10,000 accounts (plans, MRR, renewal dates, a success manager each) with e-mail domains;
  50,000 contacts (85 % in an account);
  N tickets over two years (a realistic backlog: recent tickets open, old ones solved) with
  about 4 messages and 0.5 internal notes each, mentions in some notes, tags, a few handoffs;
  two years of revenue events (new, expansion, contraction, churn, reactivation) and survey
  responses (CSAT and CES on solved tickets, NPS per contact);
  ticket #1: 50 messages, 5 notes and events (the "ticket page with 50 messages" case).

Rows go in with COPY (foreign-key triggers off: the rows are consistent by construction),
tickets through a staging table so each is written once with its full-text vector, built
by the same expression as inbox.services.ticket_search_refresh on two connections in
parallel, and the secondary indexes are built after the load. Not run by the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection, models  # noqa: E402

from accounts.models import (  # noqa: E402
    Account,
    AccountDomain,
    Contact,
    RevenueEvent,
    SurveyResponse,
)
from helpdesk.models import Membership, Team, User  # noqa: E402
from inbox.models import TAG_LINK_COPIES, Message, Tag, Ticket, TicketEvent  # noqa: E402
from inbox.services import SEARCH_BODY_LIMIT  # noqa: E402
from notes.models import Handoff, Mention, Note  # noqa: E402

WORD_TEXT = (
    "invoice refund password login export csv timeout error billing plan upgrade downgrade "
    "sso saml okta api token webhook integration slack email bounce delivery attachment "
    "report dashboard chart slow crash mobile android ios browser chrome safari permission "
    "role admin user invite team workspace delete archive restore backup import sync calendar "
    "notification reminder subscription trial cancel renewal contract discount tax vat the a "
    "we you it is not can please thanks hello when after before again still since our your "
    "customer account page button settings screen works failed working issue problem help"
)
WORDS = WORD_TEXT.split()
BENCH_PASSWORD = os.environ.get("BENCH_PASSWORD", "bench-pass-123")
PRIORITIES = ["low"] * 2 + ["normal"] * 6 + ["high"] * 2 + ["urgent"]
# Mostly e-mail; phone and portal are rare, as at most desks (a filter on them finds few).
CHANNELS = ["email"] * 156 + ["web"] * 20 + ["api"] * 20 + ["portal"] * 3 + ["phone"]
PLANS = [("starter", 49, 400), ("pro", 199, 300), ("business", 999, 200), ("enterprise", 4999, 90)]
PLANS += [("vip", 9999, 10)]
DAY = dt.timedelta(days=1)
SPAN_DAYS = 730  # two years of history
BENCH_AGENT_QUEUE = 60  # open tickets of team0-agent0 beyond ticket 1: a full Mine page
BENCH_UNASSIGNED = 60  # then open unassigned tickets of team0: a full Unassigned page
BENCH_TICKETS = 1 + BENCH_AGENT_QUEUE + BENCH_UNASSIGNED
# Then, of the same account (so its success manager's): 60 open urgent ones tagged "refund",
# 60 pending, 60 solved high ones by phone tagged "refund" (see TicketMaker.ticket).
BENCH_MANAGER_KINDS = ("open", "pending", "solved")
BENCH_MANAGER_EACH = 60
BENCH_MANAGER_TAG = "refund"


def pool(rng: random.Random, size: int, low: int, high: int) -> list[str]:
    """Pre-made texts: drawing words one by one for millions of rows would dominate the run."""
    return [" ".join(rng.choices(WORDS, k=rng.randint(low, high))) for _ in range(size)]


def copy_rows(model: type[models.Model], rows: list[dict], table: str | None = None) -> None:
    """COPY dict rows into the model's table; unspecified columns take the field default.

    JSON values in rows come already dumped (a str), as the defaults are here.
    """
    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and rows and "id" not in rows[0])  # left to the identity
        and not getattr(f, "generated", False)  # computed by the database
        and f.attname != "search_vector"
    ]
    pairs = []
    for field in fields:
        if field.has_default():
            default = field.get_default()
        elif field.null:
            default = None
        elif isinstance(field, (models.CharField, models.TextField)):
            default = ""
        else:
            default = None
        if isinstance(field, models.JSONField):
            default = json.dumps(default)
        pairs.append((field.attname, default))
    quoted = ", ".join(f'"{f.column}"' for f in fields)
    sql = f"COPY {table or model._meta.db_table} ({quoted}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([row.get(name, default) for name, default in pairs])


def reset_sequence(model: type[models.Model]) -> None:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        # Table names come from model metadata, never from input.
        sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"  # noqa: E501, S608
        cursor.execute(sql)


def secondary_indexes(table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the indexes that back no constraint."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            WHERE i.tablename = %s AND NOT EXISTS (
                SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
            """,
            [table],
        )
        return list(cursor.fetchall())


def in_parallel(statements: list[tuple[str, list]], workers: int = 2) -> None:
    """Run statements on `workers` extra connections (the machine has two cores)."""
    params = connection.get_connection_params()
    queue = list(statements)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '512MB'")
            _replica_role(conn)
            while True:
                with lock:
                    if not queue or errors:
                        return
                    sql, args = queue.pop(0)
                try:
                    conn.execute(sql, args)
                except BaseException as exc:  # reported after the join
                    errors.append(exc)
                    return

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _replica_role(conn: object) -> None:
    # Skips foreign-key triggers during the bulk load (superuser only; slower without).
    try:
        conn.execute("SET session_replication_role = replica")
    except psycopg.Error:
        if not conn.autocommit:
            conn.rollback()


class Clock:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def say(self, what: str) -> None:
        print(f"{time.monotonic() - self.started:7.1f}s  {what}", flush=True)


def make_people(*, teams: int, agents_per_team: int, csms: int) -> dict:
    password_hash = make_password(BENCH_PASSWORD)  # once: PBKDF2 per user would dominate
    team_rows = [Team.objects.create(name=f"Team {i}", handle=f"team{i}") for i in range(teams)]
    success = Team.objects.create(name="Success", handle="success-team", kind="success")
    memberships = []
    agents_by_team: dict[int, list[int]] = {}
    users = [
        User(
            username=f"{team.handle}-agent{j}",
            password=password_hash,
            role="agent",
            first_name=f"Agent{j}",
            last_name=team.name,
        )
        for team in team_rows
        for j in range(agents_per_team)
    ]
    users += [
        User(
            username=f"csm{i}",
            password=password_hash,
            role="success",
            first_name=f"Csm{i}",
            last_name="Success",
        )
        for i in range(csms)
    ]
    users.append(User(username="bench-admin", password=password_hash, role="admin"))
    created = User.objects.bulk_create(users)
    by_name = {u.username: u.pk for u in created}
    for team in team_rows:
        ids = [by_name[f"{team.handle}-agent{j}"] for j in range(agents_per_team)]
        agents_by_team[team.pk] = ids
        memberships += [
            Membership(team=team, user_id=uid, is_lead=(k == 0)) for k, uid in enumerate(ids)
        ]
    csm_ids = [by_name[f"csm{i}"] for i in range(csms)]
    memberships += [
        Membership(team=success, user_id=uid, is_lead=(k == 0)) for k, uid in enumerate(csm_ids)
    ]
    Membership.objects.bulk_create(memberships)
    tags = [Tag.objects.create(name=word) for word in WORDS[:30]]
    return {
        "team_ids": [t.pk for t in team_rows],
        "agents_by_team": agents_by_team,
        "csm_ids": csm_ids,
        "tag_ids": [t.pk for t in tags],
    }


def next_anniversary(since: dt.date, today: dt.date) -> dt.date:
    day = min(since.day, 28)  # 29 February and friends: the 28th every year
    renewal = since.replace(year=today.year, day=day)
    return renewal if renewal > today else renewal.replace(year=today.year + 1)


def make_accounts(rng: random.Random, *, accounts: int, csm_ids: list[int], today: dt.date):
    """Accounts with two years of revenue events; returns each account's (csm, mrr > 0)."""
    weights = [w for _, _, w in PLANS]
    account_rows, domain_rows, revenue_rows = [], [], []
    info = {}
    revenue_id = 0
    for i in range(accounts):
        account_id = i + 1
        plan, base, _ = rng.choices(PLANS, weights=weights)[0]
        since = today - dt.timedelta(days=rng.randint(0, SPAN_DAYS))
        mrr = Decimal(base * rng.choice([1, 1, 1, 2, 3]))
        events = [("new", mrr, since)]
        day = since
        churned_on = None
        while True:
            day += dt.timedelta(days=rng.randint(45, 400))
            if day > today:
                break
            roll = rng.random()
            if churned_on is not None:
                if roll < 0.15:  # reactivation
                    mrr = Decimal(base)
                    events.append(("reactivation", mrr, day))
                    churned_on = None
                continue
            if roll < 0.45:
                delta = Decimal(base * rng.choice([1, 1, 2]))
                mrr += delta
                events.append(("expansion", delta, day))
            elif roll < 0.60 and mrr > base:
                delta = Decimal(base)
                mrr -= delta
                events.append(("contraction", -delta, day))
            elif roll < 0.72:
                events.append(("churn", -mrr, day))
                mrr = Decimal(0)
                churned_on = day
        for kind, delta, on in events:
            revenue_id += 1
            revenue_rows.append(
                {
                    "id": revenue_id,
                    "account_id": account_id,
                    "kind": kind,
                    "mrr_delta": delta,
                    "occurred_on": on,
                    "external_id": f"bench-rev-{revenue_id}",
                    "created_at": dt.datetime.combine(on, dt.time(12), tzinfo=dt.UTC),
                    "updated_at": dt.datetime.combine(on, dt.time(12), tzinfo=dt.UTC),
                }
            )
        renewal = next_anniversary(since, today)
        csm = csm_ids[i % len(csm_ids)]
        lifecycle = "churned" if mrr == 0 else rng.choice(["active"] * 8 + ["onboarding", "trial"])
        account_rows.append(
            {
                "id": account_id,
                "name": f"Account {i}",
                "success_manager_id": csm,
                "plan": plan,
                "mrr": mrr,
                "lifecycle": lifecycle,
                "customer_since": since,
                "renewal_date": None if mrr == 0 else renewal,
                "churned_at": churned_on,
                "created_at": dt.datetime.combine(since, dt.time(9), tzinfo=dt.UTC),
                "updated_at": dt.datetime.combine(since, dt.time(9), tzinfo=dt.UTC),
            }
        )
        domain_rows.append(
            {"id": account_id, "account_id": account_id, "domain": f"acct{i}.example"}
        )
        info[account_id] = csm
    copy_rows(Account, account_rows)
    copy_rows(AccountDomain, domain_rows)
    copy_rows(RevenueEvent, revenue_rows)
    for model in (Account, AccountDomain, RevenueEvent):
        reset_sequence(model)
    return info, len(revenue_rows)


def make_contacts(rng: random.Random, *, contacts: int, accounts: int, now: dt.datetime):
    rows, contact_account = [], {}
    for i in range(contacts):
        account_id = rng.randint(1, accounts) if rng.random() < 0.85 else None
        contact_account[i + 1] = account_id
        domain = f"acct{account_id - 1}.example" if account_id else "gmail.example"
        rows.append(
            {
                "id": i + 1,
                "email": f"person{i}@{domain}",
                "name": f"Person {i}",
                "account_id": account_id,
                "created_at": now - dt.timedelta(days=SPAN_DAYS),
                "updated_at": now - dt.timedelta(days=SPAN_DAYS),
            }
        )
    copy_rows(Contact, rows)
    reset_sequence(Contact)
    return contact_account


def ticket_status(rng: random.Random, age_days: float) -> str:
    """Recent tickets are still being worked; old ones are done, bar a stale few."""
    roll = rng.random()
    if age_days < 14:
        table = [("new", 0.15), ("open", 0.50), ("pending", 0.70), ("on_hold", 0.75)]
    elif age_days < 60:
        table = [("new", 0.01), ("open", 0.05), ("pending", 0.09), ("on_hold", 0.10)]
    else:
        table = [("open", 0.01), ("pending", 0.015), ("on_hold", 0.02)]
    for status, upto in table:
        if roll < upto:
            return status
    return "solved" if age_days < 30 or rng.random() < 0.3 else "closed"


class TicketMaker:
    """Builds tickets with their messages, notes, mentions, tags, handoffs and surveys."""

    def __init__(self, rng: random.Random, people: dict, accounts: dict, contacts: dict, now):
        self.rng, self.now = rng, now
        self.people, self.account_csm, self.contact_account = people, accounts, contacts
        self.customer_texts = pool(rng, 4000, 10, 60)
        self.agent_texts = pool(rng, 4000, 10, 50)
        self.note_texts = pool(rng, 2000, 5, 30)
        self.subjects = [s.capitalize() for s in pool(rng, 5000, 3, 8)]
        self.message_id = self.note_id = self.mention_id = 0
        self.handoff_id = self.survey_id = self.event_id = 0
        self.n_contacts = len(contacts)
        # The bench tickets' requesters: the contacts of one account (the account filter and
        # the requester e-mail search then show a full page, or many rows, at every scale).
        bench_account = next(account for account in contacts.values() if account)
        self.bench_contacts = [c for c, account in contacts.items() if account == bench_account]
        self.csat_for: set[int] = set()

    def chunk(self, first: int, last: int) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {
            k: [] for k in ("tickets", "messages", "notes", "mentions", "tags", "handoffs")
        }
        out["surveys"], out["events"] = [], []
        for ticket_id in range(first, last + 1):
            self.ticket(ticket_id, out, messages=50 if ticket_id == 1 else None)
        return out

    def ticket(self, ticket_id: int, out: dict, messages: int | None = None) -> None:
        rng, now = self.rng, self.now
        team_ids = self.people["team_ids"]
        # Ticket 1 (50 messages) and the next BENCH_AGENT_QUEUE are the bench agent's open
        # queue at every scale, then BENCH_UNASSIGNED open tickets of the agent's team that
        # nobody holds, all high priority, all from one account: at 10,000 tickets a team
        # has a handful of each, and the Mine, Unassigned, status + priority and account
        # cases compared a page of 1-17 rows with a full one instead of 10 k with 1 M.
        bench_ticket = ticket_id <= BENCH_TICKETS
        bench_agents = ticket_id <= 1 + BENCH_AGENT_QUEUE
        # Likewise for the success manager's cases (All open + urgent, Pending, Solved +
        # priority + tag, Solved + rare channel, tag alone): at 10,000 tickets their book
        # holds 0-10 of each, against a full page at 1 M. Dated like any other ticket of
        # their kind, so at 1 M they mix with the manager's own.
        manager_slot = (ticket_id - BENCH_TICKETS - 1) // BENCH_MANAGER_EACH
        manager_kind = (
            BENCH_MANAGER_KINDS[manager_slot]
            if ticket_id > BENCH_TICKETS and manager_slot < len(BENCH_MANAGER_KINDS)
            else None
        )
        team_id = team_ids[0] if bench_ticket else rng.choice(team_ids)
        team_agents = self.people["agents_by_team"][team_id]
        # Skewed towards the recent past, as a growing help desk is.
        recent = bench_ticket or manager_kind in ("open", "pending")
        age_days = (14 if recent else SPAN_DAYS) * rng.random() ** 1.6
        created = now - dt.timedelta(days=age_days)
        status = "open" if bench_ticket else ticket_status(rng, age_days)
        if manager_kind:
            status = manager_kind
            created = min(created, now - 2 * DAY) if status == "solved" else created
        if bench_ticket or manager_kind:
            contact_id = self.bench_contacts[ticket_id % len(self.bench_contacts)]
        else:
            contact_id = rng.randint(1, self.n_contacts)
        account_id = self.contact_account[contact_id]
        assignee = None if status == "new" or rng.random() < 0.05 else rng.choice(team_agents)
        if bench_agents:
            assignee = team_agents[0]
        elif bench_ticket:
            assignee = None
        count = messages or (1 if status == "new" else rng.choice([2, 2, 3, 3, 4, 4, 5, 6, 7]))
        at = created
        first_response = last_customer = last_agent = None
        replies = 0
        for k in range(count):
            inbound = k % 2 == 0 or (k > 0 and rng.random() < 0.15)
            self.message_id += 1
            if k:
                at = min(now, at + dt.timedelta(minutes=rng.randint(10, 1440 * (1 + k % 3))))
            if inbound:
                last_customer = at
            else:
                replies += 1
                last_agent = at
                first_response = first_response or at
            out["messages"].append(
                {
                    "id": self.message_id,
                    "ticket_id": ticket_id,
                    "direction": "inbound" if inbound else "outbound",
                    "author_contact_id": contact_id if inbound else None,
                    "author_user_id": None if inbound else (assignee or team_agents[0]),
                    "body_text": rng.choice(self.customer_texts if inbound else self.agent_texts),
                    "message_id": f"<bench-{self.message_id}@bench.example>",
                    "delivery_status": "" if inbound else "sent",
                    "created_at": at,
                    "updated_at": at,
                }
            )
        done = status in ("solved", "closed")
        solved_at = min(now, at + dt.timedelta(hours=rng.randint(1, 48))) if done else None
        notes = 5 if ticket_id == 1 else (rng.random() < 0.42) + (rng.random() < 0.08)
        for _ in range(notes):
            self.note_id += 1
            note_at = created + (at - created) * rng.random()
            author = rng.choice(team_agents)
            body = rng.choice(self.note_texts)
            csm = self.account_csm.get(account_id) if account_id else None
            if csm and rng.random() < 0.15:
                self.mention_id += 1
                out["mentions"].append(
                    {"id": self.mention_id, "note_id": self.note_id, "user_id": csm}
                )
                body = f"@csm{self.people['csm_ids'].index(csm)} {body}"
            out["notes"].append(
                {
                    "id": self.note_id,
                    "ticket_id": ticket_id,
                    "author_id": author,
                    "body_markdown": body,
                    "body_html": f"<p>{body}</p>",
                    "created_at": note_at,
                    "updated_at": note_at,
                }
            )
        if account_id and rng.random() < 0.006:
            self.handoff_id += 1
            pending = not done and rng.random() < 0.5
            out["handoffs"].append(
                {
                    "id": self.handoff_id,
                    "ticket_id": ticket_id,
                    "from_user_id": assignee or team_agents[0],
                    "to_user_id": self.account_csm[account_id],
                    "kind": "escalate_to_success",
                    "reason": rng.choice(["renewal_risk", "churn_risk", "expansion", "other"]),
                    "status": "pending" if pending else rng.choice(["accepted", "declined"]),
                    "created_at": created + dt.timedelta(hours=1),
                    "updated_at": created + dt.timedelta(hours=1),
                }
            )
        tag_ids = rng.sample(self.people["tag_ids"], k=rng.choice([0, 1, 1, 2]))
        if manager_kind in ("open", "solved"):
            refund = self.people["tag_ids"][WORDS.index(BENCH_MANAGER_TAG)]
            tag_ids = [refund, *(t for t in tag_ids if t != refund)]
        if done and rng.random() < 0.3:
            for kind, low, high in [("csat", 1, 5)] + ([("ces", 1, 7)] * (rng.random() < 0.3)):
                self.survey_id += 1
                answered = min(now, solved_at + dt.timedelta(hours=rng.randint(1, 72)))
                score = high - min(high - low, int(rng.expovariate(1.2)))
                out["surveys"].append(
                    {
                        "id": self.survey_id,
                        "kind": kind,
                        "score": score,
                        "contact_id": contact_id,
                        "account_id": account_id,
                        "ticket_id": ticket_id,
                        "responded_at": answered,
                        "created_at": answered,
                        "updated_at": answered,
                    }
                )
        if ticket_id == 1:
            for k in range(10):
                self.event_id += 1
                event_at = created + dt.timedelta(hours=k)
                out["events"].append(
                    {
                        "id": self.event_id,
                        "ticket_id": ticket_id,
                        "actor_id": assignee,
                        "kind": "status" if k % 2 else "assigned",
                        "data": json.dumps(
                            {"from": "open", "to": "pending"} if k % 2 else {"to": assignee}
                        ),
                        "created_at": event_at,
                    }
                )
        snoozed = (
            now + dt.timedelta(hours=rng.randint(1, 72))
            if status in ("open", "pending") and not bench_ticket and rng.random() < 0.03
            else None
        )
        out["tickets"].append(
            {
                "id": ticket_id,
                "number": ticket_id,
                "subject": rng.choice(self.subjects),
                "status": status,
                "priority": (
                    "high"
                    if bench_ticket or manager_kind == "solved"
                    else "urgent"
                    if manager_kind == "open"
                    else rng.choice(PRIORITIES)
                ),
                "channel": "phone" if manager_kind == "solved" else rng.choice(CHANNELS),
                "requester_id": contact_id,
                "account_id": account_id,
                "team_id": team_id,
                "assignee_id": assignee,
                "created_at": created,
                "updated_at": solved_at or at,
                "status_changed_at": solved_at or at,
                "last_customer_message_at": last_customer,
                "last_agent_message_at": last_agent,
                "first_response_at": first_response,
                "solved_at": solved_at,
                "closed_at": solved_at + 4 * DAY if status == "closed" else None,
                "first_response_due_at": created + dt.timedelta(hours=4),
                "resolution_due_at": None if done else created + 2 * DAY,
                "sla_first_response_breached": bool(
                    first_response and first_response > created + dt.timedelta(hours=4)
                ),
                "public_reply_count": replies,
                "snoozed_until": snoozed,
                "version": count + notes,
            }
        )
        # The link's copies of the ticket's columns, as its triggers would write them (the
        # load runs with triggers off: session_replication_role).
        ticket = out["tickets"][-1]
        copies = {link: ticket[column] for column, link in TAG_LINK_COPIES.items()}
        for tag_id in tag_ids:
            out["tags"].append({"ticket_id": ticket_id, "tag_id": tag_id, **copies})

    def nps(self, now: dt.datetime) -> list[dict]:
        """NPS answers from a third of the account contacts, every few months for two years."""
        rows = []
        for contact_id, account_id in self.contact_account.items():
            if account_id is None or self.rng.random() > 0.33:
                continue
            day = now - dt.timedelta(days=self.rng.randint(0, 120))
            while day > now - dt.timedelta(days=SPAN_DAYS):
                self.survey_id += 1
                rows.append(
                    {
                        "id": self.survey_id,
                        "kind": "nps",
                        "score": min(10, max(0, round(self.rng.gauss(7.5, 2.2)))),
                        "contact_id": contact_id,
                        "account_id": account_id,
                        "responded_at": day,
                        "created_at": day,
                        "updated_at": day,
                    }
                )
                day -= dt.timedelta(days=self.rng.randint(90, 200))
        return rows


STAGE = "bench_ticket_stage"


def generate(args: argparse.Namespace) -> None:
    clock = Clock()
    rng = random.Random(args.seed)
    now = dt.datetime.now(dt.UTC)
    if Ticket.objects.exists() or User.objects.exists():
        sys.exit("The database already has data; generate into an empty one (bench/newdb.sh).")
    with connection.cursor() as cursor:
        _replica_role(cursor.connection)
    people = make_people(
        teams=args.teams, agents_per_team=args.agents // args.teams, csms=args.csms
    )
    accounts, revenue_count = make_accounts(
        rng, accounts=args.accounts, csm_ids=people["csm_ids"], today=now.date()
    )
    contacts = make_contacts(rng, contacts=args.contacts, accounts=args.accounts, now=now)
    clock.say(f"people, {args.accounts} accounts, {revenue_count} revenue events, contacts")

    ticket_cols = [
        f
        for f in Ticket._meta.concrete_fields
        if not getattr(f, "generated", False) and f.attname != "search_vector"
    ]
    column_list = ", ".join(f'"{f.column}"' for f in ticket_cols)
    heavy = ["inbox_ticket", "inbox_message", "notes_note"]
    dropped = {table: secondary_indexes(table) for table in heavy}
    with connection.cursor() as cursor:
        for indexes in dropped.values():
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(f"CREATE UNLOGGED TABLE {STAGE} (LIKE inbox_ticket INCLUDING DEFAULTS)")
        cursor.execute(f"ALTER TABLE {STAGE} DROP COLUMN sla_due_at, DROP COLUMN search_vector")

    maker = TicketMaker(rng, people, accounts, contacts, now)
    totals = dict.fromkeys(("tickets", "messages", "notes", "mentions", "surveys"), 0)
    for first in range(1, args.tickets + 1, args.chunk):
        last = min(args.tickets, first + args.chunk - 1)
        rows = maker.chunk(first, last)
        copy_rows(Ticket, rows["tickets"], table=STAGE)
        copy_rows(Message, rows["messages"])
        copy_rows(Note, rows["notes"])
        copy_rows(Mention, rows["mentions"])
        copy_rows(Ticket.tags.through, rows["tags"])
        copy_rows(Handoff, rows["handoffs"])
        copy_rows(SurveyResponse, rows["surveys"])
        copy_rows(TicketEvent, rows["events"])
        for key in totals:
            totals[key] += len(rows[key])
        clock.say(f"tickets {last:>9,}: {totals['messages']:,} messages, {totals['notes']:,} notes")
    copy_rows(SurveyResponse, maker.nps(now))

    # The message index first: the vectors aggregate messages by ticket.
    in_parallel([(ddl, []) for table in heavy[1:] for _, ddl in dropped[table]])
    # Fresh statistics before the vector INSERT: autovacuum may have analysed the stage table
    # halfway through the load, and then PostgreSQL expects one row in the last chunks' id
    # ranges and re-aggregates every message of the chunk per ticket (seen here: one
    # 25,000-ticket chunk ran for over six minutes instead of two seconds).
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {STAGE}")
        cursor.execute("ANALYZE inbox_message")
    clock.say("message and note indexes built, analysed")
    # Each ticket written once, with the vector ticket_search_refresh would give it.
    vector_sql = f"""
        INSERT INTO inbox_ticket ({column_list}, search_vector)
        SELECT {", ".join(f's."{f.column}"' for f in ticket_cols)},
            setweight(to_tsvector('simple', coalesce(s.subject, '')), 'A')
            || setweight(to_tsvector('english', coalesce(s.subject, '')), 'A')
            || setweight(to_tsvector('simple', coalesce(c.email, '')), 'A')
            || setweight(to_tsvector('english', coalesce(m.bodies, '')), 'B')
        FROM {STAGE} s
        JOIN accounts_contact c ON c.id = s.requester_id
        LEFT JOIN (
            SELECT ticket_id, string_agg(left(body_text, %s), ' ' ORDER BY id) AS bodies
            FROM inbox_message WHERE ticket_id BETWEEN %s AND %s GROUP BY ticket_id
        ) m ON m.ticket_id = s.id
        WHERE s.id BETWEEN %s AND %s
    """  # noqa: S608 - table and column names come from model metadata
    step = max(1000, args.chunk // 2)
    in_parallel(
        [
            (vector_sql, [SEARCH_BODY_LIMIT, lo, lo + step - 1, lo, lo + step - 1])
            for lo in range(1, args.tickets + 1, step)
        ]
    )
    clock.say("tickets with search vectors")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {STAGE}")
    in_parallel([(ddl, []) for _, ddl in dropped["inbox_ticket"]])
    clock.say("ticket indexes built")
    for model in (Ticket, Message, Note, Mention, Handoff, SurveyResponse, TicketEvent):
        reset_sequence(model)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval('inbox_ticket_number_seq', %s)", [max(args.tickets, 1)])
    # VACUUM, not only ANALYZE: a bulk-loaded table has no visibility map yet, so every
    # index-only scan (the capped nav counts) would still visit the heap, as no aged
    # production table does; the two largest in parallel, then the rest.
    in_parallel([("VACUUM (ANALYZE) inbox_ticket", []), ("VACUUM (ANALYZE) inbox_message", [])])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    clock.say("vacuumed and analysed")
    clock.say(
        f"done: {totals['tickets']:,} tickets, {totals['messages']:,} messages, "
        f"{totals['notes']:,} notes, {totals['mentions']:,} mentions, "
        f"{totals['surveys']:,} ticket surveys"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--csms", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk", type=int, default=50_000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The generator needs PostgreSQL (DATABASE_URL=postgres://...).")
    generate(args)


if __name__ == "__main__":
    main()
