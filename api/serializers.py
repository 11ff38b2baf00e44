"""Serializers: read shapes, and strict input shapes (unknown or read-only fields -> 400)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from accounts.models import (
    SCORE_RANGE,
    Account,
    AccountMetrics,
    Contact,
    Lifecycle,
    RevenueEvent,
    RevenueKind,
    SurveyKind,
    SurveyResponse,
)
from accounts.services import contacts_with_email
from helpdesk.models import Priority, Role, Team
from inbox.models import Message, Status, Ticket
from notes.models import Handoff, HandoffKind, HandoffReason, Note, Notification

User = get_user_model()


class StrictInputMixin:
    """Reject fields the serializer does not accept instead of silently dropping them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field is not accepted here."] for name in unknown}
                )
        return super().to_internal_value(data)


# --- references ---------------------------------------------------------------------------


class UserRefSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name"]

    def get_name(self, user: Any) -> str:
        return user.get_full_name() or user.username


class TeamRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "handle", "name"]


class ContactRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "email", "name"]


class AccountRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "name"]


# --- tickets ------------------------------------------------------------------------------


class TicketSerializer(serializers.ModelSerializer):
    requester = ContactRefSerializer(read_only=True)
    account = AccountRefSerializer(read_only=True, allow_null=True)
    team = TeamRefSerializer(read_only=True, allow_null=True)
    assignee = UserRefSerializer(read_only=True, allow_null=True)
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "number",
            "subject",
            "status",
            "priority",
            "channel",
            "requester",
            "account",
            "team",
            "assignee",
            "tags",
            "created_at",
            "updated_at",
            "status_changed_at",
            "first_response_at",
            "solved_at",
            "closed_at",
            "last_customer_message_at",
            "last_agent_message_at",
            "reopen_count",
            "first_response_due_at",
            "resolution_due_at",
            "is_sla_breached",
            "snoozed_until",
        ]
        read_only_fields = fields

    def get_tags(self, ticket: Ticket) -> list[str]:
        return sorted(tag.name for tag in ticket.tags.all())  # prefetched


# What TicketSerializer reads, for QuerySet.only(): its own fields, the columns behind
# is_sla_breached, and the references' fields.
TICKET_LIST_COLUMNS = (
    *(name for name in TicketSerializer.Meta.fields if name not in ("tags", "is_sla_breached")),
    "sla_first_response_breached",
    "sla_next_response_breached",
    "sla_resolution_breached",
    *(f"requester__{name}" for name in ContactRefSerializer.Meta.fields),
    *(f"account__{name}" for name in AccountRefSerializer.Meta.fields),
    *(f"team__{name}" for name in TeamRefSerializer.Meta.fields),
    "assignee__id",
    "assignee__username",
    "assignee__first_name",
    "assignee__last_name",
)


class TicketCreateSerializer(StrictInputMixin, serializers.Serializer):
    subject = serializers.CharField(max_length=500)
    body = serializers.CharField(max_length=100_000)
    requester_email = serializers.EmailField(max_length=254)
    requester_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True
    )
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=50
    )


class TicketUpdateSerializer(StrictInputMixin, serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    assignee = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=50
    )


class MessageSerializer(serializers.ModelSerializer):
    author_user = UserRefSerializer(read_only=True, allow_null=True)
    author_contact = ContactRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "direction",
            "author_user",
            "author_contact",
            "is_automatic",
            "subject",
            "body_text",
            "body_html",
            "from_email",
            "to",
            "cc",
            "delivery_status",
            "created_at",
        ]
        read_only_fields = fields


class ReplyCreateSerializer(StrictInputMixin, serializers.Serializer):
    """A public reply: `body` is required (there is no visibility switch; notes are separate)."""

    body = serializers.CharField(max_length=100_000)
    status = serializers.ChoiceField(choices=Status.choices, required=False)


class NoteSerializer(serializers.ModelSerializer):
    author = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Note
        fields = ["id", "author", "body_markdown", "body_html", "is_pinned", "created_at"]
        read_only_fields = fields


class NoteCreateSerializer(StrictInputMixin, serializers.Serializer):
    body = serializers.CharField(max_length=50_000, help_text="Markdown; @handles mention.")


# --- handoffs -----------------------------------------------------------------------------


class HandoffSerializer(serializers.ModelSerializer):
    ticket = serializers.IntegerField(source="ticket.number", read_only=True)
    from_user = UserRefSerializer(read_only=True)
    to_user = UserRefSerializer(read_only=True, allow_null=True)
    to_team = TeamRefSerializer(read_only=True, allow_null=True)
    responded_by = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Handoff
        fields = [
            "id",
            "ticket",
            "kind",
            "reason",
            "status",
            "from_user",
            "to_user",
            "to_team",
            "responded_by",
            "responded_at",
            "response_text",
            "created_at",
        ]
        read_only_fields = fields


class HandoffCreateSerializer(StrictInputMixin, serializers.Serializer):
    to_user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    to_team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), required=False, allow_null=True
    )
    kind = serializers.ChoiceField(choices=HandoffKind.choices)
    reason = serializers.ChoiceField(choices=HandoffReason.choices)
    note = serializers.CharField(max_length=50_000, help_text="The context note (Markdown).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("to_user") and attrs.get("to_team"):
            raise serializers.ValidationError("Hand off to a user or a team, not both.")
        return attrs


class HandoffDeclineSerializer(StrictInputMixin, serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class HandoffReturnSerializer(StrictInputMixin, serializers.Serializer):
    note = serializers.CharField(max_length=50_000, help_text="The outcome, for support.")


# --- accounts -----------------------------------------------------------------------------


class AccountSerializer(serializers.ModelSerializer):
    success_manager = UserRefSerializer(read_only=True, allow_null=True)
    domains = serializers.SerializerMethodField()
    # No metrics row yet (never computed): both are null.
    health_score = serializers.FloatField(
        source="metrics.health_score", read_only=True, allow_null=True
    )
    health_band = serializers.CharField(
        source="metrics.health_band", read_only=True, allow_null=True
    )

    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "plan",
            "mrr",
            "lifecycle",
            "success_manager",
            "domains",
            "customer_since",
            "renewal_date",
            "churned_at",
            "health_score",
            "health_band",
            "created_at",
        ]
        read_only_fields = fields

    def get_domains(self, account: Account) -> list[str]:
        return [d.domain for d in account.domains.all()]  # prefetched


class AccountCreateSerializer(StrictInputMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    plan = serializers.CharField(max_length=64, required=False, allow_blank=True)
    lifecycle = serializers.ChoiceField(choices=Lifecycle.choices, required=False)
    success_manager = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(role=Role.SUCCESS, is_active=True),
        required=False,
        allow_null=True,
    )
    domains = serializers.ListField(
        child=serializers.RegexField(r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$", max_length=253),
        required=False,
        max_length=20,
    )
    customer_since = serializers.DateField(required=False, allow_null=True)
    renewal_date = serializers.DateField(required=False, allow_null=True)

    def validate_domains(self, domains: list[str]) -> list[str]:
        from accounts.models import AccountDomain

        cleaned = sorted({d.strip().lower() for d in domains})
        taken = list(
            AccountDomain.objects.filter(domain__in=cleaned).values_list("domain", flat=True)
        )
        if taken:
            raise serializers.ValidationError(f"Already used by another account: {taken}.")
        return cleaned


class AccountMetricsSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id", read_only=True)
    health_band = serializers.CharField(
        read_only=True, help_text="green, yellow, red; empty before the first computation."
    )

    class Meta:
        model = AccountMetrics
        exclude = ["id"]
        read_only_fields = [f.name for f in AccountMetrics._meta.fields if f.name != "id"]


class ContactSerializer(serializers.ModelSerializer):
    account = AccountRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Contact
        fields = ["id", "email", "name", "phone", "account", "created_at"]
        read_only_fields = fields


class ContactCreateSerializer(StrictInputMixin, serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True)
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.none(), required=False, allow_null=True
    )

    def __init__(self, *args: Any, accounts: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if accounts is not None:
            self.fields["account"].queryset = accounts  # only accounts the caller may see

    def validate_email(self, email: str) -> str:
        if contacts_with_email(email).exists():
            raise serializers.ValidationError("A contact with this e-mail already exists.")
        return email.strip()


class RevenueEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = RevenueEvent
        fields = ["id", "account", "kind", "mrr_delta", "occurred_on", "external_id", "note"]
        read_only_fields = ["id", "account"]


class RevenueEventCreateSerializer(StrictInputMixin, serializers.Serializer):
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.none())
    kind = serializers.ChoiceField(choices=RevenueKind.choices)
    mrr_delta = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=-(10**9), max_value=10**9
    )
    occurred_on = serializers.DateField()
    external_id = serializers.CharField(
        max_length=200, required=False, allow_null=True, allow_blank=True
    )
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)

    def __init__(self, *args: Any, accounts: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if accounts is not None:
            self.fields["account"].queryset = accounts

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        growth = attrs["kind"] in (RevenueKind.NEW, RevenueKind.EXPANSION, RevenueKind.REACTIVATION)
        if (growth and attrs["mrr_delta"] <= 0) or (not growth and attrs["mrr_delta"] >= 0):
            raise serializers.ValidationError(
                {"mrr_delta": ["Growth events add MRR (> 0); contraction and churn remove it."]}
            )
        return attrs


class SurveyResponseSerializer(serializers.ModelSerializer):
    ticket = serializers.IntegerField(source="ticket.number", read_only=True, allow_null=True)

    class Meta:
        model = SurveyResponse
        fields = [
            "id",
            "kind",
            "score",
            "comment",
            "contact",
            "account",
            "ticket",
            "responded_at",
            "source",
            "external_id",
        ]
        read_only_fields = fields


class SurveyResponseCreateSerializer(StrictInputMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=SurveyKind.choices)
    score = serializers.IntegerField(min_value=0, max_value=10)
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    contact = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.none(), required=False, allow_null=True
    )
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.none(), required=False, allow_null=True
    )
    ticket = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    responded_at = serializers.DateTimeField(required=False)
    external_id = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def __init__(
        self, *args: Any, accounts: Any = None, contacts: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if accounts is not None:
            self.fields["account"].queryset = accounts
        if contacts is not None:
            self.fields["contact"].queryset = contacts

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        low, high = SCORE_RANGE[attrs["kind"]]
        if not low <= attrs["score"] <= high:
            raise serializers.ValidationError(
                {"score": [f"A {attrs['kind']} score is between {low} and {high}."]}
            )
        external_id = attrs.get("external_id")
        if external_id and SurveyResponse.objects.filter(external_id=external_id).exists():
            raise serializers.ValidationError({"external_id": ["Already recorded."]})
        return attrs


# --- notifications, users -----------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    actor = UserRefSerializer(read_only=True, allow_null=True)
    ticket = serializers.IntegerField(source="ticket.number", read_only=True, allow_null=True)
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "text",
            "actor",
            "ticket",
            "note",
            "handoff",
            "account",
            "created_at",
            "read_at",
            "is_read",
        ]
        read_only_fields = fields

    def get_is_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class MeSerializer(serializers.ModelSerializer):
    teams = TeamRefSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "role",
            "is_available",
            "time_zone",
            "teams",
        ]
        read_only_fields = fields
