"""Inbound mail throughput: messages per second into PostgreSQL, one process.

    source /tmp/tandem-NAME.env && python bench/bench_ingest.py --count 2000

Creates a throwaway test database (test_<name>), feeds it a realistic mix through the
same path the IMAP poller takes (`email_ingest_many`: a batch of raw mail stored in one
INSERT, then each parsed, threaded,
attachments written), prints the figure, and drops the database again.
Mix: 60 % new tickets (plain text), 25 % replies threading by In-Reply-To, 10 % HTML
with a 20 KB attachment, 5 % duplicates of earlier mail.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")


def build_corpus(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    mails: list[bytes] = []
    ids: list[str] = []
    words = [
        "printer",
        "invoice",
        "login",
        "refund",
        "broken",
        "urgent",
        "please",
        "help",
        "account",
        "export",
    ]
    for n in range(count):
        kind = rng.random()
        if kind < 0.05 and mails:
            mails.append(rng.choice(mails))  # re-delivery
            continue
        mail = EmailMessage()
        sender = f"user{rng.randrange(count // 3 + 1)}@bench-customer{rng.randrange(50)}.example"
        mail["From"] = f"Customer {n} <{sender}>"
        mail["To"] = "support@tandem.example"
        mail["Message-ID"] = message_id = f"<bench-{n}@bench.example>"
        subject = " ".join(rng.choice(words) for _ in range(5))
        body = "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(8))
        if kind < 0.30 and ids:
            mail["In-Reply-To"] = rng.choice(ids)
            subject = "Re: " + subject
            body += "\n\nOn Mon, Support wrote:\n> earlier text\n> more"
        mail["Subject"] = subject
        mail.set_content(body)
        if kind > 0.90:
            mail.add_alternative(f"<p>{body}</p><script>x()</script>", subtype="html")
            mail.add_attachment(
                rng.randbytes(20_000), maintype="application", subtype="pdf", filename="a.pdf"
            )
        ids.append(message_id)
        mails.append(mail.as_bytes())
    return mails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (scripts/services.sh start DIR).")

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="tandem-bench-media-")
    settings.EMAIL_SENDER_TICKET_LIMIT = 10**9
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from helpdesk.models import Mailbox, Team
        from inbox.email.imap import STORE_BATCH
        from inbox.email.ingest import email_ingest_many
        from inbox.models import InboundEmail, Message, Ticket

        team = Team.objects.create(name="Support", handle="support-bench")
        mailbox = Mailbox.objects.create(name="Support", email="support@tandem.example", team=team)
        mails = build_corpus(args.count)
        total_bytes = sum(len(m) for m in mails)
        started = time.perf_counter()
        # The IMAP poller's path: each fetched batch stored in one INSERT, then processed.
        for start in range(0, len(mails), STORE_BATCH):
            batch = mails[start : start + STORE_BATCH]
            email_ingest_many(raws=batch, mailbox=mailbox, source="bench")
        elapsed = time.perf_counter() - started
        print(
            f"ingest: {len(mails)} messages ({total_bytes / 1e6:.1f} MB) in {elapsed:.2f} s"
            f" = {len(mails) / elapsed:.0f} messages/s into PostgreSQL, single process"
            f" ({InboundEmail.objects.count()} raw rows, {Ticket.objects.count()} tickets,"
            f" {Message.objects.count()} messages)"
        )
    finally:
        connection.creation.destroy_test_db(
            connection.settings_dict["NAME"].removeprefix("test_"), verbosity=0
        )


if __name__ == "__main__":
    main()
