import pytest
from django.db import IntegrityError, transaction

from tests.helpdesk.factories import TeamFactory, UserFactory
from tests.notes.factories import (
    FollowerFactory,
    HandoffFactory,
    MentionFactory,
    NoteFactory,
    NotificationPreferenceFactory,
)

pytestmark = pytest.mark.django_db


def rejected(factory, **kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**kwargs)
    return True


def test_mention_names_exactly_one_user_or_team():
    note = NoteFactory()
    assert rejected(MentionFactory, note=note, user=UserFactory(), team=TeamFactory())
    assert rejected(MentionFactory, note=note, user=None, team=None)
    assert MentionFactory(note=note, user=None, team=TeamFactory()).pk


def test_mention_unique_per_note():
    mention = MentionFactory()
    assert rejected(MentionFactory, note=mention.note, user=mention.user)


def test_team_mention_unique_per_note():
    """notes_mention_unique_team: one row per (note, team); other notes may name it too."""
    team = TeamFactory()
    mention = MentionFactory(user=None, team=team)
    with pytest.raises(IntegrityError, match="notes_mention_unique_team"), transaction.atomic():
        MentionFactory(note=mention.note, user=None, team=team)
    assert MentionFactory(user=None, team=team).note_id != mention.note_id
    assert MentionFactory(note=mention.note, user=None, team=TeamFactory()).pk


def test_handoff_targets_exactly_one_user_or_team():
    assert rejected(HandoffFactory, to_user=None, to_team=None)
    assert rejected(HandoffFactory, to_team=TeamFactory())


def test_one_pending_handoff_per_ticket():
    handoff = HandoffFactory()
    assert rejected(HandoffFactory, ticket=handoff.ticket)
    handoff.status = "declined"
    handoff.save()
    assert HandoffFactory(ticket=handoff.ticket).pk


def test_follower_unique():
    follower = FollowerFactory()
    assert rejected(FollowerFactory, ticket=follower.ticket, user=follower.user)


def test_notification_preference_unique_per_kind():
    pref = NotificationPreferenceFactory()
    assert rejected(NotificationPreferenceFactory, user=pref.user, kind=pref.kind)
