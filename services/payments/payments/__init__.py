"""Payments: card authorizations, tokens and the acquirer link."""
