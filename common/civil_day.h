// Civil days ("2026-03-01") and the time zones that map instants onto them.
//
// Connection records are counted per civil day in a time zone the service
// chooses; these helpers keep that mapping in one place. Time zones come from
// the system tzdata (/usr/share/zoneinfo) through Abseil.
//
// All functions are pure and thread-safe (Abseil caches loaded zones
// internally, under its own lock).
#ifndef EGRESS_COMMON_CIVIL_DAY_H_
#define EGRESS_COMMON_CIVIL_DAY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace egress {

// Loads an IANA zone by name ("UTC", "Europe/Moscow", "America/New_York").
// Only names made of [A-Za-z0-9_+-] components separated by single '/' are
// tried, so the name cannot escape the zoneinfo directory: empty names,
// absolute paths, "." or ".." components ("../etc/passwd"), spaces, NUL and
// "localtime" (the host's zone, not a portable name) are InvalidArgument.
// A well-formed name that tzdata does not know is InvalidArgument too ("unknown
// time zone"). Messages quote
// the name.
absl::StatusOr<absl::TimeZone> LoadTimeZone(absl::string_view name);

// The civil day containing `t` in `tz`.
absl::CivilDay DayOf(absl::Time t, absl::TimeZone tz);

// The first instant of `day` in `tz`. When midnight does not exist because a
// DST change skips it (e.g. America/Sao_Paulo on 2018-11-04, 00:00 -> 01:00),
// this is the transition instant, i.e. 01:00 local. When midnight happens
// twice, it is the earlier one. If the whole day is skipped (Pacific/Apia,
// 2011-12-30), it is the first instant after the gap, which belongs to the
// next day.
absl::Time StartOfDay(absl::CivilDay day, absl::TimeZone tz);

// Parses exactly "YYYY-MM-DD" (10 bytes, zero-padded) naming a real calendar
// day with the year in 1970..9999. Dates that Abseil would normalise
// ("2026-02-30" -> March 2) are InvalidArgument, as are "2026-1-5", signs,
// spaces and anything longer or shorter.
absl::StatusOr<absl::CivilDay> ParseDay(absl::string_view text);

// "YYYY-MM-DD" (ParseDay's format).
std::string FormatDay(absl::CivilDay day);

// OK if min <= day <= max; otherwise InvalidArgument giving the day and the
// range.
absl::Status ValidateDayInRange(absl::CivilDay day, absl::CivilDay min, absl::CivilDay max);

}  // namespace egress

#endif  // EGRESS_COMMON_CIVIL_DAY_H_
