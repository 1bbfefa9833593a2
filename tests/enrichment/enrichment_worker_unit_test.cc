// The enrichment worker's own logic against the fakes of its seams (an
// in-memory ip_info cache on a fake clock, a scripted resolver): what is
// looked up, how often, how many at once, what is saved and kept. The same
// worker against dnsmasq and PostgreSQL: enrichment_worker_test.cc.
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/enrichment/enrichment_worker.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_ip_info_store.h"
#include "tests/fakes/fake_ptr_resolver.h"
#include "tests/support/status_matchers.h"

namespace egress::testing {
namespace {

constexpr absl::Duration kWait = absl::Seconds(10);

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

class EnrichmentWorkerUnitTest : public ::testing::Test {
 protected:
  void StartWorker() {
    auto worker = EnrichmentWorker::Create(options_, nullptr, &resolver_, &store_);
    ASSERT_OK(worker.status());
    worker_ = *std::move(worker);
    worker_->Start();
  }

  IpInfoRecord Row(const IpAddress& ip) {
    auto row = store_.Get(ip);
    EXPECT_OK(row.status());
    EXPECT_TRUE(row->has_value()) << ip;
    return row->value_or(IpInfoRecord());
  }

  FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  FakeIpInfoStore store_{&clock_};
  FakePtrResolver resolver_;
  EnrichmentOptions options_;
  std::unique_ptr<EnrichmentWorker> worker_;
};

TEST_F(EnrichmentWorkerUnitTest, LooksUpEveryNewAddressOnceAndSavesWhatItLearnt) {
  const IpAddress found = Ip("192.0.2.1"), none = Ip("192.0.2.2"), failing = Ip("2001:db8::1");
  resolver_.AnswerPtr(found, "host1.example.test");
  PtrLookupResult no_ptr;
  no_ptr.outcome = PtrLookupResult::Outcome::kNoPtr;
  resolver_.Answer(none, no_ptr);
  ASSERT_OK(store_.EnqueueNew(std::vector<IpAddress>{found, none, failing, found}).status());
  StartWorker();
  ASSERT_TRUE(resolver_.WaitForLookups(3, kWait));
  worker_->Stop();  // saves what the lookups found

  const absl::Time now = clock_.Now();
  const IpInfoRecord a = Row(found);
  EXPECT_EQ(a.status, IpInfoStatus::kOk);
  EXPECT_EQ(a.ptr, "host1.example.test");
  EXPECT_TRUE(a.ptr_confirmed);
  EXPECT_EQ(a.expires_at, now + options_.positive_ttl);
  EXPECT_EQ(Row(none).status, IpInfoStatus::kNoPtr);
  EXPECT_EQ(Row(none).expires_at, now + options_.negative_ttl);
  EXPECT_EQ(Row(failing).status, IpInfoStatus::kTemporaryFailure);
  EXPECT_EQ(Row(failing).expires_at, now + options_.negative_ttl);
  for (const IpAddress& ip : {found, none, failing}) EXPECT_EQ(resolver_.lookups(ip), 1) << ip;
  const EnrichmentStats stats = worker_->stats();
  EXPECT_EQ(stats.claimed, 3u);
  EXPECT_EQ(stats.saved, 3u);
  EXPECT_EQ(stats.ptr_found, 1u);
  EXPECT_EQ(stats.no_ptr, 1u);
  EXPECT_EQ(stats.temporary_failures, 1u);
}

TEST_F(EnrichmentWorkerUnitTest, NeverHasMoreLookupsInFlightThanAllowed) {
  options_.max_in_flight = 4;
  std::vector<IpAddress> ips;
  for (int i = 1; i <= 20; ++i) ips.push_back(Ip(absl::StrCat("198.51.100.", i).c_str()));
  ASSERT_OK(store_.EnqueueNew(ips).status());
  resolver_.Hold();
  StartWorker();
  ASSERT_TRUE(resolver_.WaitForLookups(4, kWait));
  EXPECT_EQ(resolver_.in_flight(), 4);
  resolver_.Release();
  ASSERT_TRUE(resolver_.WaitForLookups(20, kWait));
  worker_->Stop();
  EXPECT_LE(resolver_.max_in_flight(), 4);
  EXPECT_EQ(worker_->stats().saved, 20u);
  for (const IpAddress& ip : ips) EXPECT_EQ(resolver_.lookups(ip), 1) << ip;
}

// A save that fails leaves the rows claimed until their lease ends; then
// they are due again and looked up once more.
TEST_F(EnrichmentWorkerUnitTest, RowsWhoseSaveFailedAreRetriedAfterTheLease) {
  const IpAddress ip = Ip("192.0.2.1");
  resolver_.AnswerPtr(ip, "host1.example.test");
  store_.FailNext("SaveResults", absl::UnavailableError("the database is down"));
  ASSERT_OK(store_.EnqueueNew(std::vector<IpAddress>{ip}).status());
  StartWorker();
  ASSERT_TRUE(store_.WaitForSaveCalls(1, kWait));
  EXPECT_EQ(Row(ip).status, IpInfoStatus::kPending);

  clock_.Advance(options_.claim_lease);
  worker_->Wake();
  ASSERT_TRUE(store_.WaitForSaveCalls(2, kWait));
  worker_->Stop();
  EXPECT_EQ(resolver_.lookups(ip), 2);
  EXPECT_EQ(Row(ip).status, IpInfoStatus::kOk);
  EXPECT_EQ(Row(ip).attempts, 0);
  EXPECT_EQ(worker_->stats().save_errors, 1u);
}

TEST_F(EnrichmentWorkerUnitTest, LookupServesTheCacheUnlessAskedToRefresh) {
  const IpAddress ip = Ip("192.0.2.1");
  resolver_.AnswerPtr(ip, "host1.example.test");
  StartWorker();
  ASSERT_OK_AND_ASSIGN(IpInfoRecord first, worker_->Lookup(ip, /*refresh=*/false));
  EXPECT_EQ(first.ptr, "host1.example.test");
  ASSERT_OK_AND_ASSIGN(IpInfoRecord cached, worker_->Lookup(ip, /*refresh=*/false));
  EXPECT_EQ(cached.ptr, "host1.example.test");
  EXPECT_EQ(resolver_.lookups(ip), 1);
  ASSERT_OK(worker_->Lookup(ip, /*refresh=*/true).status());
  EXPECT_EQ(resolver_.lookups(ip), 2);
}

// A resolver outage does not erase what was known: the refresh shows the
// earlier answer, retried after the negative TTL.
TEST_F(EnrichmentWorkerUnitTest, ATemporaryFailureKeepsTheEarlierAnswer) {
  const IpAddress ip = Ip("192.0.2.1");
  resolver_.AnswerPtr(ip, "host1.example.test");
  StartWorker();
  ASSERT_OK(worker_->Lookup(ip, /*refresh=*/false).status());
  clock_.Advance(absl::Hours(25));
  PtrLookupResult outage;
  outage.error = "SERVFAIL";
  resolver_.Answer(ip, outage);
  ASSERT_OK_AND_ASSIGN(IpInfoRecord refreshed, worker_->Lookup(ip, /*refresh=*/true));
  EXPECT_EQ(refreshed.status, IpInfoStatus::kOk);
  EXPECT_EQ(refreshed.ptr, "host1.example.test");
  EXPECT_EQ(refreshed.expires_at, clock_.Now() + options_.negative_ttl);
}

TEST_F(EnrichmentWorkerUnitTest, StorageErrorsOfALookupAreReturned) {
  StartWorker();
  store_.FailNext("Get", absl::UnavailableError("the database is down"));
  EXPECT_THAT(worker_->Lookup(Ip("192.0.2.1"), false).status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace egress::testing
