import assert from "node:assert/strict";
import { test } from "node:test";
import { catchAllFamily, destinationProblem, filterKind, filterNotice, filterProblem, filterReady, formatIp, hostOf, isHost, parseIp, parseNetwork, portProblem } from "../panel/src/ip.js";

const key = (p) => p?.key ?? null;

test("parseIp", () => {
  for (const ok of ["1.2.3.4", "0.0.0.0", "255.255.255.255", "::", "::1", "2001:db8::5", "1:2:3:4:5:6:7:8", "::ffff:1.2.3.4", "fe80::1:2"]) assert.ok(parseIp(ok), ok);
  for (const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "1::2::3", "1:2:3:4:5:6:7:8:9", "abc", "", "1.2.3.4.5", "2001:db8:::1"]) assert.equal(parseIp(bad), null, bad);
});

test("formatIp is the canonical text", () => {
  for (const [text, canon] of [["2001:0db8:0:0:0:0:0:5", "2001:db8::5"], ["0:0:0:0:0:0:0:0", "::"], ["1:0:0:2:0:0:0:3", "1:0:0:2::3"], ["203.0.113.7", "203.0.113.7"], ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"]]) {
    assert.equal(formatIp(parseIp(text)), canon, text);
  }
});

test("destinationProblem", () => {
  for (const ok of ["203.0.113.7", "203.0.113.0/24", "0.0.0.0/0", "2001:db8::/32", "2001:db8::5/128"]) assert.equal(destinationProblem(ok), null, ok);
  assert.equal(key(destinationProblem("")), "dest.required");
  assert.deepEqual(destinationProblem("300.1.1.1"), { key: "dest.notAddress", params: { text: "300.1.1.1" } });
  assert.deepEqual(destinationProblem("203.0.113.7/24"), { key: "dest.hostBits", params: { text: "203.0.113.7/24", net: "203.0.113.0/24" } });
  assert.deepEqual(destinationProblem("2001:db8::5/32"), { key: "dest.hostBits", params: { text: "2001:db8::5/32", net: "2001:db8::/32" } });
  assert.deepEqual(destinationProblem("203.0.113.0/33"), { key: "dest.prefixLength", params: { max: 32 } });
  assert.equal(key(destinationProblem("1.2.3.4/8/9")), "dest.notAddress");
});

test("catchAllFamily: only prefix length 0 is every address", () => {
  assert.equal(catchAllFamily("0.0.0.0/0"), 4);
  assert.equal(catchAllFamily(" ::/0 "), 6);
  for (const not of ["0.0.0.0/1", "0.0.0.0", "::", "::/1", "203.0.113.0/24", "nonsense/0", ""]) assert.equal(catchAllFamily(not), 0, not);
});

test("parseNetwork", () => {
  assert.deepEqual(parseNetwork("10.0.0.0/8").len, 8);
  assert.equal(parseNetwork("10.0.0.1").len, 32);
  assert.equal(parseNetwork("::1").len, 128);
  assert.equal(parseNetwork("10.0.0.0/x"), null);
});

test("portProblem", () => {
  assert.equal(portProblem(""), null);
  assert.equal(portProblem("443"), null);
  for (const bad of ["0", "65536", "-1", "8o", "1.5"]) assert.equal(key(portProblem(bad)), "port.range", bad);
});

test("filterProblem: addresses, networks and starts of addresses pass", () => {
  for (const ok of ["", "203.", "203.0.113.7", "203.0.", "100.64.1.", "2", "2001:db8:", "2001:db8::", "::1", "203.0.113.0/24", "2a00", "fe80:", "255.255.255.255", "0.0.0.0/0"]) assert.equal(filterProblem(ok), null, ok);
});

test("filterProblem: what is not an address says why", () => {
  assert.deepEqual(filterProblem("999.1.1.1"), { key: "filter.octet", params: { part: "999" } });
  assert.deepEqual(filterProblem("1.2.3.4.5"), { key: "filter.v4parts", params: { text: "1.2.3.4.5" } });
  assert.deepEqual(filterProblem("1.2.3.4."), { key: "filter.v4parts", params: { text: "1.2.3.4." } });
  assert.deepEqual(filterProblem("10.01"), { key: "filter.leadingZero", params: { part: "01", fixed: "1" } });
  assert.equal(key(filterProblem("1..2")), "filter.notAddress");
  assert.equal(key(filterProblem("example.com")), "filter.notAddress");
  assert.equal(key(filterProblem("abcde")), "filter.notAddress");
  assert.equal(key(filterProblem("xyz")), "filter.notAddress");
  assert.deepEqual(filterProblem("2001:db8a1:"), { key: "filter.v6group", params: { group: "db8a1" } });
  assert.equal(key(filterProblem("1::2::3")), "filter.notAddress");
  assert.equal(key(filterProblem("1.2/8")), "filter.cidrAddress");
  assert.deepEqual(filterProblem("203.0.113.0/33"), { key: "filter.prefixLength", params: { max: 32 } });
  assert.deepEqual(filterProblem("203.0.113.7/24"), { key: "filter.hostBits", params: { text: "203.0.113.7/24", net: "203.0.113.0/24" } });
});

test("filterNotice: hex letters alone match IPv6 only", () => {
  assert.deepEqual(filterNotice("abc"), { key: "filter.v6only", params: { text: "abc" } });
  assert.equal(key(filterNotice("2a00")), "filter.v6only"); // true, and harmless
  assert.equal(filterNotice("203"), null);
  assert.equal(filterNotice("2001:db8:"), null);
});

test("filterReady and filterKind", () => {
  assert.equal(filterReady("203.0.113.0/"), false);
  assert.equal(filterReady("203.0.113.0/24"), true);
  assert.equal(filterReady("999.1"), false);
  assert.equal(filterKind(""), "");
  assert.equal(filterKind("203.0.113.7"), "address");
  assert.equal(filterKind("203.0.113.0/24"), "network");
  assert.equal(filterKind("203.0."), "prefix");
});

test("isHost and hostOf: an IPv6 /32 is a network", () => {
  assert.equal(isHost("203.0.113.7/32"), true);
  assert.equal(isHost("2001:db8::5/128"), true);
  assert.equal(isHost("2001:db8::/32"), false);
  assert.equal(isHost("203.0.113.0/24"), false);
  assert.equal(hostOf("203.0.113.7/32"), "203.0.113.7");
  assert.equal(hostOf("2001:db8::5/128"), "2001:db8::5");
  assert.equal(hostOf("2001:db8::/32"), "2001:db8::/32");
});
