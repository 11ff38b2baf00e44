"""Inline images of HTML mail: `<img src="cid:...">` shown from the stored attachment.

The stored `Message.body_html` keeps the `cid:` references as the sender wrote them (the
raw mail is the record; a ticket merge or renumbering must not leave stale links in it).
At render time the HTML is run through the sanitiser once more, and each `cid:` source
that names a raster image attached to the same message becomes the URL of that
attachment's inline view, which checks ticket visibility like every other attachment
URL. A `cid:` naming nothing we stored loses its `src` (the browser could not load it
anyway). SVG is never served inline: it can carry script.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import unquote

import nh3

from helpdesk.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, URL_SCHEMES
from inbox.models import Attachment

# Raster formats browsers decode without running anything; served with their own type.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _cid_key(value: str) -> str:
    """Normalise a Content-ID or a `cid:` URL body (RFC 2392: URL-encoded, no brackets)."""
    return unquote(value).strip().strip("<>").strip().lower()


def inline_image_map(attachments: Iterable[Attachment]) -> dict[str, Attachment]:
    """Content-ID -> attachment, for the message's attachments that can be shown inline."""
    found: dict[str, Attachment] = {}
    for attachment in attachments:
        key = _cid_key(attachment.content_id or "")
        if key and attachment.content_type.lower() in INLINE_IMAGE_TYPES:
            found.setdefault(key, attachment)
    return found


def html_with_inline_images(
    *, html: str, attachments: Iterable[Attachment], url_for: Callable[[Attachment], str]
) -> str:
    """Return sanitised `html` with `cid:` image sources pointing at `url_for(attachment)`."""
    if not html:
        return ""
    images = inline_image_map(attachments)

    def rewrite(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src" and value[:4].lower() == "cid:":
            attachment = images.get(_cid_key(value[4:]))
            return url_for(attachment) if attachment is not None else None
        return value

    # Sanitised again on the way out: the rewrite never sees anything but allowed markup.
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=rewrite,
    )
