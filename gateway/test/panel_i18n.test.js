// The panel's languages: every key in every language, the same
// placeholders, the plural forms each language needs, no English left in the
// translations, and the language chosen as the embedding page or browser says.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { catalogs, createI18n, kLanguages, pickLanguage, placeholders, pluralCategories } from "../panel/src/i18n.js";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "panel", "src");

test("three languages", () => {
  assert.deepEqual(kLanguages.sort(), ["en", "ru", "uk"]);
});

test("every key exists in every language, with the same placeholders", () => {
  const en = catalogs.en;
  for (const lang of kLanguages) {
    const cat = catalogs[lang];
    assert.deepEqual(Object.keys(cat).sort(), Object.keys(en).sort(), `${lang}: keys differ from en`);
    for (const key of Object.keys(en)) {
      assert.deepEqual(placeholders(cat[key]), placeholders(en[key]), `${lang} ${key}: placeholders`);
      assert.equal(typeof cat[key] === "object", typeof en[key] === "object", `${lang} ${key}: plural or not`);
    }
  }
});

test("plural messages have every form the language needs", () => {
  for (const lang of kLanguages) {
    const need = pluralCategories(lang);
    for (const [key, msg] of Object.entries(catalogs[lang])) {
      if (typeof msg !== "object") continue;
      for (const form of need) assert.equal(typeof msg[form], "string", `${lang} ${key}: form "${form}"`);
    }
  }
});

test("every key the code uses is in the catalog, and every catalog key is used", () => {
  const code = readdirSync(src)
    .filter((f) => f.endsWith(".js"))
    .map((f) => readFileSync(join(src, f), "utf8"))
    .join("\n");
  const prefixes = [...new Set(Object.keys(catalogs.en).map((k) => k.split(".")[0]))].join("|");
  const used = new Set([...code.matchAll(new RegExp(`"((?:${prefixes})\\.[A-Za-z0-9]+)"`, "g"))].map((m) => m[1]));
  for (const k of used) assert.ok(k in catalogs.en, `the code uses "${k}", missing from the catalog`);
  for (const k of Object.keys(catalogs.en)) assert.ok(used.has(k), `"${k}" is never used`);
});

test("translations contain no English words but technical names", () => {
  // Latin words allowed in uk/ru: protocol and status names, examples.
  const allowed = new Set(["IP", "IPv4", "IPv6", "PTR", "CIDR", "TCP", "UDP", "ACCEPT", "REJECT", "API", "CSV"]);
  for (const lang of ["uk", "ru"]) {
    for (const [key, msg] of Object.entries(catalogs[lang])) {
      for (const text of typeof msg === "object" ? Object.values(msg) : [msg]) {
        const words = text.replace(/\{\w+\}/g, "").match(/[A-Za-z]{2,}[A-Za-z0-9]*/g) || [];
        const english = words.filter((w) => !allowed.has(w));
        assert.deepEqual(english, [], `${lang} ${key}: ${text}`);
        // The same as English only when it is nothing but technical names ("IP").
        if (/[A-Za-z]/.test(text.replace(/\{\w+\}/g, "").replace(/\b(IP|ACCEPT|REJECT)\b/g, ""))) assert.notEqual(text, catalogs.en[key], `${lang} ${key} is the English text`);
      }
    }
  }
});

test("pickLanguage: the embedding page first, then the browser, then English", () => {
  assert.equal(pickLanguage("uk", ["en-US"]), "uk");
  assert.equal(pickLanguage("ua", []), "uk");
  assert.equal(pickLanguage("ru-RU", ["uk"]), "ru");
  assert.equal(pickLanguage("", ["de-DE", "uk-UA", "en"]), "uk");
  assert.equal(pickLanguage("de", ["fr"]), "en");
  assert.equal(pickLanguage(undefined, undefined), "en");
});

test("messages, plurals, numbers and dates for each language", () => {
  const en = createI18n("en");
  assert.equal(en.t("rules.count", { n: 1 }), "1 rule");
  assert.equal(en.t("rules.count", { n: 1234 }), "1,234 rules");
  assert.equal(en.t("row.blockIp", { ip: "203.0.113.7" }), "Block 203.0.113.7");
  assert.equal(en.day({ year: 2026, month: 12, day: 5 }), "Sat, Dec 5, 2026");
  assert.equal(en.count(1200, true), "≥ 1,200");
  const uk = createI18n("uk");
  assert.equal(uk.t("rules.count", { n: 1 }), "1 правило");
  assert.equal(uk.t("rules.count", { n: 3 }), "3 правила");
  assert.equal(uk.t("rules.count", { n: 5 }), "5 правил");
  assert.equal(uk.t("rules.count", { n: 21 }), "21 правило");
  assert.match(uk.number(12345), /^12\s345$/);
  assert.match(uk.day({ year: 2026, month: 12, day: 5 }), /5 груд\. 2026/);
  const ru = createI18n("ru");
  assert.equal(ru.t("rules.count", { n: 2 }), "2 правила");
  assert.equal(ru.t("rules.count", { n: 11 }), "11 правил");
  assert.match(ru.day({ year: 2026, month: 12, day: 5 }), /5 дек\. 2026/);
  assert.equal(ru.ago(5), "5 секунд назад");
  assert.equal(uk.ago(120), "2 хвилини тому");
  assert.equal(en.ago(0), "now");
  // A key nobody wrote shows itself (the catalog test keeps that from shipping).
  assert.equal(en.t("no.such"), "no.such");
});
