#include "agent/agent.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/reject_count_sets.h"
#include "common/civil_day.h"
#include "common/log.h"
#include "common/protocol.h"
#include "common/status_macros.h"

namespace egress::agent {
namespace {

absl::TimeZone ZoneOrUtc(const std::string& name) {
  if (name.empty()) return absl::UTCTimeZone();
  auto zone = LoadTimeZone(name);
  if (!zone.ok()) {
    LogWarning("bad_time_zone", {{"name", name}, {"error", zone.status().ToString()}});
    return absl::UTCTimeZone();
  }
  return *zone;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(const AgentConfig& config, AgentParts* parts,
                                                     const Clock* clock) {
  EGRESS_ASSIGN_OR_RETURN(std::unique_ptr<StateStore> state, parts->OpenStateStore());
  std::unique_ptr<Agent> agent(new Agent(config, clock, std::move(state)));
  EGRESS_RETURN_IF_ERROR(agent->Init(parts));
  return agent;
}

Agent::Agent(const AgentConfig& config, const Clock* clock, std::unique_ptr<StateStore> state)
    : config_(config),
      clock_(clock),
      state_(std::move(state)),
      aggregator_(config.batch_max_records,
                  ZoneOrUtc(state_->LoadTimeZone().empty() ? config.default_time_zone
                                                           : state_->LoadTimeZone())) {}

Agent::~Agent() {
  if (uplink_ != nullptr) uplink_->Stop();
  if (config_.remove_rules_on_exit && enforcer_ != nullptr) {
    if (absl::Status s = enforcer_->Remove(); !s.ok()) {
      LogWarning("remove_rules_failed", {{"error", s.ToString()}});
    }
  }
  if (wake_fd_ >= 0) close(wake_fd_);
}

absl::Status Agent::Init(AgentParts* parts) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  EGRESS_ASSIGN_OR_RETURN(spool_, parts->OpenSpool());
  EGRESS_ASSIGN_OR_RETURN(enforcer_, parts->OpenEnforcer());

  // Rules before anything else: what was enforced before a restart is
  // enforced again before the service is reachable.
  EGRESS_ASSIGN_OR_RETURN(std::optional<v1::RuleSet> persisted, state_->LoadRuleSet());
  if (persisted.has_value()) {
    v1::RulesApplied applied;
    {
      absl::MutexLock lock(&apply_mu_);
      // Held as the desired rule set too, so that the run loop can apply it
      // again when a temporary rule runs out (the service may be away).
      if (desired_.Merge(*persisted).ok()) {
        applied = Apply(desired_.current());
      } else {
        applied = Apply(*persisted);
      }
    }
    if (!applied.error().empty()) {
      LogError("persisted_rules_failed",
               {{"version", persisted->version()}, {"error", applied.error()}});
    } else {
      LogInfo("persisted_rules_applied", {{"version", persisted->version()}});
    }
  }
  if (applied_version_.load() == 0 && !persisted.has_value()) {
    if (enforcer_->TableInstalled()) {
      // Nothing persisted (a wiped state directory) but an earlier agent's
      // table is in force: keep it as it is until the Welcome, so accounts
      // stay attributed (and counted) and blocked meanwhile.
      LogWarning("no_persisted_rules_keeping_table", {});
    } else if (absl::Status s = enforcer_->Apply(v1::RuleSet()); !s.ok()) {
      // The table must still exist (marks, ct expression).
      return s;
    }
  }

  EGRESS_ASSIGN_OR_RETURN(conntrack_, parts->OpenConntrackSource());
  if (conntrack_ == nullptr) {
    // Accepted connections are counted by the kernel's counting sets.
    LogInfo("accept_counting_in_kernel", {});
  } else if (conntrack_events_sysctl_ = conntrack_->events_sysctl();
             conntrack_events_sysctl_ == 0) {
    LogError("conntrack_events_disabled",
             {{"sysctl", "net.netfilter.nf_conntrack_events"},
              {"value", 0},
              {"hint", "set it to 1 or 2, or no connection is recorded"}});
  } else {
    LogInfo("conntrack_events_sysctl", {{"value", conntrack_events_sysctl_}});
  }
  EGRESS_ASSIGN_OR_RETURN(reject_counter_, parts->OpenRejectCounter());
  if (conntrack_ == nullptr && reject_counter_ == nullptr) {
    return absl::FailedPreconditionError(
        "accepted connections counted in the kernel need the kernel's REJECT counting too");
  }
  if (reject_counter_ != nullptr) {
    // A fresh table counts in generation a already; numbering it now makes
    // its first read exact. A failure here only delays that to a tick.
    auto gens = reject_counter_->Generations();
    if (gens.ok() && !gens->has_value()) {
      absl::MutexLock lock(&mu_);
      const uint64_t mark = spool_->stats().reject_mark;
      const uint32_t number = NextGenerationNumber(RejectGenerations(), mark, clock_->Now());
      if (absl::Status s = reject_counter_->Init(number); !s.ok()) {
        LogError("reject_counting_init_failed", {{"error", s.ToString()}});
      } else {
        last_reject_switch_ = clock_->Now();
        LogInfo("reject_counting_started", {{"generation", number}});
      }
    } else if (!gens.ok()) {
      LogError("reject_counting_read_failed", {{"error", gens.status().ToString()}});
    }
  } else {
    EGRESS_ASSIGN_OR_RETURN(nflog_, parts->OpenRejectSource());
  }
  EGRESS_ASSIGN_OR_RETURN(uplink_, parts->OpenUplink(spool_.get(), this));
  if (uplink_ != nullptr) uplink_->Start();
  return absl::OkStatus();
}

std::optional<v1::RulesApplied> Agent::MergeAndApply(const v1::RuleSet& rules) {
  absl::MutexLock lock(&apply_mu_);
  if (absl::Status merged = desired_.Merge(rules); !merged.ok()) {
    LogError("rule_set_out_of_step", {{"error", merged.message()}});
    return std::nullopt;
  }
  return Apply(desired_.current());
}

v1::RulesApplied Agent::Apply(const v1::RuleSet& rules) {
  v1::RulesApplied applied;
  applied.set_version(rules.version());
  received_version_ = rules.version();
  const absl::Time start = absl::Now();
  absl::Status status = enforcer_->Apply(rules);
  if (!status.ok()) {
    ++nft_errors_;
    applied.set_error(std::string(status.message()));
    LogError("rules_apply_failed", {{"version", rules.version()}, {"error", status.ToString()}});
    return applied;
  }
  applied_version_ = rules.version();
  int64_t next_expiry = std::numeric_limits<int64_t>::max();
  const int64_t now_us = absl::ToUnixMicros(absl::Now());
  for (const v1::AccountRules& account : rules.accounts()) {
    for (const v1::RuleMatch& rule : account.rules()) {
      if (!rule.has_expire_time()) continue;
      const int64_t until = absl::ToUnixMicros(absl::FromUnixSeconds(rule.expire_time().seconds()) +
                                               absl::Nanoseconds(rule.expire_time().nanos()));
      if (until > now_us) next_expiry = std::min(next_expiry, until);
    }
  }
  next_rule_expiry_us_ = next_expiry;
  if (absl::Status s = state_->SaveRuleSet(rules); !s.ok()) {
    LogError("rules_persist_failed", {{"error", s.ToString()}});
  }
  LogInfo("rules_applied", {{"version", rules.version()},
                            {"accounts", rules.accounts_size()},
                            {"ms", absl::ToDoubleMilliseconds(absl::Now() - start)}});
  return applied;
}

v1::RulesApplied Agent::OnWelcome(const v1::Welcome& welcome) {
  if (!welcome.time_zone().empty()) {
    auto zone = LoadTimeZone(welcome.time_zone());
    if (zone.ok()) {
      {
        absl::MutexLock lock(&mu_);
        aggregator_.set_time_zone(*zone);
      }
      if (absl::Status s = state_->SaveTimeZone(welcome.time_zone()); !s.ok()) {
        LogWarning("time_zone_persist_failed", {{"error", s.ToString()}});
      }
    } else {
      LogError("bad_time_zone", {{"name", welcome.time_zone()}});
    }
  }
  if (welcome.has_rule_set()) {
    std::optional<v1::RulesApplied> applied = MergeAndApply(welcome.rule_set());
    if (applied.has_value()) return *applied;
    // A partial rule set in a Welcome is a service bug: report it, keep the
    // rules in force.
    v1::RulesApplied refused;
    refused.set_version(welcome.rule_set().version());
    refused.set_error("the Welcome carried a partial rule set; keeping the rules in force");
    return refused;
  }
  v1::RulesApplied applied;
  applied.set_version(applied_version_.load());
  return applied;
}

std::optional<v1::RulesApplied> Agent::OnRuleSet(const v1::RuleSet& rules) {
  return MergeAndApply(rules);
}

v1::AgentStats Agent::Stats() {
  v1::AgentStats s;
  {
    absl::MutexLock lock(&mu_);
    s.set_conntrack_events(conntrack_stats_.events);
    s.set_reject_events(nflog_stats_.events);
    s.set_netlink_overruns(conntrack_stats_.overruns + nflog_stats_.overruns);
    s.set_resyncs(conntrack_stats_.resyncs);
    s.set_unattributed_events(conntrack_stats_.unattributed);
    s.set_records(records_);
  }
  if (uplink_ != nullptr) {
    const UplinkStats u = uplink_->stats();
    s.set_batches_sent(u.batches_sent);
    s.set_batches_acked(u.batches_acked);
  }
  const SpoolStats spool = spool_->stats();
  s.set_spool_bytes(spool.bytes);
  s.set_spool_dropped_batches(spool.dropped_batches);
  s.set_applied_rule_version(applied_version_.load());
  s.set_nft_errors(nft_errors_.load());
  s.set_conntrack_events_sysctl(conntrack_events_sysctl_);
  return s;
}

AgentCounters Agent::Counters() {
  AgentCounters c;
  {
    absl::MutexLock lock(&mu_);
    c.conntrack = conntrack_stats_;
    c.nflog = nflog_stats_;
    c.records = records_;
    c.batches_sealed = batches_sealed_;
    c.resynced_events = resynced_events_;
  }
  if (uplink_ != nullptr) {
    c.has_uplink = true;
    c.uplink = uplink_->stats();
  }
  c.spool = spool_->stats();
  c.received_rule_version = received_version_.load();
  c.applied_rule_version = applied_version_.load();
  c.nft_errors = nft_errors_.load();
  c.conntrack_events_sysctl = conntrack_events_sysctl_;
  return c;
}

void Agent::RequestShutdown() {
  shutdown_requested_ = true;
  const uint64_t one = 1;
  // Async-signal-safe; a full counter still wakes the loop.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void Agent::RequestSeal() {
  seal_requested_ = true;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void Agent::Count(const ConnectionEvent& event) {
  if (!aggregator_.Add(event)) {
    SealBatch();
    aggregator_.Add(event);
  }
  if (aggregator_.full()) SealBatch();
}

void Agent::CollectLosses() {
  const absl::Time now = clock_->Now();
  const uint64_t conntrack_lost = conntrack_ != nullptr ? conntrack_->TakeLostEvents() : 0;
  if (conntrack_lost > 0 || (conntrack_ != nullptr && conntrack_->TakeRecoveredOverruns() > 0)) {
    // Neither a failed dump (1 per overrun) nor a recovered one can tell how
    // many events the overrun dropped for good.
    aggregator_.AddLoss(v1::LossReport::REASON_NETLINK_OVERRUN, now, conntrack_lost,
                        /*size_unknown=*/true);
  }
  if (nflog_ != nullptr) {
    if (const uint64_t lost = nflog_->TakeLostEvents(); lost > 0) {
      aggregator_.AddLoss(v1::LossReport::REASON_REJECT_LOG_OVERRUN, now, lost);
    }
  }
  conntrack_stats_ = conntrack_ != nullptr ? conntrack_->stats() : kernel_accept_stats_;
  nflog_stats_ = nflog_ != nullptr ? nflog_->stats() : kernel_reject_stats_;
}

bool Agent::SealBatch(uint64_t reject_mark) {
  std::vector<v1::LossReport> spool_losses = spool_->TakeOverflowLosses();
  // Nothing to send: a reject mark alone need not be stored (recounting a
  // generation that gave nothing gives nothing).
  if (aggregator_.empty() && spool_losses.empty()) return true;
  v1::RecordBatch batch;
  aggregator_.DrainInto(&batch);
  for (v1::LossReport& loss : spool_losses) *batch.add_losses() = std::move(loss);
  const int64_t nanos = absl::ToUnixNanos(clock_->Now());
  batch.mutable_create_time()->set_seconds(nanos / 1'000'000'000);
  batch.mutable_create_time()->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
  auto seq = spool_->Append(&batch, high_water_mark_, reject_mark);
  if (!seq.ok()) {
    // The counts are gone from the aggregator: say so loudly. The spool
    // failing (disk full, I/O error) is an environment error, not a bug.
    // (Kernel-counted REJECTs stay in the kernel: their generation is not
    // switched, so the next tick reads them again.)
    LogError("spool_append_failed",
             {{"error", seq.status().ToString()}, {"records", batch.records_size()}});
    return false;
  }
  reject_mark_ = std::max(reject_mark_, reject_mark);
  ++batches_sealed_;
  records_ += static_cast<uint64_t>(batch.records_size());
  if (config_.print_batches) {
    std::printf("batch %s\n", batch.ShortDebugString().c_str());
    std::fflush(stdout);
  }
  if (uplink_ != nullptr) uplink_->BatchReady();
  return true;
}

void Agent::RejectTick() {
  const absl::Time now = clock_->Now();
  auto read_gens = reject_counter_->Generations();
  if (!read_gens.ok()) {
    ++kernel_reject_stats_.overruns;
    LogError("reject_counting_read_failed", {{"error", read_gens.status().ToString()}});
    return;
  }
  if (!read_gens->has_value()) {
    // A fresh table (recreated, or deleted by hand and re-applied):
    // generation a counts already; number it.
    const uint32_t number = NextGenerationNumber(RejectGenerations(), reject_mark_, now);
    if (absl::Status s = reject_counter_->Init(number); !s.ok()) {
      ++kernel_reject_stats_.overruns;
      LogError("reject_counting_init_failed", {{"error", s.ToString()}});
      return;
    }
    last_reject_switch_ = now;
    LogInfo("reject_counting_started", {{"generation", number}});
    return;
  }
  const RejectGenerations gens = **read_gens;
  const uint32_t number = gens.number[gens.idle()];
  const uint64_t done = KeysCounted(reject_mark_, number);
  if (number != 0 && done != kAllKeys) {
    auto counts = reject_counter_->Read(gens.idle());
    if (!counts.ok()) {
      ++kernel_reject_stats_.overruns;
      LogError("reject_counting_read_failed", {{"error", counts.status().ToString()}});
      return;  // nothing switched: read again next tick
    }
    // Sorted, so a generation sealed in parts resumes at the same key.
    std::sort(counts->begin(), counts->end());
    for (size_t i = done; i < counts->size(); ++i) {
      const RejectCount& c = (*counts)[i];
      const absl::Time when = RejectFirstSeen(c, now, number, gens.number[gens.active]);
      EventSourceStats& stats = c.accepted() ? kernel_accept_stats_ : kernel_reject_stats_;
      if (c.overflow()) {
        // What a full set could not take: enforced, not attributed.
        aggregator_.AddLoss(c.accepted() ? v1::LossReport::REASON_ACCEPT_SET_FULL
                                         : v1::LossReport::REASON_REJECT_LOG_OVERRUN,
                            when, c.packets);
        stats.lost += c.packets;
        continue;
      }
      absl::StatusOr<Protocol> protocol = ProtocolFromNumber(c.protocol);
      if (!protocol.ok() || *protocol == Protocol::kAny) {
        stats.filtered += c.packets;  // sctp and the like
        continue;
      }
      ConnectionEvent e;
      e.uid = c.uid;
      e.dst = c.dst;
      e.protocol = *protocol;
      e.dst_port = c.port;
      e.action = c.accepted() ? Action::kAccept : Action::kReject;
      e.time = when;
      if (!aggregator_.Add(e, c.packets)) {
        if (!SealBatch(RejectMark(number, static_cast<uint32_t>(i)))) return;
        aggregator_.Add(e, c.packets);
      }
      stats.events += c.packets;
    }
    if (!SealBatch(RejectMark(number, kAllKeys))) return;
    reject_mark_ = std::max(reject_mark_, RejectMark(number, kAllKeys));
  }
  if (conntrack_ == nullptr) {
    // The statistic conntrack's listener would keep (a failed read is only
    // a missed statistic).
    if (absl::StatusOr<uint64_t> other = reject_counter_->TakeUnattributed(); other.ok()) {
      kernel_accept_stats_.unattributed += *other;
    }
  }
  const uint32_t next = NextGenerationNumber(gens, reject_mark_, now);
  if (absl::Status s = reject_counter_->Switch(gens, next); !s.ok()) {
    ++kernel_reject_stats_.overruns;
    LogError("reject_counting_switch_failed", {{"error", s.ToString()}});
    return;
  }
  last_reject_switch_ = now;
}

absl::Status Agent::Run() {
  std::printf("egress-agent ready\n");
  std::fflush(stdout);
  LogInfo("agent_ready", {{"applied_rule_version", applied_version_.load()}});
  absl::Time next_batch = clock_->Now() + config_.batch_interval;
  const EventSink sink = [this](const ConnectionEvent& e)
                             ABSL_NO_THREAD_SAFETY_ANALYSIS { Count(e); };
  auto next_tick = [this](absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    absl::Time next = now + config_.batch_interval;
    if (reject_counter_ != nullptr) {
      // Switch generations at local midnight too, so that a running agent
      // never puts two days in one generation.
      const absl::TimeZone tz = aggregator_.time_zone();
      next = std::min(next, StartOfDay(absl::ToCivilDay(now, tz) + 1, tz));
    }
    return next;
  };
  {
    absl::MutexLock lock(&mu_);
    high_water_mark_ = spool_->stats().high_water_mark;
    reject_mark_ = spool_->stats().reject_mark;
    // What was refused while no agent ran: the idle generation, at once.
    if (reject_counter_ != nullptr) RejectTick();
    next_batch = next_tick(clock_->Now());
    if (high_water_mark_ != 0 && conntrack_ != nullptr) {
      auto resynced = conntrack_->Resync(high_water_mark_, sink);
      if (!resynced.ok()) {
        LogError("conntrack_resync_failed", {{"error", resynced.status().ToString()}});
      } else {
        resynced_events_ += *resynced;
        LogInfo("conntrack_resync", {{"after_unix_ns", high_water_mark_}, {"events", *resynced}});
      }
      // Down longer than conntrack keeps a closed connection: some of what
      // happened meanwhile may be gone from the table. How much is unknown,
      // so the day is flagged: 0 events, size unknown ("maybe none").
      const absl::Duration down =
          clock_->Now() - absl::FromUnixNanos(static_cast<int64_t>(high_water_mark_));
      const absl::Duration window = conntrack_->ResyncWindow();
      if (down > window) {
        aggregator_.AddLoss(v1::LossReport::REASON_RESYNC_WINDOW_EXCEEDED, clock_->Now(), 0,
                            /*size_unknown=*/true);
        LogWarning("resync_window_exceeded", {{"down_s", absl::ToInt64Seconds(down)},
                                              {"window_s", absl::ToInt64Seconds(window)}});
      }
    }
  }
  while (true) {
    pollfd fds[3] = {{wake_fd_, POLLIN, 0},
                     {conntrack_ != nullptr ? conntrack_->fd() : -1, POLLIN, 0},
                     {nflog_ != nullptr ? nflog_->fd() : -1, POLLIN, 0}};
    int64_t wait_ms =
        std::max<int64_t>(0, absl::ToInt64Milliseconds(next_batch - clock_->Now()) + 1);
    const int64_t expiry_us = next_rule_expiry_us_.load();
    if (expiry_us != std::numeric_limits<int64_t>::max()) {
      // Wake at a temporary rule's expiry (a millisecond after, so that it
      // has run out when the rule set is prepared again).
      wait_ms = std::min<int64_t>(
          wait_ms, std::max<int64_t>(0, (expiry_us - absl::ToUnixMicros(absl::Now())) / 1000 + 1));
    }
    const int n = poll(fds, 3, static_cast<int>(std::min<int64_t>(wait_ms, 1000)));
    if (n < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      uint64_t value;
      [[maybe_unused]] ssize_t r = read(wake_fd_, &value, sizeof(value));
    }
    if (expiry_us != std::numeric_limits<int64_t>::max() &&
        absl::ToUnixMicros(absl::Now()) >= expiry_us) {
      // The kernel dropped the rule by itself; applying the same rule set
      // again brings back what it hid (NftElementsCache::Prepare).
      absl::MutexLock lock(&apply_mu_);
      if (next_rule_expiry_us_.load() == expiry_us) {
        next_rule_expiry_us_ = std::numeric_limits<int64_t>::max();
        if (!desired_.empty()) Apply(desired_.current());
      }
    }
    const bool shutdown = shutdown_requested_.load();
    const bool seal_now = seal_requested_.exchange(false);
    {
      absl::MutexLock lock(&mu_);
      if (n > 0 && conntrack_ != nullptr && (fds[1].revents & (POLLIN | POLLERR)) != 0) {
        auto read = conntrack_->ReadAvailable(config_.max_wakeup_events, sink);
        if (!read.ok()) return read.status();
      }
      if (n > 0 && nflog_ != nullptr && (fds[2].revents & (POLLIN | POLLERR)) != 0) {
        auto read = nflog_->ReadAvailable(config_.max_wakeup_events, sink);
        if (!read.ok()) return read.status();
      }
      if (shutdown && nflog_ == nullptr) {
        while (conntrack_ != nullptr) {
          auto a = conntrack_->ReadAvailable(config_.max_wakeup_events, sink);
          if (!a.ok() || *a == 0) break;
        }
      } else if (shutdown) {
        // Drain what the kernel already queued, so a clean stop loses nothing.
        // NFLOG batches packets in the kernel for up to its flush timeout
        // (50 ms), so give that queue one flush period.
        pollfd nflog_fd = {nflog_->fd(), POLLIN, 0};
        poll(&nflog_fd, 1, 100);
        while (true) {
          auto a = conntrack_ != nullptr
                       ? conntrack_->ReadAvailable(config_.max_wakeup_events, sink)
                       : absl::StatusOr<size_t>(0);
          auto b = nflog_->ReadAvailable(config_.max_wakeup_events, sink);
          if (!a.ok() || !b.ok() || (*a == 0 && *b == 0)) break;
        }
      }
      if (shutdown || seal_now || clock_->Now() >= next_batch) {
        // Seal at a point where the conntrack socket is empty, so that the
        // high-water mark (when it was last empty) separates exactly what
        // this and earlier batches counted from what a resync would count.
        if (conntrack_ != nullptr) {
          for (int i = 0; i < 16; ++i) {
            auto read = conntrack_->ReadAvailable(config_.max_wakeup_events, sink);
            if (!read.ok() || *read < config_.max_wakeup_events) break;
          }
          high_water_mark_ = conntrack_->last_drain_nanos();
        } else {
          // Counted by the kernel's sets, so nothing before now is left for
          // a resync (what a later run in conntrack mode would do from here).
          high_water_mark_ = static_cast<uint64_t>(absl::ToUnixNanos(clock_->Now()));
        }
        CollectLosses();
        if (reject_counter_ != nullptr) {
          const absl::Time now = clock_->Now();
          const absl::TimeZone tz = aggregator_.time_zone();
          // The idle generation must have been idle a while (packets still
          // in the old rules on other CPUs), and generation numbers are
          // seconds: at most about one switch a second, whatever the batch
          // interval; a day change always switches.
          const absl::Duration tick =
              std::max(config_.batch_interval * 0.9, absl::Milliseconds(900));
          if (shutdown || seal_now || now - last_reject_switch_ >= tick ||
              absl::ToCivilDay(now, tz) != absl::ToCivilDay(last_reject_switch_, tz)) {
            RejectTick();
            if (shutdown || seal_now) {
              // A clean stop (or a seal asked for by SIGUSR1) counts the
              // generation that was active too, once packets still in the
              // old rules on other CPUs have landed (an RCU grace period;
              // 50 ms is far more). What comes after stays in the kernel
              // for the next start or tick.
              absl::SleepFor(absl::Milliseconds(50));
              last_reject_switch_ = absl::InfinitePast();
              RejectTick();
            }
          }
          CollectLosses();
        }
        SealBatch();
        next_batch = next_tick(clock_->Now());
      }
    }
    if (seal_now) {
      const v1::AgentStats stats = Stats();
      const SpoolStats spool = spool_->stats();
      LogInfo("agent_stats", {{"conntrack_events", stats.conntrack_events()},
                              {"reject_events", stats.reject_events()},
                              {"unattributed_events", stats.unattributed_events()},
                              {"netlink_overruns", stats.netlink_overruns()},
                              {"resyncs", stats.resyncs()},
                              {"records", stats.records()},
                              {"batches_sent", stats.batches_sent()},
                              {"batches_acked", stats.batches_acked()},
                              {"spool_batches", spool.batches},
                              {"spool_bytes", spool.bytes},
                              {"spool_dropped_batches", spool.dropped_batches},
                              {"applied_rule_version", stats.applied_rule_version()},
                              {"nft_errors", stats.nft_errors()}});
    }
    if (shutdown) break;
  }
  LogInfo("agent_stopping", {});
  if (uplink_ != nullptr) {
    const bool acked = uplink_->WaitForAcks(config_.shutdown_grace);
    LogInfo("agent_stopped", {{"all_acked", acked}, {"spooled_batches", spool_->stats().batches}});
    uplink_->Stop();
  }
  return absl::OkStatus();
}

}  // namespace egress::agent
