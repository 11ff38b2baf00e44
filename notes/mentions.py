"""Find @handles in a note: parsed from the rendered HTML so code never counts.

Working on the rendered Markdown (instead of the source) lets Python-Markdown decide what is
a code span or block, including fenced and indented code, so the parser never disagrees with
what the reader sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from django.db.models.functions import Lower

from helpdesk.models import Team, User

# An @ that does not follow a word character, '.', '+', '-', '/' or another '@' (so e-mail
# addresses, URLs and '@@x' are not mentions), then the longest run of handle characters
# that is not followed by a (unicode) word character: '@zoë' is not a mention of 'zo'.
MENTION_RE = re.compile(r"(?<![\w.+\-/@])@([A-Za-z0-9][A-Za-z0-9_.\-]*)(?![\w@])")
TRAILING_PUNCTUATION = "._-"
SKIPPED_TAGS = {"code", "pre"}


class _TextOutsideCode(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in SKIPPED_TAGS:
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.depth:
            self.chunks.append(data)


def text_outside_code(html: str) -> str:
    parser = _TextOutsideCode()
    parser.feed(html)
    parser.close()
    # A separator keeps text of adjacent elements from gluing into one handle.
    return "\n".join(parser.chunks)


def handle_candidates(html: str) -> list[tuple[str, ...]]:
    """Return, per @-token in the text outside code, the handles it could mean (longest first).

    '@alice.' could be the handle 'alice.' or 'alice' followed by a full stop; the lookup
    keeps whichever exists, preferring the longer one.
    """
    found: list[tuple[str, ...]] = []
    for match in MENTION_RE.finditer(text_outside_code(html)):
        token = match.group(1).lower()
        stripped = token.rstrip(TRAILING_PUNCTUATION)
        options = (token, stripped) if stripped and stripped != token else (token,)
        found.append(options)
    return found


@dataclass
class ResolvedMentions:
    users: list[User] = field(default_factory=list)
    teams: list[Team] = field(default_factory=list)


def mentions_resolve(*, html: str) -> ResolvedMentions:
    """Resolve the @handles in rendered note HTML to active staff users and teams.

    Two queries at most (users, teams), whatever the number of handles; unknown handles are
    ignored, and so are non-staff users (they never get a notification).
    """
    candidates = handle_candidates(html)
    if not candidates:
        return ResolvedMentions()
    wanted = {handle for options in candidates for handle in options}
    users = {
        user.handle_lower: user
        for user in User.objects.annotate(handle_lower=Lower("username")).filter(
            handle_lower__in=wanted, is_active=True, is_staff=True
        )
    }
    teams = {
        team.handle_lower: team
        for team in Team.objects.annotate(handle_lower=Lower("handle")).filter(
            handle_lower__in=wanted
        )
    }
    resolved = ResolvedMentions()
    seen: set[str] = set()
    for options in candidates:
        for handle in options:
            target = users.get(handle) or teams.get(handle)
            if target is None:
                continue
            if handle not in seen:
                seen.add(handle)
                (resolved.users if isinstance(target, User) else resolved.teams).append(target)
            break
    return resolved
