#!/usr/bin/env node
// Bundles the panel (panel/src) into panel/dist with esbuild: one JS and one
// CSS file named by content hash (served as immutable), and index.html
// pointing at them (served with no-cache). Prints the sizes. npm run build.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "panel", "src");
const out = join(root, "panel", "dist");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: { app: join(src, "app.js") },
  bundle: true,
  minify: process.env.EGRESS_PANEL_NO_MINIFY !== "1",
  format: "esm",
  target: ["chrome100", "firefox100", "safari15"],
  entryNames: "[name]-[hash]",
  outdir: out,
  metafile: true,
  legalComments: "linked",
  // The Ukrainian and Russian messages as UTF-8, not \uXXXX escapes (a third of the size).
  charset: "utf8",
  logLevel: "warning",
});
// boot.js: a small classic script that sends the first call while the
// bundle loads (panel/src/early.js).
const boot = await build({
  entryPoints: { boot: join(src, "boot.js") },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome100", "firefox100", "safari15"],
  entryNames: "[name]-[hash]",
  outdir: out,
  metafile: true,
  logLevel: "warning",
});
const files = [...Object.keys(result.metafile.outputs), ...Object.keys(boot.metafile.outputs)].map((p) => basename(p));
const js = files.find((f) => /^app-.*\.js$/.test(f));
const css = files.find((f) => /^app-.*\.css$/.test(f));
const bootJs = files.find((f) => /^boot-.*\.js$/.test(f));
writeFileSync(join(out, "index.html"), readFileSync(join(src, "index.html"), "utf8").replace("%JS%", js).replace("%CSS%", css).replace("%BOOT%", bootJs));
// The demo page's icon (a provider's page has its own).
copyFileSync(join(src, "favicon.svg"), join(out, "favicon.svg"));
const sizes = {};
for (const f of [js, css, bootJs, "index.html", "favicon.svg"]) {
  const body = readFileSync(join(out, f));
  const gz = gzipSync(body, { level: 9 });
  // Precompressed copies: the gateway serves them to browsers that accept gzip.
  writeFileSync(join(out, `${f}.gz`), gz);
  if (f === js || f === css || f === bootJs) sizes[f] = { bytes: body.length, gzip: gz.length };
}
writeFileSync(join(out, "sizes.json"), JSON.stringify(sizes, null, 2) + "\n");
for (const [f, s] of Object.entries(sizes)) console.log(`${f}: ${s.bytes} bytes (${s.gzip} gzipped)`);
