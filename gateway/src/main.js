#!/usr/bin/env node
// egress-gateway: gRPC-web / Connect ⇄ gRPC gateway and the panel's web server.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createGateway } from "./gateway.js";
import { serveMetrics } from "./metrics.js";
import { log, setLogLevel } from "./log.js";
import { parseUpstreams } from "./upstreams.js";

const here = dirname(fileURLToPath(import.meta.url));
const usage = `egress-gateway: serves the "Outgoing connections" panel and forwards its
gRPC-web and Connect (binary or JSON) calls over HTTP/1.1 to egress-service
replicas over gRPC (HTTP/2). The caller's authorization header, deadline and
status codes pass through unchanged.

Usage: node gateway/src/main.js [--listen=127.0.0.1:8080] [--upstream=127.0.0.1:50051,...]

  --listen=HOST:PORT     where to listen (port 0 picks a free port; the chosen
                         address is printed as "egress-gateway listening on http://...").
                         Env EGRESS_GATEWAY_LISTEN. Default 127.0.0.1:8080.
  --upstream=LIST        comma-separated host:port of egress-service replicas,
                         used round-robin; a replica that cannot be connected to
                         (refused, or no answer within --upstream-connect-timeout-ms)
                         goes last for 2 s, doubling while it keeps failing (up to
                         16 s), and the call moves on to the next one.
                         Env EGRESS_UPSTREAMS. Default 127.0.0.1:50051.
  --upstream-connect-timeout-ms=N
                         how long a connect to a replica may take before the next
                         one is tried (a dead host does not refuse: it stays
                         silent). Default 1000.
  --upstream-probe-interval-ms=N
                         how often each replica's gRPC health is checked in the
                         background, so a replica that died without a reset goes
                         last, and one that came back comes first, within about
                         this long (0: only on /healthz). Default 2000.
  --tls-cert-file=FILE, --tls-key-file=FILE
                         serve HTTPS with this PEM certificate chain and key.
                         Default: plain HTTP (behind a TLS-terminating front end).
  --upstream-tls-ca-file=FILE
                         speak TLS to the replicas and verify them with this PEM CA
                         (the service runs with --tls-cert-file). Default: plaintext.
  --upstream-tls-cert-file=FILE, --upstream-tls-key-file=FILE
                         client certificate and key, when the service requires them
                         (--tls-client-ca-file).
  --static-dir=DIR       the panel's files. Default gateway/panel/dist (npm run build).
  --max-timeout-ms=N     cap on callers' deadlines (0: no cap). Default 0.
  --default-timeout-ms=N deadline of calls that come without one (curl), so a
                         stalled replica cannot hold them forever (0: none). Default 60000.
  --export-timeout-ms=N  the longest a CSV download (POST /export/connections.csv) may
                         take. Default 900000 (15 min).
  --cors-origin=LIST     comma-separated origins (https://panel.example.net) whose
                         pages may call the API from the browser (a provider's panel
                         embedding the page from another domain). Env EGRESS_CORS_ORIGINS.
                         Default: none (same origin only).
  --metrics-listen=HOST:PORT
                         serve Prometheus metrics at http://HOST:PORT/metrics, on a
                         listener of its own (printed as "egress-gateway metrics on
                         http://..."). Env EGRESS_GATEWAY_METRICS_LISTEN. Default: none.
  --log-level=LEVEL      debug, info, warning or error. Default info.
  --help                 this text.

Endpoints: /egress.v1.ConnectionsService/*, /egress.v1.AccountsService/*,
/egress.v1.AntivirusService/* (gRPC-web, Connect, gRPC); /healthz (JSON, 200
when a replica is SERVING); everything else: static files of --static-dir.
Example: curl -H 'authorization: Bearer TOKEN' -H 'content-type: application/json' \\
  -d '{"accountId":"demo-alice"}' http://127.0.0.1:8080/egress.v1.ConnectionsService/ListDates`;

function fail(message) {
  process.stderr.write(`egress-gateway: ${message}\n(see --help)\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      listen: { type: "string" },
      upstream: { type: "string" },
      "static-dir": { type: "string" },
      "max-timeout-ms": { type: "string" },
      "upstream-connect-timeout-ms": { type: "string" },
      "upstream-probe-interval-ms": { type: "string" },
      "default-timeout-ms": { type: "string" },
      "export-timeout-ms": { type: "string" },
      "cors-origin": { type: "string" },
      "upstream-tls-ca-file": { type: "string" },
      "tls-cert-file": { type: "string" },
      "tls-key-file": { type: "string" },
      "upstream-tls-cert-file": { type: "string" },
      "upstream-tls-key-file": { type: "string" },
      "log-level": { type: "string" },
      "metrics-listen": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }));
} catch (err) {
  fail(err.message);
}
if (values.help) {
  process.stdout.write(usage + "\n");
  process.exit(0);
}

const listen = values.listen ?? process.env.EGRESS_GATEWAY_LISTEN ?? "127.0.0.1:8080";
const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(listen);
if (!m) fail(`--listen: "${listen}" is not host:port`);
const host = m[1].replace(/^\[|\]$/g, "") || "0.0.0.0";
const port = Number(m[2]);
let upstreams;
try {
  upstreams = parseUpstreams(values.upstream ?? process.env.EGRESS_UPSTREAMS ?? "127.0.0.1:50051");
  setLogLevel(values["log-level"] ?? "info");
} catch (err) {
  fail(err.message);
}
const maxTimeoutMs = Number(values["max-timeout-ms"] ?? 0);
if (!Number.isInteger(maxTimeoutMs) || maxTimeoutMs < 0) fail("--max-timeout-ms must be a whole number >= 0");
const upstreamConnectTimeoutMs = Number(values["upstream-connect-timeout-ms"] ?? 1000);
if (!Number.isInteger(upstreamConnectTimeoutMs) || upstreamConnectTimeoutMs < 1) fail("--upstream-connect-timeout-ms must be a whole number >= 1");
const upstreamProbeIntervalMs = Number(values["upstream-probe-interval-ms"] ?? 2000);
if (!Number.isInteger(upstreamProbeIntervalMs) || upstreamProbeIntervalMs < 0) fail("--upstream-probe-interval-ms must be a whole number >= 0");
const defaultTimeoutMs = Number(values["default-timeout-ms"] ?? 60000);
if (!Number.isInteger(defaultTimeoutMs) || defaultTimeoutMs < 0) fail("--default-timeout-ms must be a whole number >= 0");
const exportTimeoutMs = Number(values["export-timeout-ms"] ?? 900000);
if (!Number.isInteger(exportTimeoutMs) || exportTimeoutMs < 1) fail("--export-timeout-ms must be a whole number >= 1");
const staticDir = values["static-dir"] ?? join(here, "..", "panel", "dist");

const corsOrigins = (values["cors-origin"] ?? process.env.EGRESS_CORS_ORIGINS ?? "").split(",").map((o) => o.trim()).filter(Boolean);
for (const o of corsOrigins) {
  if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o)) fail(`--cors-origin: "${o}" is not an origin like https://panel.example.net`);
}
let upstreamTls = null;
const tlsFiles = ["upstream-tls-ca-file", "upstream-tls-cert-file", "upstream-tls-key-file"].map((k) => values[k]);
if (tlsFiles.some(Boolean)) {
  if (!tlsFiles[0]) fail("--upstream-tls-cert-file/--upstream-tls-key-file need --upstream-tls-ca-file");
  if (!tlsFiles[1] !== !tlsFiles[2]) fail("--upstream-tls-cert-file and --upstream-tls-key-file go together");
  try {
    const [ca, cert, key] = tlsFiles.map((f) => (f ? readFileSync(f, "utf8") : undefined));
    upstreamTls = { ca, cert, key };
  } catch (err) {
    fail(`cannot read a TLS file: ${err.message}`);
  }
}
let tls = null;
if (values["tls-cert-file"] || values["tls-key-file"]) {
  if (!values["tls-cert-file"] || !values["tls-key-file"]) fail("--tls-cert-file and --tls-key-file go together");
  try {
    tls = { cert: readFileSync(values["tls-cert-file"], "utf8"), key: readFileSync(values["tls-key-file"], "utf8") };
  } catch (err) {
    fail(`cannot read a TLS file: ${err.message}`);
  }
}
const metricsListen = values["metrics-listen"] ?? process.env.EGRESS_GATEWAY_METRICS_LISTEN ?? "";
let metricsAddress = null;
if (metricsListen) {
  const mm = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(metricsListen);
  if (!mm) fail(`--metrics-listen: "${metricsListen}" is not host:port`);
  metricsAddress = { host: mm[1].replace(/^\[|\]$/g, "") || "0.0.0.0", port: Number(mm[2]) };
}
const { server, metrics } = createGateway({ upstreams, upstreamTls, upstreamConnectTimeoutMs, upstreamProbeIntervalMs, tls, staticDir, maxTimeoutMs, defaultTimeoutMs, exportTimeoutMs, corsOrigins });
server.on("error", (err) => {
  log("error", "listen_failed", { address: listen, error: err.message });
  process.exit(1);
});
server.listen(port, host, () => {
  const a = server.address();
  const shown = a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  log("info", "listening", { address: shown, upstreams: upstreams.join(","), upstream_tls: upstreamTls ? (upstreamTls.cert ? "mtls" : "tls") : "off", static_dir: staticDir });
  process.stdout.write(`egress-gateway listening on ${tls ? "https" : "http"}://${shown}\n`);
});

let metricsServer = null;
if (metricsAddress) {
  try {
    metricsServer = await serveMetrics(metrics.registry, metricsAddress.host, metricsAddress.port);
  } catch (err) {
    log("error", "listen_failed", { address: metricsListen, error: err.message });
    process.exit(1);
  }
  const a = metricsServer.address();
  const shown = a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  log("info", "metrics_listening", { address: shown });
  process.stdout.write(`egress-gateway metrics on http://${shown}/metrics\n`);
}

let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    if (stopping) process.exit(1);
    stopping = true;
    log("info", "shutting_down", { signal: sig });
    metricsServer?.close();
    server.close(() => process.exit(0));
    server.closeIdleConnections?.();
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
