// A metric declared once: its name, kind, help and fixed label, in a table
// that also yields the fields holding its value. Kept apart from
// common/metrics.h so that a component can declare its counters without
// depending on the Prometheus library.
#ifndef EGRESS_COMMON_METRIC_SPEC_H_
#define EGRESS_COMMON_METRIC_SPEC_H_

#include <atomic>
#include <cstdint>

namespace egress {

enum class MetricKind { kCounter, kGauge };

// One exported series of a scrape-time metric. Series of one name share a
// family: the first spec of a name carries its help, later ones may leave it
// empty. `label` is empty for a metric without labels.
struct MetricSpec {
  MetricKind kind;
  const char* name;
  const char* label;
  const char* value;
  const char* help;
};

// X-macro helpers for a table TABLE(COUNTER, GAUGE) whose entries are
// COUNTER(field, name, label, label value, help) or GAUGE(...), every
// argument after the field a string literal:
//   struct Stats { TABLE(EGRESS_METRIC_U64, EGRESS_METRIC_U64) };
//   struct Atomics { TABLE(EGRESS_METRIC_ATOMIC, EGRESS_METRIC_ATOMIC) };
// and, for the exported names, a constexpr array of MetricField built by a
// macro of the component: {{MetricKind::kCounter, name, label, value, help},
// &Stats::field}.
#define EGRESS_METRIC_U64(field, name, label, value, help) uint64_t field = 0;
#define EGRESS_METRIC_ATOMIC(field, name, label, value, help) std::atomic<uint64_t> field{0};

// A spec and the uint64_t member of `Stats` that holds its value.
template <typename Stats>
struct MetricField {
  MetricSpec spec;
  uint64_t Stats::*field;
};

}  // namespace egress

#endif  // EGRESS_COMMON_METRIC_SPEC_H_
