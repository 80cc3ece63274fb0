// Live connection to the gateway: a WebSocket session (GET /v1/ws) that carries commands and
// model events, reconnecting by itself; when WebSocket fails, the SSE event stream
// (GET /v1/events) with commands over HTTP; when both fail, plain HTTP and polling until a
// reconnect attempt succeeds.

const EVENT_TYPES = ["fit_accepted", "fit_progress", "model_ready", "fit_failed", "reset"];
const TERMINAL_JOB = new Set(["succeeded", "failed", "expired"]);

// ---------- API token (only for gateways started with --auth-tokens) ----------

const TOKEN_KEY = "forecastd.token";

export function getToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; }
}

export function setToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lasts until the page reloads */ }
  memoryToken = token;
}

let memoryToken = getToken();

// authHeaders adds the token, if any, to request headers.
export function authHeaders(headers = {}) {
  return memoryToken ? { ...headers, Authorization: `Bearer ${memoryToken}` } : headers;
}

// withToken adds the token to a stream URL: browsers cannot set headers on WebSocket and
// EventSource, so the gateway takes ?access_token= there.
function withToken(url) {
  if (!memoryToken) return url;
  return `${url}${url.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(memoryToken)}`;
}

export class Live extends EventTarget {
  constructor() {
    super();
    this.state = "connecting"; // connecting | ws | sse | offline
    this.ws = null;
    this.es = null;
    this.attempt = 0;
    this.seq = 0;
    this.pending = new Map(); // message id → {resolve, onStep, jobId, kind}
    this.models = new Set(); // models whose events we follow over WebSocket
    this.lastEventId = "";
    this.timer = 0;
    this.pinger = 0;
    this.shortSessions = 0; // WebSocket sessions in a row that ended soon after opening
  }

  start() { this.tryWS(); }

  setState(state, detail = "") {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, detail } }));
  }

  emit(type, id, data) {
    if (id) this.lastEventId = id;
    this.dispatchEvent(new CustomEvent("event", { detail: { type, id, data } }));
  }

  nextId(prefix) { return `${prefix}${++this.seq}`; }

  // --- WebSocket ---

  tryWS() {
    clearTimeout(this.timer);
    this.setState("connecting", "WebSocket");
    let ws;
    try {
      ws = new WebSocket(withToken(`${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/v1/ws`));
    } catch {
      this.trySSE();
      return;
    }
    this.ws = ws;
    let opened = 0;
    ws.onopen = () => {
      opened = Date.now();
      this.attempt = 0;
      this.setState("ws");
      this.resubscribe();
      this.pinger = setInterval(() => this.sendWS({ type: "ping", id: this.nextId("ping-") }), 25000);
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this.onWSMessage(msg);
    };
    ws.onclose = () => {
      clearInterval(this.pinger);
      if (this.ws === ws) this.ws = null;
      this.orphanPending();
      // A session that opened and lasted is worth reconnecting to; one refused, or dropped
      // right after opening again and again, gives way to the event stream.
      if (opened && Date.now() - opened > 5000) this.shortSessions = 0;
      else if (opened) this.shortSessions++;
      if (opened && this.shortSessions < 3) this.schedule(() => this.tryWS());
      else { this.shortSessions = 0; this.trySSE(); }
    };
  }

  sendWS(msg) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  resubscribe() {
    if (!this.models.size) return;
    const msg = { type: "subscribe", id: this.nextId("sub-"), models: [...this.models] };
    if (this.lastEventId) msg.last_event_id = this.lastEventId;
    this.sendWS(msg);
  }

  // watch follows the events of models (over SSE every model is followed anyway).
  watch(models) {
    const added = models.filter((m) => m && !this.models.has(m));
    added.forEach((m) => this.models.add(m));
    if (added.length) this.sendWS({ type: "subscribe", id: this.nextId("sub-"), models: added });
  }

  onWSMessage(msg) {
    if (msg.type === "event") {
      this.emit(msg.event, msg.event_id, msg.data ?? {});
      return;
    }
    const p = msg.id != null ? this.pending.get(String(msg.id)) : undefined;
    if (!p) return; // pong, subscription acknowledgements
    switch (msg.type) {
      case "accepted":
      case "progress":
      case "held":
      case "released":
      case "running": {
        const data = msg.data ?? msg;
        if (data.job_id) p.jobId = data.job_id;
        p.onStep?.(msg.type, data);
        break;
      }
      case "result":
        this.pending.delete(String(msg.id));
        p.resolve({ status: msg.status, data: msg.data, message: msg.message, code: msg.code, via: "WebSocket" });
        break;
      case "error":
        this.pending.delete(String(msg.id));
        p.resolve({ status: "error", data: msg.data, message: msg.message, via: "WebSocket" });
        break;
    }
  }

  // orphanPending finishes the commands of a lost session by polling their jobs.
  orphanPending() {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if (p.jobId) {
        p.onStep?.("reconnecting", { job_id: p.jobId });
        pollJob(p.jobId, p.onStep).then(p.resolve);
      } else {
        p.resolve({ status: "error", message: "the connection closed before the command was accepted; try again" });
      }
    }
  }

  // --- SSE ---

  trySSE() {
    if (typeof EventSource === "undefined") { this.goOffline(); return; }
    this.setState("connecting", "event stream");
    const url = "/v1/events" + (this.lastEventId ? `?last_event_id=${encodeURIComponent(this.lastEventId)}` : "");
    const es = new EventSource(withToken(url));
    this.es = es;
    es.onopen = () => { this.attempt = 0; this.setState("sse"); };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) { // refused (not a stream): give up on it for now
        es.close();
        if (this.es === es) this.es = null;
        this.goOffline();
      } else {
        this.setState("connecting", "event stream"); // EventSource reconnects by itself
      }
    };
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (ev) => {
        let data = {};
        try { data = JSON.parse(ev.data); } catch { /* keep {} */ }
        this.emit(type, ev.lastEventId, data);
      });
    }
  }

  goOffline() {
    this.setState("offline");
    this.schedule(() => this.tryWS());
  }

  schedule(fn) {
    clearTimeout(this.timer);
    const delay = Math.min(30000, 1000 * 2 ** this.attempt++) * (0.75 + Math.random() * 0.5);
    this.timer = setTimeout(fn, delay);
  }

  retryNow() {
    if (this.state === "ws" || this.state === "sse") return;
    this.attempt = 0;
    this.es?.close();
    this.es = null;
    this.tryWS();
  }

  // reconnect drops the live connection and opens a new one (after the token changed).
  reconnect() {
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) { ws.onclose = null; ws.close(); clearInterval(this.pinger); this.orphanPending(); }
    this.es?.close();
    this.es = null;
    this.attempt = 0;
    this.shortSessions = 0;
    this.tryWS();
  }

  // --- commands ---

  /**
   * command runs a fit or forecast and resolves with its outcome as a JSend-like object
   * {status, data, message, code, httpStatus?, via}. onStep(type, data) sees accepted,
   * held, released, running and progress steps as they come.
   */
  command(kind, model, body, onStep) {
    if (this.ws?.readyState === WebSocket.OPEN) {
      const id = this.nextId(kind === "fit" ? "fit-" : "fc-");
      return new Promise((resolve) => {
        this.pending.set(id, { resolve, onStep, kind });
        this.sendWS({ type: kind, id, model, ...body });
      });
    }
    return postStream(`/v1/models/${encodeURIComponent(model)}/${kind}`, body, onStep);
  }
}

// postStream POSTs a command asking for an SSE stream of its steps, falling back to the plain
// JSON answer when the server sends one.
export async function postStream(url, body, onStep) {
  let res;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream, application/json" }),
      body: JSON.stringify(body),
    });
  } catch (err) {
    return { status: "error", message: `the gateway cannot be reached (${err.message})` };
  }
  const type = res.headers.get("Content-Type") || "";
  if (!type.startsWith("text/event-stream") || !res.body) return readJSend(res);
  let jobId = "";
  let outcome = null;
  try {
    for await (const { event, data } of sseFrames(res.body)) {
      if (event === "succeeded" || event === "failed") {
        outcome = { ...(data.body ?? { status: "error", message: "empty result" }), httpStatus: data.http_status, via: "HTTP stream" };
        break;
      }
      if (data?.job_id) jobId = data.job_id;
      onStep?.(event, data);
    }
  } catch { /* the stream broke: fall through to polling */ }
  if (outcome) return outcome;
  if (jobId) return pollJob(jobId, onStep);
  return { status: "error", message: "the stream ended without a result" };
}

async function readJSend(res) {
  try {
    const env = await res.json();
    return { ...env, httpStatus: res.status, via: "HTTP" };
  } catch {
    return { status: "error", message: `HTTP ${res.status} without a JSend body`, httpStatus: res.status };
  }
}

// sseFrames parses a text/event-stream body into {event, data} frames (data JSON-decoded).
async function* sseFrames(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") event = val;
        else if (field === "data") data.push(val);
      }
      if (!data.length) continue;
      let parsed;
      try { parsed = JSON.parse(data.join("\n")); } catch { parsed = { text: data.join("\n") }; }
      yield { event, data: parsed };
    }
  }
}

// pollJob polls /v1/jobs/{id} until the job ends and returns its outcome.
export async function pollJob(id, onStep) {
  for (let i = 0; i < 3600; i++) {
    await new Promise((r) => setTimeout(r, Math.min(2000, 300 + i * 100)));
    let env;
    try {
      const res = await fetch(`/v1/jobs/${encodeURIComponent(id)}`, { headers: authHeaders() });
      env = await res.json();
      if (res.status === 404) return { status: "error", message: `job ${id} is no longer known` };
      if (res.status === 401 || res.status === 403) return { ...env, httpStatus: res.status, via: "polling" };
    } catch {
      continue; // the gateway may be restarting
    }
    const job = env?.data;
    if (!job) continue;
    if (job.progress != null) onStep?.("progress", { job_id: id, percent: job.progress });
    if (!TERMINAL_JOB.has(job.status)) {
      if (job.status === "held") onStep?.("held", { job_id: id });
      continue;
    }
    if (job.status === "succeeded") return { status: "success", data: job.result, via: "polling" };
    const err = job.error && typeof job.error === "object" && job.error.status ? job.error : { status: "error", message: `job ${job.status}` };
    return { ...err, httpStatus: job.http_status, via: "polling" };
  }
  return { status: "error", message: `job ${id} did not finish; poll /v1/jobs/${id}` };
}
