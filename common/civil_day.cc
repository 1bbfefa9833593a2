#include "common/civil_day.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/field_status.h"

namespace egress {
namespace {

// Longest IANA names are ~30 bytes ("America/Argentina/ComodRivadavia").
constexpr size_t kMaxTimeZoneNameBytes = 64;

bool IsZoneNameByte(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '+';
}

// Abseil resolves the name as a path under the zoneinfo directory (and treats
// "localtime" specially), so the name must be checked before it gets there.
absl::Status CheckZoneName(absl::string_view name) {
  auto invalid = [name](absl::string_view reason) {
    return absl::InvalidArgumentError(
        absl::StrCat(QuoteForMessage(name), " is not a valid time zone name: ", reason));
  };
  if (name.empty()) return invalid("the name is empty");
  if (name.size() > kMaxTimeZoneNameBytes) return invalid("the name is too long");
  if (name == "localtime") return invalid("use an IANA name such as \"Europe/Moscow\"");
  for (absl::string_view component : absl::StrSplit(name, '/')) {
    if (component.empty()) return invalid("expected components separated by single '/'");
    for (char c : component) {
      if (!IsZoneNameByte(c)) {
        return invalid("only letters, digits, '_', '-', '+' and '/' are allowed");
      }
    }
  }
  return absl::OkStatus();
}

bool AllDigits(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<absl::TimeZone> LoadTimeZone(absl::string_view name) {
  if (absl::Status status = CheckZoneName(name); !status.ok()) return status;
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(std::string(name), &tz)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown time zone ", QuoteForMessage(name)));
  }
  return tz;
}

absl::CivilDay DayOf(absl::Time t, absl::TimeZone tz) { return absl::ToCivilDay(t, tz); }

absl::Time StartOfDay(absl::CivilDay day, absl::TimeZone tz) {
  const absl::TimeZone::TimeInfo info = tz.At(absl::CivilSecond(day));
  // SKIPPED: midnight fell into a gap; the day starts when the gap ends.
  // REPEATED: `pre` is the first of the two midnights.
  if (info.kind == absl::TimeZone::TimeInfo::SKIPPED) return info.trans;
  return info.pre;
}

absl::StatusOr<absl::CivilDay> ParseDay(absl::string_view text) {
  auto invalid = [text](absl::string_view reason) {
    return absl::InvalidArgumentError(
        absl::StrCat(QuoteForMessage(text), " is not a valid day: ", reason));
  };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-' || !AllDigits(text.substr(0, 4)) ||
      !AllDigits(text.substr(5, 2)) || !AllDigits(text.substr(8, 2))) {
    return invalid("expected YYYY-MM-DD");
  }
  int year = 0;
  int month = 0;
  int day = 0;
  if (!absl::SimpleAtoi(text.substr(0, 4), &year) || !absl::SimpleAtoi(text.substr(5, 2), &month) ||
      !absl::SimpleAtoi(text.substr(8, 2), &day)) {
    return invalid("expected YYYY-MM-DD");
  }
  if (year < 1970) return invalid("the year must be in 1970..9999");
  // absl::CivilDay normalises out-of-range fields (Feb 30 -> Mar 2), so a
  // round trip through it tells whether the date exists.
  const absl::CivilDay parsed(year, month, day);
  if (parsed.year() != year || parsed.month() != month || parsed.day() != day) {
    return invalid("no such date in the calendar");
  }
  return parsed;
}

std::string FormatDay(absl::CivilDay day) {
  return absl::StrFormat("%04d-%02d-%02d", day.year(), day.month(), day.day());
}

absl::Status ValidateDayInRange(absl::CivilDay day, absl::CivilDay min, absl::CivilDay max) {
  if (day >= min && day <= max) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("day ", FormatDay(day),
                                                 " is outside the allowed range ", FormatDay(min),
                                                 "..", FormatDay(max)));
}

}  // namespace egress
