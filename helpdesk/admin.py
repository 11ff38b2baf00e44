from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import (
    AuditLog,
    BusinessHours,
    BusinessHoursInterval,
    CannedResponse,
    Holiday,
    Macro,
    Mailbox,
    Membership,
    SLAPolicy,
    SLATarget,
    Team,
    User,
)
from .roles import user_sync_role
from .services import audit_record


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = [
        "username",
        "email",
        "first_name",
        "last_name",
        "role",
        "is_available",
        "is_active",
        "last_login",
    ]
    list_filter = ["role", "is_active", "is_available", "teams"]
    search_fields = ["username", "email", "first_name", "last_name"]
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Tandem", {"fields": ("role", "is_available", "time_zone", "signature")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "role", "password1", "password2"),
            },
        ),
    )
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        watched = {"role", "is_active", "is_superuser", "password"} & set(form.changed_data)
        if watched or not change:
            audit_record(
                action="user_changed" if change else "user_created",
                actor=request.user,
                request=request,
                object_repr=obj.username,
                data={"fields": sorted(watched), "role": obj.role, "is_active": obj.is_active},
            )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Groups follow the role, after the form has saved its own group choices.
        user_sync_role(user=form.instance)
        for formset in formsets:
            if formset.model is Membership and formset.has_changed():
                teams = sorted(form.instance.teams.values_list("handle", flat=True))
                audit_record(
                    action="membership_changed",
                    actor=request.user,
                    request=request,
                    object_repr=form.instance.username,
                    data={"teams": teams},
                )


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read-only, even for admins: an audit trail nobody can edit."""

    list_display = ["created_at", "action", "actor", "ip_address", "object_repr"]
    list_filter = ["action"]
    search_fields = ["object_repr", "actor__username"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "handle", "kind", "auto_assign", "sla_policy", "business_hours"]
    list_filter = ["kind", "auto_assign"]
    search_fields = ["name", "handle"]
    inlines = [MembershipInline]
    exclude = ["last_assigned_user"]


class BusinessHoursIntervalInline(admin.TabularInline):
    model = BusinessHoursInterval
    extra = 5


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 1


@admin.register(BusinessHours)
class BusinessHoursAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone"]
    search_fields = ["name"]
    inlines = [BusinessHoursIntervalInline, HolidayInline]


class SLATargetInline(admin.TabularInline):
    model = SLATarget
    extra = 4
    max_num = 4


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "business_hours"]
    search_fields = ["name"]
    inlines = [SLATargetInline]


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["title", "team", "owner", "updated_at"]
    list_filter = ["team"]
    search_fields = ["title", "body"]
    autocomplete_fields = ["owner"]


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "canned_response", "set_status", "set_priority", "set_team"]
    list_filter = ["team"]
    search_fields = ["name"]


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "team", "is_active", "auto_acknowledge", "last_polled_at"]
    list_filter = ["is_active", "team"]
    search_fields = ["name", "email"]
    readonly_fields = ["imap_uidvalidity", "imap_last_uid", "last_polled_at", "last_poll_error"]
    fieldsets = (
        (None, {"fields": ("name", "email", "team", "is_active")}),
        (
            "IMAP",
            {
                "fields": (
                    "imap_host",
                    "imap_port",
                    "imap_user",
                    "imap_password",
                    "imap_folder",
                    "imap_use_tls",
                )
            },
        ),
        ("Acknowledgement", {"fields": ("auto_acknowledge", "acknowledge_template")}),
        (
            "Status",
            {"fields": ("imap_uidvalidity", "imap_last_uid", "last_polled_at", "last_poll_error")},
        ),
    )

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        # Never echo the stored IMAP password back into the page.
        from django import forms

        form.base_fields["imap_password"].widget = forms.PasswordInput(render_value=False)
        form.base_fields["imap_password"].required = False
        return form

    def save_model(self, request, obj, form, change):
        if change and not form.cleaned_data.get("imap_password"):
            obj.imap_password = Mailbox.objects.get(pk=obj.pk).imap_password
        super().save_model(request, obj, form, change)
