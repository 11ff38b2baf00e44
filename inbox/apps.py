from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_copy_triggers(*, using: str = "default", **_kwargs: Any) -> None:
    """Re-install the copies' triggers after every migrate (SQLite loses them on a rebuild)."""
    from inbox.db_triggers import install_success_manager_triggers, install_tag_link_triggers

    connection = connections[using]
    with connection.cursor() as cursor:
        introspection = connection.introspection
        tables = set(introspection.table_names(cursor))
        if not {"inbox_ticket_tags", "inbox_ticket", "accounts_account"} <= tables:
            return
        link_columns = {
            c.name for c in introspection.get_table_description(cursor, "inbox_ticket_tags")
        }
        ticket_columns = {
            c.name for c in introspection.get_table_description(cursor, "inbox_ticket")
        }
    # Not when migrated back to before the copies.
    if "ticket_created_at" in link_columns:
        install_tag_link_triggers(connection)
    if "success_manager_id" in ticket_columns:
        install_success_manager_triggers(connection)


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Inbox"

    def ready(self) -> None:
        post_migrate.connect(_ensure_copy_triggers, sender=self)
