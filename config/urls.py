from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from inbox.email.views import inbound_mail_view

urlpatterns = [
    path("", RedirectView.as_view(url="/inbox/", permanent=False), name="home"),
    path("admin/", admin.site.urls),
    path("mail/inbound/<int:mailbox_id>/", inbound_mail_view, name="mail-inbound"),
    path("", include("helpdesk.urls")),
    path("", include("inbox.urls")),
    path("", include("accounts.urls")),
    path("", include("automations.urls")),
    path("", include("notes.urls")),
]
