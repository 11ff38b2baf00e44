"""Tags through an explicit TicketTag model that copies the columns the inbox filters by.

The table stays inbox_ticket_tags (the state takes over the auto-created one); the copies
are filled from the tickets and kept by triggers (inbox.db_triggers). The link's own
(ticket) and (tag) indexes go: the unique (ticket, tag) and the walk index lead with them.
"""

import django.db.models.deletion
from django.db import migrations, models

COPIES = [
    ("ticket_created_at", models.DateTimeField(editable=False, null=True)),
    ("ticket_team_id", models.BigIntegerField(editable=False, null=True)),
    ("ticket_account_id", models.BigIntegerField(editable=False, null=True)),
    ("ticket_assignee_id", models.BigIntegerField(editable=False, null=True)),
    ("ticket_status", models.CharField(editable=False, max_length=16, null=True)),
    ("ticket_priority", models.CharField(editable=False, max_length=16, null=True)),
]


# The copies as this migration creates them (ticket column -> link column), frozen here: a
# later change to inbox.models.TAG_LINK_COPIES comes with a migration of its own.
COPIED_COLUMNS = {
    "created_at": "ticket_created_at",
    "team_id": "ticket_team_id",
    "account_id": "ticket_account_id",
    "assignee_id": "ticket_assignee_id",
    "status": "ticket_status",
    "priority": "ticket_priority",
}


def fill_copies_and_install_triggers(apps, schema_editor):
    from inbox.db_triggers import backfill_sql, install_tag_link_triggers

    schema_editor.execute(backfill_sql(COPIED_COLUMNS))
    install_tag_link_triggers(schema_editor.connection, COPIED_COLUMNS)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS inbox_tickettag_copy ON inbox_ticket_tags")
        schema_editor.execute("DROP TRIGGER IF EXISTS inbox_ticket_copy_to_tags ON inbox_ticket")
        schema_editor.execute("DROP FUNCTION IF EXISTS inbox_tickettag_copy()")
        schema_editor.execute("DROP FUNCTION IF EXISTS inbox_ticket_copy_to_tags()")
    else:
        schema_editor.execute("DROP TRIGGER IF EXISTS inbox_tickettag_copy")
        schema_editor.execute("DROP TRIGGER IF EXISTS inbox_ticket_copy_to_tags")


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0012_solved_priority_index_covers_visibility"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="TicketTag",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "tag",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, to="inbox.tag"
                            ),
                        ),
                        (
                            "ticket",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, to="inbox.ticket"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "inbox_ticket_tags",
                        "unique_together": {("ticket", "tag")},
                    },
                ),
                migrations.AlterField(
                    model_name="ticket",
                    name="tags",
                    field=models.ManyToManyField(
                        blank=True, related_name="tickets", through="inbox.TicketTag", to="inbox.tag"
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterField(
            model_name="tickettag",
            name="tag",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, to="inbox.tag"
            ),
        ),
        migrations.AlterField(
            model_name="tickettag",
            name="ticket",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, to="inbox.ticket"
            ),
        ),
        *[
            migrations.AddField(model_name="tickettag", name=name, field=field)
            for name, field in COPIES
        ],
        migrations.AddIndex(
            model_name="tickettag",
            index=models.Index(
                fields=["tag", "-ticket_created_at", "-ticket"],
                include=(
                    "ticket_team_id",
                    "ticket_account_id",
                    "ticket_assignee_id",
                    "ticket_status",
                    "ticket_priority",
                ),
                name="inbox_tickettag_walk_idx",
            ),
        ),
        migrations.RunPython(fill_copies_and_install_triggers, drop_triggers),
    ]
