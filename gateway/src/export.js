// POST /export/connections.csv: the panel's "Export CSV" as a plain browser
// download. The browser cannot stream a gRPC-web response into a file (it
// would have to hold the whole file in memory as a Blob), but it downloads
// an ordinary HTTP response straight to disk. So the panel submits a form
// (application/x-www-form-urlencoded, into a hidden iframe) and this handler
// calls the service's server-streaming ExportConnections and writes each
// chunk to the response as it arrives, waiting for the browser to take it
// (`drain`) before reading the next one: memory holds one chunk (~64 KiB)
// per download, and a slow browser slows the service's cursor, not our heap.
//
// Form fields: token (the panel's bearer token: in the body, never in the
// URL, so it stays out of logs and history), account_id, date (YYYY-MM-DD),
// ip_filter, action, order_by (the enum numbers), reverse and bom ("1").
// The service validates everything and decides who may read what.
//
// Errors before the first byte become an HTTP status with a short text page
// (400 invalid argument, 401, 403, 404, 429, 503, 504, else 502), which the
// panel sees as its iframe loading. An error after the first byte aborts
// the response, so the browser reports a failed download instead of keeping
// a silently short file.
import { Code, ConnectError } from "@connectrpc/connect";
import { ConnectionsService } from "../gen/egress/v1/connections_pb.js";

export const kExportPath = "/export/connections.csv";
// The form is a few short fields; anything bigger is not ours.
const kMaxFormBytes = 8 * 1024;

const kHttpStatus = {
  [Code.InvalidArgument]: 400,
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
  [Code.NotFound]: 404,
  [Code.ResourceExhausted]: 429,
  [Code.Unavailable]: 503,
  [Code.DeadlineExceeded]: 504,
};

async function readForm(req) {
  const parts = [];
  let size = 0;
  for await (const part of req) {
    size += part.length;
    if (size > kMaxFormBytes) throw new ConnectError("form too large", Code.InvalidArgument);
    parts.push(part);
  }
  return new URLSearchParams(Buffer.concat(parts).toString("utf8"));
}

// The request message from the form; the service checks the values (a date
// that does not parse is sent as zeros: "date: is required").
export function exportRequestFromForm(form) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(form.get("date") || "");
  const int = (name) => {
    const v = Number(form.get(name) || 0);
    return Number.isInteger(v) ? v : -1;
  };
  return {
    accountId: form.get("account_id") || "",
    date: m ? { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) } : { year: 0, month: 0, day: 0 },
    ipFilter: form.get("ip_filter") || "",
    action: int("action"),
    orderBy: int("order_by"),
    reverse: form.get("reverse") === "1" || form.get("reverse") === "true",
    utf8Bom: form.get("bom") === "1",
  };
}

// "egress-<account>-<date>.csv" with only safe characters (the header is
// built from caller text).
export function exportFileName(request) {
  const safe = (s) => String(s).replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64) || "account";
  const d = request.date;
  const date = d.year ? `${d.year}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}` : "day";
  return `egress-${safe(request.accountId)}-${date}.csv`;
}

// Resolves when `res` can take more ("drain") or is gone ("close"),
// leaving no listener behind.
function writable(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

function errorPage(res, err) {
  const ce = ConnectError.from(err);
  const status = kHttpStatus[ce.code] ?? 502;
  const text = `${Code[ce.code]}: ${ce.rawMessage}`;
  const body = `<!doctype html><meta charset="utf-8"><title>Export failed</title><p id="export-error" data-code="${Code[ce.code]}">${text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c])}</p>\n`;
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff", "content-security-policy": "default-src 'none'" });
  res.end(body);
  return { status, code: ce.code, message: ce.rawMessage };
}

// Returns (req, res) => Promise<{ status, rows, bytes, code? }>.
// timeoutMs: the longest an export may take (the whole download).
export function createExportHandler(pool, { timeoutMs = 15 * 60000 } = {}) {
  return async function handleExport(req, res) {
    if (req.method !== "POST") {
      res.writeHead(405, { allow: "POST", "content-type": "text/plain" });
      res.end("POST a form\n");
      return { status: 405 };
    }
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    let form;
    try {
      form = await readForm(req);
    } catch (err) {
      return errorPage(res, err);
    }
    const request = exportRequestFromForm(form);
    const headers = new Headers();
    const token = form.get("token");
    if (token) headers.set("authorization", `Bearer ${token}`);
    if (req.headers["x-forwarded-for"]) headers.set("x-forwarded-for", req.headers["x-forwarded-for"]);
    if (req.headers["x-request-id"]) headers.set("x-request-id", req.headers["x-request-id"]);

    // Up to the first message nothing has reached the browser, so a replica
    // that refuses the connection can be skipped (pool.call) and an error is
    // still an HTTP status.
    let it, first;
    try {
      ({ it, first } = await pool.call(async (replica) => {
        const stream = pool.client(replica, ConnectionsService).exportConnections(request, { headers, timeoutMs, signal: abort.signal });
        const iterator = stream[Symbol.asyncIterator]();
        return { it: iterator, first: await iterator.next() };
      }));
    } catch (err) {
      return errorPage(res, err);
    }
    res.writeHead(200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${exportFileName(request)}"`,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    });
    let rows = 0;
    let bytes = 0;
    try {
      for (let next = first; !next.done; next = await it.next()) {
        rows += next.value.rows;
        bytes += next.value.csv.length;
        if (!res.write(next.value.csv)) await writable(res);
        if (res.destroyed) throw new ConnectError("the browser went away", Code.Canceled);
      }
      res.end();
      return { status: 200, rows, bytes };
    } catch (err) {
      const ce = ConnectError.from(err);
      res.destroy();
      await it.return?.().catch(() => {});
      return { status: 200, rows, bytes, code: ce.code, message: ce.rawMessage };
    }
  };
}
