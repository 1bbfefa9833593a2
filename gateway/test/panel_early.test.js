// boot.js's hand-built first requests are byte for byte what connect sends,
// and the transport takes each response once, falling back when it failed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { ListConnectionsRequestSchema, ListDatesRequestSchema } from "../gen/egress/v1/connections_pb.js";
import { fetchWithEarly, kListConnectionsPath, kListDatesPath, listDatesBody, requestBody, sendEarly } from "../panel/src/early.js";

const frame = (msg) => {
  const out = new Uint8Array(5 + msg.length);
  new DataView(out.buffer).setUint32(1, msg.length);
  out.set(msg, 5);
  return out;
};

test("the ListDates body is the protobuf encoding in a gRPC-web frame", () => {
  for (const id of ["alice", "u1234", "", "ü-ß-账户", "x".repeat(200)]) {
    assert.deepEqual(listDatesBody(id), frame(toBinary(ListDatesRequestSchema, create(ListDatesRequestSchema, { accountId: id }))), id);
  }
});

test("the newest day's ListConnections body is the protobuf encoding in a gRPC-web frame", () => {
  for (const id of ["alice", "", "ü-ß-账户", "x".repeat(200)]) {
    for (const pageSize of [0, 25, 100, 127, 128, 1000]) {
      const want = frame(toBinary(ListConnectionsRequestSchema, create(ListConnectionsRequestSchema, { accountId: id, pageSize })));
      assert.deepEqual(requestBody(id, pageSize), want, `${id} ${pageSize}`);
    }
  }
});

test("sendEarly: nothing without an account or a token; the token in authorization", async () => {
  assert.equal(sendEarly({ accountId: "", token: "t", apiBase: "https://x" }, () => assert.fail()), null);
  assert.equal(sendEarly({ accountId: "a", token: "", getToken: null, apiBase: "https://x" }, () => assert.fail()), null);
  const seen = [];
  let tokens = 0;
  const early = sendEarly({ accountId: "alice", token: "", getToken: async () => (tokens++, "fresh"), apiBase: "https://gw.example.net/" }, async (url, init) => (seen.push([url, init]), `response ${url}`), 25);
  assert.equal(early.length, 2);
  assert.equal(await early[0].response, `response https://gw.example.net${kListDatesPath}`);
  assert.equal(await early[1].response, `response https://gw.example.net${kListConnectionsPath}`);
  assert.equal(tokens, 1, "one token for both calls");
  assert.deepEqual(early[1].body, requestBody("alice", 25));
  for (const [, init] of seen) {
    assert.equal(init.headers.authorization, "Bearer fresh");
    assert.equal(init.headers["content-type"], "application/grpc-web+proto");
  }
});

test("fetchWithEarly: the same request once gets the early response; a failed early one is sent again", async () => {
  const body = listDatesBody("alice");
  const url = `https://gw${kListDatesPath}`;
  const calls = [];
  const real = async (u) => (calls.push(u), "fresh");
  let f = fetchWithEarly({ url, body, response: Promise.resolve("early") }, real);
  assert.equal(await f(url, { body: listDatesBody("bob") }), "fresh"); // another body
  assert.equal(await f(url, { body: listDatesBody("alice") }), "early");
  assert.equal(await f(url, { body: listDatesBody("alice") }), "fresh"); // only once
  f = fetchWithEarly({ url, body, response: Promise.reject(new Error("offline")) }, real);
  assert.equal(await f(url, { body }), "fresh");
  f = fetchWithEarly(null, real);
  assert.equal(await f(url, { body }), "fresh");
  assert.equal(calls.length, 4);
  // Several early requests: each taken once, by its own URL and body.
  const listUrl = `https://gw${kListConnectionsPath}`;
  const listBody = requestBody("alice", 100);
  f = fetchWithEarly(
    [
      { url, body, response: Promise.resolve("early dates") },
      { url: listUrl, body: listBody, response: Promise.resolve("early rows") },
    ],
    real,
  );
  assert.equal(await f(listUrl, { body: requestBody("alice", 25) }), "fresh"); // another page size
  assert.equal(await f(listUrl, { body: listBody }), "early rows");
  assert.equal(await f(url, { body }), "early dates");
  assert.equal(await f(listUrl, { body: listBody }), "fresh");
  assert.equal(calls.length, 6);
});
