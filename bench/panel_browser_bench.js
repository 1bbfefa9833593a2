#!/usr/bin/env node
// The panel's speed in the browser (issue 17, item 8). Starts its own
// PostgreSQL, egress-service and gateway (tests/browser/lib/stack.js), seeds
// one account as an agent would (a 5,000-row newest day and 29 smaller days
// before it), and measures in Debian's chromium, in one run:
//   1. baseline: a static page of the same bundle (the same JS and CSS from
//      the same gateway) that makes no API calls: it mounts the panel with
//      calls that never answer, so it paints the same page, empty;
//      navigation → that page painted ("egress:mounted-painted");
//   2. the panel: navigation → its first 100 rows painted
//      ("egress:rows-painted"); ratio = 2 / 1 (goal: ≤ 1.5);
//   3. switching the date in the panel: change → the new day's rows shown and
//      painted (goal: p95 < 100 ms).
// Pages are loaded alternately (static, panel, static, ...) so drift hits both
// alike; the first load of each (cold HTTP cache) is reported apart.
// With --before-dist=DIR (a panel/dist built from an older commit), that
// panel is measured too, in the same run, the same way (its rows and date
// switches found by watching the page, since it has no timing marks).
// Usage: node bench/panel_browser_bench.js [--loads=15] [--switches=40] [--before-dist=DIR]
// Needs gateway/ prepared (tests/browser/setup-gateway.sh) and egress-service
// built (EGRESS_SERVICE_BIN or EGRESS_BUILD_DIR, default build/).
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { clients, dayKey, ipBytes, sendBatch, signToken } from "../tests/browser/lib/seed.js";
import { gatewayDir, launchChromium, makeTempDir, startGateway, startPostgres, startService, stopProcess, writeSecret } from "../tests/browser/lib/stack.js";

const { values } = parseArgs({ options: { loads: { type: "string", default: "15" }, switches: { type: "string", default: "40" }, "before-dist": { type: "string" } } });
const loads = Number(values.loads);
const switches = Number(values.switches);
const log = (s) => process.stderr.write(`[bench] ${s}\n`);

// The gateway serves a copy of the bundle with one more page beside it: the
// same files, the panel mounted with calls that never answer.
const root = makeTempDir("panel-bench");
const site = join(root, "site");
cpSync(join(gatewayDir, "panel", "dist"), site, { recursive: true });
const index = readFileSync(join(site, "index.html"), "utf8");
const bundle = /src="\/(app-[A-Z0-9]+\.js)"/.exec(index)[1];
writeFileSync(join(site, "static-config.js"), "window.egressPanelConfig = { mount: false };\n");
writeFileSync(
  join(site, "static-mount.js"),
  `import { mountPanel } from "./${bundle}";\n` +
    `const never = new Proxy({}, { get: () => () => new Promise(() => {}) });\n` +
    `mountPanel(document.getElementById("egress-panel"), { token: "none", accountId: "bench", apiBase: location.origin, refreshMs: 0, urlState: false, lang: "en" }, { api: never });\n`,
);
writeFileSync(join(site, "static.html"), index.replace(/<script src="\/boot-[^"]+"><\/script>\s*<script type="module" src="[^"]+"><\/script>/, '<script src="/static-config.js"></script>\n<script type="module" src="/static-mount.js"></script>'));
if (!readFileSync(join(site, "static.html"), "utf8").includes("static-mount.js")) throw new Error("index.html changed: the static page could not be made from it");
// The older panel: its hashed files beside ours, its page as before.html.
const before = values["before-dist"];
if (before) {
  for (const f of readdirSync(before)) if (/^app-.*\.(js|css)$/.test(f)) cpSync(join(before, f), join(site, f));
  writeFileSync(join(site, "before.html"), readFileSync(join(before, "index.html"), "utf8"));
}

const pg = await startPostgres(root);
const secret = writeSecret(root);
const service = await startService({ conninfo: pg.conninfo, secretFile: secret.file, extraArgs: ["--log-level=warning"] });
const gateway = await startGateway({ upstreams: [service.address], extraArgs: ["--log-level=warning", `--static-dir=${site}`] });
const api = clients(service.address, secret.secret);
let browser;

const quantile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * p) - 1)];
};
const fmt = (x) => x.toFixed(0);

try {
  log("seeding: a 5,000-row newest day and 29 days of 300 rows");
  await api.accounts.upsertNode({ node: { nodeId: "bench-node" } }, api.admin);
  await api.accounts.upsertAccount({ account: { accountId: "bench", nodeId: "bench-node", uid: 4000 } }, api.admin);
  for (let offset = 1; offset <= 30; offset++) {
    const day = dayKey(offset);
    const [y, m, d] = day.split("-").map(Number);
    const t = { seconds: BigInt(Date.parse(`${day}T12:00:00Z`) / 1000), nanos: 0 };
    const n = offset === 1 ? 5000 : 300;
    const records = [];
    for (let i = 0; i < n; i++) {
      records.push({ uid: 4000, day: { year: y, month: m, day: d }, dstIp: ipBytes(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`), protocol: 1, dstPort: 443, action: i % 10 ? 1 : 2, count: BigInt(1 + (i % 97)), firstSeen: t, lastSeen: t });
    }
    const ack = await sendBatch(api, "bench-node", records);
    if (ack.acceptedRecords !== n) throw new Error(`seed: ${ack.acceptedRecords} of ${n} records accepted`);
  }
  const token = signToken({ secret: secret.secret, subject: "bench", scopes: ["panel"], ttlSeconds: 3600 });
  const panelUrl = `${gateway.url}/#${new URLSearchParams({ token, account: "bench" })}`;
  const staticUrl = `${gateway.url}/static.html`;

  browser = await launchChromium(root);
  const mark = (page, name) => page.evaluate((n) => new Promise((resolve) => {
    const look = () => {
      const e = performance.getEntriesByName(n)[0];
      if (e) resolve(e.startTime);
      else setTimeout(look, 2);
    };
    look();
  }), name);

  // For a panel without marks: rows in the page, then painted.
  const watchRows = () => {
    new MutationObserver((_, obs) => {
      if (document.querySelector("#eg-conn-body tr[data-ip]")) {
        obs.disconnect();
        requestAnimationFrame(() => setTimeout(() => performance.mark("watched:rows-painted"), 0));
      }
    }).observe(document, { childList: true, subtree: true });
  };
  const kinds = before ? ["static", "panel", "before"] : ["static", "panel"];
  log(`page loads: ${loads} of each of ${kinds.join(", ")}, alternating`);
  const staticMs = [];
  const rowsMs = [];
  const loadedMs = [];
  const beforeMs = [];
  for (let i = 0; i < loads; i++) {
    for (const kind of kinds) {
      const page = await browser.newPage();
      await page.addInitScript(() => (window.egressPanelConfig = Object.assign({ refreshMs: 0 }, window.egressPanelConfig)));
      if (kind === "before") {
        await page.addInitScript(watchRows);
        await page.goto(panelUrl.replace("/#", "/before.html#"));
        beforeMs.push(await mark(page, "watched:rows-painted"));
      } else await page.goto(kind === "static" ? staticUrl : panelUrl);
      if (kind === "static") staticMs.push(await mark(page, "egress:mounted-painted"));
      else if (kind === "panel") {
        rowsMs.push(await mark(page, "egress:rows-painted"));
        loadedMs.push(await mark(page, "egress:mounted-painted"));
        const rows = await page.$$eval("#eg-conn-body tr[data-ip]", (trs) => trs.length);
        if (rows !== 100) throw new Error(`the panel shows ${rows} rows, not 100`);
      }
      await page.close();
    }
  }

  log(`date switches: ${switches}${before ? " in each panel" : ""}`);
  const switchMs = await dateSwitches(panelUrl);
  const beforeSwitchMs = before ? await dateSwitches(panelUrl.replace("/#", "/before.html#")) : [];

  // Date switches in one page: change → the new day's rows shown and painted.
  async function dateSwitches(url) {
    const page = await browser.newPage();
    await page.addInitScript(() => (window.egressPanelConfig = { refreshMs: 0 }));
    await page.goto(url);
    await page.waitForSelector("#egress-panel[data-ready]");
    const dates = await page.$$eval("#eg-date option", (os) => os.map((o) => o.value));
    const times = [];
    for (let i = 0; i < switches + 3; i++) {
      const key = dates[(i + 1) % dates.length];
      const ms = await page.evaluate(async (k) => {
        const table = document.querySelector("#eg-connections");
        const sel = document.querySelector("#eg-date");
        const t0 = performance.now();
        sel.value = k;
        sel.dispatchEvent(new Event("change"));
        // Shown: the request went out (aria-busy) and came back, rows rendered.
        await new Promise((resolve) => {
          const done = () => !table.hasAttribute("aria-busy") && document.querySelector("#eg-conn-body tr[data-ip]");
          const obs = new MutationObserver(() => {
            if (done()) {
              obs.disconnect();
              resolve();
            }
          });
          obs.observe(table, { attributes: true, childList: true, subtree: true });
        });
        await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))); // painted
        return performance.now() - t0;
      }, key);
      if (i >= 3) times.push(ms); // the first few warm the page up
    }
    await page.close();
    return times;
  }

  const warmStatic = staticMs.slice(1);
  const warmRows = rowsMs.slice(1);
  const ratio = quantile(warmRows, 0.5) / quantile(warmStatic, 0.5);
  const sizes = JSON.parse(readFileSync(join(site, "sizes.json"), "utf8"));
  const out = [];
  out.push(`Panel in chromium through the gateway (${new Date().toISOString().slice(0, 16)}Z, load ${loadavg()[0].toFixed(1)}):`);
  out.push("");
  out.push("| measure | cold (first load) | warm p50 | warm p95 | warm min–max |");
  out.push("|---|---:|---:|---:|---:|");
  out.push(`| static page, same bundle, no API calls: navigation → painted | ${fmt(staticMs[0])} | ${fmt(quantile(warmStatic, 0.5))} | ${fmt(quantile(warmStatic, 0.95))} | ${fmt(Math.min(...warmStatic))}–${fmt(Math.max(...warmStatic))} |`);
  out.push(`| panel: navigation → painted, still empty | ${fmt(loadedMs[0])} | ${fmt(quantile(loadedMs.slice(1), 0.5))} | ${fmt(quantile(loadedMs.slice(1), 0.95))} | ${fmt(Math.min(...loadedMs.slice(1)))}–${fmt(Math.max(...loadedMs.slice(1)))} |`);
  out.push(`| panel: navigation → 100 rows painted | ${fmt(rowsMs[0])} | ${fmt(quantile(warmRows, 0.5))} | ${fmt(quantile(warmRows, 0.95))} | ${fmt(Math.min(...warmRows))}–${fmt(Math.max(...warmRows))} |`);
  out.push(`| date switch → rows shown and painted (${switchMs.length}) | | ${fmt(quantile(switchMs, 0.5))} | ${fmt(quantile(switchMs, 0.95))} | ${fmt(Math.min(...switchMs))}–${fmt(Math.max(...switchMs))} |`);
  if (before) {
    const warm = beforeMs.slice(1);
    out.push(`| older panel (--before-dist): navigation → 100 rows painted | ${fmt(beforeMs[0])} | ${fmt(quantile(warm, 0.5))} | ${fmt(quantile(warm, 0.95))} | ${fmt(Math.min(...warm))}–${fmt(Math.max(...warm))} |`);
    out.push(`| older panel: date switch → rows shown and painted (${beforeSwitchMs.length}) | | ${fmt(quantile(beforeSwitchMs, 0.5))} | ${fmt(quantile(beforeSwitchMs, 0.95))} | ${fmt(Math.min(...beforeSwitchMs))}–${fmt(Math.max(...beforeSwitchMs))} |`);
  }
  out.push("");
  out.push(`rows / static (warm p50s): ${ratio.toFixed(2)}x (goal ≤ 1.5x); cold: ${(rowsMs[0] / staticMs[0]).toFixed(2)}x; date switch p95 ${fmt(quantile(switchMs, 0.95))} ms (goal < 100 ms)`);
  out.push(`bundle: ${Object.entries(sizes).map(([f, s]) => `${f} ${(s.bytes / 1024).toFixed(1)} KiB (${(s.gzip / 1024).toFixed(1)} KiB gzipped)`).join(", ")}`);
  process.stdout.write(out.join("\n") + "\n");
} finally {
  await browser?.close();
  await stopProcess(gateway.child);
  await stopProcess(service.child);
  await stopProcess(pg.child);
}
