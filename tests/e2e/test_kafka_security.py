"""Kafka with SASL over TLS: with the right credentials every client works, with wrong ones start-up stops."""

import subprocess
import sys

import pytest

from couriers.models import Delivery
from sandbox.simulator import Simulator
from tests.brokers import on
from tests.deploy.conftest import last_line
from tests.e2e.conftest import ROOT, wait_until
from tests.kafka_helpers import produce, read_all

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

kafka, kafka_broker = on("real")  # the mock ignores security settings: only a real broker can refuse


@pytest.fixture
def secure_env(kafka, consumer_env) -> dict[str, str]:
    """The consumer's environment, reaching the broker's SASL_SSL listener (its certificate is signed by the CA)."""
    return {
        **consumer_env,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.tls_bootstrap_servers,
        "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "KAFKA_SASL_MECHANISM": "plain",
        "KAFKA_SASL_USERNAME": kafka.user.username,
        "KAFKA_SASL_PASSWORD": kafka.user.password,
        "KAFKA_SSL_CA_LOCATION": str(kafka.ca_location),
    }


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_every_client_works_with_the_right_credentials(
    kafka_broker, pipeline_topic, consumers, consumer_env, secure_env, make_courier
):
    make_courier()
    topics = manage("create_topics", "--partitions", "4", env=secure_env)
    assert topics.returncode == 0, topics.stderr
    assert f"{pipeline_topic}: exists" in topics.stdout

    with Simulator(bootstrap=kafka_broker, topic=pipeline_topic, time_scale=0.01, seed=3) as simulator:
        secure_env["ORDER_SERVICE_URL"] = simulator.url
        consumer_env.update(secure_env)  # the consumers fixture starts processes with consumer_env
        (order_id,) = simulator.create_orders(1)
        produce(kafka_broker, pipeline_topic, [b"not json"])
        consumer = consumers.start("--idle-exit", "4")
        wait_until(lambda: Delivery.objects.filter(order_id=order_id).exists(), 60, "the order got a delivery")
        assert consumers.wait_exit(consumer) == 0, consumers.log(consumer)[-3000:]

    assert len(read_all(kafka_broker, f"{pipeline_topic}.dlq", expected=1)) == 1, "the DLQ producer got through"
    replay = manage("replay_dlq", "--dry-run", env=secure_env)
    assert replay.returncode == 0, replay.stderr
    assert "would replay 1" in replay.stdout


@pytest.mark.parametrize("command", ["consume_orders", "create_topics", "replay_dlq"])
def test_wrong_credentials_stop_start_up_naming_the_settings(pipeline_topic, secure_env, command):
    secure_env["KAFKA_SASL_PASSWORD"] = "wrong"

    result = manage(command, env=secure_env)

    assert result.returncode != 0
    message = last_line(result.stderr)
    assert "Authentication failed" in message
    assert "KAFKA_SASL_PASSWORD" in message
