#include "service/storage/pg_ip_info_store.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "service/storage/pg_values.h"

namespace egress {
namespace {

constexpr char kColumns[] = R"sql(
host(t.ip), t.status, t.ptr, t.ptr_confirmed, t.asn, t.as_name, t.country, t.network::text,
(extract(epoch FROM t.looked_up_at) * 1000000)::int8,
(extract(epoch FROM t.expires_at) * 1000000)::int8, t.attempts)sql";

// ON CONFLICT DO NOTHING checks the primary key before inserting, so a known
// address costs one index probe and writes nothing. (A NOT EXISTS anti-join
// here made the planner hash the whole table once it grew: 50 us per known
// IP at 100k rows instead of a few.)
constexpr char kEnqueueNew[] = R"sql(
INSERT INTO ip_info (ip)
SELECT DISTINCT u.ip FROM unnest($1::inet[]) AS u (ip)
 ORDER BY u.ip
ON CONFLICT (ip) DO NOTHING)sql";

// New rows (expires_at NULL) first, then the longest expired; the index
// ip_info_due serves both the filter and the order. SKIP LOCKED lets
// concurrent claimers pass each other; the lease (expires_at in the future)
// keeps the rows out of later claims once this transaction commits.
constexpr char kClaimDueHead[] = R"sql(
WITH due AS (
  SELECT ip FROM ip_info
   WHERE expires_at IS NULL OR expires_at <= now()
   ORDER BY expires_at NULLS FIRST
   LIMIT $1
   FOR UPDATE SKIP LOCKED)
UPDATE ip_info AS t
   SET expires_at = now() + $2::int8 * interval '1 microsecond',
       attempts = t.attempts + 1
  FROM due
 WHERE t.ip = due.ip
RETURNING )sql";

constexpr char kSaveResults[] = R"sql(
INSERT INTO ip_info AS t (ip, status, ptr, ptr_confirmed, asn, as_name, country, network,
                          looked_up_at, expires_at, attempts)
SELECT u.ip, u.status, u.ptr, u.ptr_confirmed, u.asn, u.as_name, u.country,
       NULLIF(u.network, '')::cidr, now(),
       now() + CASE WHEN u.status = 2 THEN $9::int8 ELSE $10::int8 END * interval '1 microsecond',
       CASE WHEN u.status = 4 THEN 1 ELSE 0 END
  FROM unnest($1::inet[], $2::int2[], $3::text[], $4::bool[], $5::int8[], $6::text[],
              $7::text[], $8::text[])
       AS u (ip, status, ptr, ptr_confirmed, asn, as_name, country, network)
 ORDER BY u.ip
ON CONFLICT (ip) DO UPDATE SET
  status = CASE WHEN EXCLUDED.status = 4 AND t.status IN (2, 3) THEN t.status
                ELSE EXCLUDED.status END,
  ptr = CASE WHEN EXCLUDED.status = 4 AND t.status IN (2, 3) THEN t.ptr ELSE EXCLUDED.ptr END,
  ptr_confirmed = CASE WHEN EXCLUDED.status = 4 AND t.status IN (2, 3) THEN t.ptr_confirmed
                       ELSE EXCLUDED.ptr_confirmed END,
  looked_up_at = CASE WHEN EXCLUDED.status = 4 AND t.status IN (2, 3) THEN t.looked_up_at
                      ELSE EXCLUDED.looked_up_at END,
  asn = EXCLUDED.asn,
  as_name = EXCLUDED.as_name,
  country = EXCLUDED.country,
  network = EXCLUDED.network,
  expires_at = EXCLUDED.expires_at,
  attempts = CASE WHEN EXCLUDED.status = 4 THEN greatest(t.attempts, 1) ELSE 0 END)sql";

// Exact counts scan the table: meant for stats every few seconds, not per call.
constexpr char kStats[] = R"sql(
SELECT count(*) FILTER (WHERE status = 1),
       count(*) FILTER (WHERE expires_at IS NULL OR expires_at <= now()),
       count(*)
  FROM ip_info)sql";

std::optional<absl::Time> TimeFromPg(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return absl::FromUnixMicros(field.as<int64_t>());
}

absl::StatusOr<IpInfoRecord> RecordFromRow(const pqxx::row& row) {
  IpInfoRecord record;
  EGRESS_ASSIGN_OR_RETURN(record.ip, IpFromPg(row[0].c_str()));
  int status = row[1].as<int>();
  if (status < 1 || status > 4) {
    return absl::InternalError(
        absl::StrCat("bad ip_info.status ", status, " for ", row[0].c_str()));
  }
  record.status = static_cast<IpInfoStatus>(status);
  record.ptr = row[2].as<std::string>();
  record.ptr_confirmed = row[3].as<bool>();
  record.asn = static_cast<uint32_t>(row[4].as<int64_t>());
  record.as_name = row[5].as<std::string>();
  record.country = row[6].as<std::string>();
  if (!row[7].is_null()) {
    EGRESS_ASSIGN_OR_RETURN(IpNetwork network, NetworkFromPg(row[7].c_str()));
    record.network = network;
  }
  record.looked_up_at = TimeFromPg(row[8]);
  record.expires_at = TimeFromPg(row[9]);
  record.attempts = row[10].as<int>();
  return record;
}

absl::StatusOr<std::vector<IpInfoRecord>> RecordsFromResult(const pqxx::result& result) {
  std::vector<IpInfoRecord> records;
  records.reserve(result.size());
  for (const pqxx::row& row : result) {
    EGRESS_ASSIGN_OR_RETURN(IpInfoRecord record, RecordFromRow(row));
    records.push_back(std::move(record));
  }
  std::sort(records.begin(), records.end(),
            [](const IpInfoRecord& a, const IpInfoRecord& b) { return a.ip < b.ip; });
  return records;
}

std::string IpArray(absl::Span<const IpAddress> ips) {
  std::vector<std::string> texts;
  texts.reserve(ips.size());
  for (const IpAddress& ip : ips) texts.push_back(ip.Unmapped().ToString());
  return PgArrayLiteral(texts);
}

}  // namespace

int64_t EnqueueNewIpInfo(pqxx::work& txn, absl::Span<const IpAddress> ips) {
  if (ips.empty()) return 0;
  return static_cast<int64_t>(txn.exec_params(kEnqueueNew, IpArray(ips)).affected_rows());
}

absl::StatusOr<int64_t> PgIpInfoStore::EnqueueNew(absl::Span<const IpAddress> ips) {
  if (ips.empty()) return 0;
  int64_t added = 0;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    added = EnqueueNewIpInfo(txn, ips);
    return absl::OkStatus();
  }));
  return added;
}

absl::StatusOr<std::vector<IpInfoRecord>> PgIpInfoStore::ClaimDue(int limit, absl::Duration lease) {
  if (limit < 1) return absl::InvalidArgumentError("limit must be >= 1");
  if (lease <= absl::ZeroDuration()) return absl::InvalidArgumentError("lease must be positive");
  std::vector<IpInfoRecord> records;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result result = txn.exec_params(absl::StrCat(kClaimDueHead, kColumns), limit,
                                          absl::ToInt64Microseconds(lease));
    EGRESS_ASSIGN_OR_RETURN(records, RecordsFromResult(result));
    return absl::OkStatus();
  }));
  return records;
}

absl::Status PgIpInfoStore::SaveResults(absl::Span<const IpInfoResult> results,
                                        const IpInfoTtls& ttls) {
  if (results.empty()) return absl::OkStatus();
  if (ttls.positive <= absl::ZeroDuration() || ttls.negative <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("TTLs must be positive");
  }
  std::vector<std::string> ips, statuses, ptrs, confirmed, asns, as_names, countries, networks;
  absl::flat_hash_set<IpAddress> seen;
  for (const IpInfoResult& r : results) {
    IpAddress ip = r.ip.Unmapped();
    if (!seen.insert(ip).second) {
      return absl::InvalidArgumentError(absl::StrCat("results: ", ip.ToString(), " twice"));
    }
    if (r.status != IpInfoStatus::kOk && r.status != IpInfoStatus::kNoPtr &&
        r.status != IpInfoStatus::kTemporaryFailure) {
      return absl::InvalidArgumentError(
          absl::StrCat("results: status of ", ip.ToString(), " must be OK, NO_PTR or temporary"));
    }
    ips.push_back(ip.ToString());
    statuses.push_back(std::to_string(static_cast<int>(r.status)));
    ptrs.push_back(r.ptr);
    confirmed.push_back(r.ptr_confirmed ? "t" : "f");
    asns.push_back(std::to_string(r.asn));
    as_names.push_back(r.as_name);
    countries.push_back(r.country);
    networks.push_back(r.network ? r.network->ToString() : "");
  }
  const int64_t positive_us = absl::ToInt64Microseconds(ttls.positive);
  const int64_t negative_us = absl::ToInt64Microseconds(ttls.negative);
  return database_.Transact([&](pqxx::work& txn) -> absl::Status {
    txn.exec_params(kSaveResults, PgArrayLiteral(ips), PgArrayLiteral(statuses),
                    PgArrayLiteral(ptrs), PgArrayLiteral(confirmed), PgArrayLiteral(asns),
                    PgArrayLiteral(as_names), PgArrayLiteral(countries), PgArrayLiteral(networks),
                    positive_us, negative_us);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<IpInfoRecord>> PgIpInfoStore::Get(const IpAddress& ip) {
  EGRESS_ASSIGN_OR_RETURN(std::vector<IpInfoRecord> records, GetMany({ip}));
  if (records.empty()) return std::nullopt;
  return records.front();
}

absl::StatusOr<std::vector<IpInfoRecord>> PgIpInfoStore::GetMany(absl::Span<const IpAddress> ips) {
  if (ips.empty()) return std::vector<IpInfoRecord>{};
  const std::string array = IpArray(ips);
  std::vector<IpInfoRecord> records;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::result result = txn.exec_params(
        absl::StrCat("SELECT ", kColumns, " FROM ip_info t WHERE t.ip = ANY($1::inet[])"), array);
    EGRESS_ASSIGN_OR_RETURN(records, RecordsFromResult(result));
    return absl::OkStatus();
  }));
  return records;
}

absl::StatusOr<IpInfoStoreStats> PgIpInfoStore::Stats() {
  IpInfoStoreStats stats;
  EGRESS_RETURN_IF_ERROR(database_.Transact([&](pqxx::work& txn) -> absl::Status {
    pqxx::row row = txn.exec1(kStats);
    stats.pending = row[0].as<int64_t>();
    stats.due = row[1].as<int64_t>();
    stats.total = row[2].as<int64_t>();
    return absl::OkStatus();
  }));
  return stats;
}

}  // namespace egress
