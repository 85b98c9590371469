"""Every environment variable the settings read is documented in .env.example."""

import re

from django.conf import settings

SOURCES = ("courier_project/settings.py", "gunicorn.conf.py")


def test_every_setting_is_listed_in_env_example():
    root = settings.BASE_DIR
    read = set()
    for source in SOURCES:
        read |= set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', (root / source).read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (root / ".env.example").read_text(), re.MULTILINE))
    assert len(read) > 30, "the pattern no longer finds the settings"
    assert read - documented == set()
