#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace egress {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "metrics: %s\n", message.c_str());
  std::abort();
}

void AppendEscaped(absl::string_view text, bool quote, std::string* out) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

void AppendSample(absl::string_view name, absl::string_view suffix,
                  const MetricsWriter::Labels& labels,
                  const std::pair<std::string, std::string>* extra, double value,
                  std::string* out) {
  out->append(name.data(), name.size());
  out->append(suffix.data(), suffix.size());
  if (!labels.empty() || extra != nullptr) {
    out->push_back('{');
    bool first = true;
    auto append_label = [&](const std::pair<std::string, std::string>& label) {
      if (!first) out->push_back(',');
      first = false;
      out->append(label.first);
      out->append("=\"");
      AppendEscaped(label.second, true, out);
      out->push_back('"');
    };
    for (const auto& label : labels) append_label(label);
    if (extra != nullptr) append_label(*extra);
    out->push_back('}');
  }
  out->push_back(' ');
  out->append(FormatMetricValue(value));
  out->push_back('\n');
}

void CheckLabelNames(absl::string_view metric, const std::vector<std::string>& label_names) {
  for (const std::string& label : label_names) {
    if (!IsValidLabelName(label)) Die(absl::StrCat(metric, ": invalid label name \"", label, "\""));
  }
}

}  // namespace

bool IsValidMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok =
        absl::ascii_isalpha(c) || c == '_' || c == ':' || (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

bool IsValidLabelName(absl::string_view name) {
  if (name.empty() || absl::StartsWith(name, "__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = absl::ascii_isalpha(c) || c == '_' || (i > 0 && absl::ascii_isdigit(c));
    if (!ok) return false;
  }
  return true;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<int64_t>(value));
  }
  char buffer[64];
  const std::to_chars_result result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::general);
  return std::string(buffer, result.ptr);
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (std::isnan(bounds_[i]) || std::isinf(bounds_[i]) ||
        (i > 0 && bounds_[i] <= bounds_[i - 1])) {
      Die("histogram bounds must be finite and strictly increasing");
    }
  }
}

void Histogram::Observe(double value) {
  // Bucket i counts values in (bounds[i-1], bounds[i]]; "le" is inclusive.
  const size_t index = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                           bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(running);
  }
  // The count is the +Inf bucket, so the two always agree in one scrape.
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

MetricsWriter::Block& MetricsWriter::BlockFor(absl::string_view name, absl::string_view type,
                                              absl::string_view help) {
  auto [it, inserted] = blocks_.try_emplace(std::string(name));
  if (inserted) {
    if (!IsValidMetricName(name)) Die(absl::StrCat("invalid metric name \"", name, "\""));
    it->second.type = std::string(type);
    it->second.help = std::string(help);
    order_.push_back(std::string(name));
  } else if (it->second.type != type) {
    Die(absl::StrCat(name, ": written as ", it->second.type, " and as ", type));
  }
  return it->second;
}

void MetricsWriter::Counter(absl::string_view name, absl::string_view help, const Labels& labels,
                            double value) {
  AppendSample(name, "", labels, nullptr, value, &BlockFor(name, "counter", help).samples);
}

void MetricsWriter::Gauge(absl::string_view name, absl::string_view help, const Labels& labels,
                          double value) {
  AppendSample(name, "", labels, nullptr, value, &BlockFor(name, "gauge", help).samples);
}

void MetricsWriter::Histogram(absl::string_view name, absl::string_view help, const Labels& labels,
                              const Histogram::Snapshot& snapshot) {
  std::string& out = BlockFor(name, "histogram", help).samples;
  for (size_t i = 0; i < snapshot.cumulative.size(); ++i) {
    const std::pair<std::string, std::string> le(
        "le", i < snapshot.bounds.size() ? FormatMetricValue(snapshot.bounds[i]) : "+Inf");
    AppendSample(name, "_bucket", labels, &le, static_cast<double>(snapshot.cumulative[i]), &out);
  }
  AppendSample(name, "_sum", labels, nullptr, snapshot.sum, &out);
  AppendSample(name, "_count", labels, nullptr, static_cast<double>(snapshot.count), &out);
}

std::string MetricsWriter::Render() const {
  std::string out;
  for (const std::string& name : order_) {
    const Block& block = blocks_.at(name);
    out.append("# HELP ").append(name).push_back(' ');
    AppendEscaped(block.help, false, &out);
    out.append("\n# TYPE ").append(name).append(" ").append(block.type).push_back('\n');
    out.append(block.samples);
  }
  return out;
}

template <typename T>
T& MetricFamily<T>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    Die(absl::StrCat(name_, ": ", values.size(), " label values for ", label_names_.size(),
                     " labels"));
  }
  absl::MutexLock lock(&mutex_);
  auto it = index_.find(values);
  if (it != index_.end()) return *it->second;
  std::vector<std::string> key = values;
  if (children_.size() >= kMaxSeries) {
    key.assign(values.size(), "_overflow");
    it = index_.find(key);
    if (it != index_.end()) return *it->second;
  }
  std::unique_ptr<T> child = make_();
  T* raw = child.get();
  index_.emplace(key, raw);
  children_.emplace_back(std::move(key), std::move(child));
  return *raw;
}

template <typename T>
void MetricFamily<T>::Write(MetricsWriter* writer) const {
  absl::MutexLock lock(&mutex_);
  for (const auto& [values, child] : children_) {
    MetricsWriter::Labels labels;
    for (size_t i = 0; i < values.size(); ++i) labels.emplace_back(label_names_[i], values[i]);
    if constexpr (std::is_same_v<T, Counter>) {
      writer->Counter(name_, help_, labels, static_cast<double>(child->value()));
    } else if constexpr (std::is_same_v<T, Gauge>) {
      writer->Gauge(name_, help_, labels, child->value());
    } else {
      writer->Histogram(name_, help_, labels, child->snapshot());
    }
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

void MetricsRegistry::Claim(absl::string_view name, const std::vector<std::string>& label_names) {
  if (!IsValidMetricName(name)) Die(absl::StrCat("invalid metric name \"", name, "\""));
  CheckLabelNames(name, label_names);
  if (std::find(names_.begin(), names_.end(), name) != names_.end()) {
    Die(absl::StrCat(name, ": registered twice"));
  }
  names_.emplace_back(name);
}

CounterFamily& MetricsRegistry::AddCounterFamily(absl::string_view name, absl::string_view help,
                                                 std::vector<std::string> label_names) {
  absl::MutexLock lock(&mutex_);
  Claim(name, label_names);
  counters_.emplace_back(new CounterFamily(std::string(name), std::string(help),
                                           std::move(label_names),
                                           [] { return std::make_unique<Counter>(); }));
  return *counters_.back();
}

GaugeFamily& MetricsRegistry::AddGaugeFamily(absl::string_view name, absl::string_view help,
                                             std::vector<std::string> label_names) {
  absl::MutexLock lock(&mutex_);
  Claim(name, label_names);
  gauges_.emplace_back(new GaugeFamily(std::string(name), std::string(help), std::move(label_names),
                                       [] { return std::make_unique<Gauge>(); }));
  return *gauges_.back();
}

HistogramFamily& MetricsRegistry::AddHistogramFamily(absl::string_view name, absl::string_view help,
                                                     std::vector<std::string> label_names,
                                                     std::vector<double> bounds) {
  absl::MutexLock lock(&mutex_);
  Claim(name, label_names);
  if (std::find(label_names.begin(), label_names.end(), "le") != label_names.end()) {
    Die(absl::StrCat(name, ": a histogram cannot have a label named le"));
  }
  // Validate the bounds now rather than at the first child.
  Histogram check(bounds);
  histograms_.emplace_back(new HistogramFamily(
      std::string(name), std::string(help), std::move(label_names),
      [bounds = std::move(bounds)] { return std::make_unique<Histogram>(bounds); }));
  return *histograms_.back();
}

void MetricsRegistry::AddCollector(std::function<void(MetricsWriter&)> collect) {
  absl::MutexLock lock(&mutex_);
  collectors_.push_back(std::move(collect));
}

std::string MetricsRegistry::Render() const {
  MetricsWriter writer;
  absl::MutexLock lock(&mutex_);
  for (const auto& family : counters_) family->Write(&writer);
  for (const auto& family : gauges_) family->Write(&writer);
  for (const auto& family : histograms_) family->Write(&writer);
  for (const auto& collect : collectors_) collect(writer);
  return writer.Render();
}

}  // namespace egress
