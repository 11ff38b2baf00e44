# ruff: noqa: S608 - the SQL here is built from column-name mappings in code; no input
"""Database triggers that keep copies the inbox's list walks read: each tag link's copies of
its ticket's columns (TicketTag), and each ticket's copy of its account's success manager.

Triggers rather than code in services: the copies must follow every write of those ticket
columns (services, the API, automations, admin, raw SQL), and a missed one would hide a
ticket from a tag-filtered inbox. Installed by migration 0013 with the copies it created,
and again after every `migrate` with today's (inbox.apps): SQLite drops a table's triggers
when a migration rebuilds it.

`copies` maps a ticket column to the link column that copies it (models.TAG_LINK_COPIES).
The success manager's triggers (migration 0015) read only columns that exist from then on.
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


# Advisory-lock key space of the success manager copy: a ticket's write of its account's
# manager and a change of that manager take it on the account, shared and exclusive.
MANAGER_LOCK_NAMESPACE = 0x736D6772  # "smgr"


def _postgresql_manager() -> list[str]:
    lock_key = f"{MANAGER_LOCK_NAMESPACE}, (%s & 2147483647)::int4"
    return [
        f"""
        CREATE OR REPLACE FUNCTION inbox_ticket_manager_copy() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.account_id IS NULL THEN
                NEW.success_manager_id := NULL;
                RETURN NEW;
            END IF;
            -- Shared, so tickets of one account are written side by side; a change of the
            -- account's manager waits for them (and they for it), then each sees the other.
            PERFORM pg_advisory_xact_lock_shared({lock_key % "NEW.account_id"});
            SELECT a.success_manager_id INTO NEW.success_manager_id
              FROM accounts_account a WHERE a.id = NEW.account_id;
            RETURN NEW;
        END $$
        """,
        "DROP TRIGGER IF EXISTS inbox_ticket_manager_on_insert ON inbox_ticket",
        """
        CREATE TRIGGER inbox_ticket_manager_on_insert BEFORE INSERT ON inbox_ticket
        FOR EACH ROW EXECUTE FUNCTION inbox_ticket_manager_copy()
        """,
        # Also when a save sends a stale copy: the account's value wins.
        "DROP TRIGGER IF EXISTS inbox_ticket_manager_on_update ON inbox_ticket",
        """
        CREATE TRIGGER inbox_ticket_manager_on_update
        BEFORE UPDATE OF account_id, success_manager_id ON inbox_ticket FOR EACH ROW
        WHEN (OLD.account_id IS DISTINCT FROM NEW.account_id
              OR OLD.success_manager_id IS DISTINCT FROM NEW.success_manager_id)
        EXECUTE FUNCTION inbox_ticket_manager_copy()
        """,
        f"""
        CREATE OR REPLACE FUNCTION accounts_account_manager_to_tickets() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock({lock_key % "NEW.id"});
            -- A statement of its own, so a fresh snapshot: it sees tickets committed by the
            -- transactions the lock waited for.
            UPDATE inbox_ticket SET success_manager_id = NEW.success_manager_id
             WHERE account_id = NEW.id
               AND success_manager_id IS DISTINCT FROM NEW.success_manager_id;
            RETURN NULL;
        END $$
        """,
        "DROP TRIGGER IF EXISTS accounts_account_manager_to_tickets ON accounts_account",
        """
        CREATE TRIGGER accounts_account_manager_to_tickets
        AFTER UPDATE OF success_manager_id ON accounts_account FOR EACH ROW
        WHEN (OLD.success_manager_id IS DISTINCT FROM NEW.success_manager_id)
        EXECUTE FUNCTION accounts_account_manager_to_tickets()
        """,
    ]


def _sqlite_manager() -> list[str]:
    account_manager = "(SELECT success_manager_id FROM accounts_account WHERE id = NEW.account_id)"
    return [
        "DROP TRIGGER IF EXISTS inbox_ticket_manager_on_insert",
        f"""
        CREATE TRIGGER inbox_ticket_manager_on_insert AFTER INSERT ON inbox_ticket
        BEGIN
            UPDATE inbox_ticket SET success_manager_id = {account_manager} WHERE id = NEW.id;
        END
        """,
        # Recursive triggers are off in SQLite, so this update does not fire itself again.
        "DROP TRIGGER IF EXISTS inbox_ticket_manager_on_update",
        f"""
        CREATE TRIGGER inbox_ticket_manager_on_update
        AFTER UPDATE OF account_id, success_manager_id ON inbox_ticket
        WHEN OLD.account_id IS NOT NEW.account_id
             OR OLD.success_manager_id IS NOT NEW.success_manager_id
        BEGIN
            UPDATE inbox_ticket SET success_manager_id = {account_manager} WHERE id = NEW.id;
        END
        """,
        "DROP TRIGGER IF EXISTS accounts_account_manager_to_tickets",
        """
        CREATE TRIGGER accounts_account_manager_to_tickets
        AFTER UPDATE OF success_manager_id ON accounts_account
        WHEN OLD.success_manager_id IS NOT NEW.success_manager_id
        BEGIN
            UPDATE inbox_ticket SET success_manager_id = NEW.success_manager_id
             WHERE account_id = NEW.id;
        END
        """,
    ]


MANAGER_BACKFILL_SQL = """
    UPDATE inbox_ticket SET success_manager_id =
        (SELECT a.success_manager_id FROM accounts_account a
         WHERE a.id = inbox_ticket.account_id)
    WHERE account_id IS NOT NULL
"""


def install_success_manager_triggers(connection: BaseDatabaseWrapper) -> None:
    """(Re)create the triggers of the tickets' success manager copy; safe to run again."""
    builders = {"postgresql": _postgresql_manager, "sqlite": _sqlite_manager}
    if connection.vendor not in builders:
        raise NotImplementedError(f"No success manager triggers for {connection.vendor}")
    with connection.cursor() as cursor:
        for sql in builders[connection.vendor]():
            cursor.execute(sql)
