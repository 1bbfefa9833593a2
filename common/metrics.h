// Prometheus metrics on top of prometheus-cpp (Debian's prometheus-cpp-dev):
// the library keeps the metrics that code updates in place (prometheus::
// Registry, Family, Counter, Histogram), renders the text format and serves
// /metrics (MetricsExposer). What egress adds here is small:
//
//  * MetricSpec: one exported series declared once (name, type, help, at most
//    one fixed label). Components list their counters in an X-macro table of
//    COUNTER(field, name, label, label value, help) / GAUGE(...) entries;
//    the same table yields the struct fields, the atomics, the copy and the
//    exported names (tests/deploy/metric_names.py reads these tables);
//  * ScrapeCollectable: a prometheus::Collectable that runs a function at
//    every scrape, for values kept elsewhere as plain atomics or stats()
//    structs (the agent's per-event counters stay plain, so the hot path
//    pays nothing for being exported);
//  * LabelledFamily: a prometheus::Family whose label names are fixed where
//    it is declared (AddCounterFamily(registry, name, help, label names)),
//    so a call site cannot mix label sets.
//
// Thread-safety: prometheus-cpp metrics are updated lock-free; Family::Add
// takes a mutex (cache the child on hot paths). Collect() runs on the
// exposer's threads.
#ifndef EGRESS_COMMON_METRICS_H_
#define EGRESS_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/metric_spec.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace egress {

// Builds the families of one scrape: samples of one name are grouped under
// one family in first-seen order. Not thread-safe (one per Collect()).
class MetricFamilies {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  void Add(const MetricSpec& spec, double value);
  void Counter(absl::string_view name, absl::string_view help, const Labels& labels, double value);
  void Gauge(absl::string_view name, absl::string_view help, const Labels& labels, double value);
  // Every spec of a table, read from `stats`.
  template <typename Stats, size_t N>
  void AddAll(const MetricField<Stats> (&fields)[N], const Stats& stats) {
    for (const MetricField<Stats>& f : fields) Add(f.spec, static_cast<double>(stats.*(f.field)));
  }

  std::vector<prometheus::MetricFamily> Take() { return std::move(families_); }

 private:
  void Sample(absl::string_view name, absl::string_view help, prometheus::MetricType type,
              const Labels& labels, double value);
  std::vector<prometheus::MetricFamily> families_;
};

// A Collectable whose families are written by `collect` at every scrape,
// on the scraping thread. `collect` must be quick and thread-safe.
class ScrapeCollectable final : public prometheus::Collectable {
 public:
  explicit ScrapeCollectable(std::function<void(MetricFamilies&)> collect)
      : collect_(std::move(collect)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::function<void(MetricFamilies&)> collect_;
};

// A prometheus::Family with the label names it was declared with:
// WithLabels() takes the values in that order (a wrong number of values is a
// bug and aborts) and remembers each child, so that a lookup costs one map
// probe instead of prometheus-cpp's Add() (which builds a new metric before
// it looks the labels up). Children stay valid as long as the registry.
// There is no cap on children: label values must come from a bounded
// vocabulary (egress's: method names compiled into the binary, status codes).
template <typename T>
class LabelledFamily {
 public:
  LabelledFamily(prometheus::Family<T>& family, std::vector<std::string> label_names,
                 prometheus::Histogram::BucketBoundaries bounds = {})
      : family_(family), label_names_(std::move(label_names)), bounds_(std::move(bounds)) {}
  LabelledFamily(const LabelledFamily&) = delete;
  LabelledFamily& operator=(const LabelledFamily&) = delete;

  T& WithLabels(std::initializer_list<absl::string_view> values);

 private:
  prometheus::Family<T>& family_;
  const std::vector<std::string> label_names_;
  const prometheus::Histogram::BucketBoundaries bounds_;
  absl::Mutex mutex_;
  absl::flat_hash_map<std::vector<std::string>, T*> children_ ABSL_GUARDED_BY(mutex_);
};

std::unique_ptr<LabelledFamily<prometheus::Counter>> AddCounterFamily(
    prometheus::Registry& registry, const std::string& name, const std::string& help,
    std::vector<std::string> label_names);
std::unique_ptr<LabelledFamily<prometheus::Histogram>> AddHistogramFamily(
    prometheus::Registry& registry, const std::string& name, const std::string& help,
    std::vector<std::string> label_names, prometheus::Histogram::BucketBoundaries bounds);
// Unlabelled shorthands.
prometheus::Counter& AddCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help);
prometheus::Histogram& AddHistogram(prometheus::Registry& registry, const std::string& name,
                                    const std::string& help,
                                    const prometheus::Histogram::BucketBoundaries& bounds);

// Bucket bounds in seconds from 0.5 ms to 10 s, for RPC and commit latencies.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

// The text exposition format 0.0.4 of every collectable (what /metrics
// serves), for tests and benchmarks.
std::string RenderMetrics(const std::vector<std::shared_ptr<prometheus::Collectable>>& sources);

}  // namespace egress

#endif  // EGRESS_COMMON_METRICS_H_
