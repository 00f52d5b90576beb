"""Inventory's gRPC API packages."""
