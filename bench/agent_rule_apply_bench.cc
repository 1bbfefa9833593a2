// Rule apply latency: a new RuleSet handed to the enforcer -> the kernel
// enforcing it (one libnftables transaction), p50/p99, when one rule changes
// in an account holding 1, 100 or 10,000 rules (beside 100 other accounts).
// In the same run: the floor (a transaction that changes nothing,
// `add table` of the existing table), the user-space part alone two ways
// (the enforcer's: NftElementsCache.Prepare + RenderDelta + Commit, which
// rebuilds only what changed; and the way before it: validate and build the
// elements of both whole RuleSets, diff them), and the whole-table refill the
// enforcer falls back to. Runs in a network namespace it creates and deletes.
// Needs root.
//
//   build/bench/agent_rule_apply_bench [--iterations=50]
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/nft_elements_cache.h"
#include "agent/nftables_enforcer.h"
#include "common/command_line.h"
#include "tests/support/subprocess.h"

ABSL_FLAG(int, iterations, 50, "Applies per size (10,000 rules: a fifth of it).");

namespace {

// `rules` rules; the last one's address alternates with the version's parity,
// so consecutive versions differ by exactly one rule.
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
      const int last = r == rules - 1 ? static_cast<int>(version % 2) : 0;
      m->set_network(absl::StrCat("10.", (r >> 8) & 255, ".", r & 255, ".", 1 + last, "/32"));
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
  std::printf("%-36s %8s %9s %9s\n", "apply", "applies", "p50 ms", "p99 ms");
  const int iterations = absl::GetFlag(FLAGS_iterations);
  auto report = [](const std::string& name, std::vector<double> ms) {
    std::sort(ms.begin(), ms.end());
    const auto at = [&](double q) {
      return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))];
    };
    std::printf("%-36s %8zu %9.2f %9.2f\n", name.c_str(), ms.size(), at(0.5), at(0.99));
  };
  auto timed = [](const std::function<absl::Status()>& f) {
    const absl::Time start = absl::Now();
    const absl::Status status = f();
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      std::exit(1);
    }
    return absl::ToDoubleMilliseconds(absl::Now() - start);
  };
  uint64_t version = 1;
  for (int rules : {1, 100, 10000}) {
    const egress::v1::RuleSet base = Rules(version++, rules);
    (void)(*enforcer)->Apply(base);  // the base, untimed
    // Follows the enforcer's versions without a kernel: the user-space part.
    egress::agent::NftElementsCache shadow;
    shadow.Commit(*shadow.Prepare(base));
    std::vector<double> floor, delta, refill, render, incremental;
    for (int i = 0; i < iterations; ++i) {
      floor.push_back(timed([&] { return (*enforcer)->Run("add table inet egress"); }));
      const egress::v1::RuleSet next = Rules(version++, rules);
      // The user-space part of the same change: validate, build the
      // elements of both versions' sets, diff them (no kernel).
      incremental.push_back(timed([&] {
        auto update = shadow.Prepare(next);
        if (!update.ok()) return update.status();
        const bool empty = egress::agent::RenderDelta(update->delta(), next.version(), {}).empty();
        shadow.Commit(*std::move(update));
        return empty ? absl::InternalError("empty delta") : absl::OkStatus();
      }));
      const egress::v1::RuleSet previous = Rules(version - 2, rules);
      render.push_back(timed([&] {
        auto from = egress::agent::BuildElements(previous);
        auto to = egress::agent::BuildElements(next);
        if (!from.ok() || !to.ok()) return absl::InternalError("render");
        return egress::agent::RenderDelta(*from, *to, next.version(), {}).empty()
                   ? absl::InternalError("empty delta")
                   : absl::OkStatus();
      }));
      delta.push_back(timed([&] { return (*enforcer)->Apply(next); }));
    }
    const int refills = rules >= 10000 ? 2 : iterations;
    for (int i = 0; i < refills; ++i) {
      const egress::v1::RuleSet next = Rules(version++, rules);
      auto elements = egress::agent::BuildElements(next);
      const std::string script = egress::agent::RenderScript(*elements, next.version(), {},
                                                             egress::agent::NftApplyMode::kInPlace);
      refill.push_back(timed([&] { return (*enforcer)->Run(script); }));
    }
    report(absl::StrCat("floor (no-op transaction), ", rules), floor);
    report(absl::StrCat("one rule changed, of ", rules), delta);
    report(absl::StrCat("  of which user space, ", rules), incremental);
    report(absl::StrCat("  (2 full builds + diff), ", rules), render);
    report(absl::StrCat("whole-table refill, ", rules), refill);
  }
  (void)(*enforcer)->Remove();
  egress::testing::RunCommand({"/usr/sbin/ip", "netns", "del", ns});
  return 0;
}
