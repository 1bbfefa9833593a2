// The gateway: gRPC-web and Connect (binary and JSON) over HTTP/1.1 or
// HTTP/2 from browsers and curl, forwarded as gRPC over HTTP/2 to the
// service replicas. Every method of the public egress.v1 services is
// forwarded generically (no per-method code), so the gateway never falls
// behind the API. What passes through unchanged: the `authorization` header
// (never read here: the service decides), the deadline (the caller's
// remaining time), status codes, messages and error details, response
// headers and trailers. Server-streaming methods stream message by message.
// Anything that is not an RPC path is a static file of the panel, /healthz,
// or the panel's CSV download (export.js).
import { createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AccountsService } from "../gen/egress/v1/accounts_pb.js";
import { AntivirusService } from "../gen/egress/v1/antivirus_pb.js";
import { ConnectionsService } from "../gen/egress/v1/connections_pb.js";
import { createExportHandler, kExportPath } from "./export.js";
import { log } from "./log.js";
import { createMetrics } from "./metrics.js";
import { createStaticHandler } from "./static.js";
import { UpstreamPool } from "./upstreams.js";

// CollectorService (agents) is bidirectional streaming: agents talk gRPC to
// the service directly, never through a browser-facing gateway.
export const kForwardedServices = [ConnectionsService, AccountsService, AntivirusService];

// Request headers forwarded to the service. Hop-by-hop and protocol headers
// are the transports' business; `authorization` is the caller's token.
const kForwardedRequestHeaders = ["authorization", "x-request-id", "traceparent", "tracestate"];
// Response headers that belong to the transport, not to the application.
const kTransportHeader = /^(content-type|content-length|content-encoding|grpc-|connect-|te$|trailer$|date$|transfer-encoding$)/i;

function forwardHeaders(ctx) {
  const headers = new Headers();
  for (const name of kForwardedRequestHeaders) {
    const v = ctx.requestHeader.get(name);
    if (v !== null) headers.set(name, v);
  }
  // The client's address, for the service's logs and rate limits.
  const peer = ctx.requestHeader.get("x-forwarded-for");
  if (peer) headers.set("x-forwarded-for", peer);
  return headers;
}

function copyApplicationHeaders(from, to) {
  from.forEach((value, key) => {
    if (!kTransportHeader.test(key)) to.append(key, value);
  });
}

// An upstream error as the caller must see it: same code, message, details
// and application metadata; the upstream's transport headers (content-type,
// grpc-status, ...) stay behind, or they would corrupt the response to a
// Connect or gRPC-web caller.
function passThroughError(err) {
  const ce = ConnectError.from(err);
  const metadata = new Headers();
  copyApplicationHeaders(ce.metadata, metadata);
  return new ConnectError(ce.rawMessage, ce.code, metadata, ce.details, ce.cause);
}

function callOptions(ctx, defaultTimeoutMs) {
  return {
    headers: forwardHeaders(ctx),
    // The caller's remaining time; callers without a deadline (curl) get the
    // default, so a stalled replica cannot hold a request forever.
    timeoutMs: ctx.timeoutMs() ?? (defaultTimeoutMs || undefined),
    signal: ctx.signal,
    onHeader: (h) => copyApplicationHeaders(h, ctx.responseHeader),
    onTrailer: (t) => copyApplicationHeaders(t, ctx.responseTrailer),
  };
}

// Builds the handler object for one service: each method calls the same
// method on a replica.
function forwardingImpl(service, pool, stats, defaultTimeoutMs, metrics) {
  const impl = {};
  for (const method of service.methods) {
    const name = `${service.typeName}/${method.name}`;
    if (method.methodKind === "unary") {
      impl[method.localName] = async (req, ctx) => {
        const started = performance.now();
        let upstream = "";
        try {
          const res = await pool.call((replica) => {
            upstream = replica.address;
            return pool.client(replica, service)[method.localName](req, callOptions(ctx, defaultTimeoutMs));
          });
          logCall(stats, metrics, name, ctx, "ok", started, upstream);
          return res;
        } catch (err) {
          const ce = passThroughError(err);
          logCall(stats, metrics, name, ctx, Code[ce.code], started, upstream, ce.rawMessage);
          throw ce;
        }
      };
    } else if (method.methodKind === "server_streaming") {
      impl[method.localName] = async function* (req, ctx) {
        const started = performance.now();
        const replica = await pool.acquire();
        let messages = 0;
        try {
          const client = pool.client(replica, service);
          for await (const msg of client[method.localName](req, callOptions(ctx, defaultTimeoutMs))) {
            messages++;
            yield msg;
          }
          logCall(stats, metrics, name, ctx, "ok", started, replica.address, undefined, messages);
        } catch (err) {
          const ce = passThroughError(err);
          if (isRefused(ce)) pool.markDown(replica, ce);
          logCall(stats, metrics, name, ctx, Code[ce.code], started, replica.address, ce.rawMessage, messages);
          throw ce;
        }
      };
    }
    // Client and bidi streaming cannot work over HTTP/1.1 gRPC-web: not
    // registered, so callers get a clear `unimplemented`.
  }
  return impl;
}

function isRefused(err) {
  return /ECONNREFUSED/.test(String(err?.message));
}

function logCall(stats, metrics, method, ctx, code, started, upstream, error, messages) {
  stats.calls++;
  if (code !== "ok") stats.errors++;
  const camel = code === "ok" ? "ok" : code.replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase());
  metrics.rpc(method, camel, (performance.now() - started) / 1000, upstream);
  log(code === "ok" || code === "NotFound" || code === "InvalidArgument" ? "info" : "warning", "rpc", {
    method,
    protocol: ctx.protocolName,
    code: camel,
    ms: (performance.now() - started).toFixed(1),
    upstream,
    messages,
    error,
  });
}

// What gRPC-web and Connect browser clients send and must be able to read.
const kCorsAllowed = "authorization, content-type, x-grpc-web, x-user-agent, grpc-timeout, connect-protocol-version, connect-timeout-ms, x-request-id";
const kCorsExposed = "grpc-status, grpc-message, grpc-status-details-bin, content-encoding";

// options: { upstreams: ["host:port", ...], upstreamTls ({ ca, cert, key } PEM
//            or null), tls ({ cert, key } PEM: serve HTTPS), staticDir,
//            upstreamConnectTimeoutMs (default 1000),
//            upstreamProbeIntervalMs (background health checks; default 0: none), maxTimeoutMs,
//            defaultTimeoutMs (60000; 0: none), exportTimeoutMs
//            (the longest CSV download, default 15 min), corsOrigins,
//            services (default kForwardedServices; tests add their own),
//            metrics (createMetrics(); default: a new one) }
// Returns { server, pool, stats, metrics }.
export function createGateway(options) {
  const metrics = options.metrics ?? createMetrics();
  const pool = new UpstreamPool(options.upstreams, {
    tls: options.upstreamTls ?? null,
    ...(options.upstreamConnectTimeoutMs ? { connectTimeoutMs: options.upstreamConnectTimeoutMs } : {}),
    probeIntervalMs: options.upstreamProbeIntervalMs ?? 0,
  });
  const stats = { calls: 0, errors: 0, startedAt: new Date().toISOString() };
  const serveStatic = options.staticDir ? createStaticHandler(options.staticDir) : null;
  const serveExport = createExportHandler(pool, { timeoutMs: options.exportTimeoutMs });

  async function fallback(req, res) {
    const started = performance.now();
    let status;
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/healthz") {
      const replicas = await pool.health();
      const ok = replicas.some((r) => r.serving);
      status = ok ? 200 : 503;
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify({ status: ok ? "ok" : "no_serving_replica", replicas, calls: stats.calls, errors: stats.errors, started_at: stats.startedAt }) + "\n");
    } else if (path === kExportPath) {
      const done = await serveExport(req, res);
      status = done.status;
      const code = done.code !== undefined ? Code[done.code] : done.status === 200 ? "ok" : "InvalidArgument";
      metrics.rpc("egress.v1.ConnectionsService/ExportConnections", code.replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase()), (performance.now() - started) / 1000, "");
      log(code === "ok" ? "info" : "warning", "export", { status, code, rows: done.rows, bytes: done.bytes, ms: (performance.now() - started).toFixed(1), error: done.message });
      return;
    } else if (serveStatic) {
      status = await serveStatic(req, res);
    } else {
      status = 404;
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    }
    metrics.http(req.method, status, (performance.now() - started) / 1000);
    log(status >= 500 ? "warning" : "info", "http", { method: req.method, path, status, ms: (performance.now() - started).toFixed(1) });
  }

  const handler = connectNodeAdapter({
    routes(router) {
      for (const service of options.services ?? kForwardedServices) router.service(service, forwardingImpl(service, pool, stats, options.defaultTimeoutMs ?? 60000, metrics));
    },
    grpcWeb: true,
    connect: true,
    // gRPC needs HTTP/2 end to end: gRPC clients talk to the service itself.
    grpc: false,
    ...(options.maxTimeoutMs ? { maxTimeoutMs: options.maxTimeoutMs } : {}),
    // No panel request comes near this; it bounds what a caller can make us buffer.
    readMaxBytes: 4 * 1024 * 1024,
    fallback: (req, res) => {
      fallback(req, res).catch((err) => {
        log("error", "http_failed", { path: req.url, error: err.message });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    },
  });

  const corsOrigins = new Set(options.corsOrigins ?? []);
  const onRequest = (req, res) => {
    // Cross-origin callers (a provider's panel on its own domain embedding
    // the page with apiBase pointing here), only from the configured origins.
    const origin = req.headers.origin;
    if (origin && corsOrigins.has(origin)) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("vary", "Origin");
      res.setHeader("access-control-expose-headers", kCorsExposed);
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          "access-control-allow-methods": "POST, GET",
          "access-control-allow-headers": kCorsAllowed,
          "access-control-max-age": "7200",
        });
        res.end();
        return;
      }
    }
    // The caller's address travels to the service with the call.
    const prior = req.headers["x-forwarded-for"];
    const peer = req.socket.remoteAddress ?? "";
    req.headers["x-forwarded-for"] = prior ? `${prior}, ${peer}` : peer;
    handler(req, res);
  };
  // options.tls: { cert, key } (PEM) to serve HTTPS to browsers directly.
  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest) : createServer(onRequest);
  server.keepAliveTimeout = 65000;
  server.on("close", () => pool.close());
  return { server, pool, stats, metrics };
}
