// One reusable confirmation dialog (a modal <dialog>: focus stays inside,
// Escape cancels, focus returns to where it was). The confirm button can run
// the change itself, so a refusal is shown in the dialog, not after it closed.
import { h } from "./dom.js";

export function createConfirm(container, i18n) {
  const title = h("h3", { id: "eg-confirm-title" });
  const body = h("div", { id: "eg-confirm-text", class: "eg-confirm-body" });
  const error = h("p", { class: "eg-error", id: "eg-confirm-error", role: "alert" });
  const cancel = h("button", { type: "button", id: "eg-confirm-cancel", text: i18n.t("common.cancel") });
  const ok = h("button", { type: "button", id: "eg-confirm-ok", text: i18n.t("common.confirm") });
  const dialog = h(
    "dialog",
    { class: "eg-dialog", id: "eg-confirm", "aria-labelledby": "eg-confirm-title", "aria-describedby": "eg-confirm-text" },
    title,
    body,
    error,
    h("div", { class: "eg-dialog-buttons" }, cancel, ok),
  );
  container.append(dialog);
  let pending = null;

  function finish(result) {
    const p = pending;
    pending = null;
    if (dialog.open) dialog.close();
    p?.resolve(result);
  }
  cancel.addEventListener("click", () => finish(false));
  dialog.addEventListener("cancel", (e) => {
    e.preventDefault();
    if (!ok.disabled) finish(false);
  });
  ok.addEventListener("click", async () => {
    if (!pending) return;
    const { action, describe } = pending;
    if (!action) return finish(true);
    ok.disabled = true;
    error.textContent = "";
    try {
      await action();
      finish(true);
    } catch (err) {
      error.textContent = describe ? describe(err) : String(err);
    } finally {
      ok.disabled = false;
    }
  });

  // ask({ title, body: string | Node[], confirmLabel, danger, action, describe })
  // → Promise<boolean>: true once confirmed (and `action` succeeded).
  return function ask({ title: titleText, body: content, confirmLabel, danger = true, action, describe }) {
    if (pending) finish(false);
    const opener = document.activeElement;
    title.textContent = titleText;
    body.replaceChildren(...(typeof content === "string" ? [h("p", { text: content })] : content));
    error.textContent = "";
    ok.textContent = confirmLabel;
    ok.className = danger ? "eg-danger" : "eg-primary";
    dialog.showModal();
    cancel.focus();
    return new Promise((resolve) => {
      pending = { resolve, action, describe };
    }).finally(() => {
      if (opener instanceof HTMLElement && opener.isConnected && document.activeElement === document.body) opener.focus();
    });
  };
}
