import datetime as dt

from django.db import migrations, models

CLOCK_PREFIXES = ("time:customer:", "time:pending:", "time:sla:")


def clock_from_event_key(apps, schema_editor):
    """Firings made before this field carry their clock only in the key: copy it out."""
    RuleFiring = apps.get_model("automations", "RuleFiring")
    for prefix in CLOCK_PREFIXES:
        rows = RuleFiring.objects.filter(event_key__startswith=prefix, clock_at__isnull=True)
        for firing in rows.only("pk", "event_key").iterator():
            try:
                clock = dt.datetime.fromisoformat(firing.event_key.removeprefix(prefix))
            except ValueError:
                continue
            RuleFiring.objects.filter(pk=firing.pk).update(clock_at=clock)


class Migration(migrations.Migration):
    dependencies = [
        ("automations", "0001_rules_changes_firings"),
    ]

    operations = [
        migrations.AddField(
            model_name="rulefiring",
            name="clock_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(clock_from_event_key, migrations.RunPython.noop),
    ]
