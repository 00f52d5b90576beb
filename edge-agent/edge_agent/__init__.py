"""The store's edge agent: lanes' gateway, device drivers, offline mode (grows with its issue)."""
