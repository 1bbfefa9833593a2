#!/usr/bin/env node
// ExportConnections benchmark: does a large day stream with bounded memory?
// Starts its own PostgreSQL, egress-service and gateway
// (tests/browser/lib/stack.js), seeds one account with a day of --rows rows
// (default 200,000; a third of the addresses with PTR and owner text that
// needs quoting), then measures in one run, each --runs times (median):
//   1. ExportConnections over gRPC straight to the service, in the panel's
//      default order (count, descending: one sort of the day) and by IP (the
//      primary key's order): time to the first chunk, to the last, bytes, and
//      the service's RSS growth (peak VmRSS sampled every 5 ms, minus before);
//   2. the same with a slow reader (a 5 ms pause per chunk): flow control
//      must hold the service back, not its memory;
//   3. the gateway's download (POST /export/connections.csv, as the panel):
//      first byte, last byte, and the gateway's RSS growth; also with a slow
//      browser (a 5 ms pause per read);
//   4. baselines in the same run: psql `COPY (the same rows, joined to
//      ip_info, same order) TO STDOUT (FORMAT csv)` into /dev/null, and
//      paging ListConnections (1,000 rows a page) through the whole day.
// Usage: node bench/export_bench.js [--rows=200000] [--runs=3]
// Needs gateway/ prepared (tests/browser/setup-gateway.sh) and egress-service
// built (EGRESS_SERVICE_BIN or EGRESS_BUILD_DIR, default build/).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { parseArgs } from "node:util";
import { makeTempDir, startGateway, startPostgres, startService, stopProcess, writeSecret } from "../tests/browser/lib/stack.js";
import { clients, dayKey, signToken } from "../tests/browser/lib/seed.js";

const { values } = parseArgs({ options: { rows: { type: "string", default: "200000" }, runs: { type: "string", default: "3" } } });
const kRows = Number(values.rows);
const kRuns = Number(values.runs);

const log = (s) => process.stderr.write(`[bench] ${s}\n`);
const root = makeTempDir("export-bench");
const pg = await startPostgres(root);
const secret = writeSecret(root);
const service = await startService({ conninfo: pg.conninfo, secretFile: secret.file, extraArgs: ["--log-level=warning"] });
const gateway = await startGateway({ upstreams: [service.address], extraArgs: ["--log-level=warning"] });
const api = clients(service.address, secret.secret);

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
// Samples `pid`'s RSS every 5 ms while `fn` runs; returns [fn's result, growth in MiB].
async function withRss(pid, fn) {
  const before = rssKiB(pid);
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, rssKiB(pid))), 5);
  try {
    const result = await fn();
    peak = Math.max(peak, rssKiB(pid));
    return [result, (peak - before) / 1024];
  } finally {
    clearInterval(timer);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

try {
  await api.accounts.upsertNode({ node: { nodeId: "bench-node" } }, api.admin);
  await api.accounts.upsertAccount({ account: { accountId: "bench", nodeId: "bench-node", uid: 4000 } }, api.admin);
  const day = dayKey(1);
  log(`seeding ${kRows} rows on ${day}`);
  pg.sql(`INSERT INTO connection_daily (account_id, day, ip, protocol, port, action, count, first_seen, last_seen)
          SELECT 'bench', '${day}', ('10.0.0.0'::inet + i), CASE WHEN i % 5 = 0 THEN 17 ELSE 6 END, 1 + (i * 7) % 65535,
                 CASE WHEN i % 10 = 0 THEN 2 ELSE 1 END, 1 + (i::int8 * 7919) % 5000,
                 '${day}T00:00:00Z'::timestamptz + (i % 40000) * interval '1 second',
                 '${day}T12:00:00Z'::timestamptz + (i % 40000) * interval '1 second'
            FROM generate_series(0, ${kRows - 1}) AS i;
          INSERT INTO ip_info (ip, status, ptr, ptr_confirmed, asn, as_name, country, network, looked_up_at, expires_at)
          SELECT '10.0.0.0'::inet + i, 2, 'host-' || i || '.customer, "static".example.net', true, 64500 + i % 100,
                 'Example Hosting, Inc. "AS' || (64500 + i % 100) || '"', 'DE', '10.0.0.0/8', now(), now() + interval '1 day'
            FROM generate_series(0, ${kRows - 1}, 3) AS i
          ON CONFLICT (ip) DO NOTHING;
          INSERT INTO account_day_totals (account_id, day, accepted, rejected, accepted_rows, rejected_rows)
          SELECT account_id, day, sum(count) FILTER (WHERE action = 1), sum(count) FILTER (WHERE action = 2),
                 count(*) FILTER (WHERE action = 1), count(*) FILTER (WHERE action = 2)
            FROM connection_daily WHERE account_id = 'bench' GROUP BY 1, 2
          ON CONFLICT (account_id, day) DO UPDATE SET accepted_rows = excluded.accepted_rows, rejected_rows = excluded.rejected_rows;
          ANALYZE connection_daily; ANALYZE ip_info;`);
  const [y, m, d] = day.split("-").map(Number);
  const token = signToken({ secret: secret.secret, subject: "bench", scopes: ["panel"] });
  const headers = { authorization: `Bearer ${token}` };
  const request = (orderBy) => ({ accountId: "bench", date: { year: y, month: m, day: d }, orderBy });
  const kOrders = [
    ["count (default)", 1, "c.count DESC, c.ip, c.protocol, c.port, c.action"],
    ["IP", 2, "c.ip, c.protocol, c.port, c.action"],
  ];

  async function direct(orderBy, pauseMs = 0) {
    const t0 = performance.now();
    let first = 0;
    let bytes = 0;
    let rows = 0;
    let chunks = 0;
    for await (const chunk of api.connections.exportConnections(request(orderBy), { headers, timeoutMs: 600000 })) {
      if (!first) first = performance.now() - t0;
      bytes += chunk.csv.length;
      rows += chunk.rows;
      chunks++;
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
    if (rows !== kRows) throw new Error(`export: ${rows} rows`);
    return { first, total: performance.now() - t0, bytes, chunks };
  }

  // pauseMs: the reader stops for that long after each piece it receives
  // (a slow browser), so the gateway must hold back, not buffer.
  function viaGateway(orderBy, pauseMs = 0) {
    return new Promise((resolve, reject) => {
      const body = new URLSearchParams({ token, account_id: "bench", date: day, order_by: String(orderBy) }).toString();
      const t0 = performance.now();
      const req = httpRequest(`${gateway.url}/export/connections.csv`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" } }, (res) => {
        let first = 0;
        let bytes = 0;
        res.on("data", (b) => {
          if (!first) first = performance.now() - t0;
          bytes += b.length;
          if (pauseMs) {
            res.pause();
            setTimeout(() => res.resume(), pauseMs);
          }
        });
        res.on("end", () => (res.statusCode === 200 && res.complete ? resolve({ first, total: performance.now() - t0, bytes }) : reject(new Error(`gateway: ${res.statusCode}`))));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  function copyBaseline(orderSql) {
    const sql = `COPY (SELECT host(c.ip), c.protocol, c.port, c.action, c.count, c.first_seen, c.last_seen,
                        i.status, i.ptr, i.asn, i.as_name, i.country, i.network
                   FROM (SELECT * FROM connection_daily c WHERE c.account_id = 'bench' AND c.day = '${day}' ORDER BY ${orderSql}) c
                   LEFT JOIN ip_info i ON i.ip = c.ip ORDER BY ${orderSql}) TO STDOUT (FORMAT csv)`;
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      let first = 0;
      let bytes = 0;
      const child = spawn("/usr/lib/postgresql/15/bin/psql", [pg.conninfo, "-v", "ON_ERROR_STOP=1", "-qc", sql], { stdio: ["ignore", "pipe", "inherit"] });
      child.stdout.on("data", (b) => {
        if (!first) first = performance.now() - t0;
        bytes += b.length;
      });
      child.on("exit", (code) => (code === 0 ? resolve({ first, total: performance.now() - t0, bytes }) : reject(new Error(`psql ${code}`))));
    });
  }

  async function paging(orderBy) {
    const t0 = performance.now();
    let pageToken = "";
    let rows = 0;
    do {
      const res = await api.connections.listConnections({ ...request(orderBy), pageSize: 1000, pageToken }, { headers, timeoutMs: 60000 });
      rows += res.connections.length;
      pageToken = res.nextPageToken;
    } while (pageToken);
    if (rows !== kRows) throw new Error(`paging: ${rows} rows`);
    return { first: NaN, total: performance.now() - t0, bytes: NaN };
  }

  const results = [];
  for (const [name, orderBy, orderSql] of kOrders) {
    const cases = [
      ["ExportConnections, gRPC to the service", service.child.pid, () => direct(orderBy)],
      ["  same, slow reader (5 ms per chunk)", service.child.pid, () => direct(orderBy, 5)],
      ["  same, through the gateway (panel download)", gateway.child.pid, () => viaGateway(orderBy)],
      ["  same, gateway, slow browser (5 ms per read)", gateway.child.pid, () => viaGateway(orderBy, 5)],
      ["baseline: psql COPY … TO STDOUT (FORMAT csv)", null, () => copyBaseline(orderSql)],
      ["baseline: ListConnections, 1,000-row pages", service.child.pid, () => paging(orderBy)],
    ];
    for (const [label, pid, fn] of cases) {
      const runs = [];
      for (let r = 0; r < kRuns; r++) {
        const [res, growth] = pid ? await withRss(pid, fn) : [await fn(), NaN];
        runs.push({ ...res, growth });
      }
      const row = { order: name, label, first: median(runs.map((x) => x.first)), total: median(runs.map((x) => x.total)), bytes: runs[0].bytes, growth: Math.max(...runs.map((x) => x.growth)), chunks: runs[0].chunks };
      results.push(row);
      log(`${name} | ${label}: first ${fmt(row.first)}, all ${fmt(row.total)}, ${(row.bytes / 1048576).toFixed(1)} MiB, RSS +${row.growth.toFixed(1)} MiB`);
    }
  }
  console.log(`\n${kRows.toLocaleString("en")} rows, median of ${kRuns} runs; RSS growth: the largest of the runs (of the process named)\n`);
  console.log("| order | what | first byte | last byte | size | RSS growth |");
  console.log("|---|---|---|---|---|---|");
  for (const r of results) {
    console.log(`| ${r.order} | ${r.label.trim()} | ${Number.isNaN(r.first) ? "–" : fmt(r.first)} | ${fmt(r.total)} | ${Number.isNaN(r.bytes) ? "–" : `${(r.bytes / 1048576).toFixed(1)} MiB`} | ${Number.isNaN(r.growth) ? "–" : `${r.growth.toFixed(1)} MiB`} |`);
  }
} finally {
  await stopProcess(gateway?.child);
  await stopProcess(service?.child);
  await stopProcess(pg?.child);
}
