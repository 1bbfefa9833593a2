#!/usr/bin/env node
// Takes the README's screenshots of the panel with the demo data
// (gateway/bin/demo-data.js) on a throwaway stack: desktop and 360 px.
//   node tests/browser/demo_screenshot.js [out-dir]   (default gateway/docs)
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { gatewayDir, launchChromium, makeTempDir, startGateway, startPostgres, startService, stopProcess, writeSecret } from "./lib/stack.js";
import { clients, signToken } from "./lib/seed.js";

const out = process.argv[2] || join(gatewayDir, "docs");
mkdirSync(out, { recursive: true });
const root = makeTempDir("demo");
const pg = await startPostgres(root);
const secret = writeSecret(root);
const service = await startService({ conninfo: pg.conninfo, secretFile: secret.file });
const gateway = await startGateway({ upstreams: [service.address] });
let browser;
try {
  const api = clients(service.address, secret.secret);
  await api.accounts.upsertNode({ node: { nodeId: "demo-node", serverIpv4: "198.51.100.10", serverIpv6: "2001:db8::10" } }, api.admin);
  await api.accounts.upsertAccount({ account: { accountId: "demo-alice", nodeId: "demo-node", uid: 2001, dedicatedIps: [{ ip: "203.0.113.5", orderTime: { seconds: 1704067200n, nanos: 0 } }] } }, api.admin);
  execFileSync(process.execPath, [join(gatewayDir, "bin", "demo-data.js"), `--server=${service.address}`, `--secret-file=${secret.file}`], { stdio: "inherit" });
  pg.sql(`INSERT INTO ip_info (ip, status, ptr, ptr_confirmed, asn, as_name, country, network, looked_up_at, expires_at) VALUES
    ('142.250.185.74', 2, 'fra16s48-in-f10.1e100.net', true, 15169, 'Google LLC', 'US', '142.250.0.0/15', now(), now() + interval '1 day'),
    ('151.101.1.69', 2, 'n.sni.global.fastly.net', false, 54113, 'Fastly, Inc.', 'US', '151.101.0.0/16', now(), now() + interval '1 day'),
    ('54.187.174.169', 2, 'api.stripe.com', true, 16509, 'Amazon.com, Inc.', 'US', '54.184.0.0/13', now(), now() + interval '1 day'),
    ('8.8.8.8', 2, 'dns.google', true, 15169, 'Google LLC', 'US', '8.8.8.0/24', now(), now() + interval '1 day'),
    ('203.0.113.66', 3, '', false, 64511, 'Bulk Mailer Hosting', 'RU', '203.0.113.0/24', now(), now() + interval '1 day'),
    ('192.0.2.201', 3, '', false, 64512, 'Example Bulletproof Ltd', 'SC', '192.0.2.0/24', now(), now() + interval '1 day')
    ON CONFLICT (ip) DO UPDATE SET status = excluded.status, ptr = excluded.ptr, ptr_confirmed = excluded.ptr_confirmed, asn = excluded.asn,
      as_name = excluded.as_name, country = excluded.country, network = excluded.network, looked_up_at = excluded.looked_up_at, expires_at = excluded.expires_at`);
  const panel = { headers: api.panel("demo-alice").headers };
  await api.connections.blockDestination({ accountId: "demo-alice", destination: "192.0.2.201", protocol: 5, port: 0, note: "IRC bot found 12 May, site cleaned" }, panel);
  await api.connections.blockDestination({ accountId: "demo-alice", destination: "203.0.113.0/24", protocol: 1, port: 25, note: "" }, panel);
  const token = signToken({ secret: secret.secret, subject: "demo-alice", scopes: ["panel"] });
  browser = await launchChromium(root);
  for (const [name, width, height, fullPage] of [["panel-desktop", 1280, 1000, false], ["panel-desktop-full", 1280, 1000, true], ["panel-360px", 360, 1400, false]]) {
    const page = await browser.newPage();
    await page.setViewportSize({ width, height });
    await page.addInitScript(() => (window.egressPanelConfig = { pageSize: 50 }));
    await page.goto(`${gateway.url}/#${new URLSearchParams({ token, account: "demo-alice" })}`);
    await page.waitForSelector("#egress-panel[data-ready]");
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(out, `${name}.png`), fullPage });
    await page.close();
    process.stdout.write(`${join(out, `${name}.png`)}\n`);
  }
} finally {
  await browser?.close();
  await stopProcess(gateway.child);
  await stopProcess(service.child);
  await stopProcess(pg.child);
}
