// The metrics registry renders the Prometheus text format 0.0.4 that a
// parser written from the specification reads back exactly; the /metrics
// listener answers over a real socket.
#include "common/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/metrics_http_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace egress {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

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
        EXPECT_THAT(rest, ::testing::AnyOf("counter", "gauge", "histogram")) << name;
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

TEST(MetricsTest, CountersGaugesAndCollectorsRoundTrip) {
  MetricsRegistry registry;
  Counter& records = registry.AddCounter("egress_test_records_total", "Records\nstored \\ here.");
  CounterFamily& batches =
      registry.AddCounterFamily("egress_test_batches_total", "Batches.", {"result"});
  Gauge& spool = registry.AddGauge("egress_test_spool_bytes", "Spool size.");
  GaugeFamily& weird = registry.AddGaugeFamily("egress_test_weird", "Odd labels.", {"value"});
  registry.AddCollector([](MetricsWriter& writer) {
    writer.Gauge("egress_test_streams", "Streams.", {}, 3);
    writer.Counter("egress_test_lookups_total", "Lookups.", {{"status", "ok"}}, 7);
    writer.Counter("egress_test_lookups_total", "Lookups.", {{"status", "no_ptr"}}, 2);
  });
  records.Increment(41);
  records.Increment();
  batches.WithLabels({"committed"}).Increment(5);
  batches.WithLabels({"duplicate"}).Increment(1);
  spool.Set(1048576);
  spool.Add(-0.5);
  weird.WithLabels({"a \"quoted\" \\ back\nslash"}).Set(-2);

  const Parsed parsed = Parse(registry.Render());
  EXPECT_EQ(parsed.types.at("egress_test_records_total"), "counter");
  EXPECT_EQ(parsed.types.at("egress_test_spool_bytes"), "gauge");
  EXPECT_EQ(parsed.types.at("egress_test_lookups_total"), "counter");
  EXPECT_EQ(parsed.help.at("egress_test_records_total"), "Records\\nstored \\\\ here.");
  EXPECT_EQ(parsed.samples.at("egress_test_records_total"), 42);
  EXPECT_EQ(parsed.samples.at("egress_test_batches_total{result=\"committed\"}"), 5);
  EXPECT_EQ(parsed.samples.at("egress_test_batches_total{result=\"duplicate\"}"), 1);
  EXPECT_EQ(parsed.samples.at("egress_test_spool_bytes"), 1048575.5);
  EXPECT_EQ(parsed.samples.at("egress_test_weird{value=\"a \"quoted\" \\ back\nslash\"}"), -2);
  EXPECT_EQ(parsed.samples.at("egress_test_streams"), 3);
  EXPECT_EQ(parsed.samples.at("egress_test_lookups_total{status=\"ok\"}"), 7);
  EXPECT_EQ(parsed.samples.at("egress_test_lookups_total{status=\"no_ptr\"}"), 2);
  EXPECT_EQ(parsed.samples.size(), 8u);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfEqualToCount) {
  MetricsRegistry registry;
  HistogramFamily& latency = registry.AddHistogramFamily("egress_test_latency_seconds", "Latency.",
                                                         {"method", "code"}, {0.01, 0.1, 1});
  Histogram& ok = latency.WithLabels({"A/B", "OK"});
  for (double v : {0.005, 0.01, 0.05, 0.5, 0.5, 3.0}) ok.Observe(v);
  latency.WithLabels({"A/B", "INTERNAL"}).Observe(0.2);

  const Parsed parsed = Parse(registry.Render());
  EXPECT_EQ(parsed.types.at("egress_test_latency_seconds"), "histogram");
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
}

TEST(MetricsTest, ConcurrentUpdatesAreExact) {
  MetricsRegistry registry;
  CounterFamily& counter = registry.AddCounterFamily("egress_test_total", "T.", {"thread"});
  Histogram& histogram = registry.AddHistogram("egress_test_seconds", "S.", LatencyBuckets());
  constexpr int kThreads = 4, kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& mine = counter.WithLabels({t % 2 == 0 ? "even" : "odd"});
      for (int i = 0; i < kPerThread; ++i) {
        mine.Increment();
        histogram.Observe(0.001);
      }
    });
  }
  // Rendering while others write must be safe (TSan-clean by design).
  for (int i = 0; i < 20; ++i) registry.Render();
  for (auto& thread : threads) thread.join();
  const std::string text = registry.Render();
  SCOPED_TRACE(text);
  const Parsed parsed = Parse(text);
  EXPECT_EQ(parsed.samples.at("egress_test_total{thread=\"even\"}"), 2 * kPerThread);
  EXPECT_EQ(parsed.samples.at("egress_test_total{thread=\"odd\"}"), 2 * kPerThread);
  EXPECT_EQ(parsed.samples.at("egress_test_seconds_count"), kThreads * kPerThread);
  EXPECT_EQ(parsed.samples.at("egress_test_seconds_bucket{le=\"0.001\"}"), kThreads * kPerThread);
  EXPECT_EQ(parsed.samples.at("egress_test_seconds_bucket{le=\"0.0005\"}"), 0);
}

TEST(MetricsTest, SeriesBeyondTheCapShareOneOverflowChild) {
  MetricsRegistry registry;
  CounterFamily& family = registry.AddCounterFamily("egress_test_total", "T.", {"key"});
  for (size_t i = 0; i < CounterFamily::kMaxSeries + 50; ++i) {
    family.WithLabels({absl::StrCat("k", i)}).Increment();
  }
  const Parsed parsed = Parse(registry.Render());
  EXPECT_EQ(parsed.samples.size(), CounterFamily::kMaxSeries + 1);
  EXPECT_EQ(parsed.samples.at("egress_test_total{key=\"_overflow\"}"), 50);
}

TEST(MetricsTest, ValuesAndNames) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(18446744073709551615.0), "1.8446744073709552e+19");
  EXPECT_EQ(FormatMetricValue(0.25), "0.25");
  EXPECT_EQ(FormatMetricValue(0.0005), "0.0005");
  EXPECT_EQ(FormatMetricValue(-3), "-3");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
  EXPECT_TRUE(IsValidMetricName("egress_rpc:rate5m"));
  EXPECT_FALSE(IsValidMetricName("1abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_FALSE(IsValidLabelName("__reserved"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_DEATH(
      {
        MetricsRegistry registry;
        registry.AddCounter("egress_twice", "x");
        registry.AddGauge("egress_twice", "x");
      },
      "registered twice");
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

TEST(MetricsHttpServerTest, ServesMetricsAndRefusesTheRest) {
  MetricsRegistry registry;
  Counter& scrapes = registry.AddCounter("egress_test_scrapes_total", "Scrapes.");
  auto server = MetricsHttpServer::Start("127.0.0.1:0", [&] {
    scrapes.Increment();
    return registry.Render();
  });
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  EXPECT_EQ((*server)->address(), absl::StrCat("127.0.0.1:", port));

  const std::string ok = Exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(ok, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(ok, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  const size_t body_at = ok.find("\r\n\r\n") + 4;
  const std::string body = ok.substr(body_at);
  EXPECT_THAT(ok, HasSubstr(absl::StrCat("Content-Length: ", body.size(), "\r\n")));
  EXPECT_EQ(Parse(body).samples.at("egress_test_scrapes_total"), 1);

  const std::string with_query = Exchange(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
  EXPECT_THAT(with_query, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(Parse(with_query.substr(with_query.find("\r\n\r\n") + 4))
                .samples.at("egress_test_scrapes_total"),
            2);
  EXPECT_THAT(Exchange(port, "GET / HTTP/1.1\r\n\r\n"), StartsWith("HTTP/1.1 404 Not Found"));
  EXPECT_THAT(Exchange(port, "GET /metrics/../x HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404 Not Found"));
  EXPECT_THAT(Exchange(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
              StartsWith("HTTP/1.1 405 Method Not Allowed"));
  EXPECT_THAT(Exchange(port, "garbage\r\n\r\n"), StartsWith("HTTP/1.1 400 Bad Request"));
  EXPECT_THAT(Exchange(port, std::string(20000, 'A')), StartsWith("HTTP/1.1 431"));
  const std::string head = Exchange(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200 OK"));
  EXPECT_TRUE(absl::EndsWith(head, "\r\n\r\n")) << "HEAD carries no body";
}

TEST(MetricsHttpServerTest, ASilentClientCannotHoldTheListener) {
  MetricsRegistry registry;
  registry.AddCounter("egress_test_total", "T.");
  auto server = MetricsHttpServer::Start("127.0.0.1:0", [&] { return registry.Render(); });
  ASSERT_TRUE(server.ok()) << server.status();
  // Connects and never sends a byte.
  const int silent = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>((*server)->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(silent, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const absl::Time start = absl::Now();
  const std::string response = Exchange((*server)->port(), "GET /metrics HTTP/1.1\r\n\r\n");
  const absl::Duration waited = absl::Now() - start;
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK"));
  EXPECT_LE(waited, MetricsHttpServer::kConnectionBudget + absl::Seconds(1));
  close(silent);
}

TEST(MetricsHttpServerTest, BadAddressesAreRefused) {
  auto render = [] { return std::string(); };
  EXPECT_EQ(MetricsHttpServer::Start("nonsense", render).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsHttpServer::Start("127.0.0.1:99999", render).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = MetricsHttpServer::Start("127.0.0.1:0", render);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(MetricsHttpServer::Start(absl::StrCat("127.0.0.1:", (*first)->port()), render)
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  auto v6 = MetricsHttpServer::Start("[::1]:0", render);
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ((*v6)->address(), absl::StrCat("[::1]:", (*v6)->port()));
}

}  // namespace
}  // namespace egress
