// Prometheus metrics of the gateway (prom-client), on a registry of its own
// (never prom-client's global one, so several gateways in one process -
// the tests - do not mix). Names are listed in docs/operations.md.
import { createServer } from "node:http";
import client from "prom-client";

const kLatencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
// Codes that mean a replica failed, not that the caller made a mistake.
const kUpstreamFailures = new Set(["unavailable", "unknown", "internal", "data_loss", "deadline_exceeded"]);

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: "egress_gateway_" });
  const rpcRequests = new client.Counter({
    name: "egress_gateway_rpc_requests_total",
    help: "Calls forwarded to the service, by method and status code.",
    labelNames: ["method", "code"],
    registers: [registry],
  });
  const rpcDuration = new client.Histogram({
    name: "egress_gateway_rpc_duration_seconds",
    help: "Latency of forwarded calls as the gateway saw them, by method and status code.",
    labelNames: ["method", "code"],
    buckets: kLatencyBuckets,
    registers: [registry],
  });
  const httpRequests = new client.Counter({
    name: "egress_gateway_http_requests_total",
    help: "Other HTTP requests (panel files, /healthz), by HTTP method and status.",
    labelNames: ["method", "status"],
    registers: [registry],
  });
  const httpDuration = new client.Histogram({
    name: "egress_gateway_http_duration_seconds",
    help: "Latency of other HTTP requests (panel files, /healthz), by HTTP method and status.",
    labelNames: ["method", "status"],
    buckets: kLatencyBuckets,
    registers: [registry],
  });
  const upstreamErrors = new client.Counter({
    name: "egress_gateway_upstream_errors_total",
    help: "Calls a replica failed (unavailable, deadline_exceeded, internal, unknown, data_loss), by replica and code.",
    labelNames: ["upstream", "code"],
    registers: [registry],
  });
  // Only methods and HTTP verbs the gateway knows become labels, so callers
  // cannot grow the registry by inventing names.
  const kHttpMethods = new Set(["GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"]);
  return {
    registry,
    // method: "egress.v1.Service/Method" (from the generated descriptors);
    // code: snake_case Connect code ("ok", "not_found", ...).
    rpc(method, code, seconds, upstream) {
      rpcRequests.inc({ method, code });
      rpcDuration.observe({ method, code }, seconds);
      if (kUpstreamFailures.has(code)) upstreamErrors.inc({ upstream: upstream || "none", code });
    },
    http(method, status, seconds) {
      const m = kHttpMethods.has(method) ? method : "other";
      httpRequests.inc({ method: m, status: String(status) });
      httpDuration.observe({ method: m, status: String(status) }, seconds);
    },
  };
}

// A listener of its own for GET /metrics, so the panel's public port never
// exposes them. Resolves to the http.Server once it listens.
export function serveMetrics(registry, host, port) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("only /metrics is served here\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" });
      res.end();
      return;
    }
    try {
      const body = await registry.metrics();
      res.writeHead(200, { "content-type": registry.contentType });
      res.end(req.method === "HEAD" ? undefined : body);
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`${err.message}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
