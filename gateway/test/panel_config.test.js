import assert from "node:assert/strict";
import { test } from "node:test";
import { readConfig } from "../panel/src/config.js";

const win = (config, hash = "") => ({ egressPanelConfig: config, location: { hash, origin: "https://panel.example.net" } });

test("the embedding hook wins over the fragment", () => {
  const c = readConfig(win({ token: "t1", accountId: "u1", lang: "ru", pageSize: 50, refreshMs: 0, urlState: false }, "#token=t2&account=u2&lang=uk"));
  assert.deepEqual({ ...c, getToken: undefined }, { token: "t1", getToken: undefined, accountId: "u1", apiBase: "https://panel.example.net", pageSize: 50, refreshMs: 0, lang: "ru", urlState: false });
});

test("the demo fragment; defaults", () => {
  const c = readConfig(win(undefined, "#token=t2&account=u2&lang=uk"));
  assert.equal(c.token, "t2");
  assert.equal(c.accountId, "u2");
  assert.equal(c.lang, "uk");
  assert.equal(c.pageSize, null); // the panel picks (fewer rows on phones)
  assert.equal(c.refreshMs, 30000);
  assert.equal(c.urlState, true);
});

test("the account from a JWT's subject", () => {
  const payload = Buffer.from(JSON.stringify({ sub: "u1234" })).toString("base64url");
  assert.equal(readConfig(win({ token: `h.${payload}.s` })).accountId, "u1234");
});
