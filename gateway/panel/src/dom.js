// Small DOM helpers shared by the widgets. No state.

// h("button", { class: "x", text: "Go", onclick }, child, ...): an element.
// Attributes that are null, undefined or false are left out; true sets "".
export function h(tag, attrs = {}, ...children) {
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

// Replaces a table body with one full-width row saying what is going on
// (loading, empty, error), with an optional Retry button.
export function stateRow(body, cols, text, kind, retry, retryLabel) {
  body.replaceChildren(
    h(
      "tr",
      { class: `eg-state eg-state-${kind}` },
      h("td", { colspan: String(cols) }, h("span", { text }), retry ? h("button", { type: "button", class: "eg-retry", text: retryLabel, onclick: retry }) : null),
    ),
  );
}

// An icon beside its visible label; the icon is hidden from screen readers.
export function iconLabel(icon, label) {
  return [h("span", { class: "eg-icon", "aria-hidden": "true", text: icon }), " ", h("span", { class: "eg-label", text: label })];
}

// Scrolls an element into view unless it is already fully visible; smooth
// unless the user asked for reduced motion.
export function revealElement(el) {
  const r = el.getBoundingClientRect();
  if (r.top >= 0 && r.top < window.innerHeight - 80) return;
  const smooth = !window.matchMedia?.("(prefers-reduced-motion: reduce)").matches;
  el.scrollIntoView({ block: "start", behavior: smooth ? "smooth" : "auto" });
}
