// The first call, sent before the big bundle has loaded. Pure (the fetch
// and the window are passed in): unit-tested under node.
//
// boot.js, a ~1 KiB script the page loads before the panel's bundle, sends
// ListDates at once with what the embedding page configured; the bundle's
// transport then takes that response instead of sending the same request
// again (api.js). The list needs the dates before it can ask for a day's
// rows, so this takes one round trip off the time until rows show: it runs
// while the browser still downloads and compiles the bundle.

// The gRPC-web request body of ListDatesRequest { account_id }: a data frame
// (flag 0, 4-byte big-endian length) holding field 1 (tag 0x0a, varint length,
// UTF-8 bytes). Only this message is built by hand; the panel checks the
// response as usual (connect decodes it).
export function listDatesBody(accountId) {
  const id = new TextEncoder().encode(accountId);
  const varint = [];
  for (let n = id.length; ; n >>>= 7) {
    if (n < 0x80) {
      varint.push(n);
      break;
    }
    varint.push((n & 0x7f) | 0x80);
  }
  // proto3 leaves an empty string out, as connect does.
  const msg = new Uint8Array(id.length ? 1 + varint.length + id.length : 0);
  if (id.length) {
    msg.set([0x0a, ...varint]);
    msg.set(id, 1 + varint.length);
  }
  const body = new Uint8Array(5 + msg.length);
  new DataView(body.buffer).setUint32(1, msg.length);
  body.set(msg, 5);
  return body;
}

export const kListDatesPath = "/egress.v1.ConnectionsService/ListDates";

// Sends ListDates now; returns { url, body, response } (response: a promise
// of the fetch Response) or null when the page is not configured to load.
export function sendEarly(config, fetchFn) {
  if (!config.accountId || !(config.token || config.getToken)) return null;
  const url = `${config.apiBase.replace(/\/+$/, "")}${kListDatesPath}`;
  const body = listDatesBody(config.accountId);
  const response = (async () => {
    const token = config.getToken ? await config.getToken() : config.token;
    return fetchFn(url, {
      method: "POST",
      redirect: "error",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "x-user-agent": "connect-es/2.1.1", "grpc-timeout": "15000m", authorization: `Bearer ${token}` },
      body,
    });
  })();
  response.catch(() => {}); // a failure is handled by whoever takes it
  return { url, body, response };
}

// A fetch for the transport: the first request identical to the early one
// (same URL, same body) gets the early response, or a fresh fetch if the
// early one failed; everything else goes to fetchFn.
export function fetchWithEarly(early, fetchFn) {
  let pending = early;
  return (url, init) => {
    if (pending && String(url) === pending.url && sameBytes(init?.body, pending.body)) {
      const { response } = pending;
      pending = null;
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
