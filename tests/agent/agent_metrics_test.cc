// The agent's table of metrics: every series read from the right counter,
// with its source label, rendered by prometheus-cpp; the uplink's only when
// there is one.
#include "agent/agent_metrics.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace egress::agent {
namespace {

std::string Render(const AgentCounters& counters) {
  MetricFamilies families;
  WriteAgentMetrics(counters, families);
  return prometheus::TextSerializer().Serialize(families.Take());
}

// The value of one series, or -1 when absent.
double Value(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    double value = 0;
    if (absl::StartsWith(line, series + " ") &&
        absl::SimpleAtod(line.substr(series.size() + 1), &value)) {
      return value;
    }
  }
  return -1;
}

TEST(AgentMetricsTest, EverySeriesReadsItsOwnCounter) {
  AgentCounters c;
  c.conntrack.events = 1;
  c.nflog.events = 2;
  c.conntrack.filtered = 3;
  c.nflog.filtered = 4;
  c.conntrack.unattributed = 5;
  c.conntrack.overruns = 6;
  c.nflog.overruns = 7;
  c.conntrack.lost = 8;
  c.nflog.lost = 9;
  c.conntrack.resyncs = 10;
  c.resynced_events = 11;
  c.conntrack.rcvbuf_bytes = 8 << 20;
  c.conntrack_events_sysctl = 1;
  c.records = 12;
  c.batches_sealed = 13;
  c.spool.bytes = 14;
  c.spool.max_bytes = 256ull << 20;
  c.spool.batches = 15;
  c.spool.dropped_batches = 16;
  c.spool.corrupt_records = 17;
  c.spool.acked_seq = 18;
  c.received_rule_version = 19;
  c.applied_rule_version = 20;
  c.nft_errors = 21;
  const std::string text = Render(c);
  SCOPED_TRACE(text);
  EXPECT_EQ(Value(text, "egress_agent_events_total{source=\"conntrack\"}"), 1);
  EXPECT_EQ(Value(text, "egress_agent_events_total{source=\"nflog\"}"), 2);
  EXPECT_EQ(Value(text, "egress_agent_events_filtered_total{source=\"conntrack\"}"), 3);
  EXPECT_EQ(Value(text, "egress_agent_events_filtered_total{source=\"nflog\"}"), 4);
  EXPECT_EQ(Value(text, "egress_agent_unattributed_events_total"), 5);
  EXPECT_EQ(Value(text, "egress_agent_netlink_overruns_total{source=\"conntrack\"}"), 6);
  EXPECT_EQ(Value(text, "egress_agent_netlink_overruns_total{source=\"nflog\"}"), 7);
  EXPECT_EQ(Value(text, "egress_agent_events_lost_total{source=\"conntrack\"}"), 8);
  EXPECT_EQ(Value(text, "egress_agent_events_lost_total{source=\"nflog\"}"), 9);
  EXPECT_EQ(Value(text, "egress_agent_resyncs_total"), 10);
  EXPECT_EQ(Value(text, "egress_agent_resynced_events_total"), 11);
  EXPECT_EQ(Value(text, "egress_agent_conntrack_rcvbuf_bytes"), 8 << 20);
  EXPECT_EQ(Value(text, "egress_agent_conntrack_events_sysctl"), 1);
  EXPECT_EQ(Value(text, "egress_agent_records_total"), 12);
  EXPECT_EQ(Value(text, "egress_agent_batches_sealed_total"), 13);
  EXPECT_EQ(Value(text, "egress_agent_spool_bytes"), 14);
  EXPECT_EQ(Value(text, "egress_agent_spool_max_bytes"), 256 << 20);
  EXPECT_EQ(Value(text, "egress_agent_spool_batches"), 15);
  EXPECT_EQ(Value(text, "egress_agent_spool_dropped_batches_total"), 16);
  EXPECT_EQ(Value(text, "egress_agent_spool_corrupt_records_total"), 17);
  EXPECT_EQ(Value(text, "egress_agent_spool_acked_seq"), 18);
  EXPECT_EQ(Value(text, "egress_agent_rule_version_received"), 19);
  EXPECT_EQ(Value(text, "egress_agent_rule_version_applied"), 20);
  EXPECT_EQ(Value(text, "egress_agent_nft_errors_total"), 21);
  EXPECT_TRUE(absl::StrContains(text, "# TYPE egress_agent_events_total counter"));
  EXPECT_TRUE(absl::StrContains(text, "# TYPE egress_agent_spool_bytes gauge"));
  // One family per name, its help from the first series of the table.
  EXPECT_TRUE(absl::StrContains(text, "# HELP egress_agent_events_total Connection events"));
  // No uplink (--print-batches alone): none of its series.
  EXPECT_FALSE(absl::StrContains(text, "egress_agent_uplink_"));
  EXPECT_FALSE(absl::StrContains(text, "egress_agent_batches_sent_total"));
}

TEST(AgentMetricsTest, UplinkSeriesWhenThereIsOne) {
  AgentCounters c;
  c.has_uplink = true;
  c.uplink.connected = true;
  c.uplink.connects = 3;
  c.uplink.disconnects = 2;
  c.uplink.batches_sent = 40;
  c.uplink.batches_acked = 39;
  const std::string text = Render(c);
  SCOPED_TRACE(text);
  EXPECT_EQ(Value(text, "egress_agent_uplink_connected"), 1);
  EXPECT_EQ(Value(text, "egress_agent_uplink_connects_total"), 3);
  EXPECT_EQ(Value(text, "egress_agent_uplink_disconnects_total"), 2);
  EXPECT_EQ(Value(text, "egress_agent_batches_sent_total"), 40);
  EXPECT_EQ(Value(text, "egress_agent_batches_acked_total"), 39);
  // A counter far beyond 2^53 is still written as a number Prometheus reads.
  c.conntrack.events = ~0ull;
  EXPECT_NEAR(Value(Render(c), "egress_agent_events_total{source=\"conntrack\"}"), 1.8446744e19,
              1e13);
}

}  // namespace
}  // namespace egress::agent
