// "Export CSV" in Debian's chromium against the real gateway, egress-service
// and PostgreSQL: the button downloads egress-<account>-<date>.csv holding
// every row of the day that the list's filter, action and sort select, in
// the list's order; a PTR and an owner with a comma, a quote and a line
// break survive a CSV parser; a formula-like owner is neutralised; the
// button is named in every language and axe finds nothing serious.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { dayKey, ipBytes, kAlice, kAliceDays, kFillerRows, kNamedRows, sendBatch } from "./lib/seed.js";
import { axeViolations, openPanel, rowIps, shot, startPanelStack, waitRows, waitSummary } from "./lib/panel_page.js";

let stack;
const kNastyIp = "192.0.2.66";
const kNastyPtr = 'evil,"quoted"\nhost.example';
const kNastyOwner = '=HYPERLINK("http://x.example","click")';
const newest = dayKey(kAliceDays[0]);

before(async () => {
  stack = await startPanelStack("export");
  const [year, month, day] = newest.split("-").map(Number);
  const seconds = BigInt(Math.floor(Date.parse(`${newest}T09:15:00Z`) / 1000));
  const ack = await sendBatch(stack.api, "node-a", [
    { uid: 2001, day: { year, month, day }, dstIp: ipBytes(kNastyIp), protocol: 1, dstPort: 8443, action: 2, count: 4n, firstSeen: { seconds, nanos: 0 }, lastSeen: { seconds, nanos: 0 } },
  ]);
  assert.equal(ack.acceptedRecords, 1);
  seedNastyInfo();
});

// As the enrichment would store what a hostile owner's DNS and registry say
// (valid for a day, so the enrichment leaves it alone).
function seedNastyInfo() {
  const q = (s) => `'${s.replace(/'/g, "''")}'`;
  stack.pg.sql(`INSERT INTO ip_info (ip, status, ptr, ptr_confirmed, asn, as_name, country, network, looked_up_at, expires_at)
                VALUES ('${kNastyIp}', 2, ${q(kNastyPtr)}, false, 64666, ${q(kNastyOwner)}, 'UA', '192.0.2.0/24', now(), now() + interval '1 day')
                ON CONFLICT (ip) DO UPDATE SET status = excluded.status, ptr = excluded.ptr, ptr_confirmed = excluded.ptr_confirmed,
                  asn = excluded.asn, as_name = excluded.as_name, country = excluded.country, network = excluded.network,
                  looked_up_at = excluded.looked_up_at, expires_at = excluded.expires_at`);
}
after(async () => {
  await stack?.stop();
});

// RFC 4180 records.
function parseCsv(text) {
  const records = [];
  let record = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") record.push(field), (field = "");
    else if (c === "\r" && text[i + 1] === "\n") continue;
    else if (c === "\n") record.push(field), records.push(record), (record = []), (field = "");
    else field += c;
  }
  assert.equal(field + record.join(""), "", "the file ends with a line end");
  return records;
}

async function download(page) {
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 20000 }), page.click("#eg-export")]);
  const text = readFileSync(await dl.path(), "utf8");
  return { name: dl.suggestedFilename(), text, records: parseCsv(text.replace(/^\uFEFF/, "")), bom: text.startsWith("\uFEFF") };
}

const kTotal = kNamedRows.length + kFillerRows + 1;

test("Export CSV downloads the whole day; hostile PTR and owner text is quoted and neutralised", async () => {
  seedNastyInfo();
  const page = await openPanel(stack, kAlice);
  try {
    const button = page.getByRole("button", { name: "Export CSV" });
    await page.waitForSelector("#eg-export:not([disabled])");
    const t0 = performance.now();
    const { name, records, bom } = await download(page);
    const ms = performance.now() - t0;
    assert.equal(name, `egress-${kAlice}-${newest}.csv`);
    assert.ok(bom, "starts with a UTF-8 byte order mark for spreadsheets");
    assert.deepEqual(records[0], ["date", "ip", "ptr", "ptr_status", "owner", "asn", "country", "network", "protocol", "port", "action", "count", "first_seen", "last_seen", "blocking_rule_ids"]);
    assert.equal(records.length, kTotal + 1, "every row of the day, not just the page");
    assert.ok(records.every((r) => r.length === 15));
    assert.ok(records.slice(1).every((r) => r[0] === newest));
    // Default order: count, descending (as the list).
    const counts = records.slice(1).map((r) => Number(r[11]));
    assert.deepEqual(counts, [...counts].sort((a, b) => b - a));
    const nasty = records.find((r) => r[1] === kNastyIp);
    assert.equal(nasty[2], kNastyPtr, "comma, quote and line break survive");
    assert.equal(nasty[3], "ok");
    assert.equal(nasty[4], `'${kNastyOwner}`, "the formula is behind an apostrophe");
    assert.deepEqual(nasty.slice(5, 12), ["64666", "UA", "192.0.2.0/24", "TCP", "8443", "REJECT", "4"]);
    assert.equal(nasty[12], `${newest}T09:15:00+00:00`);
    const mail = records.find((r) => r[1] === "203.0.113.7" && r[9] === "443");
    assert.deepEqual(mail.slice(2, 5), ["mail.example.net", "ok", "Example Mail Ltd"]);
    assert.equal(await button.getAttribute("title"), "Download all connections of the selected date that match the filter, as a CSV file for spreadsheets");
    assert.equal(await page.textContent("#eg-toast .eg-toast-text"), "The CSV file is being downloaded.");
    assert.deepEqual(page.errors, []);
    process.stdout.write(`# export of ${kTotal} rows: click to file ${ms.toFixed(0)} ms\n`);
  } finally {
    await page.close();
  }
});

test("the file follows the list's filter, action and sort", async () => {
  const page = await openPanel(stack, kAlice);
  try {
    await page.fill("#eg-filter", "203.0.113.7");
    await waitRows(page, ["203.0.113.7", "203.0.113.7"]);
    let got = await download(page);
    assert.deepEqual(got.records.slice(1).map((r) => `${r[1]} ${r[9]} ${r[10]}`), ["203.0.113.7 443 ACCEPT", "203.0.113.7 25 REJECT"]);
    await page.selectOption("#eg-action", { label: "REJECT only" });
    await waitRows(page, ["203.0.113.7"]);
    got = await download(page);
    assert.deepEqual(got.records.slice(1).map((r) => `${r[1]} ${r[9]} ${r[10]}`), ["203.0.113.7 25 REJECT"]);
    // No filter, sorted by IP: the file starts with the rows of the first page.
    await page.fill("#eg-filter", "");
    await page.selectOption("#eg-action", { index: 0 });
    await waitSummary(page, new RegExp(`of ${kTotal}$`));
    await page.click('button.eg-sort[data-order="2"]');
    await page.waitForFunction(() => document.querySelector('button.eg-sort[data-order="2"]')?.closest("th")?.getAttribute("aria-sort") === "ascending", null, { timeout: 20000 });
    await page.waitForFunction(() => document.querySelector("#eg-conn-body tr[data-ip]")?.dataset.ip === "100.64.0.1", null, { timeout: 20000 });
    const shown = await rowIps(page);
    got = await download(page);
    assert.equal(got.records.length, kTotal + 1);
    assert.deepEqual(got.records.slice(1, shown.length + 1).map((r) => r[1]), shown);
    await shot(stack, page, "export-sorted");
    assert.deepEqual(await axeViolations(page), []);
  } finally {
    await page.close();
  }
});

test("the button is translated and named for screen readers; off when the day has no rows", async () => {
  for (const [lang, label] of [["uk", "Експорт CSV"], ["ru", "Экспорт CSV"]]) {
    const page = await openPanel(stack, kAlice, { fragment: { lang } });
    try {
      await page.getByRole("button", { name: label }).waitFor();
      assert.deepEqual(await axeViolations(page), []);
    } finally {
      await page.close();
    }
  }
  const page = await openPanel(stack, kAlice);
  try {
    await page.fill("#eg-filter", "198.18.");
    await page.waitForSelector("#eg-export[disabled]");
  } finally {
    await page.close();
  }
});

test("a refused export is worded for the customer and the page stays", async () => {
  const page = await openPanel(stack, kAlice);
  try {
    await page.waitForSelector("#eg-export:not([disabled])");
    // As the gateway answers when the service says RESOURCE_EXHAUSTED.
    await page.route("**/export/connections.csv", (route) =>
      route.fulfill({ status: 429, contentType: "text/html; charset=utf-8", body: '<!doctype html><p id="export-error" data-code="ResourceExhausted">ResourceExhausted: too many exports</p>' }),
    );
    const url = page.url();
    await page.click("#eg-export");
    await page.waitForFunction(() => document.querySelector("#eg-toast .eg-toast-text")?.textContent === "Too many exports are running right now. Try again in a minute.", null, { timeout: 10000 });
    assert.equal(page.url(), url);
    assert.equal(await page.locator("#eg-conn-body tr[data-ip]").count() > 0, true);
    // A session that ended: the page says so and stops.
    await page.unroute("**/export/connections.csv");
    await page.route("**/export/connections.csv", (route) =>
      route.fulfill({ status: 401, contentType: "text/html; charset=utf-8", body: '<!doctype html><p id="export-error" data-code="Unauthenticated">Unauthenticated: token expired</p>' }),
    );
    await page.click("#eg-export");
    await page.waitForSelector("#eg-page-notice:not([hidden])");
    assert.match(await page.textContent("#eg-page-notice"), /Your session has ended/);
    assert.equal(await page.locator("#eg-export").isDisabled(), true);
  } finally {
    await page.close();
  }
});
