// Page tokens and ip filters as they arrive in ListConnections, ListBlockRules,
// ListAuditEvents, ListNodes and ListAccounts requests: any text is either
// accepted or INVALID_ARGUMENT naming the field, and a token the service
// issues for a cursor decodes back to that cursor.
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "fuzz/fuzz_check.h"
#include "service/connections_validation.h"
#include "service/paging.h"

namespace egress {
namespace {

void CheckRefusal(const absl::Status& status, absl::string_view field) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  FUZZ_CHECK(absl::StartsWith(status.message(), field));
}

}  // namespace
}  // namespace egress

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace egress;  // NOLINT: a fuzzer entry point
  const absl::string_view text(reinterpret_cast<const char*>(data), size);

  for (absl::string_view kind : {"nodes", "accounts", "connections"}) {
    absl::StatusOr<std::string> cursor = DecodePageToken(text, kind, "page_token");
    if (!cursor.ok()) {
      CheckRefusal(cursor.status(), "page_token");
      continue;
    }
    absl::StatusOr<std::string> again =
        DecodePageToken(EncodePageToken(kind, *cursor), kind, "page_token");
    // An empty cursor is only what an empty token means.
    FUZZ_CHECK(again.ok() && *again == *cursor);
  }
  for (absl::string_view kind : {"block_rules", "audit_events"}) {
    absl::StatusOr<std::optional<uint64_t>> id = DecodeIdPageToken(text, kind, "page_token");
    if (!id.ok()) {
      CheckRefusal(id.status(), "page_token");
    } else if (id->has_value()) {
      FUZZ_CHECK(**id >= 1 && **id <= static_cast<uint64_t>(INT64_MAX));
    }
  }

  absl::StatusOr<IpFilter> filter = ParseIpFilter(text, "ip_filter");
  if (!filter.ok()) CheckRefusal(filter.status(), "ip_filter");

  // The whole ListConnections request with the bytes as its token.
  egress::v1::ListConnectionsRequest request;
  request.set_account_id("alice");
  request.mutable_date()->set_year(2026);
  request.mutable_date()->set_month(3);
  request.mutable_date()->set_day(1);
  request.set_page_token(std::string(text));
  absl::StatusOr<ConnectionQuery> query =
      ConnectionQueryFromProto(request, absl::CivilDay(2026, 3, 2));
  if (!query.ok()) {
    CheckRefusal(query.status(), "page_token");
  } else if (query->after.has_value()) {
    // A token the service would issue for this cursor is accepted again.
    request.set_page_token(ConnectionsPageToken(*query, *query->after));
    absl::StatusOr<ConnectionQuery> next =
        ConnectionQueryFromProto(request, absl::CivilDay(2026, 3, 2));
    FUZZ_CHECK(next.ok() && next->after.has_value());
    FUZZ_CHECK(next->after->ip == query->after->ip && next->after->port == query->after->port &&
               next->after->primary == query->after->primary);
  }
  return 0;
}
