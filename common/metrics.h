// Prometheus-format metrics: counters, gauges and histograms with labels,
// rendered in the text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Debian 12 packages no C++ Prometheus client, and the project needs little:
// a registry owned by each binary (no global), metric families registered once
// at start-up, children looked up by label values once and then updated on the
// hot path with one relaxed atomic operation, and collectors that read values
// other components already keep (their stats() structs, a pool's size) when the
// registry is rendered.
//
// Thread-safety: everything is safe to call from any thread. Register*() and
// WithLabels() take a mutex; Counter/Gauge/Histogram updates are lock-free.
// References returned by Register*() and WithLabels() stay valid as long as
// the registry.
//
// Misuse that is a programming error (an invalid metric or label name, a name
// registered twice, the wrong number of label values) aborts with a message:
// it can only come from code, never from input.
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

namespace egress {

// A monotonically increasing count (Prometheus counter).
class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (Prometheus gauge).
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets (Prometheus histogram). `bounds`
// are the finite upper bounds, strictly increasing; +Inf is implicit.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    // Cumulative counts per bound, then the +Inf bucket (== count).
    std::vector<uint64_t> cumulative;
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  // Per bucket (not cumulative); the last one is +Inf.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

// Bucket bounds in seconds from 0.5 ms to 10 s, for RPC and commit latencies.
std::vector<double> LatencyBuckets();

// Collects samples for rendering; what a family or a collector writes into.
// Samples of one metric name may be written in several calls: they are
// grouped under one HELP/TYPE header in the output, in first-seen order.
class MetricsWriter {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  void Counter(absl::string_view name, absl::string_view help, const Labels& labels, double value);
  void Gauge(absl::string_view name, absl::string_view help, const Labels& labels, double value);
  void Histogram(absl::string_view name, absl::string_view help, const Labels& labels,
                 const Histogram::Snapshot& snapshot);

  // The text exposition format 0.0.4, ending with a newline.
  std::string Render() const;

 private:
  struct Block {
    std::string type;
    std::string help;
    std::string samples;
  };
  Block& BlockFor(absl::string_view name, absl::string_view type, absl::string_view help);
  std::vector<std::string> order_;
  absl::flat_hash_map<std::string, Block> blocks_;
};

// One metric name with a fixed list of label names and one child per
// distinct tuple of label values. At most kMaxSeries children: further
// tuples share one child whose label values are all "_overflow", so a bug or
// hostile input cannot grow memory without bound.
template <typename T>
class MetricFamily {
 public:
  static constexpr size_t kMaxSeries = 10000;

  // The child for these label values (as many as label names), created on
  // first use. Cache the reference on hot paths.
  T& WithLabels(const std::vector<std::string>& values);
  T& WithLabels(std::initializer_list<absl::string_view> values) {
    return WithLabels(std::vector<std::string>(values.begin(), values.end()));
  }

 private:
  friend class MetricsRegistry;
  MetricFamily(std::string name, std::string help, std::vector<std::string> label_names,
               std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}
  void Write(MetricsWriter* writer) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable absl::Mutex mutex_;
  // Insertion order, for a stable output.
  std::vector<std::pair<std::vector<std::string>, std::unique_ptr<T>>> children_
      ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_map<std::vector<std::string>, T*> index_ ABSL_GUARDED_BY(mutex_);
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  CounterFamily& AddCounterFamily(absl::string_view name, absl::string_view help,
                                  std::vector<std::string> label_names);
  GaugeFamily& AddGaugeFamily(absl::string_view name, absl::string_view help,
                              std::vector<std::string> label_names);
  HistogramFamily& AddHistogramFamily(absl::string_view name, absl::string_view help,
                                      std::vector<std::string> label_names,
                                      std::vector<double> bounds);
  // Unlabelled shorthands.
  Counter& AddCounter(absl::string_view name, absl::string_view help) {
    return AddCounterFamily(name, help, {}).WithLabels(std::vector<std::string>{});
  }
  Gauge& AddGauge(absl::string_view name, absl::string_view help) {
    return AddGaugeFamily(name, help, {}).WithLabels(std::vector<std::string>{});
  }
  Histogram& AddHistogram(absl::string_view name, absl::string_view help,
                          std::vector<double> bounds) {
    return AddHistogramFamily(name, help, {}, std::move(bounds))
        .WithLabels(std::vector<std::string>{});
  }

  // `collect` runs on every Render(), on the rendering thread, and writes
  // values read from elsewhere (e.g. a component's stats()). It must be
  // quick and must not call back into this registry.
  void AddCollector(std::function<void(MetricsWriter&)> collect);

  // Every family and collector, in the text exposition format 0.0.4.
  std::string Render() const;

 private:
  void Claim(absl::string_view name, const std::vector<std::string>& label_names);

  mutable absl::Mutex mutex_;
  std::vector<std::string> names_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<CounterFamily>> counters_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<GaugeFamily>> gauges_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<HistogramFamily>> histograms_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::function<void(MetricsWriter&)>> collectors_ ABSL_GUARDED_BY(mutex_);
};

// The Content-Type of Render()'s output.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Formats a sample value the way Prometheus parses it: integers without a
// fraction, "+Inf", "-Inf", "NaN", otherwise the shortest exact decimal.
std::string FormatMetricValue(double value);

// True if `name` matches [a-zA-Z_:][a-zA-Z0-9_:]*.
bool IsValidMetricName(absl::string_view name);
// True if `name` matches [a-zA-Z_][a-zA-Z0-9_]* and does not start with "__".
bool IsValidLabelName(absl::string_view name);

}  // namespace egress

#endif  // EGRESS_COMMON_METRICS_H_
