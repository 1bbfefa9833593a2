// The "Outgoing connections" panel in Debian's chromium, against the real
// gateway, egress-service and PostgreSQL with seeded data. Each test saves a
// screenshot under $EGRESS_ARTIFACTS_DIR (build/tests/browser/artifacts).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { gatewayDir } from "./lib/stack.js";
import { dayKey, ipBytes, kAlice, kAliceDays, kBob, kFillerRows, kIncompleteDay, kNamedRows, sendBatch, signToken } from "./lib/seed.js";
import { clearRules as clear, kCarol, rulesOf, shot as save, startPanelStack, summary, waitRows, waitSummary, withPanel, rowIps } from "./lib/panel_page.js";

const { ConnectError, Code } = await import(join(gatewayDir, "node_modules/@connectrpc/connect/dist/esm/index.js"));

let stack, pg, secret, gateway, browser, api;

before(async () => {
  stack = await startPanelStack("panel");
  ({ pg, secret, gateway, browser, api } = stack);
});

after(async () => {
  await stack?.stop();
});

const withPage = (name, account, opts, body) => withPanel(stack, name, account, opts, body);
const shot = (page, name) => save(stack, page, name);
const rules = (account) => rulesOf(stack, account);
const clearRules = (account) => clear(stack, account);
const panelOpts = (account) => api.panel(account);

test("dates with records only, newest first; the table with IP, PTR, owner, protocol, port, action, count", async () => {
  await withPage("01-dates-and-table", kAlice, {}, async (page) => {
    const options = await page.$$eval("#eg-date option", (os) => os.map((o) => o.value));
    assert.deepEqual(options, kAliceDays.map(dayKey));
    assert.ok(!options.includes(dayKey(4)), "a day without records is listed");
    assert.equal(await page.inputValue("#eg-date"), dayKey(kAliceDays[0]));
    await waitSummary(page, new RegExp(`of ${kNamedRows.length + kFillerRows}$`));
    const row = page.locator('#eg-conn-body tr[data-ip="203.0.113.7"][data-action="ACCEPT"]');
    const text = await row.innerText();
    for (const part of ["203.0.113.7", "mail.example.net", "AS64500", "Example Mail Ltd", "NL", "TCP", "443", "ACCEPT", "120"]) assert.ok(text.includes(part), `${part} in ${JSON.stringify(text)}`);
    const noPtr = await page.locator('#eg-conn-body tr[data-ip="198.51.100.23"]').innerText();
    assert.match(noPtr, /no PTR record/);
    assert.match(noPtr, /UDP/);
    // ACCEPT and REJECT look different.
    const colors = await page.$$eval("#eg-conn-body .eg-action", (els) => [...new Set(els.map((e) => `${e.textContent}:${getComputedStyle(e).color}:${getComputedStyle(e).backgroundColor}`))]);
    const accept = colors.find((c) => c.startsWith("ACCEPT"));
    const reject = colors.find((c) => c.startsWith("REJECT"));
    assert.ok(accept && reject && accept.slice(6) !== reject.slice(6), JSON.stringify(colors));
    // Picking another date shows that day's rows.
    await page.getByLabel("Date").selectOption(dayKey(kAliceDays[1]));
    await waitRows(page, ["203.0.113.7", "192.0.2.44"]);
    assert.match(await summary(page), /of 2$/);
  });
});

test("filter by IP, CIDR and prefix as you type", async () => {
  await withPage("02-filter", kAlice, {}, async (page) => {
    const filter = page.getByLabel("Filter by IP");
    await filter.pressSequentially("203.0.113.7", { delay: 20 });
    await waitSummary(page, /of 2$/);
    assert.deepEqual(await rowIps(page), ["203.0.113.7", "203.0.113.7"]);
    await filter.fill("198.51.100.0/24");
    await waitRows(page, ["198.51.100.200", "198.51.100.23"]);
    assert.match(await summary(page), /of 2$/);
    await filter.fill("100.64.1.");
    await waitSummary(page, new RegExp(`of ${kFillerRows - 200}$`));
    await filter.fill("2001:db8:");
    await waitRows(page, ["2001:db8::5"]);
    assert.match(await summary(page), /of 1$/);
    // Not an address: the page says so and keeps the last list.
    await filter.fill("example.com");
    await page.waitForFunction(() => document.querySelector("#eg-filter-hint").textContent.length > 0);
    assert.equal(await filter.getAttribute("aria-invalid"), "");
    assert.deepEqual(await rowIps(page), ["2001:db8::5"]);
    await filter.fill("");
    await waitSummary(page, new RegExp(`of ${kNamedRows.length + kFillerRows}$`));
  });
});

test("sort by count, IP and port; page through thousands of rows", async () => {
  await withPage("03-sort-and-pages", kAlice, {}, async (page) => {
    const firstCount = () => page.locator("#eg-conn-body tr[data-ip] .eg-count").first().innerText();
    assert.equal(await firstCount(), "120");
    assert.equal(await page.getAttribute("th:has(button[data-order='1'])", "aria-sort"), "descending");
    await page.click("button[data-order='1']");
    await page.waitForFunction(() => document.querySelector("th:has(button[data-order='1'])").getAttribute("aria-sort") === "ascending");
    await page.waitForFunction(() => document.querySelector("#eg-conn-body tr[data-ip] .eg-count")?.textContent === "1");
    await page.click("button[data-order='2']");
    await page.waitForFunction(() => document.querySelector("#eg-conn-body tr[data-ip]")?.dataset.ip === "100.64.0.1");
    await page.click("button[data-order='3']");
    await page.waitForFunction(() => document.querySelector("#eg-conn-body tr[data-ip] td:nth-child(3)")?.textContent === "25");
    // Pages of 100.
    const total = kNamedRows.length + kFillerRows;
    await waitSummary(page, new RegExp(`^Rows 1–100 of ${total}$`));
    await page.click("#eg-next");
    await waitSummary(page, new RegExp(`^Rows 101–200 of ${total}$`));
    await page.click("#eg-next");
    await waitSummary(page, new RegExp(`^Rows 201–${total} of ${total}$`));
    assert.equal(await page.isDisabled("#eg-next"), true);
    await page.click("#eg-prev");
    await waitSummary(page, new RegExp(`^Rows 101–200 of ${total}$`));
    await page.selectOption("#eg-page-size", "500");
    await waitSummary(page, new RegExp(`^Rows 1–${total} of ${total}$`));
    assert.equal((await rowIps(page)).length, total);
  });
});

test("🔒 Block on a row blocks the address (blocked table and database); 🔓 Unblock, confirmed, unblocks", async () => {
  await clearRules(kAlice);
  await withPage("04-row-lock", kAlice, {}, async (page) => {
    const lock = page.locator('#eg-conn-body tr[data-ip="203.0.113.7"] button.eg-lock').first();
    assert.equal(await lock.getAttribute("data-blocked"), "false");
    assert.equal(await lock.innerText(), "🔒 Block");
    await lock.click();
    await page.waitForSelector('#eg-rules-body tr[data-network="203.0.113.7/32"]');
    await page.waitForFunction(() => [...document.querySelectorAll('#eg-conn-body tr[data-ip="203.0.113.7"] button.eg-lock')].every((b) => b.dataset.blocked === "true" && b.innerText === "🔓 Unblock"));
    const ruleText = await page.locator('#eg-rules-body tr[data-network="203.0.113.7/32"]').innerText();
    for (const part of ["203.0.113.7", "mail.example.net", "Any", "Add note"]) assert.ok(ruleText.includes(part), `${part} in ${ruleText}`);
    assert.deepEqual(rules(kAlice), [["203.0.113.7/32", "0", "0", ""]]);
    await shot(page, "04-row-lock-blocked");
    await page.locator('#eg-conn-body tr[data-ip="203.0.113.7"] button.eg-lock').first().click();
    await page.click("#eg-confirm-ok");
    await page.waitForSelector("#eg-rules-body tr.eg-state-empty");
    assert.deepEqual(rules(kAlice), []);
  });
});

test("Block IP: checked in the page, then created; the server's refusal in customer wording", async () => {
  await clearRules(kAlice);
  await withPage("05-block-ip", kAlice, {}, async (page) => {
    await page.click("#eg-block-ip");
    const dialog = page.locator("#eg-block-dialog");
    await dialog.getByLabel("IP address or network (CIDR)").fill("300.1.1.1");
    await dialog.getByRole("button", { name: "Block", exact: true }).click();
    assert.match(await page.textContent("#eg-bi-dest-err"), /not an IPv4 or IPv6 address/);
    await dialog.getByLabel("IP address or network (CIDR)").fill("192.0.2.7/24");
    await dialog.getByRole("button", { name: "Block", exact: true }).click();
    assert.equal(await page.textContent("#eg-bi-dest-err"), "“192.0.2.7/24” is not the start of a network: use 192.0.2.0/24.");
    await dialog.getByLabel("IP address or network (CIDR)").fill("192.0.2.0/24");
    await dialog.getByLabel("Port (empty: every port)").fill("70000");
    await dialog.getByRole("button", { name: "Block", exact: true }).click();
    assert.match(await page.textContent("#eg-bi-port-err"), /1 to 65535/);
    assert.equal(await dialog.isVisible(), true);
    assert.deepEqual(rules(kAlice), []);
    // Good input.
    await dialog.getByLabel("Port (empty: every port)").fill("443");
    await dialog.getByLabel("Protocol").selectOption({ label: "TCP" });
    await dialog.getByLabel("Note (optional)").fill("payment API sandbox");
    await dialog.getByRole("button", { name: "Block", exact: true }).click();
    await page.waitForSelector('#eg-rules-body tr[data-network="192.0.2.0/24"]');
    assert.equal(await dialog.isVisible(), false);
    const text = await page.locator('#eg-rules-body tr[data-network="192.0.2.0/24"]').innerText();
    for (const part of ["192.0.2.0/24", "TCP", "443", "payment API sandbox"]) assert.ok(text.includes(part), `${part} in ${text}`);
    assert.deepEqual(rules(kAlice), [["192.0.2.0/24", "6", "443", "payment API sandbox"]]);
    // The same again: the page accepts it, the server refuses (ALREADY_EXISTS);
    // the page says so in its own words and offers to show the existing rule.
    await page.click("#eg-block-ip");
    await dialog.getByLabel("IP address or network (CIDR)").fill("192.0.2.0/24");
    await dialog.getByLabel("Protocol").selectOption({ label: "TCP" });
    await dialog.getByLabel("Port (empty: every port)").fill("443");
    await dialog.getByRole("button", { name: "Block", exact: true }).click();
    await page.waitForFunction(() => document.querySelector("#eg-bi-error").textContent.length > 0);
    const direct = await api.connections
      .blockDestination({ accountId: kAlice, destination: "192.0.2.0/24", protocol: 1, port: 443 }, panelOpts(kAlice))
      .then(() => null, (e) => ConnectError.from(e));
    assert.equal(direct?.code, Code.AlreadyExists);
    assert.match(direct.rawMessage, /is already blocked by rule \d+/);
    const shown = await page.textContent("#eg-bi-error");
    assert.equal(shown, "This destination is already blocked: the same address, protocol and port are in the list below.");
    assert.ok(!shown.includes("rule") && !shown.includes("destination:"), shown);
    await shot(page, "05-block-ip-server-error");
    assert.equal(rules(kAlice).length, 1);
    await page.click("#eg-bi-show-rule");
    assert.equal(await dialog.isVisible(), false);
    await page.waitForSelector('#eg-rules-body tr.eg-flash[data-network="192.0.2.0/24"]');
  });
});

test("Add note, then edit it inline", async () => {
  await clearRules(kAlice);
  await api.connections.blockDestination({ accountId: kAlice, destination: "198.51.100.200", protocol: 1, port: 8080 }, panelOpts(kAlice));
  await withPage("06-notes", kAlice, {}, async (page) => {
    const row = page.locator('#eg-rules-body tr[data-network="198.51.100.200/32"]');
    await row.getByRole("button", { name: /Add note/ }).click();
    await row.getByLabel(/Note for/).fill("old CRM webhook");
    await row.getByLabel(/Note for/).press("Enter");
    await row.getByText("old CRM webhook").waitFor();
    assert.equal(rules(kAlice)[0][3], "old CRM webhook");
    await row.getByRole("button", { name: /Edit note/ }).click();
    await row.getByLabel(/Note for/).fill("old CRM webhook — ask Bob ✓");
    await row.getByRole("button", { name: "Save" }).click();
    await row.getByText("old CRM webhook — ask Bob ✓").waitFor();
    assert.equal(rules(kAlice)[0][3], "old CRM webhook — ask Bob ✓");
    // Escape cancels an edit.
    await row.getByRole("button", { name: /Edit note/ }).click();
    await row.getByLabel(/Note for/).fill("never saved");
    await row.getByLabel(/Note for/).press("Escape");
    await row.getByText("old CRM webhook — ask Bob ✓").waitFor();
    assert.equal(rules(kAlice)[0][3], "old CRM webhook — ask Bob ✓");
  });
});

test("Delete rules: several at once, after confirmation; 🔓 Unblock removes one, also confirmed", async () => {
  await clearRules(kAlice);
  for (const [destination, port] of [["192.0.2.10", 25], ["192.0.2.11", 465], ["192.0.2.12", 587], ["192.0.2.13", 0]]) {
    await api.connections.blockDestination({ accountId: kAlice, destination, protocol: 1, port }, panelOpts(kAlice));
  }
  await withPage("07-delete-rules", kAlice, {}, async (page) => {
    assert.equal(await page.isDisabled("#eg-delete-rules"), true);
    await page.getByLabel("Select the rule for 192.0.2.10/32").check();
    await page.getByLabel("Select the rule for 192.0.2.11/32").check();
    assert.equal(await page.textContent("#eg-delete-rules"), "Delete rules (2)");
    await page.click("#eg-delete-rules");
    assert.equal(await page.textContent("#eg-confirm-title"), "Delete 2 rules?");
    const listed = await page.textContent("#eg-confirm-text");
    assert.ok(listed.includes("192.0.2.10/32 · TCP · port 25") && listed.includes("192.0.2.11/32 · TCP · port 465"), listed);
    await shot(page, "07-delete-rules-confirm");
    await page.locator("#eg-confirm").getByRole("button", { name: "Cancel" }).click();
    assert.equal(rules(kAlice).length, 4);
    await page.click("#eg-delete-rules");
    await page.click("#eg-confirm-ok");
    await page.waitForFunction(() => document.querySelectorAll("#eg-rules-body tr[data-rule-id]").length === 2);
    assert.deepEqual(rules(kAlice).map((r) => r[0]), ["192.0.2.12/32", "192.0.2.13/32"]);
    await page.getByRole("button", { name: "Unblock 192.0.2.12/32" }).click();
    assert.equal(await page.textContent("#eg-confirm-title"), "Unblock this destination?");
    await page.click("#eg-confirm-ok");
    await page.waitForFunction(() => document.querySelectorAll("#eg-rules-body tr[data-rule-id]").length === 1);
    assert.deepEqual(rules(kAlice).map((r) => r[0]), ["192.0.2.13/32"]);
  });
});

test("Block all outgoing connections: on (after confirming) and off", async () => {
  await withPage("08-block-all", kAlice, {}, async (page) => {
    const sw = page.getByRole("switch", { name: "Block all outgoing connections" });
    assert.equal(await sw.isChecked(), false);
    await sw.click({ force: true });
    await page.click("#eg-confirm-ok");
    await page.waitForFunction(() => /Blocked by you/.test(document.querySelector("#eg-lock-note").textContent));
    assert.deepEqual(pg.sql(`SELECT kind FROM account_locks WHERE account_id = '${kAlice}'`), [["1"]]);
    await shot(page, "08-block-all-on");
    await sw.click({ force: true });
    await page.waitForFunction(() => /are allowed/.test(document.querySelector("#eg-lock-note").textContent));
    assert.equal(await sw.isChecked(), false);
    assert.deepEqual(pg.sql(`SELECT kind FROM account_locks WHERE account_id = '${kAlice}'`), []);
  });
});

test("antivirus lock: the banner explains it, the switch cannot lift it, a clean scan does", async () => {
  const finishTime = (s) => ({ seconds: BigInt(Math.floor(Date.now() / 1000) - s), nanos: 0 });
  await api.antivirus.reportScan({ accountId: kCarol, scanId: "scan-1", finishTime: finishTime(60), threats: [{ path: "public_html/wp-content/x.php", signature: "PHP.Webshell.A" }] }, api.av);
  await withPage("09-antivirus", kCarol, {}, async (page) => {
    const banner = page.locator("#eg-av-banner");
    assert.equal(await banner.isVisible(), true);
    const text = await banner.innerText();
    assert.match(text, /malicious code/);
    assert.match(text, /remove the malicious code and run a new antivirus scan/);
    assert.match(text, /cannot be unblocked without removing the malicious code/);
    const sw = page.getByRole("switch", { name: "Block all outgoing connections" });
    assert.equal(await sw.isChecked(), true);
    // A plain click, not uncheck(): the panel puts the switch back when the service refuses, and
    // uncheck() fails whenever that refusal arrives before it looks at the state.
    await sw.click({ force: true });
    await page.waitForSelector("#eg-block-all-error:not([hidden])");
    const direct = await api.connections.setBlockAll({ accountId: kCarol, enabled: false }, panelOpts(kCarol)).then(() => null, (e) => ConnectError.from(e));
    assert.equal(direct?.code, Code.FailedPrecondition);
    assert.match(await page.textContent("#eg-block-all-error"), /stay blocked because our antivirus found malicious code/);
    assert.equal(await sw.isChecked(), true);
    assert.deepEqual(pg.sql(`SELECT kind FROM account_locks WHERE account_id = '${kCarol}'`), [["2"]]);
    // Carol has no connections: the empty states.
    assert.match(await page.textContent("#eg-conn-body"), /No outgoing connections have been recorded yet/);
    assert.match(await page.textContent("#eg-chart-state"), /No connections have been recorded yet/);
    assert.equal(await page.isDisabled("#eg-date"), true);
  });
  await api.antivirus.reportScan({ accountId: kCarol, scanId: "scan-2", finishTime: finishTime(1), threats: [] }, api.av);
  await withPage("09-antivirus-lifted", kCarol, {}, async (page) => {
    assert.equal(await page.locator("#eg-av-banner").isVisible(), false);
    assert.equal(await page.getByRole("switch", { name: "Block all outgoing connections" }).isChecked(), false);
  });
});

test("abuse lock: the banner gives the reason and what to do; the customer cannot lift it, support can", async () => {
  const reason = "Spam reported by example.net: 4312 SMTP connections to 203.0.113.7 (ticket 4711)";
  await api.abuse.setAbuseLock({ accountId: kCarol, ports: [25, 465, 587], reason }, api.admin);
  await withPage("09-abuse", kCarol, {}, async (page) => {
    const banner = page.locator("#eg-abuse-banner");
    assert.equal(await banner.isVisible(), true);
    const text = await banner.innerText();
    assert.match(text, /ports 25, 465, 587 are blocked/);
    assert.ok(text.includes(reason), text);
    assert.match(text, /only support can lift this block/);
    // Only ports: the switch stays off and says why.
    assert.equal(await page.getByRole("switch", { name: "Block all outgoing connections" }).isChecked(), false);
    assert.match(await page.textContent("#eg-lock-note"), /Ports 25, 465, 587 are blocked because of abuse \(only support can lift it\)/);
  });
  const refused = await api.abuse.liftAbuseLock({ accountId: kCarol, note: "fixed" }, panelOpts(kCarol)).then(() => null, (e) => ConnectError.from(e));
  assert.equal(refused?.code, Code.PermissionDenied);
  assert.match(refused.rawMessage, /contact support/);
  await api.abuse.liftAbuseLock({ accountId: kCarol, note: "script removed (ticket 4711)" }, api.admin);
  await withPage("09-abuse-lifted", kCarol, {}, async (page) => {
    assert.equal(await page.locator("#eg-abuse-banner").isVisible(), false);
  });
  assert.deepEqual(pg.sql(`SELECT kind FROM account_locks WHERE account_id = '${kCarol}'`), []);
});

test("the graph has one bar per day with data; clicking a day selects it; incomplete days are lower bounds", async () => {
  await withPage("10-graph", kAlice, {}, async (page) => {
    await page.waitForSelector("#eg-chart canvas");
    assert.equal(await page.getAttribute("#eg-chart", "data-days"), String(kAliceDays.length));
    assert.equal(await page.getAttribute("#eg-chart", "data-incomplete-days"), "1");
    const xs = await page.evaluate(() => window.egressPanel.chart().data[0].length);
    assert.equal(xs, kAliceDays.length);
    // Click the incomplete day's bars.
    const target = dayKey(kIncompleteDay);
    await page.locator("#eg-chart").scrollIntoViewIfNeeded();
    const pos = await page.evaluate((key) => {
      const u = window.egressPanel.chart();
      const ts = Date.parse(`${key}T00:00:00Z`) / 1000;
      const r = u.over.getBoundingClientRect();
      return { x: r.left + u.valToPos(ts, "x"), y: r.top + r.height - 5 };
    }, target);
    await page.mouse.move(pos.x, pos.y);
    await page.mouse.click(pos.x, pos.y);
    await page.waitForFunction((key) => document.querySelector("#eg-date").value === key, target);
    await page.waitForSelector("#eg-incomplete:not([hidden])");
    await page.waitForFunction(() => [...document.querySelectorAll("#eg-conn-body .eg-count")].every((c) => c.textContent.startsWith("≥ ")));
    const option = await page.locator(`#eg-date option[value="${target}"]`).innerText();
    assert.match(option, /≥ .*incomplete/);
  });
});

test("another account's token never shows this account's data", async () => {
  await withPage("11-other-account", kBob, {}, async (page) => {
    assert.deepEqual(await page.$$eval("#eg-date option", (os) => os.map((o) => o.value)), [dayKey(2)]);
    assert.deepEqual(await rowIps(page), ["192.0.2.99"]);
    assert.ok(!(await page.innerText("#egress-panel")).includes("203.0.113.7"));
    assert.ok(!(await page.getAttribute("#eg-chart", "aria-label")).includes(dayKey(1)));
  });
  // Bob's token asking for Alice's account.
  await withPage("11-other-account-denied", kAlice, { tokenAccount: kBob }, async (page) => {
    await page.waitForSelector("#eg-conn-body .eg-state-error");
    assert.match(await page.textContent("#eg-conn-body"), /You do not have access to this account/);
    assert.ok(!(await page.innerText("#egress-panel")).includes("203.0.113.7"));
  });
  const denied = await api.connections.listConnections({ accountId: kAlice, date: { year: 2026, month: 1, day: 1 } }, panelOpts(kBob)).then(() => null, (e) => ConnectError.from(e));
  assert.equal(denied?.code, Code.PermissionDenied);
  const noToken = await api.connections.listDates({ accountId: kAlice }).then(() => null, (e) => ConnectError.from(e));
  assert.equal(noToken?.code, Code.Unauthenticated);
});

test("360 px wide and keyboard only: labelled controls, no sideways scrolling", async () => {
  await withPage("12-mobile-360", kAlice, { width: 360, height: 780 }, async (page) => {
    await waitSummary(page, /^Rows 1–25 of/); // fewer rows per page on a phone
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `page scrolls sideways by ${overflow}px`);
    // Every form control has an accessible name.
    const unnamed = await page.$$eval("#egress-panel input, #egress-panel select, #egress-panel button", (els) =>
      els.filter((e) => !(e.labels?.length || e.getAttribute("aria-label") || e.textContent.trim())).map((e) => e.outerHTML.slice(0, 80)),
    );
    assert.deepEqual(unnamed, []);
    // Keyboard: Tab reaches the filter; the Block IP dialog opens, takes focus, closes on Escape.
    await page.focus("#eg-date");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.id), "eg-filter");
    await page.keyboard.type("203.0.113.7");
    await waitSummary(page, /of 2$/);
    await page.focus("#eg-block-ip");
    await page.keyboard.press("Enter");
    assert.equal(await page.evaluate(() => document.activeElement.id), "eg-bi-dest");
    await shot(page, "12-mobile-360-dialog");
    await page.keyboard.press("Escape");
    assert.equal(await page.locator("#eg-block-dialog").isVisible(), false);
  });
});

test("live: connections an agent reports appear without a reload", async () => {
  await withPage("13-live", kAlice, { config: { refreshMs: 500 } }, async (page) => {
    const total = kNamedRows.length + kFillerRows;
    await waitSummary(page, new RegExp(`of ${total}$`));
    const [y, m, d] = dayKey(kAliceDays[0]).split("-").map(Number);
    const t = { seconds: BigInt(Math.floor(Date.now() / 1000) - 60), nanos: 0 };
    const ack = await sendBatch(api, "node-a", [{ uid: 2001, day: { year: y, month: m, day: d }, dstIp: ipBytes("198.51.100.99"), protocol: 1, dstPort: 9999, action: 1, count: 1000n, firstSeen: t, lastSeen: t }]);
    assert.equal(ack.acceptedRecords, 1);
    await waitSummary(page, new RegExp(`of ${total + 1}$`));
    await page.waitForSelector('#eg-conn-body tr[data-ip="198.51.100.99"]');
  });
});

test("the embedding hook: window.egressPanelConfig with getToken renews the token per call", async () => {
  const page = await browser.newPage();
  try {
    const fresh = signToken({ secret: secret.secret, subject: kAlice, scopes: ["panel"] });
    await page.addInitScript((t) => {
      window.tokenCalls = 0;
      window.egressPanelConfig = { accountId: "alice", getToken: async () => (window.tokenCalls++, t), refreshMs: 0 };
    }, fresh);
    await page.goto(`${gateway.url}/`); // no fragment: the hook alone
    await page.waitForSelector("#egress-panel[data-ready]", { timeout: 30000 });
    await waitSummary(page, /^Rows 1–100/);
    assert.ok((await page.evaluate(() => window.tokenCalls)) >= 5);
    await shot(page, "14-embedding-hook");
  } finally {
    await page.close();
  }
});
