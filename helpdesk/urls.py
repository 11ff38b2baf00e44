from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "helpdesk"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
