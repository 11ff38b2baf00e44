"""Folding quoted history and signatures away from what the customer just wrote."""

from __future__ import annotations

from django.template import Context, Template
from hypothesis import given, settings
from hypothesis import strategies as st

from inbox.email.quotes import mail_split

GMAIL = """Thanks, that worked!

On Mon, 2 Nov 2026 at 10:00, Support <support@tandem.example> wrote:
> Please unplug it.
>
> > Hello, my printer is on fire.
"""

OUTLOOK = """Still broken.

Pat Doe
________________________________
From: Support <support@tandem.example>
Sent: Monday, November 2, 2026 10:00
To: Pat
Subject: Re: Printer

Have you tried again?
"""


def test_gmail_style_quote_is_folded():
    parts = mail_split(GMAIL)
    assert parts.body == "Thanks, that worked!"
    assert parts.quoted.startswith("On Mon, 2 Nov 2026 at 10:00")
    assert "> Please unplug it." in parts.quoted
    assert parts.has_folded


def test_outlook_style_header_block_is_folded():
    parts = mail_split(OUTLOOK)
    assert parts.body == "Still broken.\n\nPat Doe"
    assert parts.quoted.startswith("____")
    assert "Have you tried again?" in parts.quoted


def test_signature_after_dash_dash_is_folded():
    parts = mail_split("See you.\n\n-- \nCarol\nACME Corp\n")
    assert parts.body == "See you."
    assert parts.signature == "-- \nCarol\nACME Corp"
    mobile = mail_split("Ok!\n\nSent from my iPhone")
    assert (mobile.body, mobile.signature) == ("Ok!", "Sent from my iPhone")


def test_trailing_gt_block_is_folded_but_interleaved_answers_stay():
    trailing = mail_split("Yes please.\n\n> Shall we refund?\n> Thanks\n")
    assert (trailing.body, trailing.quoted) == ("Yes please.", "> Shall we refund?\n> Thanks")
    interleaved = "> Question one?\nAnswer one.\n> Question two?\nAnswer two."
    assert mail_split(interleaved).body == interleaved
    assert not mail_split(interleaved).has_folded


def test_plain_text_and_quote_only_mail_keep_everything():
    assert mail_split("Just text.").body == "Just text."
    assert not mail_split("Just text.").has_folded
    forward_only = "> only a quote\n> nothing else"
    assert mail_split(forward_only).body == forward_only


def test_template_filter_keeps_autoescaping():
    template = Template(
        "{% load mail_tags %}{% with p=text|mail_parts %}{{ p.body }}|{{ p.quoted }}{% endwith %}"
    )
    out = template.render(Context({"text": "<b>hi</b>\n\n> <script>x</script>"}))
    assert out == "&lt;b&gt;hi&lt;/b&gt;|&gt; &lt;script&gt;x&lt;/script&gt;"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab >-_\n:OnwroteFrSe"), max_size=300))
def test_split_never_raises_and_loses_no_line(text):
    parts = mail_split(text)
    kept = "\n".join([parts.body, parts.signature, parts.quoted])
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip():
            assert line.rstrip() in kept
