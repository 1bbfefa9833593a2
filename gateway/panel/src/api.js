// The panel's connection to the gateway: gRPC-web (binary) from the browser,
// the caller's token in `authorization`, a deadline on every call.
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { ConnectionsService } from "../../gen/egress/v1/connections_pb.js";
import { fetchWithEarly } from "./early.js";

// { listDates(req), listConnections(req), ... }: one function per method of
// ConnectionsService, each returning the response message or throwing a
// ConnectError (errors.js words it for the user). `early`: the ListDates that
// boot.js already sent (early.js), taken instead of sending it again.
export function createApi({ token, getToken, apiBase }, early = null) {
  const transport = createGrpcWebTransport({
    baseUrl: apiBase,
    useBinaryFormat: true,
    fetch: fetchWithEarly(early, (url, init) => globalThis.fetch(url, init)),
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
