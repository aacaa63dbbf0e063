"""Settings for the supervision product.

Everything comes from environment variables, read through the small typed helpers below, with
defaults that run on a bare machine (SQLite, console email, DEBUG on). `.env.example` documents
every variable; the README has the production values.
"""

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    # Empty counts as unset, as in the helpers below: `PRIVATE_ROOT=` in an env file means the default.
    return os.environ.get(name) or default


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def email_config(url: str) -> dict:
    """Turn EMAIL_URL into Django email settings.

    console:// | locmem:// | file:///path | smtp://user:pass@host:587 | smtp+tls://... | smtp+ssl://...
    """
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme == "locmem":
        return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    if scheme == "file":
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": parts.path,
        }
    if scheme in ("smtp", "smtp+tls", "smtp+ssl"):
        query = parse_qs(parts.query)
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname or "localhost",
            "EMAIL_PORT": parts.port or (465 if scheme == "smtp+ssl" else 587 if scheme == "smtp+tls" else 25),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": scheme == "smtp+tls" or query.get("tls") == ["1"],
            "EMAIL_USE_SSL": scheme == "smtp+ssl",
        }
    raise ImproperlyConfigured(f"EMAIL_URL scheme {scheme!r} is not supported")


# Only for development: the product refuses to start with it when DEBUG is off.
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("DEBUG is off but SECRET_KEY is the development key: set SECRET_KEY.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "guardian",
    "axes",
    # Second factors: authenticator-app codes (TOTP) and single-use recovery codes (docs/decisions.md).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # Passkeys (WebAuthn) as a django-otp device; its URLs are not mounted, ours wrap it (accounts/passkeys.py).
    "django_otp_webauthn",
    "csp",
    "django_celery_beat",
    "accounts",
    "supervision",
    "records",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside everything that may answer early (CSRF failures, lockouts), so those responses get it too.
    "config.middleware.ResponseHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks a session that proved a second factor (request.user.is_verified()).
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.StaffMiddleware",
    # After StaffMiddleware: holds privileged roles to enrolment, and ends half-signed-in sessions.
    "accounts.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as its documentation asks: it turns lockouts raised by the backend into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "records.navigation.navigation",
            ],
            # `day` and `day_time`, the product's way of writing a date, in every template.
            "builtins": ["accounts.templatetags.dates"],
        },
    },
]

# SQLite is the embedded default so the product runs on a bare machine; PostgreSQL in production and CI.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Under `make run` the web server, the worker and beat write to one file: take the write lock at the
    # start of a transaction and wait for it, rather than fail with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, preparing the statements of a person's own rows (`config.prepared`).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
    # An unreachable database fails /healthz in seconds instead of hanging it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # No JIT compilation: our queries answer in milliseconds, and compiling a plan with correlated
    # subqueries (the dashboard's, the leavers') took 0.5-8 s of an 0.4 s query at 12,000 staff (issue 14).
    DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First, so that a locked-out account is refused before its password is checked.
    "axes.backends.AxesStandaloneBackend",
    # Django's password check, refusing leavers from the day after their leaving date.
    "accounts.backends.StaffBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
# Invitation and password-reset links stay valid for three days.
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600

# django-guardian: no anonymous user row, our users have no username.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

# django-axes: lock after 5 failures for the same email from the same address.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 30) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
AXES_IPWARE_PROXY_COUNT = env_int("PROXY_COUNT", 0) or None
AXES_VERBOSE = False

# django-otp: a device accepts one 30-second step either side (clock skew) and never the same code twice.
# Wrong codes count towards django-axes' one lockout (accounts/reauth.py), so django-otp's own
# per-device back-off is off rather than a second, differently-timed lock.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Supervision")
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0

# Microsoft 365 and Google sign-in (accounts/oidc.py): one multi-tenant app registration per installation,
# each organisation naming its own Entra tenant or Workspace domain. A provider without a client ID is off.
# The authorities are settings so that tests (and a sovereign cloud) can point elsewhere.
MICROSOFT_CLIENT_ID = env_str("MICROSOFT_CLIENT_ID")
MICROSOFT_CLIENT_SECRET = env_str("MICROSOFT_CLIENT_SECRET")
MICROSOFT_AUTHORITY = env_str("MICROSOFT_AUTHORITY", "https://login.microsoftonline.com").rstrip("/")
GOOGLE_CLIENT_ID = env_str("GOOGLE_CLIENT_ID")
GOOGLE_CLIENT_SECRET = env_str("GOOGLE_CLIENT_SECRET")
GOOGLE_ISSUER = env_str("GOOGLE_ISSUER", "https://accounts.google.com").rstrip("/")
# Seconds to wait for the provider's discovery document, keys and token endpoint.
OIDC_HTTP_TIMEOUT = env_int("OIDC_HTTP_TIMEOUT", 10)
# Passkeys (django-otp-webauthn). A passkey belongs to one relying party, named by a domain (never an IP
# address: the address http://127.0.0.1 gets no passkeys, http://localhost does), and a browser's answer is
# accepted only from the listed origins. Changing WEBAUTHN_RP_ID later strands every registered passkey.
_site_host = urlsplit(SITE_URL).hostname or "localhost"
_site_is_ip = bool(re.fullmatch(r"[0-9.]+|\[?[0-9a-fA-F:]+\]?", _site_host))
OTP_WEBAUTHN_RP_ID = env_str("WEBAUTHN_RP_ID", "localhost" if _site_is_ip else _site_host)
OTP_WEBAUTHN_RP_NAME = env_str("WEBAUTHN_RP_NAME", "Supervision")
OTP_WEBAUTHN_ALLOWED_ORIGINS = env_list("WEBAUTHN_ORIGINS", ["http://localhost:8000"] if _site_is_ip else [SITE_URL])
# A passkey is a second factor after the password here, never a way in on its own.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_HELPER_CLASS = "accounts.passkeys.PasskeyHelper"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True
# Dates read as "Mon 3 Nov 2025" throughout.
DATE_FORMAT = "D j M Y"
DATETIME_FORMAT = "D j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Front-end packages come from npm (package.json) and are served by whitenoise: no CDN.
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", NODE_MODULES / "bootstrap" / "dist"),
    ("vendor/bootstrap-icons", NODE_MODULES / "bootstrap-icons" / "font"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/chart.js", NODE_MODULES / "chart.js" / "dist"),
    # axe-core, for the accessibility check of every page in the browser tests; no page loads it.
    ("vendor/axe-core", NODE_MODULES / "axe-core"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Private files (signed PDFs, exports) live outside any public URL and are served by checked views.
PRIVATE_ROOT = Path(env_str("PRIVATE_ROOT", str(BASE_DIR / "var" / "private")))

# Signed record PDFs (pyHanko): the organisation's certificate and private key, as PEM files, and the
# key's passphrase if it is encrypted. Empty: a self-signed pair for development and the demo is
# generated once in PRIVATE_ROOT/signing/.
RECORDS_SIGNING_CERT = env_str("RECORDS_SIGNING_CERT", "")
RECORDS_SIGNING_KEY = env_str("RECORDS_SIGNING_KEY", "")
RECORDS_SIGNING_KEY_PASSPHRASE = env_str("RECORDS_SIGNING_KEY_PASSPHRASE", "")
if bool(RECORDS_SIGNING_CERT) != bool(RECORDS_SIGNING_KEY):
    raise ImproperlyConfigured("Set both RECORDS_SIGNING_CERT and RECORDS_SIGNING_KEY, or neither.")

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Email
EMAIL_URL = env_str("EMAIL_URL", "console://")
_email = email_config(EMAIL_URL)
# Every email goes through config.mail (marked Auto-Submitted), which hands it to EMAIL_URL's backend.
EMAIL_DELIVERY_BACKEND = _email.pop("EMAIL_BACKEND")
vars().update(_email)
EMAIL_BACKEND = "config.mail.AutomatedEmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Supervision <supervision@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport so nothing else is needed.
REDIS_URL = env_str("REDIS_URL", "")
CELERY_DATA_DIR = Path(env_str("CELERY_DATA_DIR", str(BASE_DIR / "var" / "celery")))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # Seconds before Redis gives a task that was taken but never acknowledged (its worker died) to
    # another worker. Longer than any task runs; the tests shorten it to see a killed worker recover.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
else:
    # The host part means nothing to this transport; naming one keeps kombu from warning on every connection.
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_RESULT_BACKEND = f"file://{CELERY_DATA_DIR / 'results'}"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "processed_folder": str(CELERY_DATA_DIR / "processed"),
        # Worker remote-control messages; kombu's default is ./control in the working directory.
        "control_folder": str(CELERY_DATA_DIR / "control"),
        "store_processed": False,
    }
# Seconds after its render was queued that a signed PDF (or an addendum's) still missing is queued again by
# the sweep that beat runs every five minutes (records/pdf.py); the worker tests shorten it.
PDF_LATE_AFTER_SECONDS = env_int("PDF_LATE_AFTER_SECONDS", 180)

CELERY_TIMEZONE = TIME_ZONE
# The queue every task goes to and every worker takes from: installations sharing one Redis keep apart.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Celery 5.3+ warns unless this is explicit: keep retrying the broker while it starts (compose, CI).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Tasks a worker process runs before Celery's Django fixup closes its database connections anyway. Set,
# the fixup stops closing them around every task, and `config.celery` applies Django's CONN_MAX_AGE
# (`DATABASE_CONN_MAX_AGE`) and health checks instead, as after a request.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)

# A staff import of more rows than this runs as a background job with a progress bar; smaller ones are
# written while the admin waits. The job writes this many rows a transaction.
STAFF_IMPORT_BACKGROUND_ROWS = env_int("STAFF_IMPORT_BACKGROUND_ROWS", 500)
STAFF_IMPORT_BATCH_ROWS = env_int("STAFF_IMPORT_BATCH_ROWS", 1000)

# Security headers. The Content Security Policy allows no inline script and nothing from elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Container health checks reach /healthz over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Agreements for everyone (supervision/bulk_agreements.py): above this many people the run is a Celery
# job with a progress bar; up to it, it runs while the page waits.
AGREEMENTS_IN_BACKGROUND_OVER = env_int("AGREEMENTS_IN_BACKGROUND_OVER", 200)

# Demo organisation
DEMO_PASSWORD = env_str("DEMO_PASSWORD", "riverside-demo")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}, "weasyprint.progress": {"level": "WARNING"}},
}
