from django.contrib import admin
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from helpdesk.models import Role

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
from .selectors import account_visible_queryset
from .services import metrics_mark_dirty


def _is_admin(request) -> bool:
    # The admin's login page asks every ModelAdmin too, with an AnonymousUser.
    return request.user.is_active and getattr(request.user, "is_admin_role", False)


class ScopedToBook:
    """Limit customer records in admin to the accounts the user may edit.

    Admins see every account. A success manager sees the accounts they manage, and the
    contacts, revenue and surveys of those (a foreign key can only point into their book).
    Support agents get no customer pages in admin at all: they read accounts and contacts in
    the app (the ticket side panel, /accounts/), which is enough for a help desk, and their
    view permissions exist only for the read-only API. Anything outside the user's scope
    answers 404, as a missing row does, so admin URLs do not reveal which accounts exist.
    """

    account_path = "account"  # how the model reaches its Account ("" for Account itself)

    def _is_scoped_out(self, request) -> bool:
        role = getattr(request.user, "role", None)  # None: anonymous, on the login page
        return role in (None, Role.AGENT) and not _is_admin(request)

    def has_module_permission(self, request):
        return not self._is_scoped_out(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return not self._is_scoped_out(request) and super().has_view_permission(request, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if _is_admin(request):
            return queryset
        if self._is_scoped_out(request):
            return queryset.none()
        books = account_visible_queryset(user=request.user)
        if not self.account_path:
            return queryset.filter(pk__in=books.values("pk"))
        return queryset.filter(**{f"{self.account_path}__in": books})

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such record.")  # missing and someone else's look the same
        return obj

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account" and not _is_admin(request):
            kwargs["queryset"] = account_visible_queryset(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
class AccountAdmin(ScopedToBook, admin.ModelAdmin):
    list_display = ["name", "plan", "mrr", "lifecycle", "success_manager", "renewal_date"]
    list_filter = ["lifecycle", "plan", "success_manager"]
    search_fields = ["name", "domains__domain"]
    autocomplete_fields = ["success_manager"]
    readonly_fields = ["mrr"]
    inlines = [AccountDomainInline, ContactInline, RevenueEventInline]
    account_path = ""

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not _is_admin(request):
            # Who manages an account decides who sees its tickets: only admins assign it.
            fields.append("success_manager")
        return fields

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        return filters if _is_admin(request) else [f for f in filters if f != "success_manager"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Revenue events or contacts edited inline change this account's metrics.
        metrics_mark_dirty(account_id=form.instance.pk)


@admin.register(Contact)
class ContactAdmin(ScopedToBook, MarksMetricsDirty, admin.ModelAdmin):
    list_display = ["email", "name", "account", "created_at"]
    search_fields = ["email", "name"]
    autocomplete_fields = ["account"]
    list_select_related = ["account"]


@admin.register(RevenueEvent)
class RevenueEventAdmin(ScopedToBook, MarksMetricsDirty, admin.ModelAdmin):
    list_display = ["account", "kind", "mrr_delta", "occurred_on", "external_id"]
    list_filter = ["kind"]
    search_fields = ["account__name", "external_id"]
    autocomplete_fields = ["account"]
    date_hierarchy = "occurred_on"
    list_select_related = ["account"]
    readonly_fields = ["created_at"]


@admin.register(SurveyResponse)
class SurveyResponseAdmin(ScopedToBook, MarksMetricsDirty, admin.ModelAdmin):
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
