#include "service/domain/lock_policy.h"

#include <tuple>

#include "absl/strings/str_cat.h"

namespace egress {

absl::string_view LockKindName(LockKind kind) {
  switch (kind) {
    case LockKind::kManual:
      return "manual";
    case LockKind::kAntivirus:
      return "antivirus";
    case LockKind::kAbuse:
      return "abuse";
  }
  return "unknown";
}

std::optional<LockKind> LockKindFromNumber(int number) {
  switch (number) {
    case 1:
      return LockKind::kManual;
    case 2:
      return LockKind::kAntivirus;
    case 3:
      return LockKind::kAbuse;
    default:
      return std::nullopt;
  }
}

namespace lock_policy {

bool BlocksEverything(const LockRecord& lock) {
  return lock.kind != LockKind::kAbuse || lock.ports.empty();
}

bool AnyBlocksEverything(const std::vector<LockRecord>& locks) {
  for (const LockRecord& lock : locks) {
    if (BlocksEverything(lock)) return true;
  }
  return false;
}

absl::Status CheckSetManual(ActorRole actor) {
  if (actor == ActorRole::kCustomer || actor == ActorRole::kSupport) return absl::OkStatus();
  return absl::PermissionDeniedError("only the account owner or support switch the manual lock");
}

absl::Status CheckLiftManual(ActorRole actor, const std::vector<LockRecord>& current) {
  if (absl::Status may = CheckSetManual(actor); !may.ok()) return may;
  // The switch lifts only the owner's own lock: with another lock in force,
  // connections would stay blocked, and saying so is clearer than a switch
  // that seems to do nothing.
  for (const LockRecord& lock : current) {
    if (lock.kind == LockKind::kAntivirus) {
      return absl::FailedPreconditionError(kAntivirusLockMessage);
    }
  }
  // An abuse lock on some ports only leaves the rest open once the switch is
  // off, so it does not hold the switch (the owner could otherwise switch it
  // on and be stuck until support lifts the port lock).
  for (const LockRecord& lock : current) {
    if (lock.kind == LockKind::kAbuse && BlocksEverything(lock)) {
      return absl::FailedPreconditionError(kAbuseLockMessage);
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSetAbuse(ActorRole actor) {
  if (actor == ActorRole::kSupport || actor == ActorRole::kAbuseDetector) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError("only support and the abuse detector set abuse locks");
}

absl::Status CheckLiftAbuse(ActorRole actor, absl::string_view note) {
  // Never the owner's to lift, whatever state the account is in: a matter
  // of permission, with the words that tell them what to do instead.
  if (actor == ActorRole::kCustomer) return absl::PermissionDeniedError(kAbuseLockMessage);
  if (actor != ActorRole::kSupport) {
    return absl::PermissionDeniedError("only support lifts abuse locks");
  }
  if (note.empty()) {
    return absl::InvalidArgumentError(
        "note: say why the abuse lock is lifted (it goes to the audit log)");
  }
  return absl::OkStatus();
}

bool Expired(const LockRecord& lock, absl::Time now) {
  return lock.kind == LockKind::kAbuse && lock.expires_at.has_value() && *lock.expires_at <= now;
}

bool ScanDecidesOver(const ScanRef& a, const ScanRef& b) {
  return std::make_tuple(a.finished_at, a.threat_count > 0, a.scan_id) >
         std::make_tuple(b.finished_at, b.threat_count > 0, b.scan_id);
}

AntivirusChange ForDecidingScan(const ScanRef& scan, bool antivirus_lock_holds) {
  if (scan.threat_count > 0) return AntivirusChange::kSet;
  return antivirus_lock_holds ? AntivirusChange::kLift : AntivirusChange::kNone;
}

absl::string_view WhatToDo(LockKind kind) {
  switch (kind) {
    case LockKind::kManual:
      return "";
    case LockKind::kAntivirus:
      return kAntivirusLockMessage;
    case LockKind::kAbuse:
      return kAbuseLockMessage;
  }
  return "";
}

std::string ManualReason(absl::string_view actor) {
  return absl::StrCat("All outgoing connections blocked by hand (", actor, ")");
}

std::string AntivirusReason(const ScanRef& scan) {
  return absl::StrCat("Malicious code found by scan ", scan.scan_id, " (", scan.threat_count,
                      scan.threat_count == 1 ? " threat)" : " threats)");
}

}  // namespace lock_policy
}  // namespace egress
