from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _ensure_role_groups(sender: AppConfig, **kwargs: object) -> None:
    # post_migrate fires once per app; permissions of every app exist after the last one.
    if sender is not list(apps.get_app_configs())[-1]:
        return
    from .roles import role_groups_ensure

    role_groups_ensure()


class HelpdeskConfig(AppConfig):
    name = "helpdesk"
    verbose_name = "Help desk"

    def ready(self) -> None:
        post_migrate.connect(_ensure_role_groups)
