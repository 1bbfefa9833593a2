#include "agent/agent_metrics.h"

namespace egress::agent {
namespace {

// Every series the agent exports, declared once: COUNTER/GAUGE(expression
// on the AgentCounters `c`, "name", "label", "label value", "help").
#define EGRESS_AGENT_METRICS(COUNTER, GAUGE)                                                     \
  COUNTER(conntrack.events, "egress_agent_events_total", "source", "conntrack",                  \
          "Connection events delivered to the aggregator, by source (conntrack: ACCEPT, nflog: " \
          "REJECT).")                                                                            \
  COUNTER(nflog.events, "egress_agent_events_total", "source", "nflog", "")                      \
  COUNTER(conntrack.filtered, "egress_agent_events_filtered_total", "source", "conntrack",       \
          "Messages read but not counted (not an account's, exempt, unparsable).")               \
  COUNTER(nflog.filtered, "egress_agent_events_filtered_total", "source", "nflog", "")           \
  COUNTER(conntrack.unattributed, "egress_agent_unattributed_events_total", "", "",              \
          "Outgoing connections of users that are not accounts.")                                \
  COUNTER(conntrack.overruns, "egress_agent_netlink_overruns_total", "source", "conntrack",      \
          "Netlink receive buffer overruns (ENOBUFS), by source.")                               \
  COUNTER(nflog.overruns, "egress_agent_netlink_overruns_total", "source", "nflog", "")          \
  COUNTER(conntrack.lost, "egress_agent_events_lost_total", "source", "conntrack",               \
          "Events known lost (exact when the source can tell, else a lower bound).")             \
  COUNTER(nflog.lost, "egress_agent_events_lost_total", "source", "nflog", "")                   \
  COUNTER(conntrack.resyncs, "egress_agent_resyncs_total", "", "",                               \
          "Conntrack table dumps run to recover from overruns.")                                 \
  COUNTER(resynced_events, "egress_agent_resynced_events_total", "", "",                         \
          "Connections recovered by the start-up resync (made while the agent was stopped).")    \
  GAUGE(conntrack.rcvbuf_bytes, "egress_agent_conntrack_rcvbuf_bytes", "", "",                   \
        "Conntrack socket receive buffer asked for.")                                            \
  GAUGE(conntrack_events_sysctl, "egress_agent_conntrack_events_sysctl", "", "",                 \
        "net.netfilter.nf_conntrack_events at start (0 means nothing can be recorded).")         \
  COUNTER(records, "egress_agent_records_total", "", "",                                         \
          "Aggregated records sealed into batches.")                                             \
  COUNTER(batches_sealed, "egress_agent_batches_sealed_total", "", "",                           \
          "Batches sealed into the spool.")                                                      \
  GAUGE(spool.bytes, "egress_agent_spool_bytes", "", "",                                         \
        "Bytes in the on-disk spool (unacknowledged batches).")                                  \
  GAUGE(spool.max_bytes, "egress_agent_spool_max_bytes", "", "",                                 \
        "Spool size at which the oldest batches are dropped (--spool-max-bytes, lowered to 90% " \
        "of a smaller file system).")                                                            \
  GAUGE(spool.batches, "egress_agent_spool_batches", "", "",                                     \
        "Batches in the spool, not yet acknowledged.")                                           \
  COUNTER(spool.dropped_batches, "egress_agent_spool_dropped_batches_total", "", "",             \
          "Oldest batches dropped because the spool reached --spool-max-bytes (reported to the " \
          "service as losses).")                                                                 \
  COUNTER(spool.corrupt_records, "egress_agent_spool_corrupt_records_total", "", "",             \
          "Spool records found damaged at start and discarded.")                                 \
  GAUGE(spool.acked_seq, "egress_agent_spool_acked_seq", "", "",                                 \
        "Highest batch sequence the service acknowledged.")                                      \
  GAUGE(received_rule_version, "egress_agent_rule_version_received", "", "",                     \
        "Rule set version last received.")                                                       \
  GAUGE(applied_rule_version, "egress_agent_rule_version_applied", "", "",                       \
        "Rule set version enforced in nftables.")                                                \
  COUNTER(nft_errors, "egress_agent_nft_errors_total", "", "", "Rule sets that nftables refused.")

// Only when the agent has an uplink (not with --print-batches alone).
#define EGRESS_AGENT_UPLINK_METRICS(COUNTER, GAUGE)                            \
  GAUGE(uplink.connected, "egress_agent_uplink_connected", "", "",             \
        "1 while a stream to the service is welcomed.")                        \
  COUNTER(uplink.connects, "egress_agent_uplink_connects_total", "", "",       \
          "Streams opened to the service.")                                    \
  COUNTER(uplink.disconnects, "egress_agent_uplink_disconnects_total", "", "", \
          "Streams to the service that ended.")                                \
  COUNTER(uplink.batches_sent, "egress_agent_batches_sent_total", "", "",      \
          "Batches sent (resends included).")                                  \
  COUNTER(uplink.batches_acked, "egress_agent_batches_acked_total", "", "",    \
          "Batches the service acknowledged.")

struct AgentMetric {
  MetricSpec spec;
  double (*read)(const AgentCounters& c);
};

#define EGRESS_AGENT_COUNTER(expr, ...) \
  {{MetricKind::kCounter, __VA_ARGS__}, \
   [](const AgentCounters& c) { return static_cast<double>(c.expr); }},
#define EGRESS_AGENT_GAUGE(expr, ...) \
  {{MetricKind::kGauge, __VA_ARGS__}, \
   [](const AgentCounters& c) { return static_cast<double>(c.expr); }},

constexpr AgentMetric kAgentMetrics[] = {
    EGRESS_AGENT_METRICS(EGRESS_AGENT_COUNTER, EGRESS_AGENT_GAUGE)};
constexpr AgentMetric kUplinkMetrics[] = {
    EGRESS_AGENT_UPLINK_METRICS(EGRESS_AGENT_COUNTER, EGRESS_AGENT_GAUGE)};

#undef EGRESS_AGENT_COUNTER
#undef EGRESS_AGENT_GAUGE

}  // namespace

void WriteAgentMetrics(const AgentCounters& counters, MetricFamilies& families) {
  for (const AgentMetric& metric : kAgentMetrics) families.Add(metric.spec, metric.read(counters));
  if (counters.has_uplink) {
    for (const AgentMetric& metric : kUplinkMetrics) {
      families.Add(metric.spec, metric.read(counters));
    }
  }
}

std::shared_ptr<prometheus::Collectable> NewAgentCollectable(Agent* agent) {
  return std::make_shared<ScrapeCollectable>(
      [agent](MetricFamilies& families) { WriteAgentMetrics(agent->Counters(), families); });
}

}  // namespace egress::agent
