// A small SVG chart of a series, its point forecast and the forecast's interval bands.

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
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

// pathOf draws the finite points of ys (x = x0 + i) as polyline segments, breaking at gaps.
function pathOf(ys, x0, sx, sy) {
  let d = "";
  let pen = false;
  ys.forEach((y, i) => {
    if (!finite(y)) { pen = false; return; }
    d += `${pen ? "L" : "M"}${sx(x0 + i).toFixed(1)},${sy(y).toFixed(1)}`;
    pen = true;
  });
  return d;
}

// bandOf draws the area between lower and upper over steps with both bounds finite.
function bandOf(lower, upper, x0, sx, sy) {
  let d = "";
  let run = [];
  const flush = () => {
    if (run.length) {
      const top = run.map((i) => `${sx(x0 + i).toFixed(1)},${sy(upper[i]).toFixed(1)}`);
      const bottom = run.slice().reverse().map((i) => `${sx(x0 + i).toFixed(1)},${sy(lower[i]).toFixed(1)}`);
      d += `M${top.join("L")}L${bottom.join("L")}Z`;
    }
    run = [];
  };
  lower.forEach((lo, i) => (finite(lo) && finite(upper[i]) ? run.push(i) : flush()));
  flush();
  return d;
}

// levelsOf lists the interval levels of a forecast, widest first.
export function levelsOf(fc) {
  return Object.keys(fc?.intervals ?? {}).sort((a, b) => parseFloat(b) - parseFloat(a));
}

/**
 * render draws into container.
 * history: the observed values (nulls allowed) or null when unknown;
 * fc: a ForecastResult or null; start: the index of the first forecast step when history is
 * unknown (the fit's n).
 */
export function render(container, { history, fc, start, title }) {
  container.replaceChildren();
  const hist = history ?? [];
  const h = fc?.point?.length ?? 0;
  const x0 = history ? hist.length : (start ?? 0); // x of the first forecast step
  const xFirst = history ? 0 : x0;
  const xLast = Math.max(x0 + h - 1, hist.length - 1, xFirst + 1);
  const levels = levelsOf(fc);

  const ys = [...hist, ...(fc?.point ?? [])];
  for (const l of levels) ys.push(...fc.intervals[l].lower, ...fc.intervals[l].upper);
  const vals = ys.filter(finite);
  if (!vals.length) return false;
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.06;
  lo -= pad; hi += pad;

  const W = Math.max(320, Math.round(container.clientWidth || 720));
  const H = Math.round(Math.min(380, Math.max(220, W * 0.42)));
  const m = { l: 54, r: 14, t: 14, b: 30 };
  const sx = (x) => m.l + ((x - xFirst) / (xLast - xFirst)) * (W - m.l - m.r);
  const sy = (y) => m.t + (1 - (y - lo) / (hi - lo)) * (H - m.t - m.b);

  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "chart-title chart-desc" }, container);
  el("title", { id: "chart-title" }, svg).textContent = title || "Series and forecast";
  const desc = [];
  if (history) desc.push(`${hist.length} observations`);
  if (h) {
    desc.push(`${h}-step forecast from ${fmt(fc.point[0])} to ${fmt(fc.point[h - 1])}`);
    if (levels.length) desc.push(`with ${levels.map((l) => l + "%").join(" and ")} prediction intervals`);
  }
  el("desc", { id: "chart-desc" }, svg).textContent = desc.join(", ") + ". The forecast table below lists every value.";

  const grid = el("g", { class: "grid", "aria-hidden": "true" }, svg);
  const axis = el("g", { class: "axis", "aria-hidden": "true" }, svg);
  for (const v of niceTicks(lo, hi, Math.max(3, Math.round((H - m.t - m.b) / 55)))) {
    el("line", { x1: m.l, x2: W - m.r, y1: sy(v), y2: sy(v) }, grid);
    const t = el("text", { x: m.l - 6, y: sy(v) + 3.5, "text-anchor": "end" }, axis);
    t.textContent = fmt(v, 3);
  }
  for (const v of niceTicks(xFirst + 1, xLast + 1, Math.max(3, Math.round((W - m.l - m.r) / 80)))) {
    if (!Number.isInteger(v)) continue;
    const t = el("text", { x: sx(v - 1), y: H - m.b + 16, "text-anchor": "middle" }, axis);
    t.textContent = String(v);
  }

  const plot = el("g", {}, svg);
  levels.forEach((l, i) => {
    const iv = fc.intervals[l];
    // Narrower bands are drawn later, on top, and darker.
    const opacity = 0.14 + 0.14 * (i / Math.max(1, levels.length - 1)) * (levels.length > 1 ? 1 : 0);
    el("path", { class: "band", d: bandOf(iv.lower, iv.upper, x0, sx, sy), "fill-opacity": opacity.toFixed(2) }, plot);
  });
  if (history && h) {
    el("line", { class: "divider", x1: sx(x0 - 0.5), x2: sx(x0 - 0.5), y1: m.t, y2: H - m.b }, plot);
    const t = el("text", { class: "divider-label", x: sx(x0 - 0.5) + 4, y: m.t + 10 }, plot);
    t.textContent = "forecast →";
  }
  if (hist.length) el("path", { class: "series", d: pathOf(hist, 0, sx, sy) }, plot);
  if (h) {
    // Join the forecast to the last observation so the eye follows it.
    const last = hist.length && finite(hist[hist.length - 1]) ? hist[hist.length - 1] : null;
    const pts = last !== null ? [last, ...fc.point] : fc.point;
    el("path", { class: "point", d: pathOf(pts, last !== null ? x0 - 1 : x0, sx, sy) }, plot);
  }

  // Hover read-out.
  const cursor = el("line", { class: "cursor", y1: m.t, y2: H - m.b, visibility: "hidden" }, svg);
  const dot = el("circle", { r: 3.5, visibility: "hidden" }, svg);
  const tip = document.createElement("div");
  tip.className = "tip";
  tip.hidden = true;
  container.appendChild(tip);
  const hit = el("rect", { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: "transparent" }, svg);
  const hide = () => { cursor.setAttribute("visibility", "hidden"); dot.setAttribute("visibility", "hidden"); tip.hidden = true; };
  hit.addEventListener("pointerleave", hide);
  hit.addEventListener("pointermove", (ev) => {
    const box = svg.getBoundingClientRect();
    const px = ((ev.clientX - box.left) / box.width) * W;
    const x = Math.round(xFirst + ((px - m.l) / (W - m.l - m.r)) * (xLast - xFirst));
    let y, lines;
    if (x >= x0 && x < x0 + h) {
      const i = x - x0;
      y = fc.point[i];
      lines = [`step ${i + 1} (t = ${x + 1})`, `forecast ${fmt(y)}`];
      for (const l of levels.slice().reverse()) lines.push(`${l}%: ${fmt(fc.intervals[l].lower[i])} … ${fmt(fc.intervals[l].upper[i])}`);
      dot.setAttribute("class", "dotp");
    } else if (history && x >= 0 && x < hist.length) {
      y = hist[x];
      lines = [`t = ${x + 1}`, finite(y) ? `observed ${fmt(y)}` : "missing"];
      dot.setAttribute("class", "dots");
    } else { hide(); return; }
    cursor.setAttribute("x1", sx(x)); cursor.setAttribute("x2", sx(x));
    cursor.setAttribute("visibility", "visible");
    if (finite(y)) {
      dot.setAttribute("cx", sx(x)); dot.setAttribute("cy", sy(y));
      dot.setAttribute("visibility", "visible");
    } else dot.setAttribute("visibility", "hidden");
    tip.replaceChildren(...lines.map((s, i) => { const d = document.createElement("div"); d.textContent = s; if (i === 0) d.className = "muted"; return d; }));
    tip.hidden = false;
    const scale = box.width / W;
    const left = sx(x) * scale;
    tip.style.top = `${Math.max(0, (finite(y) ? sy(y) : m.t) * scale - 12)}px`;
    tip.style.left = left > box.width * 0.6 ? "" : `${left + 12}px`;
    tip.style.right = left > box.width * 0.6 ? `${box.width - left + 12}px` : "";
  });
  return true;
}
