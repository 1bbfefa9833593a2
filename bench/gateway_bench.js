#!/usr/bin/env node
// Gateway and panel benchmark (issue 6). Starts its own PostgreSQL,
// egress-service and gateway (tests/browser/lib/stack.js), seeds one account
// with a 5,000-row day through CollectorService, then measures in one run:
//   1. unary calls/s and latency (p50/p99) of ConnectionsService.GetAccountStatus
//      and ListDates, directly over gRPC (baseline) and through the gateway
//      over gRPC-web / HTTP/1.1, same client process, same concurrency,
//      alternating rounds so drift hits both sides alike;
//   2. the page in chromium: navigation → first 100 rows rendered, and
//      → all 1,000 rows of the largest page rendered, for the 5,000-row day;
//   3. the panel bundle size (minified and gzipped).
// Usage: node bench/gateway_bench.js [--seconds=5] [--concurrency=16] [--rounds=3]
// Needs gateway/ prepared (tests/browser/setup-gateway.sh) and egress-service
// built (EGRESS_SERVICE_BIN or EGRESS_BUILD_DIR, default build/).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gatewayDir, launchChromium, makeTempDir, startGateway, startPostgres, startService, stopProcess, writeSecret } from "../tests/browser/lib/stack.js";
import { clients, dayKey, ipBytes, sendBatch, signToken } from "../tests/browser/lib/seed.js";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "5" }, concurrency: { type: "string", default: "16" }, rounds: { type: "string", default: "3" } } });
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);

const { createClient } = await import(join(gatewayDir, "node_modules/@connectrpc/connect/dist/esm/index.js"));
const { createGrpcWebTransport } = await import(join(gatewayDir, "node_modules/@connectrpc/connect-node/dist/esm/index.js"));
const { ConnectionsService } = await import(join(gatewayDir, "gen/egress/v1/connections_pb.js"));

const log = (s) => process.stderr.write(`[bench] ${s}\n`);
const root = makeTempDir("bench");
const pg = await startPostgres(root);
const secret = writeSecret(root);
const service = await startService({ conninfo: pg.conninfo, secretFile: secret.file, extraArgs: ["--log-level=warning"] });
const gateway = await startGateway({ upstreams: [service.address], extraArgs: ["--log-level=warning"] });
const api = clients(service.address, secret.secret);
let browser;

try {
  log("seeding a 5,000-row day");
  await api.accounts.upsertNode({ node: { nodeId: "bench-node" } }, api.admin);
  await api.accounts.upsertAccount({ account: { accountId: "bench", nodeId: "bench-node", uid: 4000 } }, api.admin);
  const day = dayKey(1);
  const [y, m, d] = day.split("-").map(Number);
  const records = [];
  for (let i = 0; i < 5000; i++) {
    const t = { seconds: BigInt(Date.parse(`${day}T12:00:00Z`) / 1000), nanos: 0 };
    records.push({ uid: 4000, day: { year: y, month: m, day: d }, dstIp: ipBytes(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`), protocol: 1, dstPort: 443, action: i % 10 ? 1 : 2, count: BigInt(1 + (i % 97)), firstSeen: t, lastSeen: t });
  }
  const ack = await sendBatch(api, "bench-node", records);
  if (ack.acceptedRecords !== 5000) throw new Error(`seed: ${ack.acceptedRecords} records accepted`);

  const token = signToken({ secret: secret.secret, subject: "bench", scopes: ["panel"] });
  const headers = { authorization: `Bearer ${token}` };
  const direct = api.connections;
  const viaGateway = createClient(ConnectionsService, createGrpcWebTransport({ baseUrl: gateway.url, httpVersion: "1.1" }));

  async function measure(client, method, req) {
    const lat = [];
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          await client[method](req, { headers });
          lat.push(performance.now() - t0);
        }
      }),
    );
    lat.sort((a, b) => a - b);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))];
    return { calls: lat.length, rps: lat.length / seconds, p50: q(0.5), p99: q(0.99) };
  }

  const results = [];
  for (const [method, req] of [["getAccountStatus", { accountId: "bench" }], ["listDates", { accountId: "bench" }]]) {
    for (const [name, client] of [["direct gRPC", direct], ["gateway gRPC-web", viaGateway]]) await measure(client, method, req); // warm-up
    const acc = { "direct gRPC": [], "gateway gRPC-web": [] };
    for (let r = 0; r < rounds; r++) {
      for (const [name, client] of [["direct gRPC", direct], ["gateway gRPC-web", viaGateway]]) {
        acc[name].push(await measure(client, method, req));
        log(`${method} ${name} round ${r + 1}: ${acc[name].at(-1).rps.toFixed(0)}/s p99 ${acc[name].at(-1).p99.toFixed(2)} ms`);
      }
    }
    for (const [name, runs] of Object.entries(acc)) {
      const med = (k) => runs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
      results.push({ method, path: name, rps: med("rps"), p50: med("p50"), p99: med("p99") });
    }
  }

  log("page timing in chromium");
  browser = await launchChromium(root);
  const url = `${gateway.url}/#${new URLSearchParams({ token, account: "bench" })}`;
  async function pageTime(pageSize) {
    const times = [];
    for (let i = 0; i < 5; i++) {
      const page = await browser.newPage();
      await page.addInitScript((n) => (window.egressPanelConfig = { pageSize: n }), pageSize);
      const t0 = Date.now();
      await page.goto(url);
      await page.waitForFunction((n) => document.querySelectorAll("#eg-conn-body tr[data-ip]").length === n, pageSize, { timeout: 30000, polling: "raf" });
      times.push(Date.now() - t0);
      await page.close();
    }
    times.sort((a, b) => a - b);
    return { median: times[2], min: times[0], max: times[4] };
  }
  const page100 = await pageTime(100);
  const page1000 = await pageTime(1000);
  const sizes = JSON.parse(readFileSync(join(gatewayDir, "panel", "dist", "sizes.json"), "utf8"));

  const out = [];
  out.push(`Unary calls, ${concurrency} concurrent callers, ${seconds} s x ${rounds} rounds (median round), one Node client process:`);
  out.push("");
  out.push("| method | path | calls/s | p50 ms | p99 ms |");
  out.push("|---|---|---:|---:|---:|");
  for (const r of results) out.push(`| ${r.method} | ${r.path} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`);
  out.push("");
  out.push(`Page (chromium headless, 5,000-row day, navigation → rows in the DOM, median of 5 [min–max]):`);
  out.push(`- first page of 100 rows: ${page100.median} ms [${page100.min}–${page100.max}]`);
  out.push(`- page of 1,000 rows (largest page): ${page1000.median} ms [${page1000.min}–${page1000.max}]`);
  out.push("");
  out.push("Bundle (esbuild, minified):");
  for (const [f, s] of Object.entries(sizes)) out.push(`- ${f}: ${(s.bytes / 1024).toFixed(1)} KiB (${(s.gzip / 1024).toFixed(1)} KiB gzipped)`);
  process.stdout.write(out.join("\n") + "\n");
} finally {
  await browser?.close();
  await stopProcess(gateway.child);
  await stopProcess(service.child);
  await stopProcess(pg.child);
}
