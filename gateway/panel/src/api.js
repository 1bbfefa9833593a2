// The panel's connection to the gateway: gRPC-web (binary) from the browser,
// the caller's token in `authorization`, a deadline on every call.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { ConnectionsService } from "../../gen/egress/v1/connections_pb.js";

export { Code, ConnectError };

// Where the page gets its credentials, in order:
//  1. window.egressPanelConfig = { token, accountId, apiBase } set by the
//     provider's panel before the script loads (the documented hook);
//     (optional: pageSize, rows per page of the list: 50, 100, 500 or 1000;
//     refreshMs, how often new counts are fetched, default 60000, 0: never);
//  2. the URL fragment #token=...&account=...[&api=...] (the demo; a fragment
//     never reaches servers or their logs).
// accountId may be omitted when the token is a JWT naming the account.
export function readConfig(win = window) {
  const given = win.egressPanelConfig || {};
  const frag = new URLSearchParams((win.location.hash || "").replace(/^#/, ""));
  const token = given.token || frag.get("token") || "";
  let accountId = given.accountId || frag.get("account") || "";
  if (!accountId && token.split(".").length === 3) {
    try {
      const payload = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      accountId = payload.account_id || payload.account || payload.sub || "";
    } catch {
      /* not a JWT we can read: the service will say */
    }
  }
  const apiBase = given.apiBase || frag.get("api") || win.location.origin;
  const pageSize = [50, 100, 500, 1000].includes(Number(given.pageSize)) ? Number(given.pageSize) : 100;
  const refreshMs = Number.isFinite(Number(given.refreshMs)) ? Math.max(0, Number(given.refreshMs)) : 60000;
  // getToken: optional async function returning a fresh token, called before
  // each call, so a provider can renew short-lived tokens without a reload.
  const getToken = typeof given.getToken === "function" ? given.getToken : null;
  return { token, getToken, accountId, apiBase, pageSize, refreshMs };
}

export function createApi({ token, getToken, apiBase }) {
  const transport = createGrpcWebTransport({
    baseUrl: apiBase,
    useBinaryFormat: true,
    interceptors: [
      (next) => async (req) => {
        const current = getToken ? await getToken() : token;
        if (current) req.header.set("authorization", `Bearer ${current}`);
        return next(req);
      },
    ],
  });
  const client = createClient(ConnectionsService, transport);
  const opts = { timeoutMs: 15000 };
  const wrap = {};
  for (const name of Object.keys(ConnectionsService.method)) {
    wrap[name] = (req) => client[name](req, opts);
  }
  return wrap;
}

// A message for the user from any error: the service's own words when it
// sent some (they name the field), with a hint for the common codes.
export function errorText(err) {
  const e = ConnectError.from(err);
  const msg = e.rawMessage || "";
  switch (e.code) {
    case Code.Unauthenticated:
      return `Not signed in or the session has expired (${msg || "no token"}). Reload the panel.`;
    case Code.PermissionDenied:
      return `Access denied: ${msg}`;
    case Code.Unavailable:
      return `The service is unreachable right now (${msg}). Try again in a moment.`;
    case Code.Unimplemented:
      return `The service does not offer this call (unimplemented${msg ? `: ${msg}` : ""}).`;
    case Code.DeadlineExceeded:
      return "The service took too long to answer. Try again.";
    default:
      return msg || `Error (${Code[e.code]})`;
  }
}
