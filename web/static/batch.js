// The batch page: upload a long-format CSV as a batch (POST /v1/batches, text/csv), follow it to
// its end (batch events on /v1/events?batch=ID, with polling of GET /v1/batches/ID beside them
// for a gateway without them), then read the leaderboard of a backtest (windows, step and
// methods on the form) and browse each series' forecast. /static/batch.html?batch=ID follows a
// batch made elsewhere.

import { render as renderChart, fmt } from "./chart.js";
import { authHeaders, getToken } from "./live.js";
import { $, h } from "./dom.js";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const POLL_MS = 1500;
const PAGE = 100; // series rows shown at once

const state = {
  id: "",
  follow: null, // {es, timer} while following
  history: new Map(), // series_id → {values, timestamps} from the uploaded file
  results: [],
  shown: PAGE,
  selected: "",
};

// ---------- the uploaded file, read for the charts' history (the gateway reads it for the batch) ----------

// parseLongCSV groups rows of series_id,timestamp,value by series, ordered by time. Columns are
// found by header name (series_id|unique_id|id, timestamp|ds|time, value|y), else by position.
export function parseLongCSV(text) {
  const rows = text.split(/\r?\n/).filter((l) => l.trim() !== "").map((l) => l.split(",").map((c) => c.trim().replace(/^"(.*)"$/, "$1")));
  const out = new Map();
  if (!rows.length) return out;
  let [sid, ts, val] = [0, 1, 2];
  const head = rows[0].map((c) => c.toLowerCase());
  if (!Number.isFinite(Number(rows[0][2]))) {
    const find = (names, def) => { const i = head.findIndex((c) => names.includes(c)); return i < 0 ? def : i; };
    sid = find(["series_id", "unique_id", "id"], 0);
    ts = find(["timestamp", "ds", "time", "date"], 1);
    val = find(["value", "y"], 2);
    rows.shift();
  }
  for (const r of rows) {
    const t = Date.parse(r[ts]);
    const v = r[val] === "" || /^(na|nan|null)$/i.test(r[val] ?? "") ? null : Number(r[val]);
    if (!out.has(r[sid])) out.set(r[sid], []);
    out.get(r[sid]).push({ t, ts: r[ts], v: Number.isFinite(v) ? v : null });
  }
  for (const [k, obs] of out) {
    obs.sort((a, b) => a.t - b.t);
    const dated = obs.every((o) => Number.isFinite(o.t));
    out.set(k, { values: obs.map((o) => o.v), timestamps: dated ? obs.map((o) => new Date(o.t).toISOString()) : undefined });
  }
  return out;
}

// ---------- the form ----------

const FIELDS = {
  file: "up-file", method: "up-method", horizon: "up-horizon", levels: "up-levels", season_length: "up-season",
  windows: "up-windows", step: "up-step", methods: "up-methods",
};
const MAX_METHODS = 4; // compared at once, as POST /v1/batches allows

// fieldOf is the form field a problem's name belongs to: methods[2] is the methods field's.
const fieldOf = (name) => name.replace(/^(methods)\[\d+\]$/, "$1");

function fieldError(name, msg) {
  const input = $(FIELDS[fieldOf(name)]);
  const err = input ? $(`${input.id}-err`) : $("up-err");
  const text = input ? msg : `${name}: ${msg}`;
  err.textContent = err.textContent ? `${err.textContent}; ${text}` : text;
  input?.setAttribute("aria-invalid", "true");
}

// The methods compared, in the order they were ticked: the first is the one forecast when
// Method is left at its default.
const ticked = [];

function methodBoxes() { return [...$("up-methods").querySelectorAll("input[type=checkbox]")]; }

function onMethodTicked(ev) {
  const box = ev.target;
  const i = ticked.indexOf(box.value);
  if (i >= 0) ticked.splice(i, 1);
  if (box.checked) ticked.push(box.value);
  limitMethods();
}

// limitMethods leaves no more than MAX_METHODS to tick.
function limitMethods() {
  const full = methodBoxes().filter((b) => b.checked).length >= MAX_METHODS;
  for (const b of methodBoxes()) b.disabled = full && !b.checked;
}

// chosenMethods is the ticked methods in the order ticked (boxes a browser restored, ticked
// without an event, after them in the page's order).
function chosenMethods() {
  const on = methodBoxes().filter((b) => b.checked).map((b) => b.value);
  return [...ticked.filter((m) => on.includes(m)), ...on.filter((m) => !ticked.includes(m))];
}

function clearErrors() {
  for (const id of Object.values(FIELDS)) {
    $(`${id}-err`).textContent = "";
    $(id).removeAttribute("aria-invalid");
  }
  $("up-err").textContent = "";
}

function status(el, text, cls = "") {
  el.textContent = text;
  el.className = `status ${cls}`.trim();
}

// readForm checks what the page can check itself and returns the query, or null.
function readForm() {
  clearErrors();
  let bad = false;
  const file = $("up-file").files[0];
  if (!file) { fieldError("file", "choose a CSV file of series_id,timestamp,value rows"); bad = true; }
  const horizon = $("up-horizon").value.trim();
  if (!/^\d+$/.test(horizon) || Number(horizon) < 1) { fieldError("horizon", "must be a whole number of steps, at least 1"); bad = true; }
  const season = $("up-season").value.trim();
  if (!/^\d+$/.test(season) || Number(season) < 1) { fieldError("season_length", "must be a whole number, at least 1"); bad = true; }
  const levels = $("up-levels").value.split(/[\s,;]+/).filter(Boolean);
  const badLevel = levels.find((l) => !(Number(l) > 0 && Number(l) < 100));
  if (!levels.length || badLevel !== undefined) {
    fieldError("levels", badLevel !== undefined ? `“${badLevel}” is not a percentage strictly between 0 and 100` : "give at least one level, e.g. 80, 95");
    bad = true;
  }
  // The backtest's values are the service's to check (it names the bad one); without windows
  // there is no backtest, and step or methods alone would be ignored, so they are refused here.
  const windows = $("up-windows").value.trim(), step = $("up-step").value.trim(), methods = chosenMethods();
  if (!windows) {
    if (step) { fieldError("step", "applies only to a backtest: set windows"); bad = true; }
    if (methods.length) { fieldError("methods", "apply only to a backtest: set windows"); bad = true; }
  }
  if (bad) return null;
  const q = new URLSearchParams({ horizon, levels: levels.join(","), season_length: season });
  if ($("up-method").value) q.set("method", $("up-method").value); // else auto, or the first method backtested
  if (windows) {
    q.set("windows", windows);
    if (step) q.set("step", step);
    if (methods.length) q.set("methods", methods.join(","));
  }
  return { file, query: q };
}

// showFailure puts a JSend fail's problems next to their fields, or says what the error was.
function showFailure(env, httpStatus) {
  if (env?.status === "fail" && env.data && typeof env.data === "object") {
    const problems = Object.entries(env.data);
    for (const [k, v] of problems) fieldError(k, String(v));
    const where = problems.every(([k]) => FIELDS[fieldOf(k)]) ? "see the fields above" : problems.map(([k, v]) => `${k}: ${v}`).join("; ");
    status($("up-status"), `Refused (${httpStatus}): ${where}`, "bad");
    return;
  }
  status($("up-status"), `The gateway answered ${httpStatus}: ${env?.message ?? "no JSend body"}`, "bad");
}

async function upload(ev) {
  ev.preventDefault();
  const form = readForm();
  if (!form) { status($("up-status"), "Fix the fields above.", "bad"); return; }
  const button = $("up-submit");
  button.disabled = true;
  status($("up-status"), `Uploading ${form.file.name}…`);
  try {
    const text = await form.file.text();
    state.history = parseLongCSV(text);
    const res = await fetch(`/v1/batches?${form.query}`, {
      method: "POST", body: text,
      headers: authHeaders({ "Content-Type": "text/csv", Accept: "application/json" }),
    });
    const env = await res.json().catch(() => null);
    if (env?.status !== "success") { showFailure(env, res.status); return; }
    status($("up-status"), `Accepted: ${env.data.total} series.`, "ok");
    follow(env.data.batch_id, env.data);
  } catch (err) {
    status($("up-status"), `Upload failed: ${err.message}`, "bad");
  } finally {
    button.disabled = false;
  }
}

// ---------- following a batch ----------

function stopFollowing() {
  if (!state.follow) return;
  state.follow.es?.close();
  clearTimeout(state.follow.timer);
  state.follow = null;
}

function follow(id, first) {
  stopFollowing();
  state.id = id;
  state.results = [];
  const url = new URL(location.href);
  url.searchParams.set("batch", id);
  history.replaceState(null, "", url);
  $("progress-panel").hidden = false;
  $("board-panel").hidden = true;
  $("series-panel").hidden = true;
  $("batch-id").textContent = id;
  $("batch-via").textContent = "";
  const f = { es: null, timer: 0, live: false };
  state.follow = f;
  if (first) showStatus(first);

  // Batch events when the gateway has them; polling either way, less often once events flow.
  if (typeof EventSource === "function") {
    const token = getToken();
    const es = new EventSource(`/v1/events?batch=${encodeURIComponent(id)}${token ? `&access_token=${encodeURIComponent(token)}` : ""}`);
    f.es = es;
    const onEvent = (e) => {
      let d;
      try { d = JSON.parse(e.data); } catch { return; }
      if (d.batch_id !== id || state.follow !== f) return;
      f.live = true;
      $("batch-via").textContent = "live batch events";
      if (e.type === "batch_done") poll(f); // the status has the final counts
      else showStatus({ ...d, status: d.status ?? "running" });
    };
    es.addEventListener("batch_progress", onEvent);
    es.addEventListener("batch_done", onEvent);
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) f.es = null; };
  }
  poll(f);
}

async function poll(f) {
  if (state.follow !== f) return;
  clearTimeout(f.timer);
  try {
    const res = await fetch(`/v1/batches/${encodeURIComponent(state.id)}`, { headers: authHeaders({ Accept: "application/json" }) });
    const env = await res.json();
    if (state.follow !== f) return;
    if (env.status !== "success") {
      $("batch-counts").textContent = env.data?.batch_id ?? env.message ?? `status ${res.status}`;
      stopFollowing();
      return;
    }
    if (!f.live) $("batch-via").textContent = "polling the status";
    showStatus(env.data);
    if (TERMINAL.has(env.data.status)) {
      stopFollowing();
      await loadResults(env.data.batch_id);
      return;
    }
  } catch { /* the gateway may be restarting: try again */ }
  if (state.follow === f) f.timer = setTimeout(() => poll(f), f.live ? 3 * POLL_MS : POLL_MS);
}

function showStatus(s) {
  const badge = $("batch-status");
  badge.textContent = s.status ?? "";
  badge.dataset.status = s.status ?? "";
  badge.className = `badge ${{ succeeded: "ok", failed: "bad", cancelled: "warn" }[s.status] ?? ""}`.trim();
  const total = s.total ?? 0, done = s.done ?? 0;
  $("batch-progress").max = Math.max(total, 1);
  $("batch-progress").value = done;
  const parts = [`${done} of ${total} series done`];
  if (s.failed) parts.push(`${s.failed} failed`);
  if (Number.isFinite(s.eta_ms) && !TERMINAL.has(s.status)) parts.push(`about ${eta(s.eta_ms)} left`);
  if (s.error) parts.push(s.error);
  $("batch-counts").textContent = parts.join(" · ");
  $("batch-cancel").hidden = TERMINAL.has(s.status);
}

function eta(ms) {
  const s = Math.round(ms / 1000);
  return s < 90 ? `${s}s` : `${Math.round(s / 60)} min`;
}

async function cancelBatch() {
  const id = state.id;
  const res = await fetch(`/v1/batches/${encodeURIComponent(id)}`, { method: "DELETE", headers: authHeaders({ Accept: "application/json" }) });
  const env = await res.json().catch(() => null);
  if (env?.status === "success" && state.follow) poll(state.follow);
  else if (env?.status === "success") showStatus(env.data);
}

// ---------- results: leaderboard and series ----------

async function loadResults(id) {
  const res = await fetch(`/v1/batches/${encodeURIComponent(id)}/results`, { headers: authHeaders({ Accept: "application/json" }) });
  const env = await res.json().catch(() => null);
  if (env?.status !== "success" || state.id !== id) return;
  const data = env.data;
  state.results = data.results ?? [];
  state.shown = PAGE;
  renderBoard(leaderboard(data));
  renderSeries();
  const first = state.results.find((r) => r.status === "succeeded" || r.point);
  if (first) select(first.name);
  document.documentElement.dataset.batchResults = "loaded";
}

// leaderboard is the overall accuracy of each method of a batch's backtest (mase, smape and
// coverage per level), in the service's leaderboard order (best MASE first, ties by sMAPE). It is
// empty when the batch had no backtest.
export function leaderboard(data) {
  const overall = data?.overall ?? {};
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  return (data?.leaderboard ?? []).filter((m) => overall[m]).map((m) => ({
    method: m, mase: num(overall[m].mase), smape: num(overall[m].smape), coverage: overall[m].coverage ?? {},
  }));
}

// A coverage may be a fraction (0.93) or a percentage (93).
const pct = (v) => (typeof v === "number" && Number.isFinite(v) ? `${fmt(v <= 1 ? v * 100 : v, 3)}%` : "–");

function renderBoard(rows) {
  $("board-panel").hidden = false;
  $("board-empty").hidden = rows.length > 0;
  const table = $("board");
  table.hidden = rows.length === 0;
  if (!rows.length) return;
  const levels = [...new Set(rows.flatMap((r) => Object.keys(r.coverage)))].sort((a, b) => parseFloat(a) - parseFloat(b));
  table.tHead.replaceChildren(h("tr", {},
    h("th", { scope: "col", text: "Rank" }), h("th", { scope: "col", text: "Method" }),
    h("th", { scope: "col", text: "MASE" }), h("th", { scope: "col", text: "sMAPE" }),
    ...levels.map((l) => h("th", { scope: "col", text: `${l}% coverage` }))));
  table.tBodies[0].replaceChildren(...rows.map((r, i) => h("tr", {},
    h("td", { class: "num", text: String(i + 1) }), h("th", { scope: "row", text: r.method }),
    h("td", { class: "num", text: fmt(r.mase) }), h("td", { class: "num", text: fmt(r.smape) }),
    ...levels.map((l) => h("td", { class: "num", text: pct(r.coverage[l]) })))));
}

function errorText(err) {
  if (!err) return "";
  if (typeof err === "string") return err;
  if (err.message) return err.message;
  if (err.data && typeof err.data === "object") return Object.entries(err.data).map(([k, v]) => `${k}: ${v}`).join("; ");
  return err.status ?? "";
}

function renderSeries() {
  $("series-panel").hidden = false;
  const filter = $("series-filter").value.trim().toLowerCase();
  const rows = state.results.filter((r) => !filter || String(r.name).toLowerCase().includes(filter));
  $("series-count").textContent = `· ${rows.length}${filter ? ` of ${state.results.length}` : ""}`;
  const body = $("series-table").tBodies[0];
  body.replaceChildren(...rows.slice(0, state.shown).map((r) => {
    const tone = { succeeded: "ok", failed: "bad", skipped: "warn" }[r.status] ?? "";
    return h("tr", { "aria-selected": r.name === state.selected ? "true" : "false", "data-name": r.name },
      h("td", { class: "name" }, h("button", { type: "button", text: r.name, onclick: () => select(r.name) })),
      h("td", {}, h("span", { class: `badge ${tone}`.trim(), text: r.status ?? (r.error ? "failed" : "succeeded") })),
      h("td", { text: r.method ?? "" }),
      h("td", { class: "num", text: r.point?.length ? fmt(r.point[0]) : "" }),
      h("td", { class: "small", text: errorText(r.error) }));
  }));
  $("series-more").hidden = rows.length <= state.shown;
}

function select(name) {
  state.selected = name;
  for (const tr of $("series-table").tBodies[0].rows) tr.setAttribute("aria-selected", tr.dataset.name === name ? "true" : "false");
  const r = state.results.find((x) => x.name === name);
  const chart = $("series-chart");
  const history = state.history.get(name) ?? null;
  const fc = r?.point ? r : null;
  chart.hidden = false;
  const drawn = renderChart(chart, {
    history, fc, start: history?.values.length ?? 0, key: `${state.id}#${name}`,
    title: `${name}: ${history ? "series and " : ""}${fc ? `${fc.point.length}-step forecast` : "no forecast"}`,
  });
  chart.hidden = !drawn;
  $("series-chart-title").textContent = drawn
    ? `${name}${r?.method ? ` · ${r.method}` : ""}${history ? "" : " · the series itself is drawn for files uploaded from this page"}`
    : `${name}: ${errorText(r?.error) || "nothing to draw"}`;
}

// ---------- start ----------

$("up-form").addEventListener("submit", upload);
for (const b of methodBoxes()) b.addEventListener("change", onMethodTicked);
limitMethods();
$("batch-cancel").addEventListener("click", cancelBatch);
$("series-filter").addEventListener("input", () => { state.shown = PAGE; renderSeries(); });
$("series-more").addEventListener("click", () => { state.shown += PAGE; renderSeries(); });
const fromURL = new URL(location.href).searchParams.get("batch");
if (fromURL) follow(fromURL, null);
document.documentElement.dataset.ready = "true";
