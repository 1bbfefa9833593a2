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

void PgArrayBuilder::Separate() {
  if (size_++ > 0) out_.push_back(',');
}

void PgArrayBuilder::AddText(absl::string_view text) {
  Separate();
  out_.push_back('"');
  for (char c : text) {
    if (c == '"' || c == '\\') out_.push_back('\\');
    out_.push_back(c);
  }
  out_.push_back('"');
}

void PgArrayBuilder::AddNumber(int64_t number) {
  Separate();
  absl::StrAppend(&out_, number);
}

void PgArrayBuilder::AddToken(absl::string_view token) {
  Separate();
  out_.append(token.data(), token.size());
}

std::string PgArrayBuilder::Take() {
  std::string literal;
  literal.swap(out_);
  literal.push_back('}');
  out_.push_back('{');
  size_ = 0;
  return literal;
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

const char* NullableText(const std::optional<std::string>& value) {
  return value.has_value() ? value->c_str() : nullptr;
}

}  // namespace egress
