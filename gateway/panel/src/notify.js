// Short messages at the bottom of the screen ("203.0.113.7 is blocked."),
// optionally with one action ("Undo"). A message with an action stays longer
// and never disappears while the pointer or the keyboard focus is on it.
import { h } from "./dom.js";

export function createNotifier(container) {
  const text = h("span", { class: "eg-toast-text" });
  const actionSlot = h("span");
  const toast = h("div", { class: "eg-toast", id: "eg-toast", role: "status", "aria-live": "polite" }, text, actionSlot);
  container.append(toast);
  let timer;
  let held = false;
  const hide = () => {
    if (held) return;
    toast.classList.remove("eg-show");
    actionSlot.replaceChildren();
  };
  const arm = (ms) => {
    clearTimeout(timer);
    timer = setTimeout(hide, ms);
  };
  for (const [ev, on] of [["pointerenter", true], ["focusin", true], ["pointerleave", false], ["focusout", false]]) {
    toast.addEventListener(ev, () => {
      held = on;
      if (!on) arm(4000);
    });
  }
  return {
    el: toast,
    // say("Saved.") or say("Blocked.", { label: "Undo", run: async () => ... })
    say(message, action) {
      text.textContent = message;
      actionSlot.replaceChildren();
      if (action) {
        const btn = h("button", { type: "button", class: "eg-link eg-toast-action", text: action.label });
        btn.addEventListener("click", () => {
          held = false;
          hide();
          action.run();
        });
        actionSlot.append(" ", btn);
      }
      toast.classList.add("eg-show");
      held = false;
      arm(action ? 12000 : 5000);
    },
  };
}
