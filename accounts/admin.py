from django.contrib import admin
from django.db import transaction
from django.utils import timezone

from .models import (
    Account,
    AccountDomain,
    AccountMetrics,
    Contact,
    HealthScoreConfig,
    MetricSnapshot,
    RevenueEvent,
    SurveyInvitation,
    SurveyResponse,
    SurveySettings,
)
from .services import metrics_mark_dirty


class MarksMetricsDirty:
    """Admin edits of metric inputs mark the account(s) dirty, as the services do."""

    def save_model(self, request, obj, form, change):
        old_account_id = None
        if change and obj.pk:
            old_account_id = (
                type(obj).objects.filter(pk=obj.pk).values_list("account_id", flat=True).first()
            )
        super().save_model(request, obj, form, change)
        for account_id in sorted({old_account_id, obj.account_id} - {None}):
            metrics_mark_dirty(account_id=account_id)

    def delete_model(self, request, obj):
        account_id = obj.account_id
        super().delete_model(request, obj)
        metrics_mark_dirty(account_id=account_id)


class AccountDomainInline(admin.TabularInline):
    model = AccountDomain
    extra = 1


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ["email", "name", "phone"]
    show_change_link = True


class RevenueEventInline(admin.TabularInline):
    model = RevenueEvent
    extra = 0
    fields = ["kind", "mrr_delta", "occurred_on", "external_id", "note"]
    ordering = ["-occurred_on"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "plan", "mrr", "lifecycle", "success_manager", "renewal_date"]
    list_filter = ["lifecycle", "plan", "success_manager"]
    search_fields = ["name", "domains__domain"]
    autocomplete_fields = ["success_manager"]
    readonly_fields = ["mrr"]
    inlines = [AccountDomainInline, ContactInline, RevenueEventInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Revenue events or contacts edited inline change this account's metrics.
        metrics_mark_dirty(account_id=form.instance.pk)


@admin.register(Contact)
class ContactAdmin(MarksMetricsDirty, admin.ModelAdmin):
    list_display = ["email", "name", "account", "created_at"]
    search_fields = ["email", "name"]
    autocomplete_fields = ["account"]
    list_select_related = ["account"]


@admin.register(RevenueEvent)
class RevenueEventAdmin(MarksMetricsDirty, admin.ModelAdmin):
    list_display = ["account", "kind", "mrr_delta", "occurred_on", "external_id"]
    list_filter = ["kind"]
    search_fields = ["account__name", "external_id"]
    autocomplete_fields = ["account"]
    date_hierarchy = "occurred_on"
    list_select_related = ["account"]
    readonly_fields = ["created_at"]


@admin.register(SurveyResponse)
class SurveyResponseAdmin(MarksMetricsDirty, admin.ModelAdmin):
    list_display = ["kind", "score", "account", "contact", "ticket", "responded_at", "source"]
    list_filter = ["kind", "source"]
    search_fields = ["account__name", "contact__email", "comment"]
    autocomplete_fields = ["account", "contact", "ticket"]
    list_select_related = ["account", "contact", "ticket"]


@admin.register(SurveyInvitation)
class SurveyInvitationAdmin(admin.ModelAdmin):
    list_display = ["kind", "contact", "ticket", "expires_at", "used_at"]
    list_filter = ["kind"]
    autocomplete_fields = ["contact", "account", "ticket"]


@admin.register(AccountMetrics)
class AccountMetricsAdmin(admin.ModelAdmin):
    list_display = ["account", "health_score", "health_band", "mrr", "computed_at"]
    list_filter = ["health_band"]
    search_fields = ["account__name"]
    list_select_related = ["account"]

    def has_add_permission(self, request):
        return False  # derived data: recomputed, never typed in

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(AccountMetricsAdmin):
    list_display = ["account", "date", "health_score", "health_band", "mrr"]
    date_hierarchy = "date"


@admin.register(HealthScoreConfig)
class HealthScoreConfigAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if isinstance(obj, HealthScoreConfig):
            # New weights or bands: every score is stale; the sweep recomputes in chunks.
            Account.objects.update(metrics_dirty_at=timezone.now())
            transaction.on_commit(_sweep_now)

    def has_add_permission(self, request):
        # A single row: once it exists it is edited, never added again.
        return super().has_add_permission(request) and not HealthScoreConfig.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SurveySettings)
class SurveySettingsAdmin(HealthScoreConfigAdmin):
    def has_add_permission(self, request):
        return super().has_add_permission(request) and not SurveySettings.objects.exists()


def _sweep_now() -> None:
    from .tasks import sweep_dirty_metrics_task

    try:
        sweep_dirty_metrics_task.delay()
    except Exception:  # the beat sweep runs within a minute anyway
        import logging

        logging.getLogger(__name__).warning("could not queue the metrics sweep", exc_info=True)
