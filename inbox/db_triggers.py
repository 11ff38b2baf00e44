# ruff: noqa: S608 - the SQL here is built from TAG_LINK_COPIES, a constant; no input
"""Database triggers that keep each tag link's copies of its ticket's columns (TicketTag).

Triggers rather than code in services: the copies must follow every write of those ticket
columns (services, the API, automations, admin, raw SQL), and a missed one would hide a
ticket from a tag-filtered inbox. Installed by migration 0013 and again after every
`migrate` (inbox.apps): SQLite drops a table's triggers when a migration rebuilds it.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

from inbox.models import TAG_LINK_COPIES

_TICKET_COLUMNS = list(TAG_LINK_COPIES)
_LINK_COLUMNS = list(TAG_LINK_COPIES.values())
_CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _TICKET_COLUMNS)
_SET_FROM_NEW = ", ".join(f"{link} = NEW.{col}" for col, link in TAG_LINK_COPIES.items())

POSTGRESQL = [
    f"""
    CREATE OR REPLACE FUNCTION inbox_tickettag_copy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- FOR SHARE: if another transaction is changing the ticket, wait for it and copy
        -- what it wrote (its own trigger ran before this link existed).
        SELECT {", ".join(f"t.{c}" for c in _TICKET_COLUMNS)}
          INTO {", ".join(f"NEW.{c}" for c in _LINK_COLUMNS)}
          FROM inbox_ticket t WHERE t.id = NEW.ticket_id FOR SHARE;
        RETURN NEW;
    END $$
    """,
    "DROP TRIGGER IF EXISTS inbox_tickettag_copy ON inbox_ticket_tags",
    """
    CREATE TRIGGER inbox_tickettag_copy BEFORE INSERT OR UPDATE OF ticket_id
    ON inbox_ticket_tags FOR EACH ROW EXECUTE FUNCTION inbox_tickettag_copy()
    """,
    f"""
    CREATE OR REPLACE FUNCTION inbox_ticket_copy_to_tags() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- A statement of its own, so a fresh snapshot: it also sees a link committed by a
        -- transaction this update waited for.
        UPDATE inbox_ticket_tags SET {_SET_FROM_NEW} WHERE ticket_id = NEW.id;
        RETURN NULL;
    END $$
    """,
    "DROP TRIGGER IF EXISTS inbox_ticket_copy_to_tags ON inbox_ticket",
    f"""
    CREATE TRIGGER inbox_ticket_copy_to_tags AFTER UPDATE OF {", ".join(_TICKET_COLUMNS)}
    ON inbox_ticket FOR EACH ROW WHEN ({_CHANGED})
    EXECUTE FUNCTION inbox_ticket_copy_to_tags()
    """,
]

# SQLite (the demo) writes one transaction at a time, so plain row triggers suffice.
SQLITE = [
    f"""
    CREATE TRIGGER IF NOT EXISTS inbox_tickettag_copy AFTER INSERT ON inbox_ticket_tags
    BEGIN
        UPDATE inbox_ticket_tags SET ({", ".join(_LINK_COLUMNS)}) =
            (SELECT {", ".join(_TICKET_COLUMNS)} FROM inbox_ticket WHERE id = NEW.ticket_id)
        WHERE id = NEW.id;
    END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS inbox_ticket_copy_to_tags
    AFTER UPDATE OF {", ".join(_TICKET_COLUMNS)} ON inbox_ticket
    WHEN {_CHANGED}
    BEGIN
        UPDATE inbox_ticket_tags SET {_SET_FROM_NEW} WHERE ticket_id = NEW.id;
    END
    """,
]

# Fills the copies of links written before the triggers existed (both databases).
BACKFILL = f"""
    UPDATE inbox_ticket_tags SET ({", ".join(_LINK_COLUMNS)}) =
        (SELECT {", ".join(f"t.{c}" for c in _TICKET_COLUMNS)} FROM inbox_ticket t
         WHERE t.id = inbox_ticket_tags.ticket_id)
"""


def install_tag_link_triggers(connection: BaseDatabaseWrapper) -> None:
    """(Re)create the triggers; safe to run any number of times."""
    statements = {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(connection.vendor)
    if statements is None:
        raise NotImplementedError(f"No tag link triggers for {connection.vendor}")
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
