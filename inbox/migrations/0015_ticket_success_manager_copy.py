"""Each ticket's copy of its account's success manager, kept by database triggers, with walk
indexes of one manager's open and done tickets by date; and an index of tickets by channel
and date, for filters on a rare channel."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


_TRIGGERS = (
    ("inbox_ticket_manager_on_insert", "inbox_ticket"),
    ("inbox_ticket_manager_on_update", "inbox_ticket"),
    ("accounts_account_manager_to_tickets", "accounts_account"),
)


def fill_copy_and_install_triggers(apps, schema_editor):
    from inbox.db_triggers import MANAGER_BACKFILL_SQL, install_success_manager_triggers

    schema_editor.execute(MANAGER_BACKFILL_SQL)
    install_success_manager_triggers(schema_editor.connection)


def drop_triggers(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    for trigger, table in _TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        schema_editor.execute("DROP FUNCTION IF EXISTS inbox_ticket_manager_copy()")
        schema_editor.execute("DROP FUNCTION IF EXISTS accounts_account_manager_to_tickets()")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_healthbandchange'),
        ('helpdesk', '0002_auditlog'),
        ('inbox', '0014_inbox_walk_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='ticket',
            name='success_manager',
            field=models.ForeignKey(blank=True, db_index=False, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(fill_copy_and_install_triggers, drop_triggers),
        migrations.AddIndex(
            model_name='ticket',
            index=models.Index(condition=models.Q(('status__in', ['new', 'open', 'pending', 'on_hold'])), fields=['success_manager', 'created_at', 'id'], include=('status', 'team', 'assignee', 'account', 'priority', 'channel', 'sla_first_response_breached', 'sla_next_response_breached', 'sla_resolution_breached', 'snoozed_until'), name='inbox_ticket_sm_open_walk_idx'),
        ),
        migrations.AddIndex(
            model_name='ticket',
            index=models.Index(condition=models.Q(('status__in', ['solved', 'closed'])), fields=['success_manager', 'created_at', 'id'], include=('status', 'team', 'assignee', 'account', 'priority', 'channel', 'sla_first_response_breached', 'sla_next_response_breached', 'sla_resolution_breached'), name='inbox_ticket_sm_done_walk_idx'),
        ),
        migrations.AddIndex(
            model_name='ticket',
            index=models.Index(fields=['channel', 'created_at', 'id'], name='inbox_ticket_channel_idx'),
        ),
    ]
