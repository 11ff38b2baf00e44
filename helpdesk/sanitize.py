"""One HTML sanitiser (nh3) for everything shown that came from outside: mail and notes."""

from __future__ import annotations

import markdown as markdown_lib
import nh3

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "div",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
# No javascript:, no data: (SVG payloads), no remote images without a proxy: cid: only.
URL_SCHEMES = {"http", "https", "mailto", "cid"}


def sanitize_html(html: str) -> str:
    """Return `html` with only inert markup left (no scripts, handlers, styles or frames)."""
    if not html:
        return ""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    """Render Markdown (notes) to sanitised HTML; raw HTML in the source is not trusted."""
    html = markdown_lib.markdown(text or "", extensions=["fenced_code", "sane_lists", "nl2br"])
    return sanitize_html(html)
