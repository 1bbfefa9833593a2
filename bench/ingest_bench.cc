// Ingest throughput: simulated agents stream batches to a real egress-service
// (in process, real gRPC) backed by a real PostgreSQL with fsync on; the same
// rows are then written with binary COPY into a table of the same shape over
// the same number of connections, as the baseline ceiling.
//
// --window: batches an agent keeps unacknowledged (the agent's default is
// 16; 1 is stop-and-wait). --enrichment=on runs the service with the
// enrichment worker (PTR from a local dnsmasq, owner from a small libloc
// database) woken by ingest; "both" measures off then on, each on a fresh
// database of the same cluster, in the same run (off, on, off again).
//
//   ingest_bench [--streams=2] [--batches=30] [--records=2000] [--new_fraction=0.1]
//                [--window=1] [--enrichment=off|on|both] [--compare_abuse_index]
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "common/command_line.h"
#include "common/log.h"
#include "egress/v1/accounts.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "pqxx/pqxx"
#include "service/enrichment/enrichment.h"
#include "service/server.h"
#include "service/storage/migrations.h"
#include "tests/enrichment/dns_test_server.h"
#include "tests/enrichment/libloc_test_database.h"
#include "tests/support/agent_client.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/test_tokens.h"

ABSL_FLAG(int, streams, 2, "Simulated agents (one node each), and COPY connections.");
ABSL_FLAG(int, batches, 30, "Timed batches per agent.");
ABSL_FLAG(int, records, 2000, "Records per batch.");
ABSL_FLAG(int, accounts, 50, "Accounts per node.");
ABSL_FLAG(int, destinations, 200, "Destinations per account known before the timed phase.");
ABSL_FLAG(double, new_fraction, 0.1, "Share of records that create a new key.");
ABSL_FLAG(double, rate, 0,
          "Rows per second offered by all agents together (open loop, each agent sends on "
          "schedule within its window); 0: as fast as acks allow.");
ABSL_FLAG(int, writers, 2, "Group commits running at once in the service.");
ABSL_FLAG(int, group_records, 50000, "Records a group commit takes at most.");
ABSL_FLAG(bool, journal, true,
          "Journal mode (the service's default): acks after the journal append, folds every "
          "--fold_interval; the run also reports the rate until everything is folded.");
ABSL_FLAG(absl::Duration, fold_interval, absl::Milliseconds(250), "--ingest-fold-interval.");
ABSL_FLAG(int, journal_shards, egress::kJournalShards,
          "Journal shards (the service's: kJournalShards; 2 folds a flood of new keys faster).");
ABSL_FLAG(int, window, 1, "Batches each agent keeps unacknowledged (the agent's default: 16).");
ABSL_FLAG(bool, compare_abuse_index, false,
          "Also measure ingest without connection_daily's (ip, day) index (the abuse desk's "
          "search index, migration 0007), on a fresh database in the same run.");
ABSL_FLAG(std::string, enrichment, "off",
          "off, on (enrichment worker running, woken by ingest) or both (off, then on).");

namespace egress {
namespace {

namespace v1 = ::egress::v1;
using ::egress::testing::AgentClient;

struct Row {
  std::string account;
  IpAddress ip;
  uint16_t port;
};

// One agent's key mix: known keys (updated) and fresh ones (inserted).
class KeyMix {
 public:
  KeyMix(int node, int accounts, int destinations) : node_(node), rng_(node + 1) {
    accounts_ = accounts;
    destinations_ = destinations;
  }
  Row Known() {
    std::uniform_int_distribution<int> account(0, accounts_ - 1), dest(0, destinations_ - 1);
    return Make(account(rng_), dest(rng_));
  }
  Row Fresh() {
    const uint64_t n = next_fresh_++;
    return Make(static_cast<int>(n % accounts_), destinations_ + static_cast<int>(n / accounts_));
  }
  Row Make(int account, int destination) const {
    const uint32_t ip = (uint32_t{100} << 24) | (static_cast<uint32_t>(node_) << 16) |
                        static_cast<uint32_t>(destination);
    return Row{absl::StrCat("n", node_, "-a", account), IpAddress::FromV4(ip), 443};
  }
  int accounts_ = 0;
  int destinations_ = 0;

 private:
  int node_;
  std::mt19937 rng_;
  uint64_t next_fresh_ = 0;
};

v1::ConnectionRecord ToRecord(const Row& row, uint32_t uid, absl::CivilDay day) {
  v1::ConnectionRecord record;
  record.set_uid(uid);
  record.mutable_day()->set_year(static_cast<int32_t>(day.year()));
  record.mutable_day()->set_month(day.month());
  record.mutable_day()->set_day(day.day());
  record.set_dst_ip(std::string(reinterpret_cast<const char*>(row.ip.bytes().data()), 4));
  record.set_protocol(v1::PROTOCOL_TCP);
  record.set_dst_port(row.port);
  record.set_action(v1::ACTION_ACCEPT);
  record.set_count(1);
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  record.mutable_first_seen()->set_seconds(now - 10);
  record.mutable_last_seen()->set_seconds(now);
  return record;
}

uint32_t UidOf(const std::string& account) {
  return 10000 + static_cast<uint32_t>(std::stoi(account.substr(account.rfind('a') + 1)));
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

// --- binary COPY baseline ---------------------------------------------------

void Put16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}
void Put32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}
void Put64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

// Rows in PostgreSQL's binary COPY format (text, date, inet, int2, int4, int2,
// int8, timestamptz, timestamptz).
std::string BinaryCopy(const std::vector<Row>& rows, absl::CivilDay day) {
  std::string out("PGCOPY\n\377\r\n\0", 11);
  Put32(&out, 0);
  Put32(&out, 0);
  const int32_t pg_day = static_cast<int32_t>(day - absl::CivilDay(2000, 1, 1));
  const int64_t pg_now = absl::ToUnixMicros(absl::Now()) -
                         absl::ToUnixMicros(absl::FromCivil(absl::CivilSecond(2000, 1, 1, 0, 0, 0),
                                                            absl::UTCTimeZone()));
  for (const Row& row : rows) {
    Put16(&out, 9);
    Put32(&out, static_cast<uint32_t>(row.account.size()));
    out += row.account;
    Put32(&out, 4);
    Put32(&out, static_cast<uint32_t>(pg_day));
    Put32(&out, 8);  // inet: family, bits, is_cidr, length, address
    out.push_back(2);
    out.push_back(32);
    out.push_back(0);
    out.push_back(4);
    out.append(reinterpret_cast<const char*>(row.ip.bytes().data()), 4);
    Put32(&out, 2);
    Put16(&out, 6);
    Put32(&out, 4);
    Put32(&out, row.port);
    Put32(&out, 2);
    Put16(&out, 1);
    Put32(&out, 8);
    Put64(&out, 1);
    Put32(&out, 8);
    Put64(&out, static_cast<uint64_t>(pg_now));
    Put32(&out, 8);
    Put64(&out, static_cast<uint64_t>(pg_now));
  }
  Put16(&out, 0xffff);
  return out;
}

bool CopyIn(const std::string& conninfo, const std::string& data) {
  PGconn* connection = PQconnectdb(conninfo.c_str());
  bool ok = PQstatus(connection) == CONNECTION_OK;
  if (ok) {
    PGresult* start = PQexec(connection, "COPY copy_target FROM STDIN (FORMAT binary)");
    ok = PQresultStatus(start) == PGRES_COPY_IN;
    PQclear(start);
    for (size_t at = 0; ok && at < data.size(); at += 1 << 20) {
      const size_t n = std::min<size_t>(1 << 20, data.size() - at);
      ok = PQputCopyData(connection, data.data() + at, static_cast<int>(n)) == 1;
    }
    ok = ok && PQputCopyEnd(connection, nullptr) == 1;
    PGresult* end = PQgetResult(connection);
    if (PQresultStatus(end) != PGRES_COMMAND_OK) {
      fprintf(stderr, "COPY failed: %s\n", PQerrorMessage(connection));
      ok = false;
    }
    PQclear(end);
  }
  PQfinish(connection);
  return ok;
}

struct IngestResult {
  double rows_per_second = 0;
  // Journal mode: records over the time until the journal was empty again
  // (the panel shows them all), and how long that took after the last ack.
  double folded_rows_per_second = 0;
  double fold_lag_ms = 0;
  uint64_t timed_records = 0;
  std::vector<double> latencies;
  CollectorStats collector;
  EnrichmentStats enrichment;
};

// One timed ingest run on a fresh database (`enrichment` may be null);
// `without_abuse_index` drops the abuse desk's (ip, day) index first.
IngestResult MeasureIngest(const std::string& conninfo, Enrichment* enrichment,
                           bool without_abuse_index = false) {
  const int streams = absl::GetFlag(FLAGS_streams);
  const int batches = absl::GetFlag(FLAGS_batches);
  const int records = absl::GetFlag(FLAGS_records);
  const int accounts = absl::GetFlag(FLAGS_accounts);
  const int destinations = absl::GetFlag(FLAGS_destinations);
  const double new_fraction = absl::GetFlag(FLAGS_new_fraction);
  const size_t window = static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_window)));

  DatabaseOptions db_options;
  db_options.conninfo = conninfo;
  db_options.pool_size = 16;
  auto database = *Database::Connect(db_options);
  if (!ApplyMigrations(*database, EmbeddedMigrations()).ok()) std::abort();
  if (without_abuse_index) {
    pqxx::connection connection(conninfo);
    pqxx::nontransaction(connection).exec("DROP INDEX connection_daily_ip_day");
  }
  ServerOptions server_options;
  server_options.listen_address = "127.0.0.1:0";
  server_options.ingest_writers = absl::GetFlag(FLAGS_writers);
  server_options.ingest_group_records = absl::GetFlag(FLAGS_group_records);
  if (absl::GetFlag(FLAGS_journal)) {
    server_options.ingest_mode = IngestMode::kJournal;
    server_options.ingest_fold_interval = absl::GetFlag(FLAGS_fold_interval);
    server_options.ingest_journal_shards = absl::GetFlag(FLAGS_journal_shards);
  }
  ServerDependencies deps{database.get(), &testing::TestSigner(), enrichment};
  auto server = *EgressServer::Start(server_options, deps);
  auto channel = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());
  auto admin = v1::AccountsService::NewStub(channel);
  for (int n = 0; n < streams; ++n) {
    v1::UpsertNodeRequest node;
    node.mutable_node()->set_node_id(absl::StrCat("n", n));
    v1::Node node_out;
    grpc::ClientContext context;
    testing::Authorize(&context, testing::AdminToken());
    admin->UpsertNode(&context, node, &node_out);
    for (int a = 0; a < accounts; ++a) {
      v1::UpsertAccountRequest account;
      account.mutable_account()->set_account_id(absl::StrCat("n", n, "-a", a));
      account.mutable_account()->set_node_id(absl::StrCat("n", n));
      account.mutable_account()->set_uid(10000 + a);
      v1::Account out;
      grpc::ClientContext account_context;
      testing::Authorize(&account_context, testing::AdminToken());
      admin->UpsertAccount(&account_context, account, &out);
    }
  }
  const absl::CivilDay today = DayOf(absl::Now(), absl::UTCTimeZone());

  std::vector<std::vector<double>> latencies(streams);
  std::atomic<uint64_t> timed_records{0};
  absl::Time timed_start, timed_end;
  std::atomic<int> warm{0};
  absl::Mutex phase_mutex;
  std::vector<std::thread> agents;
  for (int n = 0; n < streams; ++n) {
    agents.emplace_back([&, n] {
      KeyMix mix(n, accounts, destinations);
      AgentClient agent(channel, testing::NodeToken(absl::StrCat("n", n)));
      agent.SendHello(absl::StrCat("n", n));
      agent.NextOfKind(v1::ServiceMessage::kWelcome);
      uint64_t seq = 0;
      // Warm-up: every known key exists today.
      std::vector<Row> all;
      for (int a = 0; a < accounts; ++a) {
        for (int d = 0; d < destinations; ++d) all.push_back(mix.Make(a, d));
      }
      for (size_t at = 0; at < all.size(); at += records) {
        v1::AgentMessage message;
        message.mutable_batch()->set_seq(++seq);
        for (size_t i = at; i < std::min(all.size(), at + records); ++i) {
          *message.mutable_batch()->add_records() = ToRecord(all[i], UidOf(all[i].account), today);
        }
        agent.Send(message);
        agent.NextOfKind(v1::ServiceMessage::kAck, absl::Seconds(60));
      }
      // The timed batches are made before the clock starts, as the baseline
      // encodes its rows before its COPY: real agents build their batches on
      // their own nodes, not on the service's cores.
      std::vector<v1::AgentMessage> timed(batches);
      for (int b = 0; b < batches; ++b) {
        v1::RecordBatch* batch = timed[b].mutable_batch();
        batch->set_seq(seq + 1 + b);
        std::bernoulli_distribution fresh(new_fraction);
        std::mt19937 rng(static_cast<unsigned>(batch->seq() * 7 + n));
        for (int r = 0; r < records; ++r) {
          Row row = fresh(rng) ? mix.Fresh() : mix.Known();
          *batch->add_records() = ToRecord(row, UidOf(row.account), today);
        }
      }
      ++warm;
      while (warm.load() < streams) absl::SleepFor(absl::Milliseconds(5));
      {
        absl::MutexLock lock(&phase_mutex);
        if (timed_start == absl::Time()) timed_start = absl::Now();
      }
      // Up to `window` batches unacknowledged, as the agent sends them.
      std::map<uint64_t, absl::Time> sent_at;
      int sent = 0;
      const double rate = absl::GetFlag(FLAGS_rate);
      const absl::Duration interval =
          rate > 0 ? absl::Seconds(static_cast<double>(records) * streams / rate)
                   : absl::ZeroDuration();
      absl::Time next_send = absl::Now();
      while (sent < batches || !sent_at.empty()) {
        while (sent < batches && sent_at.size() < window && absl::Now() >= next_send) {
          const v1::AgentMessage& message = timed[sent];
          sent_at[message.batch().seq()] = absl::Now();
          agent.Send(message);
          ++sent;
          next_send += interval;
        }
        // Wait for an ack, or until the next batch is due.
        const bool may_send = sent < batches && sent_at.size() < window;
        const absl::Duration until_due = std::max(absl::ZeroDuration(), next_send - absl::Now());
        if (sent_at.empty()) {
          absl::SleepFor(until_due);
          continue;
        }
        std::optional<v1::ServiceMessage> ack =
            agent.NextOfKind(v1::ServiceMessage::kAck, may_send ? until_due : absl::Seconds(60));
        if (!ack.has_value()) {
          if (may_send) continue;
          fprintf(stderr, "agent n%d: no ack\n", n);
          break;
        }
        auto it = sent_at.find(ack->ack().seq());
        if (it == sent_at.end()) continue;
        latencies[n].push_back(absl::ToDoubleMilliseconds(absl::Now() - it->second));
        sent_at.erase(it);
        timed_records += records;
      }
      absl::MutexLock lock(&phase_mutex);
      timed_end = std::max(timed_end, absl::Now());
    });
  }
  for (auto& agent : agents) agent.join();
  IngestResult result;
  if (absl::GetFlag(FLAGS_journal)) {
    pqxx::connection connection(conninfo);
    pqxx::nontransaction work(connection);
    while (work.exec("SELECT count(*) FROM ingest_journal")[0][0].as<int64_t>() > 0) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    const absl::Time folded = absl::Now();
    result.folded_rows_per_second =
        static_cast<double>(timed_records) / absl::ToDoubleSeconds(folded - timed_start);
    result.fold_lag_ms = absl::ToDoubleMilliseconds(folded - timed_end);
  }
  result.timed_records = timed_records;
  result.rows_per_second =
      static_cast<double>(timed_records) / absl::ToDoubleSeconds(timed_end - timed_start);
  for (auto& l : latencies) {
    result.latencies.insert(result.latencies.end(), l.begin(), l.end());
  }
  result.collector = server->collector().stats();
  if (enrichment != nullptr) result.enrichment = enrichment->worker().stats();
  server->Shutdown(absl::Now());
  return result;
}

void PrintIngest(const char* name, const IngestResult& result) {
  printf("  %-44s %12.0f rows/s   ack p50 %.1f / p99 %.1f ms (n=%zu)\n", name,
         result.rows_per_second, Percentile(result.latencies, 0.5),
         Percentile(result.latencies, 0.99), result.latencies.size());
  if (result.folded_rows_per_second > 0) {
    printf("  %-44s %12.0f rows/s   until all folded (%.0f ms after the last ack)\n", "",
           result.folded_rows_per_second, result.fold_lag_ms);
  }
  const IngestCommitterStats& commits = result.collector.commits;
  printf("  %-44s %llu batches in %llu group commits (largest %llu)\n", "",
         static_cast<unsigned long long>(commits.batches),
         static_cast<unsigned long long>(commits.groups),
         static_cast<unsigned long long>(commits.largest_group));
}

int Run() {
  if (getenv("EGRESS_BENCH_DEBUG")) SetMinLogLevel(LogLevel::kDebug);
  const int streams = absl::GetFlag(FLAGS_streams);
  const int batches = absl::GetFlag(FLAGS_batches);
  const int records = absl::GetFlag(FLAGS_records);
  const int accounts = absl::GetFlag(FLAGS_accounts);
  const int destinations = absl::GetFlag(FLAGS_destinations);
  const double new_fraction = absl::GetFlag(FLAGS_new_fraction);
  const std::string enrichment_mode = absl::GetFlag(FLAGS_enrichment);
  if (enrichment_mode != "off" && enrichment_mode != "on" && enrichment_mode != "both") {
    fprintf(stderr, "--enrichment: off, on or both\n");
    return 2;
  }

  testing::PostgresClusterOptions cluster_options;
  cluster_options.durable = true;
  auto cluster = *testing::PostgresCluster::Start(cluster_options);

  std::vector<std::pair<std::string, IngestResult>> runs;
  if (enrichment_mode != "on") {
    if (!cluster->CreateDatabase("bench_off").ok()) return 1;
    runs.emplace_back("egress ingest (gRPC stream -> group commit)",
                      MeasureIngest(cluster->ConnectionString("bench_off"), nullptr));
  }
  if (enrichment_mode != "off") {
    // A DNS server with PTR records for half of the destinations (each
    // forward-confirmed), NXDOMAIN for the rest; owner data for all.
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / absl::StrCat("egress-ingest-bench-", getpid());
    std::filesystem::create_directories(dir);
    const std::string location = (dir / "location.db").string();
    if (!testing::WriteLiblocDatabase(location, {{"100.0.0.0/8", 64500, "NL"}},
                                      {{64500, "Bench Networks B.V."}})
             .ok()) {
      return 1;
    }
    std::vector<std::string> dns_records;
    for (int n = 0; n < streams; ++n) {
      for (int d = 0; d < 1024; d += 2) {
        const std::string ip = absl::StrCat("100.", n, ".", d >> 8, ".", d & 255);
        const std::string name = absl::StrCat("h", d, ".n", n, ".example.test");
        dns_records.push_back(
            absl::StrCat("ptr-record=", d & 255, ".", d >> 8, ".", n, ".100.in-addr.arpa,", name));
        dns_records.push_back(absl::StrCat("host-record=", name, ",", ip));
      }
    }
    auto dns = testing::Dnsmasq::Start(dns_records);
    if (!dns.ok()) {
      fprintf(stderr, "dnsmasq: %s\n", dns.status().ToString().c_str());
      return 1;
    }
    if (!cluster->CreateDatabase("bench_on").ok()) return 1;
    const std::string conninfo = cluster->ConnectionString("bench_on");
    DatabaseOptions db_options;
    db_options.conninfo = conninfo;
    auto enrichment_database = *Database::Connect(db_options);
    if (!ApplyMigrations(*enrichment_database, EmbeddedMigrations()).ok()) return 1;
    EnrichmentOptions options;
    options.owner_database_path = location;
    options.resolvers = {(*dns)->address()};
    options.resolver_timeout = absl::Milliseconds(500);
    auto enrichment = Enrichment::Create(options, enrichment_database.get());
    if (!enrichment.ok()) {
      fprintf(stderr, "enrichment: %s\n", enrichment.status().ToString().c_str());
      return 1;
    }
    (*enrichment)->worker().Start();
    runs.emplace_back("egress ingest, enrichment on", MeasureIngest(conninfo, enrichment->get()));
    enrichment->reset();
    std::filesystem::remove_all(dir);
  }
  if (enrichment_mode == "both") {
    // Off again: a later run on the same cluster tends to be faster (WAL
    // segments recycled, caches warm), so "on" is compared with both.
    if (!cluster->CreateDatabase("bench_off2").ok()) return 1;
    runs.emplace_back("egress ingest, enrichment off again",
                      MeasureIngest(cluster->ConnectionString("bench_off2"), nullptr));
  }
  if (absl::GetFlag(FLAGS_compare_abuse_index)) {
    if (!cluster->CreateDatabase("bench_no_abuse_index").ok()) return 1;
    runs.emplace_back("egress ingest without the (ip, day) index",
                      MeasureIngest(cluster->ConnectionString("bench_no_abuse_index"), nullptr,
                                    /*without_abuse_index=*/true));
    // With it again: later runs on the same cluster tend to be faster (WAL
    // recycled, caches warm), so "without" is compared with both.
    if (!cluster->CreateDatabase("bench_abuse_index_again").ok()) return 1;
    runs.emplace_back("egress ingest with the index again",
                      MeasureIngest(cluster->ConnectionString("bench_abuse_index_again"), nullptr));
  }
  const uint64_t timed_records = runs.back().second.timed_records;
  const std::string conninfo =
      cluster->ConnectionString(enrichment_mode == "on" ? "bench_on" : "bench_off");
  const absl::CivilDay today = DayOf(absl::Now(), absl::UTCTimeZone());

  // Baseline: the same number of rows, binary COPY, same connections.
  {
    pqxx::connection connection(conninfo);
    pqxx::nontransaction work(connection);
    work.exec(
        "CREATE TABLE copy_target (LIKE connection_daily INCLUDING DEFAULTS INCLUDING "
        "CONSTRAINTS, PRIMARY KEY (account_id, day, ip, protocol, port, action)) "
        "WITH (fillfactor = 50)");
  }
  const uint64_t total = timed_records;
  std::vector<std::string> payloads(streams);
  for (int n = 0; n < streams; ++n) {
    std::vector<Row> rows;
    KeyMix mix(n + 100, accounts, destinations);
    for (uint64_t i = 0; i < total / streams; ++i) {
      Row row = mix.Make(static_cast<int>(i % accounts), static_cast<int>(i / accounts));
      row.port = static_cast<uint16_t>(1 + (i / accounts) / 60000);
      rows.push_back(row);
    }
    payloads[n] = BinaryCopy(rows, today);
  }
  const absl::Time copy_start = absl::Now();
  std::vector<std::thread> copiers;
  std::atomic<bool> copy_ok{true};
  for (int n = 0; n < streams; ++n) {
    copiers.emplace_back([&, n] {
      if (!CopyIn(conninfo, payloads[n])) copy_ok = false;
    });
  }
  for (auto& copier : copiers) copier.join();
  const double copy = static_cast<double>(total / streams * streams) /
                      absl::ToDoubleSeconds(absl::Now() - copy_start);

  printf(
      "ingest_bench: %d streams x %d batches x %d records, window %d, %d writers, %s, offered "
      "%s, %.0f%% new keys, fsync on\n",
      streams, batches, records, absl::GetFlag(FLAGS_window), absl::GetFlag(FLAGS_writers),
      absl::GetFlag(FLAGS_journal)
          ? absl::StrCat("journal (", absl::GetFlag(FLAGS_journal_shards), " shards) folded every ",
                         absl::FormatDuration(absl::GetFlag(FLAGS_fold_interval)))
                .c_str()
          : "direct",
      absl::GetFlag(FLAGS_rate) > 0 ? absl::StrCat(absl::GetFlag(FLAGS_rate), " rows/s").c_str()
                                    : "as fast as acked",
      new_fraction * 100);
  for (const auto& [name, result] : runs) {
    PrintIngest(name.c_str(), result);
    printf("  %-44s ratio to COPY: %.2f", "", result.rows_per_second / copy);
    if (result.folded_rows_per_second > 0) {
      printf(" (until all folded: %.2f)", result.folded_rows_per_second / copy);
    }
    printf("\n");
    if (name.find("enrichment on") != std::string::npos) {
      printf("  %-44s enrichment: %llu looked up, %llu PTR found, %llu owner found\n", "",
             static_cast<unsigned long long>(result.enrichment.looked_up),
             static_cast<unsigned long long>(result.enrichment.ptr_found),
             static_cast<unsigned long long>(result.enrichment.owner_found));
    }
  }
  printf("  %-44s %12.0f rows/s%s\n", "baseline: binary COPY, same rows", copy,
         copy_ok ? "" : "  (COPY FAILED)");
  if (absl::GetFlag(FLAGS_compare_abuse_index) && runs.size() >= 3) {
    const auto& with_before = runs[runs.size() - 3].second;
    const auto& without = runs[runs.size() - 2].second;
    const auto& with_after = runs.back().second;
    printf("  with the (ip, day) index / without, acked: %.3f, until all folded: %.3f\n",
           (with_before.rows_per_second + with_after.rows_per_second) / 2 / without.rows_per_second,
           (with_before.folded_rows_per_second + with_after.folded_rows_per_second) / 2 /
               without.folded_rows_per_second);
  }
  if (runs.size() == 3 && enrichment_mode == "both") {
    printf("  enrichment on / mean of the off runs before and after: %.3f\n",
           runs[1].second.rows_per_second /
               ((runs[0].second.rows_per_second + runs[2].second.rows_per_second) / 2));
  }
  return copy_ok ? 0 : 1;
}

}  // namespace
}  // namespace egress

int main(int argc, char** argv) {
  egress::ParseCommandLine(argc, argv, "Ingest throughput vs binary COPY (see bench/README.md).");
  return egress::Run();
}
