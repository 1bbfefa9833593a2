// Turns the service's refusals into words for a hosting customer. The
// service's messages are precise but written for developers and in English
// ("destination: 203.0.113.7/32 tcp port 25 is already blocked by rule 28"),
// so the panel maps each (operation, code, field) to a message of its own, in
// the page's language, and keeps the raw text for the browser console only.
// Pure: unit-tested under node (gateway/test/panel_errors.test.js).
import { Code, ConnectError } from "@connectrpc/connect";

// Operations, so one code can be worded for what the user was doing.
export const Op = {
  load: "load",
  block: "block",
  unblock: "unblock",
  deleteRules: "deleteRules",
  note: "note",
  blockAll: "blockAll",
  allowAll: "allowAll",
};

// The field an INVALID_ARGUMENT names: the service starts its message with
// it ("destination: ...", "rule_ids[3]: ...").
export function fieldOf(message) {
  const m = /^([a-z_]+)(\[\d+\])?(\.[a-z_]+)?:/.exec(message || "");
  return m ? m[1] : "";
}

// { key, params, code, detail } for any error thrown by a call. `key` is a
// message key of i18n.js; `detail` is the service's own text (console only).
export function describeError(err, op = Op.load) {
  const e = ConnectError.from(err);
  const detail = e.rawMessage || "";
  const out = (key, params = {}) => ({ key, params, code: e.code, detail });
  switch (e.code) {
    case Code.Unauthenticated:
      return out("err.session");
    case Code.PermissionDenied:
      return out("err.denied");
    case Code.Unavailable:
      return out("err.unavailable");
    case Code.DeadlineExceeded:
      return out("err.timeout");
    case Code.Canceled:
      return out("err.canceled");
    case Code.AlreadyExists: {
      const rule = /\brule (\d+)/.exec(detail);
      if (op === Op.block) return out("err.alreadyBlocked", { rule: rule ? rule[1] : "" });
      return out("err.conflict");
    }
    case Code.ResourceExhausted: {
      const limit = /\((\d+)\)/.exec(detail);
      if (op === Op.block) return out("err.tooManyRules", { n: limit ? Number(limit[1]) : 10000 });
      return out("err.busy");
    }
    case Code.FailedPrecondition:
      // The service names the lock that holds (lock_policy.h); the abuse
      // lock's text speaks of attacks on other hosts.
      if ((op === Op.allowAll || op === Op.blockAll) && /attack/i.test(detail)) return out("err.abuseLock");
      if (op === Op.allowAll || op === Op.blockAll) return out("err.antivirusLock");
      return out("err.precondition");
    case Code.NotFound:
      if (op === Op.unblock || op === Op.deleteRules || op === Op.note) return out("err.ruleGone");
      return out("err.noAccount");
    case Code.InvalidArgument: {
      const field = fieldOf(detail);
      const byField = {
        destination: "err.badDestination",
        port: "err.badPort",
        protocol: "err.badProtocol",
        note: "err.badNote",
        expire_time: "err.badExpiry",
        ip_filter: "err.badFilter",
        page_token: "err.pageExpired",
        date: "err.badDate",
        rule_ids: "err.ruleGone",
        rule_id: "err.ruleGone",
      };
      return out(byField[field] || "err.badRequest");
    }
    case Code.Unimplemented:
      return out("err.unimplemented");
    default:
      return out("err.internal");
  }
}

// True for errors that mean "sign in again": the whole page is useless.
export function isSessionError(d) {
  return d.code === Code.Unauthenticated;
}
