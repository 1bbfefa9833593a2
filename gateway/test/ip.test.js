import assert from "node:assert/strict";
import { test } from "node:test";
import { destinationError, filterError, filterReady, parseIp, portError } from "../panel/src/ip.js";

test("parseIp", () => {
  for (const ok of ["1.2.3.4", "0.0.0.0", "255.255.255.255", "::", "::1", "2001:db8::5", "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4", "fe80::1:2"]) assert.ok(parseIp(ok), ok);
  for (const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "1::2::3", "1:2:3:4:5:6:7:8:9", "abc", "", "1.2.3.4.5", "2001:db8:::1"]) assert.equal(parseIp(bad), null, bad);
});

test("destinationError", () => {
  for (const ok of ["203.0.113.7", "203.0.113.0/24", "0.0.0.0/0", "2001:db8::/32", "2001:db8::5/128"]) assert.equal(destinationError(ok), "", ok);
  assert.match(destinationError(""), /Enter an IP/);
  assert.match(destinationError("300.1.1.1"), /not an IPv4 or IPv6/);
  assert.match(destinationError("203.0.113.7/24"), /host bits/);
  assert.match(destinationError("203.0.113.0/33"), /0\.\.32/);
  assert.match(destinationError("1.2.3.4/8/9"), /not an IP/);
});

test("portError", () => {
  assert.equal(portError(""), "");
  assert.equal(portError("443"), "");
  for (const bad of ["0", "65536", "-1", "8o", "1.5"]) assert.notEqual(portError(bad), "", bad);
});

test("filter", () => {
  for (const ok of ["", "203.", "203.0.113.7", "2001:db8:", "203.0.113.0/24"]) assert.equal(filterError(ok), "", ok);
  assert.notEqual(filterError("example.com"), "");
  assert.notEqual(filterError("1.2/8"), "");
  assert.equal(filterReady("203.0.113.0/"), false);
  assert.equal(filterReady("203.0.113.0/24"), true);
});
