// Prometheus metrics of egress-agent (names and meanings are listed in
// docs/operations.md), read from Agent::Counters() at every scrape: the
// event loop pays nothing for them.
#ifndef EGRESS_AGENT_AGENT_METRICS_H_
#define EGRESS_AGENT_AGENT_METRICS_H_

#include "agent/agent.h"
#include "common/metrics.h"

namespace egress::agent {

// `agent` must outlive `registry`'s last Render().
void AddAgentMetrics(Agent* agent, MetricsRegistry* registry);

// The same samples from a counters snapshot (exposed for tests).
void WriteAgentMetrics(const AgentCounters& counters, MetricsWriter& writer);

}  // namespace egress::agent

#endif  // EGRESS_AGENT_AGENT_METRICS_H_
