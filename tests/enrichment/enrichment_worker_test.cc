// The worker against the real things: dnsmasq on loopback, PostgreSQL from
// the harness, a libloc database built by the test.
#include "service/enrichment/enrichment_worker.h"

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/enrichment/cares_ptr_resolver.h"
#include "service/enrichment/enrichment.h"
#include "service/enrichment/ip_info_proto.h"
#include "service/enrichment/libloc_owner_database.h"
#include "service/storage/pg_ip_info_store.h"
#include "tests/enrichment/dns_test_server.h"
#include "tests/enrichment/libloc_test_database.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::Dnsmasq;
using ::egress::testing::FakeUdpDnsServer;
using ::egress::testing::FreshDatabase;
using ::egress::testing::StatusIs;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }
IpNetwork Net(const char* text) { return *IpNetwork::Parse(text); }

class EnrichmentWorkerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto servfail = FakeUdpDnsServer::Start(2);
    ASSERT_OK(servfail.status());
    servfail_ = servfail->release();
    auto dns = Dnsmasq::Start({
        "host-record=host1.example.test,192.0.2.1",
        "ptr-record=2.2.0.192.in-addr.arpa,liar.example.test",
        "host-record=liar.example.test,198.51.100.7",
        "host-record=v6host.example.test,2001:db8::1",
        "server=/18.198.in-addr.arpa/127.0.0.1#" + std::to_string(servfail_->port()),
    });
    ASSERT_OK(dns.status());
    dns_ = dns->release();
    char dir_template[] = "/tmp/egress-worker-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    ASSERT_OK(::egress::testing::WriteLiblocDatabase(
        dir_ + "/location.db",
        {{"192.0.2.0/24", 64500, "NL"},
         {"2001:db8::/32", 64501, "DE"},
         {"198.18.0.0/15", 64502, "US"}},
        {{64500, "Example Hosting"}, {64501, "Example Six"}, {64502, "Bench Net"}}));
  }
  static void TearDownTestSuite() {
    delete dns_;
    delete servfail_;
    std::filesystem::remove_all(dir_);
  }

  void SetUp() override {
    auto db = Database::Connect({.conninfo = FreshDatabase()});
    ASSERT_OK(db.status());
    database_ = *std::move(db);
    store_ = std::make_unique<PgIpInfoStore>(database_.get());
    auto owner = LiblocOwnerDatabase::Create(dir_ + "/location.db");
    ASSERT_OK(owner.status());
    owner_ = *std::move(owner);
    options_.resolvers = {dns_->address()};
    options_.resolver_timeout = absl::Milliseconds(200);
    options_.resolver_tries = 1;
    options_.max_in_flight = 8;
    options_.idle_poll_interval = absl::Milliseconds(50);
    options_.claim_lease = absl::Seconds(10);
  }

  void MakeWorker(std::vector<std::string> resolvers) {
    CaresPtrResolverOptions resolver_options;
    resolver_options.servers = std::move(resolvers);
    resolver_options.timeout = options_.resolver_timeout;
    resolver_options.tries = options_.resolver_tries;
    auto resolver = CaresPtrResolver::Create(resolver_options);
    ASSERT_OK(resolver.status());
    resolver_ = *std::move(resolver);
    auto worker = EnrichmentWorker::Create(options_, owner_.get(), resolver_.get(), store_.get());
    ASSERT_OK(worker.status());
    worker_ = *std::move(worker);
  }

  // Waits (polling the store) until `done` holds for the row of `ip`.
  IpInfoRecord WaitForRow(const IpAddress& ip, std::function<bool(const IpInfoRecord&)> done,
                          absl::Duration timeout = absl::Seconds(10)) {
    absl::Time deadline = absl::Now() + timeout;
    IpInfoRecord last;
    while (absl::Now() < deadline) {
      auto row = store_->Get(ip);
      EXPECT_OK(row.status());
      if (row.ok() && row->has_value()) {
        last = **row;
        if (done(last)) return last;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "row of " << ip << " not done in time; status "
                  << static_cast<int>(last.status);
    return last;
  }

  static bool LookedUp(const IpInfoRecord& r) { return r.status != IpInfoStatus::kPending; }

  static Dnsmasq* dns_;
  static FakeUdpDnsServer* servfail_;
  static std::string dir_;
  EnrichmentOptions options_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<PgIpInfoStore> store_;
  std::unique_ptr<LiblocOwnerDatabase> owner_;
  std::unique_ptr<CaresPtrResolver> resolver_;
  std::unique_ptr<EnrichmentWorker> worker_;
};

Dnsmasq* EnrichmentWorkerTest::dns_ = nullptr;
FakeUdpDnsServer* EnrichmentWorkerTest::servfail_ = nullptr;
std::string EnrichmentWorkerTest::dir_;

TEST_F(EnrichmentWorkerTest, BackgroundLookupsFillEveryKindOfRow) {
  MakeWorker({dns_->address()});
  ASSERT_OK(store_->EnqueueNew({Ip("192.0.2.1"), Ip("192.0.2.2"), Ip("192.0.2.3"),
                                Ip("2001:db8::1"), Ip("198.18.0.1"), Ip("203.0.113.9")}));
  absl::Time start = absl::Now();
  worker_->Start();
  worker_->Wake();

  IpInfoRecord found = WaitForRow(Ip("192.0.2.1"), LookedUp);
  EXPECT_EQ(found.status, IpInfoStatus::kOk);
  EXPECT_EQ(found.ptr, "host1.example.test");
  EXPECT_TRUE(found.ptr_confirmed);
  EXPECT_EQ(found.asn, 64500u);
  EXPECT_EQ(found.as_name, "Example Hosting");
  EXPECT_EQ(found.country, "NL");
  EXPECT_EQ(found.network, Net("192.0.2.0/24"));
  ASSERT_TRUE(found.looked_up_at && found.expires_at);
  EXPECT_EQ(*found.expires_at - *found.looked_up_at, options_.positive_ttl);

  IpInfoRecord liar = WaitForRow(Ip("192.0.2.2"), LookedUp);
  EXPECT_EQ(liar.status, IpInfoStatus::kOk);
  EXPECT_EQ(liar.ptr, "liar.example.test");
  EXPECT_FALSE(liar.ptr_confirmed);

  IpInfoRecord none = WaitForRow(Ip("192.0.2.3"), LookedUp);
  EXPECT_EQ(none.status, IpInfoStatus::kNoPtr);
  EXPECT_EQ(none.asn, 64500u);
  EXPECT_EQ(*none.expires_at - *none.looked_up_at, options_.negative_ttl);

  IpInfoRecord six = WaitForRow(Ip("2001:db8::1"), LookedUp);
  EXPECT_EQ(six.status, IpInfoStatus::kOk);
  EXPECT_EQ(six.ptr, "v6host.example.test");
  EXPECT_TRUE(six.ptr_confirmed);
  EXPECT_EQ(six.as_name, "Example Six");

  IpInfoRecord servfail = WaitForRow(Ip("198.18.0.1"), LookedUp);
  EXPECT_EQ(servfail.status, IpInfoStatus::kTemporaryFailure);
  EXPECT_EQ(servfail.asn, 64502u);  // owner data does not wait for DNS
  EXPECT_EQ(*servfail.expires_at - *servfail.looked_up_at, options_.negative_ttl);

  IpInfoRecord unowned = WaitForRow(Ip("203.0.113.9"), LookedUp);
  EXPECT_EQ(unowned.status, IpInfoStatus::kNoPtr);
  EXPECT_EQ(unowned.asn, 0u);
  EXPECT_EQ(unowned.network, std::nullopt);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  worker_->Stop();
  EnrichmentStats stats = worker_->stats();
  EXPECT_EQ(stats.claimed, 6u);
  EXPECT_EQ(stats.looked_up, 6u);
  EXPECT_EQ(stats.ptr_found, 3u);
  EXPECT_EQ(stats.ptr_confirmed, 2u);
  EXPECT_EQ(stats.no_ptr, 2u);
  EXPECT_EQ(stats.temporary_failures, 1u);
  EXPECT_EQ(stats.owner_found, 5u);
  EXPECT_EQ(stats.saved, 6u);
  EXPECT_EQ(stats.in_flight, 0);
  // Everything cached: nothing due until the TTLs pass.
  ASSERT_OK_AND_ASSIGN(IpInfoStoreStats counts, store_->Stats());
  EXPECT_EQ(counts.due, 0);
  EXPECT_EQ(counts.pending, 0);
}

TEST_F(EnrichmentWorkerTest, RowsAreListedAtOnceWhileDnsIsDown) {
  ASSERT_OK_AND_ASSIGN(auto silent, FakeUdpDnsServer::Start(-1));
  MakeWorker({silent->address()});
  ASSERT_OK(store_->EnqueueNew({Ip("192.0.2.1")}));
  worker_->Start();
  worker_->Wake();
  // Immediately there, pending.
  ASSERT_OK_AND_ASSIGN(auto row, store_->Get(Ip("192.0.2.1")));
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->status, IpInfoStatus::kPending);
  // After the timeout: a temporary failure, owner filled, retried after the
  // negative TTL.
  IpInfoRecord failed = WaitForRow(Ip("192.0.2.1"), LookedUp);
  EXPECT_EQ(failed.status, IpInfoStatus::kTemporaryFailure);
  EXPECT_EQ(failed.as_name, "Example Hosting");
  EXPECT_EQ(failed.attempts, 1);
  EXPECT_EQ(*failed.expires_at - *failed.looked_up_at, options_.negative_ttl);
  EXPECT_GE(silent->queries(), 1);
}

TEST_F(EnrichmentWorkerTest, LookupServesTheCacheAndRefreshesOnDemand) {
  MakeWorker({dns_->address()});
  // Unknown: looked up now and cached.
  ASSERT_OK_AND_ASSIGN(IpInfoRecord first, worker_->Lookup(Ip("192.0.2.1"), false));
  EXPECT_EQ(first.status, IpInfoStatus::kOk);
  EXPECT_EQ(first.ptr, "host1.example.test");
  EXPECT_TRUE(first.ptr_confirmed);
  EXPECT_EQ(first.as_name, "Example Hosting");
  ASSERT_TRUE(first.expires_at.has_value());
  const uint64_t requests = resolver_->stats().requests;

  // Cached: no DNS query.
  ASSERT_OK_AND_ASSIGN(IpInfoRecord cached, worker_->Lookup(Ip("192.0.2.1"), false));
  EXPECT_EQ(cached.looked_up_at, first.looked_up_at);
  EXPECT_EQ(resolver_->stats().requests, requests);

  // Refresh: a new query and a new expiry.
  ASSERT_OK_AND_ASSIGN(IpInfoRecord refreshed, worker_->Lookup(Ip("192.0.2.1"), true));
  EXPECT_EQ(resolver_->stats().requests, requests + 1);
  EXPECT_GT(*refreshed.looked_up_at, *first.looked_up_at);
  EXPECT_EQ(refreshed.ptr, "host1.example.test");

  // IPv4-mapped input is the IPv4 row.
  std::array<uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  ASSERT_OK_AND_ASSIGN(IpInfoRecord via_mapped, worker_->Lookup(IpAddress::FromV6(mapped), false));
  EXPECT_EQ(via_mapped.ip, Ip("192.0.2.1"));
  EXPECT_EQ(resolver_->stats().requests, requests + 1);

  // As the API shows it.
  egress::v1::IpInfo proto;
  IpInfoRecordToProto(refreshed, &proto);
  EXPECT_EQ(proto.status(), egress::v1::IpInfo::IP_INFO_STATUS_OK);
  EXPECT_EQ(proto.ptr(), "host1.example.test");
  EXPECT_TRUE(proto.ptr_confirmed());
  EXPECT_EQ(proto.asn(), 64500u);
  EXPECT_EQ(proto.as_name(), "Example Hosting");
  EXPECT_EQ(proto.country(), "NL");
  EXPECT_EQ(proto.network(), "192.0.2.0/24");
  EXPECT_EQ(proto.looked_up_at().seconds(), absl::ToUnixSeconds(*refreshed.looked_up_at));
  google::protobuf::Timestamp expire;
  IpInfoExpireTimeToProto(refreshed, &expire);
  EXPECT_EQ(expire.seconds(), absl::ToUnixSeconds(*refreshed.expires_at));
}

TEST_F(EnrichmentWorkerTest, RefreshDuringAnOutageKeepsTheEarlierAnswer) {
  MakeWorker({dns_->address()});
  ASSERT_OK(worker_->Lookup(Ip("192.0.2.1"), false).status());
  ASSERT_OK_AND_ASSIGN(auto silent, FakeUdpDnsServer::Start(-1));
  MakeWorker({silent->address()});
  ASSERT_OK_AND_ASSIGN(IpInfoRecord row, worker_->Lookup(Ip("192.0.2.1"), true));
  EXPECT_EQ(row.status, IpInfoStatus::kOk);
  EXPECT_EQ(row.ptr, "host1.example.test");
  EXPECT_EQ(worker_->stats().temporary_failures, 1u);
  // Retried after the negative TTL, not the positive one.
  EXPECT_LT(*row.expires_at, absl::Now() + options_.negative_ttl + absl::Seconds(5));
}

TEST_F(EnrichmentWorkerTest, ExpiredRowsAreRefreshedInTheBackground) {
  MakeWorker({dns_->address()});
  ASSERT_OK(worker_->Lookup(Ip("192.0.2.3"), false).status());  // NO_PTR, 1 h
  ASSERT_OK(database_->Transact([](pqxx::work& txn) -> absl::Status {
    txn.exec("UPDATE ip_info SET expires_at = now() - interval '1 second'");
    return absl::OkStatus();
  }));
  ASSERT_OK_AND_ASSIGN(auto before, store_->Get(Ip("192.0.2.3")));
  worker_->Start();
  IpInfoRecord after = WaitForRow(Ip("192.0.2.3"), [&](const IpInfoRecord& r) {
    return r.looked_up_at > before->looked_up_at;
  });
  EXPECT_EQ(after.status, IpInfoStatus::kNoPtr);
  EXPECT_GT(*after.expires_at, absl::Now() + absl::Minutes(59));
}

TEST_F(EnrichmentWorkerTest, ManyNewAddressesAreWorkedOffInBoundedBatches) {
  MakeWorker({dns_->address()});
  std::vector<IpAddress> ips;
  for (int i = 0; i < 300; ++i) ips.push_back(IpAddress::FromV4(0xC0000200u + (i % 256)));
  for (int i = 0; i < 44; ++i) ips.push_back(IpAddress::FromV4(0xCB007100u + i));
  ASSERT_OK(store_->EnqueueNew(ips));
  worker_->Start();
  worker_->Wake();
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  int64_t max_in_flight = 0;
  for (;;) {
    max_in_flight = std::max(max_in_flight, worker_->stats().in_flight);
    ASSERT_OK_AND_ASSIGN(IpInfoStoreStats counts, store_->Stats());
    if (counts.pending == 0) break;
    ASSERT_LT(absl::Now(), deadline) << counts.pending << " still pending";
    absl::SleepFor(absl::Milliseconds(10));
  }
  worker_->Stop();
  EXPECT_LE(max_in_flight, options_.max_in_flight);
  EXPECT_EQ(worker_->stats().looked_up, 300u);  // 256 + 44 distinct
}

TEST_F(EnrichmentWorkerTest, TwoReplicasLookEachIpUpOnce) {
  MakeWorker({dns_->address()});
  CaresPtrResolverOptions resolver_options;
  resolver_options.servers = {dns_->address()};
  ASSERT_OK_AND_ASSIGN(auto resolver2, CaresPtrResolver::Create(resolver_options));
  auto db2 = Database::Connect(database_->options());
  ASSERT_OK(db2.status());
  PgIpInfoStore store2(db2->get());
  ASSERT_OK_AND_ASSIGN(auto worker2,
                       EnrichmentWorker::Create(options_, owner_.get(), resolver2.get(), &store2));
  std::vector<IpAddress> ips;
  for (int i = 0; i < 400; ++i) ips.push_back(IpAddress::FromV4(0xC6336400u + i));  // 198.51.100+
  ASSERT_OK(store_->EnqueueNew(ips));
  worker_->Start();
  worker2->Start();
  worker_->Wake();
  worker2->Wake();
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  for (;;) {
    ASSERT_OK_AND_ASSIGN(IpInfoStoreStats counts, store_->Stats());
    if (counts.pending == 0) break;
    ASSERT_LT(absl::Now(), deadline) << counts.pending << " still pending";
    absl::SleepFor(absl::Milliseconds(10));
  }
  worker_->Stop();
  worker2->Stop();
  EXPECT_EQ(worker_->stats().looked_up + worker2->stats().looked_up, 400u);
  EXPECT_EQ(resolver_->stats().requests + resolver2->stats().requests, 400u);
}

TEST_F(EnrichmentWorkerTest, OwnerDatabaseIsReloadedWhenTheFileChanges) {
  const std::string path = dir_ + "/reloaded.db";
  ASSERT_OK(::egress::testing::WriteLiblocDatabase(path, {{"192.0.2.0/24", 64500, "NL"}},
                                                   {{64500, "Before"}}));
  ASSERT_OK_AND_ASSIGN(auto owner, LiblocOwnerDatabase::Create(path));
  options_.owner_database_check_interval = absl::Seconds(1);
  CaresPtrResolverOptions resolver_options;
  resolver_options.servers = {dns_->address()};
  ASSERT_OK_AND_ASSIGN(auto resolver, CaresPtrResolver::Create(resolver_options));
  ASSERT_OK_AND_ASSIGN(
      auto worker, EnrichmentWorker::Create(options_, owner.get(), resolver.get(), store_.get()));
  worker->Start();
  ASSERT_OK(::egress::testing::WriteLiblocDatabase(path, {{"192.0.2.0/24", 64999, "FR"}},
                                                   {{64999, "After"}}));
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (owner->info().reloads == 0) {
    ASSERT_LT(absl::Now(), deadline) << "not reloaded";
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_OK_AND_ASSIGN(IpInfoRecord row, worker->Lookup(Ip("192.0.2.1"), true));
  EXPECT_EQ(row.as_name, "After");
  EXPECT_EQ(row.country, "FR");
  worker->Stop();
}

TEST(EnrichmentOptionsTest, OwnerDatabaseKind) {
  EXPECT_THAT(ParseOwnerDatabaseKind("libloc"),
              ::egress::testing::IsOkAndHolds(OwnerDatabaseKind::kLibloc));
  EXPECT_THAT(ParseOwnerDatabaseKind("maxmind"),
              ::egress::testing::IsOkAndHolds(OwnerDatabaseKind::kMaxmind));
  EXPECT_THAT(ParseOwnerDatabaseKind("none"),
              ::egress::testing::IsOkAndHolds(OwnerDatabaseKind::kNone));
  EXPECT_THAT(ParseOwnerDatabaseKind("geoip"),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("geoip")));
}

TEST(EnrichmentOptionsTest, Validation) {
  EnrichmentOptions options;
  EXPECT_OK(ValidateEnrichmentOptions(options));
  options.resolver_tries = 0;
  EXPECT_THAT(ValidateEnrichmentOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("resolver_tries")));
  options = EnrichmentOptions();
  options.resolver_timeout = absl::Seconds(30);
  options.resolver_tries = 5;
  options.claim_lease = absl::Minutes(1);
  EXPECT_THAT(ValidateEnrichmentOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("claim_lease")));
  options = EnrichmentOptions();
  options.negative_ttl = absl::Seconds(1);
  EXPECT_THAT(ValidateEnrichmentOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("negative_ttl")));
}

TEST_F(EnrichmentWorkerTest, EnrichmentWiresEverythingFromOptions) {
  options_.owner_database_path = dir_ + "/location.db";
  ASSERT_OK_AND_ASSIGN(auto enrichment, Enrichment::Create(options_, database_.get()));
  ASSERT_OK(enrichment->store().EnqueueNew({Ip("192.0.2.1")}));
  enrichment->worker().Start();
  enrichment->worker().Wake();
  IpInfoRecord row = WaitForRow(Ip("192.0.2.1"), LookedUp);
  EXPECT_EQ(row.ptr, "host1.example.test");
  EXPECT_EQ(row.as_name, "Example Hosting");
  EXPECT_OK(enrichment->ReloadOwnerDatabase());
  EXPECT_EQ(enrichment->owner_database()->info().reloads, 1u);
  EXPECT_GE(enrichment->resolver_stats().found, 1u);

  options_.owner_database_path = dir_ + "/missing.db";
  EXPECT_THAT(Enrichment::Create(options_, database_.get()), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace egress
