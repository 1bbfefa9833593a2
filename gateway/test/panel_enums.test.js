// The panel's enums come from the generated code: every name it uses has a
// number, and the numbers are the API's (proto/egress/v1).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Action, descendingByDefault, IpStatus, LockKind, OrderBy, Protocol, protocolText, sortNames } from "../panel/src/enums.js";

test("every value the panel uses is defined", () => {
  const used = { Protocol: [Protocol, ["ANY", "TCP", "UDP", "ICMP", "ICMPV6"]], Action: [Action, ["ACCEPT", "REJECT"]], LockKind: [LockKind, ["MANUAL", "ANTIVIRUS"]], IpStatus: [IpStatus, ["UNSPECIFIED", "PENDING", "OK", "NO_PTR", "TEMPORARY_FAILURE"]], OrderBy: [OrderBy, ["COUNT", "IP", "PORT", "LAST_SEEN"]] };
  for (const [name, [e, keys]] of Object.entries(used)) for (const k of keys) assert.equal(typeof e[k], "number", `${name}.${k}`);
  assert.deepEqual([Protocol.TCP, Protocol.UDP, Protocol.ANY, Action.ACCEPT, Action.REJECT, IpStatus.PENDING, IpStatus.OK, IpStatus.NO_PTR], [1, 2, 5, 1, 2, 1, 2, 3]);
  assert.equal(Object.values(sortNames).every((v) => typeof v === "number"), true);
});

test("labels", () => {
  assert.equal(protocolText(Protocol.ICMPV6, "Any"), "ICMPv6");
  assert.equal(protocolText(Protocol.ANY, "Будь-який"), "Будь-який");
  assert.equal(descendingByDefault(OrderBy.COUNT), true);
  assert.equal(descendingByDefault(OrderBy.IP), false);
});
