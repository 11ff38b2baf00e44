"""Role permissions for the API, the same Django permissions the roles have in admin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView

ACTION_FOR_METHOD = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


class RoleModelPermission(BasePermission):
    """Read needs `view_<model>`, create needs `add_<model>` (the role's group permissions).

    Rows are further scoped by the view's queryset (a success manager sees their book).
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        model = view.permission_model
        action = ACTION_FOR_METHOD.get(request.method, "change")
        return user.has_perm(f"{model._meta.app_label}.{action}_{model._meta.model_name}")
