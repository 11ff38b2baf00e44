"""What a rule's conditions and actions may say; admin and the engine share these checks."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

# field -> kind of value it holds
FIELDS: dict[str, str] = {
    "ticket.status": "str",
    "ticket.priority": "str",
    "ticket.channel": "str",
    "ticket.team": "str",  # team handle
    "ticket.assignee": "str",  # user handle, "" when unassigned
    "ticket.tags": "list",
    "ticket.subject": "text",
    "ticket.body": "text",  # the latest customer message
    "requester.email": "text",
    "requester.domain": "str",
    "account.plan": "str",
    "account.mrr": "number",
    "account.health_band": "str",
    "account.lifecycle": "str",
    "account.days_to_renewal": "number",
    "account.success_manager": "str",
    "business_hours.now": "bool",
}

OPERATORS: dict[str, set[str]] = {
    "str": {"is", "is_not", "in", "not_in", "is_empty", "not_empty"},
    "text": {"is", "is_not", "contains", "not_contains", "ends_with", "is_empty", "not_empty"},
    "list": {"contains", "not_contains", "is_empty", "not_empty"},
    "number": {"is", "gt", "gte", "lt", "lte", "is_empty", "not_empty"},
    "bool": {"is_true", "is_false"},
}
NO_VALUE = {"is_empty", "not_empty", "is_true", "is_false"}

ACTIONS: dict[str, str] = {
    "set_status": "status value",
    "set_priority": "priority value",
    "set_team": "team handle",
    "set_assignee": "user handle, or 'round_robin' / 'load_balanced' within the ticket's team",
    "add_tags": "list of tag names",
    "remove_tags": "list of tag names",
    "add_note": "Markdown text; @mentions notify",
    "send_canned_reply": "canned response id",
    "notify": "list of user handles, team handles, 'success_manager' or 'assignee'",
    "create_handoff": "reason (renewal_risk, churn_risk, expansion, ...)",
    "snooze": "hours",
    "webhook": "a label, sent as `signal` in a rule.fired webhook to its subscribers",
}


def validate_conditions(conditions: Any) -> None:
    if conditions in (None, {}):
        return
    if not isinstance(conditions, dict) or set(conditions) - {"all", "any"}:
        raise ValidationError('Conditions are {"all": [...], "any": [...]}.')
    for group in ("all", "any"):
        items = conditions.get(group, [])
        if not isinstance(items, list):
            raise ValidationError(f'"{group}" must be a list of conditions.')
        for item in items:
            _validate_condition(item)


def _validate_condition(item: Any) -> None:
    if not isinstance(item, dict) or "field" not in item or "op" not in item:
        raise ValidationError(f"A condition needs a field and an op: {item!r}")
    field, op = item["field"], item["op"]
    if field not in FIELDS:
        raise ValidationError(f"Unknown field {field!r}. Known: {', '.join(sorted(FIELDS))}.")
    if op not in OPERATORS[FIELDS[field]]:
        allowed = ", ".join(sorted(OPERATORS[FIELDS[field]]))
        raise ValidationError(f"Operator {op!r} does not apply to {field}; use one of {allowed}.")
    if op not in NO_VALUE and "value" not in item:
        raise ValidationError(f"Condition on {field} with {op!r} needs a value.")
    if op in {"in", "not_in"} and not isinstance(item["value"], list):
        raise ValidationError(f"{op!r} takes a list of values.")
    if FIELDS[field] == "number" and op not in NO_VALUE:
        try:
            float(item["value"])
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{field} compares with a number.") from exc


def validate_actions(actions: Any) -> None:
    if not isinstance(actions, list) or not actions:
        raise ValidationError("A rule needs at least one action.")
    for action in actions:
        if not isinstance(action, dict) or action.get("type") not in ACTIONS:
            known = ", ".join(sorted(ACTIONS))
            raise ValidationError(f"Unknown action {action!r}; known types: {known}.")
        if "value" not in action:
            raise ValidationError(
                f"Action {action['type']} needs a value ({ACTIONS[action['type']]})."
            )
