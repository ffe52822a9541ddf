// The rebalancer dashboard: plain JavaScript, no build step, served by the daemon.
// The API key lives in sessionStorage (this tab only) and goes out in the X-API-Key header;
// the browser never sends it by itself, so no other site can act with it.
"use strict";

const KEY_STORAGE = "rebalancer.apiKey";
const REFRESH_MS = 10000;
const $ = (selector) => document.querySelector(selector);
let refreshTimer = null;
let busy = false;

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function apiKey() { return sessionStorage.getItem(KEY_STORAGE); }

async function api(path, options = {}) {
  const headers = { "X-API-Key": apiKey() || "" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    cache: "no-store",
  });
  const body = await response.json().catch(() => null);
  if (response.status === 401) signOut("Your key was not accepted; sign in again.");
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// -- formatting (decimal strings in, text out; display only) ---------------------------------

const money = (text) => text == null ? "–" :
  Number(text).toLocaleString(undefined, { style: "currency", currency: "USD" });
const percent = (text, digits = 2) => text == null ? "–" : `${(Number(text) * 100).toFixed(digits)}%`;
// "growth 60% / income 40%": whom a line is for (strategy -> share); "" when not attributed.
const shares = (byName) => byName == null ? "" : Object.keys(byName).length === 0 ? "no strategy" :
  Object.entries(byName).sort((a, b) => Number(b[1]) - Number(a[1]))
    .map(([name, share]) => `${name} ${percent(share, 0)}`).join(" / ");
const strategiesOf = (account) => account.strategies.length > 1
  ? account.strategies.map((s) => `${s.name} ${percent(s.weight, 0)}`).join(" + ")
  : account.strategy_name;
const when = (iso) => iso == null ? "–" : new Date(iso).toLocaleString();
function age(secs) {
  if (secs == null) return "–";
  if (secs < 90) return `${Math.round(secs)} s ago`;
  if (secs < 5400) return `${Math.round(secs / 60)} min ago`;
  if (secs < 172800) return `${Math.round(secs / 3600)} h ago`;
  return `${Math.round(secs / 86400)} days ago`;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(cells, attrs = {}) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.append(c);
  for (const [k, v] of Object.entries(attrs)) tr.setAttribute(k, v);
  return tr;
}

function statusCell(status) {
  const cls = status === "succeeded" ? "ok" : status === "running" ? "warn" : "bad";
  return cell(status, cls);
}

// -- views ------------------------------------------------------------------------------------

function show(view) {
  for (const id of ["login-view", "overview-view", "account-view"]) $(`#${id}`).hidden = id !== view;
  $("#logout").hidden = view === "login-view";
}

function signOut(message) {
  sessionStorage.removeItem(KEY_STORAGE);
  clearInterval(refreshTimer);
  show("login-view");
  $("#login-error").textContent = message || "";
}

async function renderConnection() {
  const status = await api("/api/v1/connection/status");
  const cards = [];
  for (const broker of status.brokers) {
    const ok = broker.reachable;
    cards.push([`Gateway ${broker.broker}`, ok ? "reachable" : `unreachable${broker.error ? ": " + broker.error : ""}`,
      ok ? "ok" : "bad", broker.address || ""]);
  }
  const rt = status.realtime.state;
  cards.push(["Realtime signals", rt, rt === "connected" ? "ok" : rt === "disabled" ? "warn" : "bad",
    status.realtime.channels.join(", ")]);
  const last = status.last_signal;
  cards.push(["Last signal", last ? when(last.received_at) : "none yet", "", last ? `${last.channel}: ${last.outcome || ""}` : ""]);
  cards.push(["Runs in progress", String(status.active_runs), "", ""]);
  const box = $("#connection");
  box.replaceChildren(...cards.map(([label, value, cls, detail]) => {
    const div = document.createElement("div");
    div.className = "card";
    div.innerHTML = '<div class="label"></div><div class="value"></div><div class="label detail"></div>';
    div.querySelector(".label").textContent = label;
    div.querySelector(".value").textContent = value;
    if (cls) div.querySelector(".value").classList.add(cls);
    div.querySelector(".detail").textContent = detail;
    return div;
  }));
}

async function renderOverview() {
  const data = await api("/api/v1/accounts");
  const mode = $("#mode");
  mode.textContent = data.trading_mode;
  mode.className = `badge ${data.trading_mode}`;
  const rows = data.accounts.map((a) => {
    const last = a.last_run;
    const lastText = a.running_run_id ? "running…" :
      last ? `${MODES[last.mode]} ${last.status}, ${when(last.finished_at || last.started_at)}` : "none";
    const tr = row([
      cell(a.account_id + (a.tradable ? "" : " (not traded)")),
      cell(strategiesOf(a)),
      cell(money(a.total_value), "num"),
      cell(money(a.cash_balance), "num"),
      cell(a.drift ? percent(a.drift.total) : "–", "num"),
      cell(a.holdings_source === "snapshot" ? `snapshot, ${age(a.snapshot.age_secs)}` :
        a.preview ? `preview, ${age(a.preview.age_secs)}` + (a.preview.stale ? " (stale)" : "") : "none"),
      cell(lastText),
    ], { "data-account": a.account_id, class: "link" });
    tr.addEventListener("click", () => { location.hash = `#/account/${encodeURIComponent(a.account_id)}`; });
    return tr;
  });
  $("#accounts-table tbody").replaceChildren(...rows);
  await renderConnection();
}

const MODES = { "rebalance": "rebalance", "print-rebalance": "preview", "snapshot": "snapshot" };

function holdingsText(detail) {
  const info = detail.preview;
  const snap = detail.snapshot;
  if (detail.holdings_source === "snapshot") {
    return `From the portfolio snapshot of ${when(snap.taken_at)} (${age(snap.age_secs)})` +
      (snap.targets_known ? ", against the targets stored with it" : "; its targets could not be read, so no drift") +
      (info ? `; newer than the last preview (${age(info.age_secs)}). Press Preview for proposed trades.` : ". Press Preview for proposed trades.");
  }
  if (detail.holdings_source === "preview") {
    return `From the preview of ${when(info.finished_at)} (${age(info.age_secs)}, started by ${info.source})` +
      (info.stale ? ". A rebalance ran since: press Preview to refresh." : ".");
  }
  return "No preview or snapshot yet: press Preview or Snapshot now.";
}

function renderHoldings(detail) {
  $("#preview-info").textContent = holdingsText(detail);
  const rows = detail.holdings.map((h) => {
    const drift = h.drift == null ? 0 : Number(h.drift);
    const trade = h.trade_quantity === 0 ? "–" : `${h.direction} ${Math.abs(h.trade_quantity)}`;
    return row([
      cell(h.symbol), cell(percent(h.current_weight), "num"), cell(percent(h.target_weight), "num"),
      cell(percent(h.drift), "num " + (Math.abs(drift) > 0.01 ? "warn" : "")),
      cell(money(h.current_value), "num"), cell(money(h.target_value), "num"), cell(trade, "num"),
      cell(detail.strategies.length > 1 ? shares(h.strategies) : ""),
    ], { "data-symbol": h.symbol });
  });
  $("#holdings-table tbody").replaceChildren(...rows);
}

// What each metric means (the formulas: packages/portfolio-analytics). Shown on hover and
// in the footnote under the list, since a phone has no hover.
const number = (digits) => (v) => v == null ? "–" : v.toFixed(digits);
const ratio = (v) => v == null ? "–" : `${(v * 100).toFixed(2)}%`;
const METRICS = [
  ["total_return", "Time-weighted return", ratio,
    "Growth of the account over the period with deposits and withdrawals left out: the daily returns compounded."],
  ["annual_return", "Annual return (CAGR)", ratio,
    "The time-weighted return as a yearly rate (252 trading days a year)."],
  ["annual_volatility", "Volatility", ratio,
    "Standard deviation of the daily returns, scaled to a year (× √252)."],
  ["sharpe_ratio", "Sharpe ratio", number(2),
    "Mean daily return above the risk-free rate divided by its standard deviation, scaled to a year. Higher is better."],
  ["sortino_ratio", "Sortino ratio", number(2),
    "Like Sharpe, but divided by the downside deviation only (days below the risk-free rate)."],
  ["max_drawdown", "Max drawdown", (v) => v == null ? "–" : ratio(v.depth) +
      (v.trough ? ` (${v.peak} → ${v.trough}${v.recovery ? ", recovered " + v.recovery : ", not recovered"})` : ""),
    "The deepest fall of the time-weighted value below its previous peak, with the peak, trough and recovery days."],
  ["calmar_ratio", "Calmar ratio", number(2),
    "Annual return divided by the max drawdown; none without a drawdown."],
  ["omega_ratio", "Omega ratio", number(2),
    "Sum of the daily gains above the risk-free rate divided by the sum of the shortfalls below it."],
  ["cvar_95", "CVaR 95%", ratio,
    "Conditional value at risk: the mean of the worst 5% of daily returns (what a bad day costs on average)."],
  ["cvar_95_amount", "CVaR 95% in $", money,
    "CVaR 95% applied to the latest value: a bad day's loss in dollars."],
  ["net_cash_flow", "Deposits − withdrawals", money,
    "Cash that came in or went out between snapshots and was not trading (found by reconciling cash with the fills)."],
];
const BENCHMARK = [
  ["benchmark_total_return", "Benchmark return", ratio, "Total return of the benchmark (SPY) over the same days."],
  ["alpha", "Alpha", ratio, "Annualised return not explained by the benchmark (CAPM)."],
  ["beta", "Beta", number(2), "How much the account moves with the benchmark (1: like it)."],
];

function metricEntries(report) {
  const entries = [];
  const add = (list, source) => {
    for (const [key, label, format, definition] of list) {
      if (source && key in source) entries.push([label, format(source[key]), definition]);
    }
  };
  add(METRICS, report.metrics);
  add(BENCHMARK, report.benchmark);
  return entries;
}

function renderMetrics(report) {
  const entries = metricEntries(report);
  $("#metrics").replaceChildren(...entries.map(([label, text, definition]) => {
    const div = document.createElement("div");
    div.title = definition;
    const dt = document.createElement("dt"); dt.textContent = label; dt.title = definition;
    const dd = document.createElement("dd"); dd.textContent = text;
    div.append(dt, dd);
    return div;
  }));
  $("#metric-definitions").hidden = entries.length === 0;
  $("#metric-definitions ul").replaceChildren(...entries.map(([label, , definition]) => {
    const li = document.createElement("li");
    const b = document.createElement("b"); b.textContent = `${label}: `;
    li.append(b, definition);
    return li;
  }));
  const period = report.metrics
    ? `${report.metrics.start_date} to ${report.metrics.end_date}, ${report.days} trading days` +
      (report.cash_flows.length ? `, ${report.cash_flows.length} deposits/withdrawals left out of the returns` : "")
    : "";
  $("#performance-period").textContent = period;
  $("#performance-notes").replaceChildren(...report.notes.map((note) => {
    const li = document.createElement("li"); li.textContent = note; return li;
  }));
}

// Days are New York trading days: plotted at UTC midnight and labelled in UTC, so no time
// zone of the browser shifts a point to the day before.
const dayStamp = (text) => { const [y, m, d] = text.split("-").map(Number); return Date.UTC(y, m - 1, d) / 1000; };
const DAY_SECS = 86400;
const dayAxis = { incrs: [1, 2, 7, 14, 30, 91, 182, 365].map((n) => n * DAY_SECS),
  values: (u, ticks) => ticks.map((t) => new Date(t * 1000).toISOString().slice(0, 10)) };
const daySeries = { value: (u, v) => v == null ? "–" : new Date(v * 1000).toISOString().slice(0, 10) };
const PADDING = [12, 36, 0, 0];  // room for the last date label
const utc = (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
let charts = [];
function drawCurve(report) {
  const box = $("#equity-chart");
  for (const chart of charts) chart.destroy();
  charts = [];
  box.replaceChildren();
  const curve = report.equity_curve;
  if (curve.length < 2) return false;
  const xs = curve.map((p) => dayStamp(p.date));
  const values = curve.map((p) => Number(p.value));
  const flows = curve.map((p) => Number(p.cash_flow) !== 0 ? Number(p.value) : null);
  const drawdowns = curve.map((p) => -p.drawdown);
  const width = Math.max(280, Math.min(box.clientWidth || 600, 1060));
  const sync = { key: "equity" };
  charts.push(new uPlot({
    width, height: 220, cursor: { sync }, tzDate: utc, padding: PADDING,
    series: [daySeries, { label: "Value", stroke: "#0b5cad", width: 2, value: (u, v) => v == null ? "–" : money(String(v)) },
      { label: "Deposit/withdrawal", stroke: "#9a6700", fill: "#9a6700", paths: () => null,
        points: { show: true, size: 8 }, value: (u, v, s, i) => v == null ? "–" : money(curve[i].cash_flow) }],
    axes: [dayAxis, { values: (u, vals) => vals.map((v) => `$${Math.round(v).toLocaleString()}`), size: 84 }],
  }, [xs, values, flows], box));
  charts.push(new uPlot({
    width, height: 110, cursor: { sync }, tzDate: utc, padding: PADDING,
    scales: { y: { range: (u, min) => [Math.min(min * 1.1, -0.001), 0] } },
    series: [daySeries, { label: "Drawdown", stroke: "#c62828", width: 1, fill: "rgba(198, 40, 40, 0.18)",
      value: (u, v) => v == null ? "–" : `${(v * 100).toFixed(2)}%` }],
    axes: [dayAxis, { values: (u, vals) => vals.map((v) => `${(v * 100).toFixed(1)}%`), size: 84 }],
  }, [xs, drawdowns], box));
  return true;
}

async function renderPerformance(accountId) {
  const report = await api(`/api/v1/accounts/${encodeURIComponent(accountId)}/performance`);
  const drawn = drawCurve(report);
  $("#performance-empty").textContent = drawn ? "" : report.days === 1
    ? "One trading day with a snapshot so far: the curve starts with the second."
    : "No portfolio snapshot yet: they are taken daily after the close, after every rebalance, and by Snapshot now.";
  renderMetrics(report);
}

async function showRun(runId) {
  const run = await api(`/api/v1/runs/${encodeURIComponent(runId)}`);
  $("#run-detail").hidden = false;
  $("#run-detail-title").textContent = `Run ${run.run_id}: ${run.mode} ${run.status}`;
  $("#run-detail-error").textContent = run.error || "";
  const orders = run.orders.length ? run.orders.map((o) => row([
    cell(o.order_id || "–"), cell(o.side), cell(o.symbol), cell(String(o.quantity), "num"),
    cell(money(o.price), "num"), cell(o.status || "–"), cell(o.filled_quantity == null ? "–" : String(o.filled_quantity), "num"),
    cell(money(o.avg_fill_price), "num"),
  ], { "data-order": o.order_id || "" })) : run.proposed_trades.map((t) => row([
    cell("proposed"), cell(t.side), cell(t.symbol), cell(String(t.quantity), "num"),
    cell(money(t.price), "num"), cell("–"), cell("–", "num"), cell("–", "num"),
  ]));
  $("#orders-table tbody").replaceChildren(...orders);
  for (const tr of document.querySelectorAll("#runs-table tbody tr")) {
    tr.classList.toggle("selected", tr.dataset.run === runId);
  }
}

async function renderRuns(accountId) {
  const data = await api(`/api/v1/runs?account_id=${encodeURIComponent(accountId)}&limit=20`);
  const rows = data.runs.map((r) => {
    const tr = row([
      cell(when(r.started_at)), cell(MODES[r.mode]), cell(r.source),
      statusCell(r.status), cell(String(r.order_count), "num"), cell(money(r.total_value), "num"),
    ], { "data-run": r.run_id, class: "link" });
    tr.addEventListener("click", () => showRun(r.run_id).catch(report));
    return tr;
  });
  $("#runs-table tbody").replaceChildren(...rows);
}

async function renderAccount(accountId) {
  const detail = await api(`/api/v1/accounts/${encodeURIComponent(accountId)}`);
  $("#account-title").textContent = `${detail.account_id} · ${strategiesOf(detail)}`;
  $("#account-summary").textContent =
    `${detail.type} account, ${detail.tradable ? "traded" : "not traded (disabled or other mode)"}; ` +
    `value ${money(detail.total_value)}, cash ${money(detail.cash_balance)}` +
    (detail.drift ? `, drift ${percent(detail.drift.total)} (largest ${percent(detail.drift.max_abs)})` : "");
  for (const id of BUTTONS) $(id).disabled = busy || !detail.tradable;
  renderHoldings(detail);
  await Promise.all([renderRuns(accountId), renderPerformance(accountId)]);
}

// -- actions ----------------------------------------------------------------------------------

function report(error) {
  $("#action-status").textContent = error.message;
  $("#action-status").className = "error";
}

const BUTTONS = ["#preview-btn", "#snapshot-btn", "#execute-btn"];

function setBusy(state, message) {
  busy = state;
  for (const id of BUTTONS) $(id).disabled = state;
  $("#action-status").textContent = message || "";
  $("#action-status").className = "";
}

async function preview(accountId) {
  setBusy(true, "Previewing…");
  try {
    const run = await api(`/api/v1/accounts/${encodeURIComponent(accountId)}/calculate`, { method: "POST", body: {} });
    setBusy(false, `Preview ${run.status}: ${run.proposed_trades.length} trades proposed.`);
    await renderAccount(accountId);
    return run;
  } catch (error) {
    setBusy(false);
    report(error);
    throw error;
  }
}

async function snapshotNow(accountId) {
  setBusy(true, "Taking a snapshot…");
  try {
    const run = await api(`/api/v1/accounts/${encodeURIComponent(accountId)}/snapshot`, { method: "POST", body: {} });
    setBusy(false, `Snapshot ${run.status}: value ${money(run.total_value)}.`);
    await renderAccount(accountId);
  } catch (error) {
    setBusy(false);
    report(error);
  }
}

function confirmPlan(accountId, run) {
  $("#confirm-text").textContent = run.proposed_trades.length
    ? `These ${run.proposed_trades.length} orders would be placed on ${accountId} now:`
    : `The preview proposes no trade for ${accountId}; a rebalance would place nothing.`;
  $("#plan-table tbody").replaceChildren(...run.proposed_trades.map((t) => row([
    cell(t.side), cell(t.symbol), cell(String(t.quantity), "num"), cell(money(t.estimated_value), "num"),
  ])));
  const dialog = $("#confirm-dialog");
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "execute"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

// Server-Sent Events over fetch (EventSource cannot send the key header).
async function followRuns(accountId, onEvent, controller) {
  const response = await fetch(`/api/v1/stream?account_id=${encodeURIComponent(accountId)}`, {
    headers: { "X-API-Key": apiKey() || "" }, signal: controller.signal, cache: "no-store",
  });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let connected;
  const ready = new Promise((resolve) => { connected = resolve; });
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (frame.startsWith(": connected")) connected();
        const kind = /^event: (.*)$/m.exec(frame);
        const data = /^data: (.*)$/m.exec(frame);
        if (kind && data) onEvent(kind[1], JSON.parse(data[1]));
      }
    }
  })().catch(() => {});
  return ready;
}

function logLine(text, cls) {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  $("#progress-log").append(li);
}

function describe(kind, data) {
  if (kind === "run_started") return [`run ${data.run_id} started (${data.mode}, by ${data.source})`];
  if (kind === "order") {
    const fill = data.filled_quantity ? `, filled ${data.filled_quantity}${data.avg_fill_price ? " @ " + data.avg_fill_price : ""}` : "";
    return [`order ${data.order_id || "(placing)"}: ${data.side} ${data.quantity} ${data.symbol} ${data.status || "planned"}${fill}`,
      data.status === "FILLED" ? "ok" : ""];
  }
  return [`run finished: ${data.status}, ${data.orders} orders${data.error ? ": " + data.error : ""}`,
    data.success ? "ok" : "bad"];
}

async function execute(accountId) {
  let plan;
  try { plan = await preview(accountId); } catch { return; }
  if (!(await confirmPlan(accountId, plan))) { setBusy(false, "Execution cancelled."); return; }
  setBusy(true, "Executing…");
  $("#progress").hidden = false;
  $("#progress-log").replaceChildren();
  const controller = new AbortController();
  try {
    await followRuns(accountId, (kind, data) => logLine(...describe(kind, data)), controller);
    const run = await api(`/api/v1/accounts/${encodeURIComponent(accountId)}/rebalance`, { method: "POST", body: {} });
    setBusy(false, `Rebalance ${run.status}: ${run.orders.length} orders.`);
    await renderAccount(accountId);
    await showRun(run.run_id);
  } catch (error) {
    setBusy(false);
    report(error);
  } finally {
    controller.abort();
  }
}

// -- routing ----------------------------------------------------------------------------------

function currentAccount() {
  const match = /^#\/account\/(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

async function route() {
  if (!apiKey()) { signOut(); return; }
  clearInterval(refreshTimer);
  const accountId = currentAccount();
  try {
    if (accountId) {
      show("account-view");
      $("#run-detail").hidden = true;
      $("#progress").hidden = true;
      $("#action-status").textContent = "";
      await renderAccount(accountId);
    } else {
      show("overview-view");
      await renderOverview();
      refreshTimer = setInterval(() => renderOverview().catch(() => {}), REFRESH_MS);
    }
  } catch (error) {
    if (error.status !== 401) report(error);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, $("#api-key").value);
    $("#api-key").value = "";
    try {
      await api("/api/v1/accounts");
      $("#login-error").textContent = "";
      await route();
    } catch (error) {
      if (error.status !== 401) signOut(error.message);
    }
  });
  $("#logout").addEventListener("click", () => signOut());
  $("#preview-btn").addEventListener("click", () => preview(currentAccount()).catch(() => {}));
  $("#snapshot-btn").addEventListener("click", () => snapshotNow(currentAccount()));
  $("#execute-btn").addEventListener("click", () => execute(currentAccount()));
  window.addEventListener("hashchange", route);
  route();
});
