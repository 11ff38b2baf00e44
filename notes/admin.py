from django.contrib import admin

from .models import Follower, Handoff, Mention, Note, Notification, NotificationPreference


class MentionInline(admin.TabularInline):
    model = Mention
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ["ticket", "author", "is_pinned", "created_at"]
    raw_id_fields = ["ticket"]
    search_fields = ["body_markdown"]
    inlines = [MentionInline]
    show_full_result_count = False


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    list_display = [
        "ticket",
        "kind",
        "reason",
        "from_user",
        "to_user",
        "to_team",
        "status",
        "created_at",
    ]
    list_filter = ["kind", "reason", "status"]
    raw_id_fields = ["ticket", "context_note"]
    autocomplete_fields = ["from_user", "to_user"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "kind", "text", "read_at", "email_state", "created_at"]
    list_filter = ["kind", "email_state"]
    raw_id_fields = ["ticket", "note", "handoff", "account"]
    autocomplete_fields = ["recipient"]
    show_full_result_count = False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "email"]
    list_filter = ["kind", "email"]
    autocomplete_fields = ["user"]


@admin.register(Follower)
class FollowerAdmin(admin.ModelAdmin):
    list_display = ["ticket", "user", "created_at"]
    raw_id_fields = ["ticket"]
    autocomplete_fields = ["user"]
