// The list's view (date, filter, action, sort, page) in the page address, so
// it survives a reload and can be shared. Pure: unit-tested under node.
//
// The view goes into the query string (?eg_date=2026-12-01&eg_ip=203.0.), and
// never the token: the demo page keeps the token in the #fragment, which
// browsers do not send to servers, and a provider's page passes it in
// window.egressPanelConfig. Every parameter starts with "eg_" so the
// provider's own parameters on the same page are left alone.
import { kPageSizes } from "./config.js";
import { Action, OrderBy, sortNames } from "./enums.js";
const actionNames = { accept: Action.ACCEPT, reject: Action.REJECT };
const keys = ["eg_date", "eg_ip", "eg_action", "eg_sort", "eg_rev", "eg_page", "eg_rows", "eg_at"];

// The view a URL's query string asks for. Anything malformed is left out
// (the panel's defaults apply), never an error: links get mangled.
//   { date, filter, action, orderBy, reverse, page, pageSize, pageToken }
// date: "YYYY-MM-DD" or ""; page: 0-based; pageToken: the token of that page.
export function readViewState(search) {
  const q = new URLSearchParams(search);
  const view = {};
  const date = q.get("eg_date") || "";
  if (/^\d{4}-\d{2}-\d{2}$/.test(date)) view.date = date;
  const ip = q.get("eg_ip");
  if (ip && ip.length <= 100) view.filter = ip.trim();
  const action = actionNames[q.get("eg_action") || ""];
  if (action) view.action = action;
  const sort = sortNames[q.get("eg_sort") || ""];
  if (sort) view.orderBy = sort;
  if (q.get("eg_rev") === "1") view.reverse = true;
  const rows = Number(q.get("eg_rows"));
  if (kPageSizes.includes(rows)) view.pageSize = rows;
  const page = Number(q.get("eg_page"));
  const token = q.get("eg_at") || "";
  // A page past the first is only meaningful with its token.
  if (Number.isInteger(page) && page >= 2 && page <= 100000 && token && token.length <= 1000) {
    view.page = page - 1;
    view.pageToken = token;
  }
  return view;
}

// The query string for a view, keeping every parameter that is not ours.
// Defaults are left out, so an untouched page has a clean address.
export function writeViewState(search, view, defaults = {}) {
  const q = new URLSearchParams(search);
  for (const k of keys) q.delete(k);
  if (view.date) q.set("eg_date", view.date);
  if (view.filter) q.set("eg_ip", view.filter);
  const action = Object.keys(actionNames).find((k) => actionNames[k] === view.action);
  if (action) q.set("eg_action", action);
  const sort = Object.keys(sortNames).find((k) => sortNames[k] === view.orderBy);
  if (sort && view.orderBy !== OrderBy.COUNT) q.set("eg_sort", sort);
  if (view.reverse) q.set("eg_rev", "1");
  if (view.pageSize && view.pageSize !== defaults.pageSize) q.set("eg_rows", String(view.pageSize));
  if (view.page > 0 && view.pageToken) {
    q.set("eg_page", String(view.page + 1));
    q.set("eg_at", view.pageToken);
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
