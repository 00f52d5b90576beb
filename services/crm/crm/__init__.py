"""CRM: customers and their loyalty accounts."""
