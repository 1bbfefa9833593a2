// An in-process CollectorService for agent tests: speaks the real proto over
// real gRPC (a unix socket, so an agent inside another network namespace can
// reach it), commits batches the way the service does (once per sequence
// number; a replayed batch is acknowledged as a duplicate and changes
// nothing), and records everything it got.
//
// Thread-safe. Only one agent stream at a time is expected; a new stream
// replaces the old one.
#ifndef EGRESS_TESTS_FAKES_FAKE_COLLECTOR_H_
#define EGRESS_TESTS_FAKES_FAKE_COLLECTOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "egress/v1/collector.grpc.pb.h"
#include "grpcpp/server.h"

namespace egress::testing {

class FakeCollector {
 public:
  // Listens on `unix:<socket_path>`.
  static absl::StatusOr<std::unique_ptr<FakeCollector>> Start(const std::string& socket_path);
  ~FakeCollector();

  // gRPC target for the agent: "unix:<path>".
  const std::string& target() const { return target_; }

  // What the next Welcome carries.
  void SetWelcome(const std::string& time_zone, const v1::RuleSet& rule_set);
  // Sends `rule_set` on the current stream (and in later Welcomes).
  void PushRuleSet(const v1::RuleSet& rule_set);
  // While held, batches are committed but not acknowledged (a service that
  // crashed between commit and ack).
  void HoldAcks(bool hold);
  // While set, batches are neither committed nor acknowledged (a service
  // whose database is down); they are still counted in Received().
  void IgnoreBatches(bool ignore);
  // Ends the current stream with UNAVAILABLE (a service restart).
  void DropStream();
  // The node's history: as if batches up to `seq` had been committed by an
  // earlier agent (e.g. before its state directory was wiped).
  void SetCommittedSeq(uint64_t seq);

  // (uid, dst ip text, protocol, port, action) -> committed count.
  using Key = std::tuple<uint32_t, std::string, v1::Protocol, uint32_t, v1::Action>;
  uint64_t Count(uint32_t uid, const std::string& ip, v1::Protocol protocol, uint32_t port,
                 v1::Action action) const;
  // Sum over every destination.
  uint64_t Total(uint32_t uid, v1::Action action) const;
  // Like Total, over every batch received, committed or not, replays included.
  uint64_t Received(uint32_t uid, v1::Action action) const;
  std::map<Key, uint64_t> Counts() const;
  uint64_t committed_seq() const;
  uint64_t duplicate_batches() const;
  // Batches whose seq skipped ahead of committed_seq + 1 (an agent bug).
  uint64_t sequence_gaps() const;
  uint64_t lost_events() const;
  // LossReports received (a report may carry 0 events: unknown size).
  uint64_t loss_reports() const;
  // Of those, the ones flagged LossReport.size_unknown.
  uint64_t unknown_size_loss_reports() const;
  int hellos() const;
  std::vector<v1::RulesApplied> rules_applied() const;
  std::vector<v1::AgentStats> stats() const;

  // Waits until `predicate` (called under the lock) holds; false on timeout.
  bool WaitUntil(const std::function<bool(const FakeCollector&)>& predicate,
                 absl::Duration timeout) const;
  // Waits until a RulesApplied for `version` arrived; returns its error text
  // ("" on success), or nullopt-like "<timeout>".
  std::string WaitForRulesApplied(uint64_t version, absl::Duration timeout) const;

 private:
  class Reactor;
  class Service;
  friend class Reactor;

  FakeCollector() = default;
  void OnMessage(Reactor* reactor, const v1::AgentMessage& message);
  void OnDone(Reactor* reactor);

  std::string target_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;

  mutable absl::Mutex mu_;
  std::string time_zone_ ABSL_GUARDED_BY(mu_) = "UTC";
  v1::RuleSet rule_set_ ABSL_GUARDED_BY(mu_);
  bool hold_acks_ ABSL_GUARDED_BY(mu_) = false;
  bool ignore_batches_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::pair<uint32_t, v1::Action>, uint64_t> received_ ABSL_GUARDED_BY(mu_);
  Reactor* current_ ABSL_GUARDED_BY(mu_) = nullptr;
  int live_reactors_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t committed_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t duplicates_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t gaps_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t lost_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t loss_reports_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t unknown_size_loss_reports_ ABSL_GUARDED_BY(mu_) = 0;
  int hellos_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<Key, uint64_t> counts_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::RulesApplied> rules_applied_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::AgentStats> stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_FAKES_FAKE_COLLECTOR_H_
