#include "agent/desired_rule_set.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"

namespace egress::agent {

absl::Status DesiredRuleSet::Merge(const v1::RuleSet& incoming) {
  if (!incoming.partial()) {
    current_ = incoming;
    held_ = true;
    return absl::OkStatus();
  }
  if (!held_ || incoming.base_version() != current_.version()) {
    return absl::FailedPreconditionError(
        absl::StrCat("partial rule set ", incoming.version(), " applies on top of version ",
                     incoming.base_version(), ", but this node holds ",
                     held_ ? absl::StrCat("version ", current_.version()) : "no rule set"));
  }
  std::set<std::string> removed(incoming.removed_account_ids().begin(),
                                incoming.removed_account_ids().end());
  std::map<std::string, const v1::AccountRules*> replaced;
  for (const v1::AccountRules& account : incoming.accounts()) {
    replaced[account.account_id()] = &account;
  }
  v1::RuleSet merged;
  merged.set_version(incoming.version());
  *merged.mutable_exempt_networks() = current_.exempt_networks();
  for (const v1::AccountRules& account : current_.accounts()) {
    if (removed.count(account.account_id()) > 0) continue;
    if (replaced.count(account.account_id()) > 0) continue;
    *merged.add_accounts() = account;
  }
  for (const v1::AccountRules& account : incoming.accounts()) *merged.add_accounts() = account;
  std::sort(merged.mutable_accounts()->begin(), merged.mutable_accounts()->end(),
            [](const v1::AccountRules& a, const v1::AccountRules& b) {
              return a.uid() != b.uid() ? a.uid() < b.uid() : a.account_id() < b.account_id();
            });
  current_ = std::move(merged);
  return absl::OkStatus();
}

}  // namespace egress::agent
