"""The organisation running support: people, teams, schedules, SLA, mailboxes."""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

HANDLE_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
handle_validator = RegexValidator(
    HANDLE_RE, "A handle is letters, digits, '_', '.', '-', starting with a letter or digit."
)


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Role(models.TextChoices):
    AGENT = "agent", "Support agent"
    SUCCESS = "success", "Success manager"
    ADMIN = "admin", "Admin"


class User(AbstractUser):
    """A staff member. `username` is the @handle used in mentions."""

    username = models.CharField("handle", max_length=63, unique=True, validators=[handle_validator])
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    is_available = models.BooleanField(
        default=True, help_text="Unavailable agents are skipped by auto-assignment."
    )
    signature = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")

    objects = UserManager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(Lower("username"), name="helpdesk_user_handle_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(role__in=["agent", "success", "admin"]),
                name="helpdesk_user_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def clean(self) -> None:
        super().clean()
        if self.username and Team.objects.filter(handle__iexact=self.username).exists():
            raise ValidationError({"username": "A team already uses this handle."})

    def get_session_auth_hash(self) -> str:
        """Tie sessions to the role too: a role change signs the user out everywhere."""
        from django.utils.crypto import salted_hmac

        return salted_hmac(
            "helpdesk.User.get_session_auth_hash",
            f"{self.password}|{self.role}",
            algorithm="sha256",
        ).hexdigest()

    @property
    def is_agent(self) -> bool:
        return self.role == Role.AGENT

    @property
    def is_success_manager(self) -> bool:
        return self.role == Role.SUCCESS

    @property
    def is_admin_role(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser


class BusinessHours(models.Model):
    """A weekly schedule in one time zone, with holidays."""

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC")

    class Meta:
        verbose_name_plural = "business hours"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError({"time_zone": "Unknown time zone."}) from exc


class BusinessHoursInterval(models.Model):
    """An opening interval on one weekday (0 = Monday), local time."""

    business_hours = models.ForeignKey(
        BusinessHours, on_delete=models.CASCADE, related_name="intervals"
    )
    weekday = models.PositiveSmallIntegerField(
        choices=[
            (0, "Monday"),
            (1, "Tuesday"),
            (2, "Wednesday"),
            (3, "Thursday"),
            (4, "Friday"),
            (5, "Saturday"),
            (6, "Sunday"),
        ]
    )
    opens_at = models.TimeField()
    closes_at = models.TimeField()

    class Meta:
        ordering = ["weekday", "opens_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weekday__gte=0, weekday__lte=6),
                name="helpdesk_bhinterval_weekday_range",
            ),
            models.CheckConstraint(
                condition=models.Q(opens_at__lt=models.F("closes_at")),
                name="helpdesk_bhinterval_opens_before_closes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}-{self.closes_at:%H:%M}"


class Holiday(models.Model):
    business_hours = models.ForeignKey(
        BusinessHours, on_delete=models.CASCADE, related_name="holidays"
    )
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["business_hours", "date"], name="helpdesk_holiday_unique_date"
            )
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class SLAPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    business_hours = models.ForeignKey(
        BusinessHours,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text="Targets count in these hours; empty means calendar time.",
    )

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class SLATarget(models.Model):
    """Targets in minutes for one priority; an empty target is not tracked."""

    policy = models.ForeignKey(SLAPolicy, on_delete=models.CASCADE, related_name="targets")
    priority = models.CharField(max_length=16, choices=Priority.choices)
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["policy", "priority"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "priority"], name="helpdesk_slatarget_one_per_priority"
            )
        ]

    def __str__(self) -> str:
        return f"{self.policy} / {self.priority}"


class TeamKind(models.TextChoices):
    SUPPORT = "support", "Support"
    SUCCESS = "success", "Success"


class AutoAssign(models.TextChoices):
    OFF = "off", "Off"
    ROUND_ROBIN = "round_robin", "Round robin"
    LOAD_BALANCED = "load_balanced", "Load balanced (fewest open)"


class Team(TimestampedModel):
    name = models.CharField(max_length=100, unique=True)
    handle = models.CharField(
        max_length=63,
        unique=True,
        validators=[handle_validator],
        help_text="Used in @mentions; must not clash with a user's handle.",
    )
    kind = models.CharField(max_length=16, choices=TeamKind.choices, default=TeamKind.SUPPORT)
    members = models.ManyToManyField(User, through="Membership", related_name="teams")
    sla_policy = models.ForeignKey(SLAPolicy, on_delete=models.SET_NULL, null=True, blank=True)
    business_hours = models.ForeignKey(
        BusinessHours, on_delete=models.SET_NULL, null=True, blank=True
    )
    auto_assign = models.CharField(
        max_length=16, choices=AutoAssign.choices, default=AutoAssign.OFF
    )
    # Round-robin cursor: the member who got the last ticket.
    last_assigned_user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("handle"), name="helpdesk_team_handle_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.handle and User.objects.filter(username__iexact=self.handle).exists():
            raise ValidationError({"handle": "A user already uses this handle."})


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    is_lead = models.BooleanField(default=False)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="helpdesk_membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class CannedResponse(TimestampedModel):
    """A saved reply; `{{ requester.first_name }}`-style placeholders are filled in."""

    title = models.CharField(max_length=200)
    body = models.TextField()
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, null=True, blank=True, help_text="Empty: everyone."
    )
    owner = models.ForeignKey(
        User, on_delete=models.CASCADE, null=True, blank=True, help_text="Set: personal."
    )

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Macro(TimestampedModel):
    """One click: an optional canned reply plus field changes."""

    name = models.CharField(max_length=200)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True)
    canned_response = models.ForeignKey(
        CannedResponse, on_delete=models.SET_NULL, null=True, blank=True
    )
    set_status = models.CharField(max_length=16, blank=True)
    set_priority = models.CharField(max_length=16, choices=Priority.choices, blank=True)
    set_team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    add_tags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Mailbox(TimestampedModel):
    """An address customers write to, polled over IMAP, replies sent from it."""

    name = models.CharField(max_length=100)
    email = models.EmailField(unique=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="mailboxes")
    is_active = models.BooleanField(default=True)
    imap_host = models.CharField(max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(default=993)
    imap_user = models.CharField(max_length=255, blank=True)
    imap_password = models.CharField(max_length=255, blank=True)
    imap_folder = models.CharField(max_length=255, default="INBOX")
    imap_use_tls = models.BooleanField(default=True)
    auto_acknowledge = models.BooleanField(default=False)
    acknowledge_template = models.TextField(
        blank=True,
        default="We received your request and will get back to you shortly.",
    )
    # IMAP bookkeeping: a UIDVALIDITY change means the server renumbered the folder.
    imap_uidvalidity = models.BigIntegerField(null=True, blank=True, editable=False)
    imap_last_uid = models.BigIntegerField(default=0, editable=False)
    last_polled_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_poll_error = models.TextField(blank=True, editable=False)

    class Meta:
        verbose_name_plural = "mailboxes"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class AuditLog(models.Model):
    """Security audit trail (logins, role and team changes, tokens): append-only."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_repr}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("Audit rows are immutable.")
        super().save(*args, **kwargs)
