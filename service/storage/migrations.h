// Forward-only schema migrations, embedded in the binary at build time from
// service/storage/migrations/NNNN_name.sql.
#ifndef EGRESS_SERVICE_STORAGE_MIGRATIONS_H_
#define EGRESS_SERVICE_STORAGE_MIGRATIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "service/storage/database.h"

namespace egress {

struct Migration {
  int version;       // NNNN of the file name; strictly increasing.
  std::string name;  // File name without extension.
  std::string sql;
};

// Every migration of this build, in version order (generated code).
const std::vector<Migration>& EmbeddedMigrations();

struct MigrationReport {
  int applied = 0;         // Migrations run by this call.
  int schema_version = 0;  // Highest version recorded afterwards.
};

// Applies the migrations that the database has not recorded yet, each in its
// own transaction together with its row in `schema_migrations`. Replicas
// starting at once are serialised by an advisory lock, so each migration runs
// exactly once. A database already at a newer version than this binary knows
// is left alone (a rolling upgrade: newer replicas migrated it) and logged.
// Errors: those of Database::Transact; INTERNAL with the migration's name when
// its SQL fails (nothing of that migration is kept).
absl::StatusOr<MigrationReport> ApplyMigrations(Database& database,
                                                const std::vector<Migration>& migrations);

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_MIGRATIONS_H_
