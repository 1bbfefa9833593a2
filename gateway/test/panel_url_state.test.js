import assert from "node:assert/strict";
import { test } from "node:test";
import { Action, OrderBy } from "../panel/src/enums.js";
import { readViewState, writeViewState } from "../panel/src/url_state.js";

test("a view survives the address bar and back", () => {
  const view = { date: "2026-12-01", filter: "203.0.113.0/24", action: Action.REJECT, orderBy: OrderBy.PORT, reverse: true, page: 2, pageSize: 50, pageToken: "abc/def=" };
  const search = writeViewState("", view, { pageSize: 100 });
  assert.equal(search, "?eg_date=2026-12-01&eg_ip=203.0.113.0%2F24&eg_action=reject&eg_sort=port&eg_rev=1&eg_rows=50&eg_page=3&eg_at=abc%2Fdef%3D");
  assert.deepEqual(readViewState(search), view);
});

test("defaults leave the address clean; other parameters are kept", () => {
  assert.equal(writeViewState("?tab=net", { date: "", filter: "", action: 0, orderBy: OrderBy.COUNT, reverse: false, page: 0, pageSize: 100 }, { pageSize: 100 }), "?tab=net");
  assert.equal(writeViewState("?eg_date=2026-01-01&tab=net", { date: "2026-01-02", orderBy: OrderBy.COUNT }), "?tab=net&eg_date=2026-01-02");
});

test("the token never goes into the query string", () => {
  const s = writeViewState("", { date: "2026-01-02", token: "secret", accountId: "alice" });
  assert.ok(!s.includes("secret") && !s.includes("alice"), s);
});

test("malformed values are left out, never an error", () => {
  const v = readViewState("?eg_date=yesterday&eg_action=maybe&eg_sort=size&eg_rows=7&eg_page=3&eg_rev=yes");
  assert.deepEqual(v, {}); // a page without its token is the first page
  assert.deepEqual(readViewState("?eg_page=0&eg_at=x"), {});
  assert.deepEqual(readViewState("?eg_action=accept&eg_sort=last_seen"), { action: Action.ACCEPT, orderBy: OrderBy.LAST_SEEN });
});
