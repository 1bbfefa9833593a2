// PgCollectorStore in journal mode against a real PostgreSQL: an
// acknowledged group is one durable journal entry, and folding the journal
// leaves connection_daily and account_day_totals exactly as direct commits
// of the same batches would, whatever the fold sizes, replays, concurrent
// folders, or failed folds in between.
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/storage/pg_collector_store.h"
#include "tests/support/ingest_batches.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::DumpAllTables;
using ::egress::testing::FreshDatabase;

const absl::CivilDay kDay = ::egress::testing::kIngestTestDay;
using ::egress::testing::Batch;
using ::egress::testing::Record;

// What ingest leaves behind, for comparing two databases: the aggregates,
// the totals with their row counts, the queued destinations and sequences.
constexpr char kOutcomeSql[] = R"sql(
SELECT string_agg(t, E'\n' ORDER BY t) FROM (
  SELECT format('row %s %s %s %s %s %s %s %s %s', account_id, day, ip, protocol, port, action,
                count, first_seen, last_seen) AS t FROM connection_daily
  UNION ALL
  SELECT format('total %s %s %s %s %s %s', account_id, day, accepted, rejected, accepted_rows,
                rejected_rows) FROM account_day_totals
  UNION ALL SELECT format('ip %s', ip) FROM ip_info
  UNION ALL SELECT format('seq %s %s', node_id, last_seq) FROM ingest_sequences
  UNION ALL SELECT format('loss %s %s %s %s', node_id, day, reason, events) FROM node_day_losses
) outcome)sql";

struct Db {
  std::string conninfo;
  std::unique_ptr<Database> database;
  std::unique_ptr<PgCollectorStore> store;

  int64_t Scalar(const std::string& sql) const {
    pqxx::connection connection(conninfo);
    pqxx::nontransaction work(connection);
    pqxx::result result = work.exec(sql);
    return result[0][0].is_null() ? 0 : result[0][0].as<int64_t>();
  }
  std::string Outcome() const {
    pqxx::connection connection(conninfo);
    pqxx::nontransaction work(connection);
    pqxx::result result = work.exec(kOutcomeSql);
    return result[0][0].is_null() ? "" : result[0][0].as<std::string>();
  }
};

// Two journal shards unless told: the service's kJournalShards may be one,
// and these tests are about sharding too.
Db OpenDb(IngestMode mode, int journal_shards = 2) {
  Db db;
  db.conninfo = FreshDatabase();
  DatabaseOptions options;
  options.conninfo = db.conninfo;
  options.pool_size = 4;
  db.database = *Database::Connect(options);
  db.store = std::make_unique<PgCollectorStore>(db.database.get(), mode, journal_shards);
  pqxx::connection connection(db.conninfo);
  pqxx::work work(connection);
  work.exec(R"sql(
    INSERT INTO nodes (node_id) VALUES ('n1'), ('n2');
    INSERT INTO accounts (account_id, node_id, uid)
    VALUES ('a1', 'n1', 1001), ('a2', 'n1', 1002), ('b1', 'n2', 1001);
    SELECT egress_ensure_partitions('2026-03-01', 1);
  )sql");
  work.commit();
  return db;
}

// Random batches of both nodes: recurring keys, both actions, IPv4 and IPv6,
// first/last seen spread out, a loss now and then.
std::vector<IngestBatch> RandomBatches(int per_node, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<IngestBatch> batches;
  for (int b = 1; b <= per_node; ++b) {
    for (const std::string node : {"n1", "n2"}) {
      std::vector<IngestRecord> records;
      const int n = std::uniform_int_distribution<int>(0, 40)(rng);
      for (int r = 0; r < n; ++r) {
        const std::string account =
            node == "n2" ? "b1" : (std::uniform_int_distribution<int>(0, 1)(rng) ? "a1" : "a2");
        const int host = std::uniform_int_distribution<int>(1, 30)(rng);
        const std::string ip =
            host % 7 == 0 ? absl::StrCat("2001:db8::", host) : absl::StrCat("198.51.100.", host);
        const Action action =
            std::uniform_int_distribution<int>(0, 1)(rng) ? Action::kAccept : Action::kReject;
        const int64_t seen = 1773100000 + std::uniform_int_distribution<int>(0, 80000)(rng);
        const absl::CivilDay day = kDay + std::uniform_int_distribution<int>(0, 2)(rng);
        records.push_back(
            Record(account, ip, std::uniform_int_distribution<int>(1, 50)(rng), action, seen, day));
      }
      IngestBatch batch = Batch(node, static_cast<uint64_t>(b), std::move(records));
      if (b % 9 == 0) batch.losses.push_back(IngestLoss{kDay, 1, 5, false});
      batches.push_back(std::move(batch));
    }
  }
  return batches;
}

// One fold of every shard, summed.
absl::StatusOr<JournalFold> FoldAllShards(PgCollectorStore& store, size_t max_records) {
  JournalFold sum;
  for (int shard = 0; shard < store.journal_shards(); ++shard) {
    absl::StatusOr<JournalFold> fold = store.FoldJournal(shard, max_records);
    if (!fold.ok()) return fold.status();
    sum.busy = sum.busy || fold->busy;
    sum.more = sum.more || fold->more;
    sum.entries += fold->entries;
    sum.records += fold->records;
    sum.rows += fold->rows;
  }
  return sum;
}

void FoldAll(PgCollectorStore& store, size_t max_records) {
  for (int i = 0; i < 10000; ++i) {
    absl::StatusOr<JournalFold> fold = FoldAllShards(store, max_records);
    ASSERT_TRUE(fold.ok()) << fold.status();
    if (!fold->busy && fold->entries == 0) return;
  }
  FAIL() << "the journal never emptied";
}

TEST(PgIngestJournalTest, AcknowledgedGroupIsOneEntryAndFoldMakesItVisible) {
  Db db = OpenDb(IngestMode::kJournal);
  IngestBatch b1 = Batch("n1", 1, {Record("a1", "192.0.2.1", 3), Record("a1", "192.0.2.1", 2)});
  IngestBatch b2 = Batch("n2", 1, {Record("b1", "192.0.2.9", 7, Action::kReject)});
  b2.losses.push_back(IngestLoss{kDay, 1, 4, false});
  ASSERT_OK_AND_ASSIGN(std::vector<CommitResult> results, db.store->CommitBatches({&b1, &b2}));
  EXPECT_FALSE(results[0].duplicate);

  // Durable and acknowledged, not yet in the aggregates; the sequence and
  // the loss are (the loss marks the day whatever the fold does).
  // One entry per shard with records: a1's (merged by key) and b1's.
  ASSERT_NE(JournalShardOf("a1", 2), JournalShardOf("b1", 2));
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM ingest_journal"), 2);
  EXPECT_EQ(db.Scalar("SELECT sum(records) FROM ingest_journal"), 2);
  EXPECT_EQ(db.Scalar(absl::StrCat("SELECT records FROM ingest_journal WHERE shard = ",
                                   JournalShardOf("a1", 2))),
            1);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM connection_daily"), 0);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM account_day_totals"), 0);
  EXPECT_EQ(db.Scalar("SELECT last_seq FROM ingest_sequences WHERE node_id = 'n2'"), 1);
  EXPECT_EQ(db.Scalar("SELECT events FROM node_day_losses"), 4);
  ASSERT_OK_AND_ASSIGN(JournalBacklog backlog, db.store->ReadJournalBacklog());
  EXPECT_EQ(backlog.entries, 2u);
  EXPECT_EQ(backlog.records, 2u);

  ASSERT_OK_AND_ASSIGN(JournalFold fold, FoldAllShards(*db.store, 1000));
  EXPECT_FALSE(fold.busy);
  EXPECT_EQ(fold.entries, 2u);  // a1 and b1 are in different shards
  EXPECT_EQ(fold.records, 2u);
  EXPECT_EQ(fold.rows, 2u);
  EXPECT_FALSE(fold.more);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM ingest_journal"), 0);
  EXPECT_EQ(db.Scalar("SELECT count FROM connection_daily WHERE account_id = 'a1'"), 5);
  EXPECT_EQ(db.Scalar("SELECT rejected FROM account_day_totals WHERE account_id = 'b1'"), 7);
  EXPECT_EQ(db.Scalar("SELECT rejected_rows FROM account_day_totals WHERE account_id = 'b1'"), 1);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM ip_info"), 2);

  // A replay of an acknowledged batch: nothing journaled, nothing counted.
  ASSERT_OK_AND_ASSIGN(results, db.store->CommitBatches({&b1}));
  EXPECT_TRUE(results[0].duplicate);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM ingest_journal"), 0);
  ASSERT_OK_AND_ASSIGN(fold, FoldAllShards(*db.store, 1000));
  EXPECT_EQ(fold.entries, 0u);
  EXPECT_EQ(db.Scalar("SELECT count FROM connection_daily WHERE account_id = 'a1'"), 5);
}

// The journal's outcome equals direct commits' exactly, for every fold size:
// counts, first/last seen, totals, row counts, queued IPs, sequences.
TEST(PgIngestJournalTest, FoldedOutcomeEqualsDirectCommitsForEveryFoldSize) {
  const std::vector<IngestBatch> batches = RandomBatches(30, 7);
  Db direct = OpenDb(IngestMode::kDirect);
  for (const IngestBatch& batch : batches) ASSERT_OK(direct.store->CommitBatch(batch).status());
  const std::string want = direct.Outcome();
  ASSERT_GT(direct.Scalar("SELECT count(*) FROM connection_daily"), 100);

  for (size_t max_records : {size_t{1}, size_t{50}, size_t{100000}}) {
    SCOPED_TRACE(absl::StrCat("max_records ", max_records));
    Db journal = OpenDb(IngestMode::kJournal);
    // Groups of 1..4 batches, folds in between now and then, replays of
    // already acknowledged batches mixed in.
    std::mt19937 rng(static_cast<unsigned>(max_records));
    size_t at = 0;
    while (at < batches.size()) {
      const size_t n = std::min(batches.size() - at,
                                static_cast<size_t>(std::uniform_int_distribution<int>(1, 4)(rng)));
      std::vector<const IngestBatch*> group;
      for (size_t i = at; i < at + n; ++i) group.push_back(&batches[i]);
      if (at >= 2) group.push_back(&batches[at - 2]);  // a replay: duplicate
      ASSERT_OK(journal.store->CommitBatches(group).status());
      at += n;
      if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) {
        ASSERT_OK(FoldAllShards(*journal.store, max_records).status());
      }
    }
    FoldAll(*journal.store, max_records);
    EXPECT_EQ(journal.Scalar("SELECT count(*) FROM ingest_journal"), 0);
    EXPECT_EQ(journal.Outcome(), want);
  }
}

TEST(PgIngestJournalTest, FoldTakesTheShardsOldestEntriesUpToTheRecordLimit) {
  Db db = OpenDb(IngestMode::kJournal);
  const int a1 = static_cast<int>(JournalShardOf("a1", 2));
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    IngestBatch batch = Batch("n1", seq,
                              {Record("a1", absl::StrCat("192.0.2.", seq), 1),
                               Record("a1", "192.0.2.99", 1), Record("a2", "192.0.2.99", 1)});
    ASSERT_OK(db.store->CommitBatch(batch).status());
  }
  // a1's shard: 2 records per entry. A limit of 5 takes two entries, a
  // limit of 1 still takes one (an entry is never split); the other shard
  // is untouched.
  ASSERT_OK_AND_ASSIGN(JournalFold fold, db.store->FoldJournal(a1, 5));
  EXPECT_EQ(fold.entries, 2u);
  EXPECT_TRUE(fold.more);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM connection_daily WHERE ip = '192.0.2.1'"), 1);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM connection_daily WHERE ip = '192.0.2.3'"), 0);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM connection_daily WHERE account_id = 'a2'"), 0);
  ASSERT_OK_AND_ASSIGN(fold, db.store->FoldJournal(a1, 1));
  EXPECT_EQ(fold.entries, 1u);
  EXPECT_TRUE(fold.more);
  ASSERT_OK_AND_ASSIGN(fold, db.store->FoldJournal(a1, 100));
  EXPECT_EQ(fold.entries, 2u);
  EXPECT_FALSE(fold.more);
  EXPECT_EQ(db.Scalar("SELECT count FROM connection_daily WHERE ip = '192.0.2.99' AND "
                      "account_id = 'a1'"),
            5);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM ingest_journal"), 5);  // a2's
  EXPECT_EQ(db.store->FoldJournal(2, 100).status().code(), absl::StatusCode::kInvalidArgument);
}

// A fold that fails (here: an entry we never wrote) changes nothing: the
// entries before it stay too, and fold once it is gone.
TEST(PgIngestJournalTest, FailedFoldChangesNothing) {
  Db db = OpenDb(IngestMode::kJournal);
  IngestBatch batch = Batch("n1", 1, {Record("a1", "192.0.2.1", 3)});
  ASSERT_OK(db.store->CommitBatch(batch).status());
  {
    pqxx::connection connection(db.conninfo);
    pqxx::work work(connection);
    work.exec(absl::StrCat("INSERT INTO ingest_journal (shard, records, payload) VALUES (",
                           JournalShardOf("a1", 2), ", 1, '\\x0a0b0c'::bytea)"));
    work.commit();
  }
  const std::string before = DumpAllTables(db.conninfo);
  absl::StatusOr<JournalFold> fold = FoldAllShards(*db.store, 1000);
  EXPECT_EQ(fold.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(fold.status().message(), ::testing::HasSubstr("journal entry"));
  EXPECT_EQ(DumpAllTables(db.conninfo), before);

  db.Scalar("DELETE FROM ingest_journal WHERE records = 1 AND length(payload) = 3 RETURNING 1");
  FoldAll(*db.store, 1000);
  EXPECT_EQ(db.Scalar("SELECT count FROM connection_daily"), 3);
}

// A build with fewer shards (here the service's one) folds the entries a
// build with more left behind: its last shard takes the higher ones.
TEST(PgIngestJournalTest, FewerShardsFoldWhatMoreShardsWrote) {
  Db db = OpenDb(IngestMode::kJournal, 2);
  ASSERT_NE(JournalShardOf("a1", 2), JournalShardOf("b1", 2));
  ASSERT_OK(db.store->CommitBatch(Batch("n1", 1, {Record("a1", "192.0.2.1", 3)})).status());
  ASSERT_OK(db.store->CommitBatch(Batch("n2", 1, {Record("b1", "192.0.2.2", 4)})).status());
  EXPECT_EQ(db.Scalar("SELECT count(DISTINCT shard) FROM ingest_journal"), 2);
  PgCollectorStore one_shard(db.database.get(), IngestMode::kJournal, 1);
  ASSERT_EQ(one_shard.journal_shards(), 1);
  absl::StatusOr<JournalFold> fold = one_shard.FoldJournal(0, 1000);
  ASSERT_OK(fold.status());
  EXPECT_EQ(fold->entries, 2u);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM ingest_journal"), 0);
  EXPECT_EQ(db.Scalar("SELECT sum(count) FROM connection_daily"), 7);
}

// Entries that waited past their month's partition (retention dropped it, or
// a long outage) are not stuck: the month is made again.
TEST(PgIngestJournalTest, FoldMakesAMissingMonth) {
  Db db = OpenDb(IngestMode::kJournal);
  IngestBatch batch = Batch(
      "n1", 1,
      {Record("a1", "192.0.2.1", 3, Action::kAccept, 1773100000, absl::CivilDay(2026, 7, 4))});
  ASSERT_OK(db.store->CommitBatch(batch).status());
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM pg_class WHERE relname = 'connection_daily_202607'"),
            0);
  FoldAll(*db.store, 1000);
  EXPECT_EQ(db.Scalar("SELECT count FROM connection_daily WHERE day = '2026-07-04'"), 3);
}

// Two replicas' folders and writers at once: every record counted once.
TEST(PgIngestJournalTest, ConcurrentFoldersAndWritersCountEveryRecordOnce) {
  Db db = OpenDb(IngestMode::kJournal);
  DatabaseOptions options;
  options.conninfo = db.conninfo;
  options.pool_size = 4;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Database> other_database, Database::Connect(options));
  PgCollectorStore other(other_database.get(), IngestMode::kJournal);

  const std::vector<IngestBatch> batches = RandomBatches(60, 11);
  uint64_t want = 0;
  for (const IngestBatch& batch : batches) {
    for (const IngestRecord& record : batch.records) want += record.count;
  }
  std::atomic<bool> writing{true};
  std::atomic<uint64_t> busy{0};
  auto folder = [&](PgCollectorStore* store) {
    while (writing.load()) {
      absl::StatusOr<JournalFold> fold = FoldAllShards(*store, 200);
      ASSERT_TRUE(fold.ok()) << fold.status();
      if (fold->busy) ++busy;
    }
  };
  std::thread fold_a(folder, db.store.get());
  std::thread fold_b(folder, &other);
  // n1's batches through one store, n2's through the other.
  std::thread write_n2([&] {
    for (const IngestBatch& batch : batches) {
      if (batch.node_id == "n2") {
        ASSERT_OK(other.CommitBatch(batch).status());
      }
    }
  });
  for (const IngestBatch& batch : batches) {
    if (batch.node_id == "n1") {
      ASSERT_OK(db.store->CommitBatch(batch).status());
    }
  }
  write_n2.join();
  writing = false;
  fold_a.join();
  fold_b.join();
  FoldAll(*db.store, 200);
  EXPECT_EQ(db.Scalar("SELECT sum(count) FROM connection_daily"), static_cast<int64_t>(want));
  EXPECT_EQ(db.Scalar("SELECT sum(accepted + rejected) FROM account_day_totals"),
            static_cast<int64_t>(want));
  EXPECT_EQ(db.Scalar("SELECT sum(accepted_rows + rejected_rows) FROM account_day_totals"),
            db.Scalar("SELECT count(*) FROM connection_daily"));
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM ingest_journal"), 0);
}

}  // namespace
}  // namespace egress
