// AccountsStore on PostgreSQL.
#ifndef EGRESS_SERVICE_STORAGE_PG_ACCOUNTS_STORE_H_
#define EGRESS_SERVICE_STORAGE_PG_ACCOUNTS_STORE_H_

#include "service/storage/accounts_store.h"
#include "service/storage/database.h"
#include "service/storage/rule_changes.h"

namespace egress {

class PgAccountsStore : public AccountsStore {
 public:
  // `database` must outlive the store.
  explicit PgAccountsStore(Database* database) : database_(*database) {}

  absl::StatusOr<NodeRecord> UpsertNode(const NodeSpec& spec, const Actor& actor) override;
  absl::StatusOr<NodeRecord> GetNode(const std::string& node_id) override;
  absl::StatusOr<std::vector<NodeRecord>> ListNodes(const std::string& after, int limit) override;
  absl::Status DeleteNode(const std::string& node_id, const Actor& actor) override;

  absl::StatusOr<AccountRecord> UpsertAccount(const AccountSpec& spec, const Actor& actor) override;
  absl::StatusOr<AccountRecord> GetAccount(const std::string& account_id) override;
  absl::StatusOr<std::vector<AccountRecord>> ListAccounts(const std::string& node_id,
                                                          const std::string& after,
                                                          int limit) override;
  absl::Status DeleteAccount(const std::string& account_id, const Actor& actor) override;

 private:
  Database& database_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PG_ACCOUNTS_STORE_H_
