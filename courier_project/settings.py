"""Settings for service-courier. Everything comes from the environment (see .env.example)."""

import secrets
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from courier_project.env import StrictEnv, redacted_url, secret_key_is_weak
from courier_project.kafka_security import SASL_MECHANISMS, SECURITY_PROTOCOLS, KafkaSecurity
from gateway.config import grpc_config_error, order_service_config_error, order_service_tls_error

BASE_DIR = Path(__file__).resolve().parent.parent
env = StrictEnv()
# Commands on a developer's machine read .env.local, which `make demo` writes (DEBUG on, a generated key, the
# demo's database); the real environment wins over it. Not .env: docker compose reads that one into the
# containers' DEBUG. Never committed (.gitignore) nor in the image (.dockerignore); containers set it empty.
LOCAL_ENV_FILE = env.read_file("LOCAL_ENV_FILE", default=".env.local", base=BASE_DIR)

# --- Core -------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (for local work: DEBUG=true, or `make demo` once, "
            "which writes both into .env.local)"
        )
    # Local work without a key: a random one for this process (sessions end with it), never a constant that
    # anyone could read here and forge sessions with, should DEBUG ever be on where it must not.
    SECRET_KEY = secrets.token_urlsafe(50)
elif not DEBUG and secret_key_is_weak(SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak for DEBUG off (too short, too few different characters, or a repeated phrase): "
        "use 50 or more random characters, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
# Rotation: the new key in SECRET_KEY, the old one here (comma-separated) until sessions and signed links made with
# it have expired (SESSION_COOKIE_AGE, two weeks), then removed. Signing uses SECRET_KEY; checking tries both.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
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
    "knox",
    "django_filters",
    "drf_spectacular",
    "axes",
    "drf_spectacular_sidecar",
    "gateway",
    "couriers",
    "tokens",
]
# The demo, the benchmark and the simulator (sandbox/) are not in the production image: the app is installed
# only for local work (DEBUG) or where it is asked for (compose's sandbox profile).
SANDBOX_ENABLED = DEBUG or env.bool("SANDBOX_ENABLED", default=False)
if SANDBOX_ENABLED:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "courier_project.middleware.ProbesAnyHostMiddleware",
    "courier_project.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "couriers.middleware.DatabaseOutageMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires: answers a locked-out login with 429
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
    # (the consumer's threads mostly wait on service-order). 0: no pool, a connection per thread.
    DB_POOL_MAX_SIZE = env.non_negative_int("DB_POOL_MAX_SIZE", default=4)
    # A thread waits this long for a pooled connection; past it the database counts as unreachable (a
    # transaction takes milliseconds: a long wait means the server is gone, and outage handling takes over).
    DB_POOL_TIMEOUT = env.positive_float("DB_POOL_TIMEOUT", default=10.0)
    # No statement of ours takes a second; one that runs this long is a runaway (an abusive search, a lock held
    # by a stuck session) and is cancelled rather than left to hold a connection and a core. 0: no limit.
    DB_STATEMENT_TIMEOUT = env.non_negative_float("DB_STATEMENT_TIMEOUT", default=30.0)
    if DB_STATEMENT_TIMEOUT:
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        _timeout = f"-c statement_timeout={int(DB_STATEMENT_TIMEOUT * 1000)}"
        _options["options"] = f"{_options.get('options', '')} {_timeout}".strip()
    if DB_POOL_MAX_SIZE:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool replaces persistent connections
        DATABASES["default"]["OPTIONS"] = {
            **DATABASES["default"].get("OPTIONS", {}),
            "pool": {"min_size": 1, "max_size": DB_POOL_MAX_SIZE, "timeout": DB_POOL_TIMEOUT},
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
# Behind a TLS-terminating proxy: SECURE_PROXY_SSL=true trusts its X-Forwarded-Proto. The proxy must overwrite
# that header on every request, never pass on a client's: otherwise anyone can claim HTTPS. SECURE_SSL_REDIRECT=true
# sends plain-HTTP requests to HTTPS. The probes (/healthz, /readyz) and /metrics are exempt: the container, the
# orchestrator and Prometheus ask for them over plain HTTP from inside.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)/?$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("SECURE_PROXY_SSL", default=False) else None
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.non_negative_int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# The admin, the API docs and the browsable API load nothing from elsewhere and run no inline script (Swagger UI's
# styles are inline, hence style-src; the browsable API's one inline <script> is JSON data, never run).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
CONTENT_SECURITY_POLICY_PATHS = ("/admin/", "/api/")
# /metrics: answered to these networks, or to anyone sending `Authorization: Bearer METRICS_TOKEN`.
METRICS_ALLOWED_NETWORKS = env.networks("METRICS_ALLOWED_NETWORKS", default="127.0.0.0/8,::1/128")
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- API --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tokens.authentication.TokenAuthentication",  # first: its keyword is the 401's challenge
        "tokens.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Anonymous and bad-credential requests are counted by address before their 401 (couriers.api.throttling).
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.rate("API_THROTTLE_RATE", default="6000/min"),
        "anon": env.rate("API_ANON_THROTTLE_RATE", default="60/min"),
        "search": env.rate("API_SEARCH_THROTTLE_RATE", default="60/min"),
    },
    # The client's address: the socket's peer with 0; else the NUM_PROXIES-th address from the end of
    # X-Forwarded-For, which only the trusted proxies in front of us write (anything before it a client can forge).
    "NUM_PROXIES": env.non_negative_int("NUM_PROXIES", default=0),
    "EXCEPTION_HANDLER": "couriers.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "couriers.api.pagination.Pagination",
    "PAGE_SIZE": 50,
}
# API tokens (django-rest-knox): stored as a hash, each with an expiry; `create_token USER` shows a key once.
KNOX_TOKEN_MODEL = "tokens.ApiToken"
# knox's own migrations would make a table for its default model, unused with ours (and in the way of TRUNCATE).
MIGRATION_MODULES = {"knox": None}
API_TOKEN_TTL_DAYS = env.positive_int("API_TOKEN_TTL_DAYS", default=90)
SPECTACULAR_SETTINGS = {
    "TITLE": "service-courier API",
    "DESCRIPTION": "Couriers and deliveries of the food-delivery platform.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the project's own static files (drf-spectacular-sidecar): the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"ErrorCodeEnum": "couriers.api.errors.ERROR_CODES"},
    "TAGS": [
        {"name": "couriers", "description": "The fleet: create, change, pause and delete couriers."},
        {"name": "deliveries", "description": "Who brings which order, and by when."},
        {"name": "dispatch", "description": "A dispatcher's actions on an order's delivery."},
        {"name": "api", "description": "The API's resources."},
        {"name": "health", "description": "Probes for the orchestrator."},
    ],
}
if env.bool("API_DOCS_REQUIRE_AUTH", default=False):
    SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] = ["rest_framework.permissions.IsAuthenticated"]

# --- Cache, login lockout ----------------------------------------------------
# Throttle counters must be shared by every web worker: the database by default (its table is made by a
# migration), Redis with CACHE_URL=redis://HOST:6379/0.
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://courier_cache")}
# Staff passwords: Django's four validators (length 12, not like the user's name, not a common one, not all digits).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# django-axes: after LOGIN_FAILURE_LIMIT wrong passwords for one user name from one address, or from one address
# whatever the names, logins from that address are refused (429) for LOGIN_LOCKOUT_MINUTES. Never by name alone:
# anyone could then lock a dispatcher out from a few addresses of theirs. Attempts are kept in the database, so
# all workers agree.
AXES_FAILURE_LIMIT = env.positive_int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.positive_int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "couriers.api.throttling.client_address"
AXES_VERBOSE = False  # no banner on every manage.py command; failures and lockouts are still logged

# --- Kafka ------------------------------------------------------------------
KAFKA_BOOTSTRAP_SERVERS = env.str("KAFKA_BOOTSTRAP_SERVERS", default="localhost:9092")
KAFKA_TOPIC = env.str("KAFKA_TOPIC", default="order.status.changed")
KAFKA_GROUP_ID = env.str("KAFKA_GROUP_ID", default="service-courier")
KAFKA_DLQ_TOPIC = env.str("KAFKA_DLQ_TOPIC", default="order.status.changed.dlq")
KAFKA_SESSION_TIMEOUT_MS = env.positive_int("KAFKA_SESSION_TIMEOUT_MS", default=45000)
KAFKA_MAX_POLL_INTERVAL_MS = env.positive_int("KAFKA_MAX_POLL_INTERVAL_MS", default=300000)
KAFKA_MAX_EVENT_BYTES = env.positive_int("KAFKA_MAX_EVENT_BYTES", default=65536)
# The broker's message.max.bytes (Kafka's default): what the DLQ cannot take whole is dead-lettered as a record.
KAFKA_DLQ_MESSAGE_MAX_BYTES = env.positive_int("KAFKA_DLQ_MESSAGE_MAX_BYTES", default=1048588)
# classic: the broker-coordinated rebalance of old; consumer: KIP-848, incremental, timed by the broker.
KAFKA_GROUP_PROTOCOL = env.choice("KAFKA_GROUP_PROTOCOL", default="classic", choices=("classic", "consumer"))
if KAFKA_GROUP_PROTOCOL == "consumer" and "KAFKA_SESSION_TIMEOUT_MS" in env.ENVIRON:
    raise ImproperlyConfigured(
        "KAFKA_SESSION_TIMEOUT_MS does not apply with KAFKA_GROUP_PROTOCOL=consumer: the broker sets it "
        "(group.consumer.session.timeout.ms); unset it"
    )
# Authentication and TLS, for every Kafka client the service makes (checked together in kafka_security).
KAFKA_SECURITY = KafkaSecurity(
    protocol=env.choice("KAFKA_SECURITY_PROTOCOL", default="plaintext", choices=SECURITY_PROTOCOLS),
    sasl_mechanism=env.choice("KAFKA_SASL_MECHANISM", default="", choices=SASL_MECHANISMS),
    sasl_username=env.str("KAFKA_SASL_USERNAME", default=""),
    sasl_password=env.str("KAFKA_SASL_PASSWORD", default=""),
    ssl_ca_location=env.str("KAFKA_SSL_CA_LOCATION", default=""),
    ssl_certificate_location=env.str("KAFKA_SSL_CERTIFICATE_LOCATION", default=""),
    ssl_key_location=env.str("KAFKA_SSL_KEY_LOCATION", default=""),
    ssl_key_password=env.str("KAFKA_SSL_KEY_PASSWORD", default=""),
)
CONSUMER_BATCH_SIZE = env.positive_int("CONSUMER_BATCH_SIZE", default=500)
# Threads that wait on service-order, holding no database connection: 64 keep a 10 ms service-order from
# slowing a consumer much (docs/benchmark.md).
CONSUMER_CONCURRENCY = env.positive_int("CONSUMER_CONCURRENCY", default=64)
# The last check of this many orders is remembered: an event produced before it began needs no other call
# (a backlog costs one check per order). 0: every batch asks again. Kafka timestamps are trusted within
# CONSUMER_CLOCK_SKEW seconds (how far a producer's clock may run behind ours).
CONSUMER_RECENT_CHECKS = env.non_negative_int("CONSUMER_RECENT_CHECKS", default=100_000)
CONSUMER_CLOCK_SKEW = env.non_negative_float("CONSUMER_CLOCK_SKEW", default=1.0)
CONSUMER_BACKOFF_INITIAL = env.positive_float("CONSUMER_BACKOFF_INITIAL", default=1.0)
CONSUMER_BACKOFF_MAX = env.positive_float("CONSUMER_BACKOFF_MAX", default=60.0)
CONSUMER_MAX_ATTEMPTS = env.positive_int("CONSUMER_MAX_ATTEMPTS", default=5)
# After giving up on an order, its later events are dead-lettered at once for this long, without new attempts.
CONSUMER_GIVE_UP_WINDOW = env.positive_float("CONSUMER_GIVE_UP_WINDOW", default=3600.0)
CONSUMER_CLOSE_TIMEOUT = env.positive_float("CONSUMER_CLOSE_TIMEOUT", default=10.0)
CONSUMER_LIVENESS_FILE = env.str("CONSUMER_LIVENESS_FILE", default="")
# A batch may take up to max.poll.interval.ms (past it Kafka evicts the consumer): only a loop silent for longer is stuck.
CONSUMER_STALL_SECONDS = env.positive_float("CONSUMER_STALL_SECONDS", default=600.0)
if CONSUMER_STALL_SECONDS * 1000 <= KAFKA_MAX_POLL_INTERVAL_MS:
    raise ImproperlyConfigured(
        f"CONSUMER_STALL_SECONDS={CONSUMER_STALL_SECONDS:g} must be above KAFKA_MAX_POLL_INTERVAL_MS "
        f"({KAFKA_MAX_POLL_INTERVAL_MS / 1000:g} s), the longest a batch may legitimately take"
    )
# PostgreSQL sessions of consume_orders: a row lock or a statement waited for longer is one order's failed attempt.
CONSUMER_DB_LOCK_TIMEOUT = env.positive_float("CONSUMER_DB_LOCK_TIMEOUT", default=5.0)
CONSUMER_DB_STATEMENT_TIMEOUT = env.positive_float("CONSUMER_DB_STATEMENT_TIMEOUT", default=30.0)
# Where --metrics-port listens: this host only unless told (compose's Prometheus needs 0.0.0.0).
CONSUMER_METRICS_ADDRESS = env.str("CONSUMER_METRICS_ADDRESS", default="127.0.0.1")

# --- service-order (gateway) ------------------------------------------------
# How service-order is asked: its HTTP API (ORDER_SERVICE_URL) or its gRPC one (ORDER_SERVICE_GRPC_TARGET).
ORDER_SERVICE_TRANSPORT = env.choice("ORDER_SERVICE_TRANSPORT", default="http", choices=("http", "grpc"))
ORDER_SERVICE_URL = env.http_url("ORDER_SERVICE_URL", default="http://localhost:8083")
ORDER_SERVICE_PATH = env.str("ORDER_SERVICE_PATH", default="/public/api/v1/order/{order_id}")
ORDER_SERVICE_GRPC_TARGET = env.str("ORDER_SERVICE_GRPC_TARGET", default="localhost:50051")
ORDER_SERVICE_GRPC_TLS = env.bool("ORDER_SERVICE_GRPC_TLS", default=False)  # the reference serves plaintext
ORDER_SERVICE_TOKEN = env.str("ORDER_SERVICE_TOKEN", default="")
ORDER_SERVICE_ALLOW_INSECURE_TOKEN = env.bool("ORDER_SERVICE_ALLOW_INSECURE_TOKEN", default=False)
ORDER_SERVICE_CONNECT_TIMEOUT = env.positive_float("ORDER_SERVICE_CONNECT_TIMEOUT", default=2.0)
ORDER_SERVICE_READ_TIMEOUT = env.positive_float("ORDER_SERVICE_READ_TIMEOUT", default=5.0)
# Connect, send and the whole answer of one attempt: a body trickled slower than this is that order's failure.
ORDER_SERVICE_DEADLINE = env.positive_float("ORDER_SERVICE_DEADLINE", default=10.0)
ORDER_SERVICE_RETRIES = env.non_negative_int("ORDER_SERVICE_RETRIES", default=3)
ORDER_SERVICE_BACKOFF_BASE = env.non_negative_float("ORDER_SERVICE_BACKOFF_BASE", default=0.2)
ORDER_SERVICE_BACKOFF_MAX = env.non_negative_float("ORDER_SERVICE_BACKOFF_MAX", default=5.0)
# One keep-alive connection per calling thread: past maxsize, urllib3 opens a connection per call and drops it.
ORDER_SERVICE_POOL_SIZE = env.positive_int("ORDER_SERVICE_POOL_SIZE", default=CONSUMER_CONCURRENCY)
# TLS (https:// or ORDER_SERVICE_GRPC_TLS): the CA that signed service-order's certificate (default: certifi's
# public CAs over HTTP, grpcio's over gRPC), and our client certificate and key when it asks for one (mTLS).
ORDER_SERVICE_CA_BUNDLE = env.file_path("ORDER_SERVICE_CA_BUNDLE")
ORDER_SERVICE_CLIENT_CERT = env.file_path("ORDER_SERVICE_CLIENT_CERT")
ORDER_SERVICE_CLIENT_KEY = env.file_path("ORDER_SERVICE_CLIENT_KEY")
if ORDER_SERVICE_TRANSPORT == "http":
    _order_service_error = order_service_config_error(
        url=redacted_url(ORDER_SERVICE_URL),  # its scheme is all the checks need; a password is never echoed
        path_template=ORDER_SERVICE_PATH,
        token=ORDER_SERVICE_TOKEN,
        allow_insecure_token=ORDER_SERVICE_ALLOW_INSECURE_TOKEN,
    )
    _without_tls = (
        None
        if ORDER_SERVICE_URL.startswith("https://")
        else f"ORDER_SERVICE_URL={redacted_url(ORDER_SERVICE_URL)!r} is not https://"
    )
else:
    _order_service_error = grpc_config_error(
        target=ORDER_SERVICE_GRPC_TARGET,
        tls=ORDER_SERVICE_GRPC_TLS,
        token=ORDER_SERVICE_TOKEN,
        allow_insecure_token=ORDER_SERVICE_ALLOW_INSECURE_TOKEN,
    )
    _without_tls = None if ORDER_SERVICE_GRPC_TLS else "ORDER_SERVICE_GRPC_TLS is false"
_order_service_error = _order_service_error or order_service_tls_error(
    without_tls=_without_tls,
    ca_bundle=ORDER_SERVICE_CA_BUNDLE,
    client_cert=ORDER_SERVICE_CLIENT_CERT,
    client_key=ORDER_SERVICE_CLIENT_KEY,
)
if _order_service_error:
    raise ImproperlyConfigured(_order_service_error)

# --- Dispatch ---------------------------------------------------------------
DELIVERY_MINUTES = {
    "on_foot": env.positive_int("DELIVERY_MINUTES_ON_FOOT", default=30),
    "scooter": env.positive_int("DELIVERY_MINUTES_SCOOTER", default=15),
    "car": env.positive_int("DELIVERY_MINUTES_CAR", default=5),
}
RECONCILE_OLDER_THAN = env.non_negative_int("RECONCILE_OLDER_THAN", default=300)
RECONCILE_TIME_LIMIT = env.positive_float("RECONCILE_TIME_LIMIT", default=30.0)
# Seconds between two reconcile sweeps run by each consume_orders (its --reconcile-every); 0: none.
CONSUMER_RECONCILE_EVERY = env.non_negative_float("CONSUMER_RECONCILE_EVERY", default=30.0)
# A disputed end (announced by an event, contradicted by every read) is accepted after this many seconds;
# None (`never`): left for a dispatcher. See couriers/services/knowledge.py.
DISPUTE_GRACE = env.seconds_or_never("DISPUTE_GRACE", default="120")

# --- The outbox: deliveries' changes published to other teams (docs/events.md) ---
OUTBOX_TOPIC = env.str("OUTBOX_TOPIC", default="courier.delivery.changed")
OUTBOX_BATCH_SIZE = env.positive_int("OUTBOX_BATCH_SIZE", default=500)
OUTBOX_POLL_INTERVAL = env.positive_float("OUTBOX_POLL_INTERVAL", default=0.2)
OUTBOX_PUBLISH_TIMEOUT = env.positive_float("OUTBOX_PUBLISH_TIMEOUT", default=30.0)
OUTBOX_RETENTION = env.non_negative_int("OUTBOX_RETENTION", default=86400)

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
    "filters": {"one_warning_line": {"()": "courier_project.logging.OneWarningLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        # Scanners send any Host: one warning line each, not an error with a traceback.
        "django.security.DisallowedHost": {
            "handlers": ["console"],
            "filters": ["one_warning_line"],
            "level": "WARNING",
            "propagate": False,
        },
        # The pool warns at each of its reconnection attempts: during an outage, a line every second or so. The
        # consumer and the web say once that the database is down, and when it is back.
        "psycopg.pool": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
