// The "Outgoing connections" section of the hosting panel (reference panel,
// section 2.18.3). Plain DOM, no framework; uPlot draws the per-day graph.
// Every call goes through the gateway as gRPC-web with the account's token.
//
// This file only puts the widgets together: each lives in a module of its
// own (connections_table, date_picker, filter, graph, blocked_rules,
// block_ip_dialog, block_all) and is told what to do through callbacks;
// the view (date, filter, action, sort, page) lives here and in the address
// bar (url_state). Embedding: gateway/README.md.
import "./style.css";
import { createApi } from "./api.js";
import { createBlockAll } from "./block_all.js";
import { createBlockIpDialog } from "./block_ip_dialog.js";
import { createBlockedRules } from "./blocked_rules.js";
import { defaultPageSize, readConfig } from "./config.js";
import { createConnectionsTable } from "./connections_table.js";
import { createDatePicker, dateKey, keyDate } from "./date_picker.js";
import { createExportButton } from "./export_csv.js";
import { createConfirm } from "./dialog.js";
import { h, revealElement } from "./dom.js";
import { OrderBy, Protocol, actionText } from "./enums.js";
import { describeError, isSessionError, Op } from "./errors.js";
import { createFilter } from "./filter.js";
import { createGraph } from "./graph.js";
import { createI18n, pickLanguage } from "./i18n.js";
import { filterKind } from "./ip.js";
import { createLiveRefresh, createRetrySchedule, createUpdatedLabel } from "./live.js";
import { createNotifier } from "./notify.js";
import { readViewState, writeViewState } from "./url_state.js";

// Runs fn once the browser has painted what is in the page now (the timing
// marks of bench/panel_browser_bench.js).
const afterPaint = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));
const whenIdle = (fn) => (window.requestIdleCallback ? requestIdleCallback(fn, { timeout: 300 }) : setTimeout(fn, 50));

// Pauses between re-reads of addresses whose name and owner are not known
// yet (the service looks them up in the background): about 1.5 minutes in all.
const kPendingRetryMs = [2000, 4000, 8000, 16000, 32000];

// deps.api: the calls (api.js) by default; the bench's static page passes
// calls that never answer, to time the page without any.
export function mountPanel(root, config, deps = {}) {
  const i18n = createI18n(pickLanguage(config.lang, navigator.languages || []));
  const { t } = i18n;
  const api = deps.api || createApi(config, window.egressPanelEarly);
  window.egressPanelEarly = null;
  const account = config.accountId;
  const defaults = { pageSize: defaultPageSize(config, window) };
  const view = { date: "", filter: "", action: 0, orderBy: OrderBy.COUNT, reverse: false, page: 0, pageSize: defaults.pageSize, pageTokens: [""] };
  const fromUrl = config.urlState ? readViewState(window.location.search) : {};

  let listSeq = 0;
  let locked = false;

  // The service's refusals in the customer's words; the raw text goes to the
  // console for whoever debugs the embedding.
  function describe(err, op) {
    const d = describeError(err, op);
    if (d.detail) console.warn(`egress panel: ${d.detail}`);
    if (isSessionError(d)) lockPage("notice.session");
    return t(d.key, d.params);
  }

  // --- widgets -----------------------------------------------------------------

  const section = h("section", { class: "eg", "aria-labelledby": "eg-title", lang: i18n.lang });
  const notify = createNotifier(section);
  const confirm = createConfirm(section, i18n);
  const notice = h("div", { class: "eg-banner eg-page-notice", id: "eg-page-notice", role: "alert", hidden: true });
  const datePicker = createDatePicker({ i18n, onSelect: (key) => selectDate(key) });
  const filter = createFilter({
    i18n,
    onFilter: (text) => {
      view.filter = text;
      resetPaging();
      loadConnections();
    },
    onAction: (action) => {
      view.action = action;
      resetPaging();
      loadConnections();
    },
  });
  const pendingList = createRetrySchedule({ delaysMs: kPendingRetryMs, run: () => loadConnections({ quiet: true }) });
  const table = createConnectionsTable({
    i18n,
    onSort: setSort,
    onPrev: goPrev,
    onNext: () => {
      if (view.pageTokens[view.page + 1]) {
        view.page++;
        loadConnections();
      }
    },
    onPageSize: (n) => {
      view.pageSize = n;
      resetPaging();
      loadConnections();
    },
    onBlock: blockAddress,
    onUnblock: async (c, btn) => {
      const done = await rules.unblockRules([c.addressRuleId], btn, c.ip);
      if (done) table.focusLock(c.ip);
    },
    pendingGaveUp: (ip) => pendingList.gaveUp(ip),
  });
  const exportCsv = createExportButton({ i18n, config, account, getView: () => view, notify, onSessionEnded: () => lockPage("notice.session") });
  table.addAction(exportCsv.el);
  const updated = h("span", { class: "eg-updated", id: "eg-updated" });
  const graph = createGraph({
    i18n,
    onSelectDay: (key) => {
      selectDate(key);
      revealElement(listTop);
    },
  });
  const blockAll = createBlockAll({ i18n, api, account, confirm, notify, describe, onChanged: () => Promise.allSettled([loadConnections({ quiet: true }), loadDaily()]) });
  const pendingRules = createRetrySchedule({ delaysMs: kPendingRetryMs, run: () => (rules.busy() ? null : rules.load()) });
  const rules = createBlockedRules({
    i18n,
    api,
    account,
    confirm,
    notify,
    describe,
    onChanged: () => Promise.allSettled([loadConnections({ quiet: true }), loadStatus()]),
    onBlockIp: () => blockIp.open(rules.blockIpBtn),
    pendingGaveUp: (ip) => pendingRules.gaveUp(ip),
    // Addresses whose name/owner is not known yet are re-read a few times.
    onLoaded: (pendingIps) => pendingRules.want(pendingIps),
  });
  const blockIp = createBlockIpDialog({
    i18n,
    api,
    account,
    describe,
    onBlocked: async (rule) => {
      notify.say(t("blockIp.done", { network: rule.network }));
      await afterRuleChange();
      rules.blockIpBtn.focus();
    },
    onUseBlockAll: () => blockAll.requestOn(),
    onShowRule: (ruleId) => rules.highlight(ruleId),
  });
  const egressNote = h("li", { id: "eg-egress-note", hidden: true });
  const listTop = h("div", { class: "eg-list-top" }, table.summary, updated, table.actions);

  section.append(
    h("h2", { id: "eg-title", text: t("page.title") }),
    h("p", { class: "eg-intro", text: t("page.intro") }),
    notice,
    blockAll.banners,
    h("div", { class: "eg-toolbar" }, datePicker.el, filter.ipField, filter.actionField, blockAll.field),
    h("p", { class: "eg-hint", text: t("dates.onlyWithRecords") }),
    table.incomplete,
    listTop,
    h("div", { class: "eg-scroll" }, table.table),
    table.pager,
    table.legend,
    graph.el,
    rules.el,
    h(
      "details",
      { class: "eg-legend" },
      h("summary", { text: t("notes.title") }),
      h("ul", {}, h("li", { text: t("notes.antivirus") }), h("li", { text: t("notes.egress") }), egressNote, h("li", { text: t("notes.ipv6") }), h("li", { text: t("notes.switch") })),
    ),
    blockIp.dialog,
  );
  root.replaceChildren(section);
  table.setPageSize(view.pageSize);
  afterPaint(() => performance.mark("egress:mounted-painted"));

  // --- the page cannot work (no token, session over) ------------------------

  function disableAll() {
    for (const el of section.querySelectorAll("button, input, select, textarea")) el.disabled = true;
  }
  function lockPage(key) {
    if (locked) return;
    locked = true;
    notice.textContent = t(key);
    notice.hidden = false;
    live.stop();
    pendingList.stop();
    pendingRules.stop();
    disableAll();
  }

  // --- the view and the address bar ----------------------------------------

  // history.replaceState costs Chromium ~3-30 ms (a round trip to the browser
  // process), so the address is written once the rows are on screen, and
  // several changes in a row write it once.
  let urlTimer = null;
  function syncUrl() {
    if (!config.urlState || urlTimer !== null) return;
    urlTimer = setTimeout(() => {
      urlTimer = null;
      const search = writeViewState(window.location.search, { ...view, pageToken: view.pageTokens[view.page] }, defaults);
      const url = `${window.location.pathname}${search}${window.location.hash}`;
      if (url !== `${window.location.pathname}${window.location.search}${window.location.hash}`) history.replaceState(history.state, "", url);
    }, 100);
  }

  function resetPaging() {
    view.pageTokens = [""];
    view.page = 0;
  }

  function setSort(order) {
    if (view.orderBy === order) view.reverse = !view.reverse;
    else {
      view.orderBy = order;
      view.reverse = false;
    }
    resetPaging();
    loadConnections();
  }

  function selectDate(key) {
    if (!key || key === view.date) return;
    view.date = key;
    datePicker.setValue(key);
    resetPaging();
    loadConnections();
    // The graph's highlight is redrawn when the page is idle, not in the way
    // of the list.
    whenIdle(() => graph.setSelected(view.date));
  }

  // "Previous" from a page restored from the address bar: the tokens of the
  // pages before it are fetched first (the API pages forward only).
  async function goPrev() {
    if (view.page === 0) return;
    const target = view.page - 1;
    try {
      for (let p = 0; p < target; p++) {
        if (view.pageTokens[p + 1] !== undefined) continue;
        const res = await api.listConnections(listRequest(view.pageTokens[p]));
        view.pageTokens[p + 1] = res.nextPageToken;
      }
    } catch (err) {
      notify.say(describe(err, Op.load));
      return;
    }
    view.page = target;
    loadConnections();
  }

  // --- loading --------------------------------------------------------------

  const listRequest = (pageToken) => ({
    accountId: account,
    date: keyDate(view.date),
    ipFilter: view.filter,
    action: view.action,
    orderBy: view.orderBy,
    reverse: view.reverse,
    pageSize: view.pageSize,
    pageToken,
  });

  function emptyText() {
    const only = view.action ? ` ${t("list.onlyAction", { action: actionText(view.action) })}` : "";
    switch (filterKind(view.filter)) {
      case "address":
        return t("list.emptyAddress", { filter: view.filter }) + only;
      case "network":
        return t("list.emptyNetwork", { filter: view.filter }) + only;
      case "prefix":
        return t("list.emptyPrefix", { filter: view.filter }) + only;
      default:
        return view.action ? t("list.emptyAction", { action: actionText(view.action) }) : t("list.emptyDay");
    }
  }

  // quiet: a refresh in the background (live, after a change): the rows stay
  // until the new ones arrive, and a failure is thrown instead of shown.
  async function loadConnections({ quiet = false } = {}) {
    table.renderSortMarks(view);
    const seq = ++listSeq;
    if (!view.date) {
      exportCsv.setEnabled(false);
      table.showMessage(t("list.noneYet"), "empty");
      syncUrl();
      return;
    }
    if (!quiet) table.setBusy(true);
    try {
      const res = await api.listConnections(listRequest(view.pageTokens[view.page] ?? ""));
      if (seq !== listSeq) return;
      showPage(res, { markNew: quiet });
    } catch (err) {
      if (seq !== listSeq) return;
      const d = describeError(err, Op.load);
      if (d.key === "err.pageExpired" && view.page > 0) {
        // A page from the address bar whose token no longer fits: first page.
        resetPaging();
        return loadConnections({ quiet });
      }
      if (quiet) throw err;
      exportCsv.setEnabled(false);
      if (d.key === "err.badFilter") filter.refused("err.badFilter");
      table.showMessage(t("list.loadFailed", { reason: describe(err, Op.load) }), "error", () => loadConnections());
    } finally {
      if (seq === listSeq) table.setBusy(false);
    }
    syncUrl();
  }

  // A page of the list on screen: its rows, the next page's token, the
  // export button, the first-rows timing marks, the lookups still pending.
  function showPage(res, { markNew }) {
    view.pageTokens[view.page + 1] = res.nextPageToken;
    table.render(res, view, emptyText(), { markNew });
    // The file holds what the list shows, over all its pages.
    exportCsv.setEnabled(!locked && res.totalRows > 0n);
    if (!performance.getEntriesByName("egress:rows").length) {
      performance.mark("egress:rows");
      afterPaint(() => performance.mark("egress:rows-painted"));
    }
    pendingList.want(table.pendingIps(res));
  }

  // The first page of the newest day, asked for without a date (the service
  // picks the newest day and names it) beside ListDates: the request boot.js
  // sent early (early.js), so the rows need no round trip after the dates.
  // Resolves with the day it showed, or null when it showed nothing (no
  // records, failed, or the dates chose another day).
  async function loadNewestConnections() {
    table.renderSortMarks(view);
    const seq = ++listSeq;
    try {
      const res = await api.listConnections({ accountId: account, pageSize: view.pageSize });
      const day = dateKey(res.date);
      if (seq !== listSeq || !day || (view.date && view.date !== day)) return null;
      view.date = day;
      showPage(res, { markNew: false });
      table.setBusy(false);
      return day;
    } catch {
      return null; // the dated load after ListDates shows what went wrong
    }
  }

  async function loadDates() {
    try {
      const res = await api.listDates({ accountId: account });
      const chosen = datePicker.setDates(res.dates, view.date);
      if (chosen !== view.date) {
        view.date = chosen;
        resetPaging();
      }
      graph.setSelected(view.date);
    } catch (err) {
      datePicker.setUnavailable();
      throw err;
    }
  }

  async function loadStatus({ quiet = false } = {}) {
    try {
      const status = await api.getAccountStatus({ accountId: account });
      blockAll.render(status);
      const egress = [status.egressIpv4 && `${status.egressIpv4} (IPv4)`, status.egressIpv6 && `${status.egressIpv6} (IPv6)`].filter(Boolean);
      egressNote.hidden = egress.length === 0;
      egressNote.textContent = t("notes.egressAddresses", { addresses: egress.join(", ") });
    } catch (err) {
      if (quiet) throw err;
      blockAll.setUnavailable(t("blockAll.statusUnavailable", { reason: describe(err, Op.load) }));
    }
  }

  async function loadDaily({ quiet = false } = {}) {
    graph.setLoading();
    try {
      const res = await api.dailyCounts({ accountId: account });
      graph.setDays(res.days);
    } catch (err) {
      if (quiet) throw err;
      graph.setError(t("graph.loadFailed", { reason: describe(err, Op.load) }), () => loadDaily());
    }
  }

  async function afterRuleChange() {
    await Promise.allSettled([rules.load(), loadConnections({ quiet: true }), loadStatus()]);
  }

  // 🔒 Block on a row: blocks the address for every protocol and port at
  // once (easy to undo: the message offers Undo, the row offers Unblock).
  async function blockAddress(c, btn) {
    btn.disabled = true;
    try {
      const rule = await api.blockDestination({ accountId: account, destination: c.ip, protocol: Protocol.ANY, port: 0 });
      notify.say(t("row.blockedNow", { ip: c.ip }), {
        label: t("common.undo"),
        run: async () => {
          try {
            await api.deleteBlockRules({ accountId: account, ruleIds: [rule.ruleId] });
            notify.say(t("unblock.done", { what: c.ip }));
          } catch (err) {
            notify.say(describe(err, Op.unblock));
          }
          await afterRuleChange();
        },
      });
      await afterRuleChange();
      table.focusLock(c.ip);
    } catch (err) {
      btn.disabled = false;
      notify.say(describe(err, Op.block));
    }
  }

  // --- live refresh ---------------------------------------------------------

  const updatedLabel = createUpdatedLabel(updated, i18n);
  const live = createLiveRefresh({
    periodMs: config.refreshMs,
    isHidden: () => document.hidden,
    // Not while a dialog asks something about the rows underneath.
    busy: () => !!section.querySelector("dialog[open]"),
    onChange: (s) => updatedLabel.update(s),
    run: async () => {
      const newestBefore = datePicker.newest();
      const onNewest = view.date === newestBefore;
      await Promise.all([loadDates(), loadStatus({ quiet: true }), loadDaily({ quiet: true })]);
      // Follow a new day only if the user was looking at the newest one.
      if (onNewest && datePicker.newest() !== newestBefore) selectDate(datePicker.newest());
      else if (view.page === 0) await loadConnections({ quiet: true });
    },
  });
  document.addEventListener("visibilitychange", () => live.visibilityChanged());

  // --- start ------------------------------------------------------------------

  async function start() {
    if (!(config.token || config.getToken) || !account) {
      console.warn("egress panel: no account token: the hosting panel sets window.egressPanelConfig = { token, accountId } (gateway/README.md), or the demo link carries #token=…&account=…");
      lockPage("notice.noToken");
      for (const body of [table.body, section.querySelector("#eg-rules-body")]) body.replaceChildren();
      datePicker.setUnavailable();
      root.dataset.ready = "true";
      return;
    }
    // The list first: it is what the customer came for. With a date in the
    // address bar, its rows are asked for at once, beside the dates.
    Object.assign(view, {
      date: fromUrl.date || "",
      filter: filter.set(fromUrl.filter || "", fromUrl.action),
      action: fromUrl.action || 0,
      orderBy: fromUrl.orderBy || OrderBy.COUNT,
      reverse: !!fromUrl.reverse,
      pageSize: fromUrl.pageSize || view.pageSize,
    });
    if (fromUrl.pageToken) {
      view.page = fromUrl.page;
      view.pageTokens = [""];
      view.pageTokens[view.page] = fromUrl.pageToken;
    }
    table.setPageSize(view.pageSize);
    table.setBusy(true);
    const askedDate = view.date;
    const early = askedDate ? loadConnections() : null;
    // No date asked, the default view: the newest day's rows beside the dates.
    const plain = !view.filter && !view.action && view.orderBy === OrderBy.COUNT && !view.reverse && view.page === 0;
    const newest = !askedDate && plain ? loadNewestConnections() : null;
    const list = loadDates().then(
      async () => {
        if (newest && view.date && (await newest) === view.date) {
          syncUrl();
          return;
        }
        return early && view.date === askedDate ? early : loadConnections();
      },
      (err) => table.showMessage(t("list.datesFailed", { reason: describe(err, Op.load) }), "error", () => start()),
    );
    // The rest once the list is on screen: on a busy machine every call in
    // flight slows the others, and the list is what the customer came for.
    await list;
    await Promise.allSettled([loadStatus(), loadDaily(), rules.load()]);
    if (locked) disableAll();
    root.dataset.ready = "true";
    live.markFresh();
  }

  return {
    ready: start(),
    view,
    i18n,
    refresh: () => live.now(),
    live,
    chart: () => graph.chart(),
    columns: rules.columns,
    addListAction: table.addAction,
  };
}

// Auto-mount unless the embedding page says otherwise (mount: false).
const cfg = window.egressPanelConfig || {};
if (cfg.mount !== false) {
  const target = typeof cfg.mount === "string" ? document.querySelector(cfg.mount) : cfg.mount instanceof Element ? cfg.mount : document.getElementById("egress-panel");
  const root = target || document.body.appendChild(document.createElement("div"));
  window.egressPanel = mountPanel(root, readConfig());
}
// Timing marks for bench/panel_browser_bench.js: the bundle has run
// ("egress:loaded"), the mounted page is painted ("egress:mounted-painted"),
// the first rows are in the page and painted ("egress:rows", "-painted").
performance.mark("egress:loaded");
export { readConfig };
