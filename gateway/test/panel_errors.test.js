import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { describeError, fieldOf, Op } from "../panel/src/errors.js";
import { createI18n } from "../panel/src/i18n.js";

const err = (code, msg) => new ConnectError(msg, code);

test("the service's refusals become customer wording, by operation", () => {
  const en = createI18n("en");
  const say = (e, op) => {
    const d = describeError(e, op);
    return en.t(d.key, d.params);
  };
  const dup = err(Code.AlreadyExists, "destination: 203.0.113.7/32 tcp port 25 is already blocked by rule 28");
  assert.deepEqual(describeError(dup, Op.block).params, { rule: "28" });
  assert.match(say(dup, Op.block), /already blocked/);
  assert.doesNotMatch(say(dup, Op.block), /rule 28|destination:|\/32/);
  assert.equal(describeError(dup, Op.block).detail, "destination: 203.0.113.7/32 tcp port 25 is already blocked by rule 28");
  assert.equal(say(err(Code.ResourceExhausted, "the account already has 10000 block rules, the most allowed (10000); delete some first"), Op.block), "You have reached the limit of 10,000 blocked destinations. Delete some rules first.");
  assert.match(say(err(Code.FailedPrecondition, "Outgoing connections are blocked because ..."), Op.allowAll), /antivirus found malicious code/);
  assert.match(say(err(Code.NotFound, "rule_ids[0]: no rule 12"), Op.unblock), /no longer exists/);
  assert.match(say(err(Code.NotFound, "account alice"), Op.load), /not available for this account/);
  assert.match(say(err(Code.Unauthenticated, "send the metadata authorization: Bearer <token>"), Op.load), /session has ended/);
  assert.doesNotMatch(say(err(Code.Unauthenticated, "send the metadata authorization: Bearer <token>"), Op.load), /metadata|Bearer|token/);
  assert.match(say(err(Code.InvalidArgument, "port: must be 0..65535"), Op.block), /1 to 65535/);
  assert.match(say(err(Code.InvalidArgument, "note: is longer than 1000 characters"), Op.note), /note is too long/);
  assert.equal(describeError(err(Code.InvalidArgument, "page_token: was issued for other filters"), Op.load).key, "err.pageExpired");
  assert.match(say(err(Code.Internal, "pqxx: relation does not exist"), Op.load), /went wrong on our side/);
  assert.equal(describeError(new Error("fetch failed")).key, "err.internal");
});

test("fieldOf reads the field the service names first", () => {
  assert.equal(fieldOf("destination: bad"), "destination");
  assert.equal(fieldOf("rule_ids[3]: unknown"), "rule_ids");
  assert.equal(fieldOf("threats[7].path: empty"), "threats");
  assert.equal(fieldOf("no field here"), "");
});
