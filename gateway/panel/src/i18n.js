// The panel's languages: English, Ukrainian and Russian. Pure (no DOM):
// unit-tested under node, including that every language has every key with
// the same placeholders (gateway/test/panel_i18n.test.js).
//
// Messages are "text with {name} placeholders", or for counts an object of
// plural forms chosen by Intl.PluralRules ({ one, few, many, other }; English
// needs one and other). Numbers, dates and "N seconds ago" are formatted by
// Intl for the language.
import en from "./messages/en.js";
import ru from "./messages/ru.js";
import uk from "./messages/uk.js";

export const catalogs = { en, uk, ru };
export const kLanguages = Object.keys(catalogs);

// The language to show: the embedding panel's setting first (config.lang:
// "uk", "uk-UA", "ua", "ru", "en"...), then the browser's preferences, then
// English.
export function pickLanguage(configLang, browserLangs = []) {
  const norm = (l) => {
    const base = String(l || "").toLowerCase().split(/[-_]/)[0];
    return base === "ua" ? "uk" : base;
  };
  for (const l of [configLang, ...browserLangs]) {
    const n = norm(l);
    if (catalogs[n]) return n;
  }
  return "en";
}

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (m, name) => (params && params[name] !== undefined ? String(params[name]) : m));
}

export function createI18n(lang) {
  const catalog = catalogs[lang] || en;
  const plural = new Intl.PluralRules(lang);
  const number = new Intl.NumberFormat(lang);
  // Civil days (no time zone): formatted in UTC so the day never shifts.
  const dayLong = new Intl.DateTimeFormat(lang, { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  const dayShort = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", timeZone: "UTC" });
  const time = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  const relative = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });

  // t("key", { n: 3, ip: "..." }): the message in this language. Numbers in
  // params named n are formatted for the language and pick the plural form.
  function t(key, params = {}) {
    let msg = catalog[key];
    if (msg === undefined) msg = en[key];
    if (msg === undefined) return key;
    const p = { ...params };
    if (typeof msg === "object") {
      const form = plural.select(Number(params.n ?? 0));
      msg = msg[form] ?? msg.other;
    }
    if (typeof p.n === "number" || typeof p.n === "bigint") p.n = number.format(p.n);
    return fill(msg, p);
  }

  const utcDate = (d) => new Date(Date.UTC(d.year, d.month - 1, d.day));
  return {
    lang,
    t,
    number: (n) => number.format(n),
    // A count that may be a lower bound (the node lost events that day).
    count: (n, lowerBound) => (lowerBound ? "≥ " : "") + number.format(Number(n)),
    // { year, month, day } → "Sat, 5 Dec 2026" (in the language's order).
    day: (d) => dayLong.format(utcDate(d)),
    dayShort: (d) => dayShort.format(utcDate(d)),
    // A google.protobuf.Timestamp → local date and time.
    time: (ts) => (ts ? time.format(new Date(Number(ts.seconds) * 1000)) : ""),
    // Seconds until something → "in 52 minutes", "in 3 hours", "in 2 days"
    // (rounded up: "in 1 minute" until it is there).
    inTime: (seconds) => {
      const s = Math.max(0, Math.ceil(seconds));
      if (s < 60) return relative.format(s, "second");
      if (s < 3600) return relative.format(Math.ceil(s / 60), "minute");
      if (s < 48 * 3600) return relative.format(Math.round(s / 3600), "hour");
      return relative.format(Math.round(s / 86400), "day");
    },
    // Seconds since something → "5 seconds ago", "now", "2 minutes ago".
    ago: (seconds) => {
      const s = Math.max(0, Math.round(seconds));
      if (s < 60) return relative.format(-s, "second");
      if (s < 3600) return relative.format(-Math.floor(s / 60), "minute");
      return relative.format(-Math.floor(s / 3600), "hour");
    },
  };
}

// Placeholders of a message (every plural form's), for the catalog test.
export function placeholders(msg) {
  const texts = typeof msg === "object" ? Object.values(msg) : [msg];
  return [...new Set(texts.flatMap((s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1])))].sort();
}

// The plural categories a language needs for counts (Intl's own list).
export function pluralCategories(lang) {
  return new Intl.PluralRules(lang).resolvedOptions().pluralCategories;
}
