// What the embedding page tells the panel. Pure (takes the window-like
// object) and free of imports, so boot.js stays small: unit-tested under node.
//
// Where the settings come from, in order:
//  1. window.egressPanelConfig, set by the provider's panel before the script
//     loads (the documented hook, gateway/README.md):
//       token, getToken, accountId, apiBase, mount, lang, pageSize, refreshMs,
//       urlState;
//  2. the URL fragment #token=...&account=...[&api=...&lang=...] (the demo; a
//     fragment never reaches servers or their logs).
// accountId may be omitted when the token is a JWT naming the account.

// Rows per page the list offers.
export const kPageSizes = [25, 50, 100, 500, 1000];

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
  // pageSize: rows per page of the list; null lets the panel choose (fewer
  // on phones).
  const pageSize = kPageSizes.includes(Number(given.pageSize)) ? Number(given.pageSize) : null;
  // refreshMs: how often new counts are fetched (default 30 s, 0: never).
  const refreshMs = given.refreshMs !== undefined && Number.isFinite(Number(given.refreshMs)) ? Math.max(0, Number(given.refreshMs)) : 30000;
  // getToken: optional async function returning a fresh token, called before
  // each call, so a provider can renew short-lived tokens without a reload.
  const getToken = typeof given.getToken === "function" ? given.getToken : null;
  // lang: "en", "uk" or "ru" (the provider panel's language); else the browser's.
  const lang = given.lang || frag.get("lang") || "";
  // urlState: false when the provider's page owns its query string.
  const urlState = given.urlState !== false;
  return { token, getToken, accountId, apiBase, pageSize, refreshMs, lang, urlState };
}

// Rows per page when the address bar does not say: the configured size, else
// fewer on a phone-sized screen. boot.js asks for the first page with it, so
// both must agree.
export function defaultPageSize(config, win = window) {
  return config.pageSize || (win.matchMedia?.("(max-width: 640px)").matches ? 25 : 100);
}
