// One-line structured log records, the same shape as the C++ service's
// (common/log.h): `ts=... level=info event=name key=value ...` on stderr.
// Values are quoted when they contain spaces, quotes, '=' or control bytes.

const levels = { debug: 0, info: 1, warning: 2, error: 3 };
let minLevel = levels.info;

export function setLogLevel(name) {
  if (!(name in levels)) throw new Error(`--log-level must be one of ${Object.keys(levels).join(", ")}`);
  minLevel = levels[name];
}

function quote(value) {
  const s = String(value);
  if (s !== "" && !/[\s"=\\\x00-\x1f\x7f]/.test(s)) return s;
  return JSON.stringify(s);
}

export function formatRecord(level, event, fields = {}) {
  let line = `ts=${new Date().toISOString()} level=${level} event=${quote(event)}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null) continue;
    line += ` ${k}=${quote(v)}`;
  }
  return line;
}

export function log(level, event, fields) {
  if (levels[level] < minLevel) return;
  process.stderr.write(formatRecord(level, event, fields) + "\n");
}
