// Test data for the panel, through the API: nodes and accounts through
// AccountsService (admin token), connection records and lost-event reports
// through CollectorService.Connect as the node's agent would send them (node
// token). Only PTR/owner rows go into ip_info directly, as the enrichment
// would leave them (no DNS server in these tests).
import { join } from "node:path";
import { gatewayDir } from "./stack.js";

const { createClient } = await import(join(gatewayDir, "node_modules", "@connectrpc", "connect", "dist", "esm", "index.js"));
const { createGrpcTransport } = await import(join(gatewayDir, "node_modules", "@connectrpc", "connect-node", "dist", "esm", "index.js"));
const { AccountsService } = await import(join(gatewayDir, "gen", "egress", "v1", "accounts_pb.js"));
const { AntivirusService } = await import(join(gatewayDir, "gen", "egress", "v1", "antivirus_pb.js"));
const { AbuseService } = await import(join(gatewayDir, "gen", "egress", "v1", "abuse_pb.js"));
const { ConnectionsService } = await import(join(gatewayDir, "gen", "egress", "v1", "connections_pb.js"));
const { CollectorService } = await import(join(gatewayDir, "gen", "egress", "v1", "collector_pb.js"));
const { signToken } = await import(join(gatewayDir, "src", "token.js"));

export { signToken };

// The civil day `offset` days before today (UTC), as "YYYY-MM-DD".
export function dayKey(offset) {
  const d = new Date(Date.now() - offset * 86400000);
  return d.toISOString().slice(0, 10);
}

export function clients(address, secret) {
  const transport = createGrpcTransport({ baseUrl: `http://${address}` });
  const bearer = (subject, scopes) => ({ authorization: `Bearer ${signToken({ secret, subject, scopes })}` });
  return {
    transport,
    bearer,
    accounts: createClient(AccountsService, transport),
    antivirus: createClient(AntivirusService, transport),
    abuse: createClient(AbuseService, transport),
    connections: createClient(ConnectionsService, transport),
    collector: createClient(CollectorService, transport),
    admin: { headers: bearer("tests", ["admin"]) },
    av: { headers: bearer("antivirus", ["antivirus"]) },
    node: (nodeId) => ({ headers: bearer(nodeId, ["node"]) }),
    panel: (account) => ({ headers: bearer(account, ["panel"]) }),
  };
}

export const kAlice = "alice";
export const kBob = "bob";

// Rows of Alice's newest day that the tests look for. protocol/action are
// the API enums (Protocol: 1 TCP, 2 UDP; Action: 1 ACCEPT, 2 REJECT).
export const kNamedRows = [
  { ip: "203.0.113.7", protocol: 1, port: 443, action: 1, count: 120 },
  { ip: "203.0.113.7", protocol: 1, port: 25, action: 2, count: 5 },
  { ip: "198.51.100.23", protocol: 2, port: 53, action: 1, count: 40 },
  { ip: "198.51.100.200", protocol: 1, port: 8080, action: 1, count: 3 },
  { ip: "2001:db8::5", protocol: 1, port: 443, action: 1, count: 9 },
];
// Filler rows (100.64.x.y) so the newest day needs several pages.
export const kFillerRows = 260;
// Alice has data on these days before today; not on 4 (a gap), and day 3 is
// incomplete (the node reported lost events).
export const kAliceDays = [1, 2, 3, 5, 6, 7];
export const kIncompleteDay = 3;

export async function seed({ pg, api }) {
  await api.accounts.upsertNode({ node: { nodeId: "node-a", serverIpv4: "198.51.100.10", serverIpv6: "2001:db8::10" } }, api.admin);
  await api.accounts.upsertAccount({ account: { accountId: kAlice, nodeId: "node-a", uid: 2001, dedicatedIps: [{ ip: "203.0.113.5", orderTime: { seconds: 1700000000n, nanos: 0 } }] } }, api.admin);
  await api.accounts.upsertAccount({ account: { accountId: kBob, nodeId: "node-a", uid: 2002 } }, api.admin);

  const uids = { [kAlice]: 2001, [kBob]: 2002 };
  const records = [];
  const push = (account, day, ip, protocol, port, action, count) =>
    records.push({ uid: uids[account], day: keyDate(day), dstIp: ipBytes(ip), protocol, dstPort: port, action, count: BigInt(count), firstSeen: ts(`${day}T08:00:00Z`), lastSeen: ts(`${day}T18:30:00Z`) });
  const newest = dayKey(kAliceDays[0]);
  for (const r of kNamedRows) push(kAlice, newest, r.ip, r.protocol, r.port, r.action, r.count);
  for (let i = 0; i < kFillerRows; i++) push(kAlice, newest, `100.64.${Math.floor(i / 200)}.${(i % 200) + 1}`, 1, 1000 + (i % 50), 1 + (i % 7 === 0 ? 1 : 0), 1 + (i % 37));
  kAliceDays.slice(1).forEach((offset, n) => {
    const day = dayKey(offset);
    push(kAlice, day, "203.0.113.7", 1, 443, 1, 50 + n * 10);
    push(kAlice, day, "192.0.2.44", 1, 587, 2, 2 + n);
  });
  push(kBob, dayKey(2), "192.0.2.99", 1, 22, 1, 7);
  const losses = [{ day: keyDate(dayKey(kIncompleteDay)), reason: 1, events: 1200n }];
  const ack = await sendBatch(api, "node-a", records, losses);
  if (ack.acceptedRecords !== records.length || ack.rejections.length) {
    throw new Error(`seed batch: ${ack.acceptedRecords} of ${records.length} records accepted: ${JSON.stringify(ack.rejections.slice(0, 3))}`);
  }
  pg.sql(`INSERT INTO ip_info (ip, status, ptr, ptr_confirmed, asn, as_name, country, network, looked_up_at, expires_at)
          VALUES ('203.0.113.7', 2, 'mail.example.net', true, 64500, 'Example Mail Ltd', 'NL', '203.0.113.0/24', now(), now() + interval '1 day'),
                 ('198.51.100.23', 3, '', false, 64501, 'Resolver Co', 'DE', '198.51.100.0/24', now(), now() + interval '1 day')
          ON CONFLICT (ip) DO UPDATE SET status = excluded.status, ptr = excluded.ptr, ptr_confirmed = excluded.ptr_confirmed,
            asn = excluded.asn, as_name = excluded.as_name, country = excluded.country, network = excluded.network,
            looked_up_at = excluded.looked_up_at, expires_at = excluded.expires_at`);
}

function keyDate(key) {
  const [year, month, day] = key.split("-").map(Number);
  return { year, month, day };
}

function ts(iso) {
  return { seconds: BigInt(Math.floor(Date.parse(iso) / 1000)), nanos: 0 };
}

// Network-order bytes of an IPv4 or (fully written or ::-shortened) IPv6 address.
export function ipBytes(ip) {
  if (ip.includes(".")) return Uint8Array.from(ip.split(".").map(Number));
  const [head, tail = ""] = ip.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const words = ip.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    const v = parseInt(w, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 255;
  });
  return out;
}

// One agent session: Hello, wait for Welcome, one RecordBatch with the next
// sequence, wait for its Ack, close. Returns the Ack.
export async function sendBatch(api, nodeId, records, losses = []) {
  const outbox = [];
  let wake = null;
  let closed = false;
  const send = (m) => {
    outbox.push(m);
    wake?.();
  };
  async function* requests() {
    for (;;) {
      while (outbox.length) yield outbox.shift();
      if (closed) return;
      await new Promise((r) => (wake = r));
      wake = null;
    }
  }
  send({ message: { case: "hello", value: { nodeId, agentVersion: "browser-tests" } } });
  const controller = new AbortController();
  try {
    // The 30 s limit as an unref'd AbortSignal.timeout, not timeoutMs: connect's
    // deadline timer outlives the aborted stream and kept test files alive 30 s.
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(30000)]);
    for await (const msg of api.collector.connect(requests(), { ...api.node(nodeId), signal })) {
      if (msg.message.case === "welcome") {
        const seq = msg.message.value.lastCommittedSeq + 1n;
        send({ message: { case: "batch", value: { seq, records, losses, createTime: ts(new Date().toISOString()) } } });
      } else if (msg.message.case === "ack") {
        return msg.message.value;
      }
    }
    throw new Error("the collector stream ended without an Ack");
  } finally {
    closed = true;
    wake?.();
    controller.abort();
  }
}
