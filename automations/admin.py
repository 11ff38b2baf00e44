from django import forms
from django.contrib import admin
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from inbox.models import Ticket

from .engine import rule_dry_run
from .models import Rule, RuleChange, RuleFiring
from .schema import ACTIONS, FIELDS, OPERATORS
from .services import rule_delete, rule_save

HELP = (
    'Conditions: {"all": [{"field": "account.health_band", "op": "is", "value": "red"}], '
    '"any": [...]}. Fields: '
    + ", ".join(f"{k} ({v})" for k, v in FIELDS.items())
    + ". Operators by kind: "
    + "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in OPERATORS.items())
)
ACTION_HELP = 'Actions: [{"type": "set_priority", "value": "urgent"}, ...]. Types: ' + "; ".join(
    f"{k} ({v})" for k, v in ACTIONS.items()
)


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ["name", "is_active", "position", "trigger", "threshold", "conditions", "actions"]
        help_texts = {"conditions": HELP, "actions": ACTION_HELP}


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ["name", "trigger", "threshold", "is_active", "position", "test_link"]
    list_filter = ["trigger", "is_active"]
    list_editable = ["is_active", "position"]
    search_fields = ["name"]

    @admin.display(description="Test")
    def test_link(self, obj: Rule) -> str:
        url = reverse("admin:automations_rule_test", args=[obj.pk])
        return format_html('<a href="{}">test on last 100 tickets</a>', url)

    def save_model(self, request, obj, form, change):
        rule_save(rule=obj, user=request.user)

    def delete_model(self, request, obj):
        rule_delete(rule=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        # The list's "delete selected" bypasses delete_model; each rule still gets its log row.
        with transaction.atomic():
            for rule in queryset:
                rule_delete(rule=rule, user=request.user)

    def get_urls(self):
        extra = [
            path(
                "<int:rule_id>/test/",
                self.admin_site.admin_view(self.test_view),
                name="automations_rule_test",
            ),
        ]
        return extra + super().get_urls()

    def test_view(self, request, rule_id: int):
        """Show which of the last 100 tickets the rule would match and what it would do."""
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        rule = get_object_or_404(Rule, pk=rule_id)
        tickets = (
            Ticket.objects.select_related(
                "requester",
                "account",
                "account__metrics",
                "account__success_manager",
                "team",
                "team__business_hours",
                "assignee",
            )
            .prefetch_related(
                "tags", "team__business_hours__intervals", "team__business_hours__holidays"
            )
            .order_by("-created_at", "-id")[:100]
        )
        results = rule_dry_run(rule=rule, tickets=tickets)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Test rule: {rule.name}",
            "rule": rule,
            "results": results,
            "matched": sum(1 for r in results if r["matched"]),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "automations/rule_test.html", context)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(RuleChange)
class RuleChangeAdmin(ReadOnlyAdmin):
    list_display = ["rule_name", "action", "changed_by", "created_at"]
    list_filter = ["action"]


@admin.register(RuleFiring)
class RuleFiringAdmin(ReadOnlyAdmin):
    list_display = ["rule", "ticket", "event_key", "created_at"]
    raw_id_fields = ["ticket"]
