#include "service/storage/rule_changes.h"

namespace egress {
namespace {

constexpr char kBumpNodeVersion[] =
    "UPDATE nodes SET rule_version = rule_version + 1 WHERE node_id = $1 RETURNING rule_version";
constexpr char kMarkAccountChanged[] =
    "UPDATE accounts SET rule_version = $2, updated_at = now() WHERE account_id = $1";
constexpr char kNotify[] = "SELECT pg_notify($1, $2)";
constexpr char kInsertAudit[] = R"sql(
INSERT INTO audit_log (account_id, actor, action, before, after)
VALUES ($1, $2, $3, $4::jsonb, $5::jsonb))sql";

const char* NullableText(const std::optional<std::string>& value) {
  return value.has_value() ? value->c_str() : nullptr;
}

}  // namespace

uint64_t RecordRuleChange(pqxx::work& txn, const std::string& node_id,
                          const std::string* account_id) {
  const uint64_t version = txn.exec_params1(kBumpNodeVersion, node_id)[0].as<uint64_t>();
  if (account_id != nullptr) txn.exec_params(kMarkAccountChanged, *account_id, version);
  txn.exec_params(kNotify, kRulesChangedChannel, node_id);
  return version;
}

void InsertAuditEvent(pqxx::work& txn, const std::string& account_id, const std::string& actor,
                      const std::string& action, const std::optional<std::string>& before_json,
                      const std::optional<std::string>& after_json) {
  txn.exec_params(kInsertAudit, account_id, actor, action, NullableText(before_json),
                  NullableText(after_json));
}

}  // namespace egress
