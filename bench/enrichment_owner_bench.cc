// Owner lookups (network -> ASN, AS name, country) for random IPv4 and IPv6
// addresses against Debian's libloc database, three ways in the same run:
//   - InProcess: LiblocOwnerDatabase (our flattened range table, what the
//     service uses);
//   - LiblocNative: libloc's own loc_database_lookup + AS name (baseline 1);
//   - Postgres*: the same lookup as a query on one PostgreSQL connection,
//     the table holding the same networks (baseline 2): one B-tree probe on
//     the flattened ranges (best case), a B-tree scan over the nested
//     networks, and a GiST `network >>= ip` query. server_cpu_us is the
//     PostgreSQL backend's CPU per query (/proc), fair on a busy machine.
//
//   build/bench/enrichment_owner_bench [--benchmark_min_time=1]
// In-process figures are per CPU second (one core); PostgreSQL figures are per
// wall-clock second of one client connection (the server does the work).
// The PostgreSQL baselines start a throwaway cluster and load ~1.07M IPv4
// networks (about a minute on 2 cores).
#include <arpa/inet.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include <libloc/as.h>
#include <libloc/database.h>
#include <libloc/libloc.h>
#include <libloc/network.h>
}

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "service/enrichment/libloc_owner_database.h"
#include "service/storage/database.h"
#include "tests/support/postgres_cluster.h"

namespace egress {
namespace {

constexpr int kAddresses = 1 << 16;

std::vector<IpAddress> RandomV4() {
  std::mt19937 rng(42);
  std::vector<IpAddress> out;
  for (int i = 0; i < kAddresses; ++i) out.push_back(IpAddress::FromV4(rng()));
  return out;
}

// Random addresses inside 2000::/4 (where announced IPv6 space is).
std::vector<IpAddress> RandomV6() {
  std::mt19937 rng(43);
  std::vector<IpAddress> out;
  for (int i = 0; i < kAddresses; ++i) {
    std::array<uint8_t, 16> bytes;
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    bytes[0] = static_cast<uint8_t>(0x20 | (bytes[0] & 0x0f));
    out.push_back(IpAddress::FromV6(bytes));
  }
  return out;
}

LiblocOwnerDatabase& Owner() {
  static LiblocOwnerDatabase* db = [] {
    absl::Time start = absl::Now();
    auto created = LiblocOwnerDatabase::Create(kDefaultLiblocDatabasePath);
    if (!created.ok()) {
      std::fprintf(stderr, "%s\n", created.status().ToString().c_str());
      std::abort();
    }
    std::fprintf(stderr, "loaded %s: %llu networks in %s\n", kDefaultLiblocDatabasePath,
                 static_cast<unsigned long long>((*created)->info().networks),
                 absl::FormatDuration(absl::Now() - start).c_str());
    return created->release();
  }();
  return *db;
}

void Run(benchmark::State& state, const std::vector<IpAddress>& ips) {
  LiblocOwnerDatabase& db = Owner();
  size_t i = 0;
  int64_t found = 0;
  for (auto _ : state) {
    std::optional<OwnerInfo> owner = db.Lookup(ips[i++ & (kAddresses - 1)]);
    found += owner.has_value();
    benchmark::DoNotOptimize(owner);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["found%"] =
      100.0 * static_cast<double>(found) / static_cast<double>(state.iterations());
}

void BM_InProcessV4(benchmark::State& state) {
  static const std::vector<IpAddress> ips = RandomV4();
  Run(state, ips);
}
BENCHMARK(BM_InProcessV4);

void BM_InProcessV6(benchmark::State& state) {
  static const std::vector<IpAddress> ips = RandomV6();
  Run(state, ips);
}
BENCHMARK(BM_InProcessV6);

void BM_LiblocNativeV4(benchmark::State& state) {
  static const std::vector<IpAddress> ips = RandomV4();
  loc_ctx* ctx = nullptr;
  loc_new(&ctx);
  FILE* f = fopen(kDefaultLiblocDatabasePath, "r");
  loc_database* db = nullptr;
  loc_database_new(ctx, &db, f);
  size_t i = 0;
  int64_t found = 0;
  for (auto _ : state) {
    const IpAddress& ip = ips[i++ & (kAddresses - 1)];
    in6_addr address{};
    address.s6_addr[10] = 0xff;
    address.s6_addr[11] = 0xff;
    std::memcpy(&address.s6_addr[12], ip.bytes().data(), 4);
    loc_network* network = nullptr;
    if (loc_database_lookup(db, &address, &network) == 0 && network != nullptr) {
      ++found;
      std::string country = loc_network_get_country_code(network);
      loc_as* as = nullptr;
      uint32_t asn = loc_network_get_asn(network);
      if (asn != 0 && loc_database_get_as(db, &as, asn) == 0 && as != nullptr) {
        std::string name = loc_as_get_name(as);
        benchmark::DoNotOptimize(name);
        loc_as_unref(as);
      }
      benchmark::DoNotOptimize(country);
      loc_network_unref(network);
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["found%"] =
      100.0 * static_cast<double>(found) / static_cast<double>(state.iterations());
  loc_database_unref(db);
  fclose(f);
  loc_unref(ctx);
}
BENCHMARK(BM_LiblocNativeV4);

// PostgreSQL with the same IPv4 networks, loaded once.
struct PgOwners {
  std::unique_ptr<testing::PostgresCluster> cluster;
  std::unique_ptr<pqxx::connection> conn;
  int backend_pid = 0;
};

// CPU seconds (user + system) used so far by process `pid`.
double ProcessCpuSeconds(int pid) {
  FILE* f = std::fopen(absl::StrCat("/proc/", pid, "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the ")" that ends the command name; utime and stime are the
  // 12th and 13th of them.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  unsigned long long utime = 0, stime = 0;
  std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime);
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

PgOwners& Pg() {
  static PgOwners* pg = [] {
    auto* out = new PgOwners();
    auto cluster = testing::PostgresCluster::Start();
    if (!cluster.ok()) {
      std::fprintf(stderr, "%s\n", cluster.status().ToString().c_str());
      std::abort();
    }
    out->cluster = *std::move(cluster);
    out->conn = std::make_unique<pqxx::connection>(out->cluster->ConnectionString("postgres"));
    // The test harness runs PostgreSQL at nice 19; give this backend the
    // same priority as the benchmark itself so the baseline is fair on a
    // busy machine.
    {
      pqxx::nontransaction txn(*out->conn);
      int backend = txn.exec1("SELECT pg_backend_pid()")[0].as<int>();
      setpriority(PRIO_PROCESS, static_cast<id_t>(backend), getpriority(PRIO_PROCESS, 0));
      out->backend_pid = backend;
    }
    absl::Time start = absl::Now();
    pqxx::work txn(*out->conn);
    txn.exec(R"sql(
CREATE TABLE owner_networks (network cidr NOT NULL, first_ip int8 NOT NULL, last_ip int8 NOT NULL,
                             asn bigint NOT NULL, as_name text NOT NULL, country text NOT NULL))sql");
    // Every IPv4 network of the database, through the same loader as the
    // in-process table.
    loc_ctx* ctx = nullptr;
    loc_new(&ctx);
    FILE* f = fopen(kDefaultLiblocDatabasePath, "r");
    loc_database* db = nullptr;
    loc_database_new(ctx, &db, f);
    loc_database_enumerator* e = nullptr;
    loc_database_enumerator_new(&e, db, LOC_DB_ENUMERATE_NETWORKS, 0);
    loc_database_enumerator_set_family(e, AF_INET);
    pqxx::stream_to stream(
        txn, "owner_networks",
        std::vector<std::string>{"network", "first_ip", "last_ip", "asn", "as_name", "country"});
    int64_t rows = 0;
    for (;;) {
      loc_network* n = nullptr;
      if (loc_database_enumerator_next_network(e, &n) != 0 || n == nullptr) break;
      auto net = IpNetwork::Parse(loc_network_str(n));
      if (net.ok() && net->address().is_v4()) {
        uint32_t asn = loc_network_get_asn(n);
        std::string name;
        loc_as* as = nullptr;
        if (asn != 0 && loc_database_get_as(db, &as, asn) == 0 && as != nullptr) {
          name = loc_as_get_name(as);
          loc_as_unref(as);
        }
        stream << std::make_tuple(net->ToString(), static_cast<int64_t>(net->address().v4()),
                                  static_cast<int64_t>(net->LastAddress().v4()),
                                  static_cast<int64_t>(asn), name,
                                  std::string(loc_network_get_country_code(n)));
        ++rows;
      }
      loc_network_unref(n);
    }
    stream.complete();
    loc_database_enumerator_unref(e);
    loc_database_unref(db);
    fclose(f);
    loc_unref(ctx);
    // The same data flattened into non-overlapping ranges, as our in-process
    // table holds it: one index probe per lookup, the best case for SQL.
    txn.exec(R"sql(
CREATE TABLE owner_ranges (first_ip int8 PRIMARY KEY, last_ip int8 NOT NULL, network cidr NOT NULL,
                           asn bigint NOT NULL, as_name text NOT NULL, country text NOT NULL))sql");
    {
      absl::Time built_at;
      auto table = LiblocOwnerDatabase::Load(kDefaultLiblocDatabasePath, &built_at);
      if (!table.ok()) std::abort();
      pqxx::stream_to ranges(
          txn, "owner_ranges",
          std::vector<std::string>{"first_ip", "last_ip", "network", "asn", "as_name", "country"});
      table->ForEachV4Range([&](uint32_t first, uint32_t last, const OwnerInfo& owner) {
        ranges << std::make_tuple(static_cast<int64_t>(first), static_cast<int64_t>(last),
                                  owner.network.ToString(), static_cast<int64_t>(owner.asn),
                                  owner.as_name, owner.country);
      });
      ranges.complete();
    }
    txn.exec("CREATE INDEX owner_networks_first ON owner_networks (first_ip)");
    txn.exec("CREATE INDEX owner_networks_gist ON owner_networks USING gist (network inet_ops)");
    txn.commit();
    pqxx::nontransaction(*out->conn).exec("VACUUM ANALYZE owner_networks");
    pqxx::nontransaction(*out->conn).exec("VACUUM ANALYZE owner_ranges");
    out->conn->prepare("ranges", R"sql(
SELECT asn, as_name, country FROM (
  SELECT * FROM owner_ranges WHERE first_ip <= $1 ORDER BY first_ip DESC LIMIT 1) r
 WHERE last_ip >= $1)sql");
    // Most specific network holding the address: networks nest, so among
    // those starting at or below it the longest prefix that still covers it.
    out->conn->prepare("btree", R"sql(
SELECT asn, as_name, country FROM owner_networks
 WHERE first_ip <= $1 AND first_ip >= $1 - 16777215 AND last_ip >= $1
 ORDER BY first_ip DESC, last_ip ASC LIMIT 1)sql");
    out->conn->prepare("gist", R"sql(
SELECT asn, as_name, country FROM owner_networks
 WHERE network >>= $1::inet ORDER BY masklen(network) DESC LIMIT 1)sql");
    std::fprintf(stderr, "loaded %lld IPv4 networks into PostgreSQL in %s\n",
                 static_cast<long long>(rows), absl::FormatDuration(absl::Now() - start).c_str());
    return out;
  }();
  return *pg;
}

void BM_PostgresFlatRangesV4(benchmark::State& state) {
  static const std::vector<IpAddress> ips = RandomV4();
  PgOwners& pg = Pg();
  pqxx::nontransaction txn(*pg.conn);
  size_t i = 0;
  int64_t found = 0;
  double server_cpu = ProcessCpuSeconds(pg.backend_pid);
  for (auto _ : state) {
    pqxx::result r =
        txn.exec_prepared("ranges", static_cast<int64_t>(ips[i++ & (kAddresses - 1)].v4()));
    found += !r.empty();
  }
  server_cpu = ProcessCpuSeconds(pg.backend_pid) - server_cpu;
  state.counters["server_cpu_us"] = 1e6 * server_cpu / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
  state.counters["found%"] =
      100.0 * static_cast<double>(found) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_PostgresFlatRangesV4)->MinTime(2.0)->UseRealTime();

void BM_PostgresBtreeV4(benchmark::State& state) {
  static const std::vector<IpAddress> ips = RandomV4();
  PgOwners& pg = Pg();
  pqxx::nontransaction txn(*pg.conn);
  size_t i = 0;
  int64_t found = 0;
  double server_cpu = ProcessCpuSeconds(pg.backend_pid);
  for (auto _ : state) {
    pqxx::result r =
        txn.exec_prepared("btree", static_cast<int64_t>(ips[i++ & (kAddresses - 1)].v4()));
    found += !r.empty();
  }
  server_cpu = ProcessCpuSeconds(pg.backend_pid) - server_cpu;
  state.counters["server_cpu_us"] = 1e6 * server_cpu / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
  state.counters["found%"] =
      100.0 * static_cast<double>(found) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_PostgresBtreeV4)->MinTime(2.0)->UseRealTime();

void BM_PostgresGistV4(benchmark::State& state) {
  static const std::vector<IpAddress> ips = RandomV4();
  PgOwners& pg = Pg();
  pqxx::nontransaction txn(*pg.conn);
  size_t i = 0;
  int64_t found = 0;
  double server_cpu = ProcessCpuSeconds(pg.backend_pid);
  for (auto _ : state) {
    pqxx::result r = txn.exec_prepared("gist", ips[i++ & (kAddresses - 1)].ToString());
    found += !r.empty();
  }
  server_cpu = ProcessCpuSeconds(pg.backend_pid) - server_cpu;
  state.counters["server_cpu_us"] = 1e6 * server_cpu / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations());
  state.counters["found%"] =
      100.0 * static_cast<double>(found) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_PostgresGistV4)->MinTime(2.0)->UseRealTime();

}  // namespace
}  // namespace egress

BENCHMARK_MAIN();
