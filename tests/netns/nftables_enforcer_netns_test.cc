// NftablesEnforcer against the real kernel (as root): applies that go out as
// element deltas (computed incrementally by NftElementsCache) leave the
// kernel's table exactly as a whole-table apply of the same RuleSet leaves
// it, step after step; a bad RuleSet changes nothing in the kernel.
//
// Two namespaces of its own: one where the enforcer applies each RuleSet on
// top of the previous one, one where each RuleSet is applied whole to a
// fresh table; their `nft list table inet egress` must match (set elements
// compared as sorted lists).
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/nftables_enforcer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/rule_match.h"
#include "tests/support/status_matchers.h"
#include "tests/support/subprocess.h"

namespace egress::agent {
namespace {

using ::egress::testing::RunCommand;
using ::egress::testing::StatusIs;
using ::testing::HasSubstr;

// A network namespace, deleted by the destructor.
class Namespace {
 public:
  explicit Namespace(const std::string& tag) : name_(absl::StrCat("egenf", getpid(), tag)) {
    const auto result = RunCommand({"/usr/sbin/ip", "netns", "add", name_});
    EXPECT_EQ(result.exit_code, 0) << result.err;
  }
  ~Namespace() { RunCommand({"/usr/sbin/ip", "netns", "del", name_}); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// Runs the calling thread in `ns` until destroyed (the enforcer's netlink
// calls happen in the caller's namespace, so every call is made inside one).
class InNamespace {
 public:
  explicit InNamespace(const Namespace& ns) {
    self_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    const int target = open(absl::StrCat("/run/netns/", ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
    entered_ = self_ >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0;
    if (target >= 0) close(target);
  }
  ~InNamespace() {
    if (entered_ && setns(self_, CLONE_NEWNET) != 0) std::abort();  // never run on in the node
    if (self_ >= 0) close(self_);
  }
  bool entered() const { return entered_; }

 private:
  int self_ = -1;
  bool entered_ = false;
};

// The table as nft lists it, with every set's elements as a sorted list
// (the listing order of hash sets depends on the kernel's hashing) and the
// rest (declarations, chains) as text.
struct Listing {
  std::string structure;
  std::map<std::string, std::vector<std::string>> elements;
  bool operator==(const Listing&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Listing& l) {
  os << l.structure;
  for (const auto& [set, list] : l.elements) {
    os << set << ": " << absl::StrJoin(list, ", ") << "\n";
  }
  return os;
}

Listing List(const Namespace& ns) {
  const auto result = RunCommand({"/usr/sbin/ip", "netns", "exec", ns.name(), "/usr/sbin/nft",
                                  "list", "table", "inet", "egress"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  Listing listing;
  std::string set, pending;
  bool in_elements = false;
  for (absl::string_view line : absl::StrSplit(result.out, '\n')) {
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "\tset ") || absl::ConsumePrefix(&line, "\tmap ")) {
      set = std::string(line.substr(0, line.find(' ')));
    }
    absl::string_view rest = text;
    if (!in_elements && absl::ConsumePrefix(&rest, "elements = {")) in_elements = true;
    if (!in_elements) {
      absl::StrAppend(&listing.structure, text, "\n");
      continue;
    }
    const size_t close = rest.find('}');
    absl::StrAppend(&pending, rest.substr(0, close));
    if (close == absl::string_view::npos) continue;
    for (absl::string_view e : absl::StrSplit(pending, ',', absl::SkipWhitespace())) {
      listing.elements[set].emplace_back(absl::StripAsciiWhitespace(e));
    }
    std::sort(listing.elements[set].begin(), listing.elements[set].end());
    pending.clear();
    in_elements = false;
  }
  return listing;
}

using ::egress::testing::Rule;

TEST(NftablesEnforcerNetnsTest, DeltasLeaveTheTableAWholeApplyMakes) {
  Namespace incremental_ns("i");
  Namespace whole_ns("w");
  std::unique_ptr<NftablesEnforcer> incremental, whole;
  {
    InNamespace in(incremental_ns);
    ASSERT_TRUE(in.entered());
    ASSERT_OK_AND_ASSIGN(incremental, NftablesEnforcer::Create(NftOptions{}));
  }
  {
    InNamespace in(whole_ns);
    ASSERT_TRUE(in.entered());
    ASSERT_OK_AND_ASSIGN(whole, NftablesEnforcer::Create(NftOptions{}));
  }

  // Each step is one edit of the previous RuleSet.
  std::vector<std::pair<std::string, v1::RuleSet>> steps;
  v1::RuleSet rules;
  rules.add_exempt_networks("10.50.0.0/16");
  rules.add_exempt_networks("fd50::/64");
  v1::AccountRules* a = rules.add_accounts();
  a->set_uid(61000);
  for (int i = 0; i < 300; ++i) {
    *a->add_rules() =
        Rule(absl::StrCat("192.0.2.", i % 250, "/32"), v1::PROTOCOL_TCP, i < 250 ? 443 : 80);
  }
  *a->add_rules() = Rule("198.51.100.0/24", v1::PROTOCOL_UDP, 0);
  *a->add_rules() = Rule("203.0.113.0/24", v1::PROTOCOL_ANY, 25);
  *a->add_rules() = Rule("2001:db8::/32", v1::PROTOCOL_ANY, 0);
  *a->add_rules() = Rule("192.0.2.9/32", v1::PROTOCOL_ICMP, 0);
  a->set_egress_ipv4("192.0.2.100");
  v1::AccountRules* b = rules.add_accounts();
  b->set_uid(61001);
  *b->add_rules() = Rule("2001:db8:5::7/128", v1::PROTOCOL_UDP, 53);
  b->set_egress_ipv6("2001:db8:1::100");
  steps.push_back({"base", rules});
  *rules.mutable_accounts(0)->add_rules() = Rule("192.0.2.251/32", v1::PROTOCOL_TCP, 443);
  steps.push_back({"rule added", rules});
  rules.mutable_accounts(0)->mutable_rules()->DeleteSubrange(100, 1);
  steps.push_back({"rule removed", rules});
  rules.mutable_accounts(0)->mutable_rules(5)->set_network("192.0.2.254/32");
  steps.push_back({"rule edited", rules});
  *rules.mutable_accounts(0)->add_rules() = Rule("192.0.2.0/25", v1::PROTOCOL_TCP, 443);
  steps.push_back({"network hides the addresses it contains", rules});
  rules.mutable_accounts(0)->mutable_rules()->RemoveLast();
  steps.push_back({"network removed: the addresses are back", rules});
  v1::AccountRules* c = rules.add_accounts();
  c->set_uid(61002);
  c->set_block_all(true);
  *c->add_rules() = Rule("10.9.0.0/16", v1::PROTOCOL_TCP, 0);
  steps.push_back({"account added", rules});
  rules.mutable_accounts(2)->set_block_all(false);
  steps.push_back({"block_all off", rules});
  rules.mutable_accounts(0)->set_egress_ipv4("192.0.2.101");
  rules.mutable_accounts(1)->clear_egress_ipv6();
  steps.push_back({"egress addresses changed", rules});
  rules.mutable_accounts()->DeleteSubrange(1, 1);
  steps.push_back({"account removed", rules});
  rules.clear_exempt_networks();
  rules.add_exempt_networks("10.60.0.0/16");
  steps.push_back({"exempt networks changed", rules});

  uint64_t version = 1;
  for (auto& [name, step] : steps) {
    SCOPED_TRACE(name);
    step.set_version(version++);
    {
      InNamespace in(incremental_ns);
      ASSERT_TRUE(in.entered());
      ASSERT_OK(incremental->Apply(step));
    }
    {
      InNamespace in(whole_ns);
      ASSERT_TRUE(in.entered());
      ASSERT_OK(whole->Remove());  // the next Apply refills the whole table
      ASSERT_OK(whole->Apply(step));
    }
    const Listing listing = List(incremental_ns);
    EXPECT_EQ(listing, List(whole_ns));
    EXPECT_FALSE(listing.elements.empty());
  }
  // Only the first apply refilled the table; every later one was a delta.
  EXPECT_EQ(incremental->stats().refills, 1);
  EXPECT_EQ(incremental->stats().recreates, 0);
  EXPECT_EQ(incremental->stats().deltas, steps.size() - 1);
  EXPECT_EQ(whole->stats().refills, steps.size());

  // A bad RuleSet: the field is named and the kernel keeps the last rules;
  // the next good RuleSet's delta starts from them.
  const Listing before = List(incremental_ns);
  v1::RuleSet bad = steps.back().second;
  bad.set_version(version++);
  *bad.mutable_accounts(0)->add_rules() = Rule("192.0.2.1/24", v1::PROTOCOL_TCP, 443);
  {
    InNamespace in(incremental_ns);
    ASSERT_TRUE(in.entered());
    EXPECT_THAT(incremental->Apply(bad),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat("accounts[0].rules[",
                                                bad.accounts(0).rules_size() - 1, "].network"))));
  }
  EXPECT_EQ(List(incremental_ns), before);
  v1::RuleSet good = steps.back().second;
  good.set_version(version++);
  *good.mutable_accounts(0)->add_rules() = Rule("192.0.2.0/24", v1::PROTOCOL_UDP, 443);
  {
    InNamespace in(incremental_ns);
    ASSERT_TRUE(in.entered());
    ASSERT_OK(incremental->Apply(good));
  }
  {
    InNamespace in(whole_ns);
    ASSERT_TRUE(in.entered());
    ASSERT_OK(whole->Remove());
    ASSERT_OK(whole->Apply(good));
  }
  EXPECT_EQ(List(incremental_ns), List(whole_ns));
  EXPECT_EQ(incremental->stats().deltas, steps.size());
}

}  // namespace
}  // namespace egress::agent
