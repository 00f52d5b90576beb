"""Inventory: the product catalog and stock levels per store and SKU."""
