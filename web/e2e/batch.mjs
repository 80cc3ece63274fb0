// The batch page in the browser (run from dashboard.test.mjs against its gateway): a batch made
// through the API followed to its end, with its series table, chart and the "no backtest" note;
// a CSV uploaded through the form (needs the text/csv upload of POST /v1/batches, branch
// batchio); the leaderboard of a batch with a backtest (needs branch backtest).

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

const series = [
  { name: "north", values: MONTHLY, season_length: 12 },
  { name: "south", values: MONTHLY.map((v) => v * 3), season_length: 12 },
  { name: "tiny", values: [5] }, // too short for snaive: its own error, the batch goes on
];

export async function batchPage(context, base, ok, shots) {
  const errors = [];

  // 1. A batch made through the API (JSON), followed from the page: works on main.
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

  // 2. A CSV uploaded through the form (needs batchio: text/csv on POST /v1/batches).
  {
    const page = await context.newPage();
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`${base}/static/batch.html`, { waitUntil: "load" });
    await page.setInputFiles("#up-file", { name: "stores.csv", mimeType: "text/csv", buffer: Buffer.from(longCSV()) });
    await page.selectOption("#up-method", "snaive");
    await page.fill("#up-horizon", "6");
    await page.fill("#up-season", "12");
    await page.click("#up-submit");
    await page.waitForFunction(() => document.documentElement.dataset.batchResults === "loaded", null, { timeout: 60_000 }).catch(() => {});
    const upStatus = await page.locator("#up-status").textContent();
    const upErr = await page.locator("#up-err").textContent();
    console.log(`# batch upload: ${upStatus} ${upErr}`);
    ok(/Accepted: 3 series/.test(upStatus), "batch upload (needs batchio): the CSV is accepted as 3 series", `${upStatus} ${upErr}`);
    ok(await page.locator("#batch-status").getAttribute("data-status") === "succeeded", "batch upload (needs batchio): progress to succeeded");
    ok(await page.locator("#series-table tbody tr").count() === 3, "batch upload (needs batchio): the results table lists the 3 series");
    ok(await page.locator("#series-chart path.series").count() === 1 && await page.locator("#series-chart path.point").count() === 1,
      "batch upload (needs batchio): the chart draws the uploaded history and the forecast");
    await page.screenshot({ path: path.join(shots, "forecastd-batch-upload.png"), fullPage: true });
    await page.close();
  }

  // 3. The leaderboard of a backtest (needs branch backtest: "backtest" and "methods" on a batch).
  {
    const bt = await postBatch(base, {
      method: "snaive", methods: ["naive", "snaive", "mean"], horizon: 6, levels: [80, 95],
      backtest: { windows: 3, step: 1 }, series: series.slice(0, 2),
    });
    ok(bt.status === 202, "batch leaderboard (needs backtest): a batch with a backtest is accepted", JSON.stringify(bt.env));
    if (bt.status === 202) {
      const page = await openBatch(context, base, bt.env.data.batch_id, errors);
      const rows = await page.locator("#board tbody tr").count();
      ok(await page.locator("#board").isVisible() && rows === 3, "batch leaderboard (needs backtest): one row per method", `${rows} rows`);
      const mase = await page.locator("#board tbody tr td:nth-child(3)").allTextContents();
      const sorted = mase.map(Number).every((v, i, a) => i === 0 || a[i - 1] <= v);
      ok(mase.length === 3 && sorted, "batch leaderboard (needs backtest): methods ranked by MASE", mase.join(", "));
      const head = await page.locator("#board thead").textContent();
      ok(/sMAPE/.test(head) && /80% coverage/.test(head) && /95% coverage/.test(head), "batch leaderboard (needs backtest): sMAPE and coverage per level", head);
      await page.screenshot({ path: path.join(shots, "forecastd-batch-leaderboard.png"), fullPage: true });
      await page.close();
    }
  }

  ok(errors.length === 0, "batch: no script errors", errors.join(" | "));
  console.log(`# batch screenshots: ${shots}/forecastd-batch-api.png, forecastd-batch-upload.png, forecastd-batch-leaderboard.png`);
}
