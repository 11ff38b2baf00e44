from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_tag_link_triggers(*, using: str = "default", **_kwargs: Any) -> None:
    """Re-install the tag link triggers after every migrate (SQLite loses them on a rebuild)."""
    from inbox.db_triggers import install_tag_link_triggers

    connection = connections[using]
    with connection.cursor() as cursor:
        introspection = connection.introspection
        if "inbox_ticket_tags" not in introspection.table_names(cursor):
            return
        columns = {c.name for c in introspection.get_table_description(cursor, "inbox_ticket_tags")}
    if "ticket_created_at" in columns:  # not when migrated back to before the copies
        install_tag_link_triggers(connection)


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Inbox"

    def ready(self) -> None:
        post_migrate.connect(_ensure_tag_link_triggers, sender=self)
