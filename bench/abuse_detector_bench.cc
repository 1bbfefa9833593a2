// What outbound abuse detection adds to ingest: AbuseDetector::Observe on
// batches of committed records (records/s on one core), beside a baseline in
// the same run: copying the same records into the detector's input (what the
// collector does per batch anyway) and one flat_hash_map increment per
// record (the floor for any per-account count).
//
//   build/bench/abuse_detector_bench
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "service/abuse_detector.h"

namespace egress {
namespace {

class SteppingClock final : public Clock {
 public:
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1'790'000'000);
};

// One batch: `records` records over 200 accounts, a realistic mix (mostly
// 443 and 80 to a few thousand addresses, some DNS, a little SMTP).
std::vector<AbuseObservation> MakeBatch(int records, int salt) {
  static constexpr uint16_t kPorts[] = {443, 443, 443, 443, 80, 80, 53, 25, 8080, 993};
  std::vector<AbuseObservation> batch;
  batch.reserve(records);
  for (int i = 0; i < records; ++i) {
    const uint32_t k = static_cast<uint32_t>((i + salt * 7919) * 2654435761u);
    AbuseObservation o;
    o.account_id = absl::StrCat("acct-", k % 200);
    o.uid = 1000 + k % 200;
    o.ip = IpAddress::FromV4(0x0a000000u + (k >> 8) % 5000);
    o.port = kPorts[k % 10];
    o.protocol = o.port == 53 ? Protocol::kUdp : Protocol::kTcp;
    o.action = k % 50 == 0 ? Action::kReject : Action::kAccept;
    o.count = 1 + k % 3;
    batch.push_back(std::move(o));
  }
  return batch;
}

void BM_DetectorObserve(benchmark::State& state) {
  const int records = static_cast<int>(state.range(0));
  std::vector<std::vector<AbuseObservation>> batches;
  for (int i = 0; i < 16; ++i) batches.push_back(MakeBatch(records, i));
  SteppingClock clock;
  AbuseDetector detector(&clock);
  AbusePolicySet policies;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(detector.Observe("web-01", batches[i % batches.size()], policies));
    clock.Advance(absl::Seconds(1));
    ++i;
  }
  state.SetItemsProcessed(state.iterations() * records);
}
BENCHMARK(BM_DetectorObserve)->Arg(1000)->Arg(10000);

void BM_BaselineCopy(benchmark::State& state) {
  const int records = static_cast<int>(state.range(0));
  const std::vector<AbuseObservation> batch = MakeBatch(records, 1);
  for (auto _ : state) {
    std::vector<AbuseObservation> copy = batch;
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetItemsProcessed(state.iterations() * records);
}
BENCHMARK(BM_BaselineCopy)->Arg(1000)->Arg(10000);

void BM_BaselineCountPerAccount(benchmark::State& state) {
  const int records = static_cast<int>(state.range(0));
  const std::vector<AbuseObservation> batch = MakeBatch(records, 1);
  absl::flat_hash_map<std::string, uint64_t> counts;
  for (auto _ : state) {
    for (const AbuseObservation& o : batch) counts[o.account_id] += o.count;
    benchmark::DoNotOptimize(counts.size());
  }
  state.SetItemsProcessed(state.iterations() * records);
}
BENCHMARK(BM_BaselineCountPerAccount)->Arg(1000)->Arg(10000);

}  // namespace
}  // namespace egress

BENCHMARK_MAIN();
