#include "service/storage/migrations.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace egress {
namespace {

// Arbitrary constant shared by every replica: "egress" in ASCII.
constexpr int64_t kMigrationLockKey = 0x656772657373;

constexpr char kCreateTable[] = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version     integer PRIMARY KEY,
  name        text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now()
))sql";

}  // namespace

absl::StatusOr<MigrationReport> ApplyMigrations(Database& database,
                                                const std::vector<Migration>& migrations) {
  for (size_t i = 1; i < migrations.size(); ++i) {
    if (migrations[i].version <= migrations[i - 1].version) {
      return absl::InternalError(
          absl::StrCat("migration versions out of order at ", migrations[i].name));
    }
  }
  MigrationReport report;
  for (const Migration& migration : migrations) {
    bool applied_now = false;
    absl::Status status = database.Transact([&](pqxx::work& txn) -> absl::Status {
      txn.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
      txn.exec(kCreateTable);
      pqxx::result done =
          txn.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", migration.version);
      if (!done.empty()) return absl::OkStatus();
      try {
        txn.exec(migration.sql);
      } catch (const pqxx::sql_error& error) {
        return absl::InternalError(
            absl::StrCat("migration ", migration.name, " failed: ", error.what()));
      }
      txn.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                      migration.version, migration.name);
      applied_now = true;
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    if (applied_now) {
      ++report.applied;
      LogInfo("migration_applied", {{"version", migration.version}, {"name", migration.name}});
    }
  }
  absl::Status status = database.Transact([&](pqxx::work& txn) -> absl::Status {
    report.schema_version =
        txn.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  const int known = migrations.empty() ? 0 : migrations.back().version;
  if (report.schema_version > known) {
    LogWarning("schema_newer_than_binary",
               {{"schema_version", report.schema_version}, {"binary_version", known}});
  }
  return report;
}

}  // namespace egress
