// The "Outgoing connections" section of the hosting panel (reference panel,
// section 2.18.3). Plain DOM, no framework; uPlot draws the per-day graph.
// Every call goes through the gateway as gRPC-web with the account's token.
//
// Embedding: set window.egressPanelConfig = { token, accountId, apiBase,
// mount } before loading this script (mount: an element or a selector; by
// default #egress-panel or the end of <body>). See gateway/README.md.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { Code, ConnectError, createApi, errorText, readConfig } from "./api.js";
import { destinationError, filterError, filterReady, portError } from "./ip.js";

// Enum values of egress.v1 (types.proto, connections.proto).
const Protocol = { ANY: 5, TCP: 1, UDP: 2, ICMP: 3, ICMPV6: 4 };
const protocolName = { 0: "Any", 1: "TCP", 2: "UDP", 3: "ICMP", 4: "ICMPv6", 5: "Any" };
const Action = { ACCEPT: 1, REJECT: 2 };
const OrderBy = { COUNT: 1, IP: 2, PORT: 3, LAST_SEEN: 4 };
const LockKind = { MANUAL: 1, ANTIVIRUS: 2 };
const IpStatus = { PENDING: 1, OK: 2, NO_PTR: 3, TEMPORARY_FAILURE: 4 };

const numberFmt = new Intl.NumberFormat("en-US");
const dayLabel = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// --- small DOM helpers -------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const dateKey = (d) => (d ? `${d.year}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}` : "");
const keyDate = (k) => {
  const [year, month, day] = k.split("-").map(Number);
  return { year, month, day };
};
const tsText = (t) => (t ? timeFmt.format(new Date(Number(t.seconds) * 1000)) : "");
const count = (n, lowerBound) => (lowerBound ? "≥ " : "") + numberFmt.format(Number(n));

function hostOf(network) {
  const m = /^(.*)\/(32|128)$/.exec(network);
  return m ? m[1] : network;
}

// "IP" cell: address, PTR record, owner (AS, organisation, country).
function ipCell(ip, info) {
  const lines = [h("span", { class: "eg-ip", text: ip })];
  if (info) {
    if (info.status === IpStatus.OK && info.ptr) {
      lines.push(h("span", { class: "eg-ptr", title: info.ptrConfirmed ? "PTR record (forward-confirmed)" : "PTR record", text: info.ptr }));
    } else if (info.status === IpStatus.NO_PTR) {
      lines.push(h("span", { class: "eg-ptr eg-muted", text: "no PTR record" }));
    } else if (info.status === IpStatus.PENDING) {
      lines.push(h("span", { class: "eg-ptr eg-muted", text: "looking up…" }));
    } else if (info.status === IpStatus.TEMPORARY_FAILURE) {
      lines.push(h("span", { class: "eg-ptr eg-muted", text: "PTR lookup failed, retrying later" }));
    }
    const owner = [info.asn ? `AS${info.asn}` : "", info.asName, info.country].filter(Boolean).join(" · ");
    if (owner) lines.push(h("span", { class: "eg-owner", text: owner }));
  }
  return lines;
}

// --- the panel ----------------------------------------------------------------

export function mountPanel(root, config) {
  const api = createApi(config);
  const account = config.accountId;
  const state = {
    dates: [],
    date: "",
    filter: "",
    action: 0,
    orderBy: OrderBy.COUNT,
    reverse: false,
    pageSize: config.pageSize || 100,
    pageTokens: [""],
    page: 0,
    listSeq: 0,
    status: null,
    rules: [],
    rulesNext: "",
    rulesTotal: 0,
    selected: new Set(),
    days: [],
  };

  // Skeleton. Ids are prefixed so the section can live inside a provider's page.
  const banner = h("div", { class: "eg-banner", id: "eg-av-banner", role: "alert", hidden: true });
  const lockNote = h("p", { class: "eg-lock-note", id: "eg-lock-note", "aria-live": "polite" });
  const switchInput = h("input", { type: "checkbox", role: "switch", id: "eg-block-all", "aria-describedby": "eg-lock-note eg-av-banner" });
  const switchError = h("p", { class: "eg-error", id: "eg-block-all-error", role: "alert", hidden: true });
  const dateSelect = h("select", { id: "eg-date", disabled: true }, h("option", { text: "Loading dates…" }));
  const filterInput = h("input", {
    type: "search",
    id: "eg-filter",
    placeholder: "IP, CIDR or prefix",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "eg-filter-hint",
  });
  const filterHint = h("span", { class: "eg-hint", id: "eg-filter-hint", "aria-live": "polite" });
  const actionSelect = h(
    "select",
    { id: "eg-action" },
    h("option", { value: "0", text: "All actions" }),
    h("option", { value: String(Action.ACCEPT), text: "ACCEPT only" }),
    h("option", { value: String(Action.REJECT), text: "REJECT only" }),
  );
  const incompleteNote = h("p", { class: "eg-incomplete", id: "eg-incomplete", hidden: true },
    "Some connection events of this day were lost on the server, so the numbers below are lower bounds (“≥”).");
  const connBody = h("tbody", { id: "eg-conn-body" });
  const sortButtons = {};
  const sortTh = (label, order, cls) => {
    const btn = h("button", { type: "button", class: "eg-sort", dataset: { order: String(order) } }, label, h("span", { class: "eg-sort-mark", "aria-hidden": "true" }));
    btn.addEventListener("click", () => setSort(order));
    sortButtons[order] = btn;
    return h("th", { scope: "col", class: cls }, btn);
  };
  const connTable = h(
    "table",
    { class: "eg-table eg-conn", id: "eg-connections", "aria-describedby": "eg-conn-summary" },
    h("caption", { class: "eg-sr" }, "Recorded outgoing connections of the selected date"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        sortTh("IP", OrderBy.IP, "eg-col-ip"),
        h("th", { scope: "col", text: "Protocol" }),
        sortTh("Port", OrderBy.PORT, "eg-num"),
        h("th", { scope: "col", text: "Action" }),
        sortTh("Number of connections", OrderBy.COUNT, "eg-num"),
        h("th", { scope: "col", class: "eg-col-lock" }, h("span", { "aria-hidden": "true", text: "🔒" }), h("span", { class: "eg-sr", text: "Block or unblock the address" })),
      ),
    ),
    connBody,
  );
  const connSummary = h("p", { class: "eg-summary", id: "eg-conn-summary", "aria-live": "polite" });
  const prevBtn = h("button", { type: "button", id: "eg-prev", text: "‹ Previous", disabled: true });
  const nextBtn = h("button", { type: "button", id: "eg-next", text: "Next ›", disabled: true });
  const pageSizeSelect = h("select", { id: "eg-page-size" }, ...[50, 100, 500, 1000].map((n) => h("option", { value: String(n), text: String(n), selected: n === (config.pageSize || 100) })));
  const chartBox = h("div", { class: "eg-chart", id: "eg-chart", role: "img", "aria-label": "Connections per day" });
  const chartState = h("p", { class: "eg-summary", id: "eg-chart-state" });
  const rulesBody = h("tbody", { id: "eg-rules-body" });
  const selectAll = h("input", { type: "checkbox", id: "eg-rules-all", "aria-label": "Select all rules" });
  const deleteBtn = h("button", { type: "button", id: "eg-delete-rules", class: "eg-danger", disabled: true, text: "Delete rules" });
  const blockIpBtn = h("button", { type: "button", id: "eg-block-ip", class: "eg-primary", text: "Block IP" });
  const rulesMore = h("button", { type: "button", id: "eg-rules-more", hidden: true, text: "Show more rules" });
  const rulesSummary = h("p", { class: "eg-summary", id: "eg-rules-summary", "aria-live": "polite" });
  const rulesError = h("p", { class: "eg-error", id: "eg-rules-error", role: "alert", hidden: true });
  const toast = h("div", { class: "eg-toast", id: "eg-toast", role: "status", "aria-live": "polite" });
  const egressNote = h("li", { id: "eg-egress-note", hidden: true });

  root.replaceChildren(
    h(
      "section",
      { class: "eg", "aria-labelledby": "eg-title" },
      h("h2", { id: "eg-title", text: "Outgoing connections" }),
      h("p", { class: "eg-intro" }, "Outgoing connections are calls from your sites to third-party servers during their operation."),
      banner,
      h(
        "div",
        { class: "eg-toolbar" },
        h("div", { class: "eg-field" }, h("label", { for: "eg-date", text: "Date" }), dateSelect),
        h("div", { class: "eg-field" }, h("label", { for: "eg-filter", text: "Filter by IP" }), filterInput, filterHint),
        h("div", { class: "eg-field" }, h("label", { for: "eg-action", text: "Action" }), actionSelect),
        h(
          "div",
          { class: "eg-field eg-switch-field" },
          h("label", { class: "eg-switch", for: "eg-block-all" }, switchInput, h("span", { class: "eg-switch-track", "aria-hidden": "true" }), h("span", { text: "Block all outgoing connections" })),
          lockNote,
          switchError,
        ),
      ),
      h("p", { class: "eg-hint" }, "The list shows only the dates when outgoing connections were recorded."),
      incompleteNote,
      connSummary,
      h("div", { class: "eg-scroll" }, connTable),
      h(
        "div",
        { class: "eg-pager" },
        prevBtn,
        nextBtn,
        h("label", { for: "eg-page-size", text: "Rows per page" }),
        pageSizeSelect,
      ),
      h(
        "details",
        { class: "eg-legend" },
        h("summary", { text: "What the columns mean" }),
        h(
          "ul",
          {},
          h("li", {}, h("b", { text: "ACCEPT" }), " — the connection attempt was allowed. It does not mean that the third-party server accepted the connection, let alone answered correctly."),
          h("li", {}, h("b", { text: "REJECT" }), " — the connection attempt was rejected (blocked)."),
          h("li", {}, h("b", { text: "Number of connections" }), " — connections to that address and port on the selected date."),
          h("li", {}, h("b", { text: "🔒" }), " — blocks or unblocks every connection to that IP address (adds it to or removes it from the blocked connections)."),
        ),
      ),
      h("h3", { id: "eg-chart-title", text: "Connections per day" }),
      chartState,
      chartBox,
      h("h3", { id: "eg-rules-title", text: "Blocked outgoing connections" }),
      h("div", { class: "eg-toolbar" }, blockIpBtn, deleteBtn),
      rulesError,
      rulesSummary,
      h(
        "div",
        { class: "eg-scroll" },
        h(
          "table",
          { class: "eg-table eg-rules", id: "eg-rules", "aria-labelledby": "eg-rules-title" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col", class: "eg-col-check" }, selectAll),
              h("th", { scope: "col", text: "IP" }),
              h("th", { scope: "col", text: "Protocol" }),
              h("th", { scope: "col", class: "eg-num", text: "Port" }),
              h("th", { scope: "col", text: "Notes" }),
              h("th", { scope: "col", class: "eg-col-lock" }, h("span", { "aria-hidden": "true", text: "🔓" }), h("span", { class: "eg-sr", text: "Unblock" })),
            ),
          ),
          rulesBody,
        ),
      ),
      rulesMore,
      h(
        "details",
        { class: "eg-legend" },
        h("summary", { text: "Notes" }),
        h(
          "ul",
          {},
          h("li", { text: "All outgoing connections are blocked automatically when our antivirus detects malicious code. To unblock them, remove the malicious code and run a new scan: if no threats are found, the block is removed automatically. Outgoing connections cannot be unblocked without removing the malicious code." }),
          h("li", { text: "Outgoing connections are always sent from the server's own IP address, or from your dedicated IP if you ordered one. With several dedicated IPs, the one ordered first is used." }),
          egressNote,
          h("li", { text: "When a destination has both IPv4 and IPv6 addresses, the connection is made over IPv6, which has priority." }),
          h("li", { text: "The “Block all outgoing connections” switch controls your own (custom) block only." }),
        ),
      ),
      toast,
    ),
  );

  // --- feedback ---------------------------------------------------------------

  let toastTimer;
  function say(text) {
    toast.textContent = text;
    toast.classList.add("eg-show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => toast.classList.remove("eg-show"), 4000);
  }

  function stateRow(body, cols, text, kind, retry) {
    body.replaceChildren(
      h("tr", { class: `eg-state eg-state-${kind}` }, h("td", { colspan: String(cols) }, h("span", { text }), retry ? h("button", { type: "button", class: "eg-retry", text: "Retry", onclick: retry }) : null)),
    );
  }

  // --- account status, locks, the switch, the antivirus banner ---------------

  function renderStatus(status) {
    state.status = status;
    const av = status.locks.find((l) => l.kind === LockKind.ANTIVIRUS);
    const manual = status.locks.find((l) => l.kind === LockKind.MANUAL);
    switchInput.checked = status.allBlocked;
    switchInput.disabled = false;
    if (av) {
      banner.hidden = false;
      banner.replaceChildren(
        h("strong", { text: "Attention! All outgoing connections are blocked: our antivirus found malicious code on your account." }),
        h(
          "p",
          {},
          (av.reason || "Malicious code was found").replace(/\.?$/, "."),
          // The service's reason usually names the scan already.
          av.threatCount && !(av.reason || "").includes(av.scanId || "\u0000") ? ` (${av.threatCount} ${av.threatCount === 1 ? "threat" : "threats"}${av.scanId ? `, scan ${av.scanId}` : ""})` : "",
          av.since ? ` Since ${tsText(av.since)}.` : "",
        ),
        h("p", { text: "To unblock them, remove the malicious code and run a new antivirus scan. If no threats are found, the block is removed automatically. Outgoing connections cannot be unblocked without removing the malicious code: the switch below cannot lift this block." }),
      );
    } else {
      banner.hidden = true;
      banner.replaceChildren();
    }
    const parts = [];
    if (manual) parts.push(`Blocked by you since ${tsText(manual.since)}.`);
    if (av) parts.push("Blocked by the antivirus.");
    if (!status.allBlocked) parts.push("Outgoing connections are allowed, except the blocked destinations below.");
    if (status.ruleVersion > 0n) parts.push(status.enforced ? "Applied on the server." : "Being applied on the server…");
    lockNote.textContent = parts.join(" ");
    const egress = [status.egressIpv4 && `${status.egressIpv4} (IPv4)`, status.egressIpv6 && `${status.egressIpv6} (IPv6)`].filter(Boolean);
    egressNote.hidden = egress.length === 0;
    egressNote.textContent = `Your outgoing connections leave from ${egress.join(" and ")}.`;
  }

  async function loadStatus() {
    try {
      renderStatus(await api.getAccountStatus({ accountId: account }));
    } catch (err) {
      switchInput.disabled = true;
      lockNote.textContent = `Status unavailable: ${errorText(err)}`;
    }
  }

  switchInput.addEventListener("change", async () => {
    const wanted = switchInput.checked;
    switchError.hidden = true;
    switchInput.disabled = true;
    try {
      const status = await api.setBlockAll({ accountId: account, enabled: wanted });
      renderStatus(status);
      const av = status.locks.some((l) => l.kind === LockKind.ANTIVIRUS);
      if (!wanted && av) {
        switchError.hidden = false;
        switchError.textContent = "Your own block is off, but the antivirus block stays until a scan finds no malicious code.";
      } else {
        say(wanted ? "All outgoing connections are now blocked." : "Outgoing connections are allowed again.");
      }
    } catch (err) {
      switchInput.checked = !wanted;
      switchError.hidden = false;
      switchError.textContent = errorText(err);
      switchInput.disabled = false;
    }
  });

  // --- dates ------------------------------------------------------------------

  async function loadDates() {
    try {
      const res = await api.listDates({ accountId: account });
      state.dates = res.dates;
      dateSelect.replaceChildren(
        ...res.dates.map((d) =>
          h("option", { value: dateKey(d.date), text: `${dateKey(d.date)} — ${count(Number(d.accepted) + Number(d.rejected), d.incomplete)} connections${d.incomplete ? " (incomplete)" : ""}` }),
        ),
      );
      if (res.dates.length === 0) {
        dateSelect.append(h("option", { value: "", text: "No recorded connections" }));
        dateSelect.disabled = true;
        state.date = "";
      } else {
        dateSelect.disabled = false;
        if (!res.dates.some((d) => dateKey(d.date) === state.date)) state.date = dateKey(res.dates[0].date);
        dateSelect.value = state.date;
      }
    } catch (err) {
      dateSelect.replaceChildren(h("option", { text: "Dates unavailable" }));
      dateSelect.disabled = true;
      throw err;
    }
  }

  function selectDate(key) {
    if (!key || key === state.date) return;
    state.date = key;
    dateSelect.value = key;
    resetPaging();
    loadConnections();
    chartMarkSelected();
  }
  dateSelect.addEventListener("change", () => selectDate(dateSelect.value));

  // --- the connections list --------------------------------------------------

  function resetPaging() {
    state.pageTokens = [""];
    state.page = 0;
  }

  function setSort(order) {
    if (state.orderBy === order) state.reverse = !state.reverse;
    else {
      state.orderBy = order;
      state.reverse = false;
    }
    resetPaging();
    loadConnections();
  }

  function renderSortMarks() {
    for (const [order, btn] of Object.entries(sortButtons)) {
      const o = Number(order);
      const active = state.orderBy === o;
      const descByDefault = o === OrderBy.COUNT || o === OrderBy.LAST_SEEN;
      const desc = active && descByDefault !== state.reverse;
      btn.parentElement.setAttribute("aria-sort", active ? (desc ? "descending" : "ascending") : "none");
      btn.querySelector(".eg-sort-mark").textContent = active ? (desc ? " ▼" : " ▲") : "";
      btn.setAttribute("aria-label", `${btn.firstChild.textContent}: sort${active ? (desc ? " ascending" : " descending") : ""}`);
    }
  }

  async function loadConnections() {
    renderSortMarks();
    const seq = ++state.listSeq;
    if (!state.date) {
      stateRow(connBody, 6, "No outgoing connections have been recorded yet.", "empty");
      connSummary.textContent = "";
      prevBtn.disabled = nextBtn.disabled = true;
      return;
    }
    connTable.setAttribute("aria-busy", "true");
    if (!connBody.querySelector("tr:not(.eg-state)")) stateRow(connBody, 6, "Loading connections…", "loading");
    else connBody.classList.add("eg-stale");
    try {
      const res = await api.listConnections({
        accountId: account,
        date: keyDate(state.date),
        ipFilter: state.filter,
        action: state.action,
        orderBy: state.orderBy,
        reverse: state.reverse,
        pageSize: state.pageSize,
        pageToken: state.pageTokens[state.page],
      });
      if (seq !== state.listSeq) return; // a newer request (typing) won
      renderConnections(res);
    } catch (err) {
      if (seq !== state.listSeq) return;
      const e = ConnectError.from(err);
      if (e.code === Code.InvalidArgument && state.filter) {
        filterHint.textContent = e.rawMessage;
        filterInput.setAttribute("aria-invalid", "true");
      }
      stateRow(connBody, 6, `Could not load the connections: ${errorText(err)}`, "error", loadConnections);
      connSummary.textContent = "";
    } finally {
      if (seq === state.listSeq) {
        connTable.removeAttribute("aria-busy");
        connBody.classList.remove("eg-stale");
      }
    }
  }

  function renderConnections(res) {
    incompleteNote.hidden = !res.incomplete;
    const rows = res.connections;
    state.pageTokens[state.page + 1] = res.nextPageToken;
    prevBtn.disabled = state.page === 0;
    nextBtn.disabled = !res.nextPageToken;
    const total = Number(res.totalRows);
    if (rows.length === 0) {
      stateRow(connBody, 6, state.filter || state.action ? "No connections match the filter on this date." : "No connections were recorded on this date.", "empty");
      connSummary.textContent = total ? "" : "0 rows";
      return;
    }
    const first = state.page * state.pageSize + 1;
    connSummary.textContent = `Rows ${numberFmt.format(first)}–${numberFmt.format(first + rows.length - 1)} of ${numberFmt.format(total)}`;
    const frag = document.createDocumentFragment();
    for (const c of rows) {
      const blocked = c.addressRuleId !== 0n;
      const coveredByOther = !blocked && c.blockingRuleIds.length > 0;
      const actionName = c.action === Action.REJECT ? "REJECT" : "ACCEPT";
      const lockBtn = h(
        "button",
        {
          type: "button",
          class: `eg-lock${blocked ? " eg-locked" : ""}`,
          "aria-pressed": blocked ? "true" : "false",
          "aria-label": blocked ? `Unblock ${c.ip}` : `Block ${c.ip}`,
          title: blocked ? `Connections to ${c.ip} are blocked (rule ${c.addressRuleId}). Click to unblock.` : `Block every connection to ${c.ip}`,
          dataset: { ip: c.ip, ruleId: String(c.addressRuleId) },
        },
        blocked ? "🔒" : "🔓",
      );
      lockBtn.addEventListener("click", () => toggleAddress(lockBtn, c));
      frag.append(
        h(
          "tr",
          { dataset: { ip: c.ip, action: actionName } },
          h("td", { class: "eg-col-ip", "data-label": "IP" }, ipCell(c.ip, c.ipInfo)),
          h("td", { "data-label": "Protocol", text: protocolName[c.protocol] ?? String(c.protocol) }),
          h("td", { class: "eg-num", "data-label": "Port", text: c.port ? String(c.port) : "—" }),
          h("td", { "data-label": "Action" }, h("span", { class: `eg-action eg-${actionName.toLowerCase()}`, text: actionName })),
          h("td", {
            class: "eg-num eg-count",
            "data-label": "Number of connections",
            title: c.firstSeen ? `First ${tsText(c.firstSeen)}, last ${tsText(c.lastSeen)}` : "",
            text: count(c.count, res.incomplete),
          }),
          h("td", { class: "eg-col-lock", "data-label": "Block" }, lockBtn, coveredByOther ? h("span", { class: "eg-covered", title: `Blocked by rule ${c.blockingRuleIds.join(", ")}`, text: "blocked by a rule" }) : null),
        ),
      );
    }
    connBody.replaceChildren(frag);
  }

  async function toggleAddress(btn, c) {
    btn.disabled = true;
    try {
      if (c.addressRuleId !== 0n) {
        await api.deleteBlockRules({ accountId: account, ruleIds: [c.addressRuleId] });
        say(`${c.ip} is unblocked.`);
      } else {
        await api.blockDestination({ accountId: account, destination: c.ip, protocol: Protocol.ANY, port: 0 });
        say(`Connections to ${c.ip} are blocked.`);
      }
      await Promise.all([loadConnections(), loadRules(), loadStatus()]);
      connBody.querySelector(`button.eg-lock[data-ip="${CSS.escape(c.ip)}"]`)?.focus();
    } catch (err) {
      btn.disabled = false;
      say(errorText(err));
    }
  }

  prevBtn.addEventListener("click", () => {
    if (state.page > 0) {
      state.page--;
      loadConnections();
    }
  });
  nextBtn.addEventListener("click", () => {
    if (state.pageTokens[state.page + 1]) {
      state.page++;
      loadConnections();
    }
  });
  pageSizeSelect.addEventListener("change", () => {
    state.pageSize = Number(pageSizeSelect.value);
    resetPaging();
    loadConnections();
  });
  actionSelect.addEventListener("change", () => {
    state.action = Number(actionSelect.value);
    resetPaging();
    loadConnections();
  });

  // Filter as you type: wait for a pause, and only send text that can be a
  // filter (the hint says what is wrong otherwise).
  let filterTimer;
  filterInput.addEventListener("input", () => {
    clearTimeout(filterTimer);
    const text = filterInput.value.trim();
    const problem = filterError(text);
    filterHint.textContent = problem;
    filterInput.toggleAttribute("aria-invalid", problem !== "");
    if (problem || !filterReady(text)) return;
    filterTimer = setTimeout(() => {
      if (text === state.filter) return;
      state.filter = text;
      resetPaging();
      loadConnections();
    }, 250);
  });

  // --- the per-day graph ------------------------------------------------------

  let plot = null;
  function chartMarkSelected() {
    if (plot) plot.redraw(false, false);
  }

  async function loadDaily() {
    chartState.textContent = "Loading…";
    try {
      const res = await api.dailyCounts({ accountId: account });
      state.days = res.days;
      drawChart();
    } catch (err) {
      chartState.textContent = `Could not load the graph: ${errorText(err)}`;
      chartBox.replaceChildren(h("button", { type: "button", class: "eg-retry", text: "Retry", onclick: loadDaily }));
    }
  }

  function drawChart() {
    const days = state.days;
    chartBox.dataset.days = String(days.length);
    chartBox.dataset.incompleteDays = String(days.filter((d) => d.incomplete).length);
    if (plot) {
      plot.destroy();
      plot = null;
    }
    chartBox.replaceChildren();
    if (days.length === 0) {
      chartState.textContent = "No connections have been recorded yet.";
      return;
    }
    const incomplete = days.some((d) => d.incomplete);
    chartState.textContent = `${days.length} ${days.length === 1 ? "day" : "days"} with data. Click a day to show its connections.${incomplete ? " ≥ marks days whose counts are lower bounds (events were lost)." : ""}`;
    chartBox.setAttribute("aria-label", `Connections per day for ${days.length} days: ` + days.slice(-7).map((d) => `${dateKey(d.date)} ${d.accepted} accepted, ${d.rejected} rejected`).join("; "));
    const xs = days.map((d) => Date.UTC(d.date.year, d.date.month - 1, d.date.day) / 1000);
    const acc = days.map((d) => Number(d.accepted));
    const rej = days.map((d) => Number(d.rejected));
    const bars = (align) => uPlot.paths.bars({ size: [0.4, 40], align });
    const width = Math.max(280, chartBox.clientWidth || 600);
    plot = new uPlot(
      {
        width,
        height: 220,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
        scales: { x: { time: true, range: () => [xs[0] - 86400, xs[xs.length - 1] + 86400] }, y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
        axes: [
          {
            // One label per day (or per few days when they do not fit), as dates.
            space: 46,
            incrs: [86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400, 91 * 86400, 365 * 86400],
            values: (u, splits) => splits.map((v) => dayLabel.format(new Date(v * 1000))),
          },
          { size: 60, values: (u, vals) => vals.map((v) => numberFmt.format(v)) }],
        series: [
          { value: (u, v) => (v == null ? "" : new Date(v * 1000).toISOString().slice(0, 10)) },
          { label: "ACCEPT", stroke: "#1f7a3f", fill: "rgba(31,122,63,0.75)", paths: bars(-1), points: { show: false }, value: (u, v, s, i) => (v == null ? "" : count(v, days[i]?.incomplete)) },
          { label: "REJECT", stroke: "#b3261e", fill: "rgba(179,38,30,0.75)", paths: bars(1), points: { show: false }, value: (u, v, s, i) => (v == null ? "" : count(v, days[i]?.incomplete)) },
        ],
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        legend: { live: true },
        hooks: {
          draw: [
            (u) => {
              const ctx = u.ctx;
              ctx.save();
              ctx.font = `${Math.round(12 * devicePixelRatio)}px sans-serif`;
              ctx.textAlign = "center";
              days.forEach((d, i) => {
                const x = u.valToPos(xs[i], "x", true);
                if (dateKey(d.date) === state.date) {
                  ctx.fillStyle = "rgba(30,80,200,0.12)";
                  const w = Math.max(6, (u.valToPos(xs[i] + 43200, "x", true) - x) * 1.6);
                  ctx.fillRect(x - w / 2, u.bbox.top, w, u.bbox.height);
                }
                if (d.incomplete) {
                  const y = u.valToPos(Math.max(acc[i], rej[i]), "y", true);
                  ctx.fillStyle = "#8a5a00";
                  ctx.fillText("≥", x, y - 4 * devicePixelRatio);
                }
              });
              ctx.restore();
            },
          ],
        },
      },
      [xs, acc, rej],
      chartBox,
    );
    plot.over.addEventListener("click", () => {
      const i = plot.cursor.idx;
      if (i != null && days[i]) selectDate(dateKey(days[i].date));
    });
    plot.over.style.cursor = "pointer";
  }

  new ResizeObserver(() => {
    if (plot && chartBox.clientWidth && Math.abs(plot.width - chartBox.clientWidth) > 8) plot.setSize({ width: chartBox.clientWidth, height: 220 });
  }).observe(chartBox);

  // --- blocked outgoing connections -----------------------------------------

  async function loadRules(more = false) {
    rulesError.hidden = true;
    if (!more) {
      state.rulesNext = "";
      if (!state.rules.length) stateRow(rulesBody, 6, "Loading blocked connections…", "loading");
    }
    try {
      const res = await api.listBlockRules({ accountId: account, pageSize: 200, pageToken: more ? state.rulesNext : "" });
      state.rules = more ? [...state.rules, ...res.rules] : res.rules;
      state.rulesNext = res.nextPageToken;
      state.rulesTotal = Number(res.totalRules);
      const ids = new Set(state.rules.map((r) => String(r.ruleId)));
      for (const id of state.selected) if (!ids.has(id)) state.selected.delete(id);
      renderRules();
    } catch (err) {
      stateRow(rulesBody, 6, `Could not load the blocked connections: ${errorText(err)}`, "error", () => loadRules());
    }
  }

  function renderRules() {
    rulesMore.hidden = !state.rulesNext;
    rulesSummary.textContent = state.rulesTotal ? `${numberFmt.format(state.rulesTotal)} ${state.rulesTotal === 1 ? "rule" : "rules"}` : "";
    if (state.rules.length === 0) {
      stateRow(rulesBody, 6, "No blocked connections. Use “Block IP” or the 🔒 of a row above to add one.", "empty");
      updateSelection();
      return;
    }
    const frag = document.createDocumentFragment();
    for (const r of state.rules) {
      const id = String(r.ruleId);
      const host = hostOf(r.network);
      const check = h("input", { type: "checkbox", class: "eg-rule-check", "aria-label": `Select rule for ${r.network}`, checked: state.selected.has(id), dataset: { ruleId: id } });
      check.addEventListener("change", () => {
        if (check.checked) state.selected.add(id);
        else state.selected.delete(id);
        updateSelection();
      });
      const unblock = h("button", { type: "button", class: "eg-unlock", "aria-label": `Unblock ${r.network}`, title: "Unblock", text: "🔓" });
      unblock.addEventListener("click", async () => {
        unblock.disabled = true;
        try {
          await api.deleteBlockRules({ accountId: account, ruleIds: [r.ruleId] });
          say(`${r.network} is unblocked.`);
          await Promise.all([loadRules(), loadConnections(), loadStatus()]);
        } catch (err) {
          unblock.disabled = false;
          say(errorText(err));
        }
      });
      frag.append(
        h(
          "tr",
          { dataset: { ruleId: id, network: r.network } },
          h("td", { class: "eg-col-check" }, check),
          h("td", { class: "eg-col-ip", "data-label": "IP" }, ipCell(host, r.network.endsWith("/32") || r.network.endsWith("/128") ? r.ipInfo : null)),
          h("td", { "data-label": "Protocol", text: protocolName[r.protocol] ?? String(r.protocol) }),
          h("td", { class: "eg-num", "data-label": "Port", text: r.port ? String(r.port) : "Any" }),
          h("td", { class: "eg-note-cell", "data-label": "Notes" }, noteView(r)),
          h("td", { class: "eg-col-lock", "data-label": "Unblock" }, unblock),
        ),
      );
    }
    rulesBody.replaceChildren(frag);
    updateSelection();
  }

  function noteView(r) {
    const wrap = h("div", { class: "eg-note" });
    const show = () => {
      wrap.replaceChildren(
        ...(r.note ? [h("span", { class: "eg-note-text", text: r.note })] : []),
        h("button", { type: "button", class: "eg-link eg-note-edit", text: r.note ? "Edit" : "Add note", "aria-label": `${r.note ? "Edit note" : "Add note"} for ${r.network}`, onclick: edit }),
      );
    };
    const edit = () => {
      const input = h("input", { type: "text", class: "eg-note-input", maxlength: "1000", value: r.note, "aria-label": `Note for ${r.network}` });
      const err = h("span", { class: "eg-error", role: "alert" });
      const save = async () => {
        input.disabled = true;
        try {
          const updated = await api.updateNote({ accountId: account, ruleId: r.ruleId, note: input.value });
          r.note = updated.note;
          show();
          wrap.querySelector("button")?.focus();
          say("Note saved.");
        } catch (e) {
          input.disabled = false;
          err.textContent = errorText(e);
          input.focus();
        }
      };
      const cancel = () => {
        show();
        wrap.querySelector("button")?.focus();
      };
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") save();
        else if (e.key === "Escape") {
          e.stopPropagation();
          cancel();
        }
      });
      wrap.replaceChildren(
        input,
        h("button", { type: "button", class: "eg-note-save", text: "Save", onclick: save }),
        h("button", { type: "button", class: "eg-link", text: "Cancel", onclick: cancel }),
        err,
      );
      input.focus();
    };
    show();
    return wrap;
  }

  function updateSelection() {
    const n = state.selected.size;
    deleteBtn.disabled = n === 0;
    deleteBtn.textContent = n ? `Delete rules (${n})` : "Delete rules";
    selectAll.checked = n > 0 && n === state.rules.length;
    selectAll.indeterminate = n > 0 && n < state.rules.length;
  }
  selectAll.addEventListener("change", () => {
    state.selected = new Set(selectAll.checked ? state.rules.map((r) => String(r.ruleId)) : []);
    rulesBody.querySelectorAll(".eg-rule-check").forEach((c) => (c.checked = selectAll.checked));
    updateSelection();
  });
  rulesMore.addEventListener("click", () => loadRules(true));

  // "Delete rules" asks first.
  const confirmText = h("p", { id: "eg-confirm-text" });
  const confirmError = h("p", { class: "eg-error", role: "alert" });
  const confirmOk = h("button", { type: "button", class: "eg-danger", id: "eg-confirm-delete", text: "Delete" });
  const confirmDialog = h(
    "dialog",
    { class: "eg-dialog", id: "eg-confirm", "aria-labelledby": "eg-confirm-title", "aria-describedby": "eg-confirm-text" },
    h("h3", { id: "eg-confirm-title", text: "Delete rules?" }),
    confirmText,
    confirmError,
    h("div", { class: "eg-dialog-buttons" }, h("button", { type: "button", text: "Cancel", onclick: () => confirmDialog.close() }), confirmOk),
  );
  root.firstElementChild.append(confirmDialog);
  deleteBtn.addEventListener("click", () => {
    const n = state.selected.size;
    confirmText.textContent = `Delete ${n} ${n === 1 ? "rule" : "rules"}? Connections to ${n === 1 ? "this destination" : "these destinations"} will be allowed again.`;
    confirmError.textContent = "";
    confirmDialog.showModal();
  });
  confirmOk.addEventListener("click", async () => {
    confirmOk.disabled = true;
    try {
      const res = await api.deleteBlockRules({ accountId: account, ruleIds: [...state.selected].map((s) => BigInt(s)) });
      state.selected.clear();
      confirmDialog.close();
      say(`${res.deleted} ${res.deleted === 1 ? "rule" : "rules"} deleted.`);
      await Promise.all([loadRules(), loadConnections(), loadStatus()]);
      deleteBtn.focus();
    } catch (err) {
      confirmError.textContent = errorText(err);
    } finally {
      confirmOk.disabled = false;
    }
  });

  // "Block IP" dialog: checked here first, then by the service, whose message
  // is shown as is when it refuses.
  const fDest = h("input", { type: "text", id: "eg-bi-dest", required: true, autocomplete: "off", spellcheck: "false", placeholder: "203.0.113.7 or 203.0.113.0/24", "aria-describedby": "eg-bi-dest-err" });
  const fDestErr = h("span", { class: "eg-error", id: "eg-bi-dest-err" });
  const fProto = h("select", { id: "eg-bi-proto" }, h("option", { value: String(Protocol.ANY), text: "Any" }), h("option", { value: String(Protocol.TCP), text: "TCP" }), h("option", { value: String(Protocol.UDP), text: "UDP" }));
  const fPort = h("input", { type: "text", id: "eg-bi-port", inputmode: "numeric", autocomplete: "off", placeholder: "every port", "aria-describedby": "eg-bi-port-err" });
  const fPortErr = h("span", { class: "eg-error", id: "eg-bi-port-err" });
  const fNote = h("input", { type: "text", id: "eg-bi-note", maxlength: "1000", autocomplete: "off" });
  const fServerErr = h("p", { class: "eg-error", id: "eg-bi-error", role: "alert" });
  const fSubmit = h("button", { type: "submit", class: "eg-primary", id: "eg-bi-submit", text: "Block" });
  const blockForm = h(
    "form",
    { method: "dialog", novalidate: true },
    h("h3", { id: "eg-bi-title", text: "Block IP" }),
    h("p", { class: "eg-hint", text: "Block outgoing connections to an IP address or a network, on one port or all of them." }),
    h("div", { class: "eg-field" }, h("label", { for: "eg-bi-dest", text: "IP address or network (CIDR)" }), fDest, fDestErr),
    h("div", { class: "eg-field" }, h("label", { for: "eg-bi-proto", text: "Protocol" }), fProto),
    h("div", { class: "eg-field" }, h("label", { for: "eg-bi-port", text: "Port (empty: every port)" }), fPort, fPortErr),
    h("div", { class: "eg-field" }, h("label", { for: "eg-bi-note", text: "Note (optional)" }), fNote),
    fServerErr,
    h("div", { class: "eg-dialog-buttons" }, h("button", { type: "button", text: "Cancel", onclick: () => blockDialog.close() }), fSubmit),
  );
  const blockDialog = h("dialog", { class: "eg-dialog", id: "eg-block-dialog", "aria-labelledby": "eg-bi-title" }, blockForm);
  root.firstElementChild.append(blockDialog);
  blockIpBtn.addEventListener("click", () => {
    for (const el of [fDest, fPort, fNote]) el.value = "";
    fProto.value = String(Protocol.ANY);
    for (const el of [fDestErr, fPortErr, fServerErr]) el.textContent = "";
    fDest.removeAttribute("aria-invalid");
    fPort.removeAttribute("aria-invalid");
    blockDialog.showModal();
    fDest.focus();
  });
  blockForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const destProblem = destinationError(fDest.value);
    const portProblem = portError(fPort.value);
    fDestErr.textContent = destProblem;
    fPortErr.textContent = portProblem;
    fDest.toggleAttribute("aria-invalid", !!destProblem);
    fPort.toggleAttribute("aria-invalid", !!portProblem);
    fServerErr.textContent = "";
    if (destProblem || portProblem) {
      (destProblem ? fDest : fPort).focus();
      return;
    }
    fSubmit.disabled = true;
    try {
      const rule = await api.blockDestination({
        accountId: account,
        destination: fDest.value.trim(),
        protocol: Number(fProto.value),
        port: fPort.value.trim() ? Number(fPort.value.trim()) : 0,
        note: fNote.value,
      });
      blockDialog.close();
      say(`${rule.network} is blocked.`);
      await Promise.all([loadRules(), loadConnections(), loadStatus()]);
      blockIpBtn.focus();
    } catch (err) {
      fServerErr.textContent = errorText(err);
    } finally {
      fSubmit.disabled = false;
    }
  });

  // --- start -----------------------------------------------------------------

  async function start() {
    if (!(config.token || config.getToken) || !account) {
      const msg = "This panel needs an account token: the hosting panel sets window.egressPanelConfig, or open the link with #token=…&account=….";
      stateRow(connBody, 6, msg, "error");
      stateRow(rulesBody, 6, msg, "error");
      chartState.textContent = msg;
      dateSelect.replaceChildren(h("option", { text: "—" }));
      switchInput.disabled = true;
      return;
    }
    switchInput.disabled = true;
    stateRow(connBody, 6, "Loading connections…", "loading");
    const datesThenList = () => loadDates().then(loadConnections, (err) => stateRow(connBody, 6, `Could not load the dates: ${errorText(err)}`, "error", datesThenList));
    await Promise.all([datesThenList(), loadStatus(), loadDaily(), loadRules()]);
    root.dataset.ready = "true";
  }

  // Live mode by polling: agents send counts in batches (seconds to a minute
  // apart) and the API has no server stream, so a cheap re-read every minute
  // while the tab is visible shows new connections without a reload. Skipped
  // while the user is busy in the list, a dialog or a note editor.
  async function refresh() {
    if (document.hidden || !root.dataset.ready) return;
    if (root.querySelector("dialog[open]") || root.querySelector(".eg-note-input")) return;
    const newestBefore = state.dates[0] ? dateKey(state.dates[0].date) : "";
    const onNewest = state.date === newestBefore;
    try {
      await Promise.all([loadDates(), loadStatus(), loadDaily()]);
    } catch {
      return; // the parts show their own errors; try again next time
    }
    // Follow a new day only if the user was looking at the newest one.
    if (onNewest && state.dates[0] && dateKey(state.dates[0].date) !== newestBefore) selectDate(dateKey(state.dates[0].date));
    else if (state.page === 0 && !connBody.contains(document.activeElement)) loadConnections();
  }
  if (config.refreshMs > 0) setInterval(refresh, config.refreshMs);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && config.refreshMs > 0) refresh();
  });

  return { ready: start(), state, refresh, chart: () => plot, reload: () => Promise.all([loadDates().then(loadConnections), loadStatus(), loadDaily(), loadRules()]) };
}

// Auto-mount unless the embedding page says otherwise (mount: false).
const cfg = window.egressPanelConfig || {};
if (cfg.mount !== false) {
  const target = typeof cfg.mount === "string" ? document.querySelector(cfg.mount) : cfg.mount instanceof Element ? cfg.mount : document.getElementById("egress-panel");
  const root = target || document.body.appendChild(document.createElement("div"));
  window.egressPanel = mountPanel(root, readConfig());
}
export { readConfig };
