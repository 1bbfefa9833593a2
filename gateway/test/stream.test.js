// The gateway's server-streaming path with a fake upstream: messages are
// forwarded one by one as they come (not buffered until the end), in order,
// and an error after some messages arrives with its code and message.
import assert from "node:assert/strict";
import { createServer as createH2Server } from "node:http2";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { StreamTestService } from "../gen/egress/test/v1/stream_pb.js";
import { createGateway } from "../src/gateway.js";
import { setLogLevel } from "../src/log.js";

setLogLevel("error");
let upstream, gateway, url;

before(async () => {
  upstream = createH2Server(
    connectNodeAdapter({
      grpc: true,
      routes(router) {
        router.service(StreamTestService, {
          async *count(req) {
            for (let n = 1; n <= req.upTo; n++) {
              yield { n };
              if (n === 1) await new Promise((r) => setTimeout(r, 400));
            }
            if (req.failWith) throw new ConnectError(`failed after ${req.upTo}`, req.failWith);
          },
        });
      },
    }),
  );
  await new Promise((r) => upstream.listen(0, "127.0.0.1", r));
  ({ server: gateway } = createGateway({ upstreams: [`127.0.0.1:${upstream.address().port}`], services: [StreamTestService] }));
  await new Promise((r) => gateway.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${gateway.address().port}`;
});

after(() => {
  gateway.close();
  gateway.closeAllConnections();
  upstream.close();
});

for (const [name, make] of [
  ["grpc-web", () => createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" })],
  ["connect", () => createConnectTransport({ baseUrl: url, httpVersion: "1.1" })],
]) {
  test(`${name}: messages stream through one by one`, async () => {
    const client = createClient(StreamTestService, make());
    const t0 = performance.now();
    const seen = [];
    for await (const res of client.count({ upTo: 3 })) seen.push({ n: res.n, at: performance.now() - t0 });
    assert.deepEqual(seen.map((s) => s.n), [1, 2, 3]);
    assert.ok(seen[0].at < 350, `first message after ${seen[0].at} ms: buffered?`);
    assert.ok(seen[1].at >= 390, `second message after ${seen[1].at} ms`);
  });

  test(`${name}: an error after messages keeps its code and message`, async () => {
    const client = createClient(StreamTestService, make());
    const seen = [];
    const err = await (async () => {
      for await (const res of client.count({ upTo: 2, failWith: Code.ResourceExhausted })) seen.push(res.n);
    })().then(() => null, (e) => ConnectError.from(e));
    assert.deepEqual(seen, [1, 2]);
    assert.equal(err?.code, Code.ResourceExhausted);
    assert.equal(err.rawMessage, "failed after 2");
  });
}
