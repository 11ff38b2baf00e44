"""PostgreSQL-only pieces: the GIN index on the search vector and the ticket number sequence.

SQLite (the embedded demo) has neither; it falls back to a LIKE search and max(number) + 1.
"""

from django.db import migrations

FORWARD = [
    "CREATE INDEX IF NOT EXISTS inbox_ticket_search_gin ON inbox_ticket USING gin (search_vector)",
    "CREATE SEQUENCE IF NOT EXISTS inbox_ticket_number_seq",
    "SELECT setval('inbox_ticket_number_seq', COALESCE((SELECT max(number) FROM inbox_ticket), 0) + 1, false)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS inbox_ticket_search_gin",
    "DROP SEQUENCE IF EXISTS inbox_ticket_number_seq",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("inbox", "0001_initial")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
