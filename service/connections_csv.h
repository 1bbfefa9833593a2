// The CSV file of ExportConnections (format and the formula-injection guard:
// proto/egress/v1/connections.proto, ExportConnectionsChunk). Made here
// only, so every client gets the same bytes. Pure functions, thread-safe.
#ifndef EGRESS_SERVICE_CONNECTIONS_CSV_H_
#define EGRESS_SERVICE_CONNECTIONS_CSV_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "service/storage/connections_store.h"

namespace egress {

inline constexpr char kUtf8Bom[] = "\xEF\xBB\xBF";

// Appends one field: an apostrophe first when it starts with = + - @ TAB or
// CR, then the text, double-quoted (inner quotes doubled) when it holds a
// comma, a double quote, CR or LF. No separator.
void AppendCsvField(absl::string_view text, std::string* out);

// The header row, CRLF-terminated.
void AppendConnectionsCsvHeader(std::string* out);

// One row of `day`, CRLF-terminated; times in `zone`.
void AppendConnectionCsvRow(const ConnectionRow& row, absl::CivilDay day, absl::TimeZone zone,
                            std::string* out);

}  // namespace egress

#endif  // EGRESS_SERVICE_CONNECTIONS_CSV_H_
