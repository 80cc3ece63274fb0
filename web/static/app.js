// The forecastd dashboard: models, fit and forecast forms, the forecast chart, fit progress and
// the live event log. Plain modules, no build step.

import { render as renderChart, fmt, levelsOf } from "./chart.js";
import { Live, authHeaders, getToken, setToken } from "./live.js";
import { $, h } from "./dom.js";

// Limits of the public API, read from /openapi.json at start; until then (or if it cannot be
// read) the page leaves them to the gateway, which checks every one anyway.
const LIMITS = { values: 0, season: 0, horizon: 0, levels: 0, absValue: 0, modelName: null };

async function loadLimits() {
  try {
    const res = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    const { components: { schemas: s } } = await res.json();
    const fit = s.FitRequest.properties, fc = s.ForecastRequest.properties;
    Object.assign(LIMITS, {
      values: fit.values.maxItems, absValue: fit.values.items.maximum, season: fit.season_length.maximum,
      horizon: fc.horizon.maximum, levels: fc.levels.maxItems, modelName: new RegExp(s.ModelName.pattern),
    });
  } catch {
    return;
  }
  $("fit-season").max = String(LIMITS.season);
  $("fc-horizon").max = String(LIMITS.horizon);
  $("fit-values-max").textContent = `Up to ${LIMITS.values.toLocaleString("en").replace(/,/g, " ")} observations. `;
  document.documentElement.dataset.limits = "loaded";
}
const AIR_PASSENGERS = [
  112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118, 115, 126, 141, 135, 125, 149, 170, 170, 158, 133, 114, 140,
  145, 150, 178, 163, 172, 178, 199, 199, 184, 162, 146, 166, 171, 180, 193, 181, 183, 218, 230, 242, 209, 191, 172, 194,
  196, 196, 236, 235, 229, 243, 264, 272, 237, 211, 180, 201, 204, 188, 235, 227, 234, 264, 302, 293, 259, 229, 203, 229,
  242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278, 284, 277, 317, 313, 318, 374, 413, 405, 355, 306, 271, 306,
  315, 301, 356, 348, 355, 422, 465, 467, 404, 347, 305, 336, 340, 318, 362, 348, 363, 435, 491, 505, 404, 359, 310, 337,
  360, 342, 406, 396, 420, 472, 548, 559, 463, 407, 362, 405, 417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432,
];

const live = new Live();
const state = {
  models: new Map(), // name → model view from /v1/models
  selected: "",
  progress: new Map(), // "model#gen" → percent, from events and command steps
  jobs: new Map(), // key → {kind, model, generation, status, percent, label}
  shown: { model: "", summary: null, forecast: null, history: null },
};

// ---------- series: the whole series of fits made from this page; the tail kept by the gateway otherwise ----------

const fittedHere = new Map(); // model → {generation, values, timestamps?, start}

// historyFor is the series to draw for generation gen of model: the one fitted from this page
// if it is that generation's, else the tail the gateway keeps (info, from GET /v1/models/{model}).
function historyFor(model, gen, info) {
  const local = fittedHere.get(model);
  if (local && local.generation === gen) return local;
  if (info?.history && info.generation === gen) return { generation: gen, ...info.history };
  return null;
}

// loadHistory fetches the model's series tail and draws it if the model is still shown.
async function loadHistory(model) {
  let info;
  try {
    const res = await fetch(`/v1/models/${encodeURIComponent(model)}`, { headers: authHeaders({ Accept: "application/json" }) });
    const env = await res.json();
    if (env.status !== "success") return;
    info = env.data;
  } catch {
    return;
  }
  const shown = state.shown;
  if (shown.model !== model) return;
  const gen = shown.forecast?.generation ?? info.generation;
  const history = historyFor(model, gen, info);
  if (!history && shown.history) return;
  const summary = shown.summary ?? (info.generation === gen ? info.summary : null);
  state.shown = { ...shown, history, summary, historyLoaded: true };
  renderResult();
}

// ---------- input parsing and field errors ----------

// A series may come as lines of "time, value" (RFC 3339 or shorter: 2024-01, 2024-01-31,
// 2024-01-31 06:00); the times then go with the fit as its timestamps.
const TIME_START = /^\d{4}-\d{2}(-\d{2})?([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

function toRFC3339(s) {
  let t = s.replace(" ", "T");
  if (/^\d{4}-\d{2}$/.test(t)) t += "-01";
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) t += "T00:00";
  if (/T\d{2}:\d{2}$/.test(t) || /T\d{2}:\d{2}(Z|[+-])/i.test(t)) t = t.replace(/(T\d{2}:\d{2})/, "$1:00");
  if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(t)) t += "Z";
  return t.toUpperCase();
}

function parseSeries(text) {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const timeOf = (line) => {
    const tokens = line.split(/[\s,;]+/);
    return tokens.length >= 2 ? tokens.slice(0, -1).join(" ") : "";
  };
  if (!lines.length || !TIME_START.test(timeOf(lines[0]))) return parseValues(text);
  const timestamps = [], tokens = [];
  for (const [i, line] of lines.entries()) {
    const time = timeOf(line);
    if (!TIME_START.test(time) || !Number.isFinite(Date.parse(toRFC3339(time)))) {
      return { error: `line ${i + 1} (“${line.slice(0, 30)}”) is not “time, value”` };
    }
    timestamps.push(toRFC3339(time));
    tokens.push(line.split(/[\s,;]+/).pop());
  }
  const parsed = parseValues(tokens.join(" "));
  return parsed.error ? parsed : { ...parsed, timestamps };
}

function parseValues(text) {
  const tokens = text.split(/[\s,;]+/).filter(Boolean);
  const values = [];
  for (const [i, tok] of tokens.entries()) {
    if (/^(na|nan|null|none|-|\?)$/i.test(tok)) { values.push(null); continue; }
    const v = Number(tok);
    if (!Number.isFinite(v)) return { error: `entry ${i + 1} (“${tok.slice(0, 20)}”) is not a number` };
    if (LIMITS.absValue && Math.abs(v) > LIMITS.absValue) return { error: `entry ${i + 1} is out of range (|v| ≤ ${LIMITS.absValue.toExponential()})` };
    values.push(v);
  }
  if (!values.length) return { error: "paste at least one number" };
  if (LIMITS.values && values.length > LIMITS.values) return { error: `${values.length} values; at most ${LIMITS.values} are accepted` };
  if (values.every((v) => v === null)) return { error: "all values are missing" };
  return { values };
}

const FIT_FIELDS = {
  model: "fit-model", values: "fit-values", data: "fit-values", season_length: "fit-season", method: "fit-method",
  "options.spec": "fit-spec", "options.order": "fit-order", "options.seasonal_order": "fit-sorder", options: "fit-options",
  timestamps: "fit-values",
};
const FC_FIELDS = { model: "fc-model", horizon: "fc-horizon", num_steps: "fc-horizon", levels: "fc-levels" };

function clearErrors(form) {
  form.querySelectorAll(".err").forEach((e) => (e.textContent = ""));
  form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
}

// showErrors puts each problem next to its field; problems of unknown fields are returned.
function showErrors(problems, fields) {
  const rest = [];
  let first = null;
  for (const [field, problem] of Object.entries(problems || {})) {
    const id = fields[field];
    const box = id && $(`${id}-err`);
    if (!box) { rest.push(`${field}: ${problem}`); continue; }
    box.textContent = box.textContent ? `${box.textContent}; ${problem}` : `${field.replace("options.", "")} ${problem}`;
    const input = $(id) || $(`${id === "fit-order" ? "fit-p" : id === "fit-sorder" ? "fit-sp" : ""}`);
    if (input) { input.setAttribute("aria-invalid", "true"); first ??= input; }
  }
  first?.focus();
  return rest;
}

function setStatus(el, text, kind = "") {
  el.textContent = text;
  el.className = `status ${kind}`;
}

// ---------- API token ----------

// askForToken opens the token form with a reason; it takes the focus only when it opens.
function askForToken(reason) {
  const form = $("token-form");
  $("token-msg").textContent = reason;
  if (form.hidden) {
    form.hidden = false;
    $("token-open").setAttribute("aria-expanded", "true");
    $("token-input").focus();
  }
}

function useToken(token) {
  setToken(token);
  $("token-input").value = "";
  $("token-msg").textContent = token ? "Token saved in this browser." : "Token forgotten.";
  live.reconnect();
  loadModels();
}

// describeOutcome turns a non-success outcome into one sentence; an authorization problem also
// opens the token form.
function describeOutcome(out) {
  if (out.httpStatus === 401 || out.data?.authorization) {
    askForToken(out.httpStatus === 401 || !getToken() ? "This gateway needs an API token." : "This token may not do that; a write token can fit.");
  }
  if (out.status === "fail") {
    return Object.entries(out.data || {}).map(([k, v]) => `${k}: ${v}`).join("; ") || "the request was refused";
  }
  const code = out.code || out.httpStatus;
  return `${out.message || "error"}${code ? ` (HTTP ${code})` : ""}`;
}

// ---------- models ----------

let refreshTimer = 0;
function refreshModelsSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(loadModels, 250);
}

async function loadModels() {
  clearTimeout(refreshTimer);
  try {
    const res = await fetch("/v1/models", { headers: authHeaders({ Accept: "application/json" }) });
    const env = await res.json();
    if (res.status === 401) askForToken(getToken() ? "The saved API token is not valid here; enter another." : "This gateway needs an API token.");
    if (env.status !== "success") throw new Error(describeOutcome({ ...env, httpStatus: res.status }));
    state.models = new Map(env.data.models.map((m) => [m.model, m]));
    $("models-status").textContent = "";
    live.watch([...state.models.keys()]);
  } catch (err) {
    $("models-status").textContent = `Cannot load models: ${err.message}`;
  }
  renderModels();
  renderJobs();
}

function ago(iso) {
  if (!iso) return "";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (!Number.isFinite(s)) return "";
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

function renderModels() {
  const tbody = $("models-table").querySelector("tbody");
  const names = [...state.models.keys()].sort((a, b) => a.localeCompare(b));
  $("models-empty").hidden = names.length > 0;
  $("models-table").hidden = names.length === 0;
  $("model-names").replaceChildren(...names.map((n) => h("option", { value: n })));
  tbody.replaceChildren(...names.map((name) => {
    const m = state.models.get(name);
    const pending = (m.pending_fits || []).map((f) => {
      const pct = state.progress.get(`${name}#${f.generation}`);
      return h("div", { class: "pending" },
        h("span", { class: "gen", text: `gen ${f.generation}${pct != null ? ` · ${Math.round(pct)}%` : ""}` }),
        h("progress", { max: "100", value: pct != null ? String(pct) : null, "aria-label": `fit generation ${f.generation} of ${name}` }));
    });
    const select = () => selectModel(name);
    return h("tr", { "aria-selected": String(name === state.selected), onclick: select },
      h("td", { class: "name" }, h("button", { type: "button", onclick: (e) => { e.stopPropagation(); select(); }, title: `Work with ${name}` }, name)),
      h("td", { class: "num", text: m.generation ? String(m.generation) : "–" }),
      h("td", { text: m.method || (m.pending_fits?.length ? "fitting…" : "no model") }),
      h("td", { class: "muted small" }, m.fitted_at ? h("time", { datetime: m.fitted_at, title: new Date(m.fitted_at).toLocaleString(), text: ago(m.fitted_at) }) : ""),
      h("td", {}, pending.length ? h("div", {}, ...pending) : h("span", { class: "muted", text: "none" })));
  }));
}

function selectModel(name) {
  state.selected = name;
  $("fit-model").value = name;
  $("fc-model").value = name;
  renderModels();
  const m = state.models.get(name);
  if (state.shown.model !== name) {
    const gen = m?.generation;
    state.shown = { model: name, summary: m?.summary || null, forecast: null, history: gen ? historyFor(name, gen) : null };
    renderResult();
    if (gen) loadHistory(name);
  }
}

// ---------- jobs and progress ----------

function upsertJob(key, patch) {
  const job = { ...(state.jobs.get(key) || {}), ...patch };
  state.jobs.set(key, job);
  if (job.kind === "fit" && job.generation && job.percent != null) state.progress.set(`${job.model}#${job.generation}`, job.percent);
  if (["succeeded", "failed"].includes(job.status)) {
    setTimeout(() => { if (state.jobs.get(key) === job) { state.jobs.delete(key); renderJobs(); } }, 5000);
  }
  renderJobs();
}

// fitJobKey finds the job of a fit by model and generation, whoever started it.
function fitJobKey(model, generation) {
  for (const [k, j] of state.jobs) if (j.kind === "fit" && j.model === model && j.generation === generation) return k;
  return `${model}#${generation}`;
}

function renderJobs() {
  const list = $("jobs");
  const jobs = [...state.jobs.values()];
  $("jobs-empty").hidden = jobs.length > 0;
  list.replaceChildren(...jobs.map((j) => {
    const badge = { succeeded: "ok", failed: "bad", held: "warn" }[j.status] || "";
    const pct = j.status === "succeeded" ? 100 : j.percent;
    return h("li", {},
      h("div", { class: "job-head" },
        h("strong", { text: j.kind === "fit" ? "Fit" : "Forecast" }),
        h("code", { text: j.model }),
        j.generation ? h("span", { class: "muted", text: `gen ${j.generation}` }) : null,
        h("span", { class: `badge ${badge}`, text: j.status || "queued" }),
        h("span", { class: "pct", text: pct != null ? `${Math.round(pct)}%` : j.status === "held" ? "waiting for earlier fits" : "" })),
      j.kind === "fit" || j.status === "held"
        ? h("progress", { max: "100", value: pct != null ? String(pct) : null, "aria-label": `${j.kind} of ${j.model}${j.generation ? ` generation ${j.generation}` : ""}` })
        : null);
  }));
}

// ---------- event log ----------

const LOG_MAX = 200;
function addLog(type, data, text) {
  const list = $("log");
  const now = new Date();
  const cls = { model_ready: "ok", fit_failed: "bad", reset: "warn", fit_progress: "" }[type] ?? "";
  // Progress of one fit updates its line instead of flooding the log.
  const key = type === "fit_progress" ? `${data.model}#${data.generation}` : "";
  const first = list.firstElementChild;
  const item = h("li", { "data-key": key },
    h("time", { datetime: now.toISOString(), text: now.toLocaleTimeString([], { hour12: false }) }),
    h("span", {}, h("span", { class: `badge ${cls}`, text: type })),
    h("span", { class: "what" }, ...text));
  if (key && first?.dataset.key === key) first.replaceWith(item);
  else list.prepend(item);
  while (list.children.length > LOG_MAX) list.lastElementChild.remove();
  $("log-empty").hidden = true;
}

function eventPercent(d) {
  if (typeof d.percent === "number") return d.percent;
  if (typeof d.progress === "number") return d.progress;
  if (typeof d.progress?.percent === "number") return d.progress.percent;
  return null;
}

function onModelEvent({ type, data }) {
  const model = data.model ?? "?";
  const gen = data.generation;
  const who = [h("code", { text: model }), gen ? ` gen ${gen}` : ""];
  switch (type) {
    case "fit_accepted":
      addLog(type, data, [...who, " accepted"]);
      if (!state.jobs.has(fitJobKey(model, gen))) upsertJob(`${model}#${gen}`, { kind: "fit", model, generation: gen, status: "queued" });
      refreshModelsSoon();
      break;
    case "fit_progress": {
      const pct = eventPercent(data);
      addLog(type, data, [...who, pct != null ? ` ${Math.round(pct)}%` : "", data.stage ? ` · ${data.stage}` : ""]);
      if (pct != null) {
        state.progress.set(`${model}#${gen}`, pct);
        upsertJob(fitJobKey(model, gen), { kind: "fit", model, generation: gen, status: "running", percent: pct });
        renderModels();
      }
      break;
    }
    case "model_ready":
      addLog(type, data, [...who, data.method ? ` ready · ${data.method}` : " ready"]);
      state.progress.delete(`${model}#${gen}`);
      if (state.jobs.has(fitJobKey(model, gen))) upsertJob(fitJobKey(model, gen), { status: "succeeded", percent: 100 });
      refreshModelsSoon();
      break;
    case "fit_failed":
      addLog(type, data, [...who, " failed", data.error ? ` · ${data.error}` : ""]);
      state.progress.delete(`${model}#${gen}`);
      if (state.jobs.has(fitJobKey(model, gen))) upsertJob(fitJobKey(model, gen), { status: "failed" });
      refreshModelsSoon();
      break;
    case "reset":
      addLog(type, data, [data.reason || "events were missed; reloading"]);
      loadModels();
      break;
  }
}

// ---------- result ----------

function dl(target, pairs) {
  target.replaceChildren(...pairs.filter(([, v]) => v !== undefined && v !== null && v !== "").flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })]));
}

function renderResult() {
  const { model, summary, forecast, history } = state.shown;
  $("result-model").textContent = model ? `· ${model}` : "";
  const chart = $("chart");
  chart.hidden = false;
  const drawn = (history || forecast) && renderChart(chart, {
    history, fc: forecast, start: summary?.n ?? 0,
    key: `${model}#${history?.generation ?? ""}#${forecast?.job_id ?? ""}`,
    title: `${model}: ${history ? "series" : ""}${history && forecast ? " and " : ""}${forecast ? `${forecast.horizon}-step forecast` : ""}`,
  });
  chart.hidden = !drawn;
  $("legend").hidden = !drawn;
  if (drawn) {
    const items = [];
    if (history) items.push(h("li", {}, h("span", { class: "sw line" }), "observed"));
    if (forecast) {
      items.push(h("li", {}, h("span", { class: "sw pline" }), "point forecast"));
      const levels = levelsOf(forecast);
      levels.forEach((l, i) => {
        const opacity = 0.14 + (levels.length > 1 ? 0.14 * (i / (levels.length - 1)) : 0);
        items.push(h("li", {}, h("span", { class: "sw", style: `background: color-mix(in srgb, var(--band) ${Math.round((i === levels.length - 1 && levels.length > 1 ? 0.38 : opacity) * 100)}%, transparent)` }), `${l}% interval`));
      });
    }
    $("legend").replaceChildren(...items);
  }
  $("result-empty").hidden = !!(drawn || summary || forecast);
  $("result-empty").textContent = model && !drawn && !summary
    ? `No fitted model for ${model} yet.`
    : model && !history && !forecast ? "Forecast to draw the chart (the series itself was fitted elsewhere)." : "Fit a model and forecast to see the series, the point forecast and its intervals here.";
  if (model && !drawn && summary) $("result-empty").hidden = false;

  $("summary").hidden = !summary;
  if (summary) {
    dl($("summary-dl"), [
      ["method", summary.method], ["generation", summary.generation + (summary.current === false ? " (superseded)" : "")],
      ["observations", summary.n + (summary.missing ? ` (${summary.missing} missing)` : "")],
      ["AICc", summary.aicc != null && summary.aicc !== 0 ? fmt(summary.aicc, 6) : "–"], ["σ²", fmt(summary.sigma2, 5)],
      ["log-likelihood", summary.loglik ? fmt(summary.loglik, 6) : undefined],
      ["fit time", summary.duration_ms != null ? `${fmt(summary.duration_ms, 3)} ms` : undefined],
      ["fitted", summary.fitted_at ? new Date(summary.fitted_at).toLocaleString() : undefined],
    ]);
    const params = Object.entries(summary.params || {});
    $("params-box").hidden = params.length === 0;
    $("params").querySelector("tbody").replaceChildren(...params.map(([k, v]) => h("tr", {}, h("td", { text: k }), h("td", { class: "num", text: fmt(v, 6) }))));
  }

  $("fcinfo").hidden = !forecast;
  if (forecast) {
    dl($("fcinfo-dl"), [
      ["method", forecast.method], ["generation", forecast.generation], ["horizon", forecast.horizon],
      ["held", forecast.held_ms >= 1 ? `${fmt(forecast.held_ms / 1000, 3)} s, waiting for earlier fits` : "no"],
      ["first step", `${fmt(forecast.point?.[0])}`], ["last step", `${fmt(forecast.point?.[forecast.point.length - 1])}`],
    ]);
    $("fallback").hidden = !forecast.fallback;
    if (forecast.fallback) $("fallback").textContent = `Generation ${forecast.fallback.awaited_generation} did not succeed (${forecast.fallback.reason}); this forecast uses generation ${forecast.generation}.`;
    const levels = levelsOf(forecast).reverse();
    const head = h("tr", {}, h("th", { scope: "col", text: "step" }), ...(forecast.timestamps ? [h("th", { scope: "col", text: "time" })] : []),
      h("th", { scope: "col", text: "point" }), ...levels.flatMap((l) => [h("th", { scope: "col", text: `${l}% low` }), h("th", { scope: "col", text: `${l}% high` })]));
    const rows = (forecast.point || []).slice(0, 500).map((p, i) => h("tr", {},
      h("td", { class: "num", text: String(i + 1) }), ...(forecast.timestamps ? [h("td", { text: forecast.timestamps[i] })] : []),
      h("td", { class: "num", text: fmt(p, 6) }),
      ...levels.flatMap((l) => [h("td", { class: "num", text: fmt(forecast.intervals[l].lower[i], 6) }), h("td", { class: "num", text: fmt(forecast.intervals[l].upper[i], 6) })])));
    $("fc-table").replaceChildren(h("thead", {}, head), h("tbody", {}, ...rows));
  }
}

let resizeFrame = 0;
new ResizeObserver(() => {
  cancelAnimationFrame(resizeFrame);
  resizeFrame = requestAnimationFrame(() => { if (!$("chart").hidden) renderResult(); });
}).observe($("chart").parentElement);

// ---------- fit ----------

function methodOptions() {
  const method = $("fit-method").value;
  $("opts-ets").hidden = method !== "ets";
  $("opts-arima").hidden = method !== "arima";
}

function readTriple(ids) {
  const raw = ids.map((id) => $(id).value.trim());
  if (raw.every((v) => v === "")) return { value: undefined };
  if (raw.some((v) => v === "")) return { error: "give all three numbers or none" };
  const nums = raw.map(Number);
  if (nums.some((n) => !Number.isInteger(n) || n < 0)) return { error: "must be whole numbers ≥ 0" };
  return { value: nums };
}

async function onFit(ev) {
  ev.preventDefault();
  const form = $("fit-form");
  clearErrors(form);
  const status = $("fit-status");
  const problems = {};
  const model = $("fit-model").value.trim();
  if (!model) problems.model = "is required";
  else if (LIMITS.modelName && !LIMITS.modelName.test(model)) problems.model = "must be letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)";
  const parsed = parseSeries($("fit-values").value);
  if (parsed.error) problems.values = parsed.error;
  const season = Number($("fit-season").value || 1);
  if (!Number.isInteger(season) || season < 1 || (LIMITS.season && season > LIMITS.season)) problems.season_length = LIMITS.season ? `must be a whole number from 1 to ${LIMITS.season}` : "must be a whole number ≥ 1";
  const method = $("fit-method").value;
  const body = { values: parsed.values, season_length: season, method };
  if (parsed.timestamps) body.timestamps = parsed.timestamps;
  if (method === "ets" && $("fit-spec").value.trim()) body.options = { spec: $("fit-spec").value.trim() };
  if (method === "arima") {
    const order = readTriple(["fit-p", "fit-d", "fit-q"]);
    const sorder = readTriple(["fit-sp", "fit-sd", "fit-sq"]);
    if (order.error) problems["options.order"] = order.error;
    if (sorder.error) problems["options.seasonal_order"] = sorder.error;
    if (order.value || sorder.value) body.options = { order: order.value, seasonal_order: sorder.value };
  }
  if (Object.keys(problems).length) {
    showErrors(problems, FIT_FIELDS);
    setStatus(status, "Please correct the highlighted fields.", "bad");
    return;
  }

  const button = $("fit-submit");
  button.disabled = true;
  setStatus(status, `Fitting ${model}…`);
  live.watch([model]);
  // The job appears once the gateway accepts it: a refused request is not a job.
  const key = `fit:${Date.now()}:${Math.random()}`;
  let accepted = false;
  const out = await live.command("fit", model, body, (step, data) => {
    if (step === "accepted" && data.generation) {
      const other = `${model}#${data.generation}`; // an event may have created the job already
      state.jobs.delete(other);
      accepted = true;
      upsertJob(key, { kind: "fit", model, generation: data.generation, status: "queued" });
      setStatus(status, `Accepted as generation ${data.generation}; fitting…`);
    } else if (step === "progress") {
      const pct = eventPercent(data);
      if (accepted) upsertJob(key, { status: "running", percent: pct ?? undefined });
      if (pct != null) setStatus(status, `Fitting ${model}… ${Math.round(pct)}%${data.stage ? ` (${data.stage})` : ""}`);
    } else if (step === "running") {
      if (accepted) upsertJob(key, { status: "running" });
    } else if (step === "reconnecting") {
      setStatus(status, "Connection lost; following the job by polling…");
    }
  });
  button.disabled = false;
  if (out.status === "success") {
    const s = out.data;
    upsertJob(key, { kind: "fit", model, status: "succeeded", percent: 100, generation: s.generation });
    fittedHere.set(model, { generation: s.generation, values: parsed.values, timestamps: parsed.timestamps, start: 0 });
    setStatus(status, `Fitted ${s.method} as generation ${s.generation}${out.via ? ` · via ${out.via}` : ""}.`, "ok");
    state.selected = model;
    $("fc-model").value = model;
    state.shown = { model, summary: s, forecast: null, history: fittedHere.get(model) };
    renderResult();
    loadModels();
    if ($("fit-then-forecast").checked) runForecast();
  } else {
    if (accepted) upsertJob(key, { status: "failed" });
    const rest = out.status === "fail" ? showErrors(out.data, FIT_FIELDS) : [describeOutcome(out)];
    setStatus(status, rest.length ? `Fit failed: ${rest.join("; ")}` : "Fit refused: see the highlighted fields.", "bad");
    loadModels();
  }
}

// ---------- forecast ----------

function onForecast(ev) {
  ev.preventDefault();
  runForecast();
}

async function runForecast() {
  const form = $("fc-form");
  clearErrors(form);
  const status = $("fc-status");
  const problems = {};
  const model = $("fc-model").value.trim();
  if (!model) problems.model = "is required";
  else if (LIMITS.modelName && !LIMITS.modelName.test(model)) problems.model = "is not a valid model name";
  const horizon = Number($("fc-horizon").value);
  if (!Number.isInteger(horizon) || horizon < 1 || (LIMITS.horizon && horizon > LIMITS.horizon)) problems.horizon = LIMITS.horizon ? `must be a whole number from 1 to ${LIMITS.horizon}` : "must be a whole number ≥ 1";
  const levelText = $("fc-levels").value.trim();
  const levels = levelText ? levelText.split(/[\s,;%]+/).filter(Boolean).map(Number) : [];
  if (levels.some((l) => !(l > 0 && l < 100))) problems.levels = "each level must be a percentage between 0 and 100";
  else if (LIMITS.levels && levels.length > LIMITS.levels) problems.levels = `at most ${LIMITS.levels} levels`;
  if (Object.keys(problems).length) {
    showErrors(problems, FC_FIELDS);
    setStatus(status, "Please correct the highlighted fields.", "bad");
    return;
  }
  const body = { horizon };
  if (levels.length) body.levels = levels;
  const button = $("fc-submit");
  button.disabled = true;
  setStatus(status, `Forecasting ${model}…`);
  const key = `fc:${Date.now()}:${Math.random()}`;
  let tracked = false;
  const out = await live.command("forecast", model, body, (step, data) => {
    if (step === "held") {
      tracked = true;
      upsertJob(key, { kind: "forecast", model, status: "held" });
      const waiting = data.waiting_for?.length ? ` for generation ${data.waiting_for.join(", ")}` : "";
      setStatus(status, `Held: waiting${waiting} to finish fitting…`);
    } else if (step === "released" || step === "running") {
      if (tracked) upsertJob(key, { status: "running" });
      setStatus(status, `Forecasting ${model}…`);
    }
  });
  button.disabled = false;
  if (tracked) upsertJob(key, { status: out.status === "success" ? "succeeded" : "failed" });
  if (out.status === "success") {
    const f = out.data;
    const held = f.held_ms >= 1 ? ` after ${fmt(f.held_ms / 1000, 3)} s held` : "";
    setStatus(status, `${f.horizon}-step forecast from generation ${f.generation}${held}${out.via ? ` · via ${out.via}` : ""}.`, "ok");
    const m = state.models.get(model);
    const same = state.shown.model === model;
    const summary = same && state.shown.summary?.generation === f.generation ? state.shown.summary : m?.generation === f.generation ? m.summary : same ? state.shown.summary : null;
    const history = historyFor(model, f.generation) ?? (same && state.shown.history?.generation === f.generation ? state.shown.history : null);
    state.selected = model;
    state.shown = { model, summary, forecast: f, history };
    renderModels();
    renderResult();
    if (!history) loadHistory(model);
  } else {
    const rest = out.status === "fail" ? showErrors(out.data, FC_FIELDS) : [describeOutcome(out)];
    setStatus(status, rest.length ? `Forecast failed: ${rest.join("; ")}` : "Forecast refused: see the highlighted fields.", "bad");
  }
}

// ---------- connection indicator ----------

const STATE_TEXT = {
  ws: "Live · WebSocket",
  sse: "Live · event stream",
  connecting: "Connecting…",
  offline: "Offline · polling",
};
let pollTimer = 0;
live.addEventListener("state", (ev) => {
  const { state: s, detail } = ev.detail;
  const pill = $("conn");
  pill.dataset.state = s;
  $("conn-text").textContent = STATE_TEXT[s] + (s === "connecting" && detail ? ` (${detail})` : "");
  pill.title = s === "offline"
    ? "No live connection: commands use plain HTTP and the model list is polled. Click to retry now."
    : s === "ws" ? "Commands and model events go over one WebSocket session." : s === "sse" ? "Model events come over Server-Sent Events; commands over HTTP." : "";
  clearInterval(pollTimer);
  // Without live events, poll the model list; with them, refresh it now and then anyway.
  pollTimer = setInterval(loadModels, s === "ws" || s === "sse" ? 30000 : 5000);
  if (s === "ws" || s === "sse") loadModels();
  $("log-empty").textContent = s === "offline"
    ? "No live connection, so model events cannot be shown; the model list is refreshed every few seconds."
    : "Model events (fit_accepted, fit_progress, model_ready, fit_failed) appear here as they happen.";
});
live.addEventListener("event", (ev) => onModelEvent(ev.detail));
$("conn").addEventListener("click", () => live.retryNow());

// ---------- wiring ----------

function loadExample() {
  $("fit-values").value = AIR_PASSENGERS.join(", ");
  $("fit-season").value = "12";
  if (!$("fit-model").value) $("fit-model").value = "air-passengers";
  if (Number($("fc-horizon").value) === 12) $("fc-horizon").value = "24";
  countValues();
  $("fit-values").focus();
}

function countValues() {
  const text = $("fit-values").value;
  if (!text.trim()) { $("fit-values-count").textContent = ""; return; }
  const p = parseSeries(text);
  const missing = p.error ? 0 : p.values.reduce((n, v) => n + (v === null ? 1 : 0), 0);
  $("fit-values-count").textContent = p.error ? "" : `${p.values.length} values${missing ? ` (${missing} missing)` : ""}${p.timestamps ? " with timestamps" : ""}`;
}

$("token-open").addEventListener("click", () => {
  const open = $("token-form").hidden;
  $("token-form").hidden = !open;
  $("token-open").setAttribute("aria-expanded", String(open));
  if (open) {
    $("token-msg").textContent = getToken() ? "A token is saved in this browser." : "No token saved; the gateway may not need one.";
    $("token-input").focus();
  }
});
$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const token = $("token-input").value.trim();
  if (!token) { $("token-msg").textContent = "Enter a token first."; return; }
  useToken(token);
});
$("token-forget").addEventListener("click", () => useToken(""));
$("fit-form").addEventListener("submit", onFit);
$("fc-form").addEventListener("submit", onForecast);
$("fit-method").addEventListener("change", methodOptions);
$("fit-example").addEventListener("click", loadExample);
$("example-inline").addEventListener("click", loadExample);
$("fit-values").addEventListener("input", countValues);
$("models-refresh").addEventListener("click", loadModels);
$("log-clear").addEventListener("click", () => { $("log").replaceChildren(); $("log-empty").hidden = false; });
$("fit-model").addEventListener("change", () => { if (!$("fc-model").value) $("fc-model").value = $("fit-model").value.trim(); });

methodOptions();
renderJobs();
loadLimits();
loadModels();
live.start();
