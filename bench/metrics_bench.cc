// Cost of the metrics on the hot path, each beside its baseline in the same
// run: a counter increment vs a bare relaxed atomic add, a histogram
// observation, a labelled lookup, a full render, and a unary gRPC call
// through egress-service's metrics interceptor vs the same server without it.
#include <atomic>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "common/metrics.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "service/service_metrics.h"
#include "tools/egressctl/reflection_client.h"

namespace egress {
namespace {

std::atomic<uint64_t> g_bare{0};

void BM_BareAtomicAdd(benchmark::State& state) {
  for (auto _ : state) g_bare.fetch_add(1, std::memory_order_relaxed);
}
BENCHMARK(BM_BareAtomicAdd)->Threads(1)->Threads(2);

MetricsRegistry& Registry() {
  static MetricsRegistry* registry = new MetricsRegistry();
  return *registry;
}

void BM_CounterIncrement(benchmark::State& state) {
  static Counter& counter = Registry().AddCounter("egress_bench_total", "Bench.");
  for (auto _ : state) counter.Increment();
}
BENCHMARK(BM_CounterIncrement)->Threads(1)->Threads(2);

void BM_HistogramObserve(benchmark::State& state) {
  static Histogram& histogram =
      Registry().AddHistogram("egress_bench_seconds", "Bench.", LatencyBuckets());
  double value = 0.0001;
  for (auto _ : state) {
    histogram.Observe(value);
    value = value < 20 ? value * 1.7 : 0.0001;
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

void BM_LabelledLookupAndIncrement(benchmark::State& state) {
  static CounterFamily& family =
      Registry().AddCounterFamily("egress_bench_calls_total", "Bench.", {"method", "code"});
  for (auto _ : state)
    family.WithLabels({"egress.v1.ConnectionsService/ListDates", "OK"}).Increment();
}
BENCHMARK(BM_LabelledLookupAndIncrement)->Threads(1)->Threads(2);

void BM_Render100Series(benchmark::State& state) {
  MetricsRegistry registry;
  HistogramFamily& family = registry.AddHistogramFamily("egress_bench_rpc_seconds", "Bench.",
                                                        {"method", "code"}, LatencyBuckets());
  for (int i = 0; i < 100; ++i) family.WithLabels({"m" + std::to_string(i), "OK"}).Observe(0.01);
  size_t bytes = 0;
  for (auto _ : state) bytes = registry.Render().size();
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Render100Series);

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
