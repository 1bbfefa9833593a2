// PTR lookups against a local dnsmasq with our cache cold, and the time for
// N new IPs to be fully enriched (owner + PTR + forward confirmation, saved in
// PostgreSQL) by the background worker.
//
//   build/bench/enrichment_ptr_bench [--ips=100000] [--resolver_ips=20000]
// (nsd runs with response rate limiting off: its default of 200 answers/s
// per client network would be what is measured.)
//
// Two servers: dnsmasq (as in the tests; its reverse lookups scan all its
// records, so it gets at most 10k) and nsd (authoritative, hashed zones).
// The server serves half of the addresses a PTR (with a matching A record, so
// every found name is forward-confirmed: two queries per lookup) and answers
// NXDOMAIN for the other half. Baseline in the same run: the same lookups
// one at a time (max_in_flight 1).
#include <sys/resource.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "common/command_line.h"
#include "service/enrichment/cares_ptr_resolver.h"
#include "service/enrichment/enrichment_worker.h"
#include "service/enrichment/libloc_owner_database.h"
#include "service/storage/pg_ip_info_store.h"
#include "tests/enrichment/dns_test_server.h"
#include "tests/support/postgres_cluster.h"

ABSL_FLAG(int, ips, 100000, "new IPs for the end-to-end run (at most 131072: 81.0.0.0/15)");
ABSL_FLAG(int, resolver_ips, 20000, "IPs for the resolver-only runs (at most 131072)");

namespace egress {
namespace {

// 81.0.x.y (announced space, so owner lookups hit): even i has a PTR + A, odd
// i has none.
IpAddress Nth(int i) { return IpAddress::FromV4(0x51000000u + static_cast<uint32_t>(i)); }

std::vector<std::string> DnsmasqRecords(int n) {
  std::vector<std::string> records;
  for (int i = 0; i < n; i += 2) {
    records.push_back(absl::StrCat("host-record=h", i, ".bench.example.test,", Nth(i).ToString()));
  }
  return records;
}

std::vector<testing::Nsd::Zone> NsdZones(int n) {
  // 81.0.0.0/15: one reverse zone per /16.
  std::vector<testing::Nsd::Zone> zones = {
      {"bench.example.test", {}}, {"0.81.in-addr.arpa", {}}, {"1.81.in-addr.arpa", {}}};
  for (int i = 0; i < n; i += 2) {
    uint32_t v4 = Nth(i).v4();
    zones[1 + ((v4 >> 16) & 1)].records.push_back(
        absl::StrCat(v4 & 0xff, ".", (v4 >> 8) & 0xff, " PTR h", i, ".bench.example.test."));
    zones[0].records.push_back(absl::StrCat("h", i, " A ", Nth(i).ToString()));
  }
  return zones;
}

// CPU time used by this process so far (the resolver's share; dnsmasq and
// PostgreSQL are other processes).
absl::Duration ProcessCpu() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return absl::DurationFromTimeval(usage.ru_utime) + absl::DurationFromTimeval(usage.ru_stime);
}

void Die(const absl::Status& status) {
  std::fprintf(stderr, "%s\n", status.ToString().c_str());
  std::exit(1);
}

void ResolverRun(const std::string& server, int n, int max_in_flight) {
  CaresPtrResolverOptions options;
  options.servers = {server};
  options.max_in_flight = max_in_flight;
  options.max_queued = n;
  auto resolver = CaresPtrResolver::Create(options);
  if (!resolver.ok()) Die(resolver.status());
  absl::BlockingCounter done(n);
  absl::Duration cpu_start = ProcessCpu();
  absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) {
    (*resolver)->Resolve(Nth(i), [&done](PtrLookupResult) { done.DecrementCount(); });
  }
  done.Wait();
  absl::Duration took = absl::Now() - start;
  absl::Duration cpu = ProcessCpu() - cpu_start;
  PtrResolverStats stats = (*resolver)->stats();
  std::printf(
      "resolver  max_in_flight=%-4d %7d lookups in %8.3f s = %8.0f lookups/s, our CPU %.1f us per "
      "lookup (found %llu, confirmed %llu, no PTR %llu, failed %llu)\n",
      max_in_flight, n, absl::ToDoubleSeconds(took), n / absl::ToDoubleSeconds(took),
      absl::ToDoubleMicroseconds(cpu) / n, static_cast<unsigned long long>(stats.found),
      static_cast<unsigned long long>(stats.confirmed),
      static_cast<unsigned long long>(stats.no_ptr),
      static_cast<unsigned long long>(stats.temporary_failures));
}

void EndToEnd(const std::string& server, int n, int max_in_flight, OwnerDatabase* owner) {
  auto database = Database::Connect({.conninfo = testing::FreshDatabase()});
  if (!database.ok()) Die(database.status());
  PgIpInfoStore store(database->get());
  std::vector<IpAddress> ips;
  for (int i = 0; i < n; ++i) ips.push_back(Nth(i));
  absl::Time enqueue_start = absl::Now();
  for (int i = 0; i < n; i += 10000) {
    std::vector<IpAddress> batch(ips.begin() + i, ips.begin() + std::min(n, i + 10000));
    auto added = store.EnqueueNew(batch);
    if (!added.ok()) Die(added.status());
  }
  absl::Duration enqueue = absl::Now() - enqueue_start;
  // The ingest path's cost when every IP of a batch is already known.
  absl::Time known_start = absl::Now();
  for (int i = 0; i < n; i += 1000) {
    std::vector<IpAddress> batch(ips.begin() + i, ips.begin() + std::min(n, i + 1000));
    if (!store.EnqueueNew(batch).ok()) Die(absl::InternalError("enqueue"));
  }
  absl::Duration known = absl::Now() - known_start;

  CaresPtrResolverOptions resolver_options;
  resolver_options.servers = {server};
  resolver_options.max_in_flight = max_in_flight;
  auto resolver = CaresPtrResolver::Create(resolver_options);
  if (!resolver.ok()) Die(resolver.status());
  EnrichmentOptions options;
  options.resolvers = {server};
  options.max_in_flight = max_in_flight;
  options.save_batch = 512;
  auto worker = EnrichmentWorker::Create(options, owner, resolver->get(), &store);
  if (!worker.ok()) Die(worker.status());
  absl::Time start = absl::Now();
  (*worker)->Start();
  (*worker)->Wake();
  for (;;) {
    absl::SleepFor(absl::Milliseconds(100));
    auto stats = store.Stats();
    if (!stats.ok()) Die(stats.status());
    if (stats->pending == 0) break;
  }
  absl::Duration took = absl::Now() - start;
  (*worker)->Stop();
  EnrichmentStats stats = (*worker)->stats();
  std::printf(
      "end-to-end max_in_flight=%-4d %7d new IPs enriched in %8.3f s = %8.0f IPs/s  (ptr %llu, "
      "confirmed %llu, no PTR %llu, failed %llu, owner found %llu)\n",
      max_in_flight, n, absl::ToDoubleSeconds(took), n / absl::ToDoubleSeconds(took),
      static_cast<unsigned long long>(stats.ptr_found),
      static_cast<unsigned long long>(stats.ptr_confirmed),
      static_cast<unsigned long long>(stats.no_ptr),
      static_cast<unsigned long long>(stats.temporary_failures),
      static_cast<unsigned long long>(stats.owner_found));
  std::printf(
      "enqueue   %7d new IPs in batches of 10000: %8.3f s (%.0f IPs/s); the same IPs again, all "
      "known, in batches of 1000: %8.3f s (%.1f us per IP)\n",
      n, absl::ToDoubleSeconds(enqueue), n / absl::ToDoubleSeconds(enqueue),
      absl::ToDoubleSeconds(known), absl::ToDoubleMicroseconds(known) / n);
}

}  // namespace
}  // namespace egress

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  egress::ParseCommandLine(argc, argv,
                           "PTR lookups and end-to-end enrichment against dnsmasq and nsd");
  const int n = std::min(absl::GetFlag(FLAGS_ips), 131072);
  const int resolver_n = std::min(absl::GetFlag(FLAGS_resolver_ips), 131072);
  auto owner = egress::LiblocOwnerDatabase::Create(egress::kDefaultLiblocDatabasePath);
  if (!owner.ok()) egress::Die(owner.status());
  {
    const int records = std::min(resolver_n, 10000);
    std::printf("== dnsmasq, %d addresses (%d PTR records)\n", records, records / 2);
    auto dns = egress::testing::Dnsmasq::Start(egress::DnsmasqRecords(records));
    if (!dns.ok()) egress::Die(dns.status());
    for (int in_flight : {1, 16, 64}) {
      egress::ResolverRun((*dns)->address(), in_flight == 1 ? records / 10 : records, in_flight);
    }
  }
  std::printf("== nsd, %d addresses (%d PTR records)\n", std::max(n, resolver_n),
              std::max(n, resolver_n) / 2);
  auto nsd = egress::testing::Nsd::Start(egress::NsdZones(std::max(n, resolver_n)));
  if (!nsd.ok()) egress::Die(nsd.status());
  for (int in_flight : {1, 16, 64, 256}) {
    egress::ResolverRun((*nsd)->address(), in_flight == 1 ? resolver_n / 10 : resolver_n,
                        in_flight);
  }
  egress::EndToEnd((*nsd)->address(), n, 256, owner->get());
  return 0;
}
