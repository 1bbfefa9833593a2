// Free text and civil days: rule notes (ValidateNote), identifiers, the
// "YYYY-MM-DD" parser, Date messages and time-zone names. Accepted input
// keeps its invariants (a note is valid UTF-8 of at most 1000 code points, a
// day prints back to the same text, a zone name never leaves the zoneinfo
// directory); refusals are INVALID_ARGUMENT.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/civil_day.h"
#include "common/note.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/stubs/common.h"
#include "service/connections_validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace egress;  // NOLINT: a fuzzer entry point
  const absl::string_view text(reinterpret_cast<const char*>(data), size);

  const absl::Status note = ValidateNote(text);
  if (note.ok()) {
    FUZZ_CHECK(
        google::protobuf::internal::IsStructurallyValidUTF8(text.data(), static_cast<int>(size)));
    FUZZ_CHECK(CountCodePoints(text) <= kMaxNoteCodePoints);
    FUZZ_CHECK(text.find('\0') == absl::string_view::npos);
  } else {
    FUZZ_CHECK(note.code() == absl::StatusCode::kInvalidArgument);
  }

  const absl::Status id = ValidateIdentifier(text);
  FUZZ_CHECK(id.ok() || id.code() == absl::StatusCode::kInvalidArgument);
  if (id.ok()) FUZZ_CHECK(size >= 1 && size <= kMaxIdentifierBytes);

  absl::StatusOr<absl::CivilDay> day = ParseDay(text);
  if (day.ok()) {
    FUZZ_CHECK(FormatDay(*day) == text);
  } else {
    FUZZ_CHECK(day.status().code() == absl::StatusCode::kInvalidArgument);
  }

  // The first 12 bytes as a Date message's three int32 fields.
  if (size >= 12) {
    int32_t fields[3];
    std::memcpy(fields, data, sizeof(fields));
    egress::v1::Date date;
    date.set_year(fields[0]);
    date.set_month(fields[1]);
    date.set_day(fields[2]);
    absl::StatusOr<absl::CivilDay> from_proto = DayFromProto(date, "date");
    if (from_proto.ok()) {
      FUZZ_CHECK(from_proto->year() == fields[0] && from_proto->month() == fields[1] &&
                 from_proto->day() == fields[2]);
      FUZZ_CHECK(ParseDay(FormatDay(*from_proto)).ok());
    } else {
      FUZZ_CHECK(from_proto.status().code() == absl::StatusCode::kInvalidArgument);
    }
  }

  // Zone names open files under /usr/share/zoneinfo: keep the fuzzer to short
  // names so that it does not spend its time in the file system.
  if (size <= 40) {
    absl::StatusOr<absl::TimeZone> zone = LoadTimeZone(text);
    if (zone.ok()) {
      FUZZ_CHECK(text.find("..") == absl::string_view::npos && !text.empty() && text[0] != '/');
    } else {
      FUZZ_CHECK(zone.status().code() == absl::StatusCode::kInvalidArgument);
    }
  }
  return 0;
}
