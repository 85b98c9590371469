"""service-order's settings: a path or token that could leak the token off service-order stops start-up."""

import pytest

from tests.deploy.conftest import last_line, manage


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"ORDER_SERVICE_PATH": "public/api/v1/order/{order_id}"},
            "ORDER_SERVICE_PATH='public/api/v1/order/{order_id}' must start with /",
        ),
        ({"ORDER_SERVICE_PATH": "/public/api/v1/order/"}, "ORDER_SERVICE_PATH must contain {order_id}"),
        (
            {"ORDER_SERVICE_URL": "http://orders.internal:8080", "ORDER_SERVICE_TOKEN": "s3cret"},
            "ORDER_SERVICE_TOKEN would be sent in clear",
        ),
        (
            {"ORDER_SERVICE_ALLOW_INSECURE_TOKEN": "perhaps"},
            "ORDER_SERVICE_ALLOW_INSECURE_TOKEN='perhaps' is malformed",
        ),
    ],
    ids=["path-without-slash", "path-without-id", "token-over-http", "malformed-allow"],
)
def test_start_up_stops_with_a_clear_message(prod_env: dict[str, str], variables: dict[str, str], message: str):
    prod_env.update(variables)

    result = manage("check", env=prod_env)

    assert result.returncode != 0
    assert message in last_line(result.stderr)


@pytest.mark.parametrize(
    "variables",
    [
        {"ORDER_SERVICE_URL": "https://orders.example.com", "ORDER_SERVICE_TOKEN": "s3cret"},
        {
            "ORDER_SERVICE_URL": "http://orders.internal:8080",
            "ORDER_SERVICE_TOKEN": "s3cret",
            "ORDER_SERVICE_ALLOW_INSECURE_TOKEN": "true",
        },
        {"ORDER_SERVICE_URL": "http://orders.internal:8080", "ORDER_SERVICE_TOKEN": ""},
    ],
    ids=["token-over-https", "token-over-http-allowed", "no-token"],
)
def test_a_safe_configuration_starts(prod_env: dict[str, str], variables: dict[str, str]):
    prod_env.update(variables)

    result = manage("check", env=prod_env)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "variables",
    [
        {"ORDER_SERVICE_URL": "http://courier:hunter2-secret@orders.internal:8080", "ORDER_SERVICE_TOKEN": "t"},
        {"ORDER_SERVICE_URL": "ftp://courier:hunter2-secret@orders.internal"},
        {"ORDER_SERVICE_URL": "http://courier:hunter2-secret@orders.internal:port"},
    ],
    ids=["token-over-http", "wrong-scheme", "bad-port"],
)
def test_a_password_in_the_url_is_never_echoed(prod_env: dict[str, str], variables: dict[str, str]) -> None:
    prod_env.update(variables)

    result = manage("check", env=prod_env)

    assert result.returncode != 0
    assert "ORDER_SERVICE_URL" in last_line(result.stderr)
    assert "hunter2-secret" not in result.stderr + result.stdout
