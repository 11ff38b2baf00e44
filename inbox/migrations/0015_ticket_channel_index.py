"""An index of tickets by channel and date: a filter on a rare channel (or one the desk does
not use) finds its few tickets there instead of reading a view's whole walk index."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inbox', '0014_inbox_walk_indexes'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='ticket',
            index=models.Index(fields=['channel', 'created_at', 'id'], name='inbox_ticket_channel_idx'),
        ),
    ]
