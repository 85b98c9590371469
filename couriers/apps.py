from django.apps import AppConfig


class CouriersConfig(AppConfig):
    name = "couriers"
    verbose_name = "Courier dispatch"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from couriers.metrics import FleetCollector, OutboxCollector

        # Collects nothing until scraped, so registering costs start-up nothing.
        REGISTRY.register(FleetCollector())
        REGISTRY.register(OutboxCollector())
