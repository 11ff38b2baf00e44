"""Mail over HTTP: the inbound hook for mail providers, and inline images of HTML mail.

The hook takes raw MIME POSTed by SES/SNS-style relays and Postfix pipes.

Authentication: a per-mailbox secret in the `X-Tandem-Mail-Token` header. The token is
HMAC-SHA256(INBOUND_MAIL_SECRET, mailbox id + address), so no extra column is needed, each
mailbox has its own token (one leaked token cannot feed another mailbox), and rotating the
secret revokes them all. `manage.py mail_inbound_token` prints a mailbox's URL and token.
Comparison is constant-time, and a missing mailbox is checked against a dummy token so the
answer (403) and its timing are the same as for a wrong token. CSRF does not apply: there
is no cookie session, the token is the credential.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from helpdesk.models import Mailbox
from inbox.models import Attachment
from inbox.selectors import ticket_get_for_user

from .ingest import email_ingest
from .inline import INLINE_IMAGE_TYPES

TOKEN_HEADER = "X-Tandem-Mail-Token"  # noqa: S105 -- a header name, not a secret


def _secret() -> bytes:
    return str(getattr(settings, "INBOUND_MAIL_SECRET", "") or settings.SECRET_KEY).encode()


def mailbox_inbound_token(*, mailbox_id: int, email: str) -> str:
    message = f"tandem-inbound-mail:{mailbox_id}:{email.strip().lower()}".encode()
    return hmac.new(_secret(), message, hashlib.sha256).hexdigest()


def _max_bytes() -> int:
    return int(getattr(settings, "EMAIL_MAX_MESSAGE_BYTES", 50 * 1024 * 1024))


@csrf_exempt
@require_POST
def inbound_mail_view(request: HttpRequest, mailbox_id: int) -> JsonResponse:
    """Store one raw MIME message POSTed as the request body."""
    mailbox = Mailbox.objects.filter(pk=mailbox_id, is_active=True).first()
    expected = mailbox_inbound_token(
        mailbox_id=mailbox_id, email=mailbox.email if mailbox else "no-such-mailbox"
    )
    given = request.headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()) or mailbox is None:
        return JsonResponse({"error": "forbidden"}, status=403)
    # Read the stream ourselves: request.body stops at DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
    raw = request.read(_max_bytes() + 1)
    if len(raw) > _max_bytes():
        return JsonResponse({"error": "message too large"}, status=413)
    if not raw.strip():
        return JsonResponse({"error": "empty body"}, status=400)
    result = email_ingest(raw=raw, mailbox=mailbox, source="http")
    return JsonResponse(
        {"status": result.status, "duplicate": result.is_duplicate},
        status=200 if result.is_duplicate else 202,
    )


@login_required
@require_GET
def attachment_inline_view(request: HttpRequest, number: int, attachment_id: int) -> HttpResponse:
    """Serve a raster image of a ticket the user may see, for `<img>` in an HTML mail.

    404 for a missing attachment, one of another ticket, or a ticket the user cannot see.
    Anything that is not a PNG/JPEG/GIF/WebP (SVG can carry script) is sent to the download
    view, which serves it as opaque bytes.
    """
    ticket = ticket_get_for_user(user=request.user, number=number)
    attachment = Attachment.objects.filter(pk=attachment_id, message__ticket=ticket).first()
    if attachment is None:
        raise Http404("No such attachment.")
    if attachment.content_type.lower() not in INLINE_IMAGE_TYPES:
        return redirect("inbox:attachment", number=ticket.number, attachment_id=attachment.pk)
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=False,
        filename=attachment.filename,
        content_type=attachment.content_type,
    )
    # The declared image type only (never sniffed into HTML), and nothing may run if the
    # URL is opened as a page.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, max-age=3600"
    return response
