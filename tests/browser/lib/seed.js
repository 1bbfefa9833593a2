// Test data for the panel: nodes and accounts through AccountsService (the
// admin API, with an admin token), connection records straight into the
// tables the collector writes (the only API that writes records is the
// agents' CollectorService stream; see README "Tests"), PTR/owner rows in
// ip_info as the enrichment would leave them.
import { join } from "node:path";
import { gatewayDir } from "./stack.js";

const { createClient } = await import(join(gatewayDir, "node_modules", "@connectrpc", "connect", "dist", "esm", "index.js"));
const { createGrpcTransport } = await import(join(gatewayDir, "node_modules", "@connectrpc", "connect-node", "dist", "esm", "index.js"));
const { AccountsService } = await import(join(gatewayDir, "gen", "egress", "v1", "accounts_pb.js"));
const { AntivirusService } = await import(join(gatewayDir, "gen", "egress", "v1", "antivirus_pb.js"));
const { ConnectionsService } = await import(join(gatewayDir, "gen", "egress", "v1", "connections_pb.js"));
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
    connections: createClient(ConnectionsService, transport),
    admin: { headers: bearer("tests", ["admin"]) },
    av: { headers: bearer("antivirus", ["antivirus"]) },
    panel: (account) => ({ headers: bearer(account, ["panel"]) }),
  };
}

export const kAlice = "alice";
export const kBob = "bob";

// Rows of Alice's newest day that the tests look for.
export const kNamedRows = [
  { ip: "203.0.113.7", protocol: 6, port: 443, action: 1, count: 120 },
  { ip: "203.0.113.7", protocol: 6, port: 25, action: 2, count: 5 },
  { ip: "198.51.100.23", protocol: 17, port: 53, action: 1, count: 40 },
  { ip: "198.51.100.200", protocol: 6, port: 8080, action: 1, count: 3 },
  { ip: "2001:db8::5", protocol: 6, port: 443, action: 1, count: 9 },
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

  const rows = [];
  const push = (account, day, ip, protocol, port, action, count) => rows.push(`('${account}','${day}','${ip}',${protocol},${port},${action},${count},'${day} 08:00:00+00','${day} 18:30:00+00')`);
  const newest = dayKey(kAliceDays[0]);
  for (const r of kNamedRows) push(kAlice, newest, r.ip, r.protocol, r.port, r.action, r.count);
  for (let i = 0; i < kFillerRows; i++) push(kAlice, newest, `100.64.${Math.floor(i / 200)}.${(i % 200) + 1}`, 6, 1000 + (i % 50), 1 + (i % 7 === 0 ? 1 : 0), 1 + (i % 37));
  kAliceDays.slice(1).forEach((offset, n) => {
    const day = dayKey(offset);
    push(kAlice, day, "203.0.113.7", 6, 443, 1, 50 + n * 10);
    push(kAlice, day, "192.0.2.44", 6, 587, 2, 2 + n);
  });
  push(kBob, dayKey(2), "192.0.2.99", 6, 22, 1, 7);
  pg.sql(`SELECT egress_ensure_partitions((date_trunc('month', current_date) - interval '2 months')::date, 4)`);
  pg.sql(`INSERT INTO connection_daily (account_id, day, ip, protocol, port, action, count, first_seen, last_seen) VALUES ${rows.join(",")}`);
  pg.sql(`INSERT INTO account_day_totals (account_id, day, accepted, rejected)
          SELECT account_id, day, coalesce(sum(count) FILTER (WHERE action = 1), 0), coalesce(sum(count) FILTER (WHERE action = 2), 0)
          FROM connection_daily GROUP BY 1, 2
          ON CONFLICT (account_id, day) DO UPDATE SET accepted = excluded.accepted, rejected = excluded.rejected`);
  pg.sql(`INSERT INTO node_day_losses (node_id, day, reason, events) VALUES ('node-a', '${dayKey(kIncompleteDay)}', 1, 1200)`);
  pg.sql(`INSERT INTO ip_info (ip, status, ptr, ptr_confirmed, asn, as_name, country, network, looked_up_at, expires_at)
          VALUES ('203.0.113.7', 2, 'mail.example.net', true, 64500, 'Example Mail Ltd', 'NL', '203.0.113.0/24', now(), now() + interval '1 day'),
                 ('198.51.100.23', 3, '', false, 64501, 'Resolver Co', 'DE', '198.51.100.0/24', now(), now() + interval '1 day')
          ON CONFLICT (ip) DO NOTHING`);
}
