"""Kafka authentication and TLS: the settings checked together at start-up, then given to every client."""

import os
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

SECURITY_PROTOCOLS = ("plaintext", "ssl", "sasl_plaintext", "sasl_ssl")
SASL_MECHANISMS = ("", "plain", "scram-sha-256", "scram-sha-512")


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "plaintext"
    sasl_mechanism: str = ""
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_ca_location: str = ""
    ssl_certificate_location: str = ""
    ssl_key_location: str = ""
    ssl_key_password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.protocol not in SECURITY_PROTOCOLS:
            raise _malformed("KAFKA_SECURITY_PROTOCOL", f"expected one of {', '.join(SECURITY_PROTOCOLS)}")
        if self.protocol.startswith("sasl_"):
            self._check_sasl_complete()
        else:
            self._check_unused(("KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"), "SASL")
        if self.protocol.endswith("ssl"):
            self._check_tls_files()
        else:
            names = ("KAFKA_SSL_CA_LOCATION", "KAFKA_SSL_CERTIFICATE_LOCATION", "KAFKA_SSL_KEY_LOCATION")
            self._check_unused((*names, "KAFKA_SSL_KEY_PASSWORD"), "TLS")

    @property
    def _values(self) -> dict[str, str]:
        return {
            "KAFKA_SASL_MECHANISM": self.sasl_mechanism,
            "KAFKA_SASL_USERNAME": self.sasl_username,
            "KAFKA_SASL_PASSWORD": self.sasl_password,
            "KAFKA_SSL_CA_LOCATION": self.ssl_ca_location,
            "KAFKA_SSL_CERTIFICATE_LOCATION": self.ssl_certificate_location,
            "KAFKA_SSL_KEY_LOCATION": self.ssl_key_location,
            "KAFKA_SSL_KEY_PASSWORD": self.ssl_key_password,
        }

    def _check_sasl_complete(self) -> None:
        missing = [
            name
            for name in ("KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")
            if not self._values[name]
        ]
        if missing:
            raise ImproperlyConfigured(
                f"KAFKA_SECURITY_PROTOCOL={self.protocol} needs {', '.join(missing)} "
                f"(mechanism one of {', '.join(SASL_MECHANISMS[1:])})"
            )

    def _check_unused(self, names: tuple[str, ...], what: str) -> None:
        # A credential that is set but not used is a mistake that would otherwise show only as a refused connection.
        if given := [name for name in names if self._values[name]]:
            raise ImproperlyConfigured(
                f"{', '.join(given)} set, but KAFKA_SECURITY_PROTOCOL={self.protocol} does not use {what}: "
                f"use {'sasl_ssl or sasl_plaintext' if what == 'SASL' else 'ssl or sasl_ssl'}, or unset them"
            )

    def _check_tls_files(self) -> None:
        for name in ("KAFKA_SSL_CA_LOCATION", "KAFKA_SSL_CERTIFICATE_LOCATION", "KAFKA_SSL_KEY_LOCATION"):
            path = self._values[name]
            if path and not os.access(path, os.R_OK):
                raise _malformed(name, "no readable file there", value=path)
        if bool(self.ssl_certificate_location) != bool(self.ssl_key_location):
            raise ImproperlyConfigured(
                "KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION go together (a client certificate and its key)"
            )
        if self.ssl_key_password and not self.ssl_key_location:
            raise ImproperlyConfigured("KAFKA_SSL_KEY_PASSWORD is set without KAFKA_SSL_KEY_LOCATION")

    def librdkafka(self) -> dict[str, str]:
        """The librdkafka configuration keys for these settings (only those that are set)."""
        config = {
            "security.protocol": self.protocol,
            "sasl.mechanism": self.sasl_mechanism.upper(),
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password,
        }
        return {key: value for key, value in config.items() if value}


def _malformed(name: str, expected: str, value: str | None = None) -> ImproperlyConfigured:
    shown = f"={value!r}" if value is not None else ""
    return ImproperlyConfigured(f"Environment variable {name}{shown} is malformed: {expected}")
