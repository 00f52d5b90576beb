"""CRM's gRPC API (generated from proto/tillstream/crm/v1)."""
