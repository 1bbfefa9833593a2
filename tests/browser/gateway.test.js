// The gateway against the real egress-service on a real PostgreSQL: static
// files, /healthz, AccountsService forwarded over Connect JSON (as curl
// would), Connect binary and gRPC-web, status codes and messages passed
// through unchanged (compared with the same call made directly), deadlines,
// and a dead replica skipped.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gatewayDir, makeTempDir, startGateway, startPostgres, startService, stopProcess, writeSecret } from "./lib/stack.js";
import { clients, signToken } from "./lib/seed.js";

const { createClient, ConnectError, Code } = await import(join(gatewayDir, "node_modules/@connectrpc/connect/dist/esm/index.js"));
const { createConnectTransport, createGrpcWebTransport } = await import(join(gatewayDir, "node_modules/@connectrpc/connect-node/dist/esm/index.js"));
const { AccountsService } = await import(join(gatewayDir, "gen/egress/v1/accounts_pb.js"));

let root, pg, service, gateway, api, secret;

before(async () => {
  root = makeTempDir("gateway");
  pg = await startPostgres(root);
  secret = writeSecret(root);
  service = await startService({ conninfo: pg.conninfo, secretFile: secret.file, logFile: join(root, "service.log") });
  // The first replica is a port nobody listens on: it must be skipped.
  gateway = await startGateway({ upstreams: ["127.0.0.1:1", service.address], extraArgs: ["--metrics-listen=127.0.0.1:0"] });
  api = clients(service.address, secret.secret);
});

after(async () => {
  await stopProcess(gateway?.child);
  await stopProcess(service?.child);
  await stopProcess(pg?.child);
});

const admin = () => `Bearer ${signToken({ secret: secret.secret, subject: "tests", scopes: ["admin"] })}`;

async function connectJson(method, body, headers = {}) {
  const res = await fetch(`${gateway.url}/egress.v1.AccountsService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: admin(), ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describe("static files", () => {
  test("index.html, hashed assets, caching headers, 304", async () => {
    const index = await fetch(`${gateway.url}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get("content-type"), /text\/html/);
    assert.equal(index.headers.get("cache-control"), "no-cache");
    const html = await index.text();
    assert.match(html, /<main id="egress-panel">/);
    const js = /src="\/(app-[A-Z0-9]+\.js)"/.exec(html)[1];
    const asset = await fetch(`${gateway.url}/${js}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get("content-type"), /javascript/);
    assert.match(asset.headers.get("cache-control"), /immutable/);
    // fetch asks for gzip: the precompressed copy comes back, decoded by fetch.
    assert.equal(asset.headers.get("content-encoding"), "gzip");
    assert.match(asset.headers.get("vary"), /Accept-Encoding/);
    const body = await asset.text();
    assert.ok(body.length > 10000 && body.includes("Outgoing connections"));
    const plain = await fetch(`${gateway.url}/${js}`, { headers: { "accept-encoding": "identity" } });
    assert.equal(plain.headers.get("content-encoding"), null);
    assert.equal(await plain.text(), body);
    const etag = asset.headers.get("etag");
    assert.ok(etag);
    const again = await fetch(`${gateway.url}/${js}`, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
  });

  test("no path traversal, no dot-files", async () => {
    for (const path of ["/../package.json", "/%2e%2e/package.json", "/..%2fpackage.json", "/%2e%2e%2f%2e%2e%2fetc/passwd", "/.hidden", "/..\\package.json", "/%00index.html", "/nope.html"]) {
      const res = await fetch(`${gateway.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.doesNotMatch(await res.text(), /egress-gateway|root:/, path);
    }
    const post = await fetch(`${gateway.url}/index.html`, { method: "POST" });
    assert.equal(post.status, 405);
  });
});

test("/healthz reports the serving replica and the dead one", async () => {
  const res = await fetch(`${gateway.url}/healthz`);
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.status, "ok");
  const byAddress = Object.fromEntries(body.replicas.map((r) => [r.address, r]));
  assert.equal(byAddress[service.address].serving, true);
  assert.equal(byAddress["127.0.0.1:1"].serving, false);
});

describe("AccountsService through the gateway", () => {
  test("Connect JSON (what curl sends) creates and reads a node", async () => {
    const put = await connectJson("UpsertNode", { node: { nodeId: "gw-node", serverIpv4: "198.51.100.9", exemptNetworks: ["10.0.0.0/8"] } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.nodeId, "gw-node");
    const got = await connectJson("GetNode", { nodeId: "gw-node" });
    assert.equal(got.status, 200);
    assert.equal(got.body.serverIpv4, "198.51.100.9");
    assert.deepEqual(got.body.exemptNetworks, ["10.0.0.0/8"]);
    // And it is really in PostgreSQL.
    assert.deepEqual(pg.sql("SELECT server_ipv4 FROM nodes WHERE node_id = 'gw-node'"), [["198.51.100.9"]]);
  });

  test("gRPC-web and Connect binary clients", async () => {
    for (const transport of [createGrpcWebTransport({ baseUrl: gateway.url, httpVersion: "1.1" }), createConnectTransport({ baseUrl: gateway.url, httpVersion: "1.1" })]) {
      const client = createClient(AccountsService, transport);
      const acc = await client.upsertAccount({ account: { accountId: "gw-acc", nodeId: "gw-node", uid: 3001 } }, { headers: { authorization: admin() } });
      assert.equal(acc.uid, 3001);
      const list = await client.listAccounts({ nodeId: "gw-node" }, { headers: { authorization: admin() } });
      assert.deepEqual(list.accounts.map((a) => a.accountId), ["gw-acc"]);
    }
  });

  test("status codes and messages pass through unchanged", async () => {
    const gw = createClient(AccountsService, createGrpcWebTransport({ baseUrl: gateway.url, httpVersion: "1.1" }));
    const cases = [
      ["getAccount", { accountId: "no-such-account" }, { authorization: admin() }],
      ["upsertNode", { node: { nodeId: "Bad Id!" } }, { authorization: admin() }],
      ["upsertAccount", { account: { accountId: "x1", nodeId: "no-such-node", uid: 5 } }, { authorization: admin() }],
      ["getAccount", { accountId: "gw-acc" }, {}],
      ["getAccount", { accountId: "gw-acc" }, { authorization: "Bearer not-a-token" }],
    ];
    for (const [method, req, headers] of cases) {
      const outcome = async (client) => {
        try {
          await client[method](req, { headers });
          return { code: "ok" };
        } catch (err) {
          const e = ConnectError.from(err);
          return { code: Code[e.code], message: e.rawMessage };
        }
      };
      const direct = await outcome(api.accounts);
      const via = await outcome(gw);
      assert.deepEqual(via, direct, `${method} ${JSON.stringify(req)}`);
    }
    // The Connect JSON error body carries the same code and message.
    const nf = await connectJson("GetAccount", { accountId: "no-such-account" });
    assert.equal(nf.status, 404);
    assert.equal(nf.body.code, "not_found");
    assert.ok(nf.body.message.length > 0);
  });

  test("the caller's deadline reaches the service", async () => {
    const gw = createClient(AccountsService, createGrpcWebTransport({ baseUrl: gateway.url, httpVersion: "1.1" }));
    await assert.rejects(
      gw.listNodes({}, { headers: { authorization: admin() }, timeoutMs: 1 }),
      (err) => ConnectError.from(err).code === Code.DeadlineExceeded,
    );
    // A generous deadline works.
    const ok = await gw.listNodes({}, { headers: { authorization: admin() }, timeoutMs: 5000 });
    assert.ok(ok.nodes.some((n) => n.nodeId === "gw-node"));
  });
});

// One series of the Prometheus text format ("name" or 'name{a="x",b="y"}'), or undefined.
function sample(text, series) {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("/metrics on a listener of its own counts calls and requests exactly", async () => {
  let m;
  for (let i = 0; i < 100 && !(m = /egress-gateway metrics on (\S+)/.exec(gateway.child.output)); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(m, gateway.child.output.slice(-2000));
  const scrape = async () => {
    const res = await fetch(m[1]);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
    return res.text();
  };
  const rpc = 'egress_gateway_rpc_requests_total{method="egress.v1.AccountsService/GetAccount",code="not_found"}';
  const rpcCount = 'egress_gateway_rpc_duration_seconds_count{method="egress.v1.AccountsService/GetAccount",code="not_found"}';
  const health = 'egress_gateway_http_requests_total{method="GET",status="200"}';
  const before = await scrape();
  for (let i = 0; i < 3; i++) assert.equal((await connectJson("GetAccount", { accountId: "no-such-account" })).status, 404);
  assert.equal((await fetch(`${gateway.url}/healthz`)).status, 200);
  const after = await scrape();
  assert.equal((sample(after, rpc) ?? 0) - (sample(before, rpc) ?? 0), 3, after);
  assert.equal((sample(after, rpcCount) ?? 0) - (sample(before, rpcCount) ?? 0), 3);
  assert.equal((sample(after, health) ?? 0) - (sample(before, health) ?? 0), 1);
  // A caller's mistake is not a replica failure.
  assert.equal(sample(after, 'egress_gateway_upstream_errors_total{upstream="' + service.address + '",code="not_found"}'), undefined);
  assert.ok(sample(after, "egress_gateway_process_resident_memory_bytes") > 0);
  // Only /metrics there, and never on the panel's public port.
  assert.equal((await fetch(m[1].replace(/\/metrics$/, "/healthz"))).status, 404);
  assert.equal((await fetch(`${gateway.url}/metrics`)).status, 404);
});

test("the gateway logs one line per call", async () => {
  await connectJson("GetNode", { nodeId: "gw-node" });
  await new Promise((r) => setTimeout(r, 100));
  const lines = gateway.child.output.split("\n").filter((l) => l.includes("method=egress.v1.AccountsService/GetNode"));
  assert.ok(lines.length >= 1, gateway.child.output.slice(-2000));
  assert.match(lines.at(-1), /^ts=\S+ level=info event=rpc method=\S+ protocol=connect code=ok ms=[\d.]+ upstream=127\.0\.0\.1:\d+/);
});

test("--help describes the flags", async () => {
  const { execFileSync } = await import("node:child_process");
  const out = execFileSync(process.execPath, [join(gatewayDir, "src", "main.js"), "--help"]).toString();
  for (const flag of ["--listen", "--upstream", "--static-dir", "--log-level"]) assert.match(out, new RegExp(flag));
  assert.ok(readFileSync(join(gatewayDir, "package-lock.json")));
});

// Test certificates: a CA, a server certificate for 127.0.0.1, a client certificate.
function makeCerts(dir) {
  const ossl = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ossl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=egress test CA");
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const name of ["server", "client"]) {
    ossl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=egress ${name}`);
    ossl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "1", "-extfile", `${name}.ext`);
  }
  return Object.fromEntries(["ca.pem", "server.pem", "server.key", "client.pem", "client.key"].map((f) => [f, join(dir, f)]));
}

describe("a service that requires TLS and client certificates", () => {
  let tlsService, tlsGateway, noCertGateway, certs;
  before(async () => {
    certs = makeCerts(root);
    tlsService = await startService({
      conninfo: pg.conninfo,
      secretFile: secret.file,
      extraArgs: [`--tls-cert-file=${certs["server.pem"]}`, `--tls-key-file=${certs["server.key"]}`, `--tls-client-ca-file=${certs["ca.pem"]}`],
    });
    tlsGateway = await startGateway({
      upstreams: [tlsService.address],
      extraArgs: [`--upstream-tls-ca-file=${certs["ca.pem"]}`, `--upstream-tls-cert-file=${certs["client.pem"]}`, `--upstream-tls-key-file=${certs["client.key"]}`],
    });
    noCertGateway = await startGateway({ upstreams: [tlsService.address], extraArgs: [`--upstream-tls-ca-file=${certs["ca.pem"]}`] });
  });
  after(async () => {
    await stopProcess(noCertGateway?.child);
    await stopProcess(tlsGateway?.child);
    await stopProcess(tlsService?.child);
  });

  test("the gateway speaks TLS with its client certificate", async () => {
    const client = createClient(AccountsService, createGrpcWebTransport({ baseUrl: tlsGateway.url, httpVersion: "1.1" }));
    const node = await client.getNode({ nodeId: "gw-node" }, { headers: { authorization: admin() } });
    assert.equal(node.serverIpv4, "198.51.100.9");
    const health = await (await fetch(`${tlsGateway.url}/healthz`)).json();
    assert.equal(health.status, "ok", JSON.stringify(health));
  });

  test("HTTPS towards the browser with --tls-cert-file", async () => {
    const https = await import("node:https");
    const httpsGateway = await startGateway({
      upstreams: [tlsService.address],
      extraArgs: [`--tls-cert-file=${certs["server.pem"]}`, `--tls-key-file=${certs["server.key"]}`, `--upstream-tls-ca-file=${certs["ca.pem"]}`, `--upstream-tls-cert-file=${certs["client.pem"]}`, `--upstream-tls-key-file=${certs["client.key"]}`],
    });
    try {
      assert.match(httpsGateway.url, /^https:/);
      const body = await new Promise((resolve, reject) => {
        const req = https.request(`${httpsGateway.url}/egress.v1.AccountsService/GetNode`, { method: "POST", ca: readFileSync(certs["ca.pem"]), headers: { "content-type": "application/json", authorization: admin() } }, (res) => {
          let data = "";
          res.on("data", (d) => (data += d));
          res.on("end", () => resolve({ status: res.statusCode, data }));
        });
        req.on("error", reject);
        req.end(JSON.stringify({ nodeId: "gw-node" }));
      });
      assert.equal(body.status, 200, body.data);
      assert.equal(JSON.parse(body.data).serverIpv4, "198.51.100.9");
    } finally {
      await stopProcess(httpsGateway.child);
    }
  });

  test("without a client certificate the service refuses it", async () => {
    const client = createClient(AccountsService, createGrpcWebTransport({ baseUrl: noCertGateway.url, httpVersion: "1.1" }));
    const err = await client.getNode({ nodeId: "gw-node" }, { headers: { authorization: admin() }, timeoutMs: 5000 }).then(() => null, (e) => ConnectError.from(e));
    assert.ok(err, "the call went through without a client certificate");
    assert.equal((await fetch(`${noCertGateway.url}/healthz`)).status, 503);
  });
});
