// The agent against the real kernel: conntrack, NFLOG and nftables inside
// network namespaces this test creates, streaming to an in-process
// CollectorService (tests/fakes) over a unix socket.
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_collector.h"
#include "tests/netns/netns_env.h"
#include "tests/support/rule_match.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"

namespace egress::testing {
namespace {

constexpr uint32_t kUidA = 2001;
constexpr uint32_t kUidB = 2002;
constexpr uint32_t kUidOther = 3000;  // not an account
constexpr absl::Duration kWait = absl::Seconds(20);

// GET /metrics from 127.0.0.1:`port` inside network namespace `ns`: a thread
// of our own enters it (setns affects the calling thread only).
std::string ScrapeInNamespace(const std::string& ns, int port) {
  std::string response;
  std::thread([&] {
    const int ns_fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0 || setns(ns_fd, CLONE_NEWNET) != 0) return;
    close(ns_fd);
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
      const std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
      send(fd, request.data(), request.size(), MSG_NOSIGNAL);
      char buffer[8192];
      ssize_t n;
      while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
    }
    close(fd);
  }).join();
  return response;
}

// The value of one series of the text format, or -1 when absent.
double MetricValue(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    double value = 0;
    if (absl::StartsWith(line, series + " ") &&
        absl::SimpleAtod(line.substr(series.size() + 1), &value)) {
      return value;
    }
  }
  return -1;
}

using ::egress::testing::Rule;
using ::testing::HasSubstr;

class AgentNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "the netns tier must run as root";
    ASSERT_OK_AND_ASSIGN(net_, NetnsPair::Create());
    char tmpl[] = "/tmp/egress-agent-netns-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_OK_AND_ASSIGN(collector_, FakeCollector::Start(dir_ + "/collector.sock"));
    ASSERT_OK_AND_ASSIGN(tcp443_,
                         RemoteListener::Start(net_->remote(), RemoteListener::Kind::kTcp, 443));
    ASSERT_OK_AND_ASSIGN(tcp80_,
                         RemoteListener::Start(net_->remote(), RemoteListener::Kind::kTcp, 80));
    ASSERT_OK_AND_ASSIGN(udp53_,
                         RemoteListener::Start(net_->remote(), RemoteListener::Kind::kUdp, 53));
  }

  void TearDown() override {
    agent_.reset();  // SIGKILL if still running
    collector_.reset();
    tcp443_.reset();
    tcp80_.reset();
    udp53_.reset();
    net_.reset();  // namespaces, with the agent's nft table
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  v1::RuleSet Accounts(uint64_t version) {
    v1::RuleSet rules;
    rules.set_version(version);
    rules.add_exempt_networks(absl::StrCat(kRemoteExempt, "/32"));
    v1::AccountRules* a = rules.add_accounts();
    a->set_account_id("acct-a");
    a->set_uid(kUidA);
    v1::AccountRules* b = rules.add_accounts();
    b->set_account_id("acct-b");
    b->set_uid(kUidB);
    return rules;
  }

  void StartAgent(const std::string& service, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {"/usr/sbin/ip",
                                     "netns",
                                     "exec",
                                     net_->node(),
                                     EGRESS_AGENT_PATH,
                                     "--node-id=test-node",
                                     "--service=" + service,
                                     "--state-dir=" + dir_ + "/state",
                                     "--batch-interval=100ms",
                                     "--spool-fsync=never",
                                     "--shutdown-grace=3s",
                                     "--stats-interval=1s"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ASSERT_OK_AND_ASSIGN(agent_, ChildProcess::Start(argv));
    auto ready = agent_->WaitForLine("egress-agent ready", kWait);
    ASSERT_TRUE(ready.ok()) << ready.status() << "\nstderr:\n" << agent_->err();
  }

  void StopAgent() {
    agent_->Signal(SIGTERM);
    auto code = agent_->Wait(absl::Seconds(20));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 0) << agent_->err();
  }

  void ApplyAndWait(const v1::RuleSet& rules) {
    collector_->PushRuleSet(rules);
    ASSERT_EQ(collector_->WaitForRulesApplied(rules.version(), kWait), "");
  }

  AttemptResult Attempts(uint32_t uid, bool tcp, const std::string& ip, uint16_t port, int n) {
    auto r = AttemptsAs(net_->node(), uid, tcp, ip, port, n);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : AttemptResult{};
  }

  uint64_t Count(uint32_t uid, const std::string& ip, v1::Protocol p, uint32_t port,
                 v1::Action action) {
    return collector_->Count(uid, ip, p, port, action);
  }

  std::string Dump() {
    std::string out;
    for (const auto& [key, count] : collector_->Counts()) {
      out += absl::StrCat(std::get<0>(key), " ", std::get<1>(key), " ", std::get<2>(key), " ",
                          std::get<3>(key), " ", std::get<4>(key), " -> ", count, "\n");
    }
    return out;
  }

  // The body of the CountsEveryConnectionExactly tests: with the conntrack
  // source, or with the kernel's sets (the default).
  void CountsEveryConnectionExactly(bool conntrack);

  std::unique_ptr<NetnsPair> net_;
  std::string dir_;
  std::unique_ptr<FakeCollector> collector_;
  std::unique_ptr<RemoteListener> tcp443_, tcp80_, udp53_;
  std::unique_ptr<ChildProcess> agent_;
};

// What the conntrack source does (the unattributed count, overrun
// recovery, the start-up resync) is tested with it chosen explicitly; the
// default (accepted connections counted by the kernel's sets) runs in the
// other tests here and in the fault tests.
const std::string kConntrack = "--accept-source=conntrack";

TEST_F(AgentNetnsTest, CountsEveryConnectionExactly) { CountsEveryConnectionExactly(true); }

TEST_F(AgentNetnsTest, CountsEveryConnectionExactlyInKernelSets) {
  CountsEveryConnectionExactly(false);
}

void AgentNetnsTest::CountsEveryConnectionExactly(bool conntrack) {
  collector_->SetWelcome("Europe/Moscow", Accounts(1));
  StartAgent(collector_->target(),
             conntrack ? std::vector<std::string>{kConntrack} : std::vector<std::string>{});
  ASSERT_EQ(collector_->WaitForRulesApplied(1, kWait), "");

  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 20).ok, 20);
  EXPECT_EQ(Attempts(kUidB, false, kRemoteY, 53, 15).ok, 15);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX6, 443, 7).ok, 7);
  EXPECT_EQ(Attempts(kUidB, false, kRemoteY6, 53, 4).ok, 4);
  EXPECT_EQ(Attempts(kUidOther, true, kRemoteX, 443, 5).ok, 5);
  // Exempt destinations are not outgoing.
  EXPECT_EQ(Attempts(kUidA, true, kRemoteExempt, 443, 3).ok, 3);

  // Streamed while running...
  EXPECT_TRUE(collector_->WaitUntil(
      [](const FakeCollector& c) {
        return c.Total(kUidA, v1::ACTION_ACCEPT) >= 27 && c.Total(kUidB, v1::ACTION_ACCEPT) >= 19;
      },
      kWait));
  // Other users' connections are counted in the stats only.
  EXPECT_TRUE(collector_->WaitUntil(
      [](const FakeCollector& c) {
        for (const v1::AgentStats& s : c.stats()) {
          if (s.unattributed_events() >= 5) return true;
        }
        return false;
      },
      kWait));
  // ...and exact once the agent has flushed and stopped.
  StopAgent();
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 20u);
  EXPECT_EQ(Count(kUidB, kRemoteY, v1::PROTOCOL_UDP, 53, v1::ACTION_ACCEPT), 15u);
  EXPECT_EQ(Count(kUidA, kRemoteX6, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 7u);
  EXPECT_EQ(Count(kUidB, kRemoteY6, v1::PROTOCOL_UDP, 53, v1::ACTION_ACCEPT), 4u);
  EXPECT_EQ(collector_->Total(kUidA, v1::ACTION_ACCEPT), 27u);
  EXPECT_EQ(collector_->Total(kUidB, v1::ACTION_ACCEPT), 19u);
  EXPECT_EQ(collector_->Total(kUidOther, v1::ACTION_ACCEPT), 0u);
  EXPECT_EQ(collector_->sequence_gaps(), 0u);
  EXPECT_EQ(collector_->loss_reports(), 0u);
  // The remote accepted every connection (its accept loop runs on its own).
  EXPECT_TRUE(collector_->WaitUntil(
      [&](const FakeCollector&) { return tcp443_->total() == 20 + 7 + 5 + 3; }, kWait));
}

TEST_F(AgentNetnsTest, MetricsCountWhatTheKernelReported) {
  collector_->SetWelcome("UTC", Accounts(1));
  // The node namespace is this test's own, so a fixed port cannot collide.
  StartAgent(collector_->target(), {"--metrics-listen=127.0.0.1:9465", kConntrack});
  ASSERT_EQ(collector_->WaitForRulesApplied(1, kWait), "");
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 12).ok, 12);
  EXPECT_EQ(Attempts(kUidB, false, kRemoteY, 53, 5).ok, 5);
  EXPECT_EQ(Attempts(kUidOther, true, kRemoteX, 443, 2).ok, 2);
  ASSERT_TRUE(collector_->WaitUntil(
      [](const FakeCollector& c) {
        return c.Total(kUidA, v1::ACTION_ACCEPT) == 12 && c.Total(kUidB, v1::ACTION_ACCEPT) == 5;
      },
      kWait));
  // Everything counted is acknowledged; the next scrape shows it.
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text = ScrapeInNamespace(net_->node(), 9465);
    if (MetricValue(text, "egress_agent_spool_batches") == 0 &&
        MetricValue(text, "egress_agent_unattributed_events_total") == 2) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_THAT(text, ::testing::StartsWith("HTTP/1.1 200 OK")) << agent_->err();
  EXPECT_EQ(MetricValue(text, "egress_agent_events_total{source=\"conntrack\"}"), 17) << text;
  EXPECT_EQ(MetricValue(text, "egress_agent_events_total{source=\"nflog\"}"), 0);
  EXPECT_EQ(MetricValue(text, "egress_agent_unattributed_events_total"), 2);
  EXPECT_EQ(MetricValue(text, "egress_agent_netlink_overruns_total{source=\"conntrack\"}"), 0);
  EXPECT_EQ(MetricValue(text, "egress_agent_events_lost_total{source=\"conntrack\"}"), 0);
  EXPECT_EQ(MetricValue(text, "egress_agent_rule_version_received"), 1);
  EXPECT_EQ(MetricValue(text, "egress_agent_rule_version_applied"), 1);
  EXPECT_EQ(MetricValue(text, "egress_agent_nft_errors_total"), 0);
  EXPECT_EQ(MetricValue(text, "egress_agent_uplink_connected"), 1);
  EXPECT_EQ(MetricValue(text, "egress_agent_spool_batches"), 0);
  EXPECT_EQ(MetricValue(text, "egress_agent_spool_dropped_batches_total"), 0);
  // The default --spool-max-bytes (256 MiB), or 90% of a smaller /tmp.
  EXPECT_GT(MetricValue(text, "egress_agent_spool_max_bytes"), 0);
  EXPECT_LE(MetricValue(text, "egress_agent_spool_max_bytes"), 256 << 20);
  // Two destinations, one day: at least two records, in batches all acked.
  EXPECT_GE(MetricValue(text, "egress_agent_records_total"), 2);
  const double sealed = MetricValue(text, "egress_agent_batches_sealed_total");
  EXPECT_GE(sealed, 1);
  EXPECT_EQ(MetricValue(text, "egress_agent_batches_acked_total"), sealed);
  EXPECT_EQ(MetricValue(text, "egress_agent_spool_acked_seq"), sealed);
  StopAgent();
}

TEST_F(AgentNetnsTest, BlocksRejectAtOnceAndCountExactly) {
  collector_->SetWelcome("UTC", Accounts(1));
  StartAgent(collector_->target());
  ASSERT_EQ(collector_->WaitForRulesApplied(1, kWait), "");

  v1::RuleSet rules = Accounts(2);
  *rules.mutable_accounts(0)->add_rules() =
      Rule(absl::StrCat(kRemoteX, "/32"), v1::PROTOCOL_TCP, 443);
  // CIDR, every TCP port: 10.77.0.128/26 holds Z but not X or Y.
  *rules.mutable_accounts(0)->add_rules() = Rule("10.77.0.128/26", v1::PROTOCOL_TCP, 0);
  // Any protocol, any port, IPv6.
  *rules.mutable_accounts(0)->add_rules() =
      Rule(absl::StrCat(kRemoteY6, "/128"), v1::PROTOCOL_ANY, 0);
  ApplyAndWait(rules);

  const absl::Time start = absl::Now();
  AttemptResult a = Attempts(kUidA, true, kRemoteX, 443, 10);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "rejects must be immediate";
  EXPECT_EQ(a.refused, 10) << "errno " << a.last_errno;
  EXPECT_EQ(a.ok, 0);
  EXPECT_EQ(Attempts(kUidB, true, kRemoteX, 443, 10).ok, 10);
  // Same address, another port: allowed.
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 80, 4).ok, 4);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteZ, 80, 6).refused, 6);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteZ, 443, 2).refused, 2);
  EXPECT_EQ(Attempts(kUidA, false, kRemoteY6, 53, 5).refused, 5);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteY6, 443, 3).refused, 3);

  // Unblock: traffic flows again.
  ApplyAndWait(Accounts(3));
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 5).ok, 5);

  StopAgent();
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_REJECT), 10u);
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 5u);
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 80, v1::ACTION_ACCEPT), 4u);
  EXPECT_EQ(Count(kUidA, kRemoteZ, v1::PROTOCOL_TCP, 80, v1::ACTION_REJECT), 6u);
  EXPECT_EQ(Count(kUidA, kRemoteZ, v1::PROTOCOL_TCP, 443, v1::ACTION_REJECT), 2u);
  EXPECT_EQ(Count(kUidA, kRemoteY6, v1::PROTOCOL_UDP, 53, v1::ACTION_REJECT), 5u);
  EXPECT_EQ(Count(kUidA, kRemoteY6, v1::PROTOCOL_TCP, 443, v1::ACTION_REJECT), 3u);
  EXPECT_EQ(collector_->Total(kUidA, v1::ACTION_REJECT), 26u) << Dump();
  EXPECT_EQ(collector_->Total(kUidB, v1::ACTION_REJECT), 0u);
  EXPECT_EQ(Count(kUidB, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 10u);
  EXPECT_EQ(collector_->lost_events(), 0u);
}

TEST_F(AgentNetnsTest, BlockAllSparesExemptNetworksAndOtherAccounts) {
  v1::RuleSet rules = Accounts(1);
  rules.mutable_accounts(0)->set_block_all(true);
  collector_->SetWelcome("UTC", rules);
  StartAgent(collector_->target());
  ASSERT_EQ(collector_->WaitForRulesApplied(1, kWait), "");

  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 4).refused, 4);
  EXPECT_EQ(Attempts(kUidA, false, kRemoteY, 53, 3).refused, 3);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX6, 80, 2).refused, 2);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteExempt, 443, 5).ok, 5);
  EXPECT_EQ(Attempts(kUidB, true, kRemoteX, 443, 6).ok, 6);

  // Lifting the lock restores traffic.
  ApplyAndWait(Accounts(2));
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 1).ok, 1);

  StopAgent();
  EXPECT_EQ(collector_->Total(kUidA, v1::ACTION_REJECT), 9u);
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 1u);
  EXPECT_EQ(collector_->Total(kUidA, v1::ACTION_ACCEPT), 1u) << "exempt must not be recorded";
  EXPECT_EQ(collector_->Total(kUidB, v1::ACTION_ACCEPT), 6u);
}

TEST_F(AgentNetnsTest, RemoteSeesTheAccountsEgressAddress) {
  v1::RuleSet rules = Accounts(1);
  rules.mutable_accounts(0)->set_egress_ipv4(kDedicatedV4);
  rules.mutable_accounts(0)->set_egress_ipv6(kDedicatedV6);
  rules.mutable_accounts(1)->set_egress_ipv4(kNodeV4);
  collector_->SetWelcome("UTC", rules);
  StartAgent(collector_->target());
  ASSERT_EQ(collector_->WaitForRulesApplied(1, kWait), "");

  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 3).ok, 3);
  EXPECT_EQ(Attempts(kUidB, true, kRemoteX, 443, 2).ok, 2);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX6, 443, 1).ok, 1);
  EXPECT_EQ(Attempts(kUidA, false, kRemoteY, 53, 2).ok, 2);
  ASSERT_TRUE(
      collector_->WaitUntil([&](const FakeCollector&) { return tcp443_->total() == 6; }, kWait));
  ASSERT_TRUE(
      collector_->WaitUntil([&](const FakeCollector&) { return udp53_->total() == 2; }, kWait));
  const std::map<std::string, int> expected = {{kDedicatedV4, 3}, {kNodeV4, 2}, {kDedicatedV6, 1}};
  EXPECT_EQ(tcp443_->peers(), expected);
  EXPECT_EQ(udp53_->peers(), (std::map<std::string, int>{{kDedicatedV4, 2}}));
  StopAgent();
  // Recorded under the original destination, SNAT or not.
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 3u);
}

TEST_F(AgentNetnsTest, PersistedRulesAreEnforcedAtBootWithoutTheService) {
  v1::RuleSet rules = Accounts(5);
  *rules.mutable_accounts(0)->add_rules() =
      Rule(absl::StrCat(kRemoteX, "/32"), v1::PROTOCOL_TCP, 443);
  collector_->SetWelcome("UTC", rules);
  StartAgent(collector_->target());
  ASSERT_EQ(collector_->WaitForRulesApplied(5, kWait), "");
  StopAgent();

  // A reboot: the kernel forgets the table; the service is unreachable.
  CommandResult flush = RunCommand(
      {"/usr/sbin/ip", "netns", "exec", net_->node(), "/usr/sbin/nft", "delete table inet egress"});
  ASSERT_EQ(flush.exit_code, 0) << flush.err;
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 1).ok, 1);

  StartAgent("unix:" + dir_ + "/nobody-listens.sock");
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 3).refused, 3);
  EXPECT_EQ(Attempts(kUidB, true, kRemoteX, 443, 2).ok, 2);
  StopAgent();
}

// Temporary rules: the kernel drops them at their expiry by itself (element
// timeouts), with the service gone and after the agent restarted from its
// saved rule set (the time left is computed again); an already expired rule
// is never enforced; permanent rules stay.
TEST_F(AgentNetnsTest, TemporaryRulesEndOnTimeWithoutTheService) {
  // Far enough ahead for the steps below on a loaded 2-core machine.
  const absl::Time expiry = absl::Now() + absl::Seconds(6);
  auto until = [](absl::Time t, v1::RuleMatch rule) {
    rule.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(t));
    rule.mutable_expire_time()->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(absl::ToUnixSeconds(t)))));
    return rule;
  };
  v1::RuleSet rules = Accounts(7);
  v1::AccountRules* a = rules.mutable_accounts(0);
  *a->add_rules() = until(expiry, Rule(absl::StrCat(kRemoteX, "/32"), v1::PROTOCOL_TCP, 443));
  *a->add_rules() = until(expiry, Rule("10.77.0.128/26", v1::PROTOCOL_TCP, 80));
  // A permanent network inside a temporary one: hidden in the kernel while
  // the temporary one holds, enforced again (by the agent alone) after it.
  *a->add_rules() = until(expiry, Rule("10.77.0.128/26", v1::PROTOCOL_TCP, 443));
  *a->add_rules() = Rule("10.77.0.128/27", v1::PROTOCOL_TCP, 443);
  *a->add_rules() = Rule(absl::StrCat(kRemoteX, "/32"), v1::PROTOCOL_TCP, 80);
  *a->add_rules() = until(absl::Now() - absl::Seconds(1),
                          Rule(absl::StrCat(kRemoteY, "/32"), v1::PROTOCOL_TCP, 443));
  collector_->SetWelcome("UTC", rules);
  StartAgent(collector_->target());
  ASSERT_EQ(collector_->WaitForRulesApplied(7, kWait), "");
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 2).refused, 2);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteZ, 80, 2).refused, 2);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteZ, 443, 2).refused, 2);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 80, 2).refused, 2);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteY, 443, 2).ok, 2) << "an expired rule is not enforced";

  // The service goes away for good, and the node crashes and reboots: the
  // agent applies its saved rule set again, with the time left.
  collector_.reset();
  agent_->Signal(SIGKILL);
  ASSERT_TRUE(agent_->Wait(absl::Seconds(10)).ok());
  CommandResult flush = RunCommand(
      {"/usr/sbin/ip", "netns", "exec", net_->node(), "/usr/sbin/nft", "delete table inet egress"});
  ASSERT_EQ(flush.exit_code, 0) << flush.err;
  StartAgent("unix:" + dir_ + "/nobody-listens.sock");
  CommandResult listing = RunCommand(
      {"/usr/sbin/ip", "netns", "exec", net_->node(), "/usr/sbin/nft", "list table inet egress"});
  EXPECT_THAT(listing.out, HasSubstr("flags interval,timeout"));
  EXPECT_THAT(listing.out, HasSubstr("expires"));
  ASSERT_LT(absl::Now(), expiry) << "the test machine is too slow for a 6 s expiry";
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 1).refused, 1);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteZ, 80, 1).refused, 1);

  // Poll until the temporary rules let connections through.
  absl::Time opened_x = absl::InfiniteFuture(), opened_z = absl::InfiniteFuture();
  while (absl::Now() < expiry + absl::Seconds(5) &&
         (opened_x == absl::InfiniteFuture() || opened_z == absl::InfiniteFuture())) {
    if (opened_x == absl::InfiniteFuture() && Attempts(kUidA, true, kRemoteX, 443, 1).ok == 1) {
      opened_x = absl::Now();
    }
    if (opened_z == absl::InfiniteFuture() && Attempts(kUidA, true, kRemoteZ, 80, 1).ok == 1) {
      opened_z = absl::Now();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  const absl::Duration late_x = opened_x - expiry, late_z = opened_z - expiry;
  // Kernel timeouts count in jiffies: a few ms either way.
  EXPECT_GT(late_x, -absl::Milliseconds(50));
  EXPECT_LT(late_x, absl::Milliseconds(500));
  EXPECT_GT(late_z, -absl::Milliseconds(50));
  EXPECT_LT(late_z, absl::Milliseconds(500));
  std::printf("host rule ended %.0f ms after its expiry, network rule %.0f ms\n",
              absl::ToDoubleMilliseconds(late_x), absl::ToDoubleMilliseconds(late_z));
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 80, 2).refused, 2) << "the permanent rule stays";
  EXPECT_EQ(Attempts(kUidA, true, kRemoteZ, 443, 3).refused, 3)
      << "the permanent /27 the expired /26 hid is enforced again";
  StopAgent();
}

TEST_F(AgentNetnsTest, KillNineAndRestartNeitherLosesNorDoubles) {
  collector_->SetWelcome("UTC", Accounts(1));
  StartAgent(collector_->target());
  ASSERT_EQ(collector_->WaitForRulesApplied(1, kWait), "");
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 10).ok, 10);
  ASSERT_TRUE(collector_->WaitUntil(
      [](const FakeCollector& c) { return c.Total(kUidA, v1::ACTION_ACCEPT) == 10; }, kWait));

  // Committed, but the acks never arrive: a replay must not count them twice.
  collector_->HoldAcks(true);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 5).ok, 5);
  ASSERT_TRUE(collector_->WaitUntil(
      [](const FakeCollector& c) { return c.Total(kUidA, v1::ACTION_ACCEPT) == 15; }, kWait));
  // Sent (so spooled) but never committed: a replay must deliver them.
  collector_->IgnoreBatches(true);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 30).ok, 30);
  EXPECT_EQ(Attempts(kUidB, false, kRemoteY, 53, 12).ok, 12);
  ASSERT_TRUE(collector_->WaitUntil(
      [](const FakeCollector& c) {
        return c.Received(kUidA, v1::ACTION_ACCEPT) == 45 &&
               c.Received(kUidB, v1::ACTION_ACCEPT) == 12;
      },
      kWait));
  agent_->Signal(SIGKILL);
  ASSERT_OK(agent_->Wait(kWait).status());
  EXPECT_EQ(collector_->Total(kUidA, v1::ACTION_ACCEPT), 15u);
  // Made while no agent runs: recovered from the conntrack table at restart
  // (their entries outlive the restart: TCP close timeout 10 s, UDP 30 s).
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 9).ok, 9);
  EXPECT_EQ(Attempts(kUidB, false, kRemoteY6, 53, 4).ok, 4);

  collector_->IgnoreBatches(false);
  collector_->HoldAcks(false);
  StartAgent(collector_->target());
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 8).ok, 8);
  StopAgent();
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 62u) << Dump();
  EXPECT_EQ(Count(kUidB, kRemoteY, v1::PROTOCOL_UDP, 53, v1::ACTION_ACCEPT), 12u);
  EXPECT_EQ(Count(kUidB, kRemoteY6, v1::PROTOCOL_UDP, 53, v1::ACTION_ACCEPT), 4u);
  EXPECT_EQ(collector_->sequence_gaps(), 0u);
  EXPECT_EQ(collector_->lost_events(), 0u);
}

TEST_F(AgentNetnsTest, ReceiveBufferOverrunIsRecoveredFromTheTable) {
  collector_->SetWelcome("UTC", Accounts(1));
  // About a dozen events fit in this buffer, and it may not grow.
  StartAgent(collector_->target(),
             {"--conntrack-rcvbuf=8192", "--conntrack-rcvbuf-max=8192", kConntrack});
  ASSERT_EQ(collector_->WaitForRulesApplied(1, kWait), "");

  // The agent stalls during a burst: the kernel drops events (ENOBUFS).
  agent_->Signal(SIGSTOP);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 1500).ok, 1500);
  EXPECT_EQ(Attempts(kUidB, false, kRemoteY, 53, 300).ok, 300);
  agent_->Signal(SIGCONT);
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX6, 443, 20).ok, 20);

  ASSERT_TRUE(collector_->WaitUntil(
      [](const FakeCollector& c) {
        for (const v1::AgentStats& s : c.stats()) {
          if (s.netlink_overruns() > 0 && s.resyncs() > 0) return true;
        }
        return false;
      },
      kWait))
      << "the agent must have overrun and resynced; stderr:\n"
      << agent_->err();
  StopAgent();
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 1500u) << Dump();
  EXPECT_EQ(Count(kUidB, kRemoteY, v1::PROTOCOL_UDP, 53, v1::ACTION_ACCEPT), 300u);
  EXPECT_EQ(Count(kUidA, kRemoteX6, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 20u);
  EXPECT_EQ(collector_->lost_events(), 0u);
  // Recovered, but the day is still flagged: a dump cannot prove completeness.
  EXPECT_GT(collector_->loss_reports(), 0u);
  EXPECT_EQ(collector_->unknown_size_loss_reports(), collector_->loss_reports());
  EXPECT_THAT(agent_->err(), ::testing::HasSubstr("conntrack_overrun_recovered"));
}

TEST_F(AgentNetnsTest, RuleUpdatesUnderTrafficLeaveNoWindow) {
  auto with_block = [&](uint64_t version, bool extra) {
    v1::RuleSet rules = Accounts(version);
    *rules.mutable_accounts(0)->add_rules() =
        Rule(absl::StrCat(kRemoteX, "/32"), v1::PROTOCOL_TCP, 443);
    if (extra) {
      *rules.mutable_accounts(0)->add_rules() = Rule("10.77.0.128/26", v1::PROTOCOL_ANY, 0);
      rules.mutable_accounts(1)->set_block_all(true);
    }
    return rules;
  };
  collector_->SetWelcome("UTC", with_block(1, false));
  StartAgent(collector_->target());
  ASSERT_EQ(collector_->WaitForRulesApplied(1, kWait), "");

  AttemptResult during;
  std::thread traffic([&] { during = Attempts(kUidA, true, kRemoteX, 443, 3000); });
  for (uint64_t version = 2; version <= 31; ++version) {
    ApplyAndWait(with_block(version, version % 2 == 0));
  }
  traffic.join();
  EXPECT_EQ(during.ok, 0) << "a connection slipped through a rule update";
  EXPECT_EQ(during.refused, 3000);
  StopAgent();
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_REJECT), 3000u);
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 0u);
  EXPECT_THAT(agent_->err(), ::testing::Not(::testing::HasSubstr("nft_table_recreated")));
}

TEST_F(AgentNetnsTest, DowntimeBeyondTheResyncWindowFlagsTheDay) {
  // Closed TCP connections leave the table after 1 s in this namespace.
  CommandResult sysctl =
      RunCommand({"/usr/sbin/ip", "netns", "exec", net_->node(), "/usr/sbin/sysctl", "-qw",
                  "net.netfilter.nf_conntrack_tcp_timeout_close=1"});
  ASSERT_EQ(sysctl.exit_code, 0) << sysctl.err;
  collector_->SetWelcome("UTC", Accounts(1));
  StartAgent(collector_->target(), {kConntrack});
  ASSERT_EQ(collector_->WaitForRulesApplied(1, kWait), "");
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 3).ok, 3);
  StopAgent();
  // The condition under test is time itself: stay down past the window.
  absl::SleepFor(absl::Milliseconds(2500));
  StartAgent(collector_->target(), {kConntrack});
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 1).ok, 1);
  StopAgent();
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 4u);
  EXPECT_GE(collector_->loss_reports(), 1u);
  EXPECT_EQ(collector_->unknown_size_loss_reports(), collector_->loss_reports());
  EXPECT_EQ(collector_->lost_events(), 0u);
  EXPECT_THAT(agent_->err(), ::testing::HasSubstr("resync_window_exceeded"));
}

// SIGTERM with connections counted but not sealed yet (a long batch
// interval): the agent drains its sockets, seals, waits for the ack and
// exits 0 at once; nothing is left behind.
TEST_F(AgentNetnsTest, SigtermSealsWhatIsCountedAndExitsCleanly) {
  collector_->SetWelcome("UTC", Accounts(1));
  StartAgent(collector_->target(), {"--batch-interval=60s"});
  ASSERT_EQ(collector_->WaitForRulesApplied(1, kWait), "");
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 5).ok, 5);
  EXPECT_EQ(Attempts(kUidB, false, kRemoteY, 53, 2).ok, 2);
  EXPECT_EQ(collector_->Total(kUidA, v1::ACTION_ACCEPT), 0u) << "nothing sealed before SIGTERM";
  const absl::Time start = absl::Now();
  StopAgent();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 5u);
  EXPECT_EQ(Count(kUidB, kRemoteY, v1::PROTOCOL_UDP, 53, v1::ACTION_ACCEPT), 2u);
  EXPECT_THAT(agent_->err(), ::testing::HasSubstr("all_acked=true"));
  EXPECT_THAT(agent_->err(), ::testing::HasSubstr("spooled_batches=0"));
}

// SIGUSR1 seals what the running agent holds; --once-dump, run beside it,
// shows what the service has not acknowledged, and changes nothing.
TEST_F(AgentNetnsTest, SigusrSealsAndOnceDumpShowsWhatIsNotAcknowledged) {
  collector_->SetWelcome("UTC", Accounts(1));
  collector_->IgnoreBatches(true);  // the service's database is down
  StartAgent(collector_->target(), {"--batch-interval=60s", "--print-batches"});
  ASSERT_EQ(collector_->WaitForRulesApplied(1, kWait), "");
  EXPECT_EQ(Attempts(kUidA, true, kRemoteX, 443, 7).ok, 7);
  agent_->Signal(SIGUSR1);
  auto sealed = agent_->WaitForLine("batch ", kWait);
  ASSERT_TRUE(sealed.ok()) << sealed.status() << agent_->err();
  CommandResult dump =
      RunCommand({EGRESS_AGENT_PATH, "--once-dump", "--state-dir=" + dir_ + "/state"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_THAT(dump.out, ::testing::HasSubstr("state rule_version=1 accounts=2 time_zone=UTC"));
  EXPECT_THAT(dump.out, ::testing::HasSubstr(absl::StrCat(
                            "record uid=", kUidA,
                            " day=", absl::FormatTime("%Y-%m-%d", absl::Now(), absl::UTCTimeZone()),
                            " dst=", kRemoteX, " protocol=tcp port=443 action=ACCEPT count=7")));
  EXPECT_THAT(dump.out, ::testing::HasSubstr("unacked_batches=1"));
  EXPECT_THAT(dump.out, ::testing::HasSubstr("total records=1 accept=7 reject=0"));

  collector_->IgnoreBatches(false);
  collector_->DropStream();  // the agent reconnects and replays
  StopAgent();
  EXPECT_EQ(Count(kUidA, kRemoteX, v1::PROTOCOL_TCP, 443, v1::ACTION_ACCEPT), 7u);
  EXPECT_EQ(collector_->duplicate_batches(), 0u);
  // SIGUSR1 also logged the counters.
  EXPECT_THAT(agent_->err(), ::testing::HasSubstr("event=agent_stats conntrack_events=7"));
}

}  // namespace
}  // namespace egress::testing
