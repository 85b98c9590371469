"""The Kafka side of consume_orders: parse events, hand them to the service layer, keep offsets honest."""
