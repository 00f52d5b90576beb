"""Checkout's gRPC API packages."""
