// Server-side latency of the panel's read queries on a large database:
// ListConnections (a 5,000-row day, page of 100: no filter, CIDR, text
// prefix, second page), ListDates and DailyCounts over 400 days, the abuse
// desk's FindConnections (/32 and /24 over 30 days), timed
// around the store calls the RPC handlers make (PgConnectionsStore), and one
// ListConnections through real gRPC (in-process server) for the whole path.
//
// Baselines in the same run, on the same data:
//  - ListDates computed from connection_daily (GROUP BY day) instead of the
//    per-(account, day) summary table;
//  - the bare top-100 of the day by count (one SELECT, no total, no ip_info,
//    no rule coverage): the floor of any ListConnections.
//
//   panel_queries_bench [--accounts=2000] [--days=400] [--rows_per_day=25]
//                       [--iterations=300]
// The defaults build 2,000 × 400 × 25 = 20M rows plus a heavy account
// (400 days × 200 rows and one 5,000-row day).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "common/command_line.h"
#include "egress/v1/connections.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "pqxx/pqxx"
#include "service/auth/authorizer.h"
#include "service/connections_service.h"
#include "service/storage/migrations.h"
#include "service/storage/pg_abuse_store.h"
#include "service/storage/pg_connections_store.h"
#include "service/storage/pg_rules_store.h"
#include "tests/support/postgres_cluster.h"

ABSL_FLAG(int, accounts, 2000, "Ordinary accounts.");
ABSL_FLAG(int, days, 400, "Days of data per account.");
ABSL_FLAG(int, rows_per_day, 25, "Rows per ordinary account and day.");
ABSL_FLAG(int, iterations, 300, "Timed calls per query.");
ABSL_FLAG(std::string, existing, "",
          "libpq conninfo of a database this bench built and holds (--hold) in another "
          "process: measure there instead of building one.");
ABSL_FLAG(absl::Duration, hold, absl::ZeroDuration(),
          "Keep the database up this long after the data is built (to inspect plans), then "
          "measure.");

namespace egress {
namespace {

namespace v1 = ::egress::v1;

constexpr char kSecret[] = "panel-queries-bench-secret-0123456789";

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

// Milliseconds of each of `iterations` calls (after 10 warm-up calls).
std::vector<double> Time(int iterations, const std::function<bool()>& call) {
  for (int i = 0; i < 10; ++i) call();
  std::vector<double> ms;
  ms.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    const absl::Time start = absl::Now();
    if (!call()) {
      std::fprintf(stderr, "call failed\n");
      return {};
    }
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
  }
  return ms;
}

void Report(const char* name, const std::vector<double>& ms) {
  std::printf("%-52s p50 %8.3f ms   p99 %8.3f ms\n", name, Percentile(ms, 0.5),
              Percentile(ms, 0.99));
}

// Says what the data build is doing every few seconds (rows loaded out of
// the total, rate, ETA; or how long the current step has run): the default
// build takes minutes, and a silent benchmark looks hung.
class BuildProgress {
 public:
  static constexpr absl::Duration kEvery = absl::Seconds(3);

  explicit BuildProgress(int64_t total_rows)
      : total_rows_(total_rows), start_(absl::Now()), thread_([this] { Loop(); }) {}
  ~BuildProgress() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  void AddRows(int64_t rows) { rows_ += rows; }
  // A step after the rows (or between them) with no count of its own.
  void Step(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    step_ = name;
    step_start_ = absl::Now();
    std::printf("[build] %s\n", name.c_str());
    std::fflush(stdout);
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!wake_.wait_for(lock, absl::ToChronoNanoseconds(kEvery), [this] { return stopping_; })) {
      const absl::Time now = absl::Now();
      if (!step_.empty()) {
        std::printf("[build] %s: %.0f s\n", step_.c_str(),
                    absl::ToDoubleSeconds(now - step_start_));
      } else {
        const int64_t rows = rows_.load();
        const double rate = rows / std::max(absl::ToDoubleSeconds(now - start_), 1e-3);
        const double eta = rate > 0 ? (total_rows_ - rows) / rate : 0;
        std::printf("[build] rows %lld / %lld (%.0f%%), %.0f rows/s, ETA %.0f s\n",
                    static_cast<long long>(rows), static_cast<long long>(total_rows_),
                    100.0 * rows / std::max<int64_t>(total_rows_, 1), rate, eta);
      }
      std::fflush(stdout);
    }
  }

  const int64_t total_rows_;
  const absl::Time start_;
  std::atomic<int64_t> rows_{0};
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::string step_;
  absl::Time step_start_;
  std::thread thread_;  // last: starts once the rest is initialised
};

void Exec(const std::string& conninfo, const std::string& sql) {
  pqxx::connection connection(conninfo);
  pqxx::work work(connection);
  work.exec(sql);
  work.commit();
}

int Run() {
  const int accounts = absl::GetFlag(FLAGS_accounts);
  const int days = absl::GetFlag(FLAGS_days);
  const int rows = absl::GetFlag(FLAGS_rows_per_day);
  const int iterations = absl::GetFlag(FLAGS_iterations);
  const std::string existing = absl::GetFlag(FLAGS_existing);
  std::unique_ptr<testing::PostgresCluster> cluster;
  if (existing.empty()) {
    cluster = *testing::PostgresCluster::Start();
    if (!cluster->CreateDatabase("bench").ok()) return 1;
  }
  const std::string conninfo = existing.empty() ? cluster->ConnectionString("bench") : existing;
  DatabaseOptions db_options;
  db_options.conninfo = conninfo;
  auto database = *Database::Connect(db_options);
  if (!ApplyMigrations(*database, EmbeddedMigrations()).ok()) return 1;

  const absl::CivilDay last_day(2026, 11, 26);
  const absl::CivilDay first_day = last_day - (days - 1);
  const std::string first = FormatDay(first_day);
  const std::string heavy_day = FormatDay(last_day - 3);
  const absl::Time build_start = absl::Now();
  if (existing.empty()) {
    const int64_t heavy_rows = static_cast<int64_t>(days) * 200 + 4800;
    BuildProgress progress(static_cast<int64_t>(accounts) * days * rows + heavy_rows);
    Exec(conninfo,
         absl::StrCat(
             "INSERT INTO nodes (node_id, server_ipv4) VALUES ('web-01', '198.51.100.10');"
             "INSERT INTO accounts (account_id, node_id, uid) "
             "SELECT 'acct-' || a, 'web-01', 10000 + a FROM generate_series(0, ",
             accounts - 1, ") a;",
             "INSERT INTO accounts (account_id, node_id, uid) VALUES ('heavy', 'web-01', 9);"
             "SELECT egress_ensure_partitions('",
             first, "', ", days / 28 + 2, ");"));
    // Ordinary accounts, loaded by two connections in parallel, in
    // statements of about 100,000 rows (a second or two each: the progress
    // lines move).
    const int chunk = std::max(1, 100000 / std::max(1, days * rows));
    auto load = [&](int from, int to) {
      for (int a = from; a < to; a += chunk) {
        Exec(conninfo,
             absl::StrCat(
                 "INSERT INTO connection_daily (account_id, day, ip, protocol, port, action, "
                 "count, first_seen, last_seen) "
                 "SELECT 'acct-' || a, '",
                 first,
                 "'::date + d, ('10.' || (a % 256) || '.' || (k / 256) || '.' || (k % 256))::inet, "
                 "6, 443, 1 + k % 2, 1 + (a * 7 + d * 13 + k * 31) % 1000, "
                 "('",
                 first, "'::date + d)::timestamptz, ('", first,
                 "'::date + d)::timestamptz + interval '1 hour' "
                 "FROM generate_series(",
                 a, ", ", std::min(a + chunk, to) - 1, ") a, generate_series(0, ", days - 1,
                 ") d, generate_series(0, ", rows - 1, ") k"));
        progress.AddRows(static_cast<int64_t>(std::min(a + chunk, to) - a) * days * rows);
      }
    };
    std::thread half([&] { load(0, accounts / 2); });
    load(accounts / 2, accounts);
    half.join();
    // The heavy account: every day 200 rows, one day 5,000.
    progress.Step("heavy account, per-day totals (one pass over every row), rules, ip_info");
    Exec(conninfo,
         absl::StrCat(
             "INSERT INTO connection_daily (account_id, day, ip, protocol, port, action, count, "
             "first_seen, last_seen) "
             "SELECT 'heavy', '",
             first,
             "'::date + d, ('10.' || (k / 65536) || '.' || (k / 256 % 256) || '.' || (k % "
             "256))::inet, "
             "CASE k % 3 WHEN 0 THEN 17 ELSE 6 END, 1 + k % 2000, 1 + k % 2, 1 + (k * 7919) % 500, "
             "('",
             first, "'::date + d)::timestamptz, ('", first,
             "'::date + d)::timestamptz + (k % 3600) * interval '1 second' "
             "FROM generate_series(0, ",
             days - 1,
             ") d, generate_series(0, 4999) k "
             "WHERE k < 200 OR '",
             first, "'::date + d = '", heavy_day, "';",
             // Totals and row counts per action, as ingest keeps them.
             "INSERT INTO account_day_totals (account_id, day, accepted, rejected, "
             "accepted_rows, rejected_rows) "
             "SELECT account_id, day, sum(count) FILTER (WHERE action = 1), "
             "coalesce(sum(count) FILTER (WHERE action = 2), 0), "
             "count(*) FILTER (WHERE action = 1), count(*) FILTER (WHERE action = 2) "
             "FROM connection_daily GROUP BY account_id, day;",
             "INSERT INTO block_rules (account_id, network, protocol, port, created_by) VALUES "
             "('heavy', '10.0.1.0/24', 6, 0, 'bench'), ('heavy', '10.0.0.7/32', 0, 0, 'bench');"
             "INSERT INTO ip_info (ip, status, ptr) SELECT ('10.0.0.' || k)::inet, 2, "
             "'host' || k || '.example.net' FROM generate_series(0, 255) k;"));
    // Accounts existed before the data: their egress address history
    // starts at -infinity, as migration 0007 does for existing accounts.
    Exec(conninfo,
         "UPDATE egress_account_address_log SET valid_from = '-infinity';"
         "UPDATE egress_node_address_log SET valid_from = '-infinity';");
    progress.Step("ANALYZE");
    Exec(conninfo, "ANALYZE");
  }
  const int64_t total_rows = [&] {
    pqxx::connection connection(conninfo);
    pqxx::nontransaction work(connection);
    return work.exec("SELECT count(*) FROM connection_daily")[0][0].as<int64_t>();
  }();
  std::printf("built %lld rows in %.0f s (%d accounts x %d days x %d rows + heavy account)\n",
              static_cast<long long>(total_rows), absl::ToDoubleSeconds(absl::Now() - build_start),
              accounts, days, rows);

  if (cluster != nullptr && absl::GetFlag(FLAGS_hold) > absl::ZeroDuration()) {
    std::printf("holding: psql -h %s -U postgres bench\n", cluster->socket_dir().c_str());
    std::fflush(stdout);
    absl::SleepFor(absl::GetFlag(FLAGS_hold));
  }
  PgConnectionsStore store(database.get());
  ConnectionQuery query;
  query.account_id = "heavy";
  query.day = last_day - 3;
  query.limit = 101;  // what the handler asks for a page of 100
  absl::StatusOr<ConnectionPage> check = store.ListConnections(query);
  if (!check.ok() || check->total_rows != 5000) {
    std::fprintf(stderr, "unexpected heavy day: %s\n", check.status().ToString().c_str());
    return 1;
  }
  std::printf("\n-- server side (store calls made by the handlers), %d calls each --\n",
              iterations);
  Report("ListConnections 5,000-row day, page 100",
         Time(iterations, [&] { return store.ListConnections(query).ok(); }));
  ConnectionQuery cidr = query;
  cidr.filter.kind = IpFilter::Kind::kNetwork;
  cidr.filter.network = *IpNetwork::Parse("10.0.1.0/24");
  Report("ListConnections + CIDR /24 filter",
         Time(iterations, [&] { return store.ListConnections(cidr).ok(); }));
  ConnectionQuery exact = query;
  exact.filter.kind = IpFilter::Kind::kNetwork;
  exact.filter.network = IpNetwork::Host(*IpAddress::Parse("10.0.1.7"));
  Report("ListConnections + exact IP filter",
         Time(iterations, [&] { return store.ListConnections(exact).ok(); }));
  ConnectionQuery prefix = query;
  prefix.filter.kind = IpFilter::Kind::kTextPrefix;
  prefix.filter.prefix = "10.0.1";
  Report("ListConnections + text prefix \"10.0.1\"",
         Time(iterations, [&] { return store.ListConnections(prefix).ok(); }));
  ConnectionQuery second = query;
  second.after = check->rows[99].cursor;
  second.known_total = check->total_rows;  // carried by the first page's token
  Report("ListConnections second page (keyset)",
         Time(iterations, [&] { return store.ListConnections(second).ok(); }));
  ConnectionQuery by_ip = query;
  by_ip.order = ConnectionOrder::kIp;
  by_ip.descending = false;
  Report("ListConnections ordered by IP",
         Time(iterations, [&] { return store.ListConnections(by_ip).ok(); }));
  Report("ListDates, 400 days (account_day_totals)",
         Time(iterations, [&] { return store.ListDates("heavy").ok(); }));
  Report("DailyCounts, 400 days (account_day_totals)",
         Time(iterations, [&] { return store.DailyCounts("heavy", first_day, last_day).ok(); }));
  Report("ListDates, ordinary account", Time(iterations, [&] {
           return store.ListDates(absl::StrCat("acct-", accounts / 3)).ok();
         }));

  // The abuse desk: who connected to a host / a network over 30 days.
  // Ordinary accounts a, a+256, ... share destinations 10.(a%256).0.k, so a
  // host is reached by ~accounts/256 accounts a day, a /24 by as many with
  // every row of their day.
  PgAbuseStore abuse(database.get());
  DestinationSearch host(IpNetwork::Host(*IpAddress::Parse("10.5.0.7")));
  host.first_day = last_day - 29;
  host.last_day = last_day;
  host.limit = 101;
  DestinationSearch network = host;
  network.destination = *IpNetwork::Parse("10.5.0.0/24");
  DestinationSearch from_address = network;
  from_address.egress_address = *IpAddress::Parse("198.51.100.10");
  {
    absl::StatusOr<std::vector<AbuseMatchRow>> found = abuse.FindConnections(network);
    uint64_t matched_rows = 0;
    if (found.ok()) {
      for (const AbuseMatchRow& row : *found) matched_rows += row.destinations;
    }
    if (!found.ok() || found->empty() || found->front().egress_addresses.empty()) {
      std::fprintf(stderr, "unexpected abuse search: %s\n", found.status().ToString().c_str());
      return 1;
    }
    std::printf("abuse search /24 over 30 days: %zu matches (page), %llu rows behind them\n",
                found->size(), static_cast<unsigned long long>(matched_rows));
  }
  Report("Abuse FindConnections /32, 30 days",
         Time(iterations, [&] { return abuse.FindConnections(host).ok(); }));
  Report("Abuse FindConnections /24, 30 days, page 100",
         Time(iterations, [&] { return abuse.FindConnections(network).ok(); }));
  Report("Abuse FindConnections /24, 30 days, egress address",
         Time(iterations, [&] { return abuse.FindConnections(from_address).ok(); }));

  std::printf("\n-- baselines, same data --\n");
  {
    pqxx::connection connection(conninfo);
    const std::string day = FormatDay(query.day);
    Report("bare top-100 SELECT of the day (no total/joins)", Time(iterations, [&] {
             pqxx::nontransaction work(connection);
             return work.exec_params(
                            "SELECT host(ip), protocol, port, action, count "
                            "FROM connection_daily WHERE account_id = $1 AND day = $2 "
                            "ORDER BY count DESC, ip, protocol, port, action LIMIT 101",
                            "heavy", day)
                        .size() == 101;
           }));
    Report("dates from connection_daily (GROUP BY day)", Time(std::max(10, iterations / 10), [&] {
             pqxx::nontransaction work(connection);
             return work.exec_params(
                            "SELECT day, sum(count) FILTER (WHERE action = 1), "
                            "sum(count) FILTER (WHERE action = 2) "
                            "FROM connection_daily WHERE account_id = $1 "
                            "GROUP BY day ORDER BY day DESC",
                            "heavy")
                        .size() == static_cast<size_t>(days);
           }));
    Report("bare SELECT of a /24's rows over 30 days (no grouping/history)", Time(iterations, [&] {
             pqxx::nontransaction work(connection);
             return !work.exec_params(
                             "SELECT account_id, day, action, count FROM "
                             "connection_daily WHERE ip <<= '10.5.0.0/24' AND day "
                             "BETWEEN $1::date AND $2::date",
                             FormatDay(network.first_day), FormatDay(network.last_day))
                         .empty();
           }));
  }

  // The whole path once more, through gRPC with a panel token.
  PgRulesStore rules(database.get());
  auto signer = *TokenSigner::Create(kSecret);
  Authorizer authorizer(signer.get());
  ConnectionsServiceImpl service(&store, &rules, &authorizer, absl::UTCTimeZone());
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  auto stub = v1::ConnectionsService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  const std::string token =
      *signer->Sign(Claims{"heavy", {Scope::kPanel}, absl::Now() + absl::Hours(1)});
  v1::ListConnectionsRequest request;
  request.set_account_id("heavy");
  request.mutable_date()->set_year(static_cast<int>(query.day.year()));
  request.mutable_date()->set_month(query.day.month());
  request.mutable_date()->set_day(query.day.day());
  std::printf("\n-- client side, real gRPC (token check, validation, proto) --\n");
  Report("ListConnections RPC, page 100", Time(iterations, [&] {
           grpc::ClientContext context;
           context.AddMetadata("authorization", "Bearer " + token);
           v1::ListConnectionsResponse response;
           return stub->ListConnections(&context, request, &response).ok() &&
                  response.connections_size() == 100;
         }));
  server->Shutdown();
  return 0;
}

}  // namespace
}  // namespace egress

int main(int argc, char** argv) {
  egress::ParseCommandLine(argc, argv, "Latency of the panel's read queries on a large database.");
  return egress::Run();
}
