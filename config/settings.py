"""Merit settings: one module, every deploy-time value read from the environment.

Defaults give a working development site on SQLite with a file-system Celery
broker, so `make run` needs no services. Production (DEBUG=False) refuses to
start without a real SECRET_KEY.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY or (not DEBUG and (SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50)):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random string of at least 50 characters when DEBUG is off. "
        "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))'"
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Unset: absolute links come from the request (config/ops/site_url.py). Set it behind a proxy that rewrites
# the Host, and for links built outside a request (webhook payloads).
SITE_URL = env.str("SITE_URL", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our own static files, not a CDN
    "django_celery_beat",
    "django_htmx",
    "axes",
    "csp",
    "django_prometheus",
    "corsheaders",
    "votes",
    "reputation",
    "api",
    "config.ops",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "api.middleware.RequestIdMiddleware",
    "config.ops.site_url.SiteURLMiddleware",  # absolute links name the address the request came in on
    "api.cors.ReadOnlyCorsMiddleware",  # CORS on /api/v1/ reads only; answers their preflights
    "api.middleware.DatabaseUnavailableMiddleware",  # a lost database is a 503 with Retry-After, not a 500
    "config.replica_middleware.ReplicaReadMiddleware",  # safe requests read a replica unless this client just wrote
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.ops.csp.CSPMiddleware",  # django-csp on pages, a fixed strict policy on the rest
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # answers a locked-out login with votes.views.locked_out (429)
    "django_prometheus.middleware.PrometheusAfterMiddleware",
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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'merit.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker share the file; wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    # A file, not :memory:, so worker processes in tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(DATABASES["default"]["NAME"]).with_suffix("")) + "-test.sqlite3"}
    # The votes' covering index INCLUDEs columns (PostgreSQL's index-only scans); SQLite builds it without them.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
# Streaming replicas (comma-separated URLs): the site's and the API's reads and the full refit's vote load
# go there, writes and migrations to the primary; a client that just wrote reads the primary
# (config/db_router.py, config/replica_middleware.py). In tests each mirrors the test database.
DATABASE_REPLICAS = []
for _i, _url in enumerate(env.list("DATABASE_REPLICA_URL", default=[]), start=1):
    _replica = env.db_url_config(_url)
    _replica.update(CONN_MAX_AGE=DATABASES["default"]["CONN_MAX_AGE"], CONN_HEALTH_CHECKS=True, TEST={"MIRROR": "default"})
    _replica.setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)  # a dead replica costs 2 s, then is skipped
    DATABASES[f"replica_{_i}"] = _replica
    DATABASE_REPLICAS.append(f"replica_{_i}")
DATABASE_ROUTERS = ["config.db_router.PrimaryReplicaRouter"]
# After a write, the client (cookie, or its API token) reads the primary this long: above the replicas' lag.
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=10)
# A replica that refused a connection is left out this long (its reads go to the primary).
REPLICA_RETRY_SECONDS = env.float("REPLICA_RETRY_SECONDS", default=30.0)
# The full refit waits this long for a replica to replay what the primary has, then reads the primary.
REPLICA_REFIT_MAX_WAIT_SECONDS = env.float("REPLICA_REFIT_MAX_WAIT_SECONDS", default=10.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": env.str("CACHE_URL", default=REDIS_URL),
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
                # A cache outage degrades speed, never correctness.
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "feed"
LOGOUT_REDIRECT_URL = "feed"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing before collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security (production is the default; DEBUG relaxes it) ---
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
# Probes and Prometheus call the app directly over plain HTTP, without the proxy's X-Forwarded-Proto.
SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]
# Pages, htmx and the API docs need nothing from elsewhere and no inline code: only the Swagger UI page
# has an inline script and style, marked with the per-response nonce (templates/drf_spectacular/).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],  # ReDoc parses the schema in a worker
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Abuse controls on accounts ---
# django-axes: after LOGIN_FAILURE_LIMIT failed logins from one address, or for one username, that
# address or username is refused (429, votes.views.locked_out) until LOGIN_COOLOFF_MINUTES pass without
# another failure. Failures are rows in the database (axes' AccessAttempt), shared by every process.
AUTHENTICATION_BACKENDS = ["votes.abuse.LoginLockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_MINUTES", default=15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # each on its own
AXES_CLIENT_IP_CALLABLE = "config.ops.net.client_ip"  # NUM_PROXIES-aware, like the API's throttles
AXES_LOCKOUT_CALLABLE = "votes.views.locked_out"
AXES_DISABLE_ACCESS_LOG = True  # no row per successful login
# Sign-up attempts per address and per requested username (django-ratelimit, in the cache). A cache
# outage lets sign-ups through rather than refusing everyone.
SIGNUP_RATE_PER_ADDRESS = env.str("SIGNUP_RATE_PER_ADDRESS", default="10/h")
SIGNUP_RATE_PER_USERNAME = env.str("SIGNUP_RATE_PER_USERNAME", default="5/h")
RATELIMIT_FAIL_OPEN = True

# --- Celery ---
# Without Redis the broker is kombu's file-system transport: it needs no server
# and is shared by the web process and a real worker process through var/broker.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Above every task's time limit, so a slow task is never redelivered while it runs.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=1900),
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
    # A hung Redis must not hold a vote request: fail fast, the outbox sweep re-queues.
    "socket_timeout": 1,
    "socket_connect_timeout": 1,
    # kombu otherwise retries the publisher's connection for ~6 s before giving up.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport with the fix for a worker dying when Redis restarts while it holds
    # unacknowledged tasks (issue 9.1; cause and fix in config/celery.py). Logs name the broker
    # "config.celery:RedisTransport://host:port/db".
    CELERY_BROKER_TRANSPORT = "config.celery:RedisTransport"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is ./control in the working directory
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_MAX_TASKS_PER_CHILD = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A vote must not wait on a dead broker: publish once, fail fast, let the sweep re-queue.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 20
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE = {
    "sweep-pending-refreshes": {
        "task": "reputation.sweep_pending_refreshes",
        "schedule": env.float("REPUTATION_SWEEP_SECONDS", default=30.0),
    },
    "full-refit": {"task": "reputation.recompute_all", "schedule": env.float("FULL_REFIT_SECONDS", default=300.0)},
    "prune-expired-logins": {"task": "api.prune_expired_logins", "schedule": 86400.0},  # clearsessions + knox
    "dispatch-webhooks": {"task": "api.dispatch_webhooks", "schedule": env.float("WEBHOOK_DISPATCH_SECONDS", default=30.0)},
    "sweep-previews": {"task": "votes.sweep_previews", "schedule": env.float("PREVIEW_SWEEP_SECONDS", default=60.0)},
    "expire-claims": {"task": "votes.expire_claims", "schedule": 3600.0},  # lapsed handle claims marked expired
}

# How long votes on one author coalesce before its refresh runs.
REPUTATION_REFRESH_COUNTDOWN = env.float("REPUTATION_REFRESH_COUNTDOWN", default=2.0)
# A pending refresh older than this is presumed lost (dead broker, killed worker) and re-queued.
REPUTATION_SWEEP_AFTER_SECONDS = env.float("REPUTATION_SWEEP_AFTER_SECONDS", default=60.0)
# Each sweep of the same row doubles its wait (up to the max backoff); after this many the row is
# left for an operator and counted by reputation.services.outbox_stuck_count (/readyz, metrics).
REPUTATION_OUTBOX_MAX_ATTEMPTS = env.int("REPUTATION_OUTBOX_MAX_ATTEMPTS", default=8)
REPUTATION_SWEEP_MAX_BACKOFF = env.float("REPUTATION_SWEEP_MAX_BACKOFF", default=3600.0)

# --- Post previews and proof posts (votes.previews, votes.claims) ---
# Each platform's public, keyless endpoint; tests point these at a local fake server.
PREVIEW_X_OEMBED_URL = env.str("PREVIEW_X_OEMBED_URL", default="https://publish.twitter.com/oembed")
PREVIEW_BLUESKY_API_URL = env.str("PREVIEW_BLUESKY_API_URL", default="https://public.api.bsky.app/xrpc")
PREVIEW_MASTODON_URL_TEMPLATE = env.str(
    "PREVIEW_MASTODON_URL_TEMPLATE", default="https://{instance}/api/v1/statuses/{id}"
)
PREVIEW_TIMEOUT_SECONDS = env.float("PREVIEW_TIMEOUT_SECONDS", default=5.0)
# A failed fetch is retried after the base, then twice as long each time up to the max, this many times.
PREVIEW_MAX_ATTEMPTS = env.int("PREVIEW_MAX_ATTEMPTS", default=8)
PREVIEW_RETRY_BASE_SECONDS = env.float("PREVIEW_RETRY_BASE_SECONDS", default=30.0)
PREVIEW_RETRY_MAX_SECONDS = env.float("PREVIEW_RETRY_MAX_SECONDS", default=6 * 3600.0)
# A retry this late is presumed lost (dead broker, killed worker) and queued again by the beat sweep.
PREVIEW_SWEEP_AFTER_SECONDS = env.float("PREVIEW_SWEEP_AFTER_SECONDS", default=120.0)
# Mastodon instance hosts come from pasted links: only public addresses, unless this (development, tests).
PREVIEW_ALLOW_PRIVATE_HOSTS = env.bool("PREVIEW_ALLOW_PRIVATE_HOSTS", default=DEBUG)
# A claim on a handle not proved within this many days lapses.
CLAIM_PROOF_DAYS = env.int("CLAIM_PROOF_DAYS", default=7)
# Proof attempts per account (each fetches a post from the platform).
CLAIM_VERIFY_RATE = env.str("CLAIM_VERIFY_RATE", default="20/h")

# --- Where the full refit runs (reputation/refit_backend.py) ---
# "local": in the refitting process (the default). "dask": on a Dask cluster, the scheduler at
# DASK_SCHEDULER_ADDRESS (tcp://host:8786), or without one a LocalCluster of DASK_WORKERS worker
# processes, each limited to DASK_MEMORY_LIMIT and spilling to disk beyond it, started for the refit.
REFIT_BACKEND = env.str("REFIT_BACKEND", default="local")
DASK_SCHEDULER_ADDRESS = env.str("DASK_SCHEDULER_ADDRESS", default="")
DASK_WORKERS = env.int("DASK_WORKERS", default=2)
DASK_MEMORY_LIMIT = env.str("DASK_MEMORY_LIMIT", default="4GB")
# Partitions of whole authors (0: two per worker).
DASK_PARTITIONS = env.int("DASK_PARTITIONS", default=0)
# With DASK_PARTITIONS=0, at least two partitions per worker and at most about this many votes in each: one
# partition's stage needs ~300 bytes a vote while it runs (bench/refit_scale.py), so 3M stay well inside 4 GB.
DASK_PARTITION_VOTES = env.int("DASK_PARTITION_VOTES", default=3_000_000)

# --- REST framework ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.TokenAuthentication",  # people: per-device knox tokens (can vote)
        "api.authentication.ApiKeyAuthentication",  # third-party apps: read-only, higher quota
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],  # bounded size (413) and depth (400)
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.IdentityThrottle", "api.throttles.VoteThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="120/min"),
        "user": env.str("THROTTLE_USER", default="600/min"),
        "api_key": env.str("THROTTLE_API_KEY", default="6000/min"),
        "votes": env.str("THROTTLE_VOTES", default="120/min"),
        # /badge/...svg per client address (votes.badges); image proxies (GitHub's camo) share one address.
        "badge": env.str("THROTTLE_BADGE", default="600/min"),
    },
    # Behind a reverse proxy set this, or every client shares the proxy's address and quota.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=None),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Merit reputation API",
    "DESCRIPTION": (
        "Author reputation earned from credibility-weighted quality votes. Reads are open (throttled per "
        "client); `Authorization: Api-Key <key>` raises an app's read quota; voting needs a user's per-device "
        "`Authorization: Token <token>` from /connect/. Errors are RFC 9457 `application/problem+json`. "
        "Public reads carry strong ETags (send If-None-Match; 304s are not counted against quotas)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["api.schema.drop_slashed_twins"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Deep links put an <a> inside each operation's toggle <button>: nested controls that screen readers
    # and keyboards cannot tell apart (axe: nested-interactive).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.schema.add_problem_responses"],
}
# Per-device tokens expire after TOKEN_TTL_DAYS unused: each use pushes the expiry on (written at most
# hourly); users revoke them on /connect/. Expired tokens and sessions are deleted daily (beat).
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("TOKEN_TTL_DAYS", default=30)),
    "AUTO_REFRESH": True,
    "MIN_REFRESH_INTERVAL": 3600,
}
KNOX_TOKEN_MODEL = "knox.AuthToken"  # named so api.DeviceToken can point at it
# CORS (api/cors.py): any origin may read /api/v1/ from a browser, without credentials; writes get none.
CORS_URLS_REGEX = r"^/api/v1/"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ["GET", "HEAD", "OPTIONS", "POST"]  # POST only for /api/v1/authors/lookup, a read
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type", "if-none-match", "x-request-id"]
CORS_EXPOSE_HEADERS = [
    "ETag", "Link", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-ID",
]
# Webhooks for API-key holders (api/webhooks.py): a delivery is tried up to WEBHOOK_MAX_ATTEMPTS times,
# waiting 30 s, 60 s, ... (at most WEBHOOK_RETRY_MAX_SECONDS, below the broker's visibility timeout);
# WEBHOOK_DISABLE_AFTER deliveries in a row that fail every attempt disable the webhook.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=900.0)
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=5)
WEBHOOK_LOST_AFTER_SECONDS = 300.0  # a pending delivery this far past due lost its task: the dispatch re-queues it
# http:// and private or loopback addresses (development and tests only; production needs public https).
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=DEBUG)
# The author page on the site that <Author>.url points at.
API_AUTHOR_PAGE_PATH = env.str("API_AUTHOR_PAGE_PATH", default="/a/{platform}/{handle}/")
# Seconds an author's API card stays cached. A change drops the card (votes.signals.authors_changed), but
# only from a cache every process shares: without Redis each process caches for itself, and a refresh in
# the worker cannot reach the web process's copy, so it must expire soon.
API_CARD_TTL = env.int("API_CARD_TTL", default=600 if REDIS_URL else 30)

# JSON lines by default in production (LOG_FORMAT=json), plain text with DEBUG. The worker logs the same
# way (config/celery.py), and a task's lines carry the id of the request that queued it (ops.celery_signals).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # rid= is the request's X-Request-ID ("-" outside requests), to join log lines with access logs and clients.
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s rid=%(request_id)s %(message)s"},
        "json": {"()": "config.ops.logs.JsonFormatter"},
    },
    "filters": {"request_id": {"()": "api.middleware.RequestIdFilter"}, "task": {"()": "config.ops.logs.TaskFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id", "task"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # distributed (the Dask refit backend) logs every connection at INFO.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "distributed": {"level": "WARNING"}},
}

# --- Operations: /healthz, /readyz, /metrics (config/ops/), error reporting ---
# /metrics answers loopback and these addresses or networks (comma-separated, e.g. 10.0.0.0/8) only.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from config.ops.sentry import init as sentry_init

    sentry_init(
        SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production"),
        release=env.str("SENTRY_RELEASE", default=""),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

if env.bool("FAST_PASSWORD_HASHER", default=False):  # test suites only
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
