"""CRM's gRPC API packages."""
