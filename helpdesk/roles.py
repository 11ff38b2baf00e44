"""Roles map to Django groups: the admin pages a role reaches are its group's permissions."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from .models import Role, User

ROLE_GROUPS = {Role.AGENT: "Support agents", Role.SUCCESS: "Success managers", Role.ADMIN: "Admins"}

# app_label.codename; "*" after an app means every permission of that app's models.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.AGENT: [
        "helpdesk.view_cannedresponse",
        "helpdesk.add_cannedresponse",
        "helpdesk.change_cannedresponse",
        "helpdesk.view_macro",
        "inbox.view_tag",
        "inbox.add_tag",
        # For the read-only API (RoleModelPermission); accounts.admin shows agents no
        # customer pages: they read customers in the app, scoped like every other page.
        "accounts.view_contact",
        "accounts.view_account",
    ],
    Role.SUCCESS: [
        "helpdesk.view_cannedresponse",
        "helpdesk.add_cannedresponse",
        "helpdesk.change_cannedresponse",
        # Rows are limited to the manager's own book, and success_manager is read-only
        # for them (accounts.admin.ScopedToBook): they cannot adopt someone else's account.
        "accounts.view_account",
        "accounts.change_account",
        "accounts.view_contact",
        "accounts.add_contact",
        "accounts.change_contact",
        "accounts.view_revenueevent",
        "accounts.add_revenueevent",
        "accounts.view_surveyresponse",
    ],
    Role.ADMIN: [
        "helpdesk.*",
        "accounts.*",
        "inbox.*",
        "notes.*",
        "automations.*",
        "auth.*",
        "django_celery_beat.*",
    ],
}


def _permissions(specs: list[str]) -> list[Permission]:
    found: list[Permission] = []
    for spec in specs:
        app_label, _, codename = spec.partition(".")
        queryset = Permission.objects.filter(content_type__app_label=app_label)
        if codename != "*":
            queryset = queryset.filter(codename=codename)
        found.extend(queryset)
    return found


@transaction.atomic
def role_groups_ensure() -> dict[str, Group]:
    """Create or refresh the three role groups and their permissions (idempotent)."""
    groups = {}
    for role, name in ROLE_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(ROLE_PERMISSIONS[role]))
        groups[role] = group
    return groups


@transaction.atomic
def user_sync_role(*, user: User) -> None:
    """Put the user in exactly their role's group; every role may open the admin site."""
    groups = {g.name: g for g in Group.objects.filter(name__in=ROLE_GROUPS.values())}
    if len(groups) < len(ROLE_GROUPS):
        groups = {g.name: g for g in role_groups_ensure().values()}
    role_group_ids = [g.pk for g in groups.values()]
    user.groups.remove(*role_group_ids)
    user.groups.add(groups[ROLE_GROUPS[user.role]])
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
