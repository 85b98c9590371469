"""Settings for the test suite: the real settings, made fast and self-contained."""

import os

# The suite, and every process it starts, sees only its own environment, never a developer's .env.local.
os.environ["LOCAL_ENV_FILE"] = ""
# Strong enough for DEBUG off (as the tests run); a test key all the same.
os.environ.setdefault("SECRET_KEY", "test-key-of-the-suite-" + "0123456789abcdefghijklmnopqrstuvwxyz")
# demo and bench are sandbox commands, and the tests run them.
os.environ.setdefault("SANDBOX_ENABLED", "true")
# The database outages the tests make are noticed within seconds, not after the production wait.
os.environ.setdefault("DB_POOL_TIMEOUT", "5")
# A test's own connection and those of the threads it starts at once (tests/e2e sets consumers to the default).
os.environ.setdefault("DB_POOL_MAX_SIZE", "12")

from courier_project.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# One test database per run, so that two runs on one machine never drop each other's;
# for SQLite a file, not memory, so that test subprocesses (consume_orders) can share it.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f"test_db_{os.getpid()}.sqlite3")}  # noqa: F405
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}  # noqa: F405
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Throttle counters in memory (tests/conftest.py clears them for each test), so that the query counts the
# tests assert are the views' own.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
