"""Template helpers for mail bodies: fold quoted history and signatures in the timeline.

Usage on the ticket page::

    {% load mail_tags %}
    {% with parts=message.body_text|mail_parts %}
      {{ parts.body|linebreaksbr }}
      {% if parts.has_folded %}<details><summary>…</summary>
        {{ parts.signature|linebreaksbr }}{{ parts.quoted|linebreaksbr }}</details>{% endif %}
    {% endwith %}

The parts are plain text: autoescaping still applies, so nothing here marks anything safe.
"""

from __future__ import annotations

from django import template

from inbox.email.quotes import MailParts, mail_split

register = template.Library()


@register.filter(name="mail_parts")
def mail_parts(text: str) -> MailParts:
    """Split a body into `.body`, `.quoted` and `.signature` (and `.has_folded`)."""
    return mail_split(text or "")
