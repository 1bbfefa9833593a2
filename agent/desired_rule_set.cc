#include "agent/desired_rule_set.h"

#include <algorithm>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace egress::agent {

absl::Status DesiredRuleSet::Merge(const v1::RuleSet& incoming) {
  if (!incoming.partial()) {
    current_ = incoming;
    current_.clear_base_version();
    current_.clear_removed_account_ids();
    held_ = true;
    return absl::OkStatus();
  }
  if (!held_ || incoming.base_version() != current_.version()) {
    return absl::FailedPreconditionError(
        absl::StrCat("partial rule set ", incoming.version(), " applies on top of version ",
                     incoming.base_version(), ", but this node holds ",
                     held_ ? absl::StrCat("version ", current_.version()) : "no rule set"));
  }
  // In place: only the accounts the delta names are copied (a partial push
  // costs in proportion to the change, not to the node's whole rule set).
  absl::flat_hash_set<std::string> removed(incoming.removed_account_ids().begin(),
                                           incoming.removed_account_ids().end());
  // The last entry of an account named twice wins.
  absl::flat_hash_map<std::string, const v1::AccountRules*> replacing;
  for (const v1::AccountRules& account : incoming.accounts()) {
    replacing[account.account_id()] = &account;
    removed.erase(account.account_id());
  }
  auto* accounts = current_.mutable_accounts();
  int kept = 0;
  for (int i = 0; i < accounts->size(); ++i) {
    const std::string& id = accounts->Get(i).account_id();
    if (removed.contains(id)) continue;
    if (auto it = replacing.find(id); it != replacing.end()) {
      if (it->second != nullptr) {
        accounts->Mutable(i)->CopyFrom(*it->second);
        it->second = nullptr;  // placed
      } else {
        continue;  // a second copy of an account already placed
      }
    }
    if (kept != i) accounts->SwapElements(kept, i);
    ++kept;
  }
  accounts->DeleteSubrange(kept, accounts->size() - kept);
  for (const v1::AccountRules& account : incoming.accounts()) {
    auto it = replacing.find(account.account_id());
    if (it->second == &account) {
      *accounts->Add() = account;
      it->second = nullptr;
    }
  }
  auto by_uid = [](const v1::AccountRules& a, const v1::AccountRules& b) {
    return a.uid() != b.uid() ? a.uid() < b.uid() : a.account_id() < b.account_id();
  };
  if (!std::is_sorted(accounts->begin(), accounts->end(), by_uid)) {
    std::sort(accounts->begin(), accounts->end(), by_uid);
  }
  current_.set_version(incoming.version());
  return absl::OkStatus();
}

}  // namespace egress::agent
