// Address parsing for the panel's input checks. Pure functions, no DOM, so
// they are unit-tested under node (gateway/test/ip.test.js). The service
// validates again; these only give the user an answer before a round trip.

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
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (!v4) return null;
    tailV4 = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
    head = text.slice(0, lastColon + 1) + (text.slice(0, lastColon + 1).endsWith("::") ? "" : "0");
    if (!text.slice(0, lastColon + 1).endsWith("::")) {
      head = text.slice(0, lastColon);
    } else {
      head = text.slice(0, lastColon + 1);
    }
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

// { family: 4|6, bits: number[] } or null.
export function parseIp(text) {
  const t = String(text).trim();
  const v4 = parseIPv4(t);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(t);
  if (v6) return { family: 6, words: v6 };
  return null;
}

function hostBitsSet(ip, len) {
  const bits = ip.family === 4 ? ip.bytes.map((b) => b.toString(2).padStart(8, "0")).join("") : ip.words.map((w) => w.toString(2).padStart(16, "0")).join("");
  return bits.slice(len).includes("1");
}

// Checks the "Block IP" destination: an address or a CIDR without host bits.
// Returns "" when valid, else the reason shown under the field.
export function destinationError(text) {
  const t = String(text).trim();
  if (t === "") return "Enter an IP address or a network (CIDR), e.g. 203.0.113.7 or 203.0.113.0/24.";
  const [addr, len, extra] = t.split("/");
  if (extra !== undefined) return `"${t}" is not an IP address or CIDR.`;
  const ip = parseIp(addr);
  if (!ip) return `"${addr}" is not an IPv4 or IPv6 address.`;
  if (len === undefined) return "";
  const max = ip.family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(len) || Number(len) > max) return `The prefix length must be 0..${max}.`;
  if (hostBitsSet(ip, Number(len))) return `"${t}" has host bits set: use the network address.`;
  return "";
}

// Checks the "Block IP" port: empty means every port. Returns "" or a reason.
export function portError(text) {
  const t = String(text).trim();
  if (t === "") return "";
  if (!/^\d{1,5}$/.test(t) || Number(t) < 1 || Number(t) > 65535) return "The port must be a number from 1 to 65535 (leave it empty for every port).";
  return "";
}

// The list filter accepts an exact IP, a CIDR or the start of an address.
// Returns "" when the text can be sent, else a hint.
export function filterError(text) {
  const t = String(text).trim();
  if (t === "") return "";
  if (t.includes("/")) {
    const [addr, len] = t.split("/");
    const ip = parseIp(addr);
    if (!ip) return "Before the / comes a full address, e.g. 203.0.113.0/24.";
    if (len === "") return "";
    const max = ip.family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(len) || Number(len) > max) return `The prefix length must be 0..${max}.`;
    return "";
  }
  if (!/^[0-9a-fA-F:.]+$/.test(t)) return "Type an IP address, a CIDR or the start of an address (digits, dots, colons).";
  return "";
}

// A filter is sent when complete enough: a CIDR needs its length.
export function filterReady(text) {
  const t = String(text).trim();
  return filterError(t) === "" && !/\/$/.test(t);
}
