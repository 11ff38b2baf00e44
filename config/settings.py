"""Tandem settings, driven by environment variables (django-environ).

Embedded default: no variables at all gives SQLite, eager Celery and a local-memory cache.
Production: set DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS and DEBUG=0.
"""

from pathlib import Path

import environ

from .beat import BEAT_SCHEDULE

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env(
    "SECRET_KEY",
    default="insecure-dev-key-only-for-the-embedded-demo-change-me-0123456789abcdefghijkl",
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "helpdesk",
    "accounts",
    "inbox",
    "notes",
    "automations",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notes.context_processors.notifications",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
if IS_POSTGRES:
    # Lets helpdesk.prepared keep the navigation counts as prepared statements (planned once
    # per connection). Django's own queries are bound client-side and never prepared, so
    # this changes nothing else. Off (None) for a pooler that cannot keep them.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        5 if env.bool("DB_PREPARED_STATEMENTS", default=True) else None
    )
if not IS_POSTGRES:
    # SQLite: wait for the writer instead of failing at once (demo server + eager tasks).
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # SQLite builds the ticket indexes without their INCLUDE columns (PostgreSQL only).
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "helpdesk.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Redis: Celery broker and cache; unset means the embedded default -------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "helpdesk.cache.ReusedClientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="tandem"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360
# A task is redelivered after this long unacknowledged: longer than any task runs and any
# countdown we use (nightly recompute chunks are well under an hour).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3 * 3600}
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "mail.*": {"queue": "mail"},
    "notes.*": {"queue": "notifications"},
    "accounts.*": {"queue": "metrics"},
}
CELERY_TASK_QUEUES_ALL = ["default", "mail", "notifications", "metrics"]

# --- E-mail --------------------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    default=(
        "django.core.mail.backends.console.EmailBackend"
        if DEBUG
        else "django.core.mail.backends.smtp.EmailBackend"
    ),
)
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="support@tandem.example")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
EMAIL_MESSAGE_ID_DOMAIN = env("EMAIL_MESSAGE_ID_DOMAIN", default="tandem.example")
# Inbound mail: bigger raw mail is kept but not parsed (a flagged ticket says so).
EMAIL_MAX_MESSAGE_BYTES = env.int("EMAIL_MAX_MESSAGE_BYTES", default=50 * 1024 * 1024)
# A sender opening more tickets than this per window is an autoresponder gone wild: later
# mail joins their newest ticket instead (RFC 3834 loops; nothing is dropped).
EMAIL_SENDER_TICKET_LIMIT = env.int("EMAIL_SENDER_TICKET_LIMIT", default=20)
# Threads (each with its own database connection) that process one fetched batch of mail:
# the database's half of one mail overlaps the Python half of the next.
EMAIL_INGEST_WORKERS = env.int("EMAIL_INGEST_WORKERS", default=2)
EMAIL_SENDER_TICKET_WINDOW_SECONDS = env.int("EMAIL_SENDER_TICKET_WINDOW_SECONDS", default=3600)
# At most one auto-acknowledgement per address per window (RFC 3834 section 2).
EMAIL_ACK_WINDOW_SECONDS = env.int("EMAIL_ACK_WINDOW_SECONDS", default=24 * 3600)
# authserv-ids of our own MTA in Authentication-Results (RFC 8601). When set, a mail
# without an aligned DMARC/DKIM pass cannot join a ticket by its [#n] subject token.
EMAIL_TRUSTED_AUTHSERV_IDS = env.list("EMAIL_TRUSTED_AUTHSERV_IDS", default=[])
# Key for the per-mailbox tokens of the HTTP inbound hook; empty means SECRET_KEY.
INBOUND_MAIL_SECRET = env("INBOUND_MAIL_SECRET", default="")
# PEM file of the CA (or self-signed certificate) the IMAP poller trusts instead of the
# system store, for mail servers with a private CA; TLS is verified either way.
IMAP_CA_FILE = env("IMAP_CA_FILE", default="")

# --- Security (secure unless DEBUG) ----------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- REST API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes unauthenticated calls 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.CreatedCursorPagination",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.TandemAutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
    "PAGE_SIZE": 50,
}
# Per token (or per user for the browser session), counted in the cache (Redis when set).
API_THROTTLE_RATE = env("API_THROTTLE_RATE", default="1200/minute")
SPECTACULAR_SETTINGS = {
    "TITLE": "Tandem API",
    "DESCRIPTION": (
        "Shared-inbox help desk for support agents and success managers.\n\n"
        "**Auth**: `Authorization: Token <key>` (create keys at `/settings/tokens/`) or the "
        "browser session with its CSRF token. **Lists** are cursor-paginated (`next`, "
        "`previous`; `page_size` up to 200); unknown query parameters answer 400. "
        "**Errors**: 400 with field errors, 401/403, 404 for anything you may not see, 409 "
        "for a lost race or a state that no longer allows the change, 422 for an "
        "`Idempotency-Key` reused with another body, 429 when throttled (per token). "
        "**Webhooks** (configured in admin) POST JSON with `X-Tandem-Event`, "
        "`X-Tandem-Timestamp` and `X-Tandem-Signature: sha256=<hex>`, the HMAC-SHA256 with "
        "the webhook secret over `<timestamp>.<raw body>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "TicketStatusEnum": "inbox.models.Status",
        "MessageDeliveryStatusEnum": "inbox.models.DeliveryStatus",
        "HandoffKindEnum": "notes.models.HandoffKind",
        "HandoffStatusEnum": "notes.models.HandoffStatus",
        "NotificationKindEnum": "notes.models.NotificationKind",
        "RevenueKindEnum": "accounts.models.RevenueKind",
        "SurveyKindEnum": "accounts.models.SurveyKind",
    },
}
# Outbound webhooks: attempts before a delivery is marked failed, and the backoff base
# (attempt n waits base * 2**(n-1) seconds).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)

# --- Tandem domain settings ---------------------------------------------------------------
METRICS_WINDOW_DAYS = env.int("METRICS_WINDOW_DAYS", default=90)
GROSS_MARGIN = env.float("GROSS_MARGIN", default=0.8)
HEALTH_FRT_TARGET_SECONDS = env.int("HEALTH_FRT_TARGET_SECONDS", default=14400)
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=25 * 1024 * 1024)
NOTE_EDIT_WINDOW_MINUTES = env.int("NOTE_EDIT_WINDOW_MINUTES", default=15)
# A user's pending digest notifications are mailed together once the oldest is this old.
NOTIFICATION_DIGEST_MINUTES = env.int("NOTIFICATION_DIGEST_MINUTES", default=5)
# Staff notification mail comes from a no-reply address, so a reply never lands in a customer
# mailbox as a new ticket (quoting internal text).
NOTIFICATION_FROM_EMAIL = env("NOTIFICATION_FROM_EMAIL", default="Tandem <no-reply@tandem.example>")
# A handoff still pending after this long notifies the receiving team's lead (once).
HANDOFF_OVERDUE_HOURS = env.int("HANDOFF_OVERDUE_HOURS", default=4)
# The SLA sweep warns the assignee once per clock when it is due within this many minutes
# (0 turns the warning off).
SLA_WARNING_MINUTES = env.int("SLA_WARNING_MINUTES", default=30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # Eager tasks run inline: one "Task ... succeeded" line each buried the demo's logins.
    "loggers": {"celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"}},
}
