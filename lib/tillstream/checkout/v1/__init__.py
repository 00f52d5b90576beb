"""Checkout's gRPC API (generated from proto/tillstream/checkout/v1)."""
