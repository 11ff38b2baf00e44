from django.contrib import admin

from .models import (
    Attachment,
    InboundEmail,
    Message,
    OutboundEmail,
    SavedView,
    Tag,
    Ticket,
    TicketEvent,
    TicketTag,
)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "color"]
    search_fields = ["name"]


class MessageInline(admin.StackedInline):
    model = Message
    extra = 0
    fields = ["direction", "author_user", "author_contact", "body_text", "delivery_status"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


class TicketTagInline(admin.TabularInline):
    """A ticket's tags (a through model, so an inline rather than a two-list widget)."""

    model = TicketTag
    extra = 0
    fields = ["tag"]
    autocomplete_fields = ["tag"]
    verbose_name = "tag"


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "subject",
        "status",
        "priority",
        "team",
        "assignee",
        "account",
        "created_at",
    ]
    list_filter = ["status", "priority", "channel", "team", "is_unparsed"]
    search_fields = ["=number", "subject", "requester__email"]
    autocomplete_fields = ["requester", "account", "assignee", "merged_into", "follow_up_of"]
    list_select_related = ["team", "assignee", "account"]
    readonly_fields = [
        "number",
        "first_response_at",
        "solved_at",
        "closed_at",
        "reopen_count",
        "public_reply_count",
        "version",
    ]
    inlines = [TicketTagInline, MessageInline]
    show_full_result_count = False  # no COUNT(*) over a million rows per page


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["ticket", "direction", "from_email", "delivery_status", "created_at"]
    list_filter = ["direction", "delivery_status", "is_unparsed"]
    search_fields = ["message_id", "from_email"]
    autocomplete_fields = ["ticket", "author_user", "author_contact"]
    show_full_result_count = False


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["filename", "content_type", "size", "created_at"]
    search_fields = ["filename", "sha256"]
    raw_id_fields = ["message"]


@admin.register(TicketEvent)
class TicketEventAdmin(admin.ModelAdmin):
    """Audit rows are read-only, even for admins."""

    list_display = ["ticket", "kind", "actor", "created_at"]
    list_filter = ["kind"]
    raw_id_fields = ["ticket"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "team", "sort"]
    list_filter = ["team"]
    search_fields = ["name"]


@admin.register(InboundEmail)
class InboundEmailAdmin(admin.ModelAdmin):
    list_display = ["message_key", "status", "source", "mailbox", "size", "created_at"]
    list_filter = ["status", "source"]
    search_fields = ["message_key"]
    readonly_fields = [
        "message_key",
        "sha256",
        "size",
        "source",
        "status",
        "error",
        "message",
        "ticket",
        "processed_at",
        "mailbox",
    ]
    exclude = ["raw"]


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["kind", "subject", "status", "attempts", "sent_at", "created_at"]
    list_filter = ["kind", "status"]
    search_fields = ["message_id", "subject"]
    raw_id_fields = ["ticket_message", "ticket"]
