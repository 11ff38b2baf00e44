"""helpdesk.prepared: parameter-free prepared SELECTs, counted and logged like any query."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from helpdesk.prepared import fetchone_prepared, literal_sql

pytestmark = pytest.mark.django_db


def _prepared_count(text: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement = %s", [text])
        return cursor.fetchone()[0]


def test_literal_sql_quotes_what_would_break_out():
    """Quotes, percent signs and backslashes come back as the same values, not as SQL."""
    tricky = "50% o'clock \\ '); DROP TABLE inbox_ticket; --"
    text = literal_sql("SELECT %s, %s, %s", [tricky, 7, None])
    assert fetchone_prepared(text) == (tricky, 7, None)


def test_prepared_once_per_text_and_reused():
    text = literal_sql("SELECT %s + 1", [41])
    connection.ensure_connection()
    connection.connection.execute("DEALLOCATE ALL")
    assert _prepared_count(text) == 0
    assert fetchone_prepared(text) == (42,)
    assert fetchone_prepared(text) == (42,)
    assert _prepared_count(text) == 1


def test_counted_and_logged_with_its_text(django_assert_num_queries):
    text = literal_sql("SELECT %s", ["counted"])
    with django_assert_num_queries(1):
        fetchone_prepared(text)
    with CaptureQueriesContext(connection) as queries:
        fetchone_prepared(text)
    assert [q["sql"] for q in queries.captured_queries] == [text]


def test_at_most_prepared_max_statements_kept_per_connection(monkeypatch):
    """A plan can take a megabyte of the backend's memory: the least recently used go."""
    monkeypatch.setattr("helpdesk.prepared.PREPARED_MAX", 3)
    connection.ensure_connection()
    connection.connection.execute("DEALLOCATE ALL")
    texts = [literal_sql("SELECT %s", [n]) for n in range(5)]
    for n, text in enumerate(texts):
        assert fetchone_prepared(text) == (n,)
    fetchone_prepared(texts[-1])  # deallocations are sent with the next statement
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        kept = {row[0] for row in cursor.fetchall()}
    assert kept == set(texts[2:])
