// The service replicas the gateway forwards to. Every replica is stateless
// (design: any replica serves any call), so calls go round-robin. A replica
// that cannot be connected to is marked down and the call is tried on the
// next one: a failed connect means the request never left, so even a write is
// safe to retry. That covers a replica that refuses (its process died, the
// host answers with a reset) and one that does not answer at all (its host or
// container vanished: SYNs go nowhere, and a connect would hang until the
// caller's deadline), which a connect timeout bounds. Any failure after the
// request left is returned to the caller unchanged (a write may have happened).
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { log } from "./log.js";

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

// A replica could not be connected to (the request never left).
class ConnectFailed extends ConnectError {
  constructor(message, cause) {
    super(message, Code.Unavailable, undefined, undefined, cause);
    this.connectFailed = true;
  }
}

export class UpstreamPool {
  // tls: null for plaintext h2c (loopback, private network), or
  // { ca, cert, key } (PEM strings; cert/key only when the service requires
  // client certificates) to speak TLS and verify the service against `ca`.
  // connectTimeoutMs: how long a connect (TCP, TLS, or the HTTP/2 PING that
  // verifies a long-idle session) may take before the next replica is tried;
  // a LAN connect takes well under a millisecond. downMs: how long a failed
  // replica goes last; it doubles with each failure in a row, up to maxDownMs,
  // so a replica that stays dead costs one connect timeout per window, not
  // one per call.
  // probeIntervalMs: every so often each replica's gRPC health is checked in
  // the background (0: never), so that a replica whose established session
  // went dead without a reset is put last within about a probe interval,
  // and one that came back is put first again without waiting for a call.
  constructor(addresses, { downMs = 2000, maxDownMs = 16000, connectTimeoutMs = 1000, probeIntervalMs = 0, tls = null } = {}) {
    this.downMs = downMs;
    this.maxDownMs = maxDownMs;
    this.connectTimeoutMs = connectTimeoutMs;
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
      return { address, transport, sessionManager, clients: new Map(), downUntil: 0, failures: 0, failuresInARow: 0, calls: 0, lastError: "" };
    });
    if (probeIntervalMs > 0) {
      this.probeTimer = setInterval(() => this.health(connectTimeoutMs), probeIntervalMs);
      this.probeTimer.unref();
    }
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
    if (replica.failuresInARow === 0) log("warning", "upstream_down", { upstream: replica.address, error: err?.message || String(err) });
    replica.failures++;
    replica.failuresInARow++;
    const window = Math.min(this.maxDownMs, this.downMs * 2 ** Math.min(replica.failuresInARow - 1, 16));
    replica.downUntil = Date.now() + window;
    replica.lastError = err?.message || String(err);
  }

  // Resolves once `replica` has a usable HTTP/2 session: at once when it has
  // one, else after a connect (or the PING that verifies a session idle for
  // long). Throws ConnectFailed when that fails or takes over
  // connectTimeoutMs; the half-made session is dropped so the next call
  // starts afresh.
  async connected(replica) {
    let timer;
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.connectTimeoutMs);
    });
    const state = await Promise.race([replica.sessionManager.connect(), timedOut]);
    clearTimeout(timer);
    if (state === "timeout") {
      const err = new ConnectFailed(`connect to ${replica.address} timed out after ${this.connectTimeoutMs} ms`);
      replica.sessionManager.abort(err);
      throw err;
    }
    if (state === "error") {
      const cause = replica.sessionManager.error();
      throw new ConnectFailed(`connect to ${replica.address} failed: ${cause?.message ?? "unknown error"}`, cause);
    }
  }

  // The replica to open a stream on: the first in order() that connects
  // (the last one is taken as it is: its connect is bounded by the call's
  // deadline, and failing it would leave nothing to try).
  async acquire() {
    const candidates = this.order();
    for (const replica of candidates.slice(0, -1)) {
      try {
        await this.connected(replica);
        return replica;
      } catch (err) {
        this.markDown(replica, err);
      }
    }
    return candidates[candidates.length - 1];
  }

  // A client of `service` on `replica`, made once.
  client(replica, service) {
    let c = replica.clients.get(service.typeName);
    if (!c) replica.clients.set(service.typeName, (c = createClient(service, replica.transport)));
    return c;
  }

  close() {
    clearInterval(this.probeTimer);
    for (const r of this.replicas) r.sessionManager.abort();
  }

  markUp(replica) {
    if (replica.failuresInARow > 0) log("info", "upstream_up", { upstream: replica.address, failures: replica.failuresInARow });
    replica.downUntil = 0;
    replica.failuresInARow = 0;
  }

  // Runs `fn(replica)`; when the replica cannot be connected to, tries the
  // next one. Every replica but the last must connect within
  // connectTimeoutMs; the last one has the call's whole deadline.
  async call(fn) {
    let lastErr;
    const candidates = this.order();
    for (const [i, replica] of candidates.entries()) {
      try {
        if (i < candidates.length - 1) await this.connected(replica);
        replica.calls++;
        const result = await fn(replica);
        this.markUp(replica);
        return result;
      } catch (err) {
        if (!err?.connectFailed && !isConnectRefused(err)) throw err;
        this.markDown(replica, err);
        lastErr = err;
      }
    }
    throw new ConnectError(`no service replica reachable (${lastErr?.message ?? "none"})`, Code.Unavailable);
  }

  // gRPC health of every replica, for /healthz and the background probe: a
  // SERVING replica is marked up, any other marked down.
  async health(timeoutMs = 1000) {
    return Promise.all(
      this.replicas.map(async (r) => {
        const client = this.client(r, Health);
        try {
          const res = await client.check({}, { timeoutMs });
          const serving = res.status === 1;
          const status = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][res.status];
          if (serving) this.markUp(r);
          else this.markDown(r, new Error(`health: ${status}`));
          return { address: r.address, serving, status };
        } catch (err) {
          this.markDown(r, err);
          return { address: r.address, serving: false, error: ConnectError.from(err).message };
        }
      }),
    );
  }
}
