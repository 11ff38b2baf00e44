"""HTML forms of the inbox: parse and validate input; the services do the work."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from helpdesk.models import Priority, Role, Team, User

from .models import Status
from .services import BULK_ACTIONS

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


class ComposerForm(forms.Form):
    mode = forms.ChoiceField(choices=[("reply", "Reply"), ("note", "Internal note")])
    body = forms.CharField(widget=forms.Textarea, max_length=100_000, strip=True)
    then_status = forms.ChoiceField(
        choices=[("", "Keep status"), *[(s, s) for s in ("open", "pending", "solved")]],
        required=False,
    )
    # When the page was rendered: replies/notes added since then need a confirmation.
    loaded_at = forms.DateTimeField(required=False, widget=forms.HiddenInput)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: object, files_list: list | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.files_list = files_list or []

    def clean(self) -> dict:
        cleaned = super().clean()
        for upload in self.files_list:
            if upload.size > MAX_ATTACHMENT_BYTES:
                raise forms.ValidationError(f"{upload.name} is larger than 20 MB.")
        if cleaned.get("mode") == "note" and self.files_list:
            raise forms.ValidationError("Attachments go with replies, not notes.")
        return cleaned


def _staff_choices() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=User.objects.filter(
            is_active=True, role__in=[Role.AGENT, Role.ADMIN, Role.SUCCESS]
        ),
        required=False,
    )


class TicketPropertiesForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)
    priority = forms.ChoiceField(choices=Priority.choices)
    assignee = _staff_choices()
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    tags = forms.CharField(required=False, max_length=1000)

    def tag_names(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        return [name.strip() for name in raw.split(",") if name.strip()]


class AssignForm(forms.Form):
    assignee = _staff_choices()


class MergeForm(forms.Form):
    target = forms.IntegerField(min_value=1, label="Merge into ticket #")


class SnoozeForm(forms.Form):
    until = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    hours = forms.IntegerField(required=False, min_value=1, max_value=24 * 90)
    wake = forms.BooleanField(required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("wake"):
            cleaned["until"] = None
            return cleaned
        if cleaned.get("hours"):
            cleaned["until"] = timezone.now() + timezone.timedelta(hours=cleaned["hours"])
        if not cleaned.get("until"):
            raise forms.ValidationError("Choose when the ticket comes back.")
        if cleaned["until"] <= timezone.now():
            raise forms.ValidationError("Snooze until a time in the future.")
        return cleaned


class BulkForm(forms.Form):
    tickets = forms.TypedMultipleChoiceField(coerce=int, choices=())
    action = forms.ChoiceField(choices=[(a, a) for a in BULK_ACTIONS])
    value = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # Numbers are checked against visibility in the view; here only their shape.
        data = self.data.getlist("tickets") if hasattr(self.data, "getlist") else []
        self.fields["tickets"].choices = [(n, n) for n in data if str(n).isdigit()]

    def clean(self) -> dict:
        cleaned = super().clean()
        action, value = cleaned.get("action"), (cleaned.get("value") or "").strip()
        if action == "assign":
            if value in ("", "none"):
                cleaned["target"] = None
            else:
                cleaned["target"] = User.objects.filter(pk=_int(value), is_active=True).first()
                if cleaned["target"] is None:
                    self.add_error("value", "Choose an agent.")
        elif action == "team":
            cleaned["target"] = Team.objects.filter(pk=_int(value)).first()
            if cleaned["target"] is None:
                self.add_error("value", "Choose a team.")
        elif action == "status":
            if value not in Status.values:
                self.add_error("value", "Choose a status.")
            cleaned["target"] = value
        elif action == "priority":
            if value not in Priority.values:
                self.add_error("value", "Choose a priority.")
            cleaned["target"] = value
        elif action == "add_tag":
            if not value:
                self.add_error("value", "Type a tag.")
            cleaned["target"] = value
        return cleaned


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=100)
    share_with_team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False)

    def __init__(self, *args: object, user: User, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["share_with_team"].queryset = Team.objects.filter(memberships__user=user)


def _int(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
