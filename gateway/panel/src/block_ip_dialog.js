// The "Block IP" dialog: an address or network, a protocol, a port (empty:
// every port), how long (until unblocked, 1 hour, 1 day, 7 days or until a
// date and time) and a note. Checked here first, then by the service; its
// refusals are shown in the customer's words (errors.js).
//
// A rule for every address (0.0.0.0/0, ::/0) would cut off every site just
// like "Block all outgoing connections", but with no banner and no one-click
// way back: the dialog warns, points to the switch, and asks again.
import { Code } from "@connectrpc/connect";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { h } from "./dom.js";
import { describeError, Op } from "./errors.js";
import { Protocol } from "./enums.js";
import { catchAllFamily, destinationProblem, portProblem } from "./ip.js";

// The longest temporary block the service accepts (366 days; a little less
// here, so that a time picked at the limit is not refused a second later).
export const kMaxExpiryMs = 366 * 86400 * 1000 - 60 * 1000;
const kExpiryChoices = { "1h": 3600 * 1000, "1d": 86400 * 1000, "7d": 7 * 86400 * 1000 };

// When the rule should end, in ms since the epoch: null for never, or
// { problem } for a choice that cannot be sent. `dateValue` is the
// datetime-local text (the browser's local time).
export function expiryMs(choice, dateValue, now = Date.now()) {
  if (choice === "never") return null;
  if (kExpiryChoices[choice]) return now + kExpiryChoices[choice];
  if (!dateValue) return { problem: "blockIp.expiryMissing" };
  const ms = new Date(dateValue).getTime();
  if (!Number.isFinite(ms)) return { problem: "blockIp.expiryMissing" };
  if (ms <= now) return { problem: "blockIp.expiryPast" };
  if (ms > now + kMaxExpiryMs) return { problem: "blockIp.expiryTooFar" };
  return ms;
}

export function createBlockIpDialog({ i18n, api, account, describe, onBlocked, onUseBlockAll, onShowRule }) {
  const { t } = i18n;
  const dest = h("input", { type: "text", id: "eg-bi-dest", required: true, autocomplete: "off", spellcheck: "false", placeholder: "203.0.113.7, 203.0.113.0/24", "aria-describedby": "eg-bi-dest-err" });
  const destErr = h("span", { class: "eg-error", id: "eg-bi-dest-err" });
  const proto = h("select", { id: "eg-bi-proto" }, h("option", { value: String(Protocol.ANY), text: t("common.any") }), h("option", { value: String(Protocol.TCP), text: "TCP" }), h("option", { value: String(Protocol.UDP), text: "UDP" }));
  const port = h("input", { type: "text", id: "eg-bi-port", inputmode: "numeric", autocomplete: "off", placeholder: t("blockIp.everyPort"), "aria-describedby": "eg-bi-port-err" });
  const portErr = h("span", { class: "eg-error", id: "eg-bi-port-err" });
  const expiry = h(
    "select",
    { id: "eg-bi-expiry" },
    ...[["never", "blockIp.expiryNever"], ["1h", "blockIp.expiry1h"], ["1d", "blockIp.expiry1d"], ["7d", "blockIp.expiry7d"], ["date", "blockIp.expiryDate"]].map(([value, key]) => h("option", { value, text: t(key) })),
  );
  const expiryDate = h("input", { type: "datetime-local", id: "eg-bi-expiry-date", "aria-describedby": "eg-bi-expiry-err" });
  const expiryErr = h("span", { class: "eg-error", id: "eg-bi-expiry-err" });
  const expiryDateField = h("div", { class: "eg-field", hidden: true }, h("label", { for: "eg-bi-expiry-date", text: t("blockIp.expiryAt") }), expiryDate, expiryErr);
  expiry.addEventListener("change", () => {
    expiryDateField.hidden = expiry.value !== "date";
    expiryErr.textContent = "";
    expiryDate.removeAttribute("aria-invalid");
    if (expiry.value === "date") {
      // The picker starts from tomorrow at this time and offers nothing past.
      const local = (ms) => {
        const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
        return d.toISOString().slice(0, 16);
      };
      if (!expiryDate.value) expiryDate.value = local(Date.now() + 86400 * 1000);
      expiryDate.min = local(Date.now());
      expiryDate.max = local(Date.now() + kMaxExpiryMs);
    }
  });
  const note = h("input", { type: "text", id: "eg-bi-note", maxlength: "1000", autocomplete: "off" });
  const serverErr = h("p", { class: "eg-error", id: "eg-bi-error", role: "alert" });
  const showRule = h("button", { type: "button", class: "eg-link", id: "eg-bi-show-rule", hidden: true, text: t("blockIp.showRule") });
  const useBlockAll = h("button", { type: "button", class: "eg-link", id: "eg-bi-use-block-all", text: t("blockIp.useBlockAll") });
  const catchAllText = h("p", { id: "eg-bi-catch-all-text" });
  const catchAll = h("div", { class: "eg-warning", id: "eg-bi-catch-all", hidden: true, tabindex: "-1" }, h("strong", { text: t("blockIp.catchAllTitle") }), catchAllText, useBlockAll);
  const submit = h("button", { type: "submit", class: "eg-primary", id: "eg-bi-submit", text: t("blockIp.submit") });
  const cancel = h("button", { type: "button", text: t("common.cancel") });
  const form = h(
    "form",
    { method: "dialog", novalidate: true },
    h("h3", { id: "eg-bi-title", text: t("blockIp.title") }),
    h("p", { class: "eg-hint", text: t("blockIp.intro") }),
    h("div", { class: "eg-field" }, h("label", { for: "eg-bi-dest", text: t("blockIp.destination") }), dest, destErr),
    h("div", { class: "eg-field" }, h("label", { for: "eg-bi-proto", text: t("col.protocol") }), proto),
    h("div", { class: "eg-field" }, h("label", { for: "eg-bi-port", text: t("blockIp.port") }), port, portErr),
    h("div", { class: "eg-field" }, h("label", { for: "eg-bi-expiry", text: t("blockIp.expiry") }), expiry),
    expiryDateField,
    h("div", { class: "eg-field" }, h("label", { for: "eg-bi-note", text: t("blockIp.note") }), note),
    catchAll,
    h("div", {}, serverErr, showRule),
    h("div", { class: "eg-dialog-buttons" }, cancel, submit),
  );
  const dialog = h("dialog", { class: "eg-dialog", id: "eg-block-dialog", "aria-labelledby": "eg-bi-title" }, form);
  cancel.addEventListener("click", () => dialog.close());
  let existingRule = "";
  let opener = null;
  // A rule for every address is sent only by a second "Block" for the same
  // fields: the first brings the warning into focus, even when the address
  // was pasted and Enter pressed at once.
  let armedFor = "";
  const fieldsKey = () => `${dest.value.trim()}|${proto.value}|${port.value.trim()}`;

  // The catch-all warning follows the fields as they are typed.
  function checkCatchAll() {
    const family = catchAllFamily(dest.value);
    catchAll.hidden = !family;
    submit.textContent = family ? t("blockIp.submitAnyway") : t("blockIp.submit");
    submit.className = family ? "eg-danger" : "eg-primary";
    if (!family) return false;
    const p = port.value.trim();
    const what = Number(proto.value) === Protocol.ANY ? (p ? t("blockIp.catchAllPort", { port: p }) : t("blockIp.catchAllEverything")) : t("blockIp.catchAllProto", { protocol: proto.options[proto.selectedIndex].text, port: p || t("common.anyPort") });
    catchAllText.textContent = t(family === 4 ? "blockIp.catchAllV4" : "blockIp.catchAllV6", { network: dest.value.trim(), what });
    return true;
  }
  for (const el of [dest, port]) el.addEventListener("input", checkCatchAll);
  proto.addEventListener("change", checkCatchAll);
  useBlockAll.addEventListener("click", () => {
    dialog.close();
    onUseBlockAll();
  });
  showRule.addEventListener("click", () => {
    dialog.close();
    onShowRule(existingRule);
  });
  dialog.addEventListener("close", () => opener?.focus());

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const destProblem = destinationProblem(dest.value);
    const portP = portProblem(port.value);
    const until = expiryMs(expiry.value, expiryDate.value);
    const expiryP = until && until.problem ? until.problem : "";
    destErr.textContent = destProblem ? t(destProblem.key, destProblem.params) : "";
    portErr.textContent = portP ? t(portP.key, portP.params) : "";
    expiryErr.textContent = expiryP ? t(expiryP) : "";
    dest.toggleAttribute("aria-invalid", !!destProblem);
    port.toggleAttribute("aria-invalid", !!portP);
    expiryDate.toggleAttribute("aria-invalid", !!expiryP);
    serverErr.textContent = "";
    showRule.hidden = true;
    if (destProblem || portP || expiryP) {
      (destProblem ? dest : portP ? port : expiryDate).focus();
      return;
    }
    if (checkCatchAll() && armedFor !== fieldsKey()) {
      armedFor = fieldsKey();
      catchAll.focus();
      return;
    }
    submit.disabled = true;
    try {
      const rule = await api.blockDestination({
        accountId: account,
        destination: dest.value.trim(),
        protocol: Number(proto.value),
        port: port.value.trim() ? Number(port.value.trim()) : 0,
        note: note.value,
        ...(typeof until === "number" ? { expireTime: timestampFromMs(until) } : {}),
      });
      dialog.close();
      await onBlocked(rule);
    } catch (err) {
      serverErr.textContent = describe(err, Op.block);
      const d = describeError(err, Op.block);
      if (d.code === Code.AlreadyExists && d.params.rule) {
        existingRule = d.params.rule;
        showRule.hidden = false;
      }
    } finally {
      submit.disabled = false;
    }
  });

  return {
    dialog,
    open(from) {
      opener = from || document.activeElement;
      for (const el of [dest, port, note, expiryDate]) el.value = "";
      proto.value = String(Protocol.ANY);
      expiry.value = "never";
      expiryDateField.hidden = true;
      for (const el of [destErr, portErr, expiryErr, serverErr]) el.textContent = "";
      dest.removeAttribute("aria-invalid");
      port.removeAttribute("aria-invalid");
      expiryDate.removeAttribute("aria-invalid");
      showRule.hidden = true;
      armedFor = "";
      checkCatchAll();
      dialog.showModal();
      dest.focus();
    },
  };
}
