// Locks that block an account's outgoing connections, as one policy: who may
// set and lift each kind, which antivirus scan decides, what a lock blocks,
// and the words a customer reads about it. Pure: storage calls it inside the
// transaction that holds the account's row lock (so the `current` locks it
// passes are the ones in force), and it is unit-tested without a database.
//
// Kinds (values stored in account_locks.kind, sent as egress.v1.LockKind):
//   manual     "block all outgoing connections", set and lifted by the
//              account owner or support; lifting it while another lock holds
//              is refused (the switch "stays on custom locks", and the
//              customer must learn why connections stay blocked);
//   antivirus  set by a scan that found threats, lifted only by a later clean
//              scan (never by hand, not even by support);
//   abuse      set by the abuse detector or support when the account attacks
//              others (spam, scans, floods); blocks everything or only the
//              offending ports; lifted by support with a note (or when it
//              expires), never by the customer.
//
// Layering: service/domain sits above common/ and below service/storage and
// the RPC handlers; it knows neither SQL nor gRPC.
#ifndef EGRESS_SERVICE_DOMAIN_LOCK_POLICY_H_
#define EGRESS_SERVICE_DOMAIN_LOCK_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/domain/actor.h"

namespace egress {

enum class LockKind : int { kManual = 1, kAntivirus = 2, kAbuse = 3 };

// "manual", "antivirus", "abuse" (audit log and logs); "unknown" otherwise.
absl::string_view LockKindName(LockKind kind);
// 1..3; nullopt for any other number.
std::optional<LockKind> LockKindFromNumber(int number);

struct LockRecord {
  LockKind kind = LockKind::kManual;
  std::string reason;
  absl::Time since;
  std::string set_by;
  // Antivirus: the scan that found the threats and how many.
  std::string scan_id;
  uint32_t threat_count = 0;
  // Abuse: the ports it blocks (empty: everything) and when it ends by
  // itself (nullopt: when support lifts it).
  std::vector<uint16_t> ports;
  std::optional<absl::Time> expires_at;
};

namespace lock_policy {

// Whether `lock` blocks every outgoing connection (else only its ports).
bool BlocksEverything(const LockRecord& lock);
// True when any of `locks` blocks everything.
bool AnyBlocksEverything(const std::vector<LockRecord>& locks);

// May `actor` switch the manual lock on? Customers and support may.
absl::Status CheckSetManual(ActorRole actor);
// May `actor` switch the manual lock off while `current` hold? Not while an
// antivirus lock or an abuse lock on every port holds (FAILED_PRECONDITION
// with the text the customer reads: what to do instead); customers and
// support otherwise (an abuse lock on some ports stays in force by itself).
absl::Status CheckLiftManual(ActorRole actor, const std::vector<LockRecord>& current);

// May `actor` set an abuse lock? Support and the detector; PERMISSION_DENIED
// otherwise.
absl::Status CheckSetAbuse(ActorRole actor);
// May `actor` lift the abuse lock with `note`? Support only, and only with a
// note saying why (INVALID_ARGUMENT "note: ..." when empty); customers get
// PERMISSION_DENIED with what to do (kAbuseLockMessage), others
// PERMISSION_DENIED.
absl::Status CheckLiftAbuse(ActorRole actor, absl::string_view note);
// Whether an abuse lock has run out at `now` (lifted by itself).
bool Expired(const LockRecord& lock, absl::Time now);

// An antivirus scan as far as the lock is concerned.
struct ScanRef {
  std::string scan_id;
  absl::Time finished_at;
  uint32_t threat_count = 0;
};
// Whether scan `a` decides over scan `b`: the one that finished later; at
// equal finish times one with threats (fail closed), then the greater id.
bool ScanDecidesOver(const ScanRef& a, const ScanRef& b);

enum class AntivirusChange { kNone, kSet, kLift };
// What the deciding scan does to the antivirus lock: threats set it (or move
// it to this scan), a clean scan lifts it if it holds.
AntivirusChange ForDecidingScan(const ScanRef& scan, bool antivirus_lock_holds);

// The reason recorded with each lock.
std::string ManualReason(absl::string_view actor);
std::string AntivirusReason(const ScanRef& scan);

// What the account owner can do about a lock of `kind` ("" for the manual
// lock: they switch it off).
absl::string_view WhatToDo(LockKind kind);

// What a customer reads about a lock they cannot lift: the one place these
// words live (the panel shows them in its own translations).
inline constexpr char kAntivirusLockMessage[] =
    "Outgoing connections are blocked because our antivirus found malicious code on your "
    "account. Remove it and run a new scan: the block is lifted automatically when the scan "
    "is clean.";
inline constexpr char kAbuseLockMessage[] =
    "Outgoing connections are blocked because they were used to attack other hosts (see the "
    "reason). Find and remove the cause (often a compromised site or script), then contact "
    "support: only support can lift this block.";

}  // namespace lock_policy
}  // namespace egress

#endif  // EGRESS_SERVICE_DOMAIN_LOCK_POLICY_H_
