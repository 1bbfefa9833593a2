// A scripted node agent for service tests and benchmarks that behaves like
// the real one towards the service: it announces the rule-set-deltas
// capability (optionally not), keeps the node's rule set with the agent's
// own DesiredRuleSet (so partial rule sets are merged by the real code),
// confirms every rule set with RulesApplied at once, and can stream batches.
// Everything it receives is handled on its reader thread.
#ifndef EGRESS_TESTS_SUPPORT_RULE_FOLLOWING_AGENT_H_
#define EGRESS_TESTS_SUPPORT_RULE_FOLLOWING_AGENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/desired_rule_set.h"
#include "egress/v1/collector.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace egress::testing {

class RuleFollowingAgent {
 public:
  struct Options {
    std::string node_id;
    std::string token;
    bool deltas = true;
    // Called on the reader thread for every rule set applied (after the
    // merge, before RulesApplied is sent).
    std::function<void(const egress::v1::RuleSet& incoming, absl::Time received)> on_rule_set;
  };

  RuleFollowingAgent(const std::shared_ptr<grpc::Channel>& channel, Options options);
  ~RuleFollowingAgent();

  // Sends Hello and waits for the Welcome (false after `timeout` or if the
  // stream ended).
  bool Start(absl::Duration timeout = absl::Seconds(10));

  // Sends a batch with the next sequence number (from the Welcome's
  // last_committed_seq + 1). False if the stream is gone.
  bool SendBatch(std::vector<egress::v1::ConnectionRecord> records);
  // Waits until every batch sent is acknowledged.
  bool WaitForAcks(absl::Duration timeout);

  // The merged rule set (full; accounts by uid).
  egress::v1::RuleSet current();
  // Waits until the merged rule set's version is at least `version`.
  bool WaitForVersion(uint64_t version, absl::Duration timeout);

  struct Counters {
    uint64_t full_rule_sets = 0;
    uint64_t partial_rule_sets = 0;
    uint64_t merge_failures = 0;
    uint64_t acks = 0;
  };
  Counters counters();
  bool ended();
  // Cancels the stream and joins the reader. Idempotent.
  void Stop();

 private:
  void ReadLoop();
  bool Write(const egress::v1::AgentMessage& message);

  Options options_;
  grpc::ClientContext context_;
  std::unique_ptr<egress::v1::CollectorService::Stub> stub_;
  std::unique_ptr<grpc::ClientReaderWriter<egress::v1::AgentMessage, egress::v1::ServiceMessage>>
      stream_;
  std::thread reader_;
  absl::Mutex write_mutex_;

  absl::Mutex mutex_;
  egress::agent::DesiredRuleSet rules_ ABSL_GUARDED_BY(mutex_);
  bool welcomed_ ABSL_GUARDED_BY(mutex_) = false;
  bool ended_ ABSL_GUARDED_BY(mutex_) = false;
  uint64_t next_seq_ ABSL_GUARDED_BY(mutex_) = 1;
  uint64_t last_acked_ ABSL_GUARDED_BY(mutex_) = 0;
  Counters counters_ ABSL_GUARDED_BY(mutex_);
  bool stopped_ = false;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_RULE_FOLLOWING_AGENT_H_
