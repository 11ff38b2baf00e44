"""Fill a PostgreSQL database with N tickets fast (COPY), for the inbox benchmarks.

    DATABASE_URL=postgres://.../tandem_bench python bench/generate.py --tickets 10000

Creates 10 teams of 8 agents, accounts and contacts, N tickets (a realistic status mix over a
year), about 2.5 messages per ticket, tags, then builds the search vectors in SQL (the same
expression as inbox.services.ticket_search_refresh). Not run by the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import connection, models  # noqa: E402

from accounts.models import Account, AccountDomain, Contact  # noqa: E402
from helpdesk.models import Membership, Team, User  # noqa: E402
from inbox.models import Message, Tag, Ticket  # noqa: E402
from inbox.services import SEARCH_BODY_LIMIT  # noqa: E402

WORD_TEXT = (
    "invoice refund password login export csv timeout error billing plan upgrade downgrade "
    "sso saml okta api token webhook integration slack email bounce delivery attachment "
    "report dashboard chart slow crash mobile android ios browser chrome safari permission "
    "role admin user invite team workspace delete archive restore backup import sync calendar "
    "notification reminder subscription trial cancel renewal contract discount tax vat"
)
WORDS = WORD_TEXT.split()
BENCH_PASSWORD = os.environ.get("BENCH_PASSWORD", "bench-pass-123")
STATUSES = ["new"] * 8 + ["open"] * 22 + ["pending"] * 10 + ["on_hold"] * 2 + ["solved"] * 38
STATUSES += ["closed"] * 20
PRIORITIES = ["low"] * 2 + ["normal"] * 6 + ["high"] * 2 + ["urgent"]
CHANNELS = ["email"] * 8 + ["web", "api"]
TEAMS, AGENTS_PER_TEAM = 10, 8


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def copy_rows(model: type[models.Model], rows: list[dict]) -> None:
    """COPY dict rows into the model's table; unspecified columns take the field default."""
    # An id left out of the rows is left to the database (identity column).
    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and rows and "id" not in rows[0])
        and not getattr(f, "generated", False)  # computed by the database
    ]
    columns = [f.column for f in fields]
    defaults = {}
    for field in fields:
        if field.has_default():
            defaults[field.attname] = field.get_default()
        elif field.null:
            defaults[field.attname] = None
        elif isinstance(field, (models.CharField, models.TextField)):
            defaults[field.attname] = ""
    quoted = ", ".join(f'"{c}"' for c in columns)
    sql = f"COPY {model._meta.db_table} ({quoted}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            values = []
            for field in fields:
                value = row.get(field.attname, defaults.get(field.attname))
                if isinstance(field, models.JSONField):
                    value = json.dumps(value)
                values.append(value)
            copy.write_row(values)


def reset_sequence(model: type[models.Model]) -> None:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        # Table names come from model metadata, never from input.
        sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"  # noqa: E501, S608
        cursor.execute(sql)


def generate(*, tickets: int, seed: int, chunk: int) -> None:
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    started = time.monotonic()
    if Ticket.objects.exists():
        sys.exit("The database already has tickets; generate into an empty one.")

    # Hash once: PBKDF2 per user would dominate the run time.
    password_hash = make_password(BENCH_PASSWORD)
    teams = [Team.objects.create(name=f"Team {i}", handle=f"team{i}") for i in range(TEAMS)]
    agents = []
    for team in teams:
        for j in range(AGENTS_PER_TEAM):
            user = User.objects.create(
                username=f"{team.handle}-agent{j}",
                password=password_hash,
                role="agent",
                first_name=f"Agent{j}",
                last_name=team.name,
            )
            Membership.objects.create(team=team, user=user)
            agents.append((user.pk, team.pk))
    User.objects.create(username="bench-admin", password=password_hash, role="admin")
    csms = [
        User.objects.create(username=f"csm{i}", password=password_hash, role="success")
        for i in range(5)
    ]
    tags = [Tag.objects.create(name=word) for word in WORDS[:20]]

    n_accounts = max(10, tickets // 50)
    n_contacts = max(20, tickets // 5)
    copy_rows(
        Account,
        [
            {
                "id": i + 1,
                "name": f"Account {i}",
                "success_manager_id": csms[i % len(csms)].pk,
                "plan": rng.choice(["starter", "pro", "enterprise"]),
                "mrr": rng.choice([49, 199, 999, 4999]),
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n_accounts)
        ],
    )
    copy_rows(
        AccountDomain,
        [
            {"id": i + 1, "account_id": i + 1, "domain": f"acct{i}.example"}
            for i in range(n_accounts)
        ],
    )
    contact_account = {}
    contact_rows = []
    for i in range(n_contacts):
        account_id = rng.randint(1, n_accounts) if rng.random() < 0.85 else None
        contact_account[i + 1] = account_id
        domain = f"acct{account_id - 1}.example" if account_id else "gmail.example"
        contact_rows.append(
            {
                "id": i + 1,
                "email": f"person{i}@{domain}",
                "name": f"Person {i}",
                "account_id": account_id,
                "created_at": now,
                "updated_at": now,
            }
        )
    copy_rows(Contact, contact_rows)
    for model in (Account, AccountDomain, Contact):
        reset_sequence(model)
    print(f"people and accounts: {time.monotonic() - started:.1f}s", flush=True)

    message_id = 0
    for base in range(0, tickets, chunk):
        ticket_rows, message_rows, tag_rows = [], [], []
        for i in range(base, min(base + chunk, tickets)):
            ticket_id = i + 1
            created = now - dt.timedelta(seconds=rng.randint(0, 365 * 86400))
            status = rng.choice(STATUSES)
            assignee, team_id = rng.choice(agents)
            if status == "new" or rng.random() < 0.1:
                assignee = None
            contact_id = rng.randint(1, n_contacts)
            replied = status not in ("new",)
            first_response = (
                created + dt.timedelta(minutes=rng.randint(5, 600)) if replied else None
            )
            last_customer = created + dt.timedelta(hours=rng.randint(0, 48))
            done = status in ("solved", "closed")
            ticket_rows.append(
                {
                    "id": ticket_id,
                    "number": ticket_id,
                    "subject": sentence(rng, rng.randint(3, 8)).capitalize(),
                    "status": status,
                    "priority": rng.choice(PRIORITIES),
                    "channel": rng.choice(CHANNELS),
                    "requester_id": contact_id,
                    "account_id": contact_account[contact_id],
                    "team_id": team_id,
                    "assignee_id": assignee,
                    "created_at": created,
                    "updated_at": last_customer,
                    "status_changed_at": last_customer,
                    "last_customer_message_at": last_customer,
                    "first_response_at": first_response,
                    "solved_at": last_customer + dt.timedelta(hours=2) if done else None,
                    "first_response_due_at": created + dt.timedelta(hours=4),
                    "resolution_due_at": created + dt.timedelta(days=2),
                    "sla_first_response_breached": rng.random() < 0.05,
                    "public_reply_count": 1 if replied else 0,
                }
            )
            for k in range(rng.choice([1, 2, 2, 3, 4])):
                message_id += 1
                inbound = k % 2 == 0
                message_rows.append(
                    {
                        "id": message_id,
                        "ticket_id": ticket_id,
                        "direction": "inbound" if inbound else "outbound",
                        "author_contact_id": contact_id if inbound else None,
                        "author_user_id": None if inbound else (assignee or agents[0][0]),
                        "body_text": sentence(rng, rng.randint(20, 80)),
                        "message_id": f"<bench-{message_id}@bench.example>",
                        "created_at": created + dt.timedelta(minutes=30 * k),
                        "updated_at": created + dt.timedelta(minutes=30 * k),
                        "to": [],
                        "cc": [],
                    }
                )
            if rng.random() < 0.5:
                tag_rows.append({"ticket_id": ticket_id, "tag_id": rng.choice(tags).pk})
        copy_rows(Ticket, ticket_rows)
        copy_rows(Message, message_rows)
        copy_rows(Ticket.tags.through, tag_rows)
        print(
            f"tickets {base + len(ticket_rows):>9}: {time.monotonic() - started:.1f}s", flush=True
        )
    for model in (Ticket, Message):
        reset_sequence(model)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval('inbox_ticket_number_seq', %s)", [tickets])
        # The same vector as ticket_search_refresh, built set-wise in id ranges.
        for base in range(0, tickets, chunk):
            cursor.execute(
                """
                UPDATE inbox_ticket t SET search_vector =
                    setweight(to_tsvector('simple', coalesce(t.subject, '')), 'A')
                    || setweight(to_tsvector('english', coalesce(t.subject, '')), 'A')
                    || setweight(to_tsvector('simple', coalesce(c.email, '')), 'A')
                    || setweight(to_tsvector('english', coalesce(m.bodies, '')), 'B')
                FROM accounts_contact c,
                    (SELECT ticket_id, string_agg(left(body_text, %s), ' ' ORDER BY id) AS bodies
                     FROM inbox_message WHERE ticket_id > %s AND ticket_id <= %s
                     GROUP BY ticket_id) m
                WHERE c.id = t.requester_id AND m.ticket_id = t.id
                """,
                [SEARCH_BODY_LIMIT, base, base + chunk],
            )
            print(
                f"search vectors {min(base + chunk, tickets):>9}: "
                f"{time.monotonic() - started:.1f}s",
                flush=True,
            )
        cursor.execute("ANALYZE")
    print(f"done: {tickets} tickets, {message_id} messages in {time.monotonic() - started:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--chunk", type=int, default=20_000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The generator needs PostgreSQL (DATABASE_URL=postgres://...).")
    generate(tickets=args.tickets, seed=args.seed, chunk=args.chunk)


if __name__ == "__main__":
    main()
