"""OpenAPI: the error shapes every operation can answer, and the token security scheme."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(required=False)


class TicketTakenErrorSerializer(ErrorSerializer):
    assignee = serializers.DictField(required=False, allow_null=True)


# 400 bodies are {"field": ["message", ...]} or {"detail": "..."}: a free-form object.
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": "Field errors: each key names a field (or non_field_errors / detail).",
    "additionalProperties": {},
}

IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="A retried POST with the same key returns the first response and creates "
    "one object (kept per user, method and path).",
)


class TandemAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        errors: dict[str, Any] = {
            "400": VALIDATION_ERROR_SCHEMA,
            "401": ErrorSerializer,
            "403": ErrorSerializer,
            "404": ErrorSerializer,
            "429": ErrorSerializer,
        }
        if self.method != "GET":
            errors["409"] = TicketTakenErrorSerializer
        if self.method == "POST":
            errors["422"] = ErrorSerializer  # an Idempotency-Key reused with another body
        for code, body in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(body, code, direction=direction)
        return responses

    def get_override_parameters(self) -> list:
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(IDEMPOTENCY_KEY)
        return parameters


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; create keys at /settings/tokens/.",
        }
