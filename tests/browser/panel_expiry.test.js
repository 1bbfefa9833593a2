// Temporary blocks in the panel: the Block IP dialog's "Block for" choice
// (until unblocked, 1 hour, 1 day, 7 days, until a date), the time left in
// the blocked list, and a rule that runs out leaving the list by itself
// (the service deletes it and audits "block_rule.expire"). In Debian's
// chromium against the real gateway, egress-service and PostgreSQL.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { kAlice } from "./lib/seed.js";
import { axeViolations, clearRules, startPanelStack, withPanel } from "./lib/panel_page.js";

let stack;
before(async () => {
  stack = await startPanelStack("expiry");
});
after(async () => {
  await stack?.stop();
});

// [[network, seconds left]] of the account's rules.
const expiriesOf = (account) => stack.pg.sql(`SELECT network, extract(epoch FROM expires_at - now())::int FROM block_rules WHERE account_id = '${account}' ORDER BY rule_id`);
const ruleRow = (page, network) => page.locator(`#eg-rules-body tr[data-network="${network}"]`);

test("Block IP for 1 hour: stored with its expiry and shown with the time left; a past date is refused before sending", async () => {
  await clearRules(stack, kAlice);
  await withPanel(stack, "x01-block-1h", kAlice, {}, async (page) => {
    await page.click("#eg-block-ip");
    await page.fill("#eg-bi-dest", "198.51.100.77");
    assert.equal(await page.locator("#eg-bi-expiry").inputValue(), "never");
    await page.getByLabel("Block for").selectOption("1h");
    await page.click("#eg-bi-submit");
    await ruleRow(page, "198.51.100.77/32").waitFor();
    const cell = ruleRow(page, "198.51.100.77/32").locator("td.eg-expiry-cell");
    assert.match(await cell.innerText(), /^in (1 hour|60 minutes|59 minutes)$/);
    assert.match(await cell.locator("time").getAttribute("title"), /^Unblocked automatically at /);
    const [[network, left]] = expiriesOf(kAlice);
    assert.equal(network, "198.51.100.77/32");
    assert.ok(Math.abs(Number(left) - 3600) < 60, `left ${left} s`);

    // Until a date: the field appears, labelled; a time that has passed is
    // refused in the dialog and nothing is sent.
    await page.click("#eg-block-ip");
    await page.fill("#eg-bi-dest", "198.51.100.78");
    await page.selectOption("#eg-bi-expiry", "date");
    await page.getByLabel("Unblock automatically at").fill("2020-01-01T10:00");
    // One audit covers the dialog with its date field and the list behind it
    // (a temporary rule's "Ends" cell).
    const t0 = Date.now();
    assert.deepEqual(await axeViolations(page), [], "axe, the dialog with a date and the list");
    console.log(`axe-core audit: ${Date.now() - t0} ms`);
    await page.click("#eg-bi-submit");
    assert.equal(await page.innerText("#eg-bi-expiry-err"), "This time has already passed: pick one in the future.");
    assert.equal(await page.evaluate(() => document.activeElement.id), "eg-bi-expiry-date");
    assert.equal(expiriesOf(kAlice).length, 1);
    await page.keyboard.press("Escape");
  });
});

test("A rule that runs out leaves the list by itself, and the service deletes and audits it", async () => {
  await clearRules(stack, kAlice);
  const expireAt = Date.now() + 4000;
  await stack.api.connections.blockDestination(
    { accountId: kAlice, destination: "198.51.100.88", protocol: 1, port: 443, note: "for a few seconds", expireTime: { seconds: BigInt(Math.floor(expireAt / 1000)), nanos: (expireAt % 1000) * 1e6 } },
    stack.api.panel(kAlice),
  );
  await stack.api.connections.blockDestination({ accountId: kAlice, destination: "198.51.100.89", protocol: 5, port: 0 }, stack.api.panel(kAlice));
  await withPanel(stack, "x02-rule-expires", kAlice, {}, async (page) => {
    const row = ruleRow(page, "198.51.100.88/32");
    await row.waitFor();
    assert.match(await row.locator("td.eg-expiry-cell").innerText(), /^in \d seconds?$/);
    assert.equal(await ruleRow(page, "198.51.100.89/32").locator("td.eg-expiry-cell").innerText(), "Until unblocked");
    await row.waitFor({ state: "detached", timeout: 10000 });
    const gone = Date.now() - expireAt;
    assert.ok(gone > -100 && gone < 1000, `left the list ${gone} ms after its expiry`);
    console.log(`the expired rule left the list ${gone} ms after its expiry`);
    assert.equal(await ruleRow(page, "198.51.100.89/32").count(), 1);
    // The service's sweep (every second) deleted it and audited it.
    for (let i = 0; i < 50 && expiriesOf(kAlice).length !== 1; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(expiriesOf(kAlice).map((r) => r[0]), ["198.51.100.89/32"]);
    const audit = stack.pg.sql(`SELECT actor, before::text FROM audit_log WHERE account_id = '${kAlice}' AND action = 'block_rule.expire'`);
    assert.equal(audit.length, 1);
    assert.equal(audit[0][0], "expiry");
    assert.match(audit[0][1], /198\.51\.100\.88\/32/);
    assert.match(audit[0][1], /for a few seconds/);
  });
});
