"""Template helpers for mail bodies: fold quoted history and signatures in the timeline.

Usage on the ticket page::

    {% load mail_tags %}
    {% with parts=message.body_text|mail_parts %}
      {{ parts.body|linebreaksbr }}
      {% if parts.has_folded %}<details><summary>…</summary>
        {{ parts.signature|linebreaksbr }}{{ parts.quoted|linebreaksbr }}</details>{% endif %}
    {% endwith %}

The parts are plain text: autoescaping still applies. `message_html` is the one filter
that marks HTML safe: the message's HTML, sanitised again with `cid:` images resolved.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.safestring import mark_safe

from inbox.email.inline import html_with_inline_images
from inbox.email.quotes import MailParts, mail_split
from inbox.models import Message

register = template.Library()


@register.filter(name="mail_parts")
def mail_parts(text: str) -> MailParts:
    """Split a body into `.body`, `.quoted` and `.signature` (and `.has_folded`)."""
    return mail_split(text or "")


@register.filter(name="message_html")
def message_html(message: Message, ticket_number: int) -> str:
    """The message's sanitised HTML with `cid:` images pointing at their inline view.

    Uses `message.attachments.all()`, which the ticket timeline prefetches.
    """
    if not message.body_html:
        return ""
    html = html_with_inline_images(
        html=message.body_html,
        attachments=message.attachments.all(),
        url_for=lambda attachment: reverse(
            "inbox:attachment_inline", args=[ticket_number, attachment.pk]
        ),
    )
    # Safe: nh3 sanitised it again in html_with_inline_images.
    return mark_safe(html)
