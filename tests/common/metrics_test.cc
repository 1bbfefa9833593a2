// The metrics on prometheus-cpp render the Prometheus text format 0.0.4
// that a parser written from the specification reads back exactly: scrape-time
// tables declared once, labelled families, histograms; the /metrics exposer
// (civetweb) answers over a real socket on loopback.
#include "common/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <limits>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/metrics_exposer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/check_names.h"
#include "prometheus/text_serializer.h"

namespace egress {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

bool IsValidMetricName(const std::string& name) { return prometheus::CheckMetricName(name); }
bool IsValidLabelName(const std::string& name) { return prometheus::CheckLabelName(name); }

struct Parsed {
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> help;
  // "name{a="x",b="y"}" with labels sorted and unescaped -> value.
  std::map<std::string, double> samples;
};

// Reads the text format back: HELP/TYPE comments, then samples with escaped
// label values. Fails the test on anything the format does not allow.
Parsed Parse(const std::string& text) {
  Parsed parsed;
  EXPECT_TRUE(text.empty() || text.back() == '\n');
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "# HELP ") || absl::StartsWith(line, "# TYPE ")) {
      const bool is_type = absl::StartsWith(line, "# TYPE ");
      line.remove_prefix(7);
      const size_t space = line.find(' ');
      EXPECT_NE(space, absl::string_view::npos) << line;
      const std::string name(line.substr(0, space));
      EXPECT_TRUE(IsValidMetricName(name)) << name;
      std::string rest(line.substr(space + 1));
      if (is_type) {
        EXPECT_EQ(parsed.types.count(name), 0u) << "TYPE twice for " << name;
        EXPECT_THAT(rest, ::testing::AnyOf("counter", "gauge", "histogram", "summary")) << name;
        parsed.types[name] = rest;
      } else {
        parsed.help[name] = rest;
      }
      continue;
    }
    EXPECT_NE(line[0], '#') << line;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    const std::string name(line.substr(0, i));
    EXPECT_TRUE(IsValidMetricName(name)) << line;
    std::map<std::string, std::string> labels;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const size_t eq = line.find('=', i);
        const std::string label(line.substr(i, eq - i));
        EXPECT_TRUE(IsValidLabelName(label)) << line;
        EXPECT_EQ(line[eq + 1], '"') << line;
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            ++j;
            value.push_back(line[j] == 'n' ? '\n' : line[j]);
          } else {
            value.push_back(line[j]);
          }
        }
        labels[label] = value;
        i = j + 1;
        if (line[i] == ',') ++i;
      }
      ++i;  // '}'
    }
    EXPECT_EQ(line[i], ' ') << line;
    const absl::string_view value_text = line.substr(i + 1);
    double value = 0;
    if (value_text == "+Inf") {
      value = std::numeric_limits<double>::infinity();
    } else {
      EXPECT_TRUE(absl::SimpleAtod(value_text, &value)) << line;
    }
    std::string key = name;
    if (!labels.empty()) {
      std::vector<std::string> pairs;
      for (const auto& [k, v] : labels) pairs.push_back(absl::StrCat(k, "=\"", v, "\""));
      key = absl::StrCat(name, "{", absl::StrJoin(pairs, ","), "}");
    }
    EXPECT_EQ(parsed.samples.count(key), 0u) << "duplicate sample " << key;
    parsed.samples[key] = value;
  }
  return parsed;
}

// A table declared once, as components declare theirs.
#define TEST_COUNTERS(COUNTER)                                                       \
  COUNTER(records, "egress_test_records_total", "", "", "Records\nstored \\ here.")  \
  COUNTER(committed, "egress_test_batches_total", "result", "committed", "Batches.") \
  COUNTER(duplicate, "egress_test_batches_total", "result", "duplicate", "")

struct TestStats {
  TEST_COUNTERS(EGRESS_METRIC_U64)
};
struct TestAtomics {
  TEST_COUNTERS(EGRESS_METRIC_ATOMIC)
};
#define TEST_FIELD(field, ...) {{MetricKind::kCounter, __VA_ARGS__}, &TestStats::field},
constexpr MetricField<TestStats> kTestMetrics[] = {TEST_COUNTERS(TEST_FIELD)};
#undef TEST_FIELD

TEST(MetricsTest, ATableYieldsFieldsAndSeries) {
  TestAtomics atomics;
  atomics.records += 42;
  atomics.committed += 5;
  atomics.duplicate += 1;
  auto collectable = std::make_shared<ScrapeCollectable>([&](MetricFamilies& families) {
    TestStats stats;
#define COPY(field, ...) stats.field = atomics.field.load();
    TEST_COUNTERS(COPY)
#undef COPY
    families.AddAll(kTestMetrics, stats);
    families.Gauge("egress_test_streams", "Streams.", {}, 3);
    families.Gauge("egress_test_weird", "Odd labels.", {{"value", "a \"quoted\" \\ back\nslash"}},
                   -2.5);
  });
  const std::string text = RenderMetrics({collectable});
  SCOPED_TRACE(text);
  const Parsed parsed = Parse(text);
  EXPECT_EQ(parsed.types.at("egress_test_records_total"), "counter");
  EXPECT_EQ(parsed.types.at("egress_test_batches_total"), "counter");
  EXPECT_EQ(parsed.types.at("egress_test_streams"), "gauge");
  EXPECT_EQ(parsed.help.at("egress_test_records_total"), "Records\\nstored \\\\ here.");
  EXPECT_EQ(parsed.help.at("egress_test_batches_total"), "Batches.");
  EXPECT_EQ(parsed.samples.at("egress_test_records_total"), 42);
  EXPECT_EQ(parsed.samples.at("egress_test_batches_total{result=\"committed\"}"), 5);
  EXPECT_EQ(parsed.samples.at("egress_test_batches_total{result=\"duplicate\"}"), 1);
  EXPECT_EQ(parsed.samples.at("egress_test_streams"), 3);
  EXPECT_EQ(parsed.samples.at("egress_test_weird{value=\"a \"quoted\" \\ back\nslash\"}"), -2.5);
  EXPECT_EQ(parsed.samples.size(), 5u);
}

TEST(MetricsTest, LabelledFamiliesAndHistograms) {
  prometheus::Registry registry;
  auto calls = AddCounterFamily(registry, "egress_test_calls_total", "Calls.", {"method", "code"});
  calls->WithLabels({"A/B", "OK"}).Increment(3);
  calls->WithLabels({"A/B", "OK"}).Increment();
  calls->WithLabels({"A/B", "INTERNAL"}).Increment();
  auto latency = AddHistogramFamily(registry, "egress_test_latency_seconds", "Latency.",
                                    {"method", "code"}, {0.01, 0.1, 1});
  prometheus::Histogram& ok = latency->WithLabels({"A/B", "OK"});
  for (double v : {0.005, 0.01, 0.05, 0.5, 0.5, 3.0}) ok.Observe(v);
  latency->WithLabels({"A/B", "INTERNAL"}).Observe(0.2);
  AddCounter(registry, "egress_test_plain_total", "Plain.").Increment(7);

  std::vector<prometheus::MetricFamily> families = registry.Collect();
  const std::string text = prometheus::TextSerializer().Serialize(families);
  SCOPED_TRACE(text);
  const Parsed parsed = Parse(text);
  EXPECT_EQ(parsed.types.at("egress_test_latency_seconds"), "histogram");
  EXPECT_EQ(parsed.samples.at("egress_test_calls_total{code=\"OK\",method=\"A/B\"}"), 4);
  EXPECT_EQ(parsed.samples.at("egress_test_calls_total{code=\"INTERNAL\",method=\"A/B\"}"), 1);
  EXPECT_EQ(parsed.samples.at("egress_test_plain_total"), 7);
  const std::string p = "egress_test_latency_seconds_bucket{code=\"OK\",le=\"";
  EXPECT_EQ(parsed.samples.at(p + "0.01\",method=\"A/B\"}"), 2);  // le is inclusive
  EXPECT_EQ(parsed.samples.at(p + "0.1\",method=\"A/B\"}"), 3);
  EXPECT_EQ(parsed.samples.at(p + "1\",method=\"A/B\"}"), 5);
  EXPECT_EQ(parsed.samples.at(p + "+Inf\",method=\"A/B\"}"), 6);
  EXPECT_EQ(parsed.samples.at("egress_test_latency_seconds_count{code=\"OK\",method=\"A/B\"}"), 6);
  EXPECT_DOUBLE_EQ(parsed.samples.at("egress_test_latency_seconds_sum{code=\"OK\",method=\"A/B\"}"),
                   4.065);
  EXPECT_EQ(
      parsed.samples.at("egress_test_latency_seconds_count{code=\"INTERNAL\",method=\"A/B\"}"), 1);
  EXPECT_DEATH(calls->WithLabels({"only one"}), "1 label values for 2 labels");
}

TEST(MetricsTest, ConcurrentUpdatesAreExact) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto counter = AddCounterFamily(*registry, "egress_test_total", "T.", {"thread"});
  prometheus::Histogram& histogram =
      AddHistogram(*registry, "egress_test_seconds", "S.", LatencyBuckets());
  constexpr int kThreads = 4, kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      prometheus::Counter& mine = counter->WithLabels({t % 2 == 0 ? "even" : "odd"});
      for (int i = 0; i < kPerThread; ++i) {
        mine.Increment();
        histogram.Observe(0.001);
      }
    });
  }
  // Rendering while others write must be safe.
  for (int i = 0; i < 20; ++i) RenderMetrics({registry});
  for (auto& thread : threads) thread.join();
  const std::string text = RenderMetrics({registry});
  SCOPED_TRACE(text);
  const Parsed parsed = Parse(text);
  EXPECT_EQ(parsed.samples.at("egress_test_total{thread=\"even\"}"), 2 * kPerThread);
  EXPECT_EQ(parsed.samples.at("egress_test_total{thread=\"odd\"}"), 2 * kPerThread);
  EXPECT_EQ(parsed.samples.at("egress_test_seconds_count"), kThreads * kPerThread);
  EXPECT_EQ(parsed.samples.at("egress_test_seconds_bucket{le=\"0.001\"}"), kThreads * kPerThread);
  EXPECT_EQ(parsed.samples.at("egress_test_seconds_bucket{le=\"0.0005\"}"), 0);
}

// A plain socket client: sends `request` and returns everything until the
// server closes.
std::string Exchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
  close(fd);
  return response;
}

// The body of a 200 response, after checking its head.
std::string Body(const std::string& response) {
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Type: text/plain"));
  const size_t body_at = response.find("\r\n\r\n");
  return body_at == std::string::npos ? "" : response.substr(body_at + 4);
}

TEST(MetricsExposerTest, ServesMetricsOverHttpAndRefusesTheRest) {
  std::atomic<int> scrapes{0};
  auto registry = std::make_shared<prometheus::Registry>();
  AddCounter(*registry, "egress_test_registered_total", "Registered.").Increment(2);
  auto collectable = std::make_shared<ScrapeCollectable>([&](MetricFamilies& families) {
    families.Counter("egress_test_scrapes_total", "Scrapes.", {}, ++scrapes);
  });
  auto exposer = MetricsExposer::Start("127.0.0.1:0", {registry, collectable});
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const int port = (*exposer)->port();
  ASSERT_GT(port, 0);
  EXPECT_EQ((*exposer)->address(), absl::StrCat("127.0.0.1:", port));

  const std::string ok = Exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string body = Body(ok);
  EXPECT_THAT(ok, HasSubstr(absl::StrCat("Content-Length: ", body.size(), "\r\n")));
  const Parsed parsed = Parse(body);
  EXPECT_EQ(parsed.samples.at("egress_test_scrapes_total"), 1);
  EXPECT_EQ(parsed.samples.at("egress_test_registered_total"), 2);
  EXPECT_EQ(parsed.types.at("egress_test_scrapes_total"), "counter");

  EXPECT_EQ(Parse(Body(Exchange(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n")))
                .samples.at("egress_test_scrapes_total"),
            2);
  EXPECT_THAT(Exchange(port, "GET / HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 404 Not Found"));
  EXPECT_THAT(Exchange(port, "GET /metrics/../x HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404 Not Found"));
  EXPECT_THAT(Exchange(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
              ::testing::Not(StartsWith("HTTP/1.1 200")));
  EXPECT_THAT(Exchange(port, "garbage\r\n\r\n"), HasSubstr(" 400 Bad Request"));
  EXPECT_THAT(Exchange(port, std::string(20000, 'A')), ::testing::Not(StartsWith("HTTP/1.1 200")));

  // A collectable that is gone is skipped, the others still served.
  collectable.reset();
  const Parsed after = Parse(Body(Exchange(port, "GET /metrics HTTP/1.1\r\n\r\n")));
  EXPECT_EQ(after.samples.count("egress_test_scrapes_total"), 0u);
  EXPECT_EQ(after.samples.at("egress_test_registered_total"), 2);
}

TEST(MetricsExposerTest, ASilentClientCannotHoldTheListener) {
  auto registry = std::make_shared<prometheus::Registry>();
  AddCounter(*registry, "egress_test_total", "T.");
  auto exposer = MetricsExposer::Start("127.0.0.1:0", {registry});
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  // Connects and never sends a byte, on every worker thread but one... and
  // on that one too: the request timeout frees it.
  std::vector<int> silent;
  for (int i = 0; i < MetricsExposer::kThreads; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>((*exposer)->port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    silent.push_back(fd);
  }
  const absl::Time start = absl::Now();
  const std::string response = Exchange((*exposer)->port(), "GET /metrics HTTP/1.1\r\n\r\n");
  const absl::Duration waited = absl::Now() - start;
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK"));
  EXPECT_LE(waited, MetricsExposer::kRequestTimeout + absl::Seconds(1));
  for (int fd : silent) close(fd);
}

TEST(MetricsExposerTest, BadAddressesAreRefused) {
  auto registry = std::make_shared<prometheus::Registry>();
  EXPECT_EQ(MetricsExposer::Start("nonsense", {registry}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsExposer::Start("127.0.0.1:99999", {registry}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsExposer::Start("no-such-host.invalid:0", {registry}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Debian's civetweb has no IPv6: said at start, not left to fail later.
  const absl::Status v6 = MetricsExposer::Start("[::1]:0", {registry}).status();
  EXPECT_EQ(v6.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(v6.message()), HasSubstr("IPv4"));
  auto first = MetricsExposer::Start("127.0.0.1:0", {registry});
  ASSERT_TRUE(first.ok());
  const absl::Status in_use =
      MetricsExposer::Start(absl::StrCat("127.0.0.1:", (*first)->port()), {registry}).status();
  EXPECT_EQ(in_use.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(in_use.message()), HasSubstr("metrics-listen"));
  auto by_name = MetricsExposer::Start("localhost:0", {registry});
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ((*by_name)->address(), absl::StrCat("127.0.0.1:", (*by_name)->port()));
}

}  // namespace
}  // namespace egress
