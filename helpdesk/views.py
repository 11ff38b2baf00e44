from django import forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpResponse

from .services import audit_record, login_reserve_attempt, login_succeeded


class ThrottledAuthenticationForm(AuthenticationForm):
    """Refuse to check a password once the handle has used up its attempts."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if username and not login_reserve_attempt(username=username):
            audit_record(action="login_locked", request=self.request, object_repr=username)
            raise forms.ValidationError(
                "Too many failed attempts. Try again in 15 minutes.", code="locked"
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            audit_record(action="login_failed", request=self.request, object_repr=username)
            raise
        return cleaned


class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        login_succeeded(username=form.get_user().get_username())
        audit_record(
            action="login",
            actor=form.get_user(),
            request=self.request,
            object_repr=form.get_user().get_username(),
        )
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if any(e.code == "locked" for e in form.non_field_errors().as_data()):
            response.status_code = 429
        return response
