# ruff: noqa: S608 - the SQL here is built from column-name mappings in code; no input
"""Database triggers that keep each tag link's copies of its ticket's columns (TicketTag).

Triggers rather than code in services: the copies must follow every write of those ticket
columns (services, the API, automations, admin, raw SQL), and a missed one would hide a
ticket from a tag-filtered inbox. Installed by migration 0013 with the copies it created,
and again after every `migrate` with today's (inbox.apps): SQLite drops a table's triggers
when a migration rebuilds it.

`copies` maps a ticket column to the link column that copies it (models.TAG_LINK_COPIES).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db.backends.base.base import BaseDatabaseWrapper


def _postgresql(copies: Mapping[str, str]) -> list[str]:
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in copies)
    set_from_new = ", ".join(f"{link} = NEW.{col}" for col, link in copies.items())
    return [
        f"""
        CREATE OR REPLACE FUNCTION inbox_tickettag_copy() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- FOR SHARE: if another transaction is changing the ticket, wait for it and
            -- copy what it wrote (its own trigger ran before this link existed).
            SELECT {", ".join(f"t.{c}" for c in copies)}
              INTO {", ".join(f"NEW.{c}" for c in copies.values())}
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
            -- A statement of its own, so a fresh snapshot: it also sees a link committed
            -- by a transaction this update waited for.
            UPDATE inbox_ticket_tags SET {set_from_new} WHERE ticket_id = NEW.id;
            RETURN NULL;
        END $$
        """,
        "DROP TRIGGER IF EXISTS inbox_ticket_copy_to_tags ON inbox_ticket",
        f"""
        CREATE TRIGGER inbox_ticket_copy_to_tags AFTER UPDATE OF {", ".join(copies)}
        ON inbox_ticket FOR EACH ROW WHEN ({changed})
        EXECUTE FUNCTION inbox_ticket_copy_to_tags()
        """,
    ]


def _sqlite(copies: Mapping[str, str]) -> list[str]:
    """SQLite (the demo) writes one transaction at a time, so plain row triggers suffice."""
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in copies)
    set_from_new = ", ".join(f"{link} = NEW.{col}" for col, link in copies.items())
    return [
        # Dropped first: a re-install must pick up a changed list of copies.
        "DROP TRIGGER IF EXISTS inbox_tickettag_copy",
        f"""
        CREATE TRIGGER inbox_tickettag_copy AFTER INSERT ON inbox_ticket_tags
        BEGIN
            UPDATE inbox_ticket_tags SET ({", ".join(copies.values())}) =
                (SELECT {", ".join(copies)} FROM inbox_ticket WHERE id = NEW.ticket_id)
            WHERE id = NEW.id;
        END
        """,
        "DROP TRIGGER IF EXISTS inbox_ticket_copy_to_tags",
        f"""
        CREATE TRIGGER inbox_ticket_copy_to_tags
        AFTER UPDATE OF {", ".join(copies)} ON inbox_ticket
        WHEN {changed}
        BEGIN
            UPDATE inbox_ticket_tags SET {set_from_new} WHERE ticket_id = NEW.id;
        END
        """,
    ]


def backfill_sql(copies: Mapping[str, str]) -> str:
    """Fill the copies of links written before the triggers existed (both databases)."""
    return f"""
        UPDATE inbox_ticket_tags SET ({", ".join(copies.values())}) =
            (SELECT {", ".join(f"t.{c}" for c in copies)} FROM inbox_ticket t
             WHERE t.id = inbox_ticket_tags.ticket_id)
    """


def install_tag_link_triggers(
    connection: BaseDatabaseWrapper, copies: Mapping[str, str] | None = None
) -> None:
    """(Re)create the triggers for `copies` (today's by default); safe to run again."""
    if copies is None:
        from inbox.models import TAG_LINK_COPIES

        copies = TAG_LINK_COPIES
    builders = {"postgresql": _postgresql, "sqlite": _sqlite}
    if connection.vendor not in builders:
        raise NotImplementedError(f"No tag link triggers for {connection.vendor}")
    with connection.cursor() as cursor:
        for sql in builders[connection.vendor](copies):
            cursor.execute(sql)
