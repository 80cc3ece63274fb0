// Browser test of the dashboard: starts `forecastd all` on a free port, loads the page in
// headless Chromium, fits a model and forecasts through the forms, and checks that the result
// and the chart appear. Screenshots go to $E2E_SCREENSHOTS (default /tmp).
//
//   cd web/e2e && npm install && node dashboard.test.mjs      (or ./run.sh)
//
// Environment: CHROMIUM (default /usr/bin/chromium), E2E_METHOD (default snaive),
// FORECASTD_BIN (a built binary instead of `go run`).

import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { batchPage } from "./batch.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const shots = process.env.E2E_SCREENSHOTS || "/tmp";
const method = process.env.E2E_METHOD || "snaive";
const model = `e2e-${Date.now().toString(36)}`;

let failures = 0;
let step = 0;
function ok(cond, what, detail = "") {
  step++;
  if (cond) console.log(`ok ${step} - ${what}`);
  else {
    failures++;
    console.log(`not ok ${step} - ${what}${detail ? `\n  # ${detail}` : ""}`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(base, server, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (server.exitCode !== null) throw new Error(`forecastd exited with ${server.exitCode}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`forecastd did not become healthy within ${ms / 1000}s`);
}

// A WebSocket that is refused, as by a gateway answering the upgrade with 501.
function refuseWebSocket() {
  window.WebSocket = class {
    static OPEN = 1;
    readyState = 0;
    constructor() {
      setTimeout(() => {
        this.readyState = 3;
        this.onerror?.(new Event("error"));
        this.onclose?.(new CloseEvent("close", { code: 1006 }));
      }, 20);
    }
    send() { throw new Error("not open"); }
    close() {}
  };
}

// degraded loads the dashboard with WebSocket refused (and the event stream too when noSSE),
// then fits and forecasts through the forms.
async function degraded(context, base, name, noSSE) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  await page.addInitScript(refuseWebSocket);
  if (noSSE) {
    await page.route("**/v1/events*", (route) => route.fulfill({
      status: 501, contentType: "application/json",
      body: JSON.stringify({ status: "error", message: "/v1/events is not implemented yet", code: 501 }),
    }));
  }
  await page.goto(`${base}/`, { waitUntil: "load" });
  const want = noSSE ? "offline" : "sse";
  await page.waitForFunction((s) => document.getElementById("conn").dataset.state === s, want, { timeout: 20_000 }).catch(() => {});
  const conn = await page.locator("#conn").getAttribute("data-state");
  ok(conn === want, `${name}: the dashboard falls back to ${want}`, `state ${conn}`);

  const m = `${model}-${want}`;
  await page.fill("#fit-model", m);
  await page.click("#fit-example");
  await page.selectOption("#fit-method", method);
  await page.setChecked("#fit-then-forecast", true); // fit, then forecast by itself
  await page.fill("#fc-horizon", "12");
  await page.click("#fit-submit");
  await page.locator("#fc-status.ok").waitFor({ timeout: 60_000 }).catch(() => {});
  const fitStatus = await page.locator("#fit-status").textContent();
  const fcStatus = await page.locator("#fc-status").textContent();
  console.log(`# ${name}: ${fitStatus} / ${fcStatus}`);
  ok(/Fitted .* via HTTP/.test(fitStatus), `${name}: the fit goes over HTTP`, fitStatus);
  ok(/12-step forecast/.test(fcStatus), `${name}: the forecast follows the fit`, fcStatus);
  ok(await page.locator("#chart path.band").count() === 2, `${name}: the chart is drawn`);
  if (!noSSE) {
    await page.locator(`#log li:has-text("model_ready"):has-text("${m}")`).first().waitFor({ timeout: 10_000 }).catch(() => {});
    ok(await page.locator(`#log li:has-text("model_ready"):has-text("${m}")`).count() > 0, `${name}: model events arrive over SSE`);
  }
  ok(errors.length === 0, `${name}: no script errors`, errors.join(" | "));
  if (noSSE) await page.screenshot({ path: path.join(shots, "forecastd-dashboard-offline.png"), fullPage: true });
  await page.close();
}

// withAuth runs a second gateway that needs tokens: the dashboard asks for one, works with a
// read token until it fits (refused, naming the scope), then fits with a write token.
async function withAuth(context, tokenFile) {
  const srv = await startServer(["--auth-tokens", tokenFile]);
  servers.push(srv);
  await waitHealthy(srv.base, srv.server, 180_000);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  await page.goto(`${srv.base}/`, { waitUntil: "load" });
  await page.locator("#token-form").waitFor({ state: "visible", timeout: 15_000 }).catch(() => {});
  ok(await page.locator("#token-form").isVisible(), "with auth on: the dashboard asks for a token");
  ok(/needs an API token/.test(await page.locator("#token-msg").textContent()), "with auth on: it says why");

  await page.fill("#token-input", READ_TOKEN);
  await page.click("#token-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("conn").dataset.state === "ws", null, { timeout: 20_000 }).catch(() => {});
  ok(await page.locator("#conn").getAttribute("data-state") === "ws", "with a read token: the WebSocket session opens");
  ok((await page.locator("#models-status").textContent()) === "", "with a read token: the model list loads",
    await page.locator("#models-status").textContent());

  const m = `${model}-auth`;
  await page.fill("#fit-model", m);
  await page.click("#fit-example");
  await page.selectOption("#fit-method", method);
  await page.setChecked("#fit-then-forecast", false);
  await page.click("#fit-submit");
  await page.locator("#fit-status").filter({ hasText: /write/ }).waitFor({ timeout: 15_000 }).catch(() => {});
  const refused = await page.locator("#fit-status").textContent();
  ok(/scope read.*needs write/.test(refused), "with a read token: the fit is refused, naming the scope", refused);

  await page.fill("#token-input", WRITE_TOKEN);
  await page.click("#token-form button[type=submit]");
  await page.waitForFunction(() => document.getElementById("conn").dataset.state === "ws", null, { timeout: 20_000 }).catch(() => {});
  await page.click("#fit-submit");
  await page.locator("#fit-status.ok").waitFor({ timeout: 60_000 }).catch(() => {});
  const fitted = await page.locator("#fit-status").textContent();
  ok(/Fitted .* generation \d+/.test(fitted), "with a write token: the fit succeeds", fitted);
  ok(errors.length === 0, "with auth on: no script errors", errors.join(" | "));
  await page.screenshot({ path: path.join(shots, "forecastd-dashboard-auth.png"), fullPage: true });
  await page.close();
}

// The chart's x view and a few facts about what it draws, read from the page.
function chartFacts(page) {
  return page.evaluate(() => {
    const svg = document.querySelector("#chart svg");
    if (!svg) return null;
    const [v0, v1] = svg.dataset.view.split(" ").map(Number);
    const W = svg.viewBox.baseVal.width, H = svg.viewBox.baseVal.height;
    const hit = svg.querySelector("rect.hit");
    const series = svg.querySelector("path.series")?.getAttribute("d") ?? "";
    const pts = [...series.matchAll(/[ML]([-\d.]+),([-\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    return {
      v0, v1, W, H, zoomed: svg.dataset.zoomed === "true", axis: svg.dataset.axis,
      plot: { x: Number(hit.getAttribute("x")), y: Number(hit.getAttribute("y")), w: Number(hit.getAttribute("width")), h: Number(hit.getAttribute("height")) },
      xLabels: [...svg.querySelectorAll(".axis-x text")].map((t) => t.textContent),
      seriesPoints: pts, bands: [...svg.querySelectorAll("path.band")].map((p) => p.getAttribute("d").length),
      desc: svg.querySelector("desc").textContent,
    };
  });
}

// shotOfChart takes a picture of the result panel, scrolled to the middle of the window so the
// sticky header does not cover it.
async function shotOfChart(page, name) {
  const panel = page.locator("section.result");
  await panel.evaluate((e) => e.scrollIntoView({ block: "center" }));
  await panel.screenshot({ path: path.join(shots, name) });
}

async function api(base, method, path, body) {
  const res = await fetch(`${base}${path}`, { method, headers: { "Content-Type": "application/json" }, body: body && JSON.stringify(body) });
  return { status: res.status, env: await res.json() };
}

// chart checks the chart's newer behaviour: limits from /openapi.json, a long model list that
// leaves the fit form in view, an existing model's history on a date axis, zoom and pan, a
// 100 000-point series whose one spike stays visible, and a large horizon × levels forecast.
async function chart(context, base) {
  const air = [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118];
  const monthly = Array.from({ length: 144 }, (_, i) => air[i % 12] * (1 + i / 60));
  const stamps = monthly.map((_, i) => new Date(Date.UTC(1949, i, 1)).toISOString().replace(".000Z", "Z"));
  const dated = `${model}-dated`;
  let r = await api(base, "POST", `/v1/models/${dated}/fit`, { values: monthly, timestamps: stamps, season_length: 12, method: "snaive" });
  ok(r.status === 200, "a model with timestamps is fitted over the API", JSON.stringify(r.env).slice(0, 200));
  for (let i = 0; i < 30; i++) {
    r = await api(base, "POST", `/v1/models/${model}-many-${String(i).padStart(2, "0")}/fit`, { values: [1, 2, 3, 4, 5, 6, 7, 8], method: "naive" });
    if (r.status !== 200) break;
  }
  ok(r.status === 200, "30 more models are fitted over the API", JSON.stringify(r.env).slice(0, 200));

  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (msg) => { if (msg.type() === "error") errors.push(`console: ${msg.text()}`); });
  await page.goto(`${base}/`, { waitUntil: "load" });
  await page.locator(`#models-table button:text-is("${dated}")`).waitFor({ timeout: 15_000 }).catch(() => {});

  // Limits come from /openapi.json.
  await page.waitForFunction(() => document.documentElement.dataset.limits === "loaded", null, { timeout: 10_000 }).catch(() => {});
  ok(await page.getAttribute("#fc-horizon", "max") === "10000" && await page.getAttribute("#fit-season", "max") === "1000",
    "the horizon and season limits are read from /openapi.json");
  await page.fill("#fc-model", dated);
  await page.fill("#fc-horizon", "10001");
  await page.click("#fc-submit");
  const horizonErr = await page.locator("#fc-horizon-err").textContent();
  ok(/from 1 to 10000/.test(horizonErr), "a horizon past the documented limit is refused in the page", horizonErr);

  // A long model list scrolls in its own box: the fit form is in view without scrolling.
  const formBox = await page.locator("#fit-form").boundingBox();
  const listScrolls = await page.$eval(".models-wrap", (e) => e.scrollHeight > e.clientHeight + 10);
  ok(listScrolls && formBox && formBox.y < 1000 - 150, "with 32 models the list scrolls and the fit form is in view", `form at y=${formBox?.y}, list scrolls: ${listScrolls}`);

  // Clicking a model fitted elsewhere draws its series, on a date axis.
  await page.locator(`#models-table button:text-is("${dated}")`).click();
  await page.locator("#chart path.series").waitFor({ timeout: 10_000 }).catch(() => {});
  let f = await chartFacts(page);
  ok(f && f.seriesPoints.length === 144, "clicking an existing model draws the series it was fitted on", f ? f.desc : "no chart");
  ok(f?.axis === "time" && f.xLabels.some((t) => /^19[4-6]\d$/.test(t)), "with timestamps the x axis shows years", f?.xLabels.join(" "));
  await page.fill("#fc-horizon", "24");
  await page.click("#fc-submit");
  await page.locator("#fc-status.ok").waitFor({ timeout: 30_000 }).catch(() => {});
  await page.waitForFunction(() => document.querySelector("#chart path.point"), null, { timeout: 10_000 }).catch(() => {});
  f = await chartFacts(page);
  ok(f?.axis === "time" && f.seriesPoints.length === 144 && f.bands.length === 2, "its forecast is drawn after the series, on the date axis", f?.desc);
  const d1961 = f.xLabels.includes("1961");
  ok(d1961 || f.xLabels.some((t) => /^19(5|6)\d$/.test(t)), "the forecast's years are labelled", f.xLabels.join(" "));
  await shotOfChart(page, "forecastd-chart-dates.png");

  // Zoom with the wheel around the middle: a shorter span, months on the axis.
  const host = page.locator("#chart .plot-host");
  const plotAt = async (fx, fy = 0.5) => {
    await page.locator("#chart svg").scrollIntoViewIfNeeded();
    const box = await page.locator("#chart svg").boundingBox();
    const g = await chartFacts(page);
    return { x: box.x + ((g.plot.x + g.plot.w * fx) / g.W) * box.width, y: box.y + ((g.plot.y + g.plot.h * fy) / g.H) * box.height };
  };
  const full = f.v1 - f.v0;
  let at = await plotAt(0.5);
  await page.mouse.move(at.x, at.y);
  for (let i = 0; i < 8; i++) { await page.mouse.wheel(0, -300); await page.waitForTimeout(30); }
  await page.waitForTimeout(100);
  f = await chartFacts(page);
  ok(f.zoomed && f.v1 - f.v0 < full / 5, "the wheel zooms in", `span ${(f.v1 - f.v0) / 864e5} of ${full / 864e5} days`);
  ok(f.xLabels.some((t) => /^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/.test(t)), "zoomed in, the date axis labels months", f.xLabels.join(" "));
  await page.mouse.move(0, 0);
  await shotOfChart(page, "forecastd-chart-zoomed.png");

  // Drag pans the zoomed view.
  const before = f.v0;
  at = await plotAt(0.6);
  await page.mouse.move(at.x, at.y);
  await page.mouse.down();
  await page.mouse.move(at.x + 120, at.y, { steps: 6 });
  await page.mouse.up();
  await page.waitForTimeout(100);
  f = await chartFacts(page);
  ok(f.zoomed && f.v0 < before, "dragging pans the zoomed chart back in time", `${new Date(before).toISOString()} → ${new Date(f.v0).toISOString()}`);

  // Double-click resets; Shift-free drag at full view selects a range; the keyboard resets.
  at = await plotAt(0.5);
  await page.mouse.dblclick(at.x, at.y);
  await page.waitForTimeout(100);
  ok(!(await chartFacts(page)).zoomed, "double-clicking resets the zoom");
  const a = await plotAt(0.2), b = await plotAt(0.4);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(b.x, b.y, { steps: 6 });
  await page.mouse.up();
  await page.waitForTimeout(100);
  f = await chartFacts(page);
  ok(f.zoomed && Math.abs((f.v1 - f.v0) / full - 0.2) < 0.03, "dragging across the full chart zooms to the selected range", `span ${((f.v1 - f.v0) / full).toFixed(3)} of the whole`);
  await page.locator("#chart button.reset").focus();
  await page.keyboard.press("Enter");
  await page.waitForTimeout(100);
  ok(!(await chartFacts(page)).zoomed && await page.locator("#chart button.reset").isDisabled(), "the Reset zoom button works from the keyboard");
  await host.focus();
  await page.keyboard.press("+");
  await page.waitForTimeout(100);
  const keyZoomed = (await chartFacts(page)).zoomed;
  await page.keyboard.press("0");
  await page.waitForTimeout(100);
  ok(keyZoomed && !(await chartFacts(page)).zoomed, "+ zooms and 0 resets with the chart focused");

  // Lines of "time, value" in the form give the fit timestamps: a date axis for a series fitted here.
  const lines = Array.from({ length: 60 }, (_, i) => `${new Date(Date.UTC(2024, 0, 1 + i)).toISOString().slice(0, 10)}, ${10 + (i % 7)}`);
  await page.fill("#fit-model", `${model}-daily`);
  await page.fill("#fit-values", lines.join("\n"));
  await page.fill("#fit-season", "7");
  await page.selectOption("#fit-method", "snaive");
  await page.setChecked("#fit-then-forecast", true);
  await page.fill("#fc-horizon", "14");
  await page.click("#fit-submit");
  await page.locator("#fc-status.ok").filter({ hasText: "14-step" }).waitFor({ timeout: 30_000 }).catch(() => {});
  f = await chartFacts(page);
  ok(f?.axis === "time" && f.xLabels.some((t) => /^(Jan|Feb|Mar) \d+$/.test(t)), "pasted time, value lines give a date axis with days", f?.xLabels.join(" "));
  const fcTimes = await page.locator("#fc-table tbody tr:first-child td:nth-child(2)").textContent().catch(() => "");
  ok(/^2024-03-01T00:00:00Z$/.test(fcTimes), "the forecast continues the pasted dates", fcTimes);

  // 100 000 values with one spike: it stays visible, and the path stays small.
  const N = 100_000, SPIKE = 61_234;
  const values = Array.from({ length: N }, (_, i) => (i === SPIKE ? 1000 : ((i * 7919) % 100) / 10));
  await page.fill("#fit-model", `${model}-long`);
  await page.fill("#fit-values", values.join(" "));
  await page.fill("#fit-season", "1");
  await page.selectOption("#fit-method", "naive");
  await page.setChecked("#fit-then-forecast", false);
  await page.click("#fit-submit");
  await page.locator("#fit-status.ok").filter({ hasText: "Fitted" }).waitFor({ timeout: 60_000 }).catch(() => {});
  await page.waitForFunction(() => /100000 observations/.test(document.querySelector("#chart desc")?.textContent ?? ""), null, { timeout: 10_000 }).catch(() => {});
  f = await chartFacts(page);
  ok(/100000 observations/.test(f?.desc ?? ""), "a 100 000-point series is drawn", f?.desc);
  const top = f.seriesPoints.reduce((m, p) => (p[1] < m[1] ? p : m), [0, Infinity]);
  const spikeX = f.plot.x + (SPIKE / (N - 1)) * f.plot.w;
  ok(Math.abs(top[0] - spikeX) < 2 && top[1] < f.plot.y + f.plot.h * 0.1, "its single spike is drawn at its place, at the top",
    `highest point at ${top}, the spike belongs at x=${spikeX.toFixed(1)}`);
  ok(f.seriesPoints.length <= 4 * Math.ceil(f.plot.w) + 8, "the long series is decimated to a few points per pixel column", `${f.seriesPoints.length} points for ${f.plot.w} px`);
  await shotOfChart(page, "forecastd-chart-spike.png");

  // The longest horizon with the most levels draws without errors.
  await page.fill("#fc-model", `${model}-long`);
  await page.fill("#fc-horizon", "10000");
  await page.fill("#fc-levels", "10, 20, 30, 40, 50, 60, 70, 80, 90, 99");
  await page.click("#fc-submit");
  await page.locator("#fc-status.ok").filter({ hasText: "10000-step" }).waitFor({ timeout: 60_000 }).catch(() => {});
  f = await chartFacts(page);
  ok(/10000-step/.test(await page.locator("#fc-status").textContent()) && f.bands.length === 10 && f.bands.every((n) => n < 200_000),
    "a 10 000-step forecast with 10 levels is drawn", `${f.bands.length} bands, ${f.bands.join(",")} chars`);
  at = await plotAt(0.99);
  await page.mouse.move(at.x, at.y);
  ok(/forecast/.test((await page.locator("#chart .tip").textContent()) || ""), "hovering the long forecast reads out a step");
  await page.mouse.move(0, 0);
  await page.screenshot({ path: path.join(shots, "forecastd-chart-long.png"), fullPage: true });
  ok(errors.length === 0, "chart: no script errors", errors.join(" | "));
  await page.close();
}

const READ_TOKEN = "e2e-read-token-0000000001";
const WRITE_TOKEN = "e2e-write-token-000000001";

// startServer runs `forecastd all` on a free port in its own process group, so stopping it
// also stops the binary `go run` starts.
async function startServer(extra = []) {
  const port = await freePort();
  const args = ["all", "--http-addr", `127.0.0.1:${port}`, ...extra];
  const cmd = process.env.FORECASTD_BIN ? [process.env.FORECASTD_BIN, args] : ["go", ["run", "./cmd/forecastd", ...args]];
  const server = spawn(cmd[0], cmd[1], { cwd: repo, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const srv = { base: `http://127.0.0.1:${port}`, server, log: "" };
  server.stdout.on("data", (b) => (srv.log += b));
  server.stderr.on("data", (b) => (srv.log += b));
  return srv;
}

const servers = [];
const main = await startServer();
servers.push(main);
const { base, server } = main;

const userDataDir = await mkdtemp(path.join(os.tmpdir(), "forecastd-e2e-chromium-"));
const tokenFile = path.join(userDataDir, "..", `forecastd-e2e-tokens-${process.pid}`);
await writeFile(tokenFile, `read ${READ_TOKEN}\nwrite ${WRITE_TOKEN}\n`);
let context;
try {
  await waitHealthy(base, server, 180_000);
  console.log(`# forecastd up at ${base}`);

  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1440, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));
  // The deliberate invalid fit below may be answered 400 over HTTP; anything else is a defect.
  const expected = (text) => /status of 400/.test(text);
  page.on("console", (msg) => {
    if (msg.type() === "error" && !expected(msg.text())) pageErrors.push(`console: ${msg.text()} (${msg.location().url})`);
  });
  page.on("response", (res) => { if (res.status() >= 400 && res.status() !== 400) pageErrors.push(`HTTP ${res.status()} for ${res.url()}`); });

  await page.goto(`${base}/`, { waitUntil: "load" });
  ok((await page.title()).includes("forecastd"), "the dashboard loads");

  // The connection settles on WebSocket, SSE, or offline polling; any of them is usable.
  await page.waitForFunction(() => document.getElementById("conn").dataset.state !== "connecting", null, { timeout: 20_000 })
    .catch(() => {});
  const conn = await page.locator("#conn").getAttribute("data-state");
  console.log(`# live connection: ${conn} (${await page.locator("#conn-text").textContent()})`);
  ok(["ws", "sse", "offline"].includes(conn), "the connection indicator settles", `state ${conn}`);

  // Client-side validation names the bad field.
  await page.fill("#fit-model", model);
  await page.fill("#fit-values", "1, 2, banana");
  await page.click("#fit-submit");
  const valuesErr = (await page.locator("#fit-values-err").textContent()) || "";
  ok(valuesErr.includes("not a number") && (await page.getAttribute("#fit-values", "aria-invalid")) === "true",
    "invalid values are reported next to the field", valuesErr);

  // Server-side validation (a rule the page does not check itself) lands next to the field too.
  await page.click("#fit-example");
  await page.selectOption("#fit-method", "ets");
  await page.fill("#fit-spec", "QQQ");
  await page.click("#fit-submit");
  await page.locator("#fit-spec-err").filter({ hasText: /\S/ }).waitFor({ timeout: 15_000 }).catch(() => {});
  const specErr = (await page.locator("#fit-spec-err").textContent()) || "";
  ok(/ETS code/i.test(specErr), "the gateway's 400 problems are shown per field", specErr);

  // Fit through the form.
  await page.fill("#fit-spec", "");
  await page.selectOption("#fit-method", method);
  await page.fill("#fit-season", "12");
  await page.setChecked("#fit-then-forecast", false);
  await page.click("#fit-submit");
  await page.locator("#fit-status.ok").waitFor({ timeout: 60_000 }).catch(() => {});
  const fitStatus = await page.locator("#fit-status").textContent();
  console.log(`# fit: ${fitStatus}`);
  ok(/Fitted .* generation \d+/.test(fitStatus), "the fit succeeds", fitStatus);
  ok(await page.locator("#summary").isVisible(), "the fit summary is shown");
  const summary = await page.locator("#summary-dl").textContent();
  ok(/observations\s*144/.test(summary), "the summary names the 144 observations", summary);
  await page.locator(`#models-table tbody tr:has-text("${model}")`).waitFor({ timeout: 10_000 }).catch(() => {});
  ok(await page.locator(`#models-table tbody tr:has-text("${model}")`).count() === 1, "the model is listed");

  // Forecast through the form.
  await page.fill("#fc-horizon", "24");
  await page.fill("#fc-levels", "80, 95");
  await page.click("#fc-submit");
  await page.locator("#fc-status.ok").waitFor({ timeout: 60_000 }).catch(() => {});
  const fcStatus = await page.locator("#fc-status").textContent();
  console.log(`# forecast: ${fcStatus}`);
  ok(/24-step forecast from generation \d+/.test(fcStatus), "the forecast succeeds", fcStatus);
  ok(await page.locator("#fcinfo").isVisible(), "the forecast result is shown");
  ok(await page.locator("#chart svg").isVisible(), "the chart is drawn");
  ok(await page.locator("#chart path.series").count() === 1, "the chart shows the series");
  ok(await page.locator("#chart path.point").count() === 1, "the chart shows the point forecast");
  ok(await page.locator("#chart path.band").count() === 2, "the chart shows the 80 and 95% bands");
  const rows = await page.locator("#fc-table tbody tr").count();
  ok(rows === 24, "the forecast table has one row per step", `${rows} rows`);
  const legend = await page.locator("#legend").textContent();
  ok(legend.includes("80% interval") && legend.includes("95% interval"), "the legend names the intervals", legend);

  // Live events, when a live transport is up.
  if (conn === "ws" || conn === "sse") {
    await page.locator('#log li:has-text("model_ready")').first().waitFor({ timeout: 10_000 }).catch(() => {});
    ok(await page.locator('#log li:has-text("model_ready")').count() > 0, "the event log shows model_ready");
  } else {
    console.log("# skip: no live transport (WebSocket and SSE unavailable), event log not checked");
  }

  // Hovering the chart reads out a forecast step.
  const box = await page.locator("#chart svg").boundingBox();
  await page.mouse.move(box.x + box.width * 0.93, box.y + box.height / 2);
  ok(/forecast/.test((await page.locator("#chart .tip").textContent()) || ""), "hovering the chart shows the values");
  await page.mouse.move(0, 0);

  await page.screenshot({ path: path.join(shots, "forecastd-dashboard.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(shots, "forecastd-dashboard-mobile.png"), fullPage: true });
  await page.setViewportSize({ width: 1440, height: 1000 });

  // The API reference.
  await page.goto(`${base}/docs`, { waitUntil: "load" });
  ok(await page.locator("#op-post-v1-models-model-fit").count() === 1, "/docs describes POST /v1/models/{model}/fit");
  await page.screenshot({ path: path.join(shots, "forecastd-docs.png") });

  ok(pageErrors.length === 0, "no script errors in the page", pageErrors.join(" | "));

  // Graceful degradation: WebSocket refused → SSE; both refused → plain HTTP and polling.
  await degraded(context, base, "without WebSocket", false);
  await degraded(context, base, "without WebSocket and SSE", true);
  await chart(context, base);
  await batchPage(context, base, ok, shots);
  await withAuth(context, tokenFile);
  console.log(`# screenshots: ${shots}/forecastd-dashboard.png, forecastd-dashboard-mobile.png, forecastd-dashboard-offline.png, forecastd-dashboard-auth.png, forecastd-docs.png, forecastd-chart-dates.png, forecastd-chart-zoomed.png, forecastd-chart-spike.png, forecastd-chart-long.png`);
} catch (err) {
  failures++;
  console.log(`not ok - ${err.message}`);
  for (const srv of servers) console.log(srv.log.split("\n").slice(-30).map((l) => `  # ${l}`).join("\n"));
} finally {
  await context?.close().catch(() => {});
  for (const srv of servers) {
    try { process.kill(-srv.server.pid, "SIGTERM"); } catch { /* already gone */ }
  }
  await rm(userDataDir, { recursive: true, force: true });
  await rm(tokenFile, { force: true });
}
console.log(`1..${step}`);
console.log(failures ? `# FAIL: ${failures} failed` : "# PASS");
process.exit(failures ? 1 : 0);
