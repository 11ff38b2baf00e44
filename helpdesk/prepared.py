"""Server-side prepared statements for hot, fixed-shape SELECTs (PostgreSQL).

Django binds parameters on the client and never prepares, so PostgreSQL plans every
statement anew. The inbox's navigation counts are some thirty capped subqueries: at a
million tickets planning them took 8 ms and running them 7. Here such a statement is
sent as a named prepared statement that each connection plans once and then reuses.

The text has its parameters inlined as literals (what Django's client-side binding sends
anyway), so the one plan PostgreSQL keeps is made knowing the actual team and user ids.
With `$n` parameters it would weigh a blind generic plan against re-planning on every
call, and for these counts it chose to re-plan.

`DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None` (DB_PREPARED_STATEMENTS=
false in the settings, for a connection pooler that cannot keep prepared statements)
turns preparing off: the same text then runs unprepared, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor

# Prepared statements kept per connection, least recently used dropped first. A user's
# navigation-count plan takes 0.3-1.3 MB of the backend's memory (measured at 1 M tickets):
# sixteen keep a worker's recently active users planned within ~20 MB per connection.
PREPARED_MAX = 16


class _PreparingCursor(ServerBindingCursor):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        # psycopg keeps one prepared statement per distinct text and connection (at most
        # `prepared_max`, the least recently used deallocated first).
        super().execute(query, params, prepare=True)
        # Django's query log reads the text back from `_query`, which psycopg's client-side
        # cursor keeps and this one does not: without it, debug logs show None.
        self._query = self._convert_query(query, params)
        return self


def literal_sql(sql: str, params: Sequence[Any]) -> str:
    """`sql` with its `%s` parameters inlined as SQL literals, quoted by psycopg."""
    connection.ensure_connection()
    return psycopg.ClientCursor(connection.connection).mogrify(sql, params)


def fetchone_prepared(literal: str) -> tuple[Any, ...]:
    """Run a parameter-free SELECT as a prepared statement; return its one row.

    The statement goes through Django's cursor wrapper, so it is logged and counted
    (`django_assert_num_queries`) like any other query.
    """
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = connection.connection
    if raw.prepared_max != PREPARED_MAX:
        raw.prepared_max = PREPARED_MAX
    raw_cursor = _PreparingCursor(raw)
    cursor = (
        connection.make_debug_cursor(raw_cursor)
        if connection.queries_logged
        else connection.make_cursor(raw_cursor)
    )
    with cursor:
        cursor.execute(literal)
        return cursor.fetchone()
