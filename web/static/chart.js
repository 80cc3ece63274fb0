// An SVG chart of a series, its point forecast and the forecast's interval bands, with zoom and
// pan. Long series are drawn per pixel column (first, min, max, last), so a single spike among
// 100 000 points stays visible; with timestamps the x axis is a calendar axis.

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function html(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

const finite = (v) => typeof v === "number" && Number.isFinite(v);

// niceTicks returns about n round values covering [lo, hi].
export function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

export function fmt(v, digits = 4) {
  if (!finite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  return +v.toPrecision(digits) === Math.round(v) ? String(Math.round(v)) : v.toPrecision(digits).replace(/\.?0+$/, "");
}

// levelsOf lists the interval levels of a forecast, widest first.
export function levelsOf(fc) {
  return Object.keys(fc?.intervals ?? {}).sort((a, b) => parseFloat(b) - parseFloat(a));
}

// ---------- calendar axis ----------

const DAY = 864e5;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad2 = (n) => String(n).padStart(2, "0");

// offsetOf is the UTC offset (ms) written in an RFC 3339 time: the axis shows the data's own
// clock, not the browser's, so midnight stays midnight.
export function offsetOf(ts) {
  const m = /([+-])(\d{2}):?(\d{2})$/.exec(ts || "");
  return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60e3 : 0;
}

// Tick steps from a second to a millennium: [approximate ms, unit, count].
const STEPS = [
  [1e3, "s", 1], [5e3, "s", 5], [15e3, "s", 15], [30e3, "s", 30],
  [6e4, "min", 1], [3e5, "min", 5], [9e5, "min", 15], [18e5, "min", 30],
  [36e5, "h", 1], [108e5, "h", 3], [216e5, "h", 6], [432e5, "h", 12],
  [DAY, "d", 1], [2 * DAY, "d", 2], [7 * DAY, "w", 1], [14 * DAY, "w", 2],
  [30.44 * DAY, "mo", 1], [91.3 * DAY, "mo", 3], [182.6 * DAY, "mo", 6],
  ...[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].map((k) => [k * 365.25 * DAY, "y", k]),
];
const UNIT_MS = { s: 1e3, min: 6e4, h: 36e5 };

// timeTicks returns ticks at calendar units over [t0, t1] (ms, shifted by off), about n of them:
// [{t, main, sub}] with sub naming the larger unit where it changes.
export function timeTicks(t0, t1, n, off = 0) {
  const want = (t1 - t0) / Math.max(1, n);
  const [, unit, k] = STEPS.find(([ms]) => ms >= want) ?? STEPS[STEPS.length - 1];
  const a = t0 + off, b = t1 + off; // shifted: UTC fields now read as the data's clock
  const out = [];
  const push = (s) => { if (s >= a && s <= b) out.push(s); };
  if (UNIT_MS[unit]) {
    const step = UNIT_MS[unit] * k;
    for (let s = Math.ceil(a / step) * step; s <= b && out.length < 1000; s += step) push(s);
  } else if (unit === "d" || unit === "w") {
    const step = (unit === "w" ? 7 : 1) * k * DAY;
    const shift = unit === "w" ? 3 * DAY : 0; // 1970-01-01 was a Thursday; weeks start on Monday
    for (let s = Math.ceil((a + shift) / step) * step - shift; s <= b && out.length < 1000; s += step) push(s);
  } else {
    const d = new Date(a);
    const months = unit === "mo" ? k : 12 * k;
    let y = d.getUTCFullYear(), m = d.getUTCMonth();
    if (unit === "y") { y = Math.floor(y / k) * k; m = 0; } else m = Math.floor(m / k) * k;
    for (let i = 0; out.length < 1000; i++) {
      const s = Date.UTC(y, m + i * months, 1);
      if (s > b) break;
      push(s);
    }
  }
  let prev = null;
  return out.map((s) => {
    const d = new Date(s);
    const Y = d.getUTCFullYear(), M = d.getUTCMonth(), D = d.getUTCDate();
    let main, sub = "";
    if (unit === "y") main = String(Y);
    else if (unit === "mo") {
      main = MONTHS[M];
      if (!prev || prev.getUTCFullYear() !== Y) sub = String(Y);
    } else if (unit === "d" || unit === "w") {
      main = `${MONTHS[M]} ${D}`;
      if (!prev || prev.getUTCFullYear() !== Y) sub = String(Y);
    } else {
      main = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}${unit === "s" ? `:${pad2(d.getUTCSeconds())}` : ""}`;
      if (!prev || prev.getUTCDate() !== D || prev.getUTCMonth() !== M) sub = `${MONTHS[M]} ${D}${!prev || prev.getUTCFullYear() !== Y ? ` ${Y}` : ""}`;
    }
    prev = d;
    return { t: s - off, main, sub };
  });
}

// formatTime writes a time (ms) on the data's clock: a date, or a date and time.
function formatTime(t, off, dateOnly) {
  const d = new Date(t + off);
  const date = `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  if (dateOnly) return date;
  const sec = d.getUTCSeconds() ? `:${pad2(d.getUTCSeconds())}` : "";
  return `${date} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}${sec}`;
}

// ---------- drawing ----------

// lowerBound is the first index i in sorted xs with xs[i] >= x.
function lowerBound(xs, x) {
  let lo = 0, hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// visible is the index range [i0, i1] of xs to draw for the view [v0, v1], with one point
// beyond each edge so lines run to the plot's border.
function visible(xs, v0, v1) {
  return [Math.max(0, lowerBound(xs, v0) - 1), Math.min(xs.length - 1, lowerBound(xs, v1))];
}

const px = (v) => v.toFixed(1);

// linePath draws ys over xs[i0..i1], breaking at gaps. With more points than pixel columns,
// each column becomes its first, lowest, highest and last value, so no extreme is lost.
function linePath(xs, ys, i0, i1, sx, sy, columns) {
  let d = "";
  if (i1 < i0) return d;
  if (i1 - i0 + 1 <= 2 * columns) {
    let pen = false;
    for (let i = i0; i <= i1; i++) {
      const y = ys[i];
      if (!finite(y)) { pen = false; continue; }
      d += `${pen ? "L" : "M"}${px(sx(xs[i]))},${px(sy(y))}`;
      pen = true;
    }
    return d;
  }
  let col = NaN, first = 0, last = 0, lo = 0, hi = 0, any = false, pen = false;
  const flush = () => {
    if (!any) { pen = false; return; }
    const x = px(col + 0.5);
    d += `${pen ? "L" : "M"}${x},${px(sy(first))}L${x},${px(sy(lo))}L${x},${px(sy(hi))}L${x},${px(sy(last))}`;
    pen = true;
  };
  for (let i = i0; i <= i1; i++) {
    const c = Math.floor(sx(xs[i]));
    if (c !== col) {
      if (i > i0) flush();
      col = c; any = false;
    }
    const y = ys[i];
    if (!finite(y)) continue;
    if (!any) { first = lo = hi = y; any = true; }
    if (y < lo) lo = y;
    if (y > hi) hi = y;
    last = y;
  }
  flush();
  return d;
}

// bandPath draws the area between lower and upper where both are finite; with more steps than
// pixel columns, each column spans its lowest lower and highest upper bound.
function bandPath(xs, lower, upper, i0, i1, sx, sy, columns) {
  const tops = [], bottoms = [];
  let d = "";
  const flush = () => {
    if (tops.length) d += `M${tops.join("L")}L${bottoms.reverse().join("L")}Z`;
    tops.length = 0; bottoms.length = 0;
  };
  const add = (x, lo, hi) => { tops.push(`${px(x)},${px(sy(hi))}`); bottoms.push(`${px(x)},${px(sy(lo))}`); };
  if (i1 - i0 + 1 <= 2 * columns) {
    for (let i = i0; i <= i1; i++) {
      if (finite(lower[i]) && finite(upper[i])) add(sx(xs[i]), lower[i], upper[i]); else flush();
    }
    flush();
    return d;
  }
  let col = NaN, lo = Infinity, hi = -Infinity, broken = false;
  const close = () => {
    if (broken || !(hi >= lo)) flush(); else add(col + 0.5, lo, hi);
  };
  for (let i = i0; i <= i1; i++) {
    const c = Math.floor(sx(xs[i]));
    if (c !== col) {
      if (i > i0) close();
      col = c; lo = Infinity; hi = -Infinity; broken = false;
    }
    if (finite(lower[i]) && finite(upper[i])) {
      if (lower[i] < lo) lo = lower[i];
      if (upper[i] > hi) hi = upper[i];
    } else broken = true;
  }
  close();
  flush();
  return d;
}

// extent widens [acc.lo, acc.hi] by the finite ys whose x lies in [v0, v1].
function extent(acc, xs, ys, v0, v1) {
  for (let i = lowerBound(xs, v0); i < xs.length && xs[i] <= v1; i++) {
    const y = ys[i];
    if (!finite(y)) continue;
    if (y < acc.lo) acc.lo = y;
    if (y > acc.hi) acc.hi = y;
  }
}

function nearest(xs, x) {
  if (!xs.length) return -1;
  const i = lowerBound(xs, x);
  if (i <= 0) return 0;
  if (i >= xs.length) return xs.length - 1;
  return x - xs[i - 1] <= xs[i] - x ? i - 1 : i;
}

// data turns what render is given into x/y arrays on one axis: times (ms) when every part has
// timestamps, else observation indexes (0-based).
function data({ history, fc, start }) {
  const hv = history?.values ?? [];
  const h = fc?.point?.length ?? 0;
  const hts = history?.timestamps?.length === hv.length && hv.length ? history.timestamps : null;
  const fts = h && fc.timestamps?.length === h ? fc.timestamps : null;
  const time = (hv.length ? !!hts : true) && (h ? !!fts : true) && !!(hts || fts);
  const hx = new Float64Array(hv.length), fx = new Float64Array(h);
  const hs = history?.start ?? 0;
  const x0 = history ? hs + hv.length : (start ?? 0); // index of the first forecast step
  for (let i = 0; i < hv.length; i++) hx[i] = time ? Date.parse(hts[i]) : hs + i;
  for (let i = 0; i < h; i++) fx[i] = time ? Date.parse(fts[i]) : x0 + i;
  const off = time ? offsetOf((hts ?? fts)[0]) : 0;
  let dateOnly = time;
  for (const xs of [hx, fx]) {
    for (let i = 0; i < xs.length && dateOnly; i++) if ((xs[i] + off) % DAY !== 0) dateOnly = false;
  }
  const levels = levelsOf(fc);
  // The forecast line starts at the last observation so the eye follows it.
  const lastObs = hv.length && finite(hv[hv.length - 1]) ? hv.length - 1 : -1;
  let pointXs = fx, pointYs = fc?.point ?? [];
  if (lastObs >= 0 && h) {
    pointXs = new Float64Array(h + 1);
    pointXs[0] = hx[lastObs];
    pointXs.set(fx, 1);
    pointYs = new Array(h + 1);
    pointYs[0] = hv[lastObs];
    for (let i = 0; i < h; i++) pointYs[i + 1] = fc.point[i];
  }
  let d0 = Infinity, d1 = -Infinity;
  for (const xs of [hx, fx]) if (xs.length) { d0 = Math.min(d0, xs[0]); d1 = Math.max(d1, xs[xs.length - 1]); }
  const n = hv.length + h;
  if (!(d1 > d0)) { const w = time ? DAY : 1; d0 -= w; d1 += w; }
  return { time, off, dateOnly, hv, hx, hs, fx, x0, h, fc, levels, pointXs, pointYs, d0, d1, minSpan: Math.max((d1 - d0) / 1e7, ((d1 - d0) / Math.max(1, n - 1)) * 4) };
}

// ---------- the chart ----------

const HINT = "Scroll or drag across to zoom · when zoomed, drag to pan and Shift+drag to zoom further · double-click or 0 resets";

class Chart {
  constructor(container) {
    this.c = container;
    this.view = null; // [v0, v1] while zoomed, else null
    this.key = "";
    this.frame = 0;
    this.drag = null;
    const btn = (text, label, on) => {
      const b = html("button", { type: "button", class: "ghost", "aria-label": label, title: label, text });
      b.addEventListener("click", on);
      return b;
    };
    this.range = html("span", { class: "range muted small", "aria-live": "polite" });
    this.zoomOut = btn("−", "Zoom out", () => this.zoomBy(2));
    this.zoomIn = btn("+", "Zoom in", () => this.zoomBy(0.5));
    this.reset = btn("Reset zoom", "Reset zoom", () => this.setView(null));
    this.reset.classList.add("reset");
    this.tools = html("div", { class: "chart-tools" }, this.range, this.zoomOut, this.zoomIn, this.reset);
    this.hint = html("p", { class: "hint muted small", text: HINT });
    this.host = html("div", { class: "plot-host", tabindex: "0", role: "group", "aria-label": "Chart. + and − zoom, the arrow keys pan, 0 resets the zoom." });
    this.tip = html("div", { class: "tip" });
    this.tip.hidden = true;
    this.host.addEventListener("wheel", (ev) => this.onWheel(ev), { passive: false });
    this.host.addEventListener("pointerdown", (ev) => this.onDown(ev));
    this.host.addEventListener("pointermove", (ev) => this.onMove(ev));
    this.host.addEventListener("pointerup", (ev) => this.onUp(ev));
    this.host.addEventListener("pointercancel", () => { this.drag = null; this.brush?.setAttribute("visibility", "hidden"); });
    this.host.addEventListener("pointerleave", () => { if (!this.drag) this.hideTip(); });
    this.host.addEventListener("dblclick", () => this.setView(null));
    this.host.addEventListener("keydown", (ev) => this.onKey(ev));
  }

  // set takes new data; the zoom is kept while key stays the same (a resize, a re-render).
  set(opts) {
    this.d = data(opts);
    this.title = opts.title;
    if (opts.key !== this.key) this.view = null;
    this.key = opts.key;
    this.c.replaceChildren(this.tools, this.host, this.hint);
    this.draw();
  }

  span() { const [a, b] = this.view ?? [this.d.d0, this.d.d1]; return [a, b]; }

  // setView zooms to [a, b] (clamped to the data), or back to everything with null.
  setView(v) {
    const { d0, d1, minSpan } = this.d;
    if (v) {
      let [a, b] = v;
      const w = Math.min(d1 - d0, Math.max(minSpan, b - a));
      const mid = (a + b) / 2;
      a = mid - w / 2; b = mid + w / 2;
      if (a < d0) { b += d0 - a; a = d0; }
      if (b > d1) { a -= b - d1; b = d1; }
      v = a <= d0 && b >= d1 ? null : [Math.max(a, d0), Math.min(b, d1)];
    }
    this.view = v;
    this.schedule();
  }

  zoomBy(factor, anchor) {
    const [a, b] = this.span();
    const x = anchor ?? (a + b) / 2;
    this.setView([x - (x - a) * factor, x + (b - x) * factor]);
  }

  panBy(dx) {
    const [a, b] = this.span();
    const { d0, d1 } = this.d;
    const s = Math.max(d0 - a, Math.min(d1 - b, dx));
    if (this.view) this.setView([a + s, b + s]);
  }

  schedule() {
    cancelAnimationFrame(this.frame);
    this.frame = requestAnimationFrame(() => this.draw());
  }

  // toX converts a client x position to a data x.
  toX(clientX) {
    const box = this.svg.getBoundingClientRect();
    const p = ((clientX - box.left) / box.width) * this.W;
    const [a, b] = this.span();
    return a + ((p - this.m.l) / (this.W - this.m.l - this.m.r)) * (b - a);
  }

  inPlot(ev) {
    const box = this.svg?.getBoundingClientRect();
    if (!box) return false;
    const p = ((ev.clientX - box.left) / box.width) * this.W, q = ((ev.clientY - box.top) / box.height) * this.H;
    return p >= this.m.l && p <= this.W - this.m.r && q >= this.m.t && q <= this.H - this.m.b;
  }

  onWheel(ev) {
    if (!this.inPlot(ev) || !ev.deltaY) return;
    ev.preventDefault();
    const unit = ev.deltaMode === 1 ? 33 : ev.deltaMode === 2 ? 400 : 1;
    this.zoomBy(Math.exp(Math.max(-300, Math.min(300, ev.deltaY * unit)) * 0.002), this.toX(ev.clientX));
  }

  onDown(ev) {
    if (ev.button !== 0 || !this.inPlot(ev)) return;
    ev.preventDefault();
    this.host.focus({ preventScroll: true });
    this.host.setPointerCapture?.(ev.pointerId);
    this.drag = { x: ev.clientX, from: this.toX(ev.clientX), view: this.span(), select: ev.shiftKey || !this.view, moved: false };
    this.hideTip();
  }

  onMove(ev) {
    const g = this.drag;
    if (!g) { this.hover(ev); return; }
    if (Math.abs(ev.clientX - g.x) > 3) g.moved = true;
    if (!g.moved) return;
    if (g.select) {
      const a = this.sxv(g.from), b = this.sxv(this.toX(ev.clientX));
      const l = Math.max(this.m.l, Math.min(a, b)), r = Math.min(this.W - this.m.r, Math.max(a, b));
      this.brush.setAttribute("x", px(l));
      this.brush.setAttribute("width", px(Math.max(0, r - l)));
      this.brush.setAttribute("visibility", "visible");
    } else {
      const [a, b] = g.view;
      const box = this.svg.getBoundingClientRect();
      const dx = ((ev.clientX - g.x) / box.width) * this.W / (this.W - this.m.l - this.m.r) * (b - a);
      const { d0, d1 } = this.d;
      const s = Math.max(d0 - a, Math.min(d1 - b, -dx));
      this.view = [a + s, b + s];
      this.schedule();
    }
  }

  onUp(ev) {
    const g = this.drag;
    this.drag = null;
    if (!g) return;
    this.brush?.setAttribute("visibility", "hidden");
    if (g.select && g.moved) {
      const to = this.toX(ev.clientX);
      this.setView([Math.min(g.from, to), Math.max(g.from, to)]);
    }
  }

  onKey(ev) {
    const [a, b] = this.span();
    const actions = {
      "+": () => this.zoomBy(0.5), "=": () => this.zoomBy(0.5), "-": () => this.zoomBy(2), "_": () => this.zoomBy(2),
      ArrowLeft: () => this.panBy(-(b - a) / 5), ArrowRight: () => this.panBy((b - a) / 5),
      0: () => this.setView(null), Home: () => this.setView(null), Escape: () => this.setView(null),
    };
    const act = actions[ev.key];
    if (!act || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    ev.preventDefault();
    act();
  }

  hideTip() {
    this.tip.hidden = true;
    this.cursor?.setAttribute("visibility", "hidden");
    this.dot?.setAttribute("visibility", "hidden");
  }

  label(x) {
    return this.d.time ? formatTime(x, this.d.off, this.d.dateOnly) : `t = ${Math.round(x) + 1}`;
  }

  hover(ev) {
    const d = this.d;
    if (!this.svg || !this.inPlot(ev)) { this.hideTip(); return; }
    const x = this.toX(ev.clientX);
    const hi = nearest(d.hx, x), fi = nearest(d.fx, x);
    const useF = fi >= 0 && (hi < 0 || Math.abs(d.fx[fi] - x) <= Math.abs(d.hx[hi] - x));
    let y, lines, at;
    if (useF) {
      at = d.fx[fi];
      y = d.fc.point[fi];
      lines = [`step ${fi + 1} (${this.label(at)})`, `forecast ${fmt(y)}`];
      for (const l of d.levels.slice().reverse()) lines.push(`${l}%: ${fmt(d.fc.intervals[l].lower[fi])} … ${fmt(d.fc.intervals[l].upper[fi])}`);
      this.dot.setAttribute("class", "dotp");
    } else if (hi >= 0) {
      at = d.hx[hi];
      y = d.hv[hi];
      lines = [this.label(at), finite(y) ? `observed ${fmt(y)}` : "missing"];
      this.dot.setAttribute("class", "dots");
    } else { this.hideTip(); return; }
    const cx = this.sxv(at);
    this.cursor.setAttribute("x1", px(cx)); this.cursor.setAttribute("x2", px(cx));
    this.cursor.setAttribute("visibility", "visible");
    if (finite(y)) {
      this.dot.setAttribute("cx", px(cx)); this.dot.setAttribute("cy", px(this.syv(y)));
      this.dot.setAttribute("visibility", "visible");
    } else this.dot.setAttribute("visibility", "hidden");
    this.tip.replaceChildren(...lines.map((s, i) => html("div", { class: i === 0 ? "muted" : "", text: s })));
    this.tip.hidden = false;
    const box = this.svg.getBoundingClientRect();
    const scale = box.width / this.W;
    const left = cx * scale;
    this.tip.style.top = `${Math.max(0, (finite(y) ? this.syv(y) : this.m.t) * scale - 12)}px`;
    this.tip.style.left = left > box.width * 0.6 ? "" : `${left + 12}px`;
    this.tip.style.right = left > box.width * 0.6 ? `${box.width - left + 12}px` : "";
  }

  draw() {
    const d = this.d;
    const [v0, v1] = this.span();
    const W = (this.W = Math.max(320, Math.round(this.c.clientWidth || 720)));
    const H = (this.H = Math.round(Math.min(380, Math.max(220, W * 0.42))));
    const m = (this.m = { l: 54, r: 14, t: 14, b: d.time ? 40 : 30 });
    const plotW = W - m.l - m.r;

    // The y range fits what is in view.
    const acc = { lo: Infinity, hi: -Infinity };
    extent(acc, d.hx, d.hv, v0, v1);
    if (d.h) {
      extent(acc, d.fx, d.fc.point, v0, v1);
      for (const l of d.levels) {
        extent(acc, d.fx, d.fc.intervals[l].lower, v0, v1);
        extent(acc, d.fx, d.fc.intervals[l].upper, v0, v1);
      }
    }
    let { lo, hi } = acc;
    if (!(hi >= lo)) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 1; hi += 1; }
    const padY = (hi - lo) * 0.06;
    lo -= padY; hi += padY;
    const sx = (x) => m.l + ((x - v0) / (v1 - v0)) * plotW;
    const sy = (y) => m.t + (1 - (y - lo) / (hi - lo)) * (H - m.t - m.b);
    this.sxv = sx; this.syv = sy;

    const svg = (this.svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "chart-title chart-desc" }));
    svg.dataset.view = `${v0} ${v1}`;
    svg.dataset.zoomed = String(!!this.view);
    svg.dataset.axis = d.time ? "time" : "index";
    el("title", { id: "chart-title" }, svg).textContent = this.title || "Series and forecast";
    const desc = [];
    if (d.hv.length) desc.push(`${d.hv.length} observations${d.hs ? ` (the last of ${d.hs + d.hv.length})` : ""}`);
    if (d.h) {
      desc.push(`${d.h}-step forecast from ${fmt(d.fc.point[0])} to ${fmt(d.fc.point[d.h - 1])}`);
      if (d.levels.length) desc.push(`with ${d.levels.map((l) => l + "%").join(" and ")} prediction intervals`);
    }
    if (this.view) desc.push(`zoomed to ${this.label(v0)} – ${this.label(v1)}`);
    el("desc", { id: "chart-desc" }, svg).textContent = desc.join(", ") + ". The forecast table below lists every value.";

    const clip = `chart-clip-${Math.random().toString(36).slice(2)}`;
    el("rect", { x: m.l, y: m.t, width: plotW, height: H - m.t - m.b }, el("clipPath", { id: clip }, el("defs", {}, svg)));

    const grid = el("g", { class: "grid", "aria-hidden": "true" }, svg);
    const axis = el("g", { class: "axis", "aria-hidden": "true" }, svg);
    for (const v of niceTicks(lo, hi, Math.max(3, Math.round((H - m.t - m.b) / 55)))) {
      el("line", { x1: m.l, x2: W - m.r, y1: px(sy(v)), y2: px(sy(v)) }, grid);
      el("text", { x: m.l - 6, y: px(sy(v) + 3.5), "text-anchor": "end" }, axis).textContent = fmt(v, 3);
    }
    const xAxis = el("g", { class: "axis-x" }, axis);
    if (d.time) {
      for (const tk of timeTicks(v0, v1, Math.max(2, Math.round(plotW / 90)), d.off)) {
        const x = px(sx(tk.t));
        el("line", { class: "tick", x1: x, x2: x, y1: H - m.b, y2: H - m.b + 4 }, grid);
        el("text", { x, y: H - m.b + 16, "text-anchor": "middle" }, xAxis).textContent = tk.main;
        if (tk.sub) el("text", { class: "sub", x, y: H - m.b + 30, "text-anchor": "middle" }, xAxis).textContent = tk.sub;
      }
    } else {
      for (const v of niceTicks(v0 + 1, v1 + 1, Math.max(3, Math.round(plotW / 80)))) {
        if (!Number.isInteger(v)) continue;
        el("text", { x: px(sx(v - 1)), y: H - m.b + 16, "text-anchor": "middle" }, xAxis).textContent = String(v);
      }
    }

    const plot = el("g", { "clip-path": `url(#${clip})` }, svg);
    if (d.h) {
      const [i0, i1] = visible(d.fx, v0, v1);
      d.levels.forEach((l, i) => {
        const iv = d.fc.intervals[l];
        // Narrower bands are drawn later, on top, and darker.
        const opacity = 0.14 + (d.levels.length > 1 ? 0.14 * (i / (d.levels.length - 1)) : 0);
        el("path", { class: "band", d: bandPath(d.fx, iv.lower, iv.upper, i0, i1, sx, sy, plotW), "fill-opacity": opacity.toFixed(2) }, plot);
      });
    }
    if (d.hv.length && d.h) {
      const xd = d.time ? (d.hx[d.hx.length - 1] + d.fx[0]) / 2 : d.x0 - 0.5;
      if (xd >= v0 && xd <= v1) {
        el("line", { class: "divider", x1: px(sx(xd)), x2: px(sx(xd)), y1: m.t, y2: H - m.b }, plot);
        el("text", { class: "divider-label", x: px(sx(xd) + 4), y: m.t + 10 }, plot).textContent = "forecast →";
      }
    }
    if (d.hv.length) {
      const [i0, i1] = visible(d.hx, v0, v1);
      el("path", { class: "series", d: linePath(d.hx, d.hv, i0, i1, sx, sy, plotW) }, plot);
    }
    if (d.h) {
      const [i0, i1] = visible(d.pointXs, v0, v1);
      el("path", { class: "point", d: linePath(d.pointXs, d.pointYs, i0, i1, sx, sy, plotW) }, plot);
    }

    this.cursor = el("line", { class: "cursor", y1: m.t, y2: H - m.b, visibility: "hidden" }, svg);
    this.dot = el("circle", { r: 3.5, visibility: "hidden" }, svg);
    this.brush = el("rect", { class: "brush", x: 0, y: m.t, width: 0, height: H - m.t - m.b, visibility: "hidden" }, svg);
    el("rect", { class: "hit", x: m.l, y: m.t, width: plotW, height: H - m.t - m.b, fill: "transparent" }, svg);
    this.host.classList.toggle("zoomed", !!this.view);
    this.host.replaceChildren(svg, this.tip);
    this.tip.hidden = true;

    this.reset.disabled = !this.view;
    this.zoomOut.disabled = !this.view;
    const whole = d.d1 - d.d0;
    this.zoomIn.disabled = v1 - v0 <= d.minSpan * 1.0001 || whole <= d.minSpan;
    this.range.textContent = this.view ? `showing ${this.label(v0)} – ${this.label(v1)}` : "";
  }
}

/**
 * render draws into container and returns whether there was anything to draw.
 * history: {values (nulls allowed), timestamps?, start?} or null when unknown; fc: a
 * ForecastResult or null; start: the index of the first forecast step when history is unknown
 * (the fit's n); key: the zoom is kept across calls with the same key.
 */
export function render(container, { history, fc, start, title, key = "" }) {
  let any = false;
  const check = (ys) => { for (let i = 0; i < (ys?.length ?? 0) && !any; i++) if (finite(ys[i])) any = true; };
  check(history?.values);
  check(fc?.point);
  if (!any) { container.replaceChildren(); container._chart = null; return false; }
  container._chart ??= new Chart(container);
  container._chart.set({ history, fc, start, title, key });
  return true;
}
