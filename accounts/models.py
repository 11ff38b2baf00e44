"""The customers: accounts, contacts, revenue, surveys, and derived metrics."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from helpdesk.models import TimestampedModel


class Lifecycle(models.TextChoices):
    TRIAL = "trial", "Trial"
    ONBOARDING = "onboarding", "Onboarding"
    ACTIVE = "active", "Active"
    AT_RISK = "at_risk", "At risk"
    CHURNED = "churned", "Churned"


class HealthBand(models.TextChoices):
    GREEN = "green", "Green"
    YELLOW = "yellow", "Yellow"
    RED = "red", "Red"


class Account(TimestampedModel):
    name = models.CharField(max_length=200, db_index=True)
    success_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="managed_accounts",
        limit_choices_to={"role": "success"},
    )
    plan = models.CharField(max_length=64, blank=True, db_index=True)
    # Denormalised from RevenueEvent (sum of mrr_delta); metrics recompute it from the source.
    mrr = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    lifecycle = models.CharField(
        max_length=16, choices=Lifecycle.choices, default=Lifecycle.ACTIVE, db_index=True
    )
    customer_since = models.DateField(null=True, blank=True)
    renewal_date = models.DateField(null=True, blank=True, db_index=True)
    churned_at = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    # Outbox for metric recompute: set in the same transaction as the change (invariant 3).
    metrics_dirty_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(
                fields=["metrics_dirty_at"],
                name="accounts_account_dirty_idx",
                condition=models.Q(metrics_dirty_at__isnull=False),
            ),
            models.Index(fields=["success_manager", "name"], name="accounts_account_csm_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("accounts:detail", args=[self.pk])


class AccountDomain(models.Model):
    """An e-mail domain that identifies the account's contacts (lower case)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(Lower("domain"), name="accounts_accountdomain_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args: object, **kwargs: object) -> None:
        self.domain = self.domain.strip().lower()
        super().save(*args, **kwargs)


class Contact(TimestampedModel):
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    account = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="contacts"
    )
    phone = models.CharField(max_length=50, blank=True)
    last_nps_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_contact_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else ""


class RevenueKind(models.TextChoices):
    NEW = "new", "New"
    EXPANSION = "expansion", "Expansion"
    CONTRACTION = "contraction", "Contraction"
    CHURN = "churn", "Churn"
    REACTIVATION = "reactivation", "Reactivation"


class RevenueEvent(TimestampedModel):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="revenue_events")
    kind = models.CharField(max_length=16, choices=RevenueKind.choices)
    mrr_delta = models.DecimalField(max_digits=12, decimal_places=2)
    occurred_on = models.DateField()
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["occurred_on", "id"]
        indexes = [
            models.Index(fields=["account", "occurred_on"], name="accounts_revenue_acct_day_idx")
        ]
        constraints = [
            # Growth events add MRR; shrinking ones remove it.
            models.CheckConstraint(
                condition=(
                    models.Q(kind__in=["new", "expansion", "reactivation"], mrr_delta__gt=0)
                    | models.Q(kind__in=["contraction", "churn"], mrr_delta__lt=0)
                ),
                name="accounts_revenueevent_sign_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.kind} {self.mrr_delta} on {self.occurred_on}"


class SurveyKind(models.TextChoices):
    CSAT = "csat", "CSAT (1-5)"
    CES = "ces", "CES (1-7)"
    NPS = "nps", "NPS (0-10)"


SCORE_RANGE = {"csat": (1, 5), "ces": (1, 7), "nps": (0, 10)}


class SurveySource(models.TextChoices):
    LINK = "link", "Survey link"
    IMPORT = "import", "Imported"
    API = "api", "API"


class SurveyInvitation(TimestampedModel):
    """A sent survey link; the signed token names this row and is single use."""

    kind = models.CharField(max_length=8, choices=SurveyKind.choices)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    ticket = models.ForeignKey(
        "inbox.Ticket", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "kind"],
                condition=models.Q(ticket__isnull=False),
                name="accounts_surveyinvitation_one_per_ticket_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} invitation for {self.contact}"


class SurveyResponse(TimestampedModel):
    kind = models.CharField(max_length=8, choices=SurveyKind.choices)
    score = models.SmallIntegerField()
    comment = models.TextField(blank=True)
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="survey_responses"
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="survey_responses"
    )
    ticket = models.ForeignKey(
        "inbox.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="survey_responses",
    )
    responded_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=SurveySource.choices, default="link")
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-responded_at"]
        indexes = [
            models.Index(
                fields=["account", "kind", "responded_at"], name="accounts_survey_acct_kind_idx"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="csat", score__gte=1, score__lte=5)
                    | models.Q(kind="ces", score__gte=1, score__lte=7)
                    | models.Q(kind="nps", score__gte=0, score__lte=10)
                ),
                name="accounts_surveyresponse_score_in_range",
            ),
            models.UniqueConstraint(
                fields=["ticket", "kind"],
                condition=models.Q(ticket__isnull=False),
                name="accounts_surveyresponse_one_per_ticket_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}={self.score}"


class MetricValues(models.Model):
    """The metric columns shared by the live row and the daily snapshot (null = no input)."""

    tickets_created = models.IntegerField(null=True, blank=True)
    first_response_seconds_median = models.FloatField(null=True, blank=True)
    first_response_seconds_p90 = models.FloatField(null=True, blank=True)
    first_response_business_seconds_median = models.FloatField(null=True, blank=True)
    resolution_seconds_median = models.FloatField(null=True, blank=True)
    resolution_rate = models.FloatField(null=True, blank=True)
    first_contact_resolution_rate = models.FloatField(null=True, blank=True)
    backlog = models.IntegerField(null=True, blank=True)
    csat_percent = models.FloatField(null=True, blank=True)
    ces_average = models.FloatField(null=True, blank=True)
    nps = models.FloatField(null=True, blank=True)
    mrr = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    net_revenue_retention = models.FloatField(null=True, blank=True)
    gross_revenue_retention = models.FloatField(null=True, blank=True)
    expansion_mrr_12m = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    upsell_rate = models.FloatField(null=True, blank=True)
    churned = models.BooleanField(null=True, blank=True)
    lifetime_revenue = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    clv = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    health_score = models.FloatField(null=True, blank=True)
    health_band = models.CharField(max_length=8, choices=HealthBand.choices, blank=True)
    health_components = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class AccountMetrics(MetricValues):
    """The current metrics of one account (derived data: rebuildable from raw tables)."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="metrics")

    class Meta:
        verbose_name_plural = "account metrics"
        indexes = [models.Index(fields=["health_score"], name="accounts_metrics_health_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(health_score__isnull=True)
                | models.Q(health_score__gte=0, health_score__lte=100),
                name="accounts_accountmetrics_health_range",
            )
        ]

    def __str__(self) -> str:
        return f"Metrics of {self.account}"


class MetricSnapshot(MetricValues):
    """The metrics of one account as they stood at the end of a day (for trends)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="snapshots")
    date = models.DateField()

    class Meta:
        ordering = ["account", "date"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "date"], name="accounts_metricsnapshot_one_per_day"
            ),
            models.CheckConstraint(
                condition=models.Q(health_score__isnull=True)
                | models.Q(health_score__gte=0, health_score__lte=100),
                name="accounts_metricsnapshot_health_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} on {self.date}"


class HealthBandChange(models.Model):
    """A move between health bands (into red alerts the success manager; recovery too)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="band_changes")
    from_band = models.CharField(max_length=8, choices=HealthBand.choices, blank=True)
    to_band = models.CharField(max_length=8, choices=HealthBand.choices, blank=True)
    score = models.FloatField(null=True, blank=True)
    components = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-created_at"], name="accounts_bandchange_acct_idx")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.from_band or '-'} -> {self.to_band or '-'}"

    @property
    def is_recovery(self) -> bool:
        return self.from_band == HealthBand.RED and self.to_band != HealthBand.RED


class HealthScoreConfig(models.Model):
    """Health-score weights and band thresholds (a single row, edited in admin)."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    weight_csat = models.FloatField(default=2)
    weight_nps = models.FloatField(default=2)
    weight_ces = models.FloatField(default=1)
    weight_first_response = models.FloatField(default=2)
    weight_backlog = models.FloatField(default=1)
    weight_escalations = models.FloatField(default=2)
    weight_nrr = models.FloatField(default=2)
    green_min = models.FloatField(default=70)
    yellow_min = models.FloatField(default=40)

    class Meta:
        verbose_name = "health-score weights"
        verbose_name_plural = "health-score weights"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(singleton=True), name="accounts_healthscoreconfig_singleton"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    weight_csat__gte=0,
                    weight_nps__gte=0,
                    weight_ces__gte=0,
                    weight_first_response__gte=0,
                    weight_backlog__gte=0,
                    weight_escalations__gte=0,
                    weight_nrr__gte=0,
                ),
                name="accounts_healthscoreconfig_weights_nonnegative",
            ),
            models.CheckConstraint(
                condition=models.Q(yellow_min__gte=0)
                & models.Q(yellow_min__lt=models.F("green_min"))
                & models.Q(green_min__lte=100),
                name="accounts_healthscoreconfig_bands_ordered",
            ),
        ]

    def __str__(self) -> str:
        return "Health-score weights"

    @classmethod
    def load(cls) -> HealthScoreConfig:
        config, _ = cls.objects.get_or_create(singleton=True)
        return config

    def weights(self) -> dict[str, float]:
        return {
            "csat": self.weight_csat,
            "nps": self.weight_nps,
            "ces": self.weight_ces,
            "first_response": self.weight_first_response,
            "backlog": self.weight_backlog,
            "escalations": self.weight_escalations,
            "nrr": self.weight_nrr,
        }


class SurveySettings(models.Model):
    """When surveys go out (a single row, edited in admin)."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    csat_on_solve = models.BooleanField(default=True)
    ces_on_solve = models.BooleanField(default=False)
    nps_enabled = models.BooleanField(default=True)
    nps_interval_days = models.PositiveIntegerField(
        default=90, help_text="No contact gets an NPS survey more often than this."
    )
    token_valid_days = models.PositiveIntegerField(default=30)

    class Meta:
        verbose_name = "survey settings"
        verbose_name_plural = "survey settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(singleton=True), name="accounts_surveysettings_singleton"
            ),
        ]

    def __str__(self) -> str:
        return "Survey settings"

    @classmethod
    def load(cls) -> SurveySettings:
        config, _ = cls.objects.get_or_create(singleton=True)
        return config
