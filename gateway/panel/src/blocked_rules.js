// "Blocked outgoing connections": every block rule of the account with its
// note (Add note / Edit inline), when it ends (temporary rules: "in 52
// minutes", or the date beyond two days), 🔓 Unblock per rule (asks first,
// showing the note that goes with it), checkboxes + "Delete rules" (asks
// first).
//
// A temporary rule leaves the list by itself: the remaining times are
// rewritten every 30 s, a rule is hidden once its time is up (the node
// stopped enforcing it then) and the list is read again just after, when
// the service has deleted it.
//
// The columns between the checkbox and the Unblock button come from one list
// (`columns` below), so a new column (e.g. when a rule expires) is one entry.
import { h, iconLabel, revealElement, stateRow } from "./dom.js";
import { Op } from "./errors.js";
import { protocolText } from "./enums.js";
import { hostOf, isHost } from "./ip.js";
import { ipCell, isPending } from "./ip_info.js";


export function createBlockedRules({ i18n, api, account, confirm, notify, describe, onChanged, onBlockIp, pendingGaveUp = () => false, onLoaded = () => {} }) {
  const { t } = i18n;
  let rules = [];
  let next = "";
  let total = 0;
  let selected = new Set();
  let tick = null;
  let reload = null;
  const expiryMsOf = (r) => (r.expireTime ? Number(r.expireTime.seconds) * 1000 + Math.floor(r.expireTime.nanos / 1e6) : Infinity);
  const live = () => rules.filter((r) => expiryMsOf(r) > Date.now());

  function expiryView(r) {
    const ms = expiryMsOf(r);
    if (ms === Infinity) return h("span", { class: "eg-muted", text: t("rules.never") });
    const left = (ms - Date.now()) / 1000;
    const at = i18n.time(r.expireTime);
    const text = left < 48 * 3600 ? t("rules.expiresIn", { when: i18n.inTime(left) }) : t("rules.expiresAt", { time: at });
    return h("time", { class: "eg-expiry", datetime: new Date(ms).toISOString(), title: t("rules.expiresTitle", { time: at }), text });
  }

  // Rewrites the remaining times every 30 s, hides a rule at its expiry,
  // and reads the list again 1.5 s later, once the service has deleted it
  // (its sweep runs every second); every 5 s while it is still listed (the
  // service unreachable).
  function schedule() {
    clearTimeout(tick);
    clearTimeout(reload);
    const now = Date.now();
    const ends = rules.map(expiryMsOf);
    const next = Math.min(...ends.filter((ms) => ms > now));
    if (next !== Infinity) tick = setTimeout(render, Math.min(30000, next - now));
    const ended = Math.max(...ends.filter((ms) => ms <= now));
    if (ended !== -Infinity) reload = setTimeout(() => load().catch(() => {}), now - ended < 1500 ? 1500 - (now - ended) : 5000);
  }


  const columns = [
    { key: "ip", header: t("col.ip"), cls: "eg-col-ip", cell: (r) => ipCell(hostOf(r.network), isHost(r.network) ? r.ipInfo : null, i18n, { gaveUp: pendingGaveUp(hostOf(r.network)) }) },
    { key: "protocol", header: t("col.protocol"), cls: "eg-proto", cell: (r) => protocolText(r.protocol, t("common.any")) },
    { key: "port", header: t("col.port"), cls: "eg-num eg-port", cell: (r) => (r.port ? String(r.port) : t("common.anyPort")) },
    { key: "expires", header: t("col.expires"), cls: "eg-expiry-cell", cell: (r) => expiryView(r) },
    { key: "note", header: t("col.notes"), cls: "eg-note-cell", cell: (r) => noteView(r) },
  ];

  const body = h("tbody", { id: "eg-rules-body" });
  const selectAll = h("input", { type: "checkbox", id: "eg-rules-all" });
  const blockIpBtn = h("button", { type: "button", id: "eg-block-ip", class: "eg-primary" }, ...iconLabel("🔒", t("rules.blockIp")));
  const deleteBtn = h("button", { type: "button", id: "eg-delete-rules", class: "eg-danger", disabled: true, text: t("rules.delete") });
  const more = h("button", { type: "button", id: "eg-rules-more", hidden: true, text: t("rules.more") });
  const summary = h("p", { class: "eg-summary", id: "eg-rules-summary", "aria-live": "polite" });
  const error = h("p", { class: "eg-error", id: "eg-rules-error", role: "alert", hidden: true });
  const cols = columns.length + 2;
  const el = h(
    "div",
    { class: "eg-rules-block" },
    h("h3", { id: "eg-rules-title", text: t("rules.title") }),
    h("div", { class: "eg-toolbar" }, blockIpBtn, deleteBtn),
    error,
    summary,
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
            h("th", { scope: "col", class: "eg-col-check" }, h("label", { class: "eg-select-all", for: "eg-rules-all" }, selectAll, h("span", { class: "eg-select-all-text", text: t("rules.selectAll") }))),
            ...columns.map((c) => h("th", { scope: "col", class: c.cls, text: c.header })),
            h("th", { scope: "col", class: "eg-col-lock" }, t("col.unblock")),
          ),
        ),
        body,
      ),
    ),
    more,
  );
  blockIpBtn.addEventListener("click", () => onBlockIp());

  async function load(append = false) {
    error.hidden = true;
    if (!append && !rules.length) stateRow(body, cols, t("rules.loading"), "loading");
    try {
      const res = await api.listBlockRules({ accountId: account, pageSize: 200, pageToken: append ? next : "" });
      rules = append ? [...rules, ...res.rules] : res.rules;
      next = res.nextPageToken;
      total = Number(res.totalRules);
      const ids = new Set(rules.map((r) => String(r.ruleId)));
      selected = new Set([...selected].filter((id) => ids.has(id)));
      render();
      onLoaded(pendingIps());
    } catch (err) {
      stateRow(body, cols, t("rules.loadFailed", { reason: describe(err, Op.load) }), "error", () => load(), t("common.retry"));
      throw err;
    }
  }

  function render() {
    schedule();
    // A note being edited is not thrown away by a refresh.
    if (body.querySelector(".eg-note-input")) return;
    more.hidden = !next;
    const shown = live();
    const gone = rules.length - shown.length;
    summary.textContent = total - gone ? t("rules.count", { n: total - gone }) : "";
    if (shown.length === 0) {
      stateRow(body, cols, t("rules.none"), "empty");
      updateSelection();
      return;
    }
    const frag = document.createDocumentFragment();
    for (const r of shown) {
      const id = String(r.ruleId);
      const check = h("input", { type: "checkbox", class: "eg-rule-check", "aria-label": t("rules.select", { network: r.network }), checked: selected.has(id), dataset: { ruleId: id } });
      check.addEventListener("change", () => {
        if (check.checked) selected.add(id);
        else selected.delete(id);
        updateSelection();
      });
      const unblock = h("button", { type: "button", class: "eg-unlock", "aria-label": t("rules.unblockNetwork", { network: r.network }), dataset: { ruleId: id } }, ...iconLabel("🔓", t("row.unblock")));
      unblock.addEventListener("click", () => unblockRules([r.ruleId], unblock));
      frag.append(
        h(
          "tr",
          { dataset: { ruleId: id, network: r.network } },
          h("td", { class: "eg-col-check" }, check),
          ...columns.map((c) => h("td", { class: c.cls, "data-label": c.header }, c.cell(r))),
          h("td", { class: "eg-col-lock", "data-label": t("col.unblock") }, unblock),
        ),
      );
    }
    body.replaceChildren(frag);
    updateSelection();
  }

  function noteView(r) {
    const wrap = h("div", { class: "eg-note" });
    const show = () => {
      wrap.replaceChildren(
        ...(r.note ? [h("span", { class: "eg-note-text", text: r.note })] : []),
        h("button", { type: "button", class: "eg-link eg-note-edit", text: r.note ? t("note.edit") : t("note.add"), "aria-label": t(r.note ? "note.editFor" : "note.addFor", { network: r.network }), onclick: edit }),
      );
    };
    const edit = () => {
      const input = h("input", { type: "text", class: "eg-note-input", maxlength: "1000", value: r.note, "aria-label": t("note.for", { network: r.network }) });
      const err = h("span", { class: "eg-error", role: "alert" });
      const save = async () => {
        input.disabled = true;
        try {
          const updated = await api.updateNote({ accountId: account, ruleId: r.ruleId, note: input.value });
          r.note = updated.note;
          show();
          wrap.querySelector("button")?.focus();
          notify.say(t("note.saved"));
        } catch (e) {
          input.disabled = false;
          err.textContent = describe(e, Op.note);
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
      wrap.replaceChildren(input, h("button", { type: "button", class: "eg-note-save", text: t("common.save"), onclick: save }), h("button", { type: "button", class: "eg-link", text: t("common.cancel"), onclick: cancel }), err);
      input.focus();
    };
    show();
    return wrap;
  }

  function updateSelection() {
    const n = selected.size;
    deleteBtn.disabled = n === 0;
    deleteBtn.textContent = n ? t("rules.deleteN", { n }) : t("rules.delete");
    selectAll.checked = n > 0 && n === rules.length;
    selectAll.indeterminate = n > 0 && n < rules.length;
    selectAll.disabled = rules.length === 0;
  }
  selectAll.addEventListener("change", () => {
    selected = new Set(selectAll.checked ? rules.map((r) => String(r.ruleId)) : []);
    body.querySelectorAll(".eg-rule-check").forEach((c) => (c.checked = selectAll.checked));
    updateSelection();
  });
  more.addEventListener("click", () => load(true).catch(() => {}));

  // What the confirmation shows of each rule: destination, protocol, port and
  // the note that is deleted with it.
  function ruleSummary(r, fallbackText) {
    if (!r) return h("li", { text: fallbackText });
    const what = `${r.network} · ${protocolText(r.protocol, t("common.any"))} · ${r.port ? t("common.port", { port: r.port }) : t("common.anyPort")}`;
    return h("li", {}, h("span", { class: "eg-confirm-rule", text: what }), r.note ? h("span", { class: "eg-confirm-note" }, h("span", { class: "eg-muted", text: `${t("col.notes")}: ` }), h("q", { text: r.note })) : null);
  }

  // Deletes rules after asking; the dialog shows each rule and its note.
  // `fallbackText` names a rule not in the loaded pages (a row's address).
  async function unblockRules(ids, opener, fallbackText = "") {
    const list = ids.map((id) => rules.find((r) => r.ruleId === id));
    const notes = list.filter((r) => r && r.note).length;
    const single = ids.length === 1;
    const body = [
      h("p", { text: single ? t("unblock.body", { what: list[0]?.network ? hostOrNetwork(list[0].network) : fallbackText }) : t("delete.body", { n: ids.length }) }),
      h("ul", { class: "eg-confirm-list" }, ...list.slice(0, 10).map((r) => ruleSummary(r, fallbackText))),
      ids.length > 10 ? h("p", { class: "eg-muted", text: t("delete.andMore", { n: ids.length - 10 }) }) : null,
      notes ? h("p", { class: "eg-warn-text", text: t("unblock.noteLost", { n: notes }) }) : null,
    ].filter(Boolean);
    let deleted = 0;
    const ok = await confirm({
      title: single ? t("unblock.title") : t("delete.title", { n: ids.length }),
      body,
      confirmLabel: single ? t("row.unblock") : t("delete.confirm", { n: ids.length }),
      action: async () => {
        const res = await api.deleteBlockRules({ accountId: account, ruleIds: ids });
        deleted = res.deleted;
      },
      describe: (err) => describe(err, single ? Op.unblock : Op.deleteRules),
    });
    if (!ok) {
      opener?.focus();
      return false;
    }
    for (const id of ids) selected.delete(String(id));
    notify.say(single ? t("unblock.done", { what: list[0] ? hostOrNetwork(list[0].network) : fallbackText }) : t("delete.done", { n: deleted }));
    await Promise.allSettled([load(), onChanged()]);
    return true;
  }
  deleteBtn.addEventListener("click", () => {
    const ids = rules.filter((r) => selected.has(String(r.ruleId))).map((r) => r.ruleId);
    if (ids.length) unblockRules(ids, deleteBtn).then((done) => done && deleteBtn.focus());
  });

  const hostOrNetwork = (network) => (isHost(network) ? hostOf(network) : network);
  const pendingIps = () => [...new Set(rules.filter((r) => isHost(r.network) && isPending(r.ipInfo)).map((r) => hostOf(r.network)))];

  return {
    el,
    blockIpBtn,
    columns,
    load,
    unblockRules,
    rules: () => rules,
    // Editing a note: a refresh would throw the typing away.
    busy: () => !!body.querySelector(".eg-note-input"),
    pendingIps,
    // Scrolls to a rule and marks it for a moment (e.g. "already blocked").
    highlight(ruleId) {
      const row = body.querySelector(`tr[data-rule-id="${CSS.escape(String(ruleId))}"]`);
      if (!row) return false;
      revealElement(row);
      row.classList.remove("eg-flash");
      void row.offsetWidth; // restart the animation
      row.classList.add("eg-flash");
      return true;
    },
  };
}
