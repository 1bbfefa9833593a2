// The lock policy without a database: who may set and lift which lock, which
// scan decides, what a lock blocks, and the words customers read.
#include "service/domain/lock_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::StatusIs;
using ::testing::HasSubstr;
namespace policy = lock_policy;

LockRecord Lock(LockKind kind, std::vector<uint16_t> ports = {}) {
  LockRecord lock;
  lock.kind = kind;
  lock.ports = std::move(ports);
  return lock;
}

TEST(LockPolicyTest, TheManualLockIsTheOwnersAndSupports) {
  for (ActorRole role : {ActorRole::kCustomer, ActorRole::kSupport}) {
    EXPECT_THAT(policy::CheckSetManual(role), IsOk());
    EXPECT_THAT(policy::CheckLiftManual(role, {Lock(LockKind::kManual)}), IsOk());
  }
  for (ActorRole role : {ActorRole::kAntivirus, ActorRole::kAbuseDetector, ActorRole::kNode}) {
    EXPECT_THAT(policy::CheckSetManual(role), StatusIs(absl::StatusCode::kPermissionDenied));
    EXPECT_THAT(policy::CheckLiftManual(role, {}), StatusIs(absl::StatusCode::kPermissionDenied));
  }
}

TEST(LockPolicyTest, TheManualSwitchCannotLiftAnotherLock) {
  for (ActorRole role : {ActorRole::kCustomer, ActorRole::kSupport}) {
    EXPECT_THAT(
        policy::CheckLiftManual(role, {Lock(LockKind::kManual), Lock(LockKind::kAntivirus)}),
        StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("antivirus")));
    EXPECT_THAT(policy::CheckLiftManual(role, {Lock(LockKind::kAbuse)}),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("support")));
    // A port lock stays in force by itself: the switch is the owner's again.
    EXPECT_THAT(
        policy::CheckLiftManual(role, {Lock(LockKind::kManual), Lock(LockKind::kAbuse, {25})}),
        IsOk());
  }
  // Both held: the antivirus text (the customer's first job is the malware).
  EXPECT_THAT(policy::CheckLiftManual(ActorRole::kCustomer,
                                      {Lock(LockKind::kAbuse), Lock(LockKind::kAntivirus)}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("antivirus")));
}

TEST(LockPolicyTest, OnlySupportLiftsTheAbuseLockAndSaysWhy) {
  EXPECT_THAT(policy::CheckLiftAbuse(ActorRole::kSupport, "spam stopped, site cleaned (T-42)"),
              IsOk());
  EXPECT_THAT(policy::CheckLiftAbuse(ActorRole::kSupport, ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("note")));
  EXPECT_THAT(policy::CheckLiftAbuse(ActorRole::kCustomer, "please"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("contact support")));
  for (ActorRole role : {ActorRole::kAntivirus, ActorRole::kAbuseDetector, ActorRole::kNode}) {
    EXPECT_THAT(policy::CheckLiftAbuse(role, "x"), StatusIs(absl::StatusCode::kPermissionDenied));
  }
  EXPECT_THAT(policy::CheckSetAbuse(ActorRole::kAbuseDetector), IsOk());
  EXPECT_THAT(policy::CheckSetAbuse(ActorRole::kSupport), IsOk());
  EXPECT_THAT(policy::CheckSetAbuse(ActorRole::kCustomer),
              StatusIs(absl::StatusCode::kPermissionDenied));
}

TEST(LockPolicyTest, AbuseLocksMayBlockOnlyPortsAndExpire) {
  EXPECT_TRUE(policy::BlocksEverything(Lock(LockKind::kManual)));
  EXPECT_TRUE(policy::BlocksEverything(Lock(LockKind::kAntivirus)));
  EXPECT_TRUE(policy::BlocksEverything(Lock(LockKind::kAbuse)));
  EXPECT_FALSE(policy::BlocksEverything(Lock(LockKind::kAbuse, {25, 465, 587})));
  EXPECT_FALSE(policy::AnyBlocksEverything({Lock(LockKind::kAbuse, {25})}));
  EXPECT_TRUE(policy::AnyBlocksEverything({Lock(LockKind::kAbuse, {25}), Lock(LockKind::kManual)}));
  EXPECT_FALSE(policy::AnyBlocksEverything({}));
  LockRecord abuse = Lock(LockKind::kAbuse);
  const absl::Time t = absl::FromUnixSeconds(1800000000);
  EXPECT_FALSE(policy::Expired(abuse, t));
  abuse.expires_at = t;
  EXPECT_FALSE(policy::Expired(abuse, t - absl::Seconds(1)));
  EXPECT_TRUE(policy::Expired(abuse, t));
}

TEST(LockPolicyTest, TheNewestScanDecidesAndTiesFailClosed) {
  const absl::Time t = absl::FromUnixSeconds(1800000000);
  const policy::ScanRef older{"a", t - absl::Minutes(1), 3};
  const policy::ScanRef clean{"b", t, 0};
  const policy::ScanRef infected{"a", t, 2};
  EXPECT_TRUE(policy::ScanDecidesOver(clean, older));
  EXPECT_FALSE(policy::ScanDecidesOver(older, clean));
  // Same instant: the one with threats, whatever the ids.
  EXPECT_TRUE(policy::ScanDecidesOver(infected, clean));
  EXPECT_FALSE(policy::ScanDecidesOver(clean, infected));
  // Same instant, same kind: the greater id.
  EXPECT_TRUE(policy::ScanDecidesOver(policy::ScanRef{"z", t, 0}, clean));
  EXPECT_EQ(policy::ForDecidingScan(infected, false), policy::AntivirusChange::kSet);
  EXPECT_EQ(policy::ForDecidingScan(infected, true), policy::AntivirusChange::kSet);
  EXPECT_EQ(policy::ForDecidingScan(clean, true), policy::AntivirusChange::kLift);
  EXPECT_EQ(policy::ForDecidingScan(clean, false), policy::AntivirusChange::kNone);
}

TEST(LockPolicyTest, CustomersReadWhatToDoForLocksTheyCannotLift) {
  EXPECT_EQ(policy::WhatToDo(LockKind::kManual), "");
  EXPECT_THAT(std::string(policy::WhatToDo(LockKind::kAntivirus)), HasSubstr("new scan"));
  EXPECT_THAT(std::string(policy::WhatToDo(LockKind::kAbuse)), HasSubstr("contact support"));
  EXPECT_EQ(policy::AntivirusReason({"s-1", absl::Now(), 1}),
            "Malicious code found by scan s-1 (1 threat)");
  EXPECT_EQ(policy::AntivirusReason({"s-2", absl::Now(), 3}),
            "Malicious code found by scan s-2 (3 threats)");
  EXPECT_EQ(LockKindName(LockKind::kAbuse), "abuse");
  EXPECT_EQ(LockKindFromNumber(3), LockKind::kAbuse);
  EXPECT_EQ(LockKindFromNumber(4), std::nullopt);
}

}  // namespace
}  // namespace egress
