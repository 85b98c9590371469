"""Every Kafka client gets the same address, authentication and TLS; settings that do not fit together stop start-up."""

import signal
import subprocess
import sys
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from courier_project.kafka_security import KafkaSecurity
from couriers.consumer.kafka import client_config, consumer_config, producer_config
from sandbox.kafka_server import free_port
from tests.deploy.conftest import REPO, base_env, last_line, manage

SASL = {"sasl_mechanism": "scram-sha-512", "sasl_username": "courier", "sasl_password": "s3cret"}


@pytest.fixture
def ca_file(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def test_sasl_over_tls_becomes_librdkafka_keys(ca_file):
    security = KafkaSecurity(protocol="sasl_ssl", ssl_ca_location=ca_file, **SASL)

    assert security.librdkafka() == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "courier",
        "sasl.password": "s3cret",
        "ssl.ca.location": ca_file,
    }
    assert "s3cret" not in repr(security)


@pytest.mark.parametrize("config", [client_config, consumer_config, producer_config])
def test_every_client_config_carries_the_security_settings(settings, config, ca_file):
    settings.KAFKA_SECURITY = KafkaSecurity(protocol="sasl_ssl", ssl_ca_location=ca_file, **SASL)

    built = config()

    assert built["security.protocol"] == "sasl_ssl"
    assert built["sasl.password"] == "s3cret"
    assert built["ssl.ca.location"] == ca_file


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"protocol": "sasl_ssl", "sasl_mechanism": "plain"}, "needs KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD"),
        ({"protocol": "plaintext", **SASL}, "KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD set"),
        ({"protocol": "sasl_plaintext", "ssl_ca_location": "/etc/hostname", **SASL}, "KAFKA_SSL_CA_LOCATION set"),
        ({"protocol": "ssl", "ssl_ca_location": "/nonexistent/ca.pem"}, "KAFKA_SSL_CA_LOCATION='/nonexistent/ca.pem'"),
        ({"protocol": "ssl", "ssl_certificate_location": "/etc/hostname"}, "go together"),
        ({"protocol": "ssl", "ssl_key_password": "x"}, "KAFKA_SSL_KEY_PASSWORD is set without"),
    ],
)
def test_settings_that_do_not_fit_together_are_refused(fields, message):
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(")):
        KafkaSecurity(**fields)


def test_consumer_protocol_leaves_session_timeout_to_the_broker(settings):
    settings.KAFKA_GROUP_PROTOCOL = "consumer"

    config = consumer_config()

    assert config["group.protocol"] == "consumer"
    assert "session.timeout.ms" not in config


def test_classic_protocol_sets_the_session_timeout(settings):
    settings.KAFKA_GROUP_PROTOCOL = "classic"
    settings.KAFKA_SESSION_TIMEOUT_MS = 7000

    assert consumer_config()["session.timeout.ms"] == 7000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KAFKA_GROUP_PROTOCOL": "eager"}, "KAFKA_GROUP_PROTOCOL='eager' is malformed"),
        (
            {"KAFKA_GROUP_PROTOCOL": "consumer", "KAFKA_SESSION_TIMEOUT_MS": "6000"},
            "KAFKA_SESSION_TIMEOUT_MS does not apply with KAFKA_GROUP_PROTOCOL=consumer",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "sasl_ssl"}, "KAFKA_SECURITY_PROTOCOL=sasl_ssl needs KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SASL_MECHANISM": "gssapi"}, "KAFKA_SASL_MECHANISM='gssapi' is malformed"),
    ],
)
def test_start_up_stops_with_one_line_naming_the_setting(tmp_path, env, message):
    result = manage("check", env={**base_env(tmp_path), "DEBUG": "true", **env})

    assert result.returncode != 0
    assert message in last_line(result.stderr)


def test_an_unreachable_kafka_is_waited_for_not_fatal(tmp_path):
    alive = tmp_path / "alive"
    env = {
        **base_env(tmp_path),
        "DEBUG": "true",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "CONSUMER_CLOSE_TIMEOUT": "2",
        "CONSUMER_LIVENESS_FILE": str(alive),
    }
    consumer = subprocess.Popen(
        [sys.executable, "manage.py", "consume_orders", "--concurrency", "1"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        while "starting anyway" not in line and consumer.poll() is None:
            line = consumer.stderr.readline()
        assert "did not answer" in line
        deadline = time.monotonic() + 30
        while not alive.exists() and consumer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive.exists(), "the consume loop never turned"
        consumer.send_signal(signal.SIGTERM)
        assert consumer.wait(60) == 0
    finally:
        consumer.kill()
        consumer.stderr.close()
