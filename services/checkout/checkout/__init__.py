"""Checkout: sales on the lanes, their totals and tenders."""
