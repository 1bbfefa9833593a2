// Address checks for the panel's inputs. Pure functions, no DOM, so they are
// unit-tested under node (gateway/test/ip.test.js). The service validates
// again; these only give the user an answer before a round trip.
//
// Problems are returned as { key, params } (message keys of i18n.js), or
// null when the text is fine, so every language words them its own way.

function parseIPv4(text) {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === "0")) return null;
    const n = Number(p);
    if (n > 255) return null;
    bytes.push(n);
  }
  return bytes;
}

function parseIPv6(text) {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  let head = text;
  let tailV4 = [];
  if (text.includes(".")) {
    const lastColon = text.lastIndexOf(":");
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (!v4) return null;
    tailV4 = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
    head = text.slice(0, lastColon + 1).endsWith("::") ? text.slice(0, lastColon + 1) : text.slice(0, lastColon);
  }
  const dbl = head.split("::");
  if (dbl.length > 2) return null;
  const toGroups = (s) => (s === "" ? [] : s.split(":"));
  const left = toGroups(dbl[0]);
  const right = dbl.length === 2 ? toGroups(dbl[1]) : [];
  const groups = [...left, ...right];
  if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  const total = groups.length + tailV4.length;
  if (dbl.length === 2 ? total > 7 : total !== 8) return null;
  const fill = new Array(8 - total).fill(0);
  const words = [...left.map((g) => parseInt(g, 16)), ...(dbl.length === 2 ? fill : []), ...right.map((g) => parseInt(g, 16)), ...tailV4];
  return words.length === 8 ? words : null;
}

// { family: 4, bytes: number[4] } | { family: 6, words: number[8] } | null.
export function parseIp(text) {
  const t = String(text).trim();
  const v4 = parseIPv4(t);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(t);
  if (v6) return { family: 6, words: v6 };
  return null;
}

function bitsOf(ip) {
  return ip.family === 4 ? ip.bytes.map((b) => b.toString(2).padStart(8, "0")).join("") : ip.words.map((w) => w.toString(2).padStart(16, "0")).join("");
}

// Canonical text of an address (IPv6 with the longest run of zero words
// shortened to "::", as the service prints it).
export function formatIp(ip) {
  if (ip.family === 4) return ip.bytes.join(".");
  let best = [-1, 0];
  for (let i = 0; i < 8; ) {
    if (ip.words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && ip.words[j] === 0) j++;
    if (j - i > best[1] && j - i > 1) best = [i, j - i];
    i = j;
  }
  const hex = ip.words.map((w) => w.toString(16));
  if (best[0] < 0) return hex.join(":");
  return `${hex.slice(0, best[0]).join(":")}::${hex.slice(best[0] + best[1]).join(":")}`;
}

// The network address of ip/len (host bits cleared).
function networkOf(ip, len) {
  const bits = bitsOf(ip).slice(0, len).padEnd(ip.family === 4 ? 32 : 128, "0");
  if (ip.family === 4) return { family: 4, bytes: [0, 1, 2, 3].map((i) => parseInt(bits.slice(i * 8, i * 8 + 8), 2)) };
  return { family: 6, words: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => parseInt(bits.slice(i * 16, i * 16 + 16), 2)) };
}

// "a.b.c.d" or "a.b.c.d/len" (or IPv6): { ip, len } with len = the full
// length for a bare address; null when it is not one.
export function parseNetwork(text) {
  const t = String(text).trim();
  const [addr, len, extra] = t.split("/");
  if (extra !== undefined) return null;
  const ip = parseIp(addr);
  if (!ip) return null;
  const max = ip.family === 4 ? 32 : 128;
  if (len === undefined) return { ip, len: max };
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) return null;
  return { ip, len: Number(len) };
}

// Checks the "Block IP" destination: an address or a CIDR without host bits.
export function destinationProblem(text) {
  const t = String(text).trim();
  if (t === "") return { key: "dest.required" };
  const [addr, len, extra] = t.split("/");
  const ip = extra === undefined ? parseIp(addr) : null;
  if (!ip) return { key: "dest.notAddress", params: { text: extra === undefined ? addr : t } };
  if (len === undefined) return null;
  const max = ip.family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) return { key: "dest.prefixLength", params: { max } };
  if (bitsOf(ip).slice(Number(len)).includes("1")) return { key: "dest.hostBits", params: { text: t, net: `${formatIp(networkOf(ip, Number(len)))}/${len}` } };
  return null;
}

// 4 or 6 when the destination is every address of that family (prefix
// length 0, e.g. 0.0.0.0/0 or ::/0): a rule that blocks everything, which the
// "Block all outgoing connections" switch does better. Else 0.
export function catchAllFamily(text) {
  const n = parseNetwork(text);
  return n && n.len === 0 ? n.ip.family : 0;
}

// Checks the "Block IP" port: empty means every port.
export function portProblem(text) {
  const t = String(text).trim();
  if (t === "") return null;
  if (!/^\d{1,5}$/.test(t) || Number(t) < 1 || Number(t) > 65535) return { key: "port.range" };
  return null;
}

// Is `t` (no "/") the start of some IPv4 address's text? A problem or null.
function ipv4StartProblem(t) {
  const parts = t.split(".");
  if (parts.length > 4) return { key: "filter.v4parts", params: { text: t } };
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p === "") {
      if (i === parts.length - 1) continue; // "203.0." : the next number is still to come
      return { key: "filter.notAddress", params: { text: t } };
    }
    if (!/^\d+$/.test(p)) return { key: "filter.notAddress", params: { text: t } };
    if (p.length > 3 || Number(p) > 255) return { key: "filter.octet", params: { part: p } };
    if (p.length > 1 && p[0] === "0") return { key: "filter.leadingZero", params: { part: p, fixed: String(Number(p)) } };
  }
  return null;
}

// Is `t` (has ":", no "/") the start of some IPv6 address's text?
function ipv6StartProblem(t) {
  if (!/^[0-9a-fA-F:]+$/.test(t) || t.includes(":::") || t.split("::").length > 2) return { key: "filter.notAddress", params: { text: t } };
  const groups = t.split(":").filter((g) => g !== "");
  const long = groups.find((g) => g.length > 4);
  if (long) return { key: "filter.v6group", params: { group: long } };
  if (groups.length > 8) return { key: "filter.notAddress", params: { text: t } };
  return null;
}

// The list filter accepts an exact address, a network (CIDR) or the start of
// an address ("203.0.", "2001:db8:"). Returns a problem (the text is not
// sent) or null.
export function filterProblem(text) {
  const t = String(text).trim();
  if (t === "") return null;
  if (t.includes("/")) {
    const [addr, len, extra] = t.split("/");
    const ip = extra === undefined ? parseIp(addr) : null;
    if (!ip) return { key: "filter.cidrAddress" };
    if (len === "") return null; // still typing the length
    const max = ip.family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(len) || Number(len) > max) return { key: "filter.prefixLength", params: { max } };
    if (bitsOf(ip).slice(Number(len)).includes("1")) return { key: "filter.hostBits", params: { text: t, net: `${formatIp(networkOf(ip, Number(len)))}/${len}` } };
    return null;
  }
  if (parseIp(t)) return null;
  if (t.includes(":")) return ipv6StartProblem(t);
  if (/^[\d.]+$/.test(t)) return ipv4StartProblem(t);
  // Hex digits with letters and no separator can only start an IPv6 address
  // ("2a00"); anything longer than one group, or other letters, is no address.
  if (/^[0-9a-fA-F]{1,4}$/.test(t)) return null;
  return { key: "filter.notAddress", params: { text: t } };
}

// A remark (not a problem) about a filter that is sent: hex letters with no
// separator match only IPv6 addresses, which a user typing a name ("abc")
// would not expect.
export function filterNotice(text) {
  const t = String(text).trim();
  if (filterProblem(t) === null && /^[0-9a-fA-F]{1,4}$/.test(t) && /[a-fA-F]/.test(t)) return { key: "filter.v6only", params: { text: t } };
  return null;
}

// A filter is sent when complete enough: a CIDR needs its length.
export function filterReady(text) {
  const t = String(text).trim();
  return filterProblem(t) === null && !/\/$/.test(t);
}

// What kind of filter the text is, for the empty-result wording:
// "" | "address" | "network" | "prefix".
export function filterKind(text) {
  const t = String(text).trim();
  if (t === "") return "";
  if (t.includes("/")) return "network";
  return parseIp(t) ? "address" : "prefix";
}

// A rule's network that is one address: an IPv4 /32 or an IPv6 /128 (an IPv6
// /32 is a network of 2^96 addresses).
export function isHost(network) {
  const n = parseNetwork(network);
  return !!n && n.len === (n.ip.family === 4 ? 32 : 128);
}

// "203.0.113.7/32" → "203.0.113.7"; a network stays as it is.
export function hostOf(network) {
  return isHost(network) ? String(network).trim().split("/")[0] : network;
}
