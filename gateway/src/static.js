// Serves the panel's static files from one folder: no path traversal (the
// resolved path must stay inside the root, no dot-files, no symlinks out),
// ETag / Last-Modified with 304s, and caching by name: files whose name
// carries a content hash (app-3F2A1B9C.js) are immutable for a year, the rest
// (index.html, demo pages) are revalidated on every load.
import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";

const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};

const hashedName = /-[A-Z0-9]{8,}\.[a-z0-9]+$/;

// Returns the absolute file path for a URL path, or null if it must not be
// served. Pure (no I/O) so it can be tested on its own.
export function resolveStaticPath(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return null;
  if (!decoded.startsWith("/")) return null;
  const parts = decoded.split("/").filter((p) => p !== "");
  if (parts.some((p) => p === ".." || p.startsWith("."))) return null;
  if (decoded.endsWith("/") || parts.length === 0) parts.push("index.html");
  const base = resolve(root);
  const full = resolve(base, ...parts);
  if (full !== base && !full.startsWith(base + sep)) return null;
  return full;
}

export function createStaticHandler(root) {
  const base = resolve(root);
  let realBase;
  return async function serveStatic(req, res) {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
      res.end("method not allowed\n");
      return 405;
    }
    const url = new URL(req.url, "http://x");
    const file = resolveStaticPath(base, url.pathname);
    if (!file) return notFound(res);
    let info;
    try {
      realBase ??= await realpath(base);
      const real = await realpath(file);
      if (real !== realBase && !real.startsWith(realBase + sep)) return notFound(res);
      info = await stat(real);
      if (!info.isFile()) return notFound(res);
    } catch {
      return notFound(res);
    }
    // A precompressed file.gz beside the file is sent to gzip-capable clients.
    let sendPath = file;
    let encoding = null;
    if (/\bgzip\b/.test(req.headers["accept-encoding"] || "")) {
      try {
        const gz = await stat(`${file}.gz`);
        if (gz.isFile()) {
          sendPath = `${file}.gz`;
          encoding = "gzip";
          info = gz;
        }
      } catch {}
    }
    const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}${encoding ? "-gz" : ""}"`;
    const headers = {
      "content-type": types[extname(file)] || "application/octet-stream",
      vary: "Accept-Encoding",
      etag,
      "last-modified": info.mtime.toUTCString(),
      "cache-control": hashedName.test(file) ? "public, max-age=31536000, immutable" : "no-cache",
      "x-content-type-options": "nosniff",
    };
    if (extname(file) === ".html") {
      headers["content-security-policy"] =
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'self'";
      headers["referrer-policy"] = "no-referrer";
    }
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, headers);
      res.end();
      return 304;
    }
    headers["content-length"] = info.size;
    if (encoding) headers["content-encoding"] = encoding;
    res.writeHead(200, headers);
    if (req.method === "HEAD") {
      res.end();
      return 200;
    }
    createReadStream(sendPath).pipe(res);
    return 200;
  };
}

function notFound(res) {
  res.writeHead(404, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache" });
  res.end("not found\n");
  return 404;
}
