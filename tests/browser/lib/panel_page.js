// What the panel's browser tests share: one stack per test file (PostgreSQL,
// egress-service, gateway, chromium, the seeded accounts), opening the page,
// screenshots, waiting for the list, the keyboard, and the axe-core audit.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { artifactsDir, gatewayDir, launchChromium, makeTempDir, startGateway, startPostgres, startService, stopProcess, writeSecret } from "./stack.js";
import { clients, seed, signToken } from "./seed.js";

export const kCarol = "carol"; // no connections at all

// Starts everything for one test file; call stop() in after().
export async function startPanelStack(label) {
  const shots = artifactsDir();
  const root = makeTempDir(label);
  const pg = await startPostgres(root);
  const secret = writeSecret(root);
  const service = await startService({ conninfo: pg.conninfo, secretFile: secret.file, logFile: join(shots, `${label}-service.log`) });
  const gateway = await startGateway({ upstreams: [service.address], logFile: join(shots, `${label}-gateway.log`) });
  const api = clients(service.address, secret.secret);
  await seed({ pg, api });
  await api.accounts.upsertAccount({ account: { accountId: kCarol, nodeId: "node-a", uid: 2003 } }, api.admin);
  const browser = await launchChromium(root);
  const stack = { root, pg, secret, service, gateway, api, browser, shots, label };
  stack.stop = async () => {
    await browser?.close();
    await stopProcess(gateway?.child);
    await stopProcess(service?.child);
    await stopProcess(pg?.child);
  };
  return stack;
}

export function panelToken(stack, account) {
  return signToken({ secret: stack.secret.secret, subject: account, scopes: ["panel"] });
}

// The demo page's address: the token in the #fragment, the view (if any) in
// the query string.
export function panelUrl(stack, account, { tokenAccount = account, search = "", fragment = {} } = {}) {
  return `${stack.gateway.url}/${search}#${new URLSearchParams({ token: panelToken(stack, tokenAccount), account, ...fragment })}`;
}

// Opens the panel and waits until every part has loaded (or shown its error).
export async function openPanel(stack, account, { width = 1280, height = 900, tokenAccount, config, search, fragment, url } = {}) {
  const page = await stack.browser.newPage();
  page.errors = [];
  if (config) await page.addInitScript((c) => (window.egressPanelConfig = c), config);
  await page.setViewportSize({ width, height });
  page.on("pageerror", (err) => {
    page.errors.push(err.message);
    process.stderr.write(`[page error] ${err.message}\n`);
  });
  await page.goto(url || panelUrl(stack, account, { tokenAccount, search, fragment }));
  await page.waitForSelector("#egress-panel[data-ready]", { timeout: 30000 });
  return page;
}

export async function shot(stack, page, name) {
  await page.screenshot({ path: join(stack.shots, `${name}.png`), fullPage: true });
}

// Runs the body on a fresh page; on failure still saves a screenshot.
export async function withPanel(stack, name, account, opts, body) {
  const page = await openPanel(stack, account, opts);
  try {
    await body(page);
    await shot(stack, page, name);
  } catch (err) {
    await shot(stack, page, `${name}-FAILED`).catch(() => {});
    throw err;
  } finally {
    await page.close();
  }
}

export const rowIps = (page) => page.$$eval("#eg-conn-body tr[data-ip]", (trs) => trs.map((tr) => tr.dataset.ip));
export const summary = (page) => page.textContent("#eg-conn-summary");

export async function waitSummary(page, re) {
  await page.waitForFunction((src) => new RegExp(src).test(document.querySelector("#eg-conn-summary")?.textContent ?? ""), re.source, { timeout: 20000 });
}

// Waits until the list shows exactly these addresses (any order).
export async function waitRows(page, ips) {
  await page.waitForFunction(
    (want) => JSON.stringify([...document.querySelectorAll("#eg-conn-body tr[data-ip]")].map((tr) => tr.dataset.ip).sort()) === JSON.stringify(want),
    [...ips].sort(),
    { timeout: 20000 },
  );
}

export const rulesOf = (stack, account) => stack.pg.sql(`SELECT network, protocol, port, note FROM block_rules WHERE account_id = '${account}' ORDER BY rule_id`);
export const clearRules = (stack, account) => stack.pg.sql(`DELETE FROM block_rules WHERE account_id = '${account}'`);
export const locksOf = (stack, account) => stack.pg.sql(`SELECT kind FROM account_locks WHERE account_id = '${account}' ORDER BY kind`);

// Presses Tab (Shift+Tab with back) until the focused element matches the
// selector; fails after `max` presses. Keyboard only: nothing is clicked.
export async function tabTo(page, selector, { back = false, max = 80 } = {}) {
  for (let i = 0; i < max; i++) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await page.keyboard.press(back ? "Shift+Tab" : "Tab");
  }
  const at = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 120));
  throw new Error(`${max} presses of Tab did not reach ${selector} (focus on ${at})`);
}

const axeSource = readFileSync(join(gatewayDir, "node_modules", "axe-core", "axe.min.js"), "utf8");

// axe-core's audit of the page as it is now (WCAG 2.1 A/AA rules and best
// practices). Returns the serious and critical violations, each as
// "rule: target … (summary)", so a failing assert says what to fix.
export async function axeViolations(page, { include = "#egress-panel" } = {}) {
  // Evaluated through the DevTools protocol, so the page's CSP (no inline
  // scripts) does not stop it.
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.evaluate(axeSource);
    // Colours are judged as they end up, not halfway through a fade.
    await page.addStyleTag({ content: "*, *::before, *::after { transition: none !important; animation: none !important; }" });
  }
  const result = await page.evaluate(async (sel) => {
    const r = await window.axe.run(document.querySelector(sel) ? { include: [sel] } : document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => `${n.target.join(" ")} (${n.failureSummary.replace(/\s+/g, " ").slice(0, 160)})`) }));
  }, include);
  return result.filter((v) => v.impact === "serious" || v.impact === "critical").flatMap((v) => v.nodes.map((n) => `${v.id} [${v.impact}]: ${n}`));
}
