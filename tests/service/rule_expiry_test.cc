// Temporary block rules over real gRPC against a real PostgreSQL: the
// expiry is validated, stored and returned, a repeat extends it, and the
// sweep deletes what ran out (audited, version bumped) without deadlocking
// against the other writers of the same accounts.
#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/rule_expiry_sweeper.h"
#include "tests/fakes/fake_clock.h"
#include "tests/service/connections_test_env.h"

namespace egress {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace v1 = ::egress::v1;
using Stub = v1::ConnectionsService::Stub;

class RuleExpiryTest : public testing::PanelTest {
 protected:
  // expire_in: zero for a permanent rule.
  grpc::Status Block(const std::string& destination, absl::Duration expire_in,
                     v1::BlockRule* out = nullptr, absl::Time now = absl::Now()) {
    v1::BlockDestinationRequest request;
    request.set_account_id("alice");
    request.set_destination(destination);
    request.set_note("temp note");
    if (expire_in != absl::ZeroDuration()) {
      const int64_t micros = absl::ToUnixMicros(now + expire_in);
      request.mutable_expire_time()->set_seconds(micros / 1000000);
      request.mutable_expire_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
    }
    v1::BlockRule rule;
    grpc::Status status = Call(connections_.get(), &Stub::BlockDestination, alice_, request, &rule);
    if (out != nullptr) *out = rule;
    return status;
  }

  uint64_t Version() {
    return Sql("SELECT rule_version FROM accounts WHERE account_id = 'alice'")[0][0].as<uint64_t>();
  }

  std::vector<v1::BlockRule> Rules() {
    v1::ListBlockRulesRequest request;
    request.set_account_id("alice");
    v1::ListBlockRulesResponse response;
    EXPECT_TRUE(Call(connections_.get(), &Stub::ListBlockRules, alice_, request, &response).ok());
    return {response.rules().begin(), response.rules().end()};
  }

  std::vector<v1::AuditEvent> Audit() {
    v1::ListAuditEventsRequest request;
    request.set_account_id("alice");
    request.set_page_size(100);
    v1::ListAuditEventsResponse response;
    EXPECT_TRUE(Call(connections_.get(), &Stub::ListAuditEvents, admin_, request, &response).ok());
    return {response.events().begin(), response.events().end()};
  }
};

TEST_F(RuleExpiryTest, ExpiryIsStoredReturnedAndListed) {
  const absl::Time now = absl::Now();
  v1::BlockRule rule;
  ASSERT_TRUE(Block("203.0.113.7", absl::Hours(1), &rule, now).ok());
  EXPECT_EQ(rule.expire_time().seconds(), absl::ToUnixSeconds(now + absl::Hours(1)));
  v1::BlockRule permanent;
  ASSERT_TRUE(Block("203.0.113.8", absl::ZeroDuration(), &permanent).ok());
  EXPECT_FALSE(permanent.has_expire_time());
  std::vector<v1::BlockRule> rules = Rules();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_FALSE(rules[0].has_expire_time());
  EXPECT_EQ(rules[1].expire_time().seconds(), rule.expire_time().seconds());
  EXPECT_EQ(rules[1].expire_time().nanos(), rule.expire_time().nanos());
  EXPECT_THAT(Audit()[1].after_json(), HasSubstr("\"expires_at\": \""));
}

TEST_F(RuleExpiryTest, PastOrTooFarIsInvalidArgumentNamingTheFieldAndChangesNothing) {
  const std::string before = Dump();
  for (absl::Duration bad : {-absl::Seconds(5), absl::Hours(24 * 367)}) {
    grpc::Status status = Block("203.0.113.7", bad);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), StartsWith("expire_time:"));
  }
  EXPECT_EQ(Dump(), before);
}

TEST_F(RuleExpiryTest, ALaterExpiryExtendsAndAPermanentRuleWins) {
  v1::BlockRule first;
  ASSERT_TRUE(Block("203.0.113.7", absl::Hours(1), &first).ok());
  const uint64_t v1_version = Version();
  // Sooner or equal: nothing to do, as before.
  grpc::Status sooner = Block("203.0.113.7", absl::Minutes(10));
  EXPECT_EQ(sooner.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(sooner.error_message(), HasSubstr(absl::StrCat("rule ", first.rule_id())));
  EXPECT_EQ(Version(), v1_version);
  // Later: the same rule, extended; the note stays.
  v1::BlockRule extended;
  ASSERT_TRUE(Block("203.0.113.7", absl::Hours(24), &extended).ok());
  EXPECT_EQ(extended.rule_id(), first.rule_id());
  EXPECT_GT(extended.expire_time().seconds(), first.expire_time().seconds() + 3600 * 20);
  EXPECT_EQ(extended.note(), "temp note");
  EXPECT_GT(Version(), v1_version);
  EXPECT_EQ(Audit()[0].action(), "block_rule.extend");
  // Never outlasts every expiry; then nothing extends it.
  v1::BlockRule forever;
  ASSERT_TRUE(Block("203.0.113.7", absl::ZeroDuration(), &forever).ok());
  EXPECT_EQ(forever.rule_id(), first.rule_id());
  EXPECT_FALSE(forever.has_expire_time());
  EXPECT_EQ(Block("203.0.113.7", absl::Hours(48)).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Rules().size(), 1u);
}

TEST_F(RuleExpiryTest, TheSweepDeletesExpiredRulesAuditsAndBumpsTheVersion) {
  v1::BlockRule temporary, later, permanent;
  ASSERT_TRUE(Block("203.0.113.7", absl::Seconds(30), &temporary).ok());
  ASSERT_TRUE(Block("203.0.113.8", absl::Hours(2), &later).ok());
  ASSERT_TRUE(Block("203.0.113.9", absl::ZeroDuration(), &permanent).ok());
  const uint64_t version = Version();

  // Nothing ran out yet.
  ASSERT_OK_AND_ASSIGN(int none, rules_store_->DeleteExpiredBlockRules(absl::Now()));
  EXPECT_EQ(none, 0);
  EXPECT_EQ(Version(), version);

  // A sweeper whose clock is a minute ahead: the 30 s rule ran out.
  testing::FakeClock clock(absl::Now() + absl::Minutes(1));
  RuleExpirySweeper sweeper(rules_store_.get(), &clock, absl::Seconds(1));
  ASSERT_OK_AND_ASSIGN(int deleted, sweeper.SweepOnce());
  EXPECT_EQ(deleted, 1);
  EXPECT_EQ(sweeper.rules_expired(), 1u);
  EXPECT_EQ(Version(), version + 1);
  std::vector<v1::BlockRule> rules = Rules();
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].rule_id(), permanent.rule_id());
  EXPECT_EQ(rules[1].rule_id(), later.rule_id());
  const v1::AuditEvent expired = Audit()[0];
  EXPECT_EQ(expired.action(), "block_rule.expire");
  EXPECT_EQ(expired.actor(), "expiry");
  EXPECT_THAT(expired.before_json(),
              AllOf(HasSubstr("203.0.113.7/32"), HasSubstr("temp note"),
                    HasSubstr(absl::StrCat("\"rule_id\": ", temporary.rule_id()))));
  EXPECT_EQ(expired.after_json(), "");
  // Once is enough: a second sweep (another replica) finds nothing.
  ASSERT_OK_AND_ASSIGN(int again, sweeper.SweepOnce());
  EXPECT_EQ(again, 0);
  EXPECT_EQ(Version(), version + 1);
}

TEST_F(RuleExpiryTest, TheRunningSweeperDeletesARuleWithinAboutASecond) {
  RuleExpirySweeper sweeper(rules_store_.get(), RealClock::Get(), absl::Milliseconds(200));
  sweeper.Start();
  v1::BlockRule rule;
  ASSERT_TRUE(Block("203.0.113.7", absl::Milliseconds(1500), &rule).ok());
  const absl::Time expiry = absl::FromUnixSeconds(rule.expire_time().seconds()) +
                            absl::Nanoseconds(rule.expire_time().nanos());
  while (!Rules().empty() && absl::Now() < expiry + absl::Seconds(10)) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const absl::Duration late = absl::Now() - expiry;
  EXPECT_TRUE(Rules().empty());
  EXPECT_GE(late, absl::ZeroDuration());
  EXPECT_LT(late, absl::Seconds(1)) << late;
  std::printf("rule deleted %.0f ms after its expiry (sweep every 200 ms)\n",
              absl::ToDoubleMilliseconds(late));
  sweeper.Stop();
}

TEST_F(RuleExpiryTest, SweepingAlongsideOtherWritersNeitherDeadlocksNorFails) {
  const Actor alice{"account:alice", ActorRole::kCustomer};
  const Actor bob{"account:bob", ActorRole::kCustomer};
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, expired{0}, created{0};
  // Writers: rules that expire "a minute from now", notes, deletes and the
  // manual lock, on two accounts of one node; the sweeper's clock is an
  // hour ahead, so everything they create is already due.
  auto writer = [&](const std::string& account, const Actor& actor, int base) {
    for (int i = 0; i < 60 && errors == 0; ++i) {
      BlockRuleSpec spec;
      spec.network = IpNetwork::Host(*IpAddress::Parse(absl::StrCat("198.18.", base, ".", i)));
      spec.expires_at = absl::Now() + absl::Minutes(1);
      absl::StatusOr<BlockRuleRecord> rule = rules_store_->CreateBlockRule(account, spec, actor);
      if (!rule.ok()) {
        ++errors;
        ADD_FAILURE() << rule.status();
        continue;
      }
      ++created;
      (void)rules_store_->UpdateNote(account, rule->rule_id, "n", actor);
      if (i % 3 == 0) (void)rules_store_->DeleteBlockRules(account, {rule->rule_id}, actor);
      if (i % 10 == 0) {
        if (!rules_store_->SetManualLock(account, i % 20 == 0, actor).ok()) ++errors;
      }
    }
  };
  std::thread sweeper([&] {
    while (!stop) {
      absl::StatusOr<int> n = rules_store_->DeleteExpiredBlockRules(absl::Now() + absl::Hours(1));
      if (!n.ok()) {
        ++errors;
        ADD_FAILURE() << n.status();
      } else {
        expired += *n;
      }
    }
  });
  std::thread a(writer, "alice", alice, 1), b(writer, "bob", bob, 2), c(writer, "alice", alice, 3);
  a.join();
  b.join();
  c.join();
  stop = true;
  sweeper.join();
  ASSERT_OK_AND_ASSIGN(int rest,
                       rules_store_->DeleteExpiredBlockRules(absl::Now() + absl::Hours(1)));
  expired += rest;
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(Sql("SELECT count(*) FROM block_rules")[0][0].as<int>(), 0);
  const Database::RetryStats retries = database_->retry_stats();
  EXPECT_EQ(retries.conflicts_exhausted, 0u);
  std::printf("created %d, expired by the sweep %d, conflicts retried %llu\n", created.load(),
              expired.load(), static_cast<unsigned long long>(retries.conflicts_retried));
  // Every expiry was audited.
  EXPECT_EQ(
      Sql("SELECT count(*) FROM audit_log WHERE action = 'block_rule.expire'")[0][0].as<int>(),
      expired.load());
}

}  // namespace
}  // namespace egress
