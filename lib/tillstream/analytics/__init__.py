"""Analytics' gRPC API packages (generated code under v1)."""
