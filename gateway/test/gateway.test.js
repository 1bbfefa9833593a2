// Unit tests of the gateway with a fake upstream (an in-process gRPC server
// that reports what it received): header and deadline pass-through, status
// codes, error metadata, replica failover. The real service is exercised by
// tests/browser/gateway.test.js.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer as createH2Server } from "node:http2";
import net from "node:net";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { AccountsService } from "../gen/egress/v1/accounts_pb.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { createGateway } from "../src/gateway.js";
import { setLogLevel } from "../src/log.js";
import { isConnectRefused, parseUpstreams, UpstreamPool } from "../src/upstreams.js";

setLogLevel("error");
let upstream, upstreamAddress, gateway, gatewayUrl;
const seen = [];

before(async () => {
  upstream = createH2Server(
    connectNodeAdapter({
      grpc: true,
      routes(router) {
        router.service(AccountsService, {
          async getNode(req, ctx) {
            seen.push({ auth: ctx.requestHeader.get("authorization"), timeoutMs: ctx.timeoutMs(), xff: ctx.requestHeader.get("x-forwarded-for") });
            ctx.responseHeader.set("x-upstream", "fake");
            return { nodeId: req.nodeId };
          },
          async getAccount(req) {
            throw new ConnectError(`account_id: "${req.accountId}" not found`, Code.NotFound, { "x-reason": "missing" });
          },
          async listNodes(req, ctx) {
            await new Promise((r) => setTimeout(r, 300));
            return { nodes: [] };
          },
        });
      },
    }),
  );
  await new Promise((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamAddress = `127.0.0.1:${upstream.address().port}`;
  ({ server: gateway } = createGateway({ upstreams: ["127.0.0.1:1", upstreamAddress], corsOrigins: ["https://panel.example.net"] }));
  await new Promise((r) => gateway.listen(0, "127.0.0.1", r));
  gatewayUrl = `http://127.0.0.1:${gateway.address().port}`;
});

after(() => {
  gateway.close();
  gateway.closeAllConnections();
  upstream.close();
});

const transports = () => [
  ["grpc-web", createGrpcWebTransport({ baseUrl: gatewayUrl, httpVersion: "1.1" })],
  ["connect", createConnectTransport({ baseUrl: gatewayUrl, httpVersion: "1.1" })],
  ["connect-json", createConnectTransport({ baseUrl: gatewayUrl, httpVersion: "1.1", useBinaryFormat: false })],
];

test("authorization and the deadline reach the upstream unchanged; a dead replica is skipped", async () => {
  for (const [name, t] of transports()) {
    seen.length = 0;
    let header;
    const client = createClient(AccountsService, t);
    const res = await client.getNode({ nodeId: "n1" }, { headers: { authorization: "Bearer abc.def.ghi" }, timeoutMs: 4000, onHeader: (h) => (header = h) });
    assert.equal(res.nodeId, "n1", name);
    assert.equal(seen[0].auth, "Bearer abc.def.ghi", name);
    assert.ok(seen[0].timeoutMs > 3000 && seen[0].timeoutMs <= 4000, `${name}: ${seen[0].timeoutMs}`);
    assert.match(seen[0].xff, /127\.0\.0\.1/);
    assert.equal(header.get("x-upstream"), "fake", name);
  }
});

test("no authorization stays no authorization; no deadline gets the default", async () => {
  seen.length = 0;
  await createClient(AccountsService, transports()[0][1]).getNode({ nodeId: "n2" });
  assert.equal(seen[0].auth, null);
  assert.ok(seen[0].timeoutMs > 55000 && seen[0].timeoutMs <= 60000, String(seen[0].timeoutMs));
});

test("status code, message and metadata pass through", async () => {
  for (const [name, t] of transports()) {
    const err = await createClient(AccountsService, t).getAccount({ accountId: "zz" }).then(() => null, (e) => ConnectError.from(e));
    assert.equal(err.code, Code.NotFound, name);
    assert.equal(err.rawMessage, 'account_id: "zz" not found', name);
    assert.equal(err.metadata.get("x-reason"), "missing", name);
  }
});

test("an expiring deadline ends the call with deadline_exceeded", async () => {
  const err = await createClient(AccountsService, transports()[0][1]).listNodes({}, { timeoutMs: 50 }).then(() => null, (e) => ConnectError.from(e));
  assert.equal(err.code, Code.DeadlineExceeded);
});

test("methods that are not forwarded are unimplemented/404", async () => {
  const res = await fetch(`${gatewayUrl}/egress.v1.CollectorService/Connect`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" } });
  assert.notEqual(res.status, 200);
});

test("all replicas down: unavailable with the reason", async () => {
  const { server } = createGateway({ upstreams: ["127.0.0.1:1", "127.0.0.1:2"] });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  try {
    const client = createClient(AccountsService, createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${server.address().port}`, httpVersion: "1.1" }));
    const err = await client.getNode({ nodeId: "x" }).then(() => null, (e) => ConnectError.from(e));
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.rawMessage, /no service replica reachable/);
  } finally {
    server.close();
    server.closeAllConnections();
  }
});

// A listening socket that never accepts, its accept queue filled: the kernel
// drops new SYNs, so a connect hangs as it does to a host or container that
// vanished (no reset comes back). perl-base is part of every Debian system.
async function silentListener() {
  const child = spawn(
    "perl",
    ["-MIO::Socket::INET", "-e", '$| = 1; my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0") or die "listen: $!"; print $s->sockport, "\\n"; sleep 600'],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const port = await new Promise((resolve, reject) => {
    child.stdout.once("data", (d) => resolve(Number(String(d).trim())));
    child.once("exit", (code) => reject(new Error(`perl listener exited with ${code}`)));
  });
  const held = [];
  for (let filled = false; !filled; ) {
    assert.ok(held.length < 16, "the accept queue never filled");
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => {});
    filled = !(await new Promise((resolve) => {
      socket.once("connect", () => resolve(true));
      setTimeout(() => resolve(false), 300);
    }));
    if (filled) socket.destroy();
    else held.push(socket);
  }
  return {
    address: `127.0.0.1:${port}`,
    close() {
      for (const socket of held) socket.destroy();
      child.kill();
    },
  };
}

test("a replica that never answers a connect is skipped after the connect timeout", async () => {
  const silent = await silentListener();
  const { server, pool } = createGateway({ upstreams: [silent.address, upstreamAddress], upstreamConnectTimeoutMs: 300 });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  try {
    const client = createClient(AccountsService, createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${server.address().port}`, httpVersion: "1.1" }));
    // Without the connect timeout the first call would wait for its whole
    // deadline on the silent replica and fail.
    for (let i = 0; i < 6; i++) {
      const res = await client.getNode({ nodeId: `s${i}` }, { timeoutMs: 3000 });
      assert.equal(res.nodeId, `s${i}`);
    }
    const [dead, live] = pool.replicas;
    assert.ok(dead.failures >= 1, `failures ${dead.failures}`);
    assert.match(dead.lastError, /timed out after 300 ms/);
    assert.equal(live.calls, 6);
    // Streams pick their replica the same way.
    const streams = new UpstreamPool([silent.address, upstreamAddress], { connectTimeoutMs: 300 });
    try {
      for (let i = 0; i < 2; i++) assert.equal((await streams.acquire()).address, upstreamAddress);
    } finally {
      streams.close();
    }
  } finally {
    server.close();
    server.closeAllConnections();
    silent.close();
  }
});

test("the background probe puts a dead replica last and a revived one first", async () => {
  const healthy = () => createH2Server(connectNodeAdapter({ grpc: true, routes: (router) => router.service(Health, { check: () => ({ status: 1 }) }) }));
  const steady = healthy();
  await new Promise((r) => steady.listen(0, "127.0.0.1", r));
  // A replica that will come back on its port, closed for now.
  const revived = healthy();
  await new Promise((r) => revived.listen(0, "127.0.0.1", r));
  const port = revived.address().port;
  await new Promise((r) => revived.close(r));
  const pool = new UpstreamPool([`127.0.0.1:${port}`, `127.0.0.1:${steady.address().port}`], { probeIntervalMs: 100, connectTimeoutMs: 300 });
  const waitFor = async (what, predicate) => {
    for (let i = 0; i < 100 && !predicate(); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(predicate(), what);
  };
  try {
    const [comeback, other] = pool.replicas;
    await waitFor("the closed replica is marked down", () => comeback.failuresInARow >= 1);
    for (let i = 0; i < 4; i++) assert.equal(pool.order()[0], other, "the down replica goes last");
    await new Promise((r) => revived.listen(port, "127.0.0.1", r));
    await waitFor("the revived replica is marked up", () => comeback.failuresInARow === 0);
    assert.deepEqual(new Set([pool.order()[0], pool.order()[0]]), new Set([comeback, other]), "round-robin again");
    assert.equal(other.failures, 0);
  } finally {
    pool.close();
    steady.close();
    revived.close();
  }
});

test("parseUpstreams and isConnectRefused", () => {
  assert.deepEqual(parseUpstreams("a:1, [::1]:50051,b.example:2"), ["a:1", "[::1]:50051", "b.example:2"]);
  assert.throws(() => parseUpstreams(""), /at least one/);
  assert.throws(() => parseUpstreams("nohost"), /not host:port/);
  assert.throws(() => parseUpstreams("a:70000"), /not host:port/);
  assert.equal(isConnectRefused({ message: "x", cause: { code: "ECONNREFUSED" } }), true);
  assert.equal(isConnectRefused(new Error("[internal] boom")), false);
});

test("CORS only for the configured origins", async () => {
  const pre = await fetch(`${gatewayUrl}/egress.v1.AccountsService/GetNode`, {
    method: "OPTIONS",
    headers: { origin: "https://panel.example.net", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type,x-grpc-web" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "https://panel.example.net");
  assert.match(pre.headers.get("access-control-allow-headers"), /authorization/);
  const call = await fetch(`${gatewayUrl}/egress.v1.AccountsService/GetNode`, {
    method: "POST",
    headers: { origin: "https://panel.example.net", "content-type": "application/json" },
    body: JSON.stringify({ nodeId: "n9" }),
  });
  assert.equal(call.status, 200);
  assert.equal(call.headers.get("access-control-allow-origin"), "https://panel.example.net");
  const other = await fetch(`${gatewayUrl}/egress.v1.AccountsService/GetNode`, {
    method: "OPTIONS",
    headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
  });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
});
