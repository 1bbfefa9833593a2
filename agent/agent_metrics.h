// Prometheus metrics of egress-agent (names and meanings are listed in
// docs/operations.md). The agent's per-event counters stay plain fields and
// atomics on the event loop's side; a collectable reads them through
// Agent::Counters() at every scrape, so the hot path pays nothing for being
// exported. Every exported series is declared once, in agent_metrics.cc.
#ifndef EGRESS_AGENT_AGENT_METRICS_H_
#define EGRESS_AGENT_AGENT_METRICS_H_

#include <memory>

#include "agent/agent.h"
#include "common/metrics.h"

namespace egress::agent {

// A collectable for MetricsExposer; `agent` must outlive its last scrape.
std::shared_ptr<prometheus::Collectable> NewAgentCollectable(Agent* agent);

// The same samples from a counters snapshot (exposed for tests).
void WriteAgentMetrics(const AgentCounters& counters, MetricFamilies& families);

}  // namespace egress::agent

#endif  // EGRESS_AGENT_AGENT_METRICS_H_
