"""The HQ dashboard: a web page served by the analytics process, fed by its projections.

- server.py: `Dashboard` (reader engine + live feed + uvicorn on its own thread), started by
  analytics.main when `TILLSTREAM_DASHBOARD_PORT` is not 0 (default 8080).
- app.py: the FastAPI app. `/` the page; JSON under `/api/`: `stores`, `overview`,
  `stores/{store_id}` (drill-down), `payment-mix`, `top-products`, `trend`, `alerts`
  (filters `start`, `end` as UTC days inclusive, `store_id`); `export/{report}.csv` for
  stores, days, payment-mix, top-products and alerts; `events` (server-sent events:
  `sales` with the newly committed sales, `changed` after any other projected batch).
  OpenAPI docs at `/api/docs`.
- queries.py: the numbers, from `analytics.reports.Reports` on the dashboard's own
  connections (SQLite in WAL mode, query_only).
- live.py: `LiveFeed`, from the writer thread to the open pages.
- static/: index.html, dashboard.js, dashboard.css (no build step) and vendor/ Chart.js.
"""
