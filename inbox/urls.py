from django.urls import path

from . import views

app_name = "inbox"

urlpatterns = [
    path("inbox/", views.inbox_list_view, name="list"),
    path("tickets/<int:number>/", views.ticket_detail_view, name="ticket"),
]
