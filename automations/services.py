"""Writes for automation rules: every change is logged with who, when, before and after."""

from __future__ import annotations

from django.db import transaction

from helpdesk.models import User

from .models import Rule, RuleChange


@transaction.atomic
def rule_save(*, rule: Rule, user: User | None) -> Rule:
    """Validate and save the rule, recording the change."""
    rule.full_clean()
    before = None
    if rule.pk is not None:
        previous = Rule.objects.filter(pk=rule.pk).first()
        before = previous.snapshot() if previous else None
    if rule.pk is None and user is not None:
        rule.created_by = user
    rule.save()
    after = rule.snapshot()
    if before != after:
        RuleChange.objects.create(
            rule=rule,
            rule_name=rule.name,
            changed_by=user,
            action="created" if before is None else "changed",
            before=before,
            after=after,
        )
    return rule


@transaction.atomic
def rule_delete(*, rule: Rule, user: User | None) -> None:
    RuleChange.objects.create(
        rule=rule,
        rule_name=rule.name,
        changed_by=user,
        action="deleted",
        before=rule.snapshot(),
        after=None,
    )
    rule.delete()
