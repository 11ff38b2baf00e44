"""Covering walk indexes of open and of done tickets by date for the inbox's ids-first
pages; they replace the Solved-by-priority index (a priority is one of their columns)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inbox', '0013_ticket_tag_link_copies'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='ticket',
            name='inbox_ticket_done_prio_idx',
        ),
        migrations.AddIndex(
            model_name='ticket',
            index=models.Index(condition=models.Q(('status__in', ['new', 'open', 'pending', 'on_hold'])), fields=['created_at', 'id'], include=('status', 'team', 'assignee', 'account', 'priority', 'channel', 'sla_first_response_breached', 'sla_next_response_breached', 'sla_resolution_breached', 'snoozed_until'), name='inbox_ticket_open_walk_idx'),
        ),
        migrations.AddIndex(
            model_name='ticket',
            index=models.Index(condition=models.Q(('status__in', ['solved', 'closed'])), fields=['created_at', 'id'], include=('status', 'team', 'assignee', 'account', 'priority', 'channel', 'sla_first_response_breached', 'sla_next_response_breached', 'sla_resolution_breached'), name='inbox_ticket_done_walk_idx'),
        ),
    ]
