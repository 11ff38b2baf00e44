"""The Solved-by-priority index no longer INCLUDEs the visibility columns: they served a
tag-filtered Solved page, which now walks the tag's links (0013)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0013_ticket_tag_link_copies"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="ticket",
            name="inbox_ticket_done_prio_idx",
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                condition=models.Q(("status__in", ["solved", "closed"])),
                fields=["priority", "-created_at"],
                name="inbox_ticket_done_prio_idx",
            ),
        ),
    ]
