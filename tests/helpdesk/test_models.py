import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tests.helpdesk.factories import (
    BusinessHoursIntervalFactory,
    HolidayFactory,
    MembershipFactory,
    SLATargetFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def rejected(factory, **kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**kwargs)
    return True


def test_user_handle_is_unique_case_insensitively():
    UserFactory(username="Alice")
    assert rejected(UserFactory._meta.model.objects.create, username="alice")


def test_user_role_must_be_known():
    assert rejected(UserFactory, role="customer")


def test_team_handle_unique_case_insensitively():
    TeamFactory(handle="tier2")
    assert rejected(TeamFactory, handle="TIER2")


def test_team_handle_may_not_clash_with_user_handle():
    UserFactory(username="billing")
    team = TeamFactory.build(name="Billing", handle="Billing")
    with pytest.raises(ValidationError) as excinfo:
        team.full_clean()
    assert "handle" in excinfo.value.message_dict


def test_user_handle_may_not_clash_with_team_handle():
    TeamFactory(handle="success")
    user = UserFactory.build(username="success")
    with pytest.raises(ValidationError) as excinfo:
        user.full_clean()
    assert "username" in excinfo.value.message_dict


def test_membership_unique_per_team_and_user():
    membership = MembershipFactory()
    assert rejected(MembershipFactory, team=membership.team, user=membership.user)


def test_business_hours_interval_must_open_before_it_closes():
    assert rejected(BusinessHoursIntervalFactory, opens_at=dt.time(17), closes_at=dt.time(9))


def test_business_hours_weekday_in_range():
    assert rejected(BusinessHoursIntervalFactory, weekday=7)


def test_holiday_unique_per_schedule_and_date():
    holiday = HolidayFactory()
    assert rejected(HolidayFactory, business_hours=holiday.business_hours, date=holiday.date)


def test_sla_target_one_per_priority():
    target = SLATargetFactory()
    assert rejected(SLATargetFactory, policy=target.policy, priority=target.priority)
