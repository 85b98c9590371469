"""Settings for the test suite: the real settings, made fast and self-contained."""

import os

os.environ.setdefault("SECRET_KEY", "insecure-test-key")

from courier_project.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory, so that test subprocesses (consume_orders) can share the test database;
    # one per run, so that two runs on one machine do not overwrite each other's.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f"test_db_{os.getpid()}.sqlite3")}  # noqa: F405
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
