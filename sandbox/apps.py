from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """Local stand-ins for Kafka and service-order: demo, benchmark and tests only."""

    name = "sandbox"
