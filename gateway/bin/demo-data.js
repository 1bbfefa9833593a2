#!/usr/bin/env node
// Gives a demo account two weeks of plausible outgoing connections, sent the
// way an agent sends them (CollectorService.Connect with a node token), so the
// panel has something to show. Does nothing if the account already has data.
//   node gateway/bin/demo-data.js --server=127.0.0.1:50051 --secret-file=var/secrets/token-secret \
//     --node=demo-node --uid=2001 --account=demo-alice
import { parseArgs } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CollectorService } from "../gen/egress/v1/collector_pb.js";
import { ConnectionsService } from "../gen/egress/v1/connections_pb.js";
import { readSecretFile, signToken } from "../src/token.js";

const { values } = parseArgs({
  options: {
    server: { type: "string", default: "127.0.0.1:50051" },
    "secret-file": { type: "string" },
    node: { type: "string", default: "demo-node" },
    uid: { type: "string", default: "2001" },
    account: { type: "string", default: "demo-alice" },
    days: { type: "string", default: "14" },
  },
});
if (!values["secret-file"]) {
  process.stderr.write("demo-data: --secret-file is required\n");
  process.exit(2);
}
const secret = readSecretFile(values["secret-file"]);
const bearer = (sub, scope) => ({ headers: { authorization: `Bearer ${signToken({ secret, subject: sub, scopes: [scope], ttlSeconds: 300 })}` } });
const transport = createGrpcTransport({ baseUrl: `http://${values.server}` });

const existing = await createClient(ConnectionsService, transport).listDates({ accountId: values.account }, bearer(values.account, "panel"));
if (existing.dates.length > 0) {
  process.stdout.write(`demo-data: ${values.account} already has ${existing.dates.length} days of data\n`);
  process.exit(0);
}

// Destinations a small shop site talks to; a few it should not.
const destinations = [
  ["142.250.185.74", 1, 443, 1, 400], // maps / fonts
  ["151.101.1.69", 1, 443, 1, 220], // CDN
  ["54.187.174.169", 1, 443, 1, 90], // payment API
  ["198.51.100.25", 1, 587, 1, 30], // mail relay
  ["203.0.113.66", 1, 25, 2, 45], // spam attempts, blocked
  ["192.0.2.201", 1, 6667, 2, 12], // IRC C&C, blocked
  ["8.8.8.8", 2, 53, 1, 800],
  ["2a00:1450:4001:82b::200e", 1, 443, 1, 150],
];
let seed = 42;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const ipBytes = (ip) => {
  if (ip.includes(".")) return Uint8Array.from(ip.split(".").map(Number));
  const [head, tail = ""] = ip.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const words = ip.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  return Uint8Array.from(words.flatMap((w) => [parseInt(w, 16) >> 8, parseInt(w, 16) & 255]));
};
const records = [];
const days = Number(values.days);
for (let offset = days; offset >= 0; offset--) {
  if (offset === 5) continue; // a quiet day: no records, not listed
  const date = new Date(Date.now() - offset * 86400000);
  const day = { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
  const start = { seconds: BigInt(Math.floor(Date.UTC(day.year, day.month - 1, day.day, 0, 5) / 1000)), nanos: 0 };
  const end = { seconds: BigInt(Math.min(Math.floor(Date.now() / 1000), Math.floor(Date.UTC(day.year, day.month - 1, day.day, 23, 50) / 1000))), nanos: 0 };
  for (const [ip, protocol, port, action, base] of destinations) {
    records.push({ uid: Number(values.uid), day, dstIp: ipBytes(ip), protocol, dstPort: port, action, count: BigInt(Math.max(1, Math.round(base * (0.5 + rand())))), firstSeen: start, lastSeen: end });
  }
  for (let i = 0; i < 40; i++) {
    records.push({ uid: Number(values.uid), day, dstIp: ipBytes(`185.${20 + (i % 7)}.${(i * 37) % 256}.${(i * 91) % 254 + 1}`), protocol: 1, dstPort: [80, 443, 8443][i % 3], action: 1, count: BigInt(1 + Math.floor(rand() * 20)), firstSeen: start, lastSeen: end });
  }
}

const outbox = [{ message: { case: "hello", value: { nodeId: values.node, agentVersion: "demo-data" } } }];
let wake = null;
let done = false;
async function* requests() {
  for (;;) {
    while (outbox.length) yield outbox.shift();
    if (done) return;
    await new Promise((r) => (wake = r));
  }
}
const controller = new AbortController();
for await (const msg of createClient(CollectorService, transport).connect(requests(), { ...bearer(values.node, "node"), signal: controller.signal, timeoutMs: 30000 })) {
  if (msg.message.case === "welcome") {
    outbox.push({ message: { case: "batch", value: { seq: msg.message.value.lastCommittedSeq + 1n, records, createTime: { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 } } } });
    wake?.();
  } else if (msg.message.case === "ack") {
    process.stdout.write(`demo-data: ${msg.message.value.acceptedRecords} records for ${values.account} (${msg.message.value.rejections.length} rejected)\n`);
    break;
  }
}
done = true;
wake?.();
controller.abort();
process.exit(0);
