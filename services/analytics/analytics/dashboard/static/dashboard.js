// Tillstream HQ dashboard: fetch the JSON reports, render them, refetch on live events.
// Plain script, no build step. Money arrives in integer minor units with its ISO 4217
// currency; it is turned into a decimal string with integer arithmetic and only then
// formatted, so no float ever rounds an amount shown to HQ.
"use strict";

(() => {
  const LOCALE = document.documentElement.lang || "en";
  const state = { start: "", end: "", store: "", today: "" };
  const charts = { days: null, mix: null, basket: null };
  const palette = ["#1f6feb", "#3fb950", "#d29922", "#a371f7", "#f85149", "#39c5cf", "#8b949e"];
  const $ = (id) => document.getElementById(id);

  function minorDigits(currency) {
    try {
      return new Intl.NumberFormat(LOCALE, { style: "currency", currency })
        .resolvedOptions().maximumFractionDigits;
    } catch (_) {
      return 2;
    }
  }

  function decimalString(minor, digits) {
    const negative = minor < 0;
    const digitsOf = String(Math.abs(minor)).padStart(digits + 1, "0");
    const whole = digits ? digitsOf.slice(0, -digits) : digitsOf;
    const fraction = digits ? "." + digitsOf.slice(-digits) : "";
    return (negative ? "-" : "") + whole + fraction;
  }

  function money(minor, currency) {
    const digits = minorDigits(currency);
    try {
      return new Intl.NumberFormat(LOCALE, { style: "currency", currency })
        .format(decimalString(minor, digits));
    } catch (_) {
      return decimalString(minor, digits) + " " + currency;
    }
  }

  const count = (n) => new Intl.NumberFormat(LOCALE).format(n);
  // Basis points (10000 = 100 %) to a percentage with one decimal, rounded half up, from
  // integers.
  const percent = (bp) => {
    const tenths = Math.floor((Math.abs(bp) + 5) / 10);
    return `${bp < 0 ? "-" : ""}${Math.floor(tenths / 10)}.${tenths % 10}%`;
  };
  const major = (minor, currency) => minor / 10 ** minorDigits(currency); // charts only

  function query(extra) {
    const params = new URLSearchParams({ start: state.start, end: state.end });
    if (state.store) params.set("store_id", state.store);
    for (const [k, v] of Object.entries(extra || {})) params.set(k, v);
    return params.toString();
  }

  async function getJSON(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail; } catch (_) { /* keep statusText */ }
      throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    }
    return response.json();
  }

  // One line per currency: amounts in different currencies are never added up.
  function setLines(element, rows, render, dataset) {
    element.replaceChildren();
    if (!rows.length) {
      element.textContent = "—";
      return;
    }
    for (const row of rows) {
      const line = document.createElement("span");
      line.className = "line";
      line.textContent = render(row);
      for (const [k, v] of Object.entries(dataset(row))) line.dataset[k] = v;
      element.append(line);
    }
  }

  function renderKpis(totals) {
    setLines($("kpi-total"), totals, (r) => money(r.total_minor, r.currency),
      (r) => ({ minor: r.total_minor, currency: r.currency }));
    setLines($("kpi-count"), totals, (r) => count(r.sales_count),
      (r) => ({ value: r.sales_count, currency: r.currency }));
    setLines($("kpi-average"), totals, (r) => money(r.average_basket_minor, r.currency),
      (r) => ({ minor: r.average_basket_minor, currency: r.currency }));
    setLines($("kpi-items"), totals, (r) => count(r.items_sold),
      (r) => ({ value: r.items_sold, currency: r.currency }));
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function renderStores(stores, previous) {
    const body = $("stores-table").querySelector("tbody");
    body.replaceChildren();
    for (const s of stores) {
      const tr = document.createElement("tr");
      tr.dataset.store = s.store_id;
      tr.dataset.currency = s.currency;
      tr.dataset.totalMinor = s.total_minor;
      tr.dataset.salesCount = s.sales_count;
      const name = document.createElement("td");
      const drill = document.createElement("button");
      drill.type = "button";
      drill.className = "link";
      drill.textContent = s.store_id;
      drill.setAttribute("aria-label", `Show store ${s.store_id} only`);
      drill.addEventListener("click", () => { state.store = s.store_id; syncForm(); load(); });
      name.append(drill);
      const link = document.createElement("td");
      const pill = document.createElement("span");
      pill.className = `pill ${s.online ? "on" : "off"}`;
      pill.textContent = s.online ? "Online" : "Offline";
      link.append(pill);
      tr.append(name, link, cell(money(s.total_minor, s.currency), "num"),
        cell(count(s.sales_count), "num"), cell(money(s.average_basket_minor, s.currency), "num"),
        cell(count(s.items_sold), "num"));
      const key = `${s.store_id}/${s.currency}`;
      if (previous && previous.get(key) !== undefined && previous.get(key) !== s.sales_count) {
        tr.classList.add("fresh");
      }
      body.append(tr);
    }
    $("stores-empty").hidden = stores.length > 0;
  }

  function periodLabel(iso, grouping) {
    const moment = new Date(`${iso}Z`);
    if (grouping === "hour") return `${iso.slice(11, 13)}:00`;
    const day = moment.toLocaleDateString(LOCALE, { day: "numeric", month: "short", timeZone: "UTC" });
    if (grouping === "week") return `Week of ${day}`;
    return `${moment.toLocaleDateString(LOCALE, { weekday: "short", timeZone: "UTC" })} ${day}`;
  }

  function renderSeries(series) {
    const names = { hour: "Sales by hour (UTC)", day: "Sales by day", week: "Sales by week" };
    $("days-title").textContent = names[series.grouping];
    if (!window.Chart) return;
    const labels = series.periods.map((p) => periodLabel(p, series.grouping));
    const currencies = [...new Set(series.points.map((p) => p.currency))].sort();
    const pointOf = (currency, period) =>
      series.points.find((p) => p.currency === currency && p.period === period);
    const datasets = currencies.map((currency, i) => ({
      label: currency,
      backgroundColor: palette[i % palette.length],
      borderRadius: 4,
      maxBarThickness: 56,
      data: series.periods.map((period) => major(pointOf(currency, period).total_minor, currency)),
    }));
    const options = {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: {
        legend: { display: currencies.length > 1 },
        tooltip: { callbacks: { label: (c) => {
          const point = pointOf(c.dataset.label, series.periods[c.dataIndex]);
          return point ? `${money(point.total_minor, point.currency)} · ${count(point.sales_count)} sales` : "";
        } } },
      },
      scales: {
        y: { beginAtZero: true, grid: { color: "#eef1f5" },
          ticks: { callback: (v) => (currencies.length === 1
            ? new Intl.NumberFormat(LOCALE, { style: "currency", currency: currencies[0],
              maximumFractionDigits: 0 }).format(v)
            : count(v)) } },
        x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 10 } },
      },
    };
    if (charts.days) charts.days.destroy();
    charts.days = new Chart($("days-chart"), { type: "bar", data: { labels, datasets }, options });
    $("days-chart").setAttribute("aria-label", `${names[series.grouping]}: ${currencies.map((c) =>
      money(series.points.filter((p) => p.currency === c).reduce((a, p) => a + p.total_minor, 0), c)).join(", ") || "no sales"}`);
  }

  function renderMix(rows) {
    const body = $("mix-table").querySelector("tbody");
    body.replaceChildren();
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.dataset.tender = r.tender;
      tr.dataset.totalMinor = r.total_minor;
      const label = r.scheme ? `${r.tender} · ${r.scheme}` : r.tender;
      tr.append(cell(label), cell(count(r.count), "num"), cell(money(r.total_minor, r.currency), "num"),
        cell(percent(r.share_bp), "num"));
      body.append(tr);
    }
    $("mix-empty").hidden = rows.length > 0;
    $("mix-table").hidden = rows.length === 0;
    $("mix-chart").parentElement.hidden = rows.length === 0;
    if (!window.Chart) return;
    if (charts.mix) charts.mix.destroy();
    const first = rows.length ? rows[0].currency : "";
    const shown = rows.filter((r) => r.currency === first);
    charts.mix = new Chart($("mix-chart"), {
      type: "doughnut",
      data: {
        labels: shown.map((r) => (r.scheme ? `${r.tender} · ${r.scheme}` : r.tender)),
        datasets: [{ data: shown.map((r) => major(r.total_minor, r.currency)),
          backgroundColor: shown.map((_, i) => palette[i % palette.length]) }],
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { position: "right" } } },
    });
  }

  function renderProducts(rows) {
    const body = $("products-table").querySelector("tbody");
    body.replaceChildren();
    rows.forEach((r, i) => {
      const tr = document.createElement("tr");
      tr.dataset.sku = r.sku;
      tr.dataset.quantity = r.quantity;
      tr.append(cell(String(i + 1)), cell(r.sku), cell(count(r.quantity), "num"),
        cell(money(r.revenue_minor, r.currency), "num"), cell(count(r.lines), "num"));
      body.append(tr);
    });
    $("products-empty").hidden = rows.length > 0;
    $("products-table").hidden = rows.length === 0;
  }

  const ALERT_LABELS = {
    store_offline: "Store offline", device: "Device", flagged_payment: "Flagged payment",
    low_stock: "Low stock", stock_out: "Out of stock", anomaly: "Unusually quiet hour",
  };

  function renderAlerts(rows) {
    const list = $("alerts-list");
    list.replaceChildren();
    for (const a of rows) {
      const li = document.createElement("li");
      li.dataset.kind = a.kind;
      li.dataset.store = a.store_id;
      const sev = document.createElement("span");
      sev.className = `sev ${a.severity}`;
      sev.textContent = a.severity;
      const what = document.createElement("strong");
      what.textContent = `${ALERT_LABELS[a.kind] || a.kind} · ${a.store_id}`;
      const detail = document.createElement("span");
      detail.textContent = a.subject && a.subject !== a.store_id ? `${a.subject}: ${a.detail}` : a.detail;
      li.append(sev, what, detail);
      list.append(li);
    }
    $("alerts-count").textContent = String(rows.length);
    $("alerts-count").classList.toggle("hot", rows.some((a) => a.severity === "critical"));
    $("alerts").classList.toggle("has", rows.length > 0);
    $("alerts-empty").hidden = rows.length > 0;
  }

  function renderTrend(rows) {
    const hint = $("kpi-trend");
    hint.replaceChildren();
    const t = rows[0];
    if (!t) {
      hint.textContent = "Completed sales total";
      return;
    }
    const weekday = new Date(`${t.day}T00:00:00Z`).toLocaleDateString(LOCALE, { weekday: "short", timeZone: "UTC" });
    if (t.day_change_bp === null) {
      hint.textContent = `No sales last ${weekday} to compare`;
    } else {
      const change = document.createElement("span");
      change.className = t.day_change_bp >= 0 ? "up" : "down";
      change.textContent = `${t.day_change_bp >= 0 ? "▲" : "▼"} ${percent(Math.abs(t.day_change_bp))}`;
      hint.append(change, ` vs last ${weekday}`);
    }
    if (t.forecast_minor) hint.append(` · forecast ${t.forecast_day}: ${money(t.forecast_minor, t.currency)}`);
  }

  function inScope(sale) {
    const day = new Date(sale.completed_at_ms).toISOString().slice(0, 10);
    return (!state.store || sale.store_id === state.store) && day >= state.start && day <= state.end;
  }

  function addSales(sales) {
    const feed = $("sales-feed");
    for (const sale of sales.filter(inScope)) {
      const li = document.createElement("li");
      li.className = "fresh";
      li.dataset.sale = sale.sale_id;
      const what = document.createElement("span");
      what.textContent = `${sale.store_id} · ${count(sale.items_sold)} item${sale.items_sold === 1 ? "" : "s"}${sale.offline ? " · offline" : ""}`;
      const amount = document.createElement("strong");
      amount.textContent = money(sale.total_minor, sale.currency);
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = new Date(sale.completed_at_ms).toLocaleTimeString(LOCALE);
      li.append(what, amount, when);
      feed.prepend(li);
    }
    while (feed.children.length > 15) feed.lastElementChild.remove();
    $("feed-empty").hidden = feed.children.length > 0;
  }

  function fillTable(id, rows, cells, emptyId) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren();
    for (const row of rows) {
      const tr = document.createElement("tr");
      tr.append(...cells(row));
      body.append(tr);
    }
    $(id).hidden = rows.length === 0;
    $(emptyId).hidden = rows.length > 0;
  }

  function sumByCurrency(rows, amount) {
    const sums = {};
    for (const r of rows) if (r.currency) sums[r.currency] = (sums[r.currency] || 0) + amount(r);
    return Object.entries(sums).sort().map(([c, v]) => money(v, c)).join(" · ");
  }

  function renderDetails(d) {
    fillTable("rv-table", d.refunds_voids, (r) => [
      cell(r.store_id), cell(percent(r.return_rate_bp), "num"),
      cell(percent(r.void_rate_bp), "num"), cell(money(r.refunds_minor, r.currency), "num"),
    ], "rv-empty");
    fillTable("cash-table", d.cash_variances.slice(0, 10), (r) => {
      const variance = cell(money(r.variance_minor, r.currency), "num");
      if (r.variance_minor < 0) variance.classList.add("neg");
      const who = cell(`${r.store_id} ${r.lane_id || r.shift_id}`);
      const cashier = document.createElement("small");
      cashier.textContent = `cashier ${r.cashier_id}`;
      who.append(document.createElement("br"), cashier);
      return [who,
        cell(money(r.expected_minor, r.currency), "num"), cell(money(r.counted_minor, r.currency), "num"),
        variance];
    }, "cash-empty");
    $("discounts-total").textContent = sumByCurrency(d.discounts, (r) => r.total_minor) || "None";
    const earned = d.loyalty.reduce((a, r) => a + r.earned_points, 0);
    const redeemed = d.loyalty.reduce((a, r) => a + r.redeemed_points, 0);
    $("loyalty-total").textContent = `${count(earned)} / ${count(redeemed)}`;
    if (!window.Chart) return;
    if (charts.basket) charts.basket.destroy();
    const sizes = d.basket_sizes;
    const cap = Number($("basket-chart").dataset.cap); // the projection's top bucket
    charts.basket = new Chart($("basket-chart"), {
      type: "bar",
      data: {
        labels: sizes.map((b) => (b.items >= cap ? `${b.items}+` : String(b.items))),
        datasets: [{ label: "Sales", data: sizes.map((b) => b.sales_count), backgroundColor: "#a371f7",
          borderRadius: 3, maxBarThickness: 32 }],
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } }, x: { title: { display: true, text: "items" } } } },
    });
  }

  function renderScope() {
    const range = state.start === state.end ? (state.start === state.today ? "Today" : state.start)
      : `${state.start} – ${state.end}`;
    $("scope-title").textContent = state.store ? `Store ${state.store}` : "Chain overview";
    $("scope-subtitle").textContent = `${range}, ${state.store ? "one store" : "all stores"}`;
    document.title = `${$("scope-title").textContent} · Tillstream HQ`;
    $("csv-stores").href = `/api/export/stores.csv?${query()}`;
    $("csv-days").href = `/api/export/series.csv?${query()}`;
    $("csv-mix").href = `/api/export/payment-mix.csv?${query()}`;
    $("csv-products").href = `/api/export/top-products.csv?${query()}`;
    $("csv-alerts").href = `/api/export/alerts.csv?${query()}`;
    $("csv-rv").href = `/api/export/refund-void-rates.csv?${query()}`;
    $("csv-cash").href = `/api/export/cash-variances.csv?${query()}`;
    $("csv-basket").href = `/api/export/basket-sizes.csv?${query()}`;
  }

  function syncForm() {
    $("start").value = state.start;
    $("end").value = state.end;
    $("store").value = state.store;
  }

  async function loadStores() {
    const data = await getJSON("/api/stores");
    state.today = data.today;
    const select = $("store");
    const known = new Set([...select.options].map((o) => o.value));
    for (const id of data.stores) {
      if (known.has(id)) continue;
      const option = document.createElement("option");
      option.value = id;
      option.textContent = id;
      select.append(option);
    }
  }

  let loading = null;
  let again = false;

  // One load at a time; events arriving meanwhile cause exactly one more.
  async function load() {
    if (loading) { again = true; return loading; }
    loading = (async () => {
      do {
        again = false;
        try {
          const previous = new Map([...document.querySelectorAll("#stores-table tbody tr")]
            .map((tr) => [`${tr.dataset.store}/${tr.dataset.currency}`, Number(tr.dataset.salesCount)]));
          const [overview, mix, products, alerts, trend, series, details] = await Promise.all([
            getJSON(`/api/overview?${query()}`), getJSON(`/api/payment-mix?${query()}`),
            getJSON(`/api/top-products?${query()}`), getJSON(`/api/alerts?${query()}`),
            getJSON(`/api/trend?${query()}`), getJSON(`/api/series?${query()}`),
            getJSON(`/api/details?${query()}`),
          ]);
          renderScope();
          renderKpis(overview.totals);
          renderTrend(trend.rows);
          renderStores(overview.stores, previous);
          renderSeries(series);
          renderMix(mix.rows);
          renderProducts(products.rows);
          renderAlerts(alerts.rows);
          renderDetails(details);
          $("filter-error").hidden = true;
          $("updated").textContent = `Updated ${new Date().toLocaleTimeString(LOCALE)}`;
          document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
        } catch (error) {
          $("filter-error").textContent = `Could not load the reports: ${error.message}`;
          $("filter-error").hidden = false;
        }
        // At most a few refreshes a second, however fast sales come in.
        if (again) await new Promise((resolve) => setTimeout(resolve, 400));
      } while (again);
      loading = null;
    })();
    return loading;
  }

  function listen() {
    const live = $("live");
    const source = new EventSource("/api/events");
    source.addEventListener("hello", () => {
      live.className = "live on";
      $("live-text").textContent = "Live";
    });
    const refresh = () => {
      live.classList.remove("pulse");
      void live.offsetWidth; // restart the pulse animation
      live.classList.add("pulse");
      loadStores().catch(() => {});
      load();
    };
    source.addEventListener("sales", (event) => {
      const message = JSON.parse(event.data);
      if (Array.isArray(message.detail)) addSales(message.detail);
      refresh();
    });
    source.addEventListener("changed", refresh);
    source.onerror = () => {
      live.className = "live off";
      $("live-text").textContent = "Reconnecting…";
    };
  }

  async function start() {
    await loadStores();
    const params = new URLSearchParams(location.search);
    state.start = params.get("start") || state.today;
    state.end = params.get("end") || state.start;
    state.store = params.get("store_id") || "";
    syncForm();
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      state.start = $("start").value;
      state.end = $("end").value || state.start;
      state.store = $("store").value;
      history.replaceState(null, "", `?${query()}`);
      load();
    });
    $("today").addEventListener("click", () => {
      state.start = state.end = state.today;
      state.store = "";
      syncForm();
      history.replaceState(null, "", location.pathname);
      load();
    });
    await load();
    listen();
  }

  document.addEventListener("DOMContentLoaded", () => {
    start().catch((error) => {
      $("filter-error").textContent = `Could not start: ${error.message}`;
      $("filter-error").hidden = false;
    });
  });
})();
