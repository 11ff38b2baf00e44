from django.urls import path

from . import views

app_name = "automations"

urlpatterns = [path("automations/", views.rule_list_view, name="list")]
