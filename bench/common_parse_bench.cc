// Cost of parsing and printing addresses, against raw inet_pton/inet_ntop in
// the same run, so the price of the strict pre-checks is visible.
//
//   build/bench/common_parse_bench --benchmark_min_time=0.5
#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "benchmark/benchmark.h"
#include "common/ip_address.h"

namespace egress {
namespace {

constexpr char kV4[] = "203.0.113.254";
constexpr char kV6[] = "2001:db8:85a3::8a2e:370:7334";
constexpr char kV4Network[] = "198.51.100.0/24";
constexpr char kV6Network[] = "2001:db8:abcd:12::/64";

void BM_InetPtonV4(benchmark::State& state) {
  in_addr addr;
  for (auto _ : state) {
    benchmark::DoNotOptimize(inet_pton(AF_INET, kV4, &addr));
    benchmark::DoNotOptimize(addr);
  }
}
BENCHMARK(BM_InetPtonV4);

void BM_InetPtonV6(benchmark::State& state) {
  in6_addr addr;
  for (auto _ : state) {
    benchmark::DoNotOptimize(inet_pton(AF_INET6, kV6, &addr));
    benchmark::DoNotOptimize(addr);
  }
}
BENCHMARK(BM_InetPtonV6);

void BM_IpAddressParseV4(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(IpAddress::Parse(kV4));
}
BENCHMARK(BM_IpAddressParseV4);

void BM_IpAddressParseV6(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(IpAddress::Parse(kV6));
}
BENCHMARK(BM_IpAddressParseV6);

void BM_IpAddressParseInvalid(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(IpAddress::Parse("fe80::1%eth0"));
}
BENCHMARK(BM_IpAddressParseInvalid);

void BM_IpNetworkParseV4(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(IpNetwork::Parse(kV4Network));
}
BENCHMARK(BM_IpNetworkParseV4);

void BM_IpNetworkParseV6(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(IpNetwork::Parse(kV6Network));
}
BENCHMARK(BM_IpNetworkParseV6);

void BM_InetNtopV4(benchmark::State& state) {
  in_addr addr;
  inet_pton(AF_INET, kV4, &addr);
  char text[INET_ADDRSTRLEN];
  for (auto _ : state) {
    benchmark::DoNotOptimize(inet_ntop(AF_INET, &addr, text, sizeof(text)));
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_InetNtopV4);

void BM_InetNtopV6(benchmark::State& state) {
  in6_addr addr;
  inet_pton(AF_INET6, kV6, &addr);
  char text[INET6_ADDRSTRLEN];
  for (auto _ : state) {
    benchmark::DoNotOptimize(inet_ntop(AF_INET6, &addr, text, sizeof(text)));
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_InetNtopV6);

void BM_IpAddressToStringV4(benchmark::State& state) {
  const IpAddress address = *IpAddress::Parse(kV4);
  for (auto _ : state) benchmark::DoNotOptimize(address.ToString());
}
BENCHMARK(BM_IpAddressToStringV4);

void BM_IpAddressToStringV6(benchmark::State& state) {
  const IpAddress address = *IpAddress::Parse(kV6);
  for (auto _ : state) benchmark::DoNotOptimize(address.ToString());
}
BENCHMARK(BM_IpAddressToStringV6);

void BM_IpNetworkContainsV6(benchmark::State& state) {
  const IpNetwork network = *IpNetwork::Parse(kV6Network);
  const IpAddress address = *IpAddress::Parse("2001:db8:abcd:12::99");
  for (auto _ : state) benchmark::DoNotOptimize(network.Contains(address));
}
BENCHMARK(BM_IpNetworkContainsV6);

}  // namespace
}  // namespace egress

BENCHMARK_MAIN();
