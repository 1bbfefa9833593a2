#include "service/connections_csv.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/civil_day.h"

namespace egress {
namespace {

constexpr char kHeader[] =
    "date,ip,ptr,ptr_status,owner,asn,country,network,protocol,port,action,count,first_seen,"
    "last_seen,blocking_rule_ids\r\n";

// The first characters that make a spreadsheet read a cell as a formula.
bool StartsLikeFormula(absl::string_view text) {
  if (text.empty()) return false;
  switch (text.front()) {
    case '=':
    case '+':
    case '-':
    case '@':
    case '\t':
    case '\r':
      return true;
    default:
      return false;
  }
}

// IpInfo.Status numbers (DestinationInfo::status) as the CSV names them.
absl::string_view PtrStatusName(int status) {
  switch (status) {
    case 2:
      return "ok";
    case 3:
      return "no_ptr";
    case 4:
      return "lookup_failed";
    default:
      return "pending";
  }
}

absl::string_view ProtocolLabel(Protocol protocol) {
  switch (protocol) {
    case Protocol::kTcp:
      return "TCP";
    case Protocol::kUdp:
      return "UDP";
    case Protocol::kIcmp:
      return "ICMP";
    case Protocol::kIcmpV6:
      return "ICMPv6";
    case Protocol::kAny:
      break;
  }
  return "";
}

std::string FormatSeen(absl::Time time, absl::TimeZone zone) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez", time, zone);
}

}  // namespace

void AppendCsvField(absl::string_view text, std::string* out) {
  const bool guard = StartsLikeFormula(text);
  const bool quote = text.find_first_of(",\"\r\n") != absl::string_view::npos;
  if (!guard && !quote) {
    out->append(text.data(), text.size());
    return;
  }
  if (quote) out->push_back('"');
  if (guard) out->push_back('\'');
  for (char c : text) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  if (quote) out->push_back('"');
}

void AppendConnectionsCsvHeader(std::string* out) { out->append(kHeader); }

void AppendConnectionCsvRow(const ConnectionRow& row, absl::CivilDay day, absl::TimeZone zone,
                            std::string* out) {
  const DestinationInfo& info = row.ip_info;
  const std::string fields[] = {
      FormatDay(day),
      row.ip.ToString(),
      info.status == 2 ? info.ptr : std::string(),
      std::string(PtrStatusName(info.status)),
      info.as_name,
      info.asn != 0 ? absl::StrCat(info.asn) : std::string(),
      info.country,
      info.network,
      std::string(ProtocolLabel(row.protocol)),
      absl::StrCat(row.port),
      std::string(ActionName(row.action)),
      absl::StrCat(row.count),
      FormatSeen(row.first_seen, zone),
      FormatSeen(row.last_seen, zone),
      absl::StrJoin(row.blocking_rule_ids, " "),
  };
  bool first = true;
  for (const std::string& field : fields) {
    if (!first) out->push_back(',');
    first = false;
    AppendCsvField(field, out);
  }
  out->append("\r\n");
}

}  // namespace egress
