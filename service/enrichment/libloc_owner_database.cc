#include "service/enrichment/libloc_owner_database.h"

#include <cstdio>
#include <memory>
#include <utility>

extern "C" {
#include <libloc/as.h>
#include <libloc/database.h>
#include <libloc/libloc.h>
#include <libloc/network.h>
}

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace egress {
namespace {

struct CtxUnref {
  void operator()(loc_ctx* ctx) const { loc_unref(ctx); }
};
struct DatabaseUnref {
  void operator()(loc_database* db) const { loc_database_unref(db); }
};
struct EnumeratorUnref {
  void operator()(loc_database_enumerator* e) const { loc_database_enumerator_unref(e); }
};
struct FileClose {
  void operator()(FILE* f) const { fclose(f); }
};

}  // namespace

absl::StatusOr<OwnerRangeTable> LiblocOwnerDatabase::Load(const std::string& path,
                                                          absl::Time* built_at) {
  std::unique_ptr<FILE, FileClose> file(fopen(path.c_str(), "r"));
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot open libloc database ", path));
  }
  loc_ctx* raw_ctx = nullptr;
  if (loc_new(&raw_ctx) != 0) return absl::InternalError("libloc: loc_new failed");
  std::unique_ptr<loc_ctx, CtxUnref> ctx(raw_ctx);
  // libloc logs to stderr by default; our own errors say enough.
  loc_set_log_priority(ctx.get(), 0);

  loc_database* raw_db = nullptr;
  if (loc_database_new(ctx.get(), &raw_db, file.get()) != 0 || raw_db == nullptr) {
    return absl::DataLossError(absl::StrCat("not a readable libloc database: ", path));
  }
  std::unique_ptr<loc_database, DatabaseUnref> db(raw_db);
  if (built_at != nullptr) *built_at = absl::FromTimeT(loc_database_created_at(db.get()));

  OwnerRangeTable::Builder builder;
  loc_database_enumerator* raw_enum = nullptr;
  if (loc_database_enumerator_new(&raw_enum, db.get(), LOC_DB_ENUMERATE_NETWORKS, 0) != 0) {
    return absl::InternalError("libloc: cannot enumerate networks");
  }
  std::unique_ptr<loc_database_enumerator, EnumeratorUnref> networks(raw_enum);
  for (;;) {
    loc_network* network = nullptr;
    if (loc_database_enumerator_next_network(networks.get(), &network) != 0) {
      return absl::DataLossError(absl::StrCat("libloc: error reading networks of ", path));
    }
    if (network == nullptr) break;
    absl::StatusOr<IpNetwork> parsed = IpNetwork::Parse(loc_network_str(network));
    if (parsed.ok()) {
      const char* country = loc_network_get_country_code(network);
      builder.AddNetwork(*parsed, loc_network_get_asn(network), country ? country : "",
                         loc_network_has_flag(network, LOC_NETWORK_FLAG_ANYCAST) != 0);
    }
    loc_network_unref(network);
  }

  raw_enum = nullptr;
  if (loc_database_enumerator_new(&raw_enum, db.get(), LOC_DB_ENUMERATE_ASES, 0) != 0) {
    return absl::InternalError("libloc: cannot enumerate autonomous systems");
  }
  std::unique_ptr<loc_database_enumerator, EnumeratorUnref> ases(raw_enum);
  for (;;) {
    loc_as* as = nullptr;
    if (loc_database_enumerator_next_as(ases.get(), &as) != 0) {
      return absl::DataLossError(absl::StrCat("libloc: error reading AS names of ", path));
    }
    if (as == nullptr) break;
    const char* name = loc_as_get_name(as);
    builder.AddAsName(loc_as_get_number(as), name ? name : "");
    loc_as_unref(as);
  }
  return std::move(builder).Build();
}

LiblocOwnerDatabase::LiblocOwnerDatabase(const std::string& path)
    : reloader_(
          path, "libloc",
          [](const std::string& p,
             absl::Time* built_at) -> absl::StatusOr<std::shared_ptr<const OwnerRangeTable>> {
            EGRESS_ASSIGN_OR_RETURN(OwnerRangeTable table, Load(p, built_at));
            return std::make_shared<const OwnerRangeTable>(std::move(table));
          },
          [](const OwnerRangeTable& table) { return table.network_count(); }) {}

absl::StatusOr<std::unique_ptr<LiblocOwnerDatabase>> LiblocOwnerDatabase::Create(
    const std::string& path) {
  std::unique_ptr<LiblocOwnerDatabase> db(new LiblocOwnerDatabase(path));
  EGRESS_RETURN_IF_ERROR(db->reloader_.Reload());
  return db;
}

std::optional<OwnerInfo> LiblocOwnerDatabase::Lookup(const IpAddress& ip) const {
  return reloader_.With([&](const OwnerRangeTable& table) { return table.Lookup(ip); });
}

absl::Status LiblocOwnerDatabase::Reload() { return reloader_.Reload(); }
absl::Status LiblocOwnerDatabase::ReloadIfChanged() { return reloader_.ReloadIfChanged(); }
OwnerDatabaseInfo LiblocOwnerDatabase::info() const { return reloader_.info(); }

}  // namespace egress
