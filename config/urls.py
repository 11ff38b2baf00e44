from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.views_html import token_list_view, token_revoke_view
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
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("settings/tokens/", token_list_view, name="api-tokens"),
    path("settings/tokens/<int:token_id>/revoke/", token_revoke_view, name="api-token-revoke"),
]
