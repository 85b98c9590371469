"""Settings for the test suite: the real settings, made fast and self-contained."""

import os

os.environ.setdefault("SECRET_KEY", "insecure-test-key")

from courier_project.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
