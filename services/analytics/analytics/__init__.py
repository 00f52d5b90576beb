"""Analytics: read models (projections) of the other services' events, for HQ reports."""
