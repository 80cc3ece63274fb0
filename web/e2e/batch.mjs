// The batch page in the browser (run from dashboard.test.mjs against its gateway): a batch made
// through the API followed to its end, with its series table, chart and the "no backtest" note;
// a CSV uploaded through the form, followed to its end and drawn; a CSV uploaded through the
// form with a backtest of two methods, a bad windows refused by the service next to its field
// first, then the leaderboard checked against the service's own.

import path from "node:path";

const MONTHLY = [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118, 115, 126, 141, 135, 125, 149, 170, 170, 158, 133, 114, 140];

function longCSV() {
  const rows = ["series_id,timestamp,value"];
  for (const [name, scale] of [["store-a", 1], ["store-b", 2], ["store-c", 0.5]]) {
    MONTHLY.forEach((v, i) => {
      const t = new Date(Date.UTC(2022, i, 1)).toISOString();
      rows.push(`${name},${t},${v * scale}`);
    });
  }
  return rows.join("\n") + "\n";
}

async function postBatch(base, body) {
  const res = await fetch(`${base}/v1/batches`, {
    method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body),
  });
  return { status: res.status, env: await res.json() };
}

// openBatch loads the page following batch id and waits for it to end.
async function openBatch(context, base, id, errors) {
  const page = await context.newPage();
  page.on("pageerror", (err) => errors.push(err.message));
  await page.goto(`${base}/static/batch.html?batch=${id}`, { waitUntil: "load" });
  await page.waitForFunction(() => document.documentElement.dataset.batchResults === "loaded", null, { timeout: 60_000 }).catch(() => {});
  return page;
}

// uploadPage opens the batch page with the stores' CSV chosen in its form.
async function uploadPage(context, base, errors) {
  const page = await context.newPage();
  page.on("pageerror", (err) => errors.push(err.message));
  await page.goto(`${base}/static/batch.html`, { waitUntil: "load" });
  await page.setInputFiles("#up-file", { name: "stores.csv", mimeType: "text/csv", buffer: Buffer.from(longCSV()) });
  return page;
}

const series = [
  { name: "north", values: MONTHLY, season_length: 12 },
  { name: "south", values: MONTHLY.map((v) => v * 3), season_length: 12 },
  { name: "tiny", values: [5] }, // too short for snaive: its own error, the batch goes on
];

export async function batchPage(context, base, ok, shots) {
  const errors = [];

  // 1. A batch made through the API (JSON), followed from the page.
  const made = await postBatch(base, { method: "snaive", horizon: 6, levels: [80, 95], series });
  ok(made.status === 202, "batch: a JSON batch is accepted", JSON.stringify(made.env));
  if (made.status === 202) {
    const page = await openBatch(context, base, made.env.data.batch_id, errors);
    ok(await page.locator("#batch-status").getAttribute("data-status") === "succeeded", "batch: the page follows the batch to succeeded",
      await page.locator("#batch-counts").textContent());
    ok(/3 of 3 series done · 1 failed/.test(await page.locator("#batch-counts").textContent()), "batch: the counts are shown",
      await page.locator("#batch-counts").textContent());
    const [value, max] = await page.locator("#batch-progress").evaluate((p) => [p.value, p.max]);
    ok(value === 3 && max === 3, "batch: the progress bar is full", `${value}/${max}`);
    ok(await page.locator("#series-table tbody tr").count() === 3, "batch: one row per series");
    ok(await page.locator('#series-table tbody tr[data-name="tiny"] .badge.bad').count() === 1, "batch: the bad series has its own error");
    ok(await page.locator("#series-chart path.point").count() === 1 && await page.locator("#series-chart path.band").count() === 2,
      "batch: the selected series' forecast and intervals are drawn");
    await page.click('#series-table button:text-is("south")');
    ok(/south/.test(await page.locator("#series-chart-title").textContent()), "batch: selecting a series draws it");
    ok(await page.locator("#board-empty").isVisible() && !(await page.locator("#board").isVisible()),
      "batch: without a backtest the leaderboard says so");
    await page.screenshot({ path: path.join(shots, "forecastd-batch-api.png"), fullPage: true });
    await page.close();
  }

  // 2. A CSV uploaded through the form (text/csv on POST /v1/batches).
  {
    const page = await uploadPage(context, base, errors);
    await page.selectOption("#up-method", "snaive");
    await page.fill("#up-horizon", "6");
    await page.fill("#up-season", "12");
    await page.click("#up-submit");
    await page.waitForFunction(() => document.documentElement.dataset.batchResults === "loaded", null, { timeout: 60_000 }).catch(() => {});
    const upStatus = await page.locator("#up-status").textContent();
    const upErr = await page.locator("#up-err").textContent();
    console.log(`# batch upload: ${upStatus} ${upErr}`);
    ok(/Accepted: 3 series/.test(upStatus), "batch upload: the CSV is accepted as 3 series", `${upStatus} ${upErr}`);
    ok(await page.locator("#batch-status").getAttribute("data-status") === "succeeded", "batch upload: progress to succeeded");
    ok(await page.locator("#series-table tbody tr").count() === 3, "batch upload: the results table lists the 3 series");
    ok(await page.locator("#series-chart path.series").count() === 1 && await page.locator("#series-chart path.point").count() === 1,
      "batch upload: the chart draws the uploaded history and the forecast");
    await page.screenshot({ path: path.join(shots, "forecastd-batch-upload.png"), fullPage: true });
    await page.close();
  }

  // 3. A CSV uploaded through the form with a backtest of two methods, ticked snaive then naive,
  // and Method left at its default: the batch forecasts with snaive, the first ticked.
  {
    const page = await uploadPage(context, base, errors);
    await page.fill("#up-horizon", "6");
    await page.fill("#up-season", "12");
    await page.check('#up-methods input[value="snaive"]');
    await page.check('#up-methods input[value="naive"]');
    await page.check('#up-methods input[value="ets"]');
    await page.check('#up-methods input[value="theta"]');
    const offered = await page.locator("#up-methods input:enabled").count();
    await page.uncheck('#up-methods input[value="ets"]');
    await page.uncheck('#up-methods input[value="theta"]');
    ok(offered === 4 && await page.locator("#up-methods input:enabled").count() === 8, "batch backtest upload: at most 4 methods can be ticked",
      `${offered} enabled with 4 ticked`);
    await page.click("#up-submit");
    const methodsErr = await page.locator("#up-methods-err").textContent();
    ok(/only to a backtest: set windows/.test(methodsErr), "batch backtest upload: methods without windows are refused next to the field", methodsErr);
    await page.fill("#up-windows", "0"); // the service's to refuse
    await page.click("#up-submit");
    await page.locator("#up-windows-err").filter({ hasText: /\S/ }).waitFor({ timeout: 30_000 }).catch(() => {});
    const windowsErr = await page.locator("#up-windows-err").textContent();
    ok(/from 1 to 100, got 0/.test(windowsErr) && await page.getAttribute("#up-windows", "aria-invalid") === "true",
      "batch backtest upload: a bad windows is refused with the service's message next to the field", windowsErr);
    ok(/Refused \(400\): see the fields above/.test(await page.locator("#up-status").textContent()), "batch backtest upload: the status says where",
      await page.locator("#up-status").textContent());

    await page.fill("#up-windows", "3");
    await page.fill("#up-step", "1");
    await page.click("#up-submit");
    await page.waitForFunction(() => document.documentElement.dataset.batchResults === "loaded", null, { timeout: 60_000 }).catch(() => {});
    const upStatus = await page.locator("#up-status").textContent();
    ok(/Accepted: 3 series/.test(upStatus) && await page.locator("#up-windows-err").textContent() === "",
      "batch backtest upload: the CSV with windows, step and methods is accepted", `${upStatus} ${await page.locator("#up-err").textContent()}`);
    ok(await page.locator("#batch-status").getAttribute("data-status") === "succeeded", "batch backtest upload: progress to succeeded",
      await page.locator("#batch-counts").textContent());

    // The page's leaderboard is the service's: its methods in its order, its MASE shown.
    const id = await page.locator("#batch-id").textContent();
    const res = await fetch(`${base}/v1/batches/${id}/results`, { headers: { Accept: "application/json" } });
    const data = (await res.json()).data ?? {};
    const want = data.leaderboard ?? [];
    ok(JSON.stringify([...want].sort()) === JSON.stringify(["naive", "snaive"]), "batch backtest upload: the service ranks the two methods",
      JSON.stringify({ leaderboard: data.leaderboard, overall: data.overall }));
    const board = await page.locator("#board tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    console.log(`# batch leaderboard: ${board.map((r) => r.join(" ")).join(" | ")}`);
    ok(await page.locator("#board").isVisible() && !(await page.locator("#board-empty").isVisible()) && board.length === 2,
      "batch leaderboard: one row per method compared", `${board.length} rows`);
    ok(JSON.stringify(board.map((r) => r[1])) === JSON.stringify(want) && board.every((r, i) => r[0] === String(i + 1)),
      "batch leaderboard: the methods are ranked as the service ranks them", `${board.map((r) => r[1])} vs ${want}`);
    const mase = board.map((r) => Number(r[2]));
    const near = (a, b) => Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(b));
    ok(mase.every((v, i) => near(v, data.overall?.[want[i]]?.mase)), "batch leaderboard: each method's MASE is shown",
      `${board.map((r) => r[2])} vs ${want.map((m) => data.overall?.[m]?.mase)}`);
    ok(mase.length === 2 && mase[0] <= mase[1], "batch leaderboard: best MASE first", board.map((r) => r[2]).join(", "));
    ok(board.every((r) => Number.isFinite(Number(r[3])) && /^\d+(\.\d+)?%$/.test(r[4]) && /^\d+(\.\d+)?%$/.test(r[5])),
      "batch leaderboard: sMAPE and coverage are numbers", board.map((r) => r.slice(3).join(" ")).join(" | "));
    const head = await page.locator("#board thead").textContent();
    ok(/sMAPE/.test(head) && /80% coverage/.test(head) && /95% coverage/.test(head), "batch leaderboard: sMAPE and coverage per level", head);
    // A series' result names the model fitted: snaive's is "Seasonal naive", naive's "Naive".
    const methods = await page.locator("#series-table tbody td:nth-child(3)").allTextContents();
    ok(methods.length === 3 && methods.every((m) => m === "Seasonal naive"), "batch backtest upload: the series are forecast with the first method ticked",
      methods.join(", "));
    await page.screenshot({ path: path.join(shots, "forecastd-batch-leaderboard.png"), fullPage: true });
    await page.close();
  }

  ok(errors.length === 0, "batch: no script errors", errors.join(" | "));
  console.log(`# batch screenshots: ${shots}/forecastd-batch-api.png, forecastd-batch-upload.png, forecastd-batch-leaderboard.png`);
}
