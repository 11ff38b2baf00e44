from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("accounts/", views.account_list_view, name="list"),
    path("accounts/<int:account_id>/", views.account_detail_view, name="detail"),
    path("dashboards/success/", views.success_dashboard_view, name="dashboard_success"),
    path("dashboards/support/", views.support_dashboard_view, name="dashboard_support"),
]
urlpatterns += [
    # Public: customers answer surveys here without logging in (signed single-use token).
    path("s/<str:token>/", views.survey_answer_view, name="survey_answer"),
]
