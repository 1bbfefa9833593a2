import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveStaticPath } from "../src/static.js";
import { formatRecord } from "../src/log.js";

test("resolveStaticPath stays inside the root", () => {
  assert.equal(resolveStaticPath("/srv/p", "/"), "/srv/p/index.html");
  assert.equal(resolveStaticPath("/srv/p", "/app-ABCDEFGH.js"), "/srv/p/app-ABCDEFGH.js");
  assert.equal(resolveStaticPath("/srv/p", "/sub/"), "/srv/p/sub/index.html");
  for (const bad of ["/../etc/passwd", "/%2e%2e/x", "/a/../../x", "/..%2f..%2fx", "/.git/config", "/a\\..\\b", "/%00", "/%E0%A4%A", "relative"]) {
    assert.equal(resolveStaticPath("/srv/p", bad), null, bad);
  }
});

test("log records are one line with quoted values", () => {
  const line = formatRecord("info", "rpc", { method: "a/b", error: 'bad "x"\nnext', n: 3 });
  assert.match(line, /^ts=\S+ level=info event=rpc method=a\/b error="bad \\"x\\"\\nnext" n=3$/);
  assert.ok(!line.includes("\n"));
});
