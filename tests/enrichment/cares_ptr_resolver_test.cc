#include "service/enrichment/cares_ptr_resolver.h"

#include <atomic>
#include <memory>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/enrichment/dns_test_server.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::Dnsmasq;
using ::egress::testing::FakeUdpDnsServer;
using ::egress::testing::StatusIs;
using Outcome = PtrLookupResult::Outcome;
using ::testing::HasSubstr;

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

TEST(ReverseDnsNameTest, V4V6AndMapped) {
  EXPECT_EQ(ReverseDnsName(Ip("192.0.2.1")), "1.2.0.192.in-addr.arpa");
  EXPECT_EQ(ReverseDnsName(Ip("2001:db8::567:89ab")),
            "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  std::array<uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7};
  EXPECT_EQ(ReverseDnsName(IpAddress::FromV6(mapped)), "7.100.51.198.in-addr.arpa");
}

TEST(CaresPtrResolverOptionsTest, ServerList) {
  EXPECT_THAT(CaresPtrResolver::ServersCsv({"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:5353"}),
              ::egress::testing::IsOkAndHolds(
                  std::string("127.0.0.1:53,127.0.0.1:5353,[::1]:53,[::1]:5353")));
  EXPECT_THAT(CaresPtrResolver::ServersCsv({"127.0.0.1:0"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("port")));
  EXPECT_THAT(CaresPtrResolver::ServersCsv({"dns.example:53"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dns.example")));
  EXPECT_THAT(CaresPtrResolver::ServersCsv({"[::1"}), StatusIs(absl::StatusCode::kInvalidArgument));
  CaresPtrResolverOptions bad;
  bad.tries = 0;
  EXPECT_THAT(CaresPtrResolver::Create(bad), StatusIs(absl::StatusCode::kInvalidArgument));
}

class CaresPtrResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto servfail = FakeUdpDnsServer::Start(2);
    ASSERT_OK(servfail.status());
    servfail_ = servfail->release();
    const std::string upstream = "127.0.0.1#" + std::to_string(servfail_->port());
    auto dns = Dnsmasq::Start({
        // Found and forward-confirmed (host-record also makes the PTR).
        "host-record=host1.example.test,192.0.2.1",
        "host-record=v6host.example.test,2001:db8::1",
        // PTR whose name points elsewhere: not confirmed.
        "ptr-record=2.2.0.192.in-addr.arpa,liar.example.test",
        "host-record=liar.example.test,198.51.100.7",
        // PTR whose name does not exist at all: not confirmed.
        "ptr-record=4.2.0.192.in-addr.arpa,gone.example.test",
        // A PTR name in a zone whose server fails: confirmation impossible.
        "ptr-record=5.2.0.192.in-addr.arpa,www.broken.test",
        "server=/broken.test/" + upstream,
        // A reverse zone whose server fails: SERVFAIL relayed by dnsmasq.
        "server=/18.198.in-addr.arpa/" + upstream,
        "ptr-record=" + ReverseDnsName(Ip("2001:db8::7")) + ",seven.example.test",
        "host-record=seven.example.test,2001:db8::7",
    });
    ASSERT_OK(dns.status());
    dns_ = dns->release();
  }
  static void TearDownTestSuite() {
    delete dns_;
    delete servfail_;
  }

  std::unique_ptr<CaresPtrResolver> Resolver(std::vector<std::string> servers,
                                             absl::Duration timeout = absl::Milliseconds(300),
                                             int tries = 2) {
    CaresPtrResolverOptions options;
    options.servers = std::move(servers);
    options.timeout = timeout;
    options.tries = tries;
    auto resolver = CaresPtrResolver::Create(options);
    EXPECT_OK(resolver.status());
    return resolver.ok() ? *std::move(resolver) : nullptr;
  }

  static Dnsmasq* dns_;
  static FakeUdpDnsServer* servfail_;
};

Dnsmasq* CaresPtrResolverTest::dns_ = nullptr;
FakeUdpDnsServer* CaresPtrResolverTest::servfail_ = nullptr;

TEST_F(CaresPtrResolverTest, FoundAndConfirmedV4) {
  auto resolver = Resolver({dns_->address()});
  PtrLookupResult r = resolver->ResolveSync(Ip("192.0.2.1"));
  EXPECT_EQ(r.outcome, Outcome::kFound);
  EXPECT_EQ(r.ptr, "host1.example.test");
  EXPECT_TRUE(r.ptr_confirmed);
  EXPECT_EQ(r.error, "");
}

TEST_F(CaresPtrResolverTest, FoundAndConfirmedV6AndMapped) {
  auto resolver = Resolver({dns_->address()});
  PtrLookupResult r = resolver->ResolveSync(Ip("2001:db8::1"));
  EXPECT_EQ(r.outcome, Outcome::kFound);
  EXPECT_EQ(r.ptr, "v6host.example.test");
  EXPECT_TRUE(r.ptr_confirmed);

  r = resolver->ResolveSync(Ip("2001:db8::7"));
  EXPECT_EQ(r.outcome, Outcome::kFound);
  EXPECT_EQ(r.ptr, "seven.example.test");
  EXPECT_TRUE(r.ptr_confirmed);

  std::array<uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  r = resolver->ResolveSync(IpAddress::FromV6(mapped));
  EXPECT_EQ(r.outcome, Outcome::kFound);
  EXPECT_EQ(r.ptr, "host1.example.test");
  EXPECT_TRUE(r.ptr_confirmed);
}

TEST_F(CaresPtrResolverTest, NotForwardConfirmed) {
  auto resolver = Resolver({dns_->address()});
  PtrLookupResult r = resolver->ResolveSync(Ip("192.0.2.2"));
  EXPECT_EQ(r.outcome, Outcome::kFound);
  EXPECT_EQ(r.ptr, "liar.example.test");
  EXPECT_FALSE(r.ptr_confirmed);

  r = resolver->ResolveSync(Ip("192.0.2.4"));
  EXPECT_EQ(r.outcome, Outcome::kFound);
  EXPECT_EQ(r.ptr, "gone.example.test");
  EXPECT_FALSE(r.ptr_confirmed);
}

TEST_F(CaresPtrResolverTest, NxdomainIsNoPtr) {
  auto resolver = Resolver({dns_->address()});
  PtrLookupResult r = resolver->ResolveSync(Ip("192.0.2.3"));
  EXPECT_EQ(r.outcome, Outcome::kNoPtr);
  EXPECT_EQ(r.ptr, "");
  r = resolver->ResolveSync(Ip("2001:db8::2"));
  EXPECT_EQ(r.outcome, Outcome::kNoPtr);
  EXPECT_EQ(resolver->stats().no_ptr, 2u);
}

TEST_F(CaresPtrResolverTest, ServfailIsTemporary) {
  auto resolver = Resolver({dns_->address()});
  PtrLookupResult r = resolver->ResolveSync(Ip("198.18.0.9"));
  EXPECT_EQ(r.outcome, Outcome::kTemporaryFailure);
  EXPECT_EQ(r.error, "SERVFAIL");
  EXPECT_EQ(resolver->stats().servfail, 1u);
}

TEST_F(CaresPtrResolverTest, FailedConfirmationIsTemporaryWithName) {
  auto resolver = Resolver({dns_->address()});
  PtrLookupResult r = resolver->ResolveSync(Ip("192.0.2.5"));
  EXPECT_EQ(r.outcome, Outcome::kTemporaryFailure);
  EXPECT_EQ(r.ptr, "www.broken.test");
  EXPECT_FALSE(r.ptr_confirmed);
  EXPECT_EQ(r.error, "forward: SERVFAIL");
}

TEST_F(CaresPtrResolverTest, SilentServerTimesOut) {
  ASSERT_OK_AND_ASSIGN(auto silent, FakeUdpDnsServer::Start(-1));
  auto resolver = Resolver({silent->address()}, absl::Milliseconds(200), 2);
  absl::Time start = absl::Now();
  PtrLookupResult r = resolver->ResolveSync(Ip("192.0.2.1"));
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.outcome, Outcome::kTemporaryFailure);
  EXPECT_EQ(r.error, "timeout");
  EXPECT_EQ(silent->queries(), 2);  // tries
  EXPECT_GE(took, absl::Milliseconds(200));
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_EQ(resolver->stats().timeouts, 1u);
}

TEST_F(CaresPtrResolverTest, RefusedIsTemporary) {
  ASSERT_OK_AND_ASSIGN(auto refusing, FakeUdpDnsServer::Start(5));
  auto resolver = Resolver({refusing->address()});
  PtrLookupResult r = resolver->ResolveSync(Ip("192.0.2.1"));
  EXPECT_EQ(r.outcome, Outcome::kTemporaryFailure);
  EXPECT_EQ(r.error, "REFUSED");
}

TEST_F(CaresPtrResolverTest, ServfailFromEveryResolverIsTemporary) {
  ASSERT_OK_AND_ASSIGN(auto other, FakeUdpDnsServer::Start(2));
  auto resolver = Resolver({servfail_->address(), other->address()});
  PtrLookupResult r = resolver->ResolveSync(Ip("192.0.2.1"));
  EXPECT_EQ(r.outcome, Outcome::kTemporaryFailure);
  EXPECT_EQ(r.error, "SERVFAIL, REFUSED or unreachable at every resolver");
  EXPECT_GE(other->queries(), 1);
}

TEST_F(CaresPtrResolverTest, FallsBackToTheNextServer) {
  ASSERT_OK_AND_ASSIGN(auto silent, FakeUdpDnsServer::Start(-1));
  auto resolver = Resolver({silent->address(), dns_->address()}, absl::Milliseconds(200), 1);
  PtrLookupResult r = resolver->ResolveSync(Ip("192.0.2.1"));
  EXPECT_EQ(r.outcome, Outcome::kFound);
  EXPECT_TRUE(r.ptr_confirmed);
}

TEST_F(CaresPtrResolverTest, ManyConcurrentLookupsAreBounded) {
  CaresPtrResolverOptions options;
  options.servers = {dns_->address()};
  options.max_in_flight = 4;
  options.max_queued = 1000;
  ASSERT_OK_AND_ASSIGN(auto resolver, CaresPtrResolver::Create(options));
  constexpr int kLookups = 500;
  absl::BlockingCounter done(kLookups);
  std::atomic<int> found{0}, no_ptr{0}, other{0};
  for (int i = 0; i < kLookups; ++i) {
    IpAddress ip = Ip(i % 2 ? "192.0.2.1" : "192.0.2.3");
    resolver->Resolve(ip, [&](PtrLookupResult r) {
      if (r.outcome == Outcome::kFound) {
        found.fetch_add(1);
      } else if (r.outcome == Outcome::kNoPtr) {
        no_ptr.fetch_add(1);
      } else {
        other.fetch_add(1);
      }
      done.DecrementCount();
    });
    EXPECT_LE(resolver->stats().in_flight, 4);
  }
  done.Wait();
  EXPECT_EQ(found.load(), kLookups / 2);
  EXPECT_EQ(no_ptr.load(), kLookups / 2);
  EXPECT_EQ(other.load(), 0);
  PtrResolverStats stats = resolver->stats();
  EXPECT_EQ(stats.requests, static_cast<uint64_t>(kLookups));
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_EQ(stats.queued, 0);
}

TEST_F(CaresPtrResolverTest, OverloadAndShutdownFailEveryCallbackOnce) {
  ASSERT_OK_AND_ASSIGN(auto silent, FakeUdpDnsServer::Start(-1));
  CaresPtrResolverOptions options;
  options.servers = {silent->address()};
  options.timeout = absl::Seconds(30);
  options.max_in_flight = 2;
  options.max_queued = 3;
  ASSERT_OK_AND_ASSIGN(auto resolver, CaresPtrResolver::Create(options));
  std::atomic<int> calls{0}, overloaded{0}, shutting_down{0};
  for (int i = 0; i < 10; ++i) {
    resolver->Resolve(Ip("192.0.2.1"), [&](PtrLookupResult r) {
      calls.fetch_add(1);
      EXPECT_EQ(r.outcome, Outcome::kTemporaryFailure);
      if (r.error == "overloaded") overloaded.fetch_add(1);
      if (r.error == "shutting down") shutting_down.fetch_add(1);
    });
  }
  EXPECT_EQ(overloaded.load(), 5);
  resolver.reset();
  EXPECT_EQ(calls.load(), 10);
  EXPECT_EQ(shutting_down.load(), 5);
}

}  // namespace
}  // namespace egress
