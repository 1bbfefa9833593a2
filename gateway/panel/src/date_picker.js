// The date list: only the dates with recorded connections, newest first,
// each with its number of connections.
import { h } from "./dom.js";

export const dateKey = (d) => (d ? `${d.year}-${String(d.month).padStart(2, "0")}-${String(d.day).padStart(2, "0")}` : "");
export const keyDate = (k) => {
  const [year, month, day] = k.split("-").map(Number);
  return { year, month, day };
};

export function createDatePicker({ i18n, onSelect }) {
  const { t } = i18n;
  const select = h("select", { id: "eg-date", disabled: true }, h("option", { text: t("dates.loading") }));
  const el = h("div", { class: "eg-field eg-field-date" }, h("label", { for: "eg-date", text: t("dates.label") }), select);
  let dates = [];
  select.addEventListener("change", () => onSelect(select.value));

  const label = (d) => {
    const n = Number(d.accepted) + Number(d.rejected);
    const count = t(d.incomplete ? "dates.countIncomplete" : "dates.count", { n, count: i18n.count(n, d.incomplete) });
    return `${i18n.day(d.date)} — ${count}`;
  };

  return {
    el,
    select,
    dates: () => dates,
    newest: () => (dates[0] ? dateKey(dates[0].date) : ""),
    has: (key) => dates.some((d) => dateKey(d.date) === key),
    // Shows the list; returns the selected key (the wanted one if listed,
    // else the newest, "" when there are none).
    setDates(list, wanted) {
      dates = list;
      const keys = list.map((d) => dateKey(d.date));
      const same = keys.length === select.options.length && keys.every((k, i) => select.options[i].value === k);
      if (same) {
        // Live refresh: only the counts changed; keep the open list and focus.
        list.forEach((d, i) => {
          const text = label(d);
          if (select.options[i].textContent !== text) select.options[i].textContent = text;
        });
      } else {
        select.replaceChildren(...list.map((d) => h("option", { value: dateKey(d.date), text: label(d) })));
      }
      if (list.length === 0) {
        select.replaceChildren(h("option", { value: "", text: t("dates.none") }));
        select.disabled = true;
        return "";
      }
      select.disabled = false;
      const chosen = keys.includes(wanted) ? wanted : keys[0];
      select.value = chosen;
      return chosen;
    },
    setValue(key) {
      select.value = key;
    },
    // The dates could not be loaded.
    setUnavailable() {
      select.replaceChildren(h("option", { value: "", text: t("dates.unavailable") }));
      select.disabled = true;
    },
  };
}
