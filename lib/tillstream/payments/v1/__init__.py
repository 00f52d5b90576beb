"""Payments' gRPC API (generated from proto/tillstream/payments/v1)."""
