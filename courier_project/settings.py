"""Settings for service-courier. Everything comes from the environment (see .env.example)."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from courier_project.env import StrictEnv

BASE_DIR = Path(__file__).resolve().parent.parent
env = StrictEnv()

# --- Core -------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (set DEBUG=true for local work)")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"
# The loopback names are always accepted: the container's health check asks http://127.0.0.1:$PORT/healthz
# from inside the container, whatever public names ALLOWED_HOSTS lists (a loopback Host header cannot be
# used to poison links, so accepting it costs nothing).
_LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = list(dict.fromkeys([*env.list("ALLOWED_HOSTS", default=_LOOPBACK_HOSTS), *_LOOPBACK_HOSTS]))
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
for _origin in CSRF_TRUSTED_ORIGINS:
    if "://" not in _origin:
        raise ImproperlyConfigured(
            f"Environment variable CSRF_TRUSTED_ORIGINS={_origin!r} is malformed: "
            "each origin needs its scheme, e.g. https://courier.example.com"
        )
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "gateway",
    "couriers",
    "sandbox",
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

ROOT_URLCONF = "courier_project.urls"
WSGI_APPLICATION = "courier_project.wsgi.application"

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
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASES = {"default": env.database("DATABASE_URL", default="sqlite:///db.sqlite3")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of deadlocking.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.non_negative_int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # A process's threads share this many connections, each taken for a transaction and given back after it
    # (the consumer's threads mostly wait on service-order). 0: one persistent connection per thread.
    DB_POOL_MAX_SIZE = env.non_negative_int("DB_POOL_MAX_SIZE", default=4)
    if DB_POOL_MAX_SIZE:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool replaces persistent connections
        DATABASES["default"]["OPTIONS"] = {
            **DATABASES["default"].get("OPTIONS", {}),
            "pool": {"min_size": 1, "max_size": DB_POOL_MAX_SIZE},
        }

# --- Static files and security ----------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Behind a TLS-terminating proxy: SECURE_PROXY_SSL=true trusts its X-Forwarded-Proto (only ever behind a proxy
# that sets it), SECURE_SSL_REDIRECT=true sends plain-HTTP requests to HTTPS. The probes (/healthz, /readyz) and
# /metrics are exempt: the container, the orchestrator and Prometheus ask for them over plain HTTP from inside.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)/?$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("SECURE_PROXY_SSL", default=False) else None
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.non_negative_int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)

# --- API --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_THROTTLE_RATE", default="6000/min")},
    "EXCEPTION_HANDLER": "couriers.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "couriers.api.pagination.Pagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "service-courier API",
    "DESCRIPTION": "Couriers and deliveries of the food-delivery platform.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Kafka ------------------------------------------------------------------
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="localhost:9092")
KAFKA_TOPIC = env.str("KAFKA_TOPIC", default="order.status.changed")
KAFKA_GROUP_ID = env.str("KAFKA_GROUP_ID", default="service-courier")
KAFKA_DLQ_TOPIC = env.str("KAFKA_DLQ_TOPIC", default="order.status.changed.dlq")
KAFKA_SESSION_TIMEOUT_MS = env.positive_int("KAFKA_SESSION_TIMEOUT_MS", default=45000)
KAFKA_MAX_POLL_INTERVAL_MS = env.positive_int("KAFKA_MAX_POLL_INTERVAL_MS", default=300000)
KAFKA_MAX_EVENT_BYTES = env.positive_int("KAFKA_MAX_EVENT_BYTES", default=65536)
CONSUMER_BATCH_SIZE = env.positive_int("CONSUMER_BATCH_SIZE", default=500)
CONSUMER_CONCURRENCY = env.positive_int("CONSUMER_CONCURRENCY", default=16)
CONSUMER_BACKOFF_INITIAL = env.positive_float("CONSUMER_BACKOFF_INITIAL", default=1.0)
CONSUMER_BACKOFF_MAX = env.positive_float("CONSUMER_BACKOFF_MAX", default=60.0)
CONSUMER_CLOSE_TIMEOUT = env.positive_float("CONSUMER_CLOSE_TIMEOUT", default=10.0)
CONSUMER_LIVENESS_FILE = env.str("CONSUMER_LIVENESS_FILE", default="")

# --- service-order (gateway) ------------------------------------------------
ORDER_SERVICE_URL = env.http_url("ORDER_SERVICE_URL", default="http://localhost:8083")
ORDER_SERVICE_PATH = env.str("ORDER_SERVICE_PATH", default="/public/api/v1/order/{order_id}")
if "{order_id}" not in ORDER_SERVICE_PATH:
    raise ImproperlyConfigured("ORDER_SERVICE_PATH must contain {order_id}")
ORDER_SERVICE_TOKEN = env.str("ORDER_SERVICE_TOKEN", default="")
ORDER_SERVICE_CONNECT_TIMEOUT = env.positive_float("ORDER_SERVICE_CONNECT_TIMEOUT", default=2.0)
ORDER_SERVICE_READ_TIMEOUT = env.positive_float("ORDER_SERVICE_READ_TIMEOUT", default=5.0)
ORDER_SERVICE_RETRIES = env.non_negative_int("ORDER_SERVICE_RETRIES", default=3)
ORDER_SERVICE_BACKOFF_BASE = env.non_negative_float("ORDER_SERVICE_BACKOFF_BASE", default=0.2)
ORDER_SERVICE_BACKOFF_MAX = env.non_negative_float("ORDER_SERVICE_BACKOFF_MAX", default=5.0)
ORDER_SERVICE_POOL_SIZE = env.positive_int("ORDER_SERVICE_POOL_SIZE", default=32)

# --- Dispatch ---------------------------------------------------------------
DELIVERY_MINUTES = {
    "on_foot": env.positive_int("DELIVERY_MINUTES_ON_FOOT", default=30),
    "scooter": env.positive_int("DELIVERY_MINUTES_SCOOTER", default=15),
    "car": env.positive_int("DELIVERY_MINUTES_CAR", default=5),
}
RECONCILE_OLDER_THAN = env.non_negative_int("RECONCILE_OLDER_THAN", default=300)

# --- Logging ----------------------------------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", default="info", choices=("debug", "info", "warning", "error")).upper()
LOG_FORMAT = env.choice("LOG_FORMAT", default="text", choices=("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "courier_project.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"handlers": ["console"], "level": "WARNING", "propagate": False}},
}
