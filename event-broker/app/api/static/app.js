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
      last ? `${last.mode === "rebalance" ? "rebalance" : "preview"} ${last.status}, ${when(last.finished_at || last.started_at)}` : "none";
    const tr = row([
      cell(a.account_id + (a.tradable ? "" : " (not traded)")),
      cell(a.strategy_name),
      cell(money(a.total_value), "num"),
      cell(money(a.cash_balance), "num"),
      cell(a.drift ? percent(a.drift.total) : "–", "num"),
      cell(a.preview ? age(a.preview.age_secs) + (a.preview.stale ? " (stale)" : "") : "none"),
      cell(lastText),
    ], { "data-account": a.account_id, class: "link" });
    tr.addEventListener("click", () => { location.hash = `#/account/${encodeURIComponent(a.account_id)}`; });
    return tr;
  });
  $("#accounts-table tbody").replaceChildren(...rows);
  await renderConnection();
}

function renderHoldings(detail) {
  const info = detail.preview;
  $("#preview-info").textContent = info
    ? `From the preview of ${when(info.finished_at)} (${age(info.age_secs)}, started by ${info.source})` +
      (info.stale ? ". A rebalance ran since: press Preview to refresh." : ".")
    : "No preview yet: press Preview.";
  const rows = detail.holdings.map((h) => {
    const drift = Number(h.drift);
    const trade = h.trade_quantity === 0 ? "–" : `${h.direction} ${Math.abs(h.trade_quantity)}`;
    return row([
      cell(h.symbol), cell(percent(h.current_weight), "num"), cell(percent(h.target_weight), "num"),
      cell(percent(h.drift), "num " + (Math.abs(drift) > 0.01 ? "warn" : "")),
      cell(money(h.current_value), "num"), cell(money(h.target_value), "num"), cell(trade, "num"),
    ], { "data-symbol": h.symbol });
  });
  $("#holdings-table tbody").replaceChildren(...rows);
}

let chart = null;
async function renderPerformance(accountId) {
  const perf = await api(`/api/v1/accounts/${encodeURIComponent(accountId)}/performance`);
  const box = $("#equity-chart");
  if (chart) { chart.destroy(); chart = null; }
  box.replaceChildren();
  if (perf.points.length < 2) {
    $("#performance-empty").textContent = perf.source
      ? "Not enough portfolio snapshots yet for a curve."
      : "No portfolio snapshots are recorded yet; the equity curve appears once they are.";
    $("#metrics").replaceChildren();
    return;
  }
  $("#performance-empty").textContent = "";
  const xs = perf.points.map((p) => new Date(p.at).getTime() / 1000);
  const ys = perf.points.map((p) => Number(p.total_value));
  const width = Math.max(280, Math.min(box.clientWidth || 600, 1060));
  chart = new uPlot({
    width, height: 220,
    series: [{}, { label: "Value", stroke: "#0b5cad", width: 2,
      value: (u, v) => v == null ? "–" : money(String(v)) }],
    axes: [{}, { values: (u, vals) => vals.map((v) => `$${Math.round(v).toLocaleString()}`), size: 70 }],
  }, [xs, ys], box);
  const entries = Object.entries(perf.metrics || {}).filter(([, v]) => typeof v !== "object");
  $("#metrics").replaceChildren(...entries.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k.replaceAll("_", " ");
    const dd = document.createElement("dd"); dd.textContent = typeof v === "number" ? v.toFixed(4) : String(v);
    return [dt, dd];
  }));
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
      cell(when(r.started_at)), cell(r.mode === "rebalance" ? "rebalance" : "preview"), cell(r.source),
      statusCell(r.status), cell(String(r.order_count), "num"), cell(money(r.total_value), "num"),
    ], { "data-run": r.run_id, class: "link" });
    tr.addEventListener("click", () => showRun(r.run_id).catch(report));
    return tr;
  });
  $("#runs-table tbody").replaceChildren(...rows);
}

async function renderAccount(accountId) {
  const detail = await api(`/api/v1/accounts/${encodeURIComponent(accountId)}`);
  $("#account-title").textContent = `${detail.account_id} · ${detail.strategy_name}`;
  $("#account-summary").textContent =
    `${detail.type} account, ${detail.tradable ? "traded" : "not traded (disabled or other mode)"}; ` +
    `value ${money(detail.total_value)}, cash ${money(detail.cash_balance)}` +
    (detail.drift ? `, drift ${percent(detail.drift.total)} (largest ${percent(detail.drift.max_abs)})` : "");
  for (const id of ["#preview-btn", "#execute-btn"]) $(id).disabled = busy || !detail.tradable;
  renderHoldings(detail);
  await Promise.all([renderRuns(accountId), renderPerformance(accountId)]);
}

// -- actions ----------------------------------------------------------------------------------

function report(error) {
  $("#action-status").textContent = error.message;
  $("#action-status").className = "error";
}

function setBusy(state, message) {
  busy = state;
  $("#preview-btn").disabled = state;
  $("#execute-btn").disabled = state;
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
  $("#execute-btn").addEventListener("click", () => execute(currentAccount()));
  window.addEventListener("hashchange", route);
  route();
});
