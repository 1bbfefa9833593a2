// POST /export/connections.csv with a fake upstream ConnectionsService: the
// form becomes the ExportConnections request with the token as bearer, the
// chunks stream to the download one by one (the first before the upstream
// has sent the last), errors before the first byte become HTTP statuses,
// and an error after it aborts the download instead of ending it short.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { createServer as createH2Server } from "node:http2";
import { after, before, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ConnectionsService } from "../gen/egress/v1/connections_pb.js";
import { exportFileName, exportRequestFromForm } from "../src/export.js";
import { createGateway } from "../src/gateway.js";
import { setLogLevel } from "../src/log.js";

setLogLevel("error");
let upstream, gateway, url;
const seen = [];
// When the fake upstream sent its second chunk (performance.now()).
let secondSentAt = 0;
// Chunks the "flood" export has handed to the transport so far.
let flooded = 0;
const kFloodChunks = 1000;
const kFloodChunkBytes = 64 * 1024;

before(async () => {
  upstream = createH2Server(
    connectNodeAdapter({
      grpc: true,
      routes(router) {
        router.service(ConnectionsService, {
          async *exportConnections(req, ctx) {
            seen.push({ req, auth: ctx.requestHeader.get("authorization") });
            if (req.accountId === "other") throw new ConnectError("account \"other\" is not yours", Code.PermissionDenied);
            if (req.ipFilter === "flood") {
              const chunk = { csv: new Uint8Array(kFloodChunkBytes).fill(0x41), rows: 1 };
              for (flooded = 0; flooded < kFloodChunks; flooded++) yield chunk;
              return;
            }
            if (req.ipFilter === "abc") throw new ConnectError("ip_filter: \"abc\" is neither ...", Code.InvalidArgument);
            const enc = new TextEncoder();
            yield { csv: enc.encode("date,ip\r\n2026-03-10,10.0.0.1\r\n"), rows: 1 };
            await new Promise((r) => setTimeout(r, 1000));
            secondSentAt = performance.now();
            yield { csv: enc.encode("2026-03-10,10.0.0.2\r\n"), rows: 1 };
            if (req.ipFilter === "10.") throw new ConnectError("the database is unavailable", Code.Unavailable);
          },
        });
      },
    }),
  );
  await new Promise((r) => upstream.listen(0, "127.0.0.1", r));
  ({ server: gateway } = createGateway({ upstreams: [`127.0.0.1:${upstream.address().port}`], services: [ConnectionsService] }));
  await new Promise((r) => gateway.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${gateway.address().port}`;
});

after(() => {
  gateway.close();
  gateway.closeAllConnections();
  upstream.close();
});

// POSTs the form; resolves with status, headers, the body's pieces with
// their arrival times, and whether the response ended cleanly.
function post(fields) {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams(fields).toString();
    const t0 = performance.now();
    const req = httpRequest(`${url}/export/connections.csv`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" } }, (res) => {
      const pieces = [];
      let ended = false;
      res.on("data", (d) => pieces.push({ text: d.toString(), at: performance.now() - t0, when: performance.now() }));
      res.on("end", () => (ended = true));
      res.on("close", () => resolve({ status: res.statusCode, headers: res.headers, pieces, text: pieces.map((p) => p.text).join(""), ended: ended && res.complete }));
      res.on("error", () => {});
    });
    req.on("error", reject);
    req.end(body);
  });
}

const form = { token: "tok-123", account_id: "alice", date: "2026-03-10", ip_filter: "", action: "2", order_by: "2", reverse: "1", bom: "1" };

test("the form becomes the request; chunks stream to a named download", async () => {
  const res = await post(form);
  assert.equal(res.status, 200);
  assert.equal(res.headers["content-type"], "text/csv; charset=utf-8");
  assert.equal(res.headers["content-disposition"], 'attachment; filename="egress-alice-2026-03-10.csv"');
  assert.equal(res.headers["cache-control"], "no-store");
  assert.equal(res.text, "date,ip\r\n2026-03-10,10.0.0.1\r\n2026-03-10,10.0.0.2\r\n");
  assert.ok(res.ended);
  assert.ok(res.pieces[0].when < secondSentAt, "the first chunk reached the browser only after the upstream sent the second: buffered?");
  const last = seen.at(-1);
  assert.equal(last.auth, "Bearer tok-123");
  assert.equal(last.req.accountId, "alice");
  assert.deepEqual([last.req.date.year, last.req.date.month, last.req.date.day], [2026, 3, 10]);
  assert.equal(last.req.action, 2);
  assert.equal(last.req.orderBy, 2);
  assert.equal(last.req.reverse, true);
  assert.equal(last.req.utf8Bom, true);
});

test("refusals before the first byte are HTTP statuses with the service's message", async () => {
  const denied = await post({ ...form, account_id: "other" });
  assert.equal(denied.status, 403);
  assert.match(denied.text, /PermissionDenied: account &quot;other&quot; is not yours/);
  const bad = await post({ ...form, ip_filter: "abc" });
  assert.equal(bad.status, 400);
  assert.match(bad.text, /ip_filter:/);
});

test("an error midway aborts the download instead of ending it short", async () => {
  const res = await post({ ...form, ip_filter: "10." });
  assert.equal(res.status, 200);
  assert.equal(res.ended, false);
});

test("a browser that stops reading holds the upstream back (no buffering in the gateway)", async () => {
  // The gateway's own response object for this download: what it has
  // written but the socket has not taken yet is its buffering.
  let gatewayRes = null;
  const spy = (req, res) => {
    if (req.url === "/export/connections.csv") gatewayRes = res;
  };
  gateway.on("request", spy);
  let buffered = 0;
  const sampler = setInterval(() => (buffered = Math.max(buffered, gatewayRes?.writableLength ?? 0)), 5);
  try {
    const body = new URLSearchParams({ ...form, ip_filter: "flood" }).toString();
    const res = await new Promise((resolve, reject) => {
      const req = httpRequest(`${url}/export/connections.csv`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" } }, resolve);
      req.on("error", reject);
      req.end(body);
    });
    res.pause();
    await new Promise((r) => setTimeout(r, 1000));
    const ahead = flooded;
    let bytes = 0;
    res.on("data", (b) => (bytes += b.length));
    res.resume();
    await new Promise((r) => res.on("end", r));
    assert.equal(bytes, kFloodChunks * kFloodChunkBytes);
    // One chunk over the stream's high-water mark at most, however long the
    // browser stalls (a gateway that ignored `drain` held tens of MiB here).
    assert.ok(buffered <= 2 * kFloodChunkBytes, `the gateway buffered ${buffered} bytes for a paused browser`);
    process.stdout.write(`# paused browser: gateway buffered at most ${buffered} bytes; ${ahead} chunks were in kernel and HTTP/2 buffers\n`);
  } finally {
    clearInterval(sampler);
    gateway.off("request", spy);
  }
});

test("GET is refused; file names keep only safe characters", async () => {
  const res = await fetch(`${url}/export/connections.csv`);
  assert.equal(res.status, 405);
  const req = exportRequestFromForm(new URLSearchParams({ account_id: 'a"b\r\nc', date: "2026-3-1" }));
  assert.deepEqual(req.date, { year: 0, month: 0, day: 0 });
  assert.equal(exportFileName(req), "egress-a_b__c-day.csv");
});
