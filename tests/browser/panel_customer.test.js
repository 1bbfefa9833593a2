// What a hosting customer tripped over in the panel (issue 17: the ten
// findings), live refresh, and the view kept in the address bar: in Debian's
// chromium against the real gateway, egress-service and PostgreSQL, one
// stack for the whole file. Screenshots in $EGRESS_ARTIFACTS_DIR.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { dayKey, ipBytes, kAlice, kAliceDays, kFillerRows, kNamedRows, sendBatch, signToken } from "./lib/seed.js";
import { clearRules, kCarol, locksOf, openPanel, rowIps, rulesOf, shot, startPanelStack, summary, waitRows, waitSummary, withPanel } from "./lib/panel_page.js";

let stack;
before(async () => {
  stack = await startPanelStack("customer");
});
after(async () => {
  await stack?.stop();
});

const kTotal = kNamedRows.length + kFillerRows;
const visible = (page, sel) => page.locator(sel).isVisible();
const text = (page, sel) => page.locator(sel).innerText();
const dialogOpen = (page, id) => page.evaluate((i) => document.getElementById(i)?.open === true, id);

test("1. Block all: asks first, then a banner across the page; Undo and the banner's button switch it off", async () => {
  await withPanel(stack, "c01-block-all", kAlice, {}, async (page) => {
    const sw = page.getByRole("switch", { name: "Block all outgoing connections" });
    // Cancel: nothing happens.
    await sw.click({ force: true });
    assert.equal(await dialogOpen(page, "eg-confirm"), true);
    assert.equal(await text(page, "#eg-confirm-title"), "Block all outgoing connections?");
    assert.match(await text(page, "#eg-confirm-text"), /Every site on your account will at once lose access/);
    await shot(stack, page, "c01-block-all-confirm");
    await page.click("#eg-confirm-cancel");
    assert.equal(await sw.isChecked(), false);
    assert.deepEqual(locksOf(stack, kAlice), []);
    assert.equal(await visible(page, "#eg-lock-banner"), false);
    // Confirmed: the lock is set, the banner spans the section, Undo is offered.
    await sw.click({ force: true });
    await page.click("#eg-confirm-ok");
    await page.waitForSelector("#eg-lock-banner:not([hidden])");
    assert.deepEqual(locksOf(stack, kAlice), [["1"]]);
    assert.equal(await sw.isChecked(), true);
    assert.match(await text(page, "#eg-lock-banner"), /All outgoing connections of your account are blocked\./);
    const [banner, section] = await page.evaluate(() => [document.querySelector("#eg-lock-banner").getBoundingClientRect().width, document.querySelector(".eg").clientWidth]);
    assert.ok(banner >= section - 30, `banner ${banner}px of ${section}px`);
    const [bannerTop, tableTop] = await page.evaluate(() => [document.querySelector("#eg-lock-banner").getBoundingClientRect().top, document.querySelector("#eg-connections").getBoundingClientRect().top]);
    assert.ok(bannerTop < tableTop, "the banner is above the list");
    assert.equal(await text(page, "#eg-toast .eg-toast-text"), "All outgoing connections are blocked.");
    await shot(stack, page, "c01-block-all-banner");
    await page.getByRole("button", { name: "Undo" }).click();
    await page.waitForSelector("#eg-lock-banner", { state: "hidden" });
    assert.deepEqual(locksOf(stack, kAlice), []);
    assert.equal(await sw.isChecked(), false);
    // On again; the banner's own button switches it off.
    await sw.click({ force: true });
    await page.click("#eg-confirm-ok");
    await page.waitForSelector("#eg-lock-banner:not([hidden])");
    await page.click("#eg-lock-banner-allow");
    await page.waitForSelector("#eg-lock-banner", { state: "hidden" });
    assert.deepEqual(locksOf(stack, kAlice), []);
  });
});

test("2. Block IP warns before a rule for every address and points to the block-all switch", async () => {
  await clearRules(stack, kAlice);
  await withPanel(stack, "c02-catch-all", kAlice, {}, async (page) => {
    await page.click("#eg-block-ip");
    const dialog = page.locator("#eg-block-dialog");
    assert.equal(await visible(page, "#eg-bi-catch-all"), false);
    await dialog.getByLabel("IP address or network (CIDR)").fill("0.0.0.0/0");
    await page.waitForSelector("#eg-bi-catch-all:not([hidden])");
    assert.equal(await text(page, "#eg-bi-catch-all-text"), "0.0.0.0/0 means every IPv4 address: this rule blocks all outgoing connections of all your sites.");
    assert.equal(await text(page, "#eg-bi-submit"), "Block every address anyway");
    await shot(stack, page, "c02-catch-all-warning");
    // "Use Block all instead" closes this dialog and asks about the switch.
    await page.click("#eg-bi-use-block-all");
    assert.equal(await dialogOpen(page, "eg-block-dialog"), false);
    assert.equal(await dialogOpen(page, "eg-confirm"), true);
    assert.equal(await text(page, "#eg-confirm-title"), "Block all outgoing connections?");
    await page.click("#eg-confirm-cancel");
    assert.deepEqual(rulesOf(stack, kAlice), []);
    assert.deepEqual(locksOf(stack, kAlice), []);
    // ::/0 for one protocol and port: still every address, worded so.
    await page.click("#eg-block-ip");
    await dialog.getByLabel("IP address or network (CIDR)").fill("::/0");
    await dialog.getByLabel("Protocol").selectOption({ label: "TCP" });
    await dialog.getByLabel("Port (empty: every port)").fill("25");
    assert.equal(await text(page, "#eg-bi-catch-all-text"), "::/0 means every IPv6 address: this rule blocks all outgoing TCP connections (25) of all your sites.");
    // A narrower network: no warning, the usual button.
    await dialog.getByLabel("IP address or network (CIDR)").fill("2001:db8::/32");
    assert.equal(await visible(page, "#eg-bi-catch-all"), false);
    assert.equal(await text(page, "#eg-bi-submit"), "Block");
    // Pasted and sent at once: the first Block only brings the warning into focus.
    await dialog.getByLabel("IP address or network (CIDR)").fill("::/0");
    await dialog.getByLabel("IP address or network (CIDR)").press("Enter");
    assert.equal(await page.evaluate(() => document.activeElement.id), "eg-bi-catch-all");
    assert.equal(await dialogOpen(page, "eg-block-dialog"), true);
    assert.deepEqual(rulesOf(stack, kAlice), []);
    // Blocking anyway is possible, having seen the warning.
    await page.click("#eg-bi-submit");
    await page.waitForSelector('#eg-rules-body tr[data-network="::/0"]');
    assert.deepEqual(rulesOf(stack, kAlice), [["::/0", "6", "25", ""]]);
  });
  await clearRules(stack, kAlice);
});

test("3. Block and Unblock look different everywhere, with visible text on a phone and in the column headers", async () => {
  await clearRules(stack, kAlice);
  await stack.api.connections.blockDestination({ accountId: kAlice, destination: "198.51.100.23", protocol: 5, port: 0 }, stack.api.panel(kAlice));
  for (const [width, height] of [[1280, 900], [360, 800]]) {
    await withPanel(stack, `c03-labels-${width}`, kAlice, { width, height }, async (page) => {
      const open = page.locator('#eg-conn-body tr[data-ip="203.0.113.7"] button.eg-lock').first();
      const blocked = page.locator('#eg-conn-body tr[data-ip="198.51.100.23"] button.eg-lock').first();
      const ruleBtn = page.locator('#eg-rules-body tr[data-network="198.51.100.23/32"] button.eg-unlock');
      assert.equal(await open.innerText(), "🔒 Block");
      assert.equal(await blocked.innerText(), "🔓 Unblock");
      assert.equal(await ruleBtn.innerText(), "🔓 Unblock");
      assert.match(await page.locator('#eg-conn-body tr[data-ip="198.51.100.23"] .eg-col-lock').innerText(), /Blocked/);
      // The words are on screen, not only in a tooltip.
      for (const btn of [open, blocked, ruleBtn]) {
        const box = await btn.locator(".eg-label").boundingBox();
        assert.ok(box && box.width > 20 && box.height > 8, `label box ${JSON.stringify(box)}`);
      }
      if (width > 640) {
        assert.equal(await text(page, "#eg-connections thead th.eg-col-lock"), "Block");
        assert.equal(await text(page, "#eg-rules thead th.eg-col-lock"), "Unblock");
      }
    });
  }
  await clearRules(stack, kAlice);
});

test("4. Without a token: one message for the customer, every control disabled, no developer text", async () => {
  const page = await stack.browser.newPage();
  try {
    const logged = [];
    page.on("console", (m) => logged.push(m.text()));
    await page.goto(`${stack.gateway.url}/`);
    await page.waitForSelector("#egress-panel[data-ready]");
    const body = await page.innerText("#egress-panel");
    const notice = "We could not open this page: it did not receive your sign-in. Reload the page; if this message stays, sign in to the control panel again.";
    assert.equal(await text(page, "#eg-page-notice"), notice);
    assert.equal(body.split(notice).length - 1, 1, "the message appears once");
    for (const dev of ["token", "egressPanelConfig", "metadata", "Bearer", "#token", "authorization"]) assert.ok(!body.toLowerCase().includes(dev.toLowerCase()), `"${dev}" shown to the customer`);
    const enabled = await page.$$eval("#egress-panel button, #egress-panel input, #egress-panel select", (els) => els.filter((e) => !e.disabled && e.closest("dialog") === null).map((e) => e.id || e.outerHTML.slice(0, 60)));
    assert.deepEqual(enabled, []);
    // The developer's hint goes to the console instead.
    assert.ok(logged.some((l) => l.includes("egressPanelConfig")), logged.join("\n"));
    await shot(stack, page, "c04-no-token");
  } finally {
    await page.close();
  }
  // An expired token: the same kind of message once the service refuses it.
  const expired = signToken({ secret: stack.secret.secret, subject: kAlice, scopes: ["panel"], ttlSeconds: 60, now: Math.floor(Date.now() / 1000) - 7200 });
  await withPanel(stack, "c04-expired", kAlice, { url: `${stack.gateway.url}/#token=${expired}&account=${kAlice}` }, async (page) => {
    assert.equal(await text(page, "#eg-page-notice"), "Your session has ended. Reload the page to continue; if this message stays, sign in to the control panel again.");
    const body = await page.innerText("#egress-panel");
    assert.ok(!/metadata|Bearer|token/i.test(body), body);
    assert.equal(await page.isDisabled("#eg-block-ip"), true);
    assert.equal(await page.isDisabled("#eg-filter"), true);
  });
});

test("5. A filter that is not an address (or the start of one) says so", async () => {
  await withPanel(stack, "c05-filter-words", kAlice, {}, async (page) => {
    await waitSummary(page, new RegExp(`of ${kTotal}$`));
    const filter = page.getByLabel("Filter by IP");
    await filter.fill("999.1.1.1");
    await page.waitForFunction(() => document.querySelector("#eg-filter-hint").textContent !== "");
    assert.equal(await text(page, "#eg-filter-hint"), "999 is not a number from 0 to 255, so no IPv4 address contains it.");
    assert.equal(await filter.getAttribute("aria-invalid"), "");
    assert.match(await summary(page), new RegExp(`of ${kTotal}$`), "the list is left as it was");
    assert.ok(!(await page.innerText("#eg-conn-body")).includes("No connections"));
    await filter.fill("example.com");
    assert.equal(await text(page, "#eg-filter-hint"), "“example.com” is not an IP address or the start of one. Type e.g. 203.0.113.7, 203.0.113.0/24 or 203.0.");
    // Hex letters alone can start an IPv6 address: sent, and the page says how it was read.
    await filter.fill("abc");
    await page.waitForSelector("#eg-conn-body tr.eg-state-empty");
    assert.equal(await text(page, "#eg-filter-hint"), "“abc” has letters, so only IPv6 addresses starting with it are shown.");
    assert.equal(await filter.getAttribute("aria-invalid"), null);
    assert.equal(await text(page, "#eg-conn-body"), "No connections to addresses starting with “abc” on this date.");
    await filter.fill("192.0.2.99");
    await page.waitForFunction(() => document.querySelector("#eg-conn-body").textContent.includes("192.0.2.99"));
    assert.equal(await text(page, "#eg-conn-body"), "No connections to 192.0.2.99 on this date.");
  });
});

test("6. Clicking a day in the graph brings the list into view", async () => {
  await withPanel(stack, "c06-graph-click", kAlice, { height: 700 }, async (page) => {
    await page.waitForSelector("#eg-chart canvas");
    await page.locator("#eg-chart").scrollIntoViewIfNeeded();
    assert.ok((await page.locator("#eg-connections").boundingBox()).y < 0, "the list starts off-screen");
    const target = dayKey(kAliceDays[2]);
    const pos = await page.evaluate((key) => {
      const u = window.egressPanel.chart();
      const r = u.over.getBoundingClientRect();
      return { x: r.left + u.valToPos(Date.parse(`${key}T00:00:00Z`) / 1000, "x"), y: r.top + r.height - 5 };
    }, target);
    await page.mouse.move(pos.x, pos.y);
    await page.mouse.click(pos.x, pos.y);
    await page.waitForFunction((key) => document.querySelector("#eg-date").value === key, target);
    // Scrolled smoothly: wait until the list has arrived.
    await page.waitForFunction(() => {
      const top = document.querySelector(".eg-list-top").getBoundingClientRect().top;
      return top >= 0 && top < window.innerHeight / 2;
    });
    await waitRows(page, ["203.0.113.7", "192.0.2.44"]);
  });
});

test("7. An address never seen before: a friendly state, looked up again by itself", async () => {
  await clearRules(stack, kAlice);
  await stack.api.connections.blockDestination({ accountId: kAlice, destination: "192.0.2.250", protocol: 5, port: 0, note: "never seen" }, stack.api.panel(kAlice));
  stack.pg.sql("DELETE FROM ip_info WHERE ip = '192.0.2.250'");
  await withPanel(stack, "c07-pending", kAlice, {}, async (page) => {
    const row = page.locator('#eg-rules-body tr[data-network="192.0.2.250/32"]');
    assert.equal(await row.locator(".eg-pending").innerText(), "Looking up name and owner…");
    assert.ok(!(await row.innerText()).includes("looking up…"));
    // The service finishes the lookup; the page shows it without a reload.
    stack.pg.sql(`INSERT INTO ip_info (ip, status, ptr, ptr_confirmed, asn, as_name, country, network, looked_up_at, expires_at)
                  VALUES ('192.0.2.250', 2, 'relay.example.org', true, 64510, 'Example Relay', 'FR', '192.0.2.0/24', now(), now() + interval '1 day')
                  ON CONFLICT (ip) DO UPDATE SET status = 2, ptr = 'relay.example.org', asn = 64510, as_name = 'Example Relay', country = 'FR'`);
    await row.getByText("relay.example.org").waitFor({ timeout: 15000 });
    assert.match(await row.innerText(), /AS64510 · Example Relay · FR/);
  });
  await clearRules(stack, kAlice);
});

test("8. Refusals in the customer's words: a rule removed in another window", async () => {
  await clearRules(stack, kAlice);
  await stack.api.connections.blockDestination({ accountId: kAlice, destination: "192.0.2.60", protocol: 1, port: 25, note: "old relay" }, stack.api.panel(kAlice));
  await withPanel(stack, "c08-rule-gone", kAlice, {}, async (page) => {
    await clearRules(stack, kAlice); // another window (or support) removed it
    await page.getByRole("button", { name: "Unblock 192.0.2.60/32" }).click();
    await page.click("#eg-confirm-ok");
    await page.waitForFunction(() => document.querySelector("#eg-confirm-error").textContent !== "");
    assert.equal(await text(page, "#eg-confirm-error"), "This rule no longer exists: it was probably removed in another window. The list is up to date now.");
    await page.click("#eg-confirm-cancel");
  });
});

test("9. Unblock asks first and shows the note that goes with the rule", async () => {
  await clearRules(stack, kAlice);
  await stack.api.connections.blockDestination({ accountId: kAlice, destination: "203.0.113.7", protocol: 5, port: 0, note: "spam relay, ticket 4411" }, stack.api.panel(kAlice));
  await withPanel(stack, "c09-unblock-note", kAlice, {}, async (page) => {
    // From the list of connections.
    await page.locator('#eg-conn-body tr[data-ip="203.0.113.7"] button.eg-lock').first().click();
    assert.equal(await text(page, "#eg-confirm-title"), "Unblock this destination?");
    const body = await text(page, "#eg-confirm-text");
    assert.match(body, /Connections to 203\.0\.113\.7 will be allowed again\./);
    assert.match(body, /spam relay, ticket 4411/);
    assert.match(body, /Its note is deleted with the rule\./);
    await shot(stack, page, "c09-unblock-confirm");
    await page.click("#eg-confirm-cancel");
    assert.equal(rulesOf(stack, kAlice).length, 1);
    // From the blocked list: the same question; confirmed, the rule goes.
    await page.getByRole("button", { name: "Unblock 203.0.113.7/32" }).click();
    assert.match(await text(page, "#eg-confirm-text"), /spam relay, ticket 4411/);
    await page.click("#eg-confirm-ok");
    await page.waitForSelector("#eg-rules-body tr.eg-state-empty");
    assert.deepEqual(rulesOf(stack, kAlice), []);
    await page.waitForFunction(() => document.querySelector('#eg-conn-body tr[data-ip="203.0.113.7"] button.eg-lock')?.dataset.blocked === "false");
  });
});

test("10. Graph legend with real values, steady column widths, a labelled select-all, a compact phone page, a favicon", async () => {
  await clearRules(stack, kAlice);
  await stack.api.connections.blockDestination({ accountId: kAlice, destination: "192.0.2.70", protocol: 1, port: 443 }, stack.api.panel(kAlice));
  const notFound = [];
  await withPanel(stack, "c10-details", kAlice, {}, async (page) => {
    // Legend: the selected day's numbers, then the day under the pointer.
    await page.waitForSelector("#eg-chart canvas");
    const newest = stack.pg.sql(`SELECT accepted, rejected FROM account_day_totals WHERE account_id = '${kAlice}' AND day = '${dayKey(kAliceDays[0])}'`)[0];
    const legend = await text(page, "#eg-chart-legend");
    assert.match(legend, new RegExp(`ACCEPT ${Number(newest[0]).toLocaleString("en-US")}\\s+.*REJECT ${Number(newest[1]).toLocaleString("en-US")}`), legend);
    assert.ok(!/ACCEPT\s*$|REJECT\s*$|Time:/.test(legend), legend);
    const other = dayKey(kAliceDays[1]);
    await page.locator("#eg-chart").scrollIntoViewIfNeeded();
    const pos = await page.evaluate((key) => {
      const u = window.egressPanel.chart();
      const r = u.over.getBoundingClientRect();
      return { x: r.left + u.valToPos(Date.parse(`${key}T00:00:00Z`) / 1000, "x"), y: r.top + 20 };
    }, other);
    await page.mouse.move(pos.x, pos.y);
    const [otherAcc, otherRej] = stack.pg.sql(`SELECT accepted, rejected FROM account_day_totals WHERE account_id = '${kAlice}' AND day = '${other}'`)[0];
    await page.waitForFunction(([a, r]) => document.querySelector("#eg-legend-accept").textContent === a && document.querySelector("#eg-legend-reject").textContent === r, [otherAcc, otherRej], { timeout: 5000 });
    // Column widths do not move whatever the filter shows.
    const widths = () => page.$$eval("#eg-connections thead th", (ths) => ths.map((th) => Math.round(th.getBoundingClientRect().width)));
    const before = await widths();
    for (const f of ["2001:db8::5", "198.51.100.200", "192.0.2.99", ""]) {
      await page.getByLabel("Filter by IP").fill(f);
      await page.waitForTimeout(400);
      await page.waitForFunction(() => !document.querySelector("#eg-connections").hasAttribute("aria-busy"));
      assert.deepEqual(await widths(), before, `widths with filter "${f}"`);
    }
  });
  // A phone: the select-all box has a visible label; the page is compact.
  await withPanel(stack, "c10-phone", kAlice, { width: 360, height: 800 }, async (page) => {
    const label = page.locator(".eg-select-all-text");
    assert.equal(await label.innerText(), "Select all");
    const box = await label.boundingBox();
    assert.ok(box && box.width > 30, `select-all label ${JSON.stringify(box)}`);
    assert.equal(await page.getByLabel("Select all").getAttribute("id"), "eg-rules-all");
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    // 16,700 px before (100 cards of ~160 px); 25 compact rows now.
    assert.ok(height < 4000, `the page is ${height}px tall at 360x800`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `page scrolls sideways by ${overflow}px`);
    process.stdout.write(`# page height at 360x800: ${height}px\n`);
  });
  // The favicon: declared, served, and no request of the page is a 404.
  const page = await stack.browser.newPage();
  try {
    page.on("response", (r) => r.status() === 404 && notFound.push(r.url()));
    await page.goto(`${stack.gateway.url}/#token=${signToken({ secret: stack.secret.secret, subject: kAlice, scopes: ["panel"] })}&account=${kAlice}`);
    await page.waitForSelector("#egress-panel[data-ready]");
    const href = await page.getAttribute('link[rel="icon"]', "href");
    const icon = await page.request.get(new URL(href, stack.gateway.url).href);
    assert.equal(icon.status(), 200);
    assert.match(icon.headers()["content-type"], /^image\/svg\+xml/);
    assert.deepEqual(notFound, []);
  } finally {
    await page.close();
  }
  await clearRules(stack, kAlice);
});

test("live: today's counts and new rows appear without a reload, 'Updated N seconds ago', nothing jumps", async () => {
  await withPanel(stack, "c11-live", kAlice, { config: { refreshMs: 700 } }, async (page) => {
    await waitSummary(page, new RegExp(`of ${kTotal}$`));
    await page.waitForFunction(() => /^Updated (now|\d+ seconds? ago)$/.test(document.querySelector("#eg-updated").textContent));
    const layout = () => page.evaluate(() => ({ list: Math.round(document.querySelector("#eg-connections").getBoundingClientRect().top), chart: Math.round(document.querySelector("#eg-chart").getBoundingClientRect().height), widths: [...document.querySelectorAll("#eg-connections thead th")].map((th) => Math.round(th.getBoundingClientRect().width)) }));
    const before = await layout();
    const optionBefore = await page.locator("#eg-date option").first().innerText();
    const [y, m, d] = dayKey(kAliceDays[0]).split("-").map(Number);
    const t = { seconds: BigInt(Math.floor(Date.now() / 1000) - 60), nanos: 0 };
    const ack = await sendBatch(stack.api, "node-a", [
      { uid: 2001, day: { year: y, month: m, day: d }, dstIp: ipBytes("198.51.100.77"), protocol: 1, dstPort: 9443, action: 1, count: 5000n, firstSeen: t, lastSeen: t },
    ]);
    assert.equal(ack.acceptedRecords, 1);
    await waitSummary(page, new RegExp(`of ${kTotal + 1}$`));
    // The new row is marked for a moment; the date's count and the graph follow.
    await page.waitForSelector('#eg-conn-body tr.eg-new[data-ip="198.51.100.77"]');
    await page.waitForFunction((old) => document.querySelector("#eg-date option").textContent !== old, optionBefore);
    assert.match(await page.locator("#eg-date option").first().innerText(), /\d/);
    await page.waitForFunction(() => document.querySelector("#eg-legend-accept").textContent.replace(/\D/g, "") > 5000);
    assert.deepEqual(await layout(), before, "nothing moved");
    await page.waitForFunction(() => /^Updated (now|\d+ seconds? ago)$/.test(document.querySelector("#eg-updated").textContent));
  });
});

test("live: nothing is fetched while the tab is hidden; failures back off and say so", async () => {
  await withPanel(stack, "c12-live-hidden", kAlice, { config: { refreshMs: 400 } }, async (page) => {
    const calls = [];
    page.on("request", (r) => r.url().endsWith("/ListDates") && calls.push(Date.now()));
    const setHidden = (hidden) =>
      page.evaluate((h) => {
        Object.defineProperty(document, "hidden", { configurable: true, get: () => h });
        Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (h ? "hidden" : "visible") });
        document.dispatchEvent(new Event("visibilitychange"));
      }, hidden);
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(calls.length >= 1, "polling while visible");
    await setHidden(true);
    await new Promise((r) => setTimeout(r, 300)); // a call in flight may finish
    const hiddenAt = calls.length;
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(calls.length, hiddenAt, "no call while hidden");
    await setHidden(false);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(calls.length > hiddenAt, "a call as soon as the tab is back");
    // The network fails: the label says so, and the pauses grow.
    await page.route("**/egress.v1.ConnectionsService/ListDates", (route) => route.abort());
    const failedFrom = calls.length;
    await page.waitForFunction(() => /no connection to the server/.test(document.querySelector("#eg-updated").textContent), null, { timeout: 10000 });
    await new Promise((r) => setTimeout(r, 4000));
    const gaps = calls.slice(failedFrom).map((t, i, a) => (i ? t - a[i - 1] : 0)).slice(1);
    assert.ok(gaps.length >= 2 && gaps.at(-1) >= 1.5 * gaps[0], `pauses between failing polls: ${gaps.join(", ")} ms`);
    await page.unroute("**/egress.v1.ConnectionsService/ListDates");
    await page.waitForFunction(() => /^Updated/.test(document.querySelector("#eg-updated").textContent) && !/no connection/.test(document.querySelector("#eg-updated").textContent), null, { timeout: 15000 });
  });
});

test("the view (date, filter, action, sort, page) survives a reload and can be shared; the token stays in the #fragment", async () => {
  const page = await openPanel(stack, kAlice);
  try {
    await page.getByLabel("Filter by IP").fill("100.64.");
    await waitSummary(page, new RegExp(`^Rows 1–100 of ${kFillerRows}$`));
    await page.getByLabel("Action", { exact: true }).selectOption({ label: "ACCEPT only" });
    await page.waitForFunction(() => /^Rows 1–100 of \d+$/.test(document.querySelector("#eg-conn-summary").textContent) && new URLSearchParams(location.search).get("eg_action") === "accept");
    await page.click("button[data-order='3']"); // sort by port
    await page.waitForFunction(() => document.querySelector("th:has(button[data-order='3'])").getAttribute("aria-sort") === "ascending");
    await page.click("#eg-next");
    await waitSummary(page, /^Rows 101–200 of \d+$/);
    // The address is written just after the rows show.
    await page.waitForFunction(() => new URLSearchParams(location.search).get("eg_page") === "2");
    const expected = { summary: await summary(page), rows: await rowIps(page) };
    const url = new URL(page.url());
    const q = Object.fromEntries(url.searchParams);
    assert.equal(q.eg_date, dayKey(kAliceDays[0]));
    assert.equal(q.eg_ip, "100.64.");
    assert.equal(q.eg_action, "accept");
    assert.equal(q.eg_sort, "port");
    assert.equal(q.eg_page, "2");
    assert.ok(q.eg_at);
    assert.ok(!url.search.includes("token") && !url.search.includes(stack.secret.secret.slice(0, 10)), url.search);
    assert.match(url.hash, /token=/);
    // Reload: the same view.
    await page.reload();
    await page.waitForSelector("#egress-panel[data-ready]");
    await waitSummary(page, /^Rows 101–200/);
    assert.equal(await summary(page), expected.summary);
    assert.deepEqual(await rowIps(page), expected.rows);
    assert.equal(await page.inputValue("#eg-filter"), "100.64.");
    assert.equal(await page.inputValue("#eg-action"), "1");
    assert.equal(await page.getAttribute("th:has(button[data-order='3'])", "aria-sort"), "ascending");
    // Previous works from a page restored from the address bar.
    await page.click("#eg-prev");
    await waitSummary(page, /^Rows 1–100/);
    // Shared: someone else opens the address with their own sign-in (no
    // fragment, the provider's hook) and sees the same view.
    const shared = await stack.browser.newPage();
    try {
      await shared.addInitScript((tok) => (window.egressPanelConfig = { token: tok, accountId: "alice", refreshMs: 0 }), signToken({ secret: stack.secret.secret, subject: kAlice, scopes: ["panel"] }));
      await shared.goto(`${stack.gateway.url}/${url.search}`);
      await shared.waitForSelector("#egress-panel[data-ready]");
      await waitSummary(shared, /^Rows 101–200/);
      assert.deepEqual(await rowIps(shared), expected.rows);
      // A date without data in a link: the newest date instead.
      await shared.goto(`${stack.gateway.url}/?eg_date=${dayKey(4)}&eg_ip=203.0.113.7`);
      await shared.waitForSelector("#egress-panel[data-ready]");
      await waitSummary(shared, /of 2$/);
      assert.equal(await shared.inputValue("#eg-date"), dayKey(kAliceDays[0]));
    } finally {
      await shared.close();
    }
    await shot(stack, page, "c13-url-state");
  } finally {
    await page.close();
  }
});

test("carol, who has no connections, sees empty states, not errors", async () => {
  await withPanel(stack, "c14-empty", kCarol, {}, async (page) => {
    assert.match(await page.textContent("#eg-conn-body"), /No outgoing connections have been recorded yet/);
    assert.equal(await page.isVisible("#eg-page-notice"), false);
  });
});
