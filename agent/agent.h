// The agent: wires the event sources, the aggregator, the spool, the uplink
// and the rule enforcer together, in the order the node needs them. It gets
// each of them from AgentParts (agent/agent_parts.h: the real ones from
// RealAgentParts, fakes in tests), so the logic below is tested without a
// kernel:
//
//  1. Create(): open the state and the spool, apply the persisted rule set
//     (blocks fail closed while the service is unreachable; with none
//     persisted, the table already in the kernel as it is, else an empty
//     rule set so attribution works; the kernel's REJECT
//     counting sets count from this transaction on), open the conntrack
//     source and the REJECT counter (or the NFLOG source), start the uplink.
//  1b. Resync: count the account connections still in the conntrack table
//     that started after the high-water mark sealed with the last spooled
//     batch (what a crash or stop made us miss), exactly once.
//  2. Run(): the event loop, on the calling thread. It polls the sources
//     (at most `max_wakeup_events` per source per wakeup), counts events in
//     the aggregator, and seals a batch into the spool every batch interval
//     or when the aggregator holds `batch_max_records` keys.
//  2a. REJECTs counted by the kernel (reject_count_sets.h): at start and
//     every batch interval (and at local midnight, so no generation spans
//     two days while the agent runs), RejectTick() seals the idle
//     generation's counts with its mark, then switches generations.
//  2b. RequestSeal() (async-signal-safe, SIGUSR1): seal now, log counters.
//  3. RequestShutdown() (async-signal-safe): Run() seals what it has, waits
//     up to `shutdown_grace` for the service's acks, stops the uplink and
//     returns. Unacked batches stay in the spool for the next start.
//
// Rule sets and the Welcome arrive on uplink threads (UplinkListener); the
// aggregator is shared with them under a mutex (time zone changes).
#ifndef EGRESS_AGENT_AGENT_H_
#define EGRESS_AGENT_AGENT_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/agent_parts.h"
#include "agent/aggregator.h"
#include "agent/clock.h"
#include "agent/conntrack_source.h"
#include "agent/desired_rule_set.h"
#include "agent/event_source.h"
#include "agent/reject_counter.h"
#include "agent/rule_enforcer.h"
#include "agent/spool.h"
#include "agent/state_store.h"
#include "agent/uplink.h"

namespace egress::agent {

// How the agent behaves; what its parts are is AgentParts' business.
struct AgentConfig {
  absl::Duration batch_interval = absl::Seconds(1);
  size_t batch_max_records = 10000;
  size_t max_wakeup_events = 1024;
  // Zone used for days until the service's Welcome names one (and persisted).
  std::string default_time_zone = "UTC";
  absl::Duration shutdown_grace = absl::Seconds(2);
  bool remove_rules_on_exit = false;
  // Print every sealed batch on stdout (debugging).
  bool print_batches = false;
};

// Everything the agent counts, read at once (metrics).
struct AgentCounters {
  EventSourceStats conntrack;
  EventSourceStats nflog;
  uint64_t records = 0;
  uint64_t batches_sealed = 0;
  // Connections counted by the start-up resync (missed while stopped).
  uint64_t resynced_events = 0;
  bool has_uplink = false;
  UplinkStats uplink;
  SpoolStats spool;
  uint64_t received_rule_version = 0;
  uint64_t applied_rule_version = 0;
  uint64_t nft_errors = 0;
  int conntrack_events_sysctl = -1;
};

class Agent : public UplinkListener {
 public:
  // `parts` is used during Create only; `clock` must outlive the agent.
  static absl::StatusOr<std::unique_ptr<Agent>> Create(const AgentConfig& config, AgentParts* parts,
                                                       const Clock* clock);
  ~Agent() override;

  absl::Status Run();
  // Both async-signal-safe. RequestSeal: seal what the aggregator holds into
  // the spool now (after draining the sockets) and log the counters.
  void RequestShutdown();
  void RequestSeal();

  // UplinkListener.
  v1::RulesApplied OnWelcome(const v1::Welcome& welcome) override;
  std::optional<v1::RulesApplied> OnRuleSet(const v1::RuleSet& rules) override;
  v1::AgentStats Stats() override;

  // Thread-safe; cheap enough for every metrics scrape.
  AgentCounters Counters();

 private:
  Agent(const AgentConfig& config, const Clock* clock, std::unique_ptr<StateStore> state);
  absl::Status Init(AgentParts* parts);
  // Merges `rules` into desired_ and applies the result; nullopt when it
  // cannot be merged (see DesiredRuleSet::Merge).
  std::optional<v1::RulesApplied> MergeAndApply(const v1::RuleSet& rules);
  v1::RulesApplied Apply(const v1::RuleSet& rules) ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_);
  void Count(const ConnectionEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends what the aggregator holds (with `reject_mark` when above the
  // persisted one); false when the spool refused it.
  bool SealBatch(uint64_t reject_mark = 0) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RejectTick() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CollectLosses() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const AgentConfig config_;
  const Clock* clock_;
  const std::unique_ptr<StateStore> state_;
  int wake_fd_ = -1;
  std::atomic<bool> shutdown_requested_{false};
  std::atomic<bool> seal_requested_{false};
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<RuleEnforcer> enforcer_;
  // Null when accepted connections are counted by the kernel's sets.
  std::unique_ptr<ConntrackSource> conntrack_;
  // Exactly one of the two counts REJECTs.
  std::unique_ptr<RejectCounter> reject_counter_;
  std::unique_ptr<EventSource> nflog_;
  std::unique_ptr<Uplink> uplink_;
  int conntrack_events_sysctl_ = -1;

  absl::Mutex apply_mu_;
  DesiredRuleSet desired_ ABSL_GUARDED_BY(apply_mu_);
  // The earliest expiry of a temporary rule of the applied rule set still
  // to come (Unix microseconds; max: none). The kernel drops that rule's
  // elements by itself then; the run loop applies desired_ again at that
  // moment so that a longer-lived network the expired one contained is
  // enforced again (without the service).
  std::atomic<int64_t> next_rule_expiry_us_{std::numeric_limits<int64_t>::max()};
  std::atomic<uint64_t> applied_version_{0};
  std::atomic<uint64_t> received_version_{0};
  std::atomic<uint64_t> nft_errors_{0};

  absl::Mutex mu_;
  Aggregator aggregator_ ABSL_GUARDED_BY(mu_);
  uint64_t batches_sealed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t records_ ABSL_GUARDED_BY(mu_) = 0;
  // When the conntrack socket was last empty before the latest seal (Unix
  // ns): every account connection started before it is counted in a sealed
  // batch. Sealed with each batch; Resync() starts from it.
  uint64_t high_water_mark_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t resynced_events_ ABSL_GUARDED_BY(mu_) = 0;
  // The REJECT mark persisted with the spool (reject_count_sets.h).
  uint64_t reject_mark_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_reject_switch_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Kernel counts read (events), overflow (lost), unknown protocols
  // (filtered), failed reads or switches (overruns).
  EventSourceStats kernel_reject_stats_ ABSL_GUARDED_BY(mu_);
  // Accepted connections read from the counting sets (conntrack_ is null).
  EventSourceStats kernel_accept_stats_ ABSL_GUARDED_BY(mu_);
  EventSourceStats conntrack_stats_ ABSL_GUARDED_BY(mu_);
  EventSourceStats nflog_stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_AGENT_H_
