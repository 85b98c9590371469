"""The simulator's producer authenticates to compose's SASL broker when given credentials, and not otherwise."""

from sandbox.publisher import sasl_config


def test_credentials_give_sasl_plain() -> None:
    config = sasl_config({"SIMULATOR_KAFKA_USERNAME": "simulator", "SIMULATOR_KAFKA_PASSWORD": "pw"})

    assert config == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "simulator",
        "sasl.password": "pw",
    }


def test_without_credentials_nothing_changes() -> None:
    assert sasl_config({}) == {}
