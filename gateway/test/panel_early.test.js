// boot.js's hand-built first request is byte for byte what connect sends,
// and the transport takes its response once, falling back when it failed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { ListDatesRequestSchema } from "../gen/egress/v1/connections_pb.js";
import { fetchWithEarly, kListDatesPath, listDatesBody, sendEarly } from "../panel/src/early.js";

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

test("sendEarly: nothing without an account or a token; the token in authorization", async () => {
  assert.equal(sendEarly({ accountId: "", token: "t", apiBase: "https://x" }, () => assert.fail()), null);
  assert.equal(sendEarly({ accountId: "a", token: "", getToken: null, apiBase: "https://x" }, () => assert.fail()), null);
  const seen = [];
  const early = sendEarly({ accountId: "alice", token: "", getToken: async () => "fresh", apiBase: "https://gw.example.net/" }, async (url, init) => (seen.push([url, init]), "response"));
  assert.equal(await early.response, "response");
  assert.equal(seen[0][0], `https://gw.example.net${kListDatesPath}`);
  assert.equal(seen[0][1].headers.authorization, "Bearer fresh");
  assert.equal(seen[0][1].headers["content-type"], "application/grpc-web+proto");
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
});
