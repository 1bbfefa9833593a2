// The panel in Ukrainian and Russian (no English left on screen in any
// state), an axe-core audit of every state of the page (no serious or
// critical violation), and the whole flow done with the keyboard alone: in
// Debian's chromium against the real gateway, egress-service and PostgreSQL.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { dayKey, kAlice, kAliceDays, kBob } from "./lib/seed.js";
import { axeViolations, clearRules, kCarol, locksOf, openPanel, panelUrl, rulesOf, shot, startPanelStack, tabTo, waitRows, waitSummary } from "./lib/panel_page.js";

let stack;
// Scans are reported with ever later finish times: only the newest scan
// decides the antivirus lock, and the tests of this file report several.
let scanClock = Math.floor(Date.now() / 1000) - 3600;
const reportScan = (account, scanId, threats) => stack.api.antivirus.reportScan({ accountId: account, scanId, finishTime: { seconds: BigInt(++scanClock), nanos: 0 }, threats }, stack.api.av);
before(async () => {
  stack = await startPanelStack("i18n-a11y");
});
after(async () => {
  await stack?.stop();
});

// Latin words left on screen (text, and the labels a screen reader reads),
// leaving out the data (addresses, PTR names, owners, notes) and the
// technical names every language keeps (i18n.js).
async function englishOnScreen(page) {
  return page.evaluate(() => {
    const allowed = new Set(["IP", "IPv4", "IPv6", "PTR", "CIDR", "TCP", "UDP", "ICMP", "ICMPv6", "ACCEPT", "REJECT", "API", "AS", "CSV"]);
    const data = ".eg-ip, .eg-ptr, .eg-owner, .eg-note-text, .eg-confirm-rule, .eg-confirm-note q, .eg-scan-id";
    const found = new Set();
    const scan = (text, where) => {
      const cleaned = text
        .replace(/\S*:\S*:\S*/g, " ") // IPv6 addresses
        .replace(/\bAS\d+\b/g, " ")
        .replace(/\d+(\.\d+){1,3}(\/\d+)?/g, " "); // IPv4 addresses and networks
      for (const w of cleaned.match(/[A-Za-z][A-Za-z0-9]+/g) || []) if (!allowed.has(w)) found.add(`${w} (${where})`);
    };
    const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) && !el.closest("[hidden], dialog:not([open])");
    const root = document.querySelector("#egress-panel");
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!n.textContent.trim() || !visible(el) || el.closest(data) || el.closest("script, style")) continue;
      scan(n.textContent, el.id || el.className || el.tagName);
    }
    for (const el of root.querySelectorAll("[aria-label], [title], [placeholder]")) {
      if (!visible(el) || el.closest(data)) continue;
      for (const a of ["aria-label", "title", "placeholder"]) if (el.hasAttribute(a)) scan(el.getAttribute(a), `${el.id || el.className || el.tagName}@${a}`);
    }
    // The toast (outside the table but inside the section).
    return [...found];
  });
}

// `typed`: what the user typed, which the page may quote back.
async function assertTranslated(page, lang, state, typed = []) {
  const english = (await englishOnScreen(page)).filter((w) => !typed.includes(w.split(" ")[0]));
  assert.deepEqual(english, [], `${lang}, ${state}: English on screen`);
  assert.equal(await page.getAttribute("#egress-panel section.eg", "lang"), lang);
}

for (const [lang, how] of [["uk", "config"], ["ru", "fragment"]]) {
  test(`${lang}: no English left on screen in any state; dates and numbers for the language (${how})`, async () => {
    await clearRules(stack, kAlice);
    await stack.api.connections.blockDestination({ accountId: kAlice, destination: "198.51.100.23", protocol: 5, port: 0, note: "note" }, stack.api.panel(kAlice));
    const opts = how === "config" ? { config: { lang, refreshMs: 0 } } : { fragment: { lang } };
    const page = await openPanel(stack, kAlice, opts);
    try {
      await waitSummary(page, /265/);
      await assertTranslated(page, lang, "list");
      // Dates and numbers as the language writes them.
      const option = await page.locator("#eg-date option").first().innerText();
      assert.match(option, lang === "uk" ? /груд|лист|січ|лют|бер|квіт|трав|черв|лип|серп|вер|жовт/ : /дек|нояб|янв|февр|мар|апр|мая|июн|июл|авг|сент|окт/, option);
      assert.match(option, /\d\s\d{3}/, `thousands grouped with a space: ${option}`);
      assert.match(await page.innerText("#eg-conn-summary"), lang === "uk" ? /^Рядки 1–100 з 265$/ : /^Строки 1–100 из 265$/);
      await page.waitForFunction(() => document.querySelector("#eg-updated").textContent !== "");
      // Filter hints, the empty list.
      await page.fill("#eg-filter", "999.1");
      await page.waitForFunction(() => document.querySelector("#eg-filter-hint").textContent !== "");
      await assertTranslated(page, lang, "filter error");
      await page.fill("#eg-filter", "abc");
      await page.waitForSelector("#eg-conn-body tr.eg-state-empty");
      await assertTranslated(page, lang, "empty list, IPv6 notice", ["abc"]);
      await page.fill("#eg-filter", "");
      await waitSummary(page, /265/);
      // Block IP with errors and the catch-all warning.
      await page.click("#eg-block-ip");
      await page.click("#eg-bi-submit");
      await page.fill("#eg-bi-port", "0");
      await page.fill("#eg-bi-dest", "0.0.0.0/0");
      await page.click("#eg-bi-submit");
      await page.waitForFunction(() => document.querySelector("#eg-bi-port-err").textContent !== "");
      await assertTranslated(page, lang, "Block IP dialog");
      await shot(stack, page, `i18n-${lang}-block-ip`);
      await page.keyboard.press("Escape");
      // Unblock with its note; the toast after blocking a row.
      await page.locator('#eg-conn-body tr[data-ip="198.51.100.23"] button.eg-lock').first().click();
      await assertTranslated(page, lang, "unblock confirmation");
      await page.click("#eg-confirm-ok");
      await page.waitForSelector("#eg-rules-body tr.eg-state-empty");
      await page.locator('#eg-conn-body tr[data-ip="203.0.113.7"] button.eg-lock').first().click();
      await page.waitForSelector("#eg-toast.eg-show");
      await assertTranslated(page, lang, "toast and the new rule");
      // Block all: the question, then the banner.
      await page.getByRole("switch").click({ force: true });
      await assertTranslated(page, lang, "block-all confirmation");
      await page.click("#eg-confirm-ok");
      await page.waitForSelector("#eg-lock-banner:not([hidden])");
      await assertTranslated(page, lang, "block-all banner");
      await shot(stack, page, `i18n-${lang}-banner`);
      await page.click("#eg-lock-banner-allow");
      await page.waitForSelector("#eg-lock-banner", { state: "hidden" });
      // Notes and the column legend opened.
      for (const d of await page.$$("details")) await d.evaluate((el) => (el.open = true));
      await assertTranslated(page, lang, "notes opened");
      await shot(stack, page, `i18n-${lang}-list`);
    } finally {
      await page.close();
    }
    await clearRules(stack, kAlice);
    // The antivirus lock, the empty account, no token.
    await reportScan(kCarol, `i18n-${lang}`, [{ path: "x.php", signature: "PHP.Webshell.A" }]);
    const carol = await openPanel(stack, kCarol, opts);
    try {
      await assertTranslated(carol, lang, "antivirus lock, no data");
      await carol.getByRole("switch").click({ force: true });
      await carol.waitForSelector("#eg-block-all-error:not([hidden])");
      await assertTranslated(carol, lang, "antivirus refusal");
    } finally {
      await carol.close();
    }
    await reportScan(kCarol, `i18n-${lang}-clean`, []);
    const none = await stack.browser.newPage();
    try {
      await none.addInitScript((l) => (window.egressPanelConfig = { lang: l }), lang);
      await none.goto(`${stack.gateway.url}/`);
      await none.waitForSelector("#egress-panel[data-ready]");
      await assertTranslated(none, lang, "no token");
    } finally {
      await none.close();
    }
  });
}

test("the browser's language when the embedding page names none; the page's setting wins over it", async () => {
  const page = await stack.browser.newPage();
  try {
    await page.addInitScript(() => Object.defineProperty(navigator, "languages", { get: () => ["ru-RU", "ru", "en"] }));
    await page.goto(panelUrl(stack, kAlice));
    await page.waitForSelector("#egress-panel[data-ready]");
    assert.equal(await page.innerText("#eg-title"), "Исходящие соединения");
    await page.goto(panelUrl(stack, kAlice, { fragment: { lang: "uk" } }));
    await page.reload();
    await page.waitForSelector("#egress-panel[data-ready]");
    assert.equal(await page.innerText("#eg-title"), "Вихідні з'єднання");
  } finally {
    await page.close();
  }
});

// --- axe-core -------------------------------------------------------------------

async function audit(page, state) {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `axe, ${state}`);
}

test("axe-core: no serious or critical violations in any state of the page", async () => {
  await clearRules(stack, kAlice);
  await stack.api.connections.blockDestination({ accountId: kAlice, destination: "198.51.100.23", protocol: 5, port: 0, note: "old resolver" }, stack.api.panel(kAlice));
  await stack.api.connections.blockDestination({ accountId: kAlice, destination: "192.0.2.0/24", protocol: 1, port: 25 }, stack.api.panel(kAlice));
  for (const [width, height] of [[1280, 900], [360, 800]]) {
    const page = await openPanel(stack, kAlice, { width, height, config: { refreshMs: 0 } });
    try {
      await waitSummary(page, /265/);
      await page.waitForSelector("#eg-chart canvas");
      await audit(page, `with data, ${width}px`);
      for (const d of await page.$$("details")) await d.evaluate((el) => (el.open = true));
      await audit(page, `notes and legend open, ${width}px`);
      // Dialogs.
      await page.click("#eg-block-ip");
      await page.fill("#eg-bi-dest", "::/0");
      await page.fill("#eg-bi-port", "x");
      await page.click("#eg-bi-submit");
      await audit(page, `Block IP dialog with errors and the warning, ${width}px`);
      await page.keyboard.press("Escape");
      await page.getByLabel("Select the rule for 192.0.2.0/24").check();
      await page.click("#eg-delete-rules");
      await audit(page, `Delete rules confirmation, ${width}px`);
      await page.click("#eg-confirm-cancel");
      await page.getByRole("switch").click({ force: true });
      await audit(page, `block-all confirmation, ${width}px`);
      await page.click("#eg-confirm-ok");
      await page.waitForSelector("#eg-lock-banner:not([hidden])");
      await audit(page, `block-all banner and the toast, ${width}px`);
      await page.click("#eg-lock-banner-allow");
      await page.waitForSelector("#eg-lock-banner", { state: "hidden" });
      await page.locator('#eg-rules-body tr[data-network="192.0.2.0/24"] .eg-note-edit').click();
      await audit(page, `note editor, ${width}px`);
      await page.keyboard.press("Escape");
      await page.fill("#eg-filter", "999");
      await page.waitForFunction(() => document.querySelector("#eg-filter-hint").textContent !== "");
      await audit(page, `filter error, ${width}px`);
      await page.fill("#eg-filter", "192.0.2.99");
      await page.waitForSelector("#eg-conn-body tr.eg-state-empty");
      await audit(page, `empty filtered list, ${width}px`);
    } finally {
      await page.close();
    }
  }
  await clearRules(stack, kAlice);
  // Locked by the antivirus, and an account with nothing recorded.
  await reportScan(kCarol, "axe-1", [{ path: "x.php", signature: "PHP.Webshell.A" }]);
  const carol = await openPanel(stack, kCarol);
  try {
    await audit(carol, "antivirus lock, empty account");
    await carol.getByRole("switch").click({ force: true });
    await carol.waitForSelector("#eg-block-all-error:not([hidden])");
    await audit(carol, "antivirus refusal");
  } finally {
    await carol.close();
  }
  await reportScan(kCarol, "axe-2", []);
  // Errors: another account's token; no token.
  const denied = await openPanel(stack, kAlice, { tokenAccount: kBob });
  try {
    await denied.waitForSelector("#eg-conn-body .eg-state-error");
    await audit(denied, "access denied");
  } finally {
    await denied.close();
  }
  const none = await stack.browser.newPage();
  try {
    await none.goto(`${stack.gateway.url}/`);
    await none.waitForSelector("#egress-panel[data-ready]");
    await audit(none, "no token");
  } finally {
    await none.close();
  }
});

// --- the keyboard alone ---------------------------------------------------------

test("keyboard only: pick a date, filter, block, add a note, unblock, delete rules, block all", async () => {
  await clearRules(stack, kAlice);
  await stack.api.connections.setBlockAll({ accountId: kAlice, enabled: false }, stack.api.panel(kAlice));
  for (const destination of ["192.0.2.81", "192.0.2.82"]) await stack.api.connections.blockDestination({ accountId: kAlice, destination, protocol: 1, port: 25 }, stack.api.panel(kAlice));
  const page = await openPanel(stack, kAlice, { config: { refreshMs: 0 } });
  const kb = page.keyboard;
  try {
    // Pick a date: the second newest.
    await tabTo(page, "#eg-date");
    await kb.press("ArrowDown");
    await page.waitForFunction((k) => document.querySelector("#eg-date").value === k, dayKey(kAliceDays[1]));
    await waitRows(page, ["203.0.113.7", "192.0.2.44"]);
    // Filter.
    await tabTo(page, "#eg-filter");
    await kb.type("203.0.113.7");
    await waitRows(page, ["203.0.113.7"]);
    // Block the row's address.
    await tabTo(page, '#eg-conn-body button.eg-lock[data-ip="203.0.113.7"]');
    await kb.press("Enter");
    await page.waitForSelector('#eg-rules-body tr[data-network="203.0.113.7/32"]');
    assert.deepEqual(rulesOf(stack, kAlice).map((r) => r[0]), ["192.0.2.81/32", "192.0.2.82/32", "203.0.113.7/32"]);
    // Add a note to the new rule.
    await tabTo(page, '#eg-rules-body tr[data-network="203.0.113.7/32"] .eg-note-edit');
    await kb.press("Enter");
    await kb.type("blocked from the keyboard");
    await kb.press("Enter");
    await page.waitForSelector('#eg-rules-body tr[data-network="203.0.113.7/32"] .eg-note-text');
    assert.equal(rulesOf(stack, kAlice)[2][3], "blocked from the keyboard");
    // Unblock it: the question opens on Cancel; Tab to the button, Enter.
    await tabTo(page, '#eg-rules-body tr[data-network="203.0.113.7/32"] button.eg-unlock');
    await kb.press("Enter");
    assert.equal(await page.evaluate(() => document.activeElement.id), "eg-confirm-cancel");
    assert.match(await page.innerText("#eg-confirm-text"), /blocked from the keyboard/);
    await kb.press("Tab");
    await kb.press("Enter");
    await page.waitForSelector('#eg-rules-body tr[data-network="203.0.113.7/32"]', { state: "detached" });
    assert.equal(rulesOf(stack, kAlice).length, 2);
    // Delete rules: tick both with Space, then "Delete rules" (before the table).
    await tabTo(page, "#eg-rules-body .eg-rule-check", { back: true });
    for (const network of ["192.0.2.81/32", "192.0.2.82/32"]) {
      await tabTo(page, `#eg-rules-body tr[data-network="${network}"] .eg-rule-check`);
      await kb.press("Space");
    }
    await tabTo(page, "#eg-delete-rules", { back: true });
    assert.equal(await page.innerText("#eg-delete-rules"), "Delete rules (2)");
    await kb.press("Enter");
    await kb.press("Tab");
    await kb.press("Enter");
    await page.waitForSelector("#eg-rules-body tr.eg-state-empty");
    assert.deepEqual(rulesOf(stack, kAlice), []);
    // Block all: the switch with Space, confirmed with the keyboard; Space again lifts it.
    await tabTo(page, "#eg-block-all", { back: true });
    await kb.press("Space");
    await page.waitForFunction(() => document.getElementById("eg-confirm").open);
    await kb.press("Tab");
    await kb.press("Enter");
    await page.waitForSelector("#eg-lock-banner:not([hidden])");
    assert.deepEqual(locksOf(stack, kAlice), [["1"]]);
    await tabTo(page, "#eg-block-all", { back: true });
    await kb.press("Space");
    await page.waitForSelector("#eg-lock-banner", { state: "hidden" });
    assert.deepEqual(locksOf(stack, kAlice), []);
    await shot(stack, page, "a11y-keyboard-flow");
  } catch (err) {
    await shot(stack, page, "a11y-keyboard-flow-FAILED");
    throw err;
  } finally {
    await page.close();
  }
});
