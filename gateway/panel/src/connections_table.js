// The list of recorded outgoing connections of the selected date: IP (with
// PTR and owner), protocol, port, action, number of connections, and per row
// a button that blocks the address (🔒 Block) or, when it is blocked,
// unblocks it (🔓 Unblock). Sortable by IP, port and count; paged.
//
// Columns keep their widths whatever the rows hold (table-layout: fixed),
// and a refresh replaces rows in place: nothing on the page jumps.
// `actions` is a slot above the table for more list-wide buttons.
import { h, iconLabel, stateRow } from "./dom.js";
import { actionText, descendingByDefault, OrderBy, protocolText } from "./enums.js";
import { ipCell, isPending } from "./ip_info.js";
import { kPageSizes } from "./config.js";

const kCols = 6;
const kFirstRows = 30; // rows rendered before the first paint of a page
const rowKey = (c) => `${c.ip}|${c.protocol}|${c.port}|${c.action}`;

export function createConnectionsTable({ i18n, onSort, onPrev, onNext, onPageSize, onBlock, onUnblock, pendingGaveUp = () => false }) {
  const { t } = i18n;
  const body = h("tbody", { id: "eg-conn-body" });
  const sortButtons = {};
  const sortTh = (label, order, cls) => {
    const btn = h("button", { type: "button", class: "eg-sort", dataset: { order: String(order) } }, h("span", { class: "eg-sort-label", text: label }), h("span", { class: "eg-sort-mark", "aria-hidden": "true" }));
    btn.addEventListener("click", () => onSort(order));
    sortButtons[order] = btn;
    return h("th", { scope: "col", class: cls }, btn);
  };
  const table = h(
    "table",
    { class: "eg-table eg-conn", id: "eg-connections", "aria-describedby": "eg-conn-summary" },
    h("caption", { class: "eg-sr" }, t("list.caption")),
    h("colgroup", {}, ...["ip", "proto", "port", "action", "count", "lock"].map((c) => h("col", { class: `eg-w-${c}` }))),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        sortTh(t("col.ip"), OrderBy.IP, "eg-col-ip"),
        h("th", { scope: "col", text: t("col.protocol") }),
        sortTh(t("col.port"), OrderBy.PORT, "eg-num"),
        h("th", { scope: "col", text: t("col.action") }),
        sortTh(t("col.count"), OrderBy.COUNT, "eg-num"),
        h("th", { scope: "col", class: "eg-col-lock" }, t("col.block")),
      ),
    ),
    body,
  );
  const summary = h("p", { class: "eg-summary", id: "eg-conn-summary", "aria-live": "polite" });
  const incomplete = h("p", { class: "eg-incomplete", id: "eg-incomplete", hidden: true }, t("list.incomplete"));
  const actions = h("div", { class: "eg-list-actions" });
  const prev = h("button", { type: "button", id: "eg-prev", disabled: true }, t("pager.prev"));
  const next = h("button", { type: "button", id: "eg-next", disabled: true }, t("pager.next"));
  const pageSize = h("select", { id: "eg-page-size" }, ...kPageSizes.map((n) => h("option", { value: String(n), text: i18n.number(n) })));
  prev.addEventListener("click", onPrev);
  next.addEventListener("click", onNext);
  pageSize.addEventListener("change", () => onPageSize(Number(pageSize.value)));

  const legend = h(
    "details",
    { class: "eg-legend" },
    h("summary", { text: t("legend.title") }),
    h(
      "ul",
      {},
      h("li", {}, h("b", { text: "ACCEPT" }), " — ", t("legend.accept")),
      h("li", {}, h("b", { text: "REJECT" }), " — ", t("legend.reject")),
      h("li", {}, h("b", { text: t("col.count") }), " — ", t("legend.count")),
      h("li", {}, h("b", {}, ...iconLabel("🔒", t("row.block"))), " / ", h("b", {}, ...iconLabel("🔓", t("row.unblock"))), " — ", t("legend.lock")),
    ),
  );

  // The rest of a page still to be added (render): its frame and timer, and
  // `settled`, resolved once it is in or dropped.
  let tail = null;
  let settled = Promise.resolve();
  const cancelTail = () => {
    if (tail === null) return;
    cancelAnimationFrame(tail.frame);
    clearTimeout(tail.timer);
    tail.resolve();
    tail = null;
  };
  let seen = new Set(); // row keys of the last render, to mark new rows
  let rendered = false;
  let rowsById = new Map(); // row key → connection, for the lazy tooltips
  // Words every row repeats, translated once (a render makes ~100 rows).
  const L = { ip: t("col.ip"), protocol: t("col.protocol"), port: t("col.port"), action: t("col.action"), count: t("col.count"), block: t("col.block"), any: t("common.any"), blockWord: t("row.block"), unblockWord: t("row.unblock"), blocked: t("row.blocked"), covered: t("row.coveredByRule") };
  // "First …, last …" on the count: formatted when the pointer gets there,
  // not for every row of every render.
  body.addEventListener("mouseover", (e) => {
    const td = e.target.closest?.("td.eg-count");
    if (!td || td.title) return;
    const c = rowsById.get(td.parentElement.dataset.key);
    if (c?.firstSeen) td.title = t("row.seen", { first: i18n.time(c.firstSeen), last: i18n.time(c.lastSeen) });
  });

  function renderSortMarks(view) {
    for (const [order, btn] of Object.entries(sortButtons)) {
      const o = Number(order);
      const active = view.orderBy === o;
      const desc = active && descendingByDefault(o) !== view.reverse;
      btn.parentElement.setAttribute("aria-sort", active ? (desc ? "descending" : "ascending") : "none");
      btn.querySelector(".eg-sort-mark").textContent = active ? (desc ? " ▼" : " ▲") : "";
      const name = btn.querySelector(".eg-sort-label").textContent;
      btn.setAttribute("aria-label", active ? t(desc ? "sort.activeDesc" : "sort.activeAsc", { name }) : t("sort.by", { name }));
    }
  }

  function rowOf(c, incompleteDay, isNew) {
    const actionName = actionText(c.action);
    return h(
      "tr",
      { dataset: { ip: c.ip, action: actionName, key: rowKey(c) }, class: isNew ? "eg-new" : null },
      h("td", { class: "eg-col-ip", "data-label": L.ip }, ipCell(c.ip, c.ipInfo, i18n, { gaveUp: isPending(c.ipInfo) && pendingGaveUp(c.ip) })),
      h("td", { class: "eg-proto", "data-label": L.protocol, text: protocolText(c.protocol, L.any) }),
      h("td", { class: "eg-num eg-port", "data-label": L.port, text: c.port ? String(c.port) : "—" }),
      h("td", { class: "eg-act", "data-label": L.action }, h("span", { class: `eg-action eg-${actionName.toLowerCase()}`, text: actionName })),
      h("td", { class: "eg-num eg-count", "data-label": L.count, text: i18n.count(c.count, incompleteDay) }),
      lockCell(c),
    );
  }

  function lockCell(c) {
    const blocked = c.addressRuleId !== 0n;
    const coveredByOther = !blocked && c.blockingRuleIds.length > 0;
    const btn = h(
      "button",
      {
        type: "button",
        class: `eg-lock${blocked ? " eg-unlock-row" : ""}`,
        "aria-label": t(blocked ? "row.unblockIp" : "row.blockIp", { ip: c.ip }),
        title: t(blocked ? "row.unblockTitle" : "row.blockTitle", { ip: c.ip }),
        dataset: { ip: c.ip, ruleId: String(c.addressRuleId), blocked: blocked ? "true" : "false" },
      },
      ...iconLabel(blocked ? "🔓" : "🔒", blocked ? L.unblockWord : L.blockWord),
    );
    btn.addEventListener("click", () => (blocked ? onUnblock(c, btn) : onBlock(c, btn)));
    const status = blocked ? h("span", { class: "eg-blocked-tag", text: L.blocked }) : coveredByOther ? h("span", { class: "eg-covered", text: L.covered }) : null;
    return h("td", { class: "eg-col-lock", "data-label": L.block }, btn, status);
  }

  return {
    table,
    body,
    summary,
    incomplete,
    actions,
    legend,
    pager: h("div", { class: "eg-pager" }, prev, next, h("label", { for: "eg-page-size", text: t("pager.rows") }), pageSize),
    // Adds a list-wide button above the table.
    addAction: (el) => actions.append(el),
    setPageSize: (n) => (pageSize.value = String(n)),
    renderSortMarks,
    setBusy(busy) {
      if (busy) {
        table.setAttribute("aria-busy", "true");
        if (!body.querySelector("tr[data-key]")) stateRow(body, kCols, t("list.loading"), "loading");
        else body.classList.add("eg-stale");
      } else {
        table.removeAttribute("aria-busy");
        body.classList.remove("eg-stale");
      }
    },
    showMessage(text, kind, retry) {
      cancelTail();
      stateRow(body, kCols, text, kind, retry, t("common.retry"));
      summary.textContent = "";
      incomplete.hidden = true;
      prev.disabled = next.disabled = true;
      seen = new Set();
      rendered = false;
    },
    // res: ListConnectionsResponse; view: { page, pageSize, ... }; emptyText
    // for a page with no rows. markNew: a refresh of the same view (live), whose
    // rows that were not there before are marked for a moment.
    render(res, view, emptyText, { markNew = false } = {}) {
      cancelTail();
      incomplete.hidden = !res.incomplete;
      prev.disabled = view.page === 0;
      next.disabled = !res.nextPageToken;
      const rows = res.connections;
      const total = Number(res.totalRows);
      if (rows.length === 0) {
        stateRow(body, kCols, emptyText, "empty");
        summary.textContent = "";
        seen = new Set();
        rendered = false;
        return;
      }
      // Keep the keyboard focus on the same row's button across a re-render.
      const focused = body.contains(document.activeElement) ? document.activeElement.closest("tr")?.dataset.key : null;
      const keys = new Set(rows.map(rowKey));
      const before = seen;
      const isNew = markNew && rendered ? (key) => !before.has(key) : () => false;
      rowsById = new Map(rows.map((c) => [rowKey(c), c]));
      seen = keys;
      rendered = true;
      const build = (list) => {
        const frag = document.createDocumentFragment();
        for (const c of list) frag.append(rowOf(c, res.incomplete, isNew(rowKey(c))));
        return frag;
      };
      const first = view.page * view.pageSize + 1;
      const finish = () => {
        summary.textContent = t("list.rows", { from: i18n.number(first), to: i18n.number(first + rows.length - 1), total: i18n.number(total), n: total });
        if (focused) body.querySelector(`tr[data-key="${CSS.escape(focused)}"] button.eg-lock`)?.focus();
      };
      // The rows a screen shows first; the rest once those are painted, so
      // a new page appears a frame sooner (the summary follows the last row).
      body.replaceChildren(build(rows.slice(0, kFirstRows)));
      if (rows.length <= kFirstRows) {
        finish();
        return;
      }
      const job = { frame: 0, timer: 0, resolve: null };
      settled = new Promise((r) => (job.resolve = r));
      job.frame = requestAnimationFrame(() => {
        job.timer = setTimeout(() => {
          tail = null;
          body.append(build(rows.slice(kFirstRows)));
          finish();
          job.resolve();
        }, 0);
      });
      tail = job;
    },
    // Addresses on the page whose name/owner is still to come.
    pendingIps(res) {
      return res ? [...new Set(res.connections.filter((c) => isPending(c.ipInfo)).map((c) => c.ip))] : [];
    },
    // Focuses a row's button once every row of the page is in (see render).
    focusLock(ip) {
      settled.then(() => body.querySelector(`button.eg-lock[data-ip="${CSS.escape(ip)}"]`)?.focus());
    },
  };
}
