from django.contrib import admin

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


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "account", "created_at"]
    search_fields = ["email", "name"]
    autocomplete_fields = ["account"]
    list_select_related = ["account"]


@admin.register(RevenueEvent)
class RevenueEventAdmin(admin.ModelAdmin):
    list_display = ["account", "kind", "mrr_delta", "occurred_on", "external_id"]
    list_filter = ["kind"]
    search_fields = ["account__name", "external_id"]
    autocomplete_fields = ["account"]
    date_hierarchy = "occurred_on"
    list_select_related = ["account"]


@admin.register(SurveyResponse)
class SurveyResponseAdmin(admin.ModelAdmin):
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
    def has_add_permission(self, request):
        # A single row: once it exists it is edited, never added again.
        return super().has_add_permission(request) and not HealthScoreConfig.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SurveySettings)
class SurveySettingsAdmin(HealthScoreConfigAdmin):
    def has_add_permission(self, request):
        return super().has_add_permission(request) and not SurveySettings.objects.exists()
