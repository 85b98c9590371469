"""JSON log lines: what Django's loggers pass as `request` reads as the request, never as a socket's repr."""

import json
import logging
import socket

from django.test import RequestFactory

from courier_project.logging import JsonFormatter


def formatted(**extra: object) -> dict:
    record = logging.makeLogRecord(
        {"name": "django.server", "levelname": "INFO", "msg": '"GET /x HTTP/1.1" 200 2', **extra}
    )
    return json.loads(JsonFormatter().format(record))


def test_runservers_socket_is_left_out() -> None:
    with socket.socket() as connection:
        line = formatted(request=connection, status_code=200)

    assert "request" not in line
    assert (line["message"], line["status_code"]) == ('"GET /x HTTP/1.1" 200 2', 200)


def test_an_http_request_reads_as_its_method_and_path() -> None:
    line = formatted(request=RequestFactory().post("/api/v1/couriers/?page=2"))

    assert line["request"] == "POST /api/v1/couriers/"


def test_other_extras_stay_as_they_are() -> None:
    assert formatted(order_id="A-1", outcome="assigned") | {"time": 0} == {
        "time": 0,
        "level": "info",
        "logger": "django.server",
        "message": '"GET /x HTTP/1.1" 200 2',
        "order_id": "A-1",
        "outcome": "assigned",
    }
