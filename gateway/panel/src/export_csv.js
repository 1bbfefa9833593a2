// "Export CSV": the selected day's connections, with the filter, action and
// sort in force (all rows, not just the page), downloaded as
// egress-<account>-<date>.csv. The file is made by the service
// (ExportConnections) and streamed by the gateway (gateway/src/export.js):
// the panel submits a form into a hidden iframe, so the browser writes the
// response straight to disk instead of holding a large day in memory, and
// the token travels in the form body, never in a URL.
//
// A download never loads the iframe; an error page does (the session ended,
// too many exports at once, the service unreachable): then the panel says so.
import { h, iconLabel } from "./dom.js";

const kFrameName = "eg-export-frame";

// getView(): { date ("YYYY-MM-DD"), filter, action, orderBy, reverse }.
export function createExportButton({ i18n, config, account, getView, notify, onSessionEnded }) {
  const { t } = i18n;
  const frame = h("iframe", { name: kFrameName, id: kFrameName, title: t("export.button"), hidden: true, tabindex: "-1" });
  const button = h("button", { type: "button", id: "eg-export", class: "eg-export", title: t("export.help"), disabled: true }, ...iconLabel("⤓", t("export.button")));
  let waiting = false;

  frame.addEventListener("load", () => {
    if (!waiting) return;
    waiting = false;
    // Same origin: the gateway's error page names the code; another origin
    // (apiBase elsewhere) cannot be read, which leaves the general message.
    let code = "";
    try {
      code = frame.contentDocument?.getElementById("export-error")?.dataset.code || "";
    } catch {
      /* another origin */
    }
    if (code === "Unauthenticated") onSessionEnded();
    else notify.say(t(code === "ResourceExhausted" ? "export.busy" : "export.failed"));
  });

  button.addEventListener("click", async () => {
    const view = getView();
    if (!view.date) return;
    const token = config.getToken ? await config.getToken() : config.token;
    const fields = {
      token: token || "",
      account_id: account,
      date: view.date,
      ip_filter: view.filter,
      action: String(view.action || 0),
      order_by: String(view.orderBy || 0),
      reverse: view.reverse ? "1" : "0",
      // Spreadsheet programs need the mark to read non-ASCII names as UTF-8.
      bom: "1",
    };
    const form = h(
      "form",
      // Beside the RPC paths, also when apiBase carries a path of its own.
      { method: "post", action: `${String(config.apiBase).replace(/\/+$/, "")}/export/connections.csv`, target: kFrameName, hidden: true },
      ...Object.entries(fields).map(([name, value]) => h("input", { type: "hidden", name, value })),
    );
    frame.after(form);
    waiting = true;
    form.submit();
    form.remove();
    notify.say(t("export.started"));
  });

  return {
    el: h("span", { class: "eg-export-wrap" }, button, frame),
    button,
    // Enabled while a date with records is selected.
    setEnabled: (on) => (button.disabled = !on),
  };
}
