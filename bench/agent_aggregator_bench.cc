// Aggregator throughput (events/s on one core) for a synthetic event stream,
// beside a baseline in the same run: bare absl::flat_hash_map increments on a
// 64-bit key (the floor for any keyed count).
//
//   build/bench/agent_aggregator_bench
#include <array>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "agent/aggregator.h"
#include "benchmark/benchmark.h"

namespace egress::agent {
namespace {

std::vector<ConnectionEvent> MakeEvents(int keys) {
  std::vector<ConnectionEvent> events;
  const absl::Time t0 = absl::FromUnixSeconds(1'790'000'000);
  for (int i = 0; i < 1 << 16; ++i) {
    const int k = static_cast<int>((static_cast<uint64_t>(i) * 2654435761u) % keys);
    ConnectionEvent e;
    e.uid = 1000 + static_cast<uint32_t>(k % 50);
    e.dst = IpAddress::FromV4(0x0a000000u + static_cast<uint32_t>(k / 50));
    e.protocol = (k & 1) ? Protocol::kTcp : Protocol::kUdp;
    e.dst_port = 443;
    e.time = t0 + absl::Milliseconds(i);
    events.push_back(e);
  }
  return events;
}

void BM_AggregatorAdd(benchmark::State& state) {
  const int keys = static_cast<int>(state.range(0));
  const std::vector<ConnectionEvent> events = MakeEvents(keys);
  Aggregator aggregator(static_cast<size_t>(keys) + 1, absl::UTCTimeZone());
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(aggregator.Add(events[i]));
    i = (i + 1) & (events.size() - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AggregatorAdd)->Arg(100)->Arg(10'000)->Arg(100'000);

// Add plus draining into a RecordBatch every 100k events (a batch interval).
void BM_AggregatorAddAndDrain(benchmark::State& state) {
  const int keys = static_cast<int>(state.range(0));
  const std::vector<ConnectionEvent> events = MakeEvents(keys);
  Aggregator aggregator(static_cast<size_t>(keys) + 1, absl::UTCTimeZone());
  size_t i = 0;
  uint64_t n = 0;
  for (auto _ : state) {
    aggregator.Add(events[i]);
    i = (i + 1) & (events.size() - 1);
    if (++n % 100'000 == 0) {
      v1::RecordBatch batch;
      aggregator.DrainInto(&batch);
      benchmark::DoNotOptimize(batch);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AggregatorAddAndDrain)->Arg(10'000);

void BM_BaselineFlatHashMapIncrement(benchmark::State& state) {
  const int keys = static_cast<int>(state.range(0));
  std::vector<uint64_t> ks;
  for (int i = 0; i < 1 << 16; ++i) ks.push_back((static_cast<uint64_t>(i) * 2654435761u) % keys);
  absl::flat_hash_map<uint64_t, uint64_t> counts;
  size_t i = 0;
  for (auto _ : state) {
    ++counts[ks[i]];
    i = (i + 1) & (ks.size() - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineFlatHashMapIncrement)->Arg(100)->Arg(10'000)->Arg(100'000);

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// Memory held for 100,000 distinct keys (IPv6 destinations, the larger case),
// reported as a counter: resident set growth while filling the aggregator.
void BM_AggregatorMemory100kKeys(benchmark::State& state) {
  for (auto _ : state) {
    const long before = RssKb();
    Aggregator aggregator(100'001, absl::UTCTimeZone());
    const absl::Time t0 = absl::FromUnixSeconds(1'790'000'000);
    for (uint32_t k = 0; k < 100'000; ++k) {
      std::array<uint8_t, 16> bytes{0x20, 0x01, 0x0d, 0xb8};
      bytes[12] = static_cast<uint8_t>(k >> 24);
      bytes[13] = static_cast<uint8_t>(k >> 16);
      bytes[14] = static_cast<uint8_t>(k >> 8);
      bytes[15] = static_cast<uint8_t>(k);
      ConnectionEvent e;
      e.uid = 1000;
      e.dst = IpAddress::FromV6(bytes);
      e.dst_port = 443;
      e.time = t0;
      aggregator.Add(e);
    }
    state.counters["rss_growth_MiB"] = static_cast<double>(RssKb() - before) / 1024.0;
  }
}
BENCHMARK(BM_AggregatorMemory100kKeys)->Iterations(1);

}  // namespace
}  // namespace egress::agent

BENCHMARK_MAIN();
