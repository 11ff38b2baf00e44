"""Idempotency-Key on POST: a retried request replays the first answer and creates nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from .models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def _replay(record: IdempotencyKey, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        return Response(
            {"detail": f"This {HEADER} was used with a different request.", "code": "reused_key"},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Wrap a POST handler: the first 2xx answer per (user, key, method, path) is kept."""

    @wraps(view_method)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER, "").strip()
        if not key:
            return view_method(self, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ValidationError({HEADER: [f"At most {MAX_KEY_LENGTH} printable characters."]})
        lookup = {"user": request.user, "key": key, "method": request.method, "path": request.path}
        canonical = json.dumps(request.data, sort_keys=True, default=str).encode()
        request_hash = hashlib.sha256(canonical).hexdigest()
        record = IdempotencyKey.objects.filter(**lookup).first()
        if record is not None:
            return _replay(record, request_hash)
        try:
            # The object and the key row commit together: a concurrent retry with the same
            # key hits the unique constraint, rolls its object back and replays ours.
            with transaction.atomic():
                response = view_method(self, request, *args, **kwargs)
                if 200 <= response.status_code < 300:
                    IdempotencyKey.objects.create(
                        **lookup,
                        request_hash=request_hash,
                        response_status=response.status_code,
                        response_body=response.data,
                    )
        except IntegrityError:
            record = IdempotencyKey.objects.filter(**lookup).first()
            if record is None:
                raise
            return _replay(record, request_hash)
        return response

    return wrapper
