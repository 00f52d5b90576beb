"""Analytics' gRPC API (generated from proto/tillstream/analytics/v1)."""
