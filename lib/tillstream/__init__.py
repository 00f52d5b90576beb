"""Tillstream's shared kit: infrastructure that two or more services share.

Settings, the embedded NATS server, the event-store wiring, the outbox relay, the tracking
consumers, the integration-event codec, telemetry and test fixtures. No domain types live here.
"""
