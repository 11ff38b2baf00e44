from django.urls import path

from . import views

app_name = "notes"

urlpatterns = [
    path("notifications/", views.notification_list_view, name="notifications"),
    path(
        "notifications/<int:notification_id>/read/",
        views.notification_read_view,
        name="notification_read",
    ),
    path("notifications/read-all/", views.notification_read_all_view, name="notification_read_all"),
    path(
        "notifications/preferences/",
        views.notification_preferences_view,
        name="notification_preferences",
    ),
    path("mentions/autocomplete/", views.mention_autocomplete_view, name="mention_autocomplete"),
    path("tickets/<int:number>/handoffs/", views.handoff_create_view, name="handoff_create"),
    path("tickets/<int:number>/follow/", views.follow_view, name="follow"),
    path("tickets/<int:number>/unfollow/", views.unfollow_view, name="unfollow"),
    path(
        "handoffs/<int:handoff_id>/<str:action>/",
        views.handoff_action_view,
        name="handoff_action",
    ),
    path("notes/<int:note_id>/edit/", views.note_edit_view, name="note_edit"),
    path("notes/<int:note_id>/pin/", views.note_pin_view, name="note_pin"),
    path("notes/<int:note_id>/unpin/", views.note_unpin_view, name="note_unpin"),
]
