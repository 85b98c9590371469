"""Smaller hardening: a bad Host header is one warning line; the browsable API runs under the CSP."""

import logging
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from couriers.api.permissions import READERS_GROUP
from tests.groups import migrated_group


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_request_for_a_host_we_do_not_serve_is_one_warning_line_without_traceback() -> None:
    lines = Lines()
    logger = logging.getLogger("django.security.DisallowedHost")
    logger.addHandler(lines)
    try:
        response = Client().get("/api/v1/", HTTP_HOST="evil.example")
    finally:
        logger.removeHandler(lines)

    assert response.status_code == 400
    (record,) = lines.records
    assert record.levelname == "WARNING"
    assert record.exc_info is None
    assert "evil.example" in record.getMessage()


@pytest.mark.django_db
def test_the_browsable_api_runs_under_the_csp_with_no_inline_script() -> None:
    client = Client()
    user = User.objects.create_user("web")
    user.groups.add(migrated_group(READERS_GROUP))
    client.force_login(user)

    response = client.get("/api/v1/couriers/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert "script-src 'self';" in response["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>", response.content.decode())
    assert scripts
    assert all("src=" in attributes or 'type="application/json"' in attributes for attributes in scripts)
