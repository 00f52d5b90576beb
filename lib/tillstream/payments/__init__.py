"""Payments' gRPC API packages."""
