// Cost of the metrics on prometheus-cpp, each beside its baseline in the same
// run: a prometheus::Counter increment vs the plain relaxed atomic add that
// the agent's per-event counters keep (exported at scrape time instead), a
// histogram observation, a labelled lookup (egress's cached one vs
// prometheus-cpp's Family::Add), the agent's scrape-time collectable, a
// render of 100 histogram series, a full scrape over HTTP from the civetweb
// exposer on loopback, and a unary gRPC call through egress-service's
// metrics interceptor vs the same server without it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "agent/agent_metrics.h"
#include "benchmark/benchmark.h"
#include "common/metrics.h"
#include "common/metrics_exposer.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "prometheus/text_serializer.h"
#include "service/service_metrics.h"
#include "tools/egressctl/reflection_client.h"

namespace egress {
namespace {

std::atomic<uint64_t> g_bare{0};

// Baseline: what the agent's per-event counters cost.
void BM_PlainAtomicAdd(benchmark::State& state) {
  for (auto _ : state) g_bare.fetch_add(1, std::memory_order_relaxed);
}
BENCHMARK(BM_PlainAtomicAdd)->Threads(1)->Threads(2);

prometheus::Registry& Registry() {
  static prometheus::Registry* registry = new prometheus::Registry();
  return *registry;
}

void BM_PrometheusCounterIncrement(benchmark::State& state) {
  static prometheus::Counter& counter = AddCounter(Registry(), "egress_bench_total", "Bench.");
  for (auto _ : state) counter.Increment();
}
BENCHMARK(BM_PrometheusCounterIncrement)->Threads(1)->Threads(2);

void BM_HistogramObserve(benchmark::State& state) {
  static prometheus::Histogram& histogram =
      AddHistogram(Registry(), "egress_bench_seconds", "Bench.", LatencyBuckets());
  double value = 0.0001;
  for (auto _ : state) {
    histogram.Observe(value);
    value = value < 20 ? value * 1.7 : 0.0001;
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

// Baseline: prometheus-cpp's own lookup (builds a metric, then looks up).
void BM_FamilyAddAndIncrement(benchmark::State& state) {
  static prometheus::Family<prometheus::Counter>& family =
      prometheus::BuildCounter().Name("egress_bench_add_total").Help("Bench.").Register(Registry());
  for (auto _ : state) {
    family.Add({{"method", "egress.v1.ConnectionsService/ListDates"}, {"code", "OK"}}).Increment();
  }
}
BENCHMARK(BM_FamilyAddAndIncrement)->Threads(1)->Threads(2);

void BM_LabelledLookupAndIncrement(benchmark::State& state) {
  static LabelledFamily<prometheus::Counter>& family =
      *AddCounterFamily(Registry(), "egress_bench_calls_total", "Bench.", {"method", "code"})
           .release();
  for (auto _ : state) {
    family.WithLabels({"egress.v1.ConnectionsService/ListDates", "OK"}).Increment();
  }
}
BENCHMARK(BM_LabelledLookupAndIncrement)->Threads(1)->Threads(2);

// One scrape of the agent's collectable (its table read from a counters
// snapshot) rendered as text: what the agent pays per scrape instead of per
// event.
void BM_AgentScrape(benchmark::State& state) {
  agent::AgentCounters counters;
  counters.conntrack.events = 123456789;
  counters.has_uplink = true;
  size_t bytes = 0;
  for (auto _ : state) {
    MetricFamilies families;
    agent::WriteAgentMetrics(counters, families);
    bytes = prometheus::TextSerializer().Serialize(families.Take()).size();
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_AgentScrape);

void BM_Render100Series(benchmark::State& state) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto family = AddHistogramFamily(*registry, "egress_bench_rpc_seconds", "Bench.",
                                   {"method", "code"}, LatencyBuckets());
  for (int i = 0; i < 100; ++i) family->WithLabels({"m" + std::to_string(i), "OK"}).Observe(0.01);
  size_t bytes = 0;
  for (auto _ : state) bytes = RenderMetrics({registry}).size();
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Render100Series);

// GET /metrics from the civetweb exposer over loopback, connection included,
// for the same 100 series; the baseline is an empty registry.
void BM_ScrapeOverHttp(benchmark::State& state) {
  auto registry = std::make_shared<prometheus::Registry>();
  if (state.range(0) == 1) {
    auto family = AddHistogramFamily(*registry, "egress_bench_rpc_seconds", "Bench.",
                                     {"method", "code"}, LatencyBuckets());
    for (int i = 0; i < 100; ++i) {
      family->WithLabels({"m" + std::to_string(i), "OK"}).Observe(0.01);
    }
  }
  auto exposer = MetricsExposer::Start("127.0.0.1:0", {registry});
  if (!exposer.ok()) {
    state.SkipWithError("exposer did not start");
    return;
  }
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>((*exposer)->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n";
  size_t bytes = 0;
  for (auto _ : state) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
      close(fd);
      state.SkipWithError("scrape failed");
      break;
    }
    char buffer[16384];
    ssize_t n;
    bytes = 0;
    while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) bytes += static_cast<size_t>(n);
    close(fd);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetLabel(state.range(0) == 1 ? "100 histogram series" : "baseline: empty registry");
}
BENCHMARK(BM_ScrapeOverHttp)->Arg(0)->Arg(1)->UseRealTime();

// A server with only gRPC's health service, with or without the interceptor.
void BM_UnaryHealthCheck(benchmark::State& state) {
  const bool intercepted = state.range(0) == 1;
  ServiceMetrics metrics;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  if (intercepted) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(metrics.NewRpcInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  for (auto _ : state) {
    // egressctl's health call (generic stub), the same in both runs.
    if (!ctl::CheckHealth(channel, "", absl::Seconds(5)).ok()) state.SkipWithError("Check failed");
  }
  state.SetLabel(intercepted ? "with the metrics interceptor" : "baseline: no interceptor");
  server->Shutdown();
}
BENCHMARK(BM_UnaryHealthCheck)->Arg(0)->Arg(1)->UseRealTime()->MinTime(2);

}  // namespace
}  // namespace egress

BENCHMARK_MAIN();
