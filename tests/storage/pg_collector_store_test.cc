// PgCollectorStore::CommitBatches against a real PostgreSQL: several nodes'
// batches merged into one transaction keep each batch's exactly-once
// semantics (duplicates write nothing, a failed group writes nothing, its
// replay commits once).
#include "service/storage/pg_collector_store.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
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

class PgCollectorStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = FreshDatabase();
    DatabaseOptions options;
    options.conninfo = conninfo_;
    options.pool_size = 4;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(options));
    store_ = std::make_unique<PgCollectorStore>(database_.get());
    pqxx::connection connection(conninfo_);
    pqxx::work work(connection);
    work.exec(R"sql(
      INSERT INTO nodes (node_id) VALUES ('n1'), ('n2');
      INSERT INTO accounts (account_id, node_id, uid)
      VALUES ('a1', 'n1', 1001), ('a2', 'n2', 1001);
      SELECT egress_ensure_partitions('2026-03-01', 1);
    )sql");
    work.commit();
  }

  int64_t Scalar(const std::string& sql) {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction work(connection);
    return work.exec(sql)[0][0].as<int64_t>();
  }

  int64_t Count(const std::string& account, const std::string& ip) {
    return Scalar("SELECT coalesce(sum(count), 0) FROM connection_daily WHERE account_id = '" +
                  account + "' AND ip = '" + ip + "'");
  }

  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<PgCollectorStore> store_;
};

TEST_F(PgCollectorStoreTest, TwoNodesBatchesMergeWithExactCountsTotalsAndSequences) {
  // The same key in two batches of n1, another node's batch in between.
  IngestBatch b1 =
      Batch("n1", 1, {Record("a1", "192.0.2.1", 3), Record("a1", "192.0.2.2", 1, Action::kReject)});
  IngestBatch b2 = Batch("n2", 1, {Record("a2", "192.0.2.1", 7)});
  IngestBatch b3 = Batch("n1", 2, {Record("a1", "192.0.2.1", 4, Action::kAccept, 1773100500)});
  b3.losses.push_back(IngestLoss{kDay, 1, 9});
  IngestBatch b4 = Batch("n1", 3, {});
  b4.losses.push_back(IngestLoss{kDay, 1, 1});
  ASSERT_OK_AND_ASSIGN(std::vector<CommitResult> results,
                       store_->CommitBatches({&b1, &b2, &b3, &b4}));
  ASSERT_EQ(results.size(), 4u);
  for (const CommitResult& result : results) EXPECT_FALSE(result.duplicate);
  EXPECT_EQ(results[0].previous_seq, 0u);
  EXPECT_EQ(results[1].previous_seq, 0u);
  EXPECT_EQ(results[2].previous_seq, 1u);
  EXPECT_EQ(results[3].previous_seq, 2u);

  EXPECT_EQ(Count("a1", "192.0.2.1"), 7);
  EXPECT_EQ(Count("a1", "192.0.2.2"), 1);
  EXPECT_EQ(Count("a2", "192.0.2.1"), 7);
  EXPECT_EQ(Scalar("SELECT count(*) FROM connection_daily"), 3);
  // first_seen of the earlier batch, last_seen of the later one.
  EXPECT_EQ(Scalar("SELECT extract(epoch FROM first_seen)::int8 FROM connection_daily "
                   "WHERE account_id = 'a1' AND ip = '192.0.2.1'"),
            1773100000);
  EXPECT_EQ(Scalar("SELECT extract(epoch FROM last_seen)::int8 FROM connection_daily "
                   "WHERE account_id = 'a1' AND ip = '192.0.2.1'"),
            1773100510);
  EXPECT_EQ(Scalar("SELECT accepted FROM account_day_totals WHERE account_id = 'a1'"), 7);
  EXPECT_EQ(Scalar("SELECT rejected FROM account_day_totals WHERE account_id = 'a1'"), 1);
  EXPECT_EQ(Scalar("SELECT accepted FROM account_day_totals WHERE account_id = 'a2'"), 7);
  EXPECT_EQ(Scalar("SELECT events FROM node_day_losses WHERE node_id = 'n1'"), 10);
  EXPECT_EQ(Scalar("SELECT last_seq FROM ingest_sequences WHERE node_id = 'n1'"), 3);
  EXPECT_EQ(Scalar("SELECT last_seq FROM ingest_sequences WHERE node_id = 'n2'"), 1);
  EXPECT_EQ(Scalar("SELECT count(*) FROM ip_info"), 2);
}

// account_day_totals counts the day's rows per action (the panel's page
// total): a row once, when its key is first inserted, never on an update.
TEST_F(PgCollectorStoreTest, DayTotalsCountEachRowOnceWhenItsKeyIsFirstInserted) {
  auto rows = [&](const std::string& account, const char* column) {
    return Scalar(absl::StrCat("SELECT ", column, " FROM account_day_totals WHERE account_id = '",
                               account, "'"));
  };
  IngestBatch b1 =
      Batch("n1", 1, {Record("a1", "192.0.2.1", 3), Record("a1", "192.0.2.2", 1, Action::kReject)});
  ASSERT_OK(store_->CommitBatch(b1).status());
  EXPECT_EQ(rows("a1", "accepted_rows"), 1);
  EXPECT_EQ(rows("a1", "rejected_rows"), 1);
  // Updates of both keys plus one new ACCEPT key and one key that differs
  // only by action; then a replay of b2, which changes nothing.
  IngestBatch b2 =
      Batch("n1", 2,
            {Record("a1", "192.0.2.1", 2), Record("a1", "192.0.2.2", 5, Action::kReject),
             Record("a1", "192.0.2.3", 1), Record("a1", "192.0.2.2", 1, Action::kAccept)});
  ASSERT_OK(store_->CommitBatch(b2).status());
  ASSERT_OK(store_->CommitBatch(b2).status());
  EXPECT_EQ(rows("a1", "accepted_rows"), 3);
  EXPECT_EQ(rows("a1", "rejected_rows"), 1);
  EXPECT_EQ(rows("a1", "accepted_rows + rejected_rows"),
            Scalar("SELECT count(*) FROM connection_daily WHERE account_id = 'a1'"));
  EXPECT_EQ(rows("a1", "accepted"), 7);
  EXPECT_EQ(rows("a1", "rejected"), 6);
}

// Rows inserted without being counted (by a replica still on an older
// version during a rolling upgrade) are counted again by
// egress_recount_day_rows, which touches only the days it is given.
TEST_F(PgCollectorStoreTest, RecountRestoresDayRowCounts) {
  IngestBatch b1 =
      Batch("n1", 1, {Record("a1", "192.0.2.1", 3), Record("a1", "192.0.2.2", 1, Action::kReject)});
  ASSERT_OK(store_->CommitBatch(b1).status());
  Scalar(R"sql(
    WITH old AS (
      INSERT INTO connection_daily
        (account_id, day, ip, protocol, port, action, count, first_seen, last_seen)
      VALUES ('a1', '2026-03-10', '192.0.2.3', 6, 443, 1, 1, now(), now()),
             ('a2', '2026-03-10', '192.0.2.4', 6, 443, 2, 1, now(), now())
      RETURNING 1)
    SELECT count(*) FROM old)sql");
  EXPECT_EQ(Scalar("SELECT accepted_rows FROM account_day_totals WHERE account_id = 'a1'"), 1);
  EXPECT_EQ(Scalar("SELECT egress_recount_day_rows('2026-03-11')"), 0);
  EXPECT_EQ(Scalar("SELECT egress_recount_day_rows('2026-03-10')"), 1);  // a2 has no totals row
  EXPECT_EQ(Scalar("SELECT accepted_rows FROM account_day_totals WHERE account_id = 'a1'"), 2);
  EXPECT_EQ(Scalar("SELECT rejected_rows FROM account_day_totals WHERE account_id = 'a1'"), 1);
  EXPECT_EQ(Scalar("SELECT egress_recount_day_rows('-infinity')"), 0);
}

// Two writers racing to insert the same new keys (batches of two nodes
// naming one account): whichever inserts a key counts it; the other updates.
TEST_F(PgCollectorStoreTest, DayRowCountsStayExactWhenWritersRaceOnNewKeys) {
  constexpr int kRounds = 40;
  constexpr int kKeys = 50;
  auto writer = [&](const std::string& node) {
    for (int round = 0; round < kRounds; ++round) {
      std::vector<IngestRecord> records;
      for (int k = 0; k < kKeys; ++k) {
        records.push_back(Record("a1", absl::StrCat("10.", round, ".", k / 250, ".", k % 250), 1,
                                 k % 3 == 0 ? Action::kReject : Action::kAccept));
      }
      IngestBatch batch = Batch(node, round + 1, std::move(records));
      ASSERT_OK(store_->CommitBatch(batch).status());
    }
  };
  std::thread first(writer, "n1");
  std::thread second(writer, "n2");
  first.join();
  second.join();
  EXPECT_EQ(Scalar("SELECT count(*) FROM connection_daily WHERE account_id = 'a1'"),
            kRounds * kKeys);
  EXPECT_EQ(Scalar("SELECT sum(count) FROM connection_daily WHERE account_id = 'a1'"),
            2 * kRounds * kKeys);
  EXPECT_EQ(Scalar("SELECT accepted_rows FROM account_day_totals WHERE account_id = 'a1'"),
            Scalar("SELECT count(*) FROM connection_daily WHERE account_id = 'a1' AND action = 1"));
  EXPECT_EQ(Scalar("SELECT rejected_rows FROM account_day_totals WHERE account_id = 'a1'"),
            Scalar("SELECT count(*) FROM connection_daily WHERE account_id = 'a1' AND action = 2"));
}

TEST_F(PgCollectorStoreTest, AGroupWithAnAlreadyCommittedSeqWritesOnlyTheNewBatches) {
  IngestBatch first = Batch("n1", 1, {Record("a1", "192.0.2.1", 3)});
  ASSERT_OK(store_->CommitBatch(first).status());
  // seq 1 again (a replay), then 2, then 2 again within the same group.
  IngestBatch replay = Batch("n1", 1, {Record("a1", "192.0.2.1", 3)});
  IngestBatch second = Batch("n1", 2, {Record("a1", "192.0.2.1", 5)});
  IngestBatch second_again = Batch("n1", 2, {Record("a1", "192.0.2.1", 5)});
  IngestBatch other = Batch("n2", 4, {Record("a2", "192.0.2.9", 1)});
  ASSERT_OK_AND_ASSIGN(std::vector<CommitResult> results,
                       store_->CommitBatches({&replay, &second, &other, &second_again}));
  EXPECT_TRUE(results[0].duplicate);
  EXPECT_FALSE(results[1].duplicate);
  EXPECT_EQ(results[1].previous_seq, 1u);
  EXPECT_FALSE(results[2].duplicate);
  EXPECT_EQ(results[2].previous_seq, 0u);  // a gap, reported by the caller
  EXPECT_TRUE(results[3].duplicate);
  EXPECT_EQ(Count("a1", "192.0.2.1"), 8);
  EXPECT_EQ(Count("a2", "192.0.2.9"), 1);
  EXPECT_EQ(Scalar("SELECT accepted FROM account_day_totals WHERE account_id = 'a1'"), 8);
  EXPECT_EQ(Scalar("SELECT last_seq FROM ingest_sequences WHERE node_id = 'n1'"), 2);
  EXPECT_EQ(Scalar("SELECT last_seq FROM ingest_sequences WHERE node_id = 'n2'"), 4);

  // A group of duplicates only changes nothing.
  const std::string before = DumpAllTables(conninfo_);
  ASSERT_OK_AND_ASSIGN(results, store_->CommitBatches({&replay, &second}));
  EXPECT_TRUE(results[0].duplicate);
  EXPECT_TRUE(results[1].duplicate);
  EXPECT_EQ(DumpAllTables(conninfo_), before);
}

TEST_F(PgCollectorStoreTest, AFailedGroupWritesNothingAndItsReplayCommitsOnce) {
  // A node that does not exist makes the whole group fail (foreign key).
  IngestBatch good = Batch("n1", 1, {Record("a1", "192.0.2.1", 3)});
  IngestBatch also_good = Batch("n2", 1, {Record("a2", "192.0.2.77", 2)});
  IngestBatch bad = Batch("gone", 1, {Record("a1", "192.0.2.1", 100)});
  const std::string before = DumpAllTables(conninfo_);
  EXPECT_FALSE(store_->CommitBatches({&good, &also_good, &bad}).ok());
  EXPECT_EQ(DumpAllTables(conninfo_), before);

  // The agents replay; the IP seen in the failed group is still queued.
  ASSERT_OK_AND_ASSIGN(std::vector<CommitResult> results,
                       store_->CommitBatches({&good, &also_good}));
  EXPECT_FALSE(results[0].duplicate);
  EXPECT_FALSE(results[1].duplicate);
  ASSERT_OK_AND_ASSIGN(results, store_->CommitBatches({&good, &also_good}));
  EXPECT_TRUE(results[0].duplicate);
  EXPECT_TRUE(results[1].duplicate);
  EXPECT_EQ(Count("a1", "192.0.2.1"), 3);
  EXPECT_EQ(Count("a2", "192.0.2.77"), 2);
  EXPECT_EQ(Scalar("SELECT count(*) FROM ip_info WHERE ip = '192.0.2.77'"), 1);
  EXPECT_EQ(Scalar("SELECT accepted FROM account_day_totals WHERE account_id = 'a1'"), 3);
}

TEST_F(PgCollectorStoreTest, AnIpAlreadyLookedUpKeepsItsInfoAndNewOnesAreQueued) {
  IngestBatch first = Batch("n1", 1, {Record("a1", "192.0.2.1", 1)});
  ASSERT_OK(store_->CommitBatch(first).status());
  // The enrichment worker has looked the address up meanwhile.
  {
    pqxx::connection connection(conninfo_);
    pqxx::work work(connection);
    work.exec("UPDATE ip_info SET status = 2, ptr = 'h.example.test'");
    work.commit();
  }
  IngestBatch second =
      Batch("n1", 2, {Record("a1", "192.0.2.1", 1), Record("a1", "2001:db8::5", 1)});
  ASSERT_OK(store_->CommitBatch(second).status());
  EXPECT_EQ(Scalar("SELECT count(*) FROM ip_info"), 2);
  EXPECT_EQ(Scalar("SELECT count(*) FROM ip_info WHERE ptr = 'h.example.test'"), 1);
  EXPECT_EQ(Scalar("SELECT count(*) FROM ip_info WHERE ip = '2001:db8::5' AND status = 1"), 1);
}

}  // namespace
}  // namespace egress
