#include "service/storage/pg_values.h"

#include "absl/strings/str_cat.h"

namespace egress {

std::string PgArrayLiteral(const std::vector<std::string>& elements) {
  std::string out = "{";
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : elements[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

absl::StatusOr<IpAddress> IpFromPg(absl::string_view text) {
  // host() output has no prefix; a bare inet column may carry "/32".
  absl::string_view address = text.substr(0, text.find('/'));
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(address);
  if (!ip.ok()) return absl::InternalError(absl::StrCat("bad inet in database: ", text));
  return ip;
}

absl::StatusOr<IpNetwork> NetworkFromPg(absl::string_view text) {
  absl::StatusOr<IpNetwork> network = IpNetwork::Parse(text);
  if (!network.ok()) return absl::InternalError(absl::StrCat("bad cidr in database: ", text));
  return network;
}

}  // namespace egress
