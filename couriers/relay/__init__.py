"""The outbox relay: events of couriers.services.outbox published to Kafka, at least once, in order per order."""
