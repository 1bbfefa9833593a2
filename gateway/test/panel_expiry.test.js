// Temporary blocks in the panel, the pure parts: what each "Block for"
// choice sends, what is refused before sending, how the time left reads in
// each language, and the service's refusal in the customer's words.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { expiryMs, kMaxExpiryMs } from "../panel/src/block_ip_dialog.js";
import { describeError, Op } from "../panel/src/errors.js";
import { createI18n } from "../panel/src/i18n.js";

test("each choice of the Block IP dialog gives an expiry, or a problem to show", () => {
  const now = Date.UTC(2026, 11, 7, 12, 0, 0);
  assert.equal(expiryMs("never", "", now), null);
  assert.equal(expiryMs("1h", "", now), now + 3600e3);
  assert.equal(expiryMs("1d", "", now), now + 86400e3);
  assert.equal(expiryMs("7d", "", now), now + 7 * 86400e3);
  const tomorrow = new Date(now + 86400e3);
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  assert.equal(expiryMs("date", local(tomorrow), now), Math.floor(tomorrow.getTime() / 60000) * 60000);
  assert.deepEqual(expiryMs("date", "", now), { problem: "blockIp.expiryMissing" });
  assert.deepEqual(expiryMs("date", local(new Date(now - 60000)), now), { problem: "blockIp.expiryPast" });
  assert.deepEqual(expiryMs("date", local(new Date(now + kMaxExpiryMs + 120000)), now), { problem: "blockIp.expiryTooFar" });
});

test("the time left reads naturally in every language", () => {
  const en = createI18n("en");
  assert.equal(en.inTime(3120), "in 52 minutes");
  assert.equal(en.inTime(59.2), "in 1 minute");
  assert.equal(en.inTime(29.5), "in 30 seconds");
  assert.equal(en.inTime(3 * 3600), "in 3 hours");
  assert.equal(en.inTime(5 * 86400), "in 5 days");
  assert.equal(createI18n("uk").inTime(3120), "через 52 хвилини");
  assert.equal(createI18n("ru").inTime(3120), "через 52 минуты");
});

test("a refused expiry is worded for the customer", () => {
  const err = new ConnectError("expire_time: must be in the future; 2020-01-01T00:00:00Z has passed", Code.InvalidArgument);
  assert.equal(describeError(err, Op.block).key, "err.badExpiry");
});
