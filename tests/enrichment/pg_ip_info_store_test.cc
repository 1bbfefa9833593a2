#include "service/storage/pg_ip_info_store.h"

#include <memory>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::FreshDatabase;
using ::egress::testing::IsOkAndHolds;
using ::egress::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::Field;
using ::testing::Optional;
using ::testing::SizeIs;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }
IpNetwork Net(const char* text) { return *IpNetwork::Parse(text); }

class PgIpInfoStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conninfo_ = FreshDatabase();
    auto db = Database::Connect({.conninfo = conninfo_});
    ASSERT_OK(db.status());
    database_ = *std::move(db);
    store_ = std::make_unique<PgIpInfoStore>(database_.get());
  }

  // Moves every row's expiry into the past (as if time passed).
  void ExpireAll() {
    ASSERT_OK(database_->Transact([](pqxx::work& txn) -> absl::Status {
      txn.exec("UPDATE ip_info SET expires_at = now() - interval '1 second'");
      return absl::OkStatus();
    }));
  }

  IpInfoResult Ok(const char* ip, const char* ptr) {
    IpInfoResult r{Ip(ip), IpInfoStatus::kOk, ptr,  true,
                   64500,  "Example",         "NL", Net("192.0.2.0/24")};
    return r;
  }

  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<PgIpInfoStore> store_;
};

TEST_F(PgIpInfoStoreTest, EnqueueNewAddsOnlyUnknownAddressesAsPending) {
  EXPECT_THAT(store_->EnqueueNew({Ip("192.0.2.1"), Ip("2001:db8::1"), Ip("192.0.2.1")}),
              IsOkAndHolds(2));
  EXPECT_THAT(store_->EnqueueNew({Ip("192.0.2.1"), Ip("192.0.2.2")}), IsOkAndHolds(1));
  EXPECT_THAT(store_->EnqueueNew({}), IsOkAndHolds(0));
  ASSERT_OK_AND_ASSIGN(std::optional<IpInfoRecord> row, store_->Get(Ip("2001:db8::1")));
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->status, IpInfoStatus::kPending);
  EXPECT_EQ(row->looked_up_at, std::nullopt);
  EXPECT_EQ(row->expires_at, std::nullopt);
  EXPECT_EQ(row->network, std::nullopt);
  EXPECT_THAT(store_->Stats(), IsOkAndHolds(AllOf(Field(&IpInfoStoreStats::pending, 3),
                                                  Field(&IpInfoStoreStats::due, 3),
                                                  Field(&IpInfoStoreStats::total, 3))));
  EXPECT_THAT(store_->Get(Ip("198.51.100.1")), IsOkAndHolds(Eq(std::nullopt)));
}

TEST_F(PgIpInfoStoreTest, EnqueueInsideTheCallersTransactionCommitsOrRollsBackWithIt) {
  EXPECT_THAT(database_->Transact([](pqxx::work& txn) -> absl::Status {
    EXPECT_EQ(EnqueueNewIpInfo(txn, {Ip("192.0.2.1"), Ip("192.0.2.2")}), 2);
    return absl::AbortedError("ingest failed later in the transaction");
  }),
              StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(store_->Get(Ip("192.0.2.1")), IsOkAndHolds(Eq(std::nullopt)));
  ASSERT_OK(database_->Transact([](pqxx::work& txn) -> absl::Status {
    EXPECT_EQ(EnqueueNewIpInfo(txn, {Ip("192.0.2.1")}), 1);
    return absl::OkStatus();
  }));
  EXPECT_THAT(store_->Get(Ip("192.0.2.1")),
              IsOkAndHolds(Optional(Field(&IpInfoRecord::status, IpInfoStatus::kPending))));
}

TEST_F(PgIpInfoStoreTest, ClaimLeasesRowsSoTheyAreNotClaimedTwice) {
  ASSERT_OK(store_->EnqueueNew({Ip("192.0.2.1"), Ip("192.0.2.2"), Ip("192.0.2.3")}));
  ASSERT_OK_AND_ASSIGN(auto first, store_->ClaimDue(2, absl::Minutes(5)));
  ASSERT_THAT(first, SizeIs(2));
  EXPECT_EQ(first[0].attempts, 1);
  ASSERT_TRUE(first[0].expires_at.has_value());
  EXPECT_GT(*first[0].expires_at, absl::Now() + absl::Minutes(4));
  ASSERT_OK_AND_ASSIGN(auto second, store_->ClaimDue(10, absl::Minutes(5)));
  ASSERT_THAT(second, SizeIs(1));
  EXPECT_THAT(store_->ClaimDue(10, absl::Minutes(5)), IsOkAndHolds(SizeIs(0)));
  // Still pending while claimed; due again once the lease lapses.
  EXPECT_THAT(store_->Stats(), IsOkAndHolds(AllOf(Field(&IpInfoStoreStats::pending, 3),
                                                  Field(&IpInfoStoreStats::due, 0))));
  ExpireAll();
  ASSERT_OK_AND_ASSIGN(auto again, store_->ClaimDue(10, absl::Minutes(5)));
  ASSERT_THAT(again, SizeIs(3));
  EXPECT_EQ(again[0].attempts, 2);
  EXPECT_THAT(store_->ClaimDue(0, absl::Minutes(5)), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(PgIpInfoStoreTest, ConcurrentClaimersShareTheBacklogWithoutOverlap) {
  std::vector<IpAddress> ips;
  for (int i = 0; i < 2000; ++i) ips.push_back(IpAddress::FromV4(0xC6120000u + i));
  ASSERT_THAT(store_->EnqueueNew(ips), IsOkAndHolds(2000));
  constexpr int kWorkers = 4;
  std::vector<std::vector<IpAddress>> claimed(kWorkers);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      auto db = Database::Connect({.conninfo = conninfo_});
      ASSERT_OK(db.status());
      PgIpInfoStore store(db->get());
      for (;;) {
        auto batch = store.ClaimDue(37, absl::Minutes(5));
        ASSERT_OK(batch.status());
        if (batch->empty()) break;
        for (const IpInfoRecord& r : *batch) claimed[w].push_back(r.ip);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  absl::flat_hash_set<IpAddress> all;
  size_t total = 0;
  for (const auto& c : claimed) {
    total += c.size();
    all.insert(c.begin(), c.end());
  }
  EXPECT_EQ(total, 2000u);
  EXPECT_EQ(all.size(), 2000u);
}

TEST_F(PgIpInfoStoreTest, SaveResultsSetsFieldsAndTtlsByStatus) {
  ASSERT_OK(store_->EnqueueNew({Ip("192.0.2.1"), Ip("192.0.2.2"), Ip("192.0.2.3")}));
  ASSERT_OK(store_->ClaimDue(10, absl::Minutes(5)).status());
  IpInfoTtls ttls{absl::Hours(24), absl::Hours(1)};
  absl::Time before = absl::Now();
  IpInfoResult no_ptr{Ip("192.0.2.2"),    IpInfoStatus::kNoPtr, "", false, 64500, "Example", "NL",
                      Net("192.0.2.0/24")};
  IpInfoResult failed{Ip("192.0.2.3"), IpInfoStatus::kTemporaryFailure, "", false, 0, "", "",
                      std::nullopt};
  ASSERT_OK(store_->SaveResults({Ok("192.0.2.1", "one.example.test"), no_ptr, failed}, ttls));
  absl::Time after = absl::Now();

  ASSERT_OK_AND_ASSIGN(auto rows,
                       store_->GetMany({Ip("192.0.2.3"), Ip("192.0.2.1"), Ip("192.0.2.2")}));
  ASSERT_THAT(rows, SizeIs(3));
  const IpInfoRecord& ok = rows[0];
  EXPECT_EQ(ok.ip, Ip("192.0.2.1"));
  EXPECT_EQ(ok.status, IpInfoStatus::kOk);
  EXPECT_EQ(ok.ptr, "one.example.test");
  EXPECT_TRUE(ok.ptr_confirmed);
  EXPECT_EQ(ok.asn, 64500u);
  EXPECT_EQ(ok.as_name, "Example");
  EXPECT_EQ(ok.country, "NL");
  EXPECT_EQ(ok.network, Net("192.0.2.0/24"));
  EXPECT_EQ(ok.attempts, 0);
  ASSERT_TRUE(ok.looked_up_at && ok.expires_at);
  // PostgreSQL's clock is this machine's: now() lies within [before, after].
  EXPECT_GE(*ok.looked_up_at, before - absl::Seconds(1));
  EXPECT_LE(*ok.looked_up_at, after + absl::Seconds(1));
  EXPECT_EQ(*ok.expires_at - *ok.looked_up_at, absl::Hours(24));

  const IpInfoRecord& none = rows[1];
  EXPECT_EQ(none.status, IpInfoStatus::kNoPtr);
  EXPECT_EQ(*none.expires_at - *none.looked_up_at, absl::Hours(1));
  EXPECT_EQ(none.attempts, 0);

  const IpInfoRecord& temp = rows[2];
  EXPECT_EQ(temp.status, IpInfoStatus::kTemporaryFailure);
  EXPECT_EQ(*temp.expires_at - *temp.looked_up_at, absl::Hours(1));
  EXPECT_EQ(temp.attempts, 1);
  EXPECT_EQ(temp.network, std::nullopt);

  // Nothing is due until the TTLs pass.
  EXPECT_THAT(store_->ClaimDue(10, absl::Minutes(5)), IsOkAndHolds(SizeIs(0)));
  EXPECT_THAT(store_->Stats(), IsOkAndHolds(AllOf(Field(&IpInfoStoreStats::pending, 0),
                                                  Field(&IpInfoStoreStats::due, 0))));
}

TEST_F(PgIpInfoStoreTest, TemporaryFailureKeepsAnEarlierAnswer) {
  IpInfoTtls ttls;
  ASSERT_OK(store_->SaveResults({Ok("192.0.2.1", "one.example.test")}, ttls));
  ASSERT_OK_AND_ASSIGN(auto first, store_->Get(Ip("192.0.2.1")));
  ExpireAll();
  ASSERT_THAT(store_->ClaimDue(10, absl::Minutes(5)), IsOkAndHolds(SizeIs(1)));
  IpInfoResult failed{
      Ip("192.0.2.1"),    IpInfoStatus::kTemporaryFailure, "", false, 64999, "New owner", "FR",
      Net("192.0.0.0/16")};
  ASSERT_OK(store_->SaveResults({failed}, ttls));
  ASSERT_OK_AND_ASSIGN(auto row, store_->Get(Ip("192.0.2.1")));
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->status, IpInfoStatus::kOk);
  EXPECT_EQ(row->ptr, "one.example.test");
  EXPECT_TRUE(row->ptr_confirmed);
  EXPECT_EQ(row->looked_up_at, first->looked_up_at);
  // Owner data is local and always current.
  EXPECT_EQ(row->asn, 64999u);
  EXPECT_EQ(row->as_name, "New owner");
  EXPECT_EQ(row->network, Net("192.0.0.0/16"));
  // Retried after the negative TTL, and counted.
  EXPECT_EQ(*row->expires_at - *row->looked_up_at > absl::Hours(1), true);
  EXPECT_EQ(row->attempts, 1);

  // A later conclusive answer replaces it and resets the attempts.
  ExpireAll();
  IpInfoResult gone{Ip("192.0.2.1"), IpInfoStatus::kNoPtr, "",   false,
                    64999,           "New owner",          "FR", Net("192.0.0.0/16")};
  ASSERT_OK(store_->SaveResults({gone}, ttls));
  ASSERT_OK_AND_ASSIGN(row, store_->Get(Ip("192.0.2.1")));
  EXPECT_EQ(row->status, IpInfoStatus::kNoPtr);
  EXPECT_EQ(row->ptr, "");
  EXPECT_EQ(row->attempts, 0);
}

TEST_F(PgIpInfoStoreTest, SaveResultsRejectsBadBatchesAndChangesNothing) {
  IpInfoTtls ttls;
  std::string before = ::egress::testing::DumpAllTables(conninfo_);
  EXPECT_THAT(store_->SaveResults({Ok("192.0.2.1", "a"), Ok("192.0.2.1", "b")}, ttls),
              StatusIs(absl::StatusCode::kInvalidArgument));
  IpInfoResult pending;
  pending.ip = Ip("192.0.2.2");
  pending.status = IpInfoStatus::kPending;
  EXPECT_THAT(store_->SaveResults({pending}, ttls), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->SaveResults({Ok("192.0.2.1", "a")}, {absl::ZeroDuration(), absl::Hours(1)}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(::egress::testing::DumpAllTables(conninfo_), before);
}

TEST_F(PgIpInfoStoreTest, AwkwardTextRoundTrips) {
  IpInfoResult r = Ok("2001:db8::1", "we\"ird\\name,{x}.example.test");
  r.as_name = "Quote \" backslash \\ comma , brace {} ünïcödé";
  r.network = Net("2001:db8::/32");
  ASSERT_OK(store_->SaveResults({r}, IpInfoTtls{}));
  ASSERT_OK_AND_ASSIGN(auto row, store_->Get(Ip("2001:db8::1")));
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->ptr, r.ptr);
  EXPECT_EQ(row->as_name, r.as_name);
  EXPECT_EQ(row->network, r.network);
}

TEST_F(PgIpInfoStoreTest, LargeBatchesAreOneStatementEach) {
  std::vector<IpAddress> ips;
  std::vector<IpInfoResult> results;
  for (int i = 0; i < 20000; ++i) {
    ips.push_back(IpAddress::FromV4(0x0A000000u + i));
    IpInfoResult r;
    r.ip = ips.back();
    r.status = IpInfoStatus::kNoPtr;
    results.push_back(r);
  }
  EXPECT_THAT(store_->EnqueueNew(ips), IsOkAndHolds(20000));
  EXPECT_THAT(store_->ClaimDue(20000, absl::Minutes(1)), IsOkAndHolds(SizeIs(20000)));
  EXPECT_OK(store_->SaveResults(results, IpInfoTtls{}));
  EXPECT_THAT(store_->Stats(), IsOkAndHolds(AllOf(Field(&IpInfoStoreStats::pending, 0),
                                                  Field(&IpInfoStoreStats::total, 20000))));
}

}  // namespace
}  // namespace egress
