"""service-order's settings: a path or token that could leak the token off service-order stops start-up."""

import pytest

from tests.deploy.conftest import last_line, manage
from tests.gateway.certificates import Certificates, make_certificates
from tests.system_tools import requires


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


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


HTTPS = {"ORDER_SERVICE_URL": "https://orders.internal"}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"ORDER_SERVICE_DEADLINE": "0"}, "ORDER_SERVICE_DEADLINE=0.0 is malformed: expected a number above 0"),
        (
            {**HTTPS, "ORDER_SERVICE_CA_BUNDLE": "/nonexistent/ca.pem"},
            "ORDER_SERVICE_CA_BUNDLE='/nonexistent/ca.pem' is malformed: expected an existing file",
        ),
        ({**HTTPS, "ORDER_SERVICE_CA_BUNDLE": "{server_key}"}, "holds no usable PEM certificate"),
        (
            {"ORDER_SERVICE_URL": "http://orders.internal", "ORDER_SERVICE_CA_BUNDLE": "{ca}"},
            "ORDER_SERVICE_CA_BUNDLE set, but ORDER_SERVICE_URL='http://orders.internal' is not https://",
        ),
        ({**HTTPS, "ORDER_SERVICE_CLIENT_KEY": "{client_key}"}, "CLIENT_KEY set without ORDER_SERVICE_CLIENT_CERT"),
        (
            {**HTTPS, "ORDER_SERVICE_CLIENT_CERT": "{client_cert}", "ORDER_SERVICE_CLIENT_KEY": "{server_key}"},
            "do not make a key pair",
        ),
    ],
    ids=["zero-deadline", "missing-ca", "ca-not-a-certificate", "ca-over-http", "key-alone", "wrong-key"],
)
@requires("openssl", install="apt-get install openssl")
def test_bad_tls_settings_stop_start_up(prod_env, certificates, variables, message):
    prod_env.update({name: value.format(**vars(certificates)) for name, value in variables.items()})

    result = manage("check", env=prod_env)

    assert result.returncode != 0
    assert message in last_line(result.stderr)


@requires("openssl", install="apt-get install openssl")
def test_an_internal_ca_and_a_client_certificate_start(prod_env, certificates):
    prod_env.update(
        {
            **HTTPS,
            "ORDER_SERVICE_CA_BUNDLE": str(certificates.ca),
            "ORDER_SERVICE_CLIENT_CERT": str(certificates.client_cert),
            "ORDER_SERVICE_CLIENT_KEY": str(certificates.client_key),
        }
    )

    result = manage("check", env=prod_env)

    assert result.returncode == 0, result.stderr


GRPC = {"ORDER_SERVICE_TRANSPORT": "grpc"}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"ORDER_SERVICE_TRANSPORT": "soap"},
            "ORDER_SERVICE_TRANSPORT='soap' is malformed: expected one of http, grpc",
        ),
        ({**GRPC, "ORDER_SERVICE_GRPC_TARGET": "orders"}, "ORDER_SERVICE_GRPC_TARGET='orders' is malformed"),
        (
            {**GRPC, "ORDER_SERVICE_TOKEN": "s3cret"},
            "ORDER_SERVICE_TOKEN would be sent in clear to ORDER_SERVICE_GRPC_TARGET",
        ),
        ({**GRPC, "ORDER_SERVICE_CA_BUNDLE": "/etc/hostname"}, "ORDER_SERVICE_GRPC_TLS is false: they would be unused"),
    ],
    ids=["unknown-transport", "target-without-port", "token-in-clear", "ca-without-tls"],
)
def test_bad_grpc_settings_stop_start_up(prod_env, variables, message):
    prod_env.update(variables)

    result = manage("check", env=prod_env)

    assert result.returncode != 0
    assert message in last_line(result.stderr)


@pytest.mark.parametrize(
    "variables",
    [
        {**GRPC, "ORDER_SERVICE_GRPC_TARGET": "orders.internal:50051"},
        # The HTTP URL is not used over gRPC: its token rule does not apply to it.
        {**GRPC, "ORDER_SERVICE_GRPC_TLS": "true", "ORDER_SERVICE_TOKEN": "s3cret", "ORDER_SERVICE_URL": "http://x:1"},
    ],
    ids=["plaintext", "tls-with-token"],
)
def test_a_grpc_configuration_starts(prod_env, variables):
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
