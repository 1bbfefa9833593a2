#include "common/metrics.h"

#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace egress {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "metrics: %s\n", message.c_str());
  std::abort();
}

// prometheus-cpp 1.0.1 writes HELP text as given, while the text format
// wants backslashes and newlines escaped there; done here, once, for every
// help that reaches the library.
std::string EscapeHelp(absl::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

void MetricFamilies::Sample(absl::string_view name, absl::string_view help,
                            prometheus::MetricType type, const Labels& labels, double value) {
  prometheus::MetricFamily* family = nullptr;
  for (prometheus::MetricFamily& f : families_) {
    if (f.name == name) family = &f;
  }
  if (family == nullptr) {
    family = &families_.emplace_back();
    family->name = std::string(name);
    family->type = type;
  } else if (family->type != type) {
    Die(absl::StrCat(name, ": written as two types"));
  }
  if (family->help.empty()) family->help = EscapeHelp(help);
  prometheus::ClientMetric& metric = family->metric.emplace_back();
  for (const auto& [label, label_value] : labels) metric.label.push_back({label, label_value});
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
}

void MetricFamilies::Add(const MetricSpec& spec, double value) {
  Labels labels;
  if (spec.label[0] != '\0') labels.emplace_back(spec.label, spec.value);
  Sample(spec.name, spec.help,
         spec.kind == MetricKind::kCounter ? prometheus::MetricType::Counter
                                           : prometheus::MetricType::Gauge,
         labels, value);
}

void MetricFamilies::Counter(absl::string_view name, absl::string_view help, const Labels& labels,
                             double value) {
  Sample(name, help, prometheus::MetricType::Counter, labels, value);
}

void MetricFamilies::Gauge(absl::string_view name, absl::string_view help, const Labels& labels,
                           double value) {
  Sample(name, help, prometheus::MetricType::Gauge, labels, value);
}

std::vector<prometheus::MetricFamily> ScrapeCollectable::Collect() const {
  MetricFamilies families;
  collect_(families);
  return families.Take();
}

template <typename T>
T& LabelledFamily<T>::WithLabels(std::initializer_list<absl::string_view> values) {
  if (values.size() != label_names_.size()) {
    Die(absl::StrCat(values.size(), " label values for ", label_names_.size(), " labels"));
  }
  std::vector<std::string> key(values.begin(), values.end());
  absl::MutexLock lock(&mutex_);
  auto it = children_.find(key);
  if (it != children_.end()) return *it->second;
  prometheus::Labels labels;
  for (size_t i = 0; i < key.size(); ++i) labels.emplace(label_names_[i], key[i]);
  T* child;
  if constexpr (std::is_same_v<T, prometheus::Histogram>) {
    child = &family_.Add(labels, bounds_);
  } else {
    child = &family_.Add(labels);
  }
  children_.emplace(std::move(key), child);
  return *child;
}

template class LabelledFamily<prometheus::Counter>;
template class LabelledFamily<prometheus::Histogram>;

std::unique_ptr<LabelledFamily<prometheus::Counter>> AddCounterFamily(
    prometheus::Registry& registry, const std::string& name, const std::string& help,
    std::vector<std::string> label_names) {
  return std::make_unique<LabelledFamily<prometheus::Counter>>(
      prometheus::BuildCounter().Name(name).Help(EscapeHelp(help)).Register(registry),
      std::move(label_names));
}

std::unique_ptr<LabelledFamily<prometheus::Histogram>> AddHistogramFamily(
    prometheus::Registry& registry, const std::string& name, const std::string& help,
    std::vector<std::string> label_names, prometheus::Histogram::BucketBoundaries bounds) {
  return std::make_unique<LabelledFamily<prometheus::Histogram>>(
      prometheus::BuildHistogram().Name(name).Help(EscapeHelp(help)).Register(registry),
      std::move(label_names), std::move(bounds));
}

prometheus::Counter& AddCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(EscapeHelp(help)).Register(registry).Add({});
}

prometheus::Histogram& AddHistogram(prometheus::Registry& registry, const std::string& name,
                                    const std::string& help,
                                    const prometheus::Histogram::BucketBoundaries& bounds) {
  return prometheus::BuildHistogram()
      .Name(name)
      .Help(EscapeHelp(help))
      .Register(registry)
      .Add({}, bounds);
}

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::string RenderMetrics(const std::vector<std::shared_ptr<prometheus::Collectable>>& sources) {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& source : sources) {
    std::vector<prometheus::MetricFamily> more = source->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace egress
