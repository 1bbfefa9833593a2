// IngestCommitter's grouping logic against a scripted store: batches waiting
// from several streams go into one group, a node's batches keep their order
// and never commit in two groups at once, and a failed group breaks its
// streams' lanes so nothing later of them commits before the replay.
#include "service/ingest_committer.h"

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::testing::ElementsAre;

// Keeps per-node sequences and summed counts in memory, like the real store
// does in one transaction; can hold commits at a gate and fail groups.
class ScriptedStore : public CollectorStore {
 public:
  absl::StatusOr<NodeInfo> LoadNode(const std::string&) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<CommitResult> CommitBatch(const IngestBatch& batch) override {
    EGRESS_ASSIGN_OR_RETURN(std::vector<CommitResult> results, CommitBatches({&batch}));
    return results[0];
  }
  absl::StatusOr<std::vector<CommitResult>> CommitBatches(
      const std::vector<const IngestBatch*>& batches) override {
    absl::MutexLock lock(&mutex_);
    const int index = ++entered_;
    std::set<std::string> nodes;
    for (const IngestBatch* batch : batches) nodes.insert(batch->node_id);
    for (const std::string& node : nodes) {
      // A node in two groups at once would break sequence order.
      if (!committing_nodes_.insert(node).second) overlap_ = true;
    }
    mutex_.Await(absl::Condition(
        +[](int* passes) { return *passes > 0; }, &passes_));
    --passes_;
    for (const std::string& node : nodes) committing_nodes_.erase(node);
    groups_.push_back(batches.size());
    if (index == fail_group_) return absl::UnavailableError("database connection lost");
    std::vector<CommitResult> results;
    for (const IngestBatch* batch : batches) {
      CommitResult result;
      uint64_t& last = last_seq_[batch->node_id];
      result.previous_seq = last;
      result.duplicate = batch->seq <= last;
      if (!result.duplicate) {
        last = batch->seq;
        for (const IngestRecord& record : batch->records)
          counts_[record.account_id] += record.count;
      }
      results.push_back(result);
    }
    return results;
  }
  absl::StatusOr<NodeRuleSet> LoadRuleSet(const std::string&) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<NodeRuleSet> LoadRuleSetChanges(const std::string&, const RuleSetBase&) override {
    return absl::UnimplementedError("not used");
  }
  absl::Status RecordRulesApplied(const std::string&, uint64_t, const std::string&,
                                  const AppliedAccountVersions&) override {
    return absl::UnimplementedError("not used");
  }
  absl::Status RecordAgentStats(const std::string&, const AgentStatsRecord&) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<std::pair<int, int>> MaintainPartitions(absl::CivilDay, absl::CivilDay,
                                                         absl::CivilDay) override {
    return absl::UnimplementedError("not used");
  }

  // Groups entering from now on wait until allowed through, one per pass.
  void Hold() {
    absl::MutexLock lock(&mutex_);
    passes_ = 0;
  }
  void Allow(int groups) {
    absl::MutexLock lock(&mutex_);
    passes_ += groups;
  }
  // The n-th group to enter (1-based) fails.
  void FailGroup(int n) {
    absl::MutexLock lock(&mutex_);
    fail_group_ = n;
  }
  void AwaitEntered(int n) {
    absl::MutexLock lock(&mutex_);
    std::pair<int*, int> arg(&entered_, n);
    mutex_.Await(absl::Condition(
        +[](std::pair<int*, int>* a) { return *a->first >= a->second; }, &arg));
  }
  std::vector<size_t> groups() {
    absl::MutexLock lock(&mutex_);
    return groups_;
  }
  uint64_t count(const std::string& account) {
    absl::MutexLock lock(&mutex_);
    return counts_[account];
  }
  uint64_t last_seq(const std::string& node) {
    absl::MutexLock lock(&mutex_);
    return last_seq_[node];
  }
  bool overlap() {
    absl::MutexLock lock(&mutex_);
    return overlap_;
  }

 private:
  absl::Mutex mutex_;
  int passes_ ABSL_GUARDED_BY(mutex_) = 1 << 30;
  int entered_ ABSL_GUARDED_BY(mutex_) = 0;
  int fail_group_ ABSL_GUARDED_BY(mutex_) = 0;
  bool overlap_ ABSL_GUARDED_BY(mutex_) = false;
  std::set<std::string> committing_nodes_ ABSL_GUARDED_BY(mutex_);
  std::vector<size_t> groups_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, uint64_t> last_seq_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, uint64_t> counts_ ABSL_GUARDED_BY(mutex_);
};

IngestBatch Batch(const std::string& node, uint64_t seq, uint64_t count) {
  IngestBatch batch;
  batch.node_id = node;
  batch.seq = seq;
  IngestRecord record;
  record.account_id = node + "-acct";
  record.count = count;
  batch.records.push_back(record);
  return batch;
}

// Results as the callbacks saw them, in callback order.
class Outcomes {
 public:
  IngestCommitter::Done For(const std::string& label) {
    return [this, label](const absl::StatusOr<CommitResult>& result) {
      absl::MutexLock lock(&mutex_);
      std::string text = label + ":";
      if (!result.ok()) {
        text += "error";
      } else {
        text += result->duplicate ? "duplicate" : "committed";
      }
      log_.push_back(text);
    };
  }
  std::vector<std::string> AwaitCount(size_t n) {
    absl::MutexLock lock(&mutex_);
    std::pair<std::vector<std::string>*, size_t> arg(&log_, n);
    mutex_.AwaitWithTimeout(absl::Condition(
                                +[](std::pair<std::vector<std::string>*, size_t>* a) {
                                  return a->first->size() >= a->second;
                                },
                                &arg),
                            absl::Seconds(10));
    return log_;
  }

 private:
  absl::Mutex mutex_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(mutex_);
};

TEST(IngestCommitterTest, BatchesWaitingFromTwoStreamsCommitAsOneGroupInOrder) {
  ScriptedStore store;
  ThreadPool pool(4);
  IngestCommitterOptions options;
  options.max_writers = 1;
  IngestCommitter committer(&store, &pool, options);
  auto lane_a = committer.NewLane();
  auto lane_b = committer.NewLane();
  Outcomes outcomes;

  store.Hold();
  committer.Submit(lane_a, Batch("n1", 1, 10), outcomes.For("n1/1"));
  store.AwaitEntered(1);  // the first group holds only n1/1
  committer.Submit(lane_a, Batch("n1", 2, 20), outcomes.For("n1/2"));
  committer.Submit(lane_b, Batch("n2", 1, 5), outcomes.For("n2/1"));
  committer.Submit(lane_a, Batch("n1", 1, 10), outcomes.For("n1/1 again"));
  committer.Submit(lane_b, Batch("n2", 2, 6), outcomes.For("n2/2"));
  store.Allow(100);

  EXPECT_THAT(outcomes.AwaitCount(5),
              ElementsAre("n1/1:committed", "n1/2:committed", "n2/1:committed",
                          "n1/1 again:duplicate", "n2/2:committed"));
  EXPECT_THAT(store.groups(), ElementsAre(1u, 4u));
  EXPECT_EQ(store.count("n1-acct"), 30u);
  EXPECT_EQ(store.count("n2-acct"), 11u);
  const IngestCommitterStats stats = committer.stats();
  EXPECT_EQ(stats.groups, 2u);
  EXPECT_EQ(stats.batches, 5u);
  EXPECT_EQ(stats.largest_group, 4u);
}

TEST(IngestCommitterTest, AFailedGroupBreaksItsLanesAndTheReplayCommitsOnce) {
  ScriptedStore store;
  ThreadPool pool(4);
  IngestCommitterOptions options;
  options.max_writers = 1;
  IngestCommitter committer(&store, &pool, options);
  auto lane_a = committer.NewLane();
  auto lane_b = committer.NewLane();
  Outcomes outcomes;

  // n1/1 commits alone; n1/2 and n2/1 are in the group that fails; n1/3,
  // queued behind them meanwhile, must not commit after its predecessor
  // failed, nor may anything submitted later on the broken lane.
  store.Hold();
  store.FailGroup(2);
  committer.Submit(lane_a, Batch("n1", 1, 1), outcomes.For("n1/1"));
  store.AwaitEntered(1);
  committer.Submit(lane_a, Batch("n1", 2, 2), outcomes.For("n1/2"));
  committer.Submit(lane_b, Batch("n2", 1, 3), outcomes.For("n2/1"));
  store.Allow(1);
  store.AwaitEntered(2);
  committer.Submit(lane_a, Batch("n1", 3, 4), outcomes.For("n1/3"));
  store.Allow(100);
  std::vector<std::string> log = outcomes.AwaitCount(4);
  EXPECT_EQ(log[0], "n1/1:committed");
  EXPECT_THAT(std::vector<std::string>(log.begin() + 1, log.end()),
              ::testing::UnorderedElementsAre("n1/2:error", "n2/1:error", "n1/3:error"));
  committer.Submit(lane_a, Batch("n1", 4, 8), outcomes.For("n1/4 on broken lane"));
  EXPECT_EQ(outcomes.AwaitCount(5)[4], "n1/4 on broken lane:error");
  EXPECT_EQ(store.last_seq("n1"), 1u);
  EXPECT_EQ(store.count("n1-acct"), 1u);

  // The agents reconnect (new lanes) and replay from their last acked seq.
  auto replay_a = committer.NewLane();
  auto replay_b = committer.NewLane();
  committer.Submit(replay_a, Batch("n1", 1, 1), outcomes.For("r n1/1"));
  committer.Submit(replay_a, Batch("n1", 2, 2), outcomes.For("r n1/2"));
  committer.Submit(replay_b, Batch("n2", 1, 3), outcomes.For("r n2/1"));
  committer.Submit(replay_a, Batch("n1", 3, 4), outcomes.For("r n1/3"));
  committer.Submit(replay_a, Batch("n1", 4, 8), outcomes.For("r n1/4"));
  log = outcomes.AwaitCount(10);
  EXPECT_THAT(std::vector<std::string>(log.begin() + 5, log.end()),
              ::testing::IsSupersetOf({"r n1/1:duplicate", "r n1/2:committed", "r n2/1:committed",
                                       "r n1/3:committed", "r n1/4:committed"}));
  EXPECT_EQ(store.count("n1-acct"), 15u);
  EXPECT_EQ(store.count("n2-acct"), 3u);
  EXPECT_EQ(store.last_seq("n1"), 4u);
  EXPECT_EQ(committer.stats().failed_groups, 1u);
  EXPECT_THAT(store.groups(), ::testing::Contains(2u));
}

TEST(IngestCommitterTest, TwoWritersNeverHoldTheSameNodeAndKeepEachNodesOrder) {
  ScriptedStore store;
  ThreadPool pool(4);
  IngestCommitterOptions options;
  options.max_writers = 2;
  options.max_group_records = 3;
  IngestCommitter committer(&store, &pool, options);
  Outcomes outcomes;
  std::vector<std::thread> streams;
  constexpr int kNodes = 4;
  constexpr int kBatches = 200;
  for (int n = 0; n < kNodes; ++n) {
    streams.emplace_back([&, n] {
      auto lane = committer.NewLane();
      for (int seq = 1; seq <= kBatches; ++seq) {
        committer.Submit(lane, Batch("n" + std::to_string(n), seq, 1),
                         outcomes.For("n" + std::to_string(n) + "/" + std::to_string(seq)));
      }
    });
  }
  for (auto& stream : streams) stream.join();
  std::vector<std::string> log = outcomes.AwaitCount(kNodes * kBatches);
  ASSERT_EQ(log.size(), static_cast<size_t>(kNodes * kBatches));
  EXPECT_FALSE(store.overlap());
  // Every batch committed (none duplicate, so none out of order), and each
  // node's callbacks came in sequence order.
  std::map<std::string, int> next;
  for (const std::string& entry : log) {
    const std::string node = entry.substr(0, entry.find('/'));
    const int seq = std::stoi(entry.substr(entry.find('/') + 1));
    EXPECT_EQ(seq, ++next[node]) << entry;
    EXPECT_NE(entry.find(":committed"), std::string::npos) << entry;
  }
  for (int n = 0; n < kNodes; ++n) {
    EXPECT_EQ(store.last_seq("n" + std::to_string(n)), static_cast<uint64_t>(kBatches));
    EXPECT_EQ(store.count("n" + std::to_string(n) + "-acct"), static_cast<uint64_t>(kBatches));
  }
}

}  // namespace
}  // namespace egress
