// "Block all outgoing connections": the owner's own lock, and the banners
// that say across the page when outgoing connections are blocked wholesale
// (by the owner, or by the antivirus or the abuse desk, which the switch
// cannot lift).
//
// Switching it on cuts off every site at once, so it asks first and offers
// Undo afterwards; the banner carries a button that switches it off again.
import { h } from "./dom.js";
import { Op } from "./errors.js";
import { LockKind } from "./enums.js";

export function createBlockAll({ i18n, api, account, confirm, notify, describe, onChanged }) {
  const { t } = i18n;
  const input = h("input", { type: "checkbox", role: "switch", id: "eg-block-all", disabled: true, "aria-describedby": "eg-lock-note" });
  const note = h("p", { class: "eg-lock-note", id: "eg-lock-note", "aria-live": "polite" });
  const error = h("p", { class: "eg-error", id: "eg-block-all-error", role: "alert", hidden: true });
  const field = h(
    "div",
    { class: "eg-field eg-switch-field" },
    h("label", { class: "eg-switch", for: "eg-block-all" }, input, h("span", { class: "eg-switch-track", "aria-hidden": "true" }), h("span", { text: t("blockAll.label") })),
    note,
    error,
  );
  const allowBtn = h("button", { type: "button", id: "eg-lock-banner-allow", class: "eg-banner-button" }, t("blockAll.allow"));
  const manualText = h("p", { id: "eg-lock-banner-text" });
  const manualBanner = h("div", { class: "eg-banner eg-banner-manual", id: "eg-lock-banner", role: "status", hidden: true }, h("div", { class: "eg-banner-body" }, h("strong", { text: t("blockAll.bannerTitle") }), manualText), allowBtn);
  const avBanner = h("div", { class: "eg-banner", id: "eg-av-banner", role: "alert", hidden: true });
  const abuseBanner = h("div", { class: "eg-banner", id: "eg-abuse-banner", role: "alert", hidden: true });
  const banners = h("div", { class: "eg-banners" }, abuseBanner, avBanner, manualBanner);

  let status = null;
  const hasLock = (s, kind) => !!s?.locks.some((l) => l.kind === kind);

  // The abuse lock: set by the abuse detector or support, lifted only by
  // support. The reason is the service's own words about what it saw: data,
  // shown as is beside the translated text.
  function renderAbuse(abuse) {
    if (!abuse) {
      abuseBanner.hidden = true;
      abuseBanner.replaceChildren();
      return;
    }
    abuseBanner.hidden = false;
    const ports = abuse.ports.join(", ");
    const when = [];
    if (abuse.since) when.push(t("abuse.since", { time: i18n.time(abuse.since) }));
    if (abuse.expireTime) when.push(t("abuse.until", { time: i18n.time(abuse.expireTime) }));
    abuseBanner.replaceChildren(
      h("strong", { text: abuse.ports.length ? t("abuse.titlePorts", { ports }) : t("abuse.title") }),
      h("p", {}, t("abuse.reason"), " ", h("span", { class: "eg-abuse-reason", text: abuse.reason })),
      ...(when.length ? [h("p", { text: when.join(" ") })] : []),
      h("p", { text: t("abuse.howToLift") }),
    );
  }

  function render(s) {
    status = s;
    const av = s.locks.find((l) => l.kind === LockKind.ANTIVIRUS);
    const manual = s.locks.find((l) => l.kind === LockKind.MANUAL);
    const abuse = s.locks.find((l) => l.kind === LockKind.ABUSE);
    renderAbuse(abuse);
    input.checked = s.allBlocked;
    input.disabled = false;
    if (av) {
      avBanner.hidden = false;
      // The scan id is the antivirus's own name for the scan: data, shown as is.
      const details = [];
      if (av.threatCount) details.push(t("av.threats", { n: av.threatCount }));
      if (av.scanId) {
        const [before, after] = t("av.scan", { scan: "\u0000" }).split("\u0000");
        details.push(h("span", {}, before, h("span", { class: "eg-scan-id", text: av.scanId }), after));
      }
      const detailNodes = details.length ? [" (", ...details.flatMap((d, i) => (i ? [", ", d] : [d])), ")"] : [];
      avBanner.replaceChildren(
        h("strong", { text: t("av.title") }),
        h("p", {}, t("av.found"), ...detailNodes, ".", av.since ? ` ${t("av.since", { time: i18n.time(av.since) })}` : ""),
        h("p", { text: t("av.howToLift") }),
      );
    } else {
      avBanner.hidden = true;
      avBanner.replaceChildren();
    }
    manualBanner.hidden = !manual;
    if (manual) manualText.textContent = `${t("blockAll.bannerText", { time: i18n.time(manual.since) })}${av ? ` ${t("blockAll.bannerAlsoAv")}` : ""}`;
    const parts = [];
    if (manual) parts.push(t("blockAll.byYou", { time: i18n.time(manual.since) }));
    if (av) parts.push(t("blockAll.byAv"));
    if (abuse) parts.push(abuse.ports.length ? t("blockAll.byAbusePorts", { ports: abuse.ports.join(", ") }) : t("blockAll.byAbuse"));
    if (!s.allBlocked) parts.push(t("blockAll.allowed"));
    if (s.ruleVersion > 0n) parts.push(s.enforced ? t("blockAll.applied") : t("blockAll.applying"));
    note.textContent = parts.join(" ");
  }

  async function turnOn({ ask = true } = {}) {
    error.hidden = true;
    let next = null;
    const change = async () => {
      next = await api.setBlockAll({ accountId: account, enabled: true });
    };
    if (ask) {
      const ok = await confirm({
        title: t("blockAll.confirmTitle"),
        body: [h("p", { text: t("blockAll.confirmBody") }), h("p", { text: t("blockAll.confirmUndo") })],
        confirmLabel: t("blockAll.confirm"),
        action: change,
        describe: (err) => describe(err, Op.blockAll),
      });
      if (!ok) {
        input.focus();
        return;
      }
    } else {
      try {
        await change();
      } catch (err) {
        error.hidden = false;
        error.textContent = describe(err, Op.blockAll);
        return;
      }
    }
    render(next);
    notify.say(t("blockAll.nowOn"), { label: t("common.undo"), run: () => turnOff() });
    await onChanged();
  }

  async function turnOff() {
    error.hidden = true;
    input.disabled = true;
    try {
      const next = await api.setBlockAll({ accountId: account, enabled: false });
      render(next);
      if (hasLock(next, LockKind.ANTIVIRUS)) {
        error.hidden = false;
        error.textContent = t("blockAll.avStays");
      } else if (next.allBlocked && hasLock(next, LockKind.ABUSE)) {
        error.hidden = false;
        error.textContent = t("blockAll.abuseStays");
      } else {
        notify.say(t("blockAll.nowOff"), { label: t("common.undo"), run: () => turnOn({ ask: false }) });
      }
      await onChanged();
    } catch (err) {
      if (status) render(status);
      error.hidden = false;
      error.textContent = describe(err, Op.allowAll);
    } finally {
      input.disabled = !status;
    }
  }

  // The switch shows the state the service confirmed, never the click alone.
  input.addEventListener("change", () => {
    const wanted = input.checked;
    input.checked = !wanted;
    if (wanted) turnOn();
    else turnOff();
  });
  allowBtn.addEventListener("click", () => turnOff().then(() => input.focus()));

  return {
    field,
    banners,
    render,
    // "Use Block all instead" from the Block IP dialog.
    requestOn: () => turnOn(),
    setUnavailable(text) {
      input.disabled = true;
      note.textContent = text;
    },
  };
}
