// Rule apply latency: a new RuleSet handed to the enforcer -> the kernel
// enforcing it (one libnftables transaction), p50/p99, for 1, 100 and 10,000
// rules in one account (beside 100 other accounts), and in the same run the
// floor: applying a rule set without any rule. Runs in a network namespace it
// creates and deletes. Needs root.
//
//   build/bench/agent_rule_apply_bench [--iterations=50]
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/nftables_enforcer.h"
#include "common/command_line.h"
#include "tests/support/subprocess.h"

ABSL_FLAG(int, iterations, 50, "Applies per size (10,000 rules: a fifth of it).");

namespace {

egress::v1::RuleSet Rules(uint64_t version, int rules) {
  egress::v1::RuleSet set;
  set.set_version(version);
  for (int a = 0; a < 101; ++a) {
    egress::v1::AccountRules* account = set.add_accounts();
    account->set_uid(10000 + a);
    if (a != 0) continue;
    for (int r = 0; r < rules; ++r) {
      egress::v1::RuleMatch* m = account->add_rules();
      // Distinct /32s; alternate the version's parity so each apply changes.
      m->set_network(absl::StrCat("10.", (r >> 8) & 255, ".", r & 255, ".",
                                  1 + static_cast<int>(version % 2), "/32"));
      m->set_protocol(egress::v1::PROTOCOL_TCP);
      m->set_port(443);
    }
  }
  return set;
}

}  // namespace

int main(int argc, char** argv) {
  egress::ParseCommandLine(argc, argv, "Rule apply latency of the agent's nftables enforcer.");
  const std::string ns = absl::StrCat("egbench", getpid());
  egress::testing::RunCommand({"/usr/sbin/ip", "netns", "add", ns});
  const int fd = open(absl::StrCat("/run/netns/", ns).c_str(), O_RDONLY);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "cannot enter namespace %s (root needed)\n", ns.c_str());
    return 1;
  }
  auto enforcer = egress::agent::NftablesEnforcer::Create({});
  if (!enforcer.ok()) return 1;
  std::printf("%-22s %8s %9s %9s\n", "rule set", "applies", "p50 ms", "p99 ms");
  for (int rules : {0, 1, 100, 10000}) {
    const int iterations = rules >= 10000 ? std::max(1, absl::GetFlag(FLAGS_iterations) / 5)
                                          : absl::GetFlag(FLAGS_iterations);
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
      const egress::v1::RuleSet set = Rules(static_cast<uint64_t>(i + 1), rules);
      const absl::Time start = absl::Now();
      const absl::Status status = (*enforcer)->Apply(set);
      ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
      if (!status.ok()) {
        std::fprintf(stderr, "%s\n", status.ToString().c_str());
        return 1;
      }
    }
    std::sort(ms.begin(), ms.end());
    const auto at = [&](double q) {
      return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
    };
    std::printf("%-22s %8d %9.2f %9.2f\n",
                rules == 0 ? "no rules (floor)" : absl::StrCat(rules, " rules, 1 account").c_str(),
                iterations, at(0.5), at(0.99));
  }
  (void)(*enforcer)->Remove();
  egress::testing::RunCommand({"/usr/sbin/ip", "netns", "del", ns});
  return 0;
}
