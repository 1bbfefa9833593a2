// "Filter by IP" (an address, a network or the start of an address, applied
// as you type after a pause) and the action filter (ACCEPT / REJECT only).
import { h } from "./dom.js";
import { Action, actionText } from "./enums.js";
import { filterNotice, filterProblem, filterReady } from "./ip.js";

export function createFilter({ i18n, onFilter, onAction, debounceMs = 250 }) {
  const { t } = i18n;
  const input = h("input", {
    type: "search",
    id: "eg-filter",
    placeholder: t("filter.placeholder"),
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "eg-filter-hint",
  });
  const hint = h("span", { class: "eg-hint", id: "eg-filter-hint", "aria-live": "polite" });
  const action = h(
    "select",
    { id: "eg-action" },
    h("option", { value: "0", text: t("filter.allActions") }),
    h("option", { value: String(Action.ACCEPT), text: t("filter.only", { action: actionText(Action.ACCEPT) }) }),
    h("option", { value: String(Action.REJECT), text: t("filter.only", { action: actionText(Action.REJECT) }) }),
  );
  const ipField = h("div", { class: "eg-field eg-field-filter" }, h("label", { for: "eg-filter", text: t("filter.label") }), input, hint);
  const actionField = h("div", { class: "eg-field" }, h("label", { for: "eg-action", text: t("filter.action") }), action);

  let sent = "";
  let timer;
  const show = (problem, notice) => {
    const m = problem || notice;
    hint.textContent = m ? t(m.key, m.params) : "";
    hint.classList.toggle("eg-error", !!problem);
    input.toggleAttribute("aria-invalid", !!problem);
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const text = input.value.trim();
    const problem = filterProblem(text);
    show(problem, filterNotice(text));
    if (problem || !filterReady(text)) return;
    timer = setTimeout(() => {
      if (text === sent) return;
      sent = text;
      onFilter(text);
    }, debounceMs);
  });
  action.addEventListener("change", () => onAction(Number(action.value)));

  return {
    ipField,
    actionField,
    input,
    // Restores a filter (from the address bar); returns it if usable, else "".
    set(text, actionValue) {
      const ok = text && filterProblem(text) === null && filterReady(text) ? text : "";
      input.value = ok;
      sent = ok;
      show(null, filterNotice(ok));
      action.value = String(actionValue || 0);
      return ok;
    },
    // The service refused the filter (its own checks are stricter in places).
    refused(key) {
      show({ key }, null);
    },
  };
}
