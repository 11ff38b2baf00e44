from django.urls import path

from . import views
from .email import views as mail_views

app_name = "inbox"

urlpatterns = [
    path("inbox/", views.inbox_list_view, name="list"),
    path("inbox/bulk/", views.inbox_bulk_view, name="bulk"),
    path("inbox/views/", views.saved_view_create_view, name="saved_view_create"),
    path("tickets/<int:number>/", views.ticket_detail_view, name="ticket"),
    path("tickets/<int:number>/compose/", views.ticket_compose_view, name="compose"),
    path("tickets/<int:number>/take/", views.ticket_take_view, name="take"),
    path("tickets/<int:number>/assign/", views.ticket_assign_view, name="assign"),
    path("tickets/<int:number>/update/", views.ticket_update_view, name="update"),
    path("tickets/<int:number>/status/", views.ticket_status_view, name="status"),
    path("tickets/<int:number>/merge/", views.ticket_merge_view, name="merge"),
    path("tickets/<int:number>/snooze/", views.ticket_snooze_view, name="snooze"),
    path("tickets/<int:number>/macro/", views.ticket_macro_view, name="macro"),
    path(
        "tickets/<int:number>/attachments/<int:attachment_id>/",
        views.attachment_download_view,
        name="attachment",
    ),
    path(
        "tickets/<int:number>/attachments/<int:attachment_id>/inline/",
        mail_views.attachment_inline_view,
        name="attachment_inline",
    ),
    path("tickets/<int:number>/presence/", views.ticket_presence_view, name="presence"),
    path(
        "tickets/<int:number>/canned/<int:canned_id>/",
        views.ticket_canned_view,
        name="canned",
    ),
]
