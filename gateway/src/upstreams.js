// The service replicas the gateway forwards to. Every replica is stateless
// (design: any replica serves any call), so calls go round-robin. A replica
// that refuses connections is marked down for a short while and the call is
// retried on the next one: a refused connection means the request never left,
// so even a write is safe to retry. Any other failure is returned to the
// caller unchanged (a write may have happened).
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Health } from "../gen/grpc/health/v1/health_pb.js";

const kRefused = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ENOTFOUND", "EAI_AGAIN"]);

// Parses "host:port,host:port" (IPv6 as [::1]:50051). Throws on bad input.
export function parseUpstreams(text) {
  const list = String(text || "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new Error("--upstream: at least one host:port is required");
  return list.map((item) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(item);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw new Error(`--upstream: "${item}" is not host:port`);
    }
    return item;
  });
}

// True when the error shows the request never reached a server.
export function isConnectRefused(err) {
  for (let e = err, depth = 0; e && depth < 5; e = e.cause, depth++) {
    if (typeof e.code === "string" && kRefused.has(e.code)) return true;
    if (typeof e.message === "string" && /\b(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH)\b/.test(e.message)) return true;
  }
  return false;
}

export class UpstreamPool {
  // tls: null for plaintext h2c (loopback, private network), or
  // { ca, cert, key } (PEM strings; cert/key only when the service requires
  // client certificates) to speak TLS and verify the service against `ca`.
  constructor(addresses, { downMs = 2000, tls = null } = {}) {
    this.downMs = downMs;
    this.next = 0;
    this.replicas = addresses.map((address) => {
      const baseUrl = `${tls ? "https" : "http"}://${address}`;
      // One HTTP/2 session per replica, kept warm, pinged to detect dead ones.
      const sessionManager = new Http2SessionManager(
        baseUrl,
        { pingIntervalMs: 30000, idleConnectionTimeoutMs: 5 * 60000 },
        tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, ALPNProtocols: ["h2"] } : undefined,
      );
      const transport = createGrpcTransport({ baseUrl, sessionManager });
      return { address, transport, sessionManager, clients: new Map(), downUntil: 0, failures: 0, calls: 0, lastError: "" };
    });
  }

  // Replicas in the order to try them for one call: round-robin start,
  // replicas marked down last.
  order() {
    const n = this.replicas.length;
    const start = this.next++ % n;
    const now = Date.now();
    const rotated = [];
    for (let i = 0; i < n; i++) rotated.push(this.replicas[(start + i) % n]);
    return [...rotated.filter((r) => r.downUntil <= now), ...rotated.filter((r) => r.downUntil > now)];
  }

  markDown(replica, err) {
    replica.downUntil = Date.now() + this.downMs;
    replica.failures++;
    replica.lastError = err?.message || String(err);
  }

  // A client of `service` on `replica`, made once.
  client(replica, service) {
    let c = replica.clients.get(service.typeName);
    if (!c) replica.clients.set(service.typeName, (c = createClient(service, replica.transport)));
    return c;
  }

  close() {
    for (const r of this.replicas) r.sessionManager.abort();
  }

  markUp(replica) {
    replica.downUntil = 0;
  }

  // Runs `fn(replica)`; on a refused connection tries the next replica.
  async call(fn) {
    let lastErr;
    for (const replica of this.order()) {
      try {
        replica.calls++;
        const result = await fn(replica);
        this.markUp(replica);
        return result;
      } catch (err) {
        if (!isConnectRefused(err)) throw err;
        this.markDown(replica, err);
        lastErr = err;
      }
    }
    throw new ConnectError(`no service replica reachable (${lastErr?.message ?? "none"})`, Code.Unavailable);
  }

  // gRPC health of every replica, for /healthz.
  async health(timeoutMs = 1000) {
    return Promise.all(
      this.replicas.map(async (r) => {
        const client = this.client(r, Health);
        try {
          const res = await client.check({}, { timeoutMs });
          const serving = res.status === 1;
          if (serving) this.markUp(r);
          return { address: r.address, serving, status: ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][res.status] };
        } catch (err) {
          return { address: r.address, serving: false, error: ConnectError.from(err).message };
        }
      }),
    );
  }
}
