#include "agent/agent_metrics.h"

namespace egress::agent {
namespace {

double D(uint64_t value) { return static_cast<double>(value); }

}  // namespace

void WriteAgentMetrics(const AgentCounters& c, MetricsWriter& w) {
  const char* events =
      "Connection events delivered to the aggregator, by source (conntrack: "
      "ACCEPT, nflog: REJECT).";
  w.Counter("egress_agent_events_total", events, {{"source", "conntrack"}}, D(c.conntrack.events));
  w.Counter("egress_agent_events_total", events, {{"source", "nflog"}}, D(c.nflog.events));
  const char* filtered = "Messages read but not counted (not an account's, exempt, unparsable).";
  w.Counter("egress_agent_events_filtered_total", filtered, {{"source", "conntrack"}},
            D(c.conntrack.filtered));
  w.Counter("egress_agent_events_filtered_total", filtered, {{"source", "nflog"}},
            D(c.nflog.filtered));
  w.Counter("egress_agent_unattributed_events_total",
            "Outgoing connections of users that are not accounts.", {},
            D(c.conntrack.unattributed));
  const char* overruns = "Netlink receive buffer overruns (ENOBUFS), by source.";
  w.Counter("egress_agent_netlink_overruns_total", overruns, {{"source", "conntrack"}},
            D(c.conntrack.overruns));
  w.Counter("egress_agent_netlink_overruns_total", overruns, {{"source", "nflog"}},
            D(c.nflog.overruns));
  const char* lost = "Events known lost (exact when the source can tell, else a lower bound).";
  w.Counter("egress_agent_events_lost_total", lost, {{"source", "conntrack"}}, D(c.conntrack.lost));
  w.Counter("egress_agent_events_lost_total", lost, {{"source", "nflog"}}, D(c.nflog.lost));
  w.Counter("egress_agent_resyncs_total", "Conntrack table dumps run to recover from overruns.", {},
            D(c.conntrack.resyncs));
  w.Counter("egress_agent_resynced_events_total",
            "Connections recovered by the start-up resync (made while the agent was stopped).", {},
            D(c.resynced_events));
  w.Gauge("egress_agent_conntrack_rcvbuf_bytes", "Conntrack socket receive buffer asked for.", {},
          c.conntrack.rcvbuf_bytes);
  w.Gauge("egress_agent_conntrack_events_sysctl",
          "net.netfilter.nf_conntrack_events at start (0 means nothing can be recorded).", {},
          c.conntrack_events_sysctl);
  w.Counter("egress_agent_records_total", "Aggregated records sealed into batches.", {},
            D(c.records));
  w.Counter("egress_agent_batches_sealed_total", "Batches sealed into the spool.", {},
            D(c.batches_sealed));
  w.Gauge("egress_agent_spool_bytes", "Bytes in the on-disk spool (unacknowledged batches).", {},
          D(c.spool.bytes));
  w.Gauge("egress_agent_spool_max_bytes",
          "Spool size at which the oldest batches are dropped (--spool-max-bytes, lowered to "
          "90% of a smaller file system).",
          {}, D(c.spool.max_bytes));
  w.Gauge("egress_agent_spool_batches", "Batches in the spool, not yet acknowledged.", {},
          D(c.spool.batches));
  w.Counter("egress_agent_spool_dropped_batches_total",
            "Oldest batches dropped because the spool reached --spool-max-bytes (reported to the "
            "service as losses).",
            {}, D(c.spool.dropped_batches));
  w.Counter("egress_agent_spool_corrupt_records_total",
            "Spool records found damaged at start and discarded.", {}, D(c.spool.corrupt_records));
  w.Gauge("egress_agent_spool_acked_seq", "Highest batch sequence the service acknowledged.", {},
          D(c.spool.acked_seq));
  w.Gauge("egress_agent_rule_version_received", "Rule set version last received.", {},
          D(c.received_rule_version));
  w.Gauge("egress_agent_rule_version_applied", "Rule set version enforced in nftables.", {},
          D(c.applied_rule_version));
  w.Counter("egress_agent_nft_errors_total", "Rule sets that nftables refused.", {},
            D(c.nft_errors));
  if (c.has_uplink) {
    w.Gauge("egress_agent_uplink_connected", "1 while a stream to the service is welcomed.", {},
            c.uplink.connected ? 1 : 0);
    w.Counter("egress_agent_uplink_connects_total", "Streams opened to the service.", {},
              D(c.uplink.connects));
    w.Counter("egress_agent_uplink_disconnects_total", "Streams to the service that ended.", {},
              D(c.uplink.disconnects));
    w.Counter("egress_agent_batches_sent_total", "Batches sent (resends included).", {},
              D(c.uplink.batches_sent));
    w.Counter("egress_agent_batches_acked_total", "Batches the service acknowledged.", {},
              D(c.uplink.batches_acked));
  }
}

void AddAgentMetrics(Agent* agent, MetricsRegistry* registry) {
  registry->AddCollector(
      [agent](MetricsWriter& writer) { WriteAgentMetrics(agent->Counters(), writer); });
}

}  // namespace egress::agent
