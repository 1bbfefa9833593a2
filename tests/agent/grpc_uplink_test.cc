// GrpcUplink against a real gRPC CollectorService (tests/fakes) over a unix
// socket, with a real FileSpool: Hello/Welcome, replay order, acks, rule
// sets, reconnection after the stream drops.
#include "agent/grpc_uplink.h"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "agent/file_spool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_collector.h"
#include "tests/support/status_matchers.h"

namespace egress::agent {
namespace {

using ::egress::testing::FakeCollector;

class RecordingListener : public UplinkListener {
 public:
  v1::RulesApplied OnWelcome(const v1::Welcome& welcome) override {
    absl::MutexLock lock(&mu_);
    ++welcomes_;
    time_zone_ = welcome.time_zone();
    return Applied(welcome.rule_set().version());
  }
  std::optional<v1::RulesApplied> OnRuleSet(const v1::RuleSet& rules) override {
    absl::MutexLock lock(&mu_);
    return Applied(rules.version());
  }
  v1::AgentStats Stats() override {
    v1::AgentStats stats;
    stats.set_applied_rule_version(7);
    return stats;
  }
  int welcomes() {
    absl::MutexLock lock(&mu_);
    return welcomes_;
  }
  std::string time_zone() {
    absl::MutexLock lock(&mu_);
    return time_zone_;
  }

 private:
  v1::RulesApplied Applied(uint64_t version) {
    v1::RulesApplied applied;
    applied.set_version(version);
    // Version 13 stands for a rule set the kernel refuses.
    if (version == 13) applied.set_error("nft: refused");
    return applied;
  }
  absl::Mutex mu_;
  int welcomes_ = 0;
  std::string time_zone_;
};

class GrpcUplinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/egress-uplink-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_OK_AND_ASSIGN(collector_, FakeCollector::Start(dir_ + "/collector.sock"));
    ASSERT_OK_AND_ASSIGN(spool_,
                         FileSpool::Create({dir_ + "/spool", 1 << 20, FsyncPolicy::kNever}));
  }
  void TearDown() override {
    uplink_.reset();
    collector_.reset();
    spool_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Spool(uint32_t uid, uint64_t count) {
    v1::RecordBatch batch;
    v1::ConnectionRecord* r = batch.add_records();
    r->set_uid(uid);
    r->set_dst_ip(std::string("\xc0\x00\x02\x01", 4));
    r->set_protocol(v1::PROTOCOL_TCP);
    r->set_dst_port(443);
    r->set_action(v1::ACTION_ACCEPT);
    r->set_count(count);
    ASSERT_OK(spool_->Append(&batch, 0).status());
  }
  void StartUplink() {
    GrpcUplinkOptions options;
    options.target = collector_->target();
    options.node_id = "n1";
    options.initial_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    options.window = 2;  // replay must respect the window
    ASSERT_OK_AND_ASSIGN(uplink_, GrpcUplink::Create(options, spool_.get(), &listener_));
    uplink_->Start();
  }

  std::string dir_;
  std::unique_ptr<FakeCollector> collector_;
  std::unique_ptr<FileSpool> spool_;
  RecordingListener listener_;
  std::unique_ptr<GrpcUplink> uplink_;
};

TEST_F(GrpcUplinkTest, ReplaysTheSpoolInOrderAndEmptiesItOnAcks) {
  for (int i = 1; i <= 10; ++i) Spool(1000, static_cast<uint64_t>(i));
  v1::RuleSet rules;
  rules.set_version(4);
  collector_->SetWelcome("Europe/Moscow", rules);
  StartUplink();
  EXPECT_EQ(collector_->WaitForRulesApplied(4, absl::Seconds(10)), "");
  EXPECT_TRUE(uplink_->WaitForAcks(absl::Seconds(10)));
  EXPECT_EQ(collector_->committed_seq(), 10u);
  EXPECT_EQ(collector_->sequence_gaps(), 0u);
  EXPECT_EQ(collector_->Total(1000, v1::ACTION_ACCEPT), 55u);
  EXPECT_EQ(spool_->stats().batches, 0u);
  EXPECT_EQ(listener_.time_zone(), "Europe/Moscow");

  // Later batches flow as they are spooled.
  Spool(1000, 100);
  uplink_->BatchReady();
  EXPECT_TRUE(uplink_->WaitForAcks(absl::Seconds(10)));
  EXPECT_EQ(collector_->Total(1000, v1::ACTION_ACCEPT), 155u);
}

TEST_F(GrpcUplinkTest, PushedRuleSetsAreAckedWithTheirError) {
  StartUplink();
  ASSERT_TRUE(collector_->WaitUntil([](const FakeCollector& c) { return c.hellos() == 1; },
                                    absl::Seconds(10)));
  ASSERT_TRUE(collector_->WaitUntil([&](const FakeCollector&) { return listener_.welcomes() == 1; },
                                    absl::Seconds(10)));
  v1::RuleSet ok;
  ok.set_version(12);
  collector_->PushRuleSet(ok);
  EXPECT_EQ(collector_->WaitForRulesApplied(12, absl::Seconds(10)), "");
  v1::RuleSet bad;
  bad.set_version(13);
  collector_->PushRuleSet(bad);
  EXPECT_EQ(collector_->WaitForRulesApplied(13, absl::Seconds(10)), "nft: refused");
}

TEST_F(GrpcUplinkTest, ReconnectsAfterTheStreamDropsAndLosesNothing) {
  StartUplink();
  ASSERT_TRUE(collector_->WaitUntil([](const FakeCollector& c) { return c.hellos() == 1; },
                                    absl::Seconds(10)));
  // Committed but not acked, then the stream drops: the Welcome of the next
  // stream says what is committed, so nothing is sent twice.
  collector_->HoldAcks(true);
  Spool(1000, 1);
  Spool(1000, 2);
  uplink_->BatchReady();
  ASSERT_TRUE(collector_->WaitUntil([](const FakeCollector& c) { return c.committed_seq() == 2; },
                                    absl::Seconds(10)));
  collector_->HoldAcks(false);
  collector_->DropStream();
  Spool(1000, 4);
  uplink_->BatchReady();
  ASSERT_TRUE(collector_->WaitUntil([](const FakeCollector& c) { return c.hellos() >= 2; },
                                    absl::Seconds(10)));
  EXPECT_TRUE(uplink_->WaitForAcks(absl::Seconds(10)));
  EXPECT_EQ(collector_->Total(1000, v1::ACTION_ACCEPT), 7u);
  EXPECT_EQ(collector_->duplicate_batches(), 0u);
  EXPECT_EQ(collector_->sequence_gaps(), 0u);
  EXPECT_GE(uplink_->stats().connects, 2u);
}

TEST_F(GrpcUplinkTest, KeepsRetryingWhileTheServiceIsDown) {
  Spool(1000, 3);
  const std::string target = collector_->target();
  collector_.reset();  // service down
  GrpcUplinkOptions options;
  options.target = target;
  options.node_id = "n1";
  options.initial_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(50);
  ASSERT_OK_AND_ASSIGN(uplink_, GrpcUplink::Create(options, spool_.get(), &listener_));
  uplink_->Start();
  EXPECT_FALSE(uplink_->WaitForAcks(absl::Milliseconds(300)));
  EXPECT_GE(uplink_->stats().connects, 2u) << "backoff must retry";
  ASSERT_OK_AND_ASSIGN(collector_, FakeCollector::Start(target.substr(5)));  // after "unix:"
  EXPECT_TRUE(uplink_->WaitForAcks(absl::Seconds(10)));
  EXPECT_EQ(collector_->Total(1000, v1::ACTION_ACCEPT), 3u);
}

TEST_F(GrpcUplinkTest, FreshSpoolBatchesAreRenumberedAboveTheServicesHistory) {
  // The node's earlier agent got to seq 500; this one starts with a wiped
  // state directory and seals 3 batches (numbered 1..3) before the Welcome.
  collector_->SetCommittedSeq(500);
  Spool(1000, 1);
  Spool(1000, 2);
  Spool(1000, 4);
  EXPECT_FALSE(spool_->stats().anchored);
  StartUplink();
  EXPECT_TRUE(uplink_->WaitForAcks(absl::Seconds(10)));
  EXPECT_EQ(collector_->Total(1000, v1::ACTION_ACCEPT), 7u);
  EXPECT_EQ(collector_->Received(1000, v1::ACTION_ACCEPT), 7u) << "each batch sent once";
  EXPECT_EQ(collector_->committed_seq(), 503u);
  EXPECT_EQ(collector_->sequence_gaps(), 0u);
  EXPECT_EQ(collector_->duplicate_batches(), 0u);
  EXPECT_EQ(spool_->stats().renumbered_batches, 3u);
  EXPECT_TRUE(spool_->stats().anchored);

  // Once anchored, a reconnection renumbers nothing: a batch committed
  // whose ack was lost is not sent again.
  collector_->HoldAcks(true);
  Spool(1000, 8);
  uplink_->BatchReady();
  ASSERT_TRUE(collector_->WaitUntil([](const FakeCollector& c) { return c.committed_seq() == 504; },
                                    absl::Seconds(10)));
  collector_->HoldAcks(false);
  collector_->DropStream();
  EXPECT_TRUE(uplink_->WaitForAcks(absl::Seconds(10)));
  EXPECT_EQ(collector_->Total(1000, v1::ACTION_ACCEPT), 15u);
  EXPECT_EQ(collector_->duplicate_batches(), 0u);
  EXPECT_EQ(spool_->stats().renumbered_batches, 3u);
}

}  // namespace
}  // namespace egress::agent
