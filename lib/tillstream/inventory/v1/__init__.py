"""Inventory's gRPC API (generated from proto/tillstream/inventory/v1)."""
