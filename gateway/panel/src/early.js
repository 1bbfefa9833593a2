// The first calls, sent before the big bundle has loaded. Pure (the fetch
// and the window are passed in): unit-tested under node.
//
// boot.js, a ~1 KiB script the page loads before the panel's bundle, sends
// ListDates and the newest day's first page (ListConnections without a date:
// the service picks the newest day and names it) at once, with what the
// embedding page configured; the bundle's transport then takes those
// responses instead of sending the same requests again (api.js). Both run
// while the browser still downloads and compiles the bundle, so the rows
// need no round trip after it.

// Appends a varint.
function varint(out, n) {
  for (; ; n = Math.floor(n / 128)) {
    if (n < 0x80) {
      out.push(n);
      return;
    }
    out.push((n % 128) | 0x80);
  }
}

// The gRPC-web request body (a data frame: flag 0, 4-byte big-endian length)
// of a message holding field 1 (account_id, tag 0x0a: ListDatesRequest and
// ListConnectionsRequest alike) and, when given, field 7 (page_size, tag
// 0x38: ListConnectionsRequest). Only these are built by hand; the panel
// checks the responses as usual (connect decodes them). Fields in number
// order and defaults left out, as connect writes them, so the panel's own
// request is byte for byte the same.
export function requestBody(accountId, pageSize = 0) {
  const id = new TextEncoder().encode(accountId);
  const bytes = [];
  if (id.length) {
    bytes.push(0x0a);
    varint(bytes, id.length);
    bytes.push(...id);
  }
  if (pageSize) {
    bytes.push(0x38);
    varint(bytes, pageSize);
  }
  const body = new Uint8Array(5 + bytes.length);
  new DataView(body.buffer).setUint32(1, bytes.length);
  body.set(bytes, 5);
  return body;
}

// ListDatesRequest { account_id }.
export const listDatesBody = (accountId) => requestBody(accountId);

export const kListDatesPath = "/egress.v1.ConnectionsService/ListDates";
export const kListConnectionsPath = "/egress.v1.ConnectionsService/ListConnections";

// Sends ListDates and the newest day's first page (`pageSize` rows) now;
// returns the list of { url, body, response } (response: a promise of the
// fetch Response), or null when the page is not configured to load.
export function sendEarly(config, fetchFn, pageSize = 0) {
  if (!config.accountId || !(config.token || config.getToken)) return null;
  const base = config.apiBase.replace(/\/+$/, "");
  const token = (async () => (config.getToken ? config.getToken() : config.token))();
  token.catch(() => {});
  const send = (path, body) => {
    const url = `${base}${path}`;
    const response = (async () =>
      fetchFn(url, {
        method: "POST",
        redirect: "error",
        headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "x-user-agent": "connect-es/2.1.1", "grpc-timeout": "15000m", authorization: `Bearer ${await token}` },
        body,
      }))();
    response.catch(() => {}); // a failure is handled by whoever takes it
    return { url, body, response };
  };
  return [send(kListDatesPath, listDatesBody(config.accountId)), send(kListConnectionsPath, requestBody(config.accountId, pageSize))];
}

// A fetch for the transport: a request identical to an early one (same URL,
// same body) gets the early response, once, or a fresh fetch if the early
// one failed; everything else goes to fetchFn. `early`: sendEarly's list
// (or one entry of it, or null).
export function fetchWithEarly(early, fetchFn) {
  const pending = early ? (Array.isArray(early) ? [...early] : [early]) : [];
  return (url, init) => {
    const i = pending.findIndex((e) => String(url) === e.url && sameBytes(init?.body, e.body));
    if (i >= 0) {
      const { response } = pending.splice(i, 1)[0];
      return response.catch(() => fetchFn(url, init));
    }
    return fetchFn(url, init);
  };
}

function sameBytes(a, b) {
  if (!(a instanceof Uint8Array) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
