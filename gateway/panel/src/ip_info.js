// The "IP" cell: the address, its PTR record and its owner (AS, organisation,
// country), as the reference page describes it.
import { h } from "./dom.js";
import { IpStatus } from "./enums.js";

// True when the name/owner of the address is still to come.
export function isPending(info) {
  return !info || info.status === IpStatus.PENDING || info.status === IpStatus.UNSPECIFIED;
}

export function ipCell(ip, info, i18n, { gaveUp = false } = {}) {
  const { t } = i18n;
  const lines = [h("span", { class: "eg-ip", text: ip })];
  if (info === null) return lines; // a network: no PTR or owner to show
  if (info && info.status === IpStatus.OK && info.ptr) {
    lines.push(h("span", { class: "eg-ptr", title: info.ptrConfirmed ? t("ip.ptrConfirmed") : t("ip.ptr"), text: info.ptr }));
  } else if (info && info.status === IpStatus.NO_PTR) {
    lines.push(h("span", { class: "eg-ptr eg-muted", text: t("ip.noPtr") }));
  } else if (info && info.status === IpStatus.TEMPORARY_FAILURE) {
    lines.push(h("span", { class: "eg-ptr eg-muted", text: t("ip.lookupFailed") }));
  } else {
    lines.push(h("span", { class: "eg-ptr eg-muted eg-pending", title: t("ip.pendingHelp"), text: gaveUp ? t("ip.unknown") : t("ip.pending") }));
  }
  const owner = info ? [info.asn ? `AS${info.asn}` : "", info.asName, info.country].filter(Boolean).join(" · ") : "";
  if (owner) lines.push(h("span", { class: "eg-owner", text: owner }));
  return lines;
}
