// Conversions between our value types and PostgreSQL parameters / results.
// Parameters are always passed separately from SQL text, never spliced in.
#ifndef EGRESS_SERVICE_STORAGE_PG_VALUES_H_
#define EGRESS_SERVICE_STORAGE_PG_VALUES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/ip_address.h"

namespace egress {

// A text-form array parameter ("{a,b}") with every element double-quoted and
// escaped, for `$n::text[]`, `$n::cidr[]`, ... (libpqxx 6 has no array
// parameters; PostgreSQL parses this literal server-side).
std::string PgArrayLiteral(const std::vector<std::string>& elements);

// Builds the same literal element by element, without a vector of strings
// in between (ingest builds nine of them per group of batches): text is
// double-quoted and escaped, numbers and bare tokens (addresses, days) are
// written as they are.
class PgArrayBuilder {
 public:
  void AddText(absl::string_view text);
  void AddNumber(int64_t number);
  // `token` must not hold any of `{},"\` or white space.
  void AddToken(absl::string_view token);
  size_t size() const { return size_; }
  // The literal; the builder is empty afterwards.
  std::string Take();

 private:
  void Separate();
  std::string out_ = "{";
  size_t size_ = 0;
};

// A nullable text parameter: the string, or SQL NULL (nullptr) when unset.
const char* NullableText(const std::optional<std::string>& value);

// Timestamps cross the boundary as int8 microseconds since the Unix epoch
// (absl::ToUnixMicros / absl::FromUnixMicros): read with
// `(extract(epoch FROM col) * 1000000)::int8`, written with
// `'epoch'::timestamptz + $n::int8 * interval '1 microsecond'`; both exact.

// Parses an inet/cidr value read back from PostgreSQL; INTERNAL if the
// database holds something we would never have written.
absl::StatusOr<IpAddress> IpFromPg(absl::string_view text);
absl::StatusOr<IpNetwork> NetworkFromPg(absl::string_view text);

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_PG_VALUES_H_
