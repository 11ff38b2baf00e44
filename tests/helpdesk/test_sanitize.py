import pytest

from helpdesk.sanitize import render_markdown, sanitize_html


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
        '<svg onload="alert(1)"><circle/></svg>',
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
        '<div style="width: expression(alert(1))">x</div>',
        '<iframe src="https://evil.example"></iframe>',
    ],
)
def test_sanitize_html_leaves_nothing_executable(payload):
    cleaned = sanitize_html(payload).lower()
    for needle in (
        "<script",
        "onerror",
        "onload",
        "javascript:",
        "data:",
        "<svg",
        "<iframe",
        "expression(",
        "style=",
    ):
        assert needle not in cleaned


def test_sanitize_keeps_ordinary_formatting_and_cid_images():
    cleaned = sanitize_html(
        '<p>Hi <b>there</b> <a href="https://x.example">link</a><img src="cid:logo@x"></p>'
    )
    assert "<b>there</b>" in cleaned
    assert 'href="https://x.example"' in cleaned
    assert 'rel="noopener noreferrer nofollow"' in cleaned
    assert 'src="cid:logo@x"' in cleaned


def test_markdown_is_rendered_and_raw_html_is_not_trusted():
    html = render_markdown("**bold** and `code`\n\n<script>alert(1)</script>")
    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html
    assert "<script" not in html
