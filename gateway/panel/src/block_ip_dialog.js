// The "Block IP" dialog: an address or network, a protocol, a port (empty:
// every port) and a note. Checked here first, then by the service; its
// refusals are shown in the customer's words (errors.js).
//
// A rule for every address (0.0.0.0/0, ::/0) would cut off every site just
// like "Block all outgoing connections", but with no banner and no one-click
// way back: the dialog warns, points to the switch, and asks again.
import { Code } from "@connectrpc/connect";
import { h } from "./dom.js";
import { describeError, Op } from "./errors.js";
import { Protocol } from "./enums.js";
import { catchAllFamily, destinationProblem, portProblem } from "./ip.js";

export function createBlockIpDialog({ i18n, api, account, describe, onBlocked, onUseBlockAll, onShowRule }) {
  const { t } = i18n;
  const dest = h("input", { type: "text", id: "eg-bi-dest", required: true, autocomplete: "off", spellcheck: "false", placeholder: "203.0.113.7, 203.0.113.0/24", "aria-describedby": "eg-bi-dest-err" });
  const destErr = h("span", { class: "eg-error", id: "eg-bi-dest-err" });
  const proto = h("select", { id: "eg-bi-proto" }, h("option", { value: String(Protocol.ANY), text: t("common.any") }), h("option", { value: String(Protocol.TCP), text: "TCP" }), h("option", { value: String(Protocol.UDP), text: "UDP" }));
  const port = h("input", { type: "text", id: "eg-bi-port", inputmode: "numeric", autocomplete: "off", placeholder: t("blockIp.everyPort"), "aria-describedby": "eg-bi-port-err" });
  const portErr = h("span", { class: "eg-error", id: "eg-bi-port-err" });
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
    destErr.textContent = destProblem ? t(destProblem.key, destProblem.params) : "";
    portErr.textContent = portP ? t(portP.key, portP.params) : "";
    dest.toggleAttribute("aria-invalid", !!destProblem);
    port.toggleAttribute("aria-invalid", !!portP);
    serverErr.textContent = "";
    showRule.hidden = true;
    if (destProblem || portP) {
      (destProblem ? dest : port).focus();
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
      for (const el of [dest, port, note]) el.value = "";
      proto.value = String(Protocol.ANY);
      for (const el of [destErr, portErr, serverErr]) el.textContent = "";
      dest.removeAttribute("aria-invalid");
      port.removeAttribute("aria-invalid");
      showRule.hidden = true;
      armedFor = "";
      checkCatchAll();
      dialog.showModal();
      dest.focus();
    },
  };
}
