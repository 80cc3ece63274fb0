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
  await withAuth(context, tokenFile);
  console.log(`# screenshots: ${shots}/forecastd-dashboard.png, forecastd-dashboard-mobile.png, forecastd-dashboard-offline.png, forecastd-dashboard-auth.png, forecastd-docs.png`);
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
