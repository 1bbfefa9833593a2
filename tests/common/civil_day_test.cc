#include "common/civil_day.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::IsOkAndHolds;
using ::egress::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

absl::TimeZone Zone(absl::string_view name) {
  absl::StatusOr<absl::TimeZone> tz = LoadTimeZone(name);
  EXPECT_THAT(tz, IsOk()) << name;
  return tz.ok() ? *tz : absl::UTCTimeZone();
}

absl::Time Utc(int year, int month, int day, int hour, int minute = 0, int second = 0) {
  return absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second),
                         absl::UTCTimeZone());
}

// --- LoadTimeZone -----------------------------------------------------------------

TEST(LoadTimeZoneTest, LoadsIanaZones) {
  for (const char* name :
       {"UTC", "Europe/Moscow", "America/New_York", "America/Sao_Paulo",
        "America/Argentina/Buenos_Aires", "Etc/GMT+3", "Etc/GMT-14", "America/Port-au-Prince"}) {
    ASSERT_OK_AND_ASSIGN(absl::TimeZone tz, LoadTimeZone(name));
    EXPECT_EQ(tz.name(), name);
  }
  // The data really is loaded: Moscow is UTC+3 since 2014.
  EXPECT_EQ(DayOf(Utc(2024, 6, 1, 21, 0), Zone("Europe/Moscow")), absl::CivilDay(2024, 6, 2));
  EXPECT_EQ(DayOf(Utc(2024, 6, 1, 20, 59, 59), Zone("Europe/Moscow")), absl::CivilDay(2024, 6, 1));
  // POSIX sign convention: Etc/GMT+3 is three hours *behind* UTC.
  EXPECT_EQ(DayOf(Utc(2024, 6, 2, 2, 0), Zone("Etc/GMT+3")), absl::CivilDay(2024, 6, 1));
}

TEST(LoadTimeZoneTest, RejectsNamesThatCouldEscapeZoneinfo) {
  for (const std::string& name : {std::string(""),
                                  std::string("../etc/passwd"),
                                  std::string("../../../../etc/passwd"),
                                  std::string("/etc/passwd"),
                                  std::string("/usr/share/zoneinfo/UTC"),
                                  std::string("Europe/../UTC"),
                                  std::string("./UTC"),
                                  std::string("Europe/./Moscow"),
                                  std::string("Europe//Moscow"),
                                  std::string("Europe/Moscow/"),
                                  std::string("/"),
                                  std::string(".."),
                                  std::string("."),
                                  std::string("Europe\\Moscow"),
                                  std::string("Europe/Moscow "),
                                  std::string(" UTC"),
                                  std::string("Europe/New York"),
                                  std::string("UTC\n"),
                                  std::string("UTC\t"),
                                  std::string("UTC\0", 4),
                                  std::string("UTC\0/../../etc/passwd", 21),
                                  std::string("Europe/Moscow;rm"),
                                  std::string("Fixed/UTC+03:00:00"),
                                  std::string("Europe/Mosc\xc3\xb6w"),
                                  std::string("localtime"),
                                  std::string(10 * 1024, 'A'),
                                  std::string("~/tz"),
                                  std::string("$TZ"),
                                  std::string("*")}) {
    EXPECT_THAT(LoadTimeZone(name),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a valid time zone")))
        << absl::CHexEscape(name);
  }
}

TEST(LoadTimeZoneTest, RejectsUnknownZonesNamingThem) {
  for (const char* name :
       {"Mars/Olympus_Mons", "Europe", "Europe/Moskva", "europe/moscow", "Nowhere", "UTC-99"}) {
    EXPECT_THAT(LoadTimeZone(name), StatusIs(absl::StatusCode::kInvalidArgument,
                                             AllOf(HasSubstr("unknown time zone"),
                                                   HasSubstr(absl::StrCat("\"", name, "\"")))))
        << name;
  }
}

TEST(LoadTimeZoneTest, ErrorMessagesQuoteSafely) {
  const absl::Status status = LoadTimeZone(std::string("UTC\0x\n", 6)).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"UTC\\x00x\\n\"")));
  EXPECT_LT(LoadTimeZone(std::string(10 * 1024, 'A')).status().message().size(), 200u);
}

// --- DayOf / StartOfDay ---------------------------------------------------------------

TEST(DayOfTest, UsesTheZone) {
  const absl::Time t = Utc(2026, 1, 1, 2, 30);
  EXPECT_EQ(DayOf(t, absl::UTCTimeZone()), absl::CivilDay(2026, 1, 1));
  EXPECT_EQ(DayOf(t, Zone("America/New_York")), absl::CivilDay(2025, 12, 31));
  EXPECT_EQ(DayOf(t, Zone("Europe/Moscow")), absl::CivilDay(2026, 1, 1));
  EXPECT_EQ(DayOf(absl::UnixEpoch(), absl::UTCTimeZone()), absl::CivilDay(1970, 1, 1));
}

TEST(StartOfDayTest, OrdinaryDays) {
  EXPECT_EQ(StartOfDay(absl::CivilDay(2026, 3, 1), absl::UTCTimeZone()), Utc(2026, 3, 1, 0));
  EXPECT_EQ(StartOfDay(absl::CivilDay(2026, 3, 1), Zone("Europe/Moscow")), Utc(2026, 2, 28, 21));
  EXPECT_EQ(StartOfDay(absl::CivilDay(2026, 7, 4), Zone("America/New_York")), Utc(2026, 7, 4, 4));
}

TEST(StartOfDayTest, DstChangeAwayFromMidnightDoesNotMoveMidnight) {
  // New York springs forward at 02:00 and falls back at 02:00.
  const absl::TimeZone ny = Zone("America/New_York");
  EXPECT_EQ(StartOfDay(absl::CivilDay(2024, 3, 10), ny), Utc(2024, 3, 10, 5));
  EXPECT_EQ(StartOfDay(absl::CivilDay(2024, 3, 11), ny), Utc(2024, 3, 11, 4));
  EXPECT_EQ(StartOfDay(absl::CivilDay(2024, 11, 3), ny), Utc(2024, 11, 3, 4));
  EXPECT_EQ(StartOfDay(absl::CivilDay(2024, 11, 4), ny), Utc(2024, 11, 4, 5));
}

TEST(StartOfDayTest, MidnightSkippedBySaoPauloDst) {
  // 2018-11-04 00:00 -03 did not exist: clocks jumped to 01:00 -02 at 03:00Z.
  const absl::TimeZone tz = Zone("America/Sao_Paulo");
  const absl::Time start = StartOfDay(absl::CivilDay(2018, 11, 4), tz);
  EXPECT_EQ(start, Utc(2018, 11, 4, 3));
  EXPECT_EQ(DayOf(start, tz), absl::CivilDay(2018, 11, 4));
  EXPECT_EQ(DayOf(start - absl::Seconds(1), tz), absl::CivilDay(2018, 11, 3));
  EXPECT_EQ(absl::ToCivilSecond(start, tz), absl::CivilSecond(2018, 11, 4, 1, 0, 0));
}

TEST(StartOfDayTest, MidnightSkippedAndRepeatedInHavana) {
  const absl::TimeZone tz = Zone("America/Havana");
  // 2023-03-12: 00:00 CST -> 01:00 CDT at 05:00Z; midnight does not exist.
  const absl::Time spring = StartOfDay(absl::CivilDay(2023, 3, 12), tz);
  EXPECT_EQ(spring, Utc(2023, 3, 12, 5));
  EXPECT_EQ(DayOf(spring - absl::Seconds(1), tz), absl::CivilDay(2023, 3, 11));
  EXPECT_EQ(DayOf(spring, tz), absl::CivilDay(2023, 3, 12));
  // 2023-11-05: 01:00 CDT -> 00:00 CST at 05:00Z; midnight happens twice and
  // the day starts at the first one.
  const absl::Time autumn = StartOfDay(absl::CivilDay(2023, 11, 5), tz);
  EXPECT_EQ(autumn, Utc(2023, 11, 5, 4));
  EXPECT_EQ(DayOf(autumn - absl::Seconds(1), tz), absl::CivilDay(2023, 11, 4));
  // The day after a skipped midnight is ordinary again.
  EXPECT_EQ(StartOfDay(absl::CivilDay(2023, 3, 13), tz), Utc(2023, 3, 13, 4));
}

TEST(StartOfDayTest, GapStraddlingMidnightInToronto1919) {
  // 1919-03-30 23:30 EST jumped to 00:30 EDT (04:30Z): the 31st began at
  // 00:30 local, half an hour *before* "midnight at the old offset" (05:00Z).
  const absl::TimeZone tz = Zone("America/Toronto");
  const absl::Time start = StartOfDay(absl::CivilDay(1919, 3, 31), tz);
  EXPECT_EQ(start, Utc(1919, 3, 31, 4, 30));
  EXPECT_EQ(DayOf(start, tz), absl::CivilDay(1919, 3, 31));
  EXPECT_EQ(DayOf(start - absl::Seconds(1), tz), absl::CivilDay(1919, 3, 30));
  EXPECT_EQ(absl::ToCivilSecond(start, tz), absl::CivilSecond(1919, 3, 31, 0, 30, 0));
}

TEST(StartOfDayTest, WholeDaySkippedInApia) {
  // Samoa skipped 2011-12-30 entirely: 23:59:59 on the 29th (-10) was
  // followed by 00:00 on the 31st (+14) at 10:00Z on the 30th.
  const absl::TimeZone tz = Zone("Pacific/Apia");
  const absl::Time start = StartOfDay(absl::CivilDay(2011, 12, 30), tz);
  EXPECT_EQ(start, Utc(2011, 12, 30, 10));
  EXPECT_EQ(DayOf(start, tz), absl::CivilDay(2011, 12, 31));
  EXPECT_EQ(StartOfDay(absl::CivilDay(2011, 12, 31), tz), start);
}

TEST(StartOfDayTest, IsFirstInstantOfTheDayEverywhere) {
  // Property over many zones and two years: the start belongs to the day (or
  // to a later one when the day is skipped), and one second earlier does not.
  for (const char* name : {"UTC", "Europe/Moscow", "America/New_York", "America/Sao_Paulo",
                           "America/Havana", "Asia/Tehran", "Australia/Lord_Howe",
                           "Pacific/Chatham", "Asia/Kathmandu", "Africa/Casablanca"}) {
    const absl::TimeZone tz = Zone(name);
    for (absl::CivilDay day(2017, 1, 1); day < absl::CivilDay(2019, 1, 1); ++day) {
      const absl::Time start = StartOfDay(day, tz);
      ASSERT_GE(DayOf(start, tz), day) << name << " " << day;
      ASSERT_LT(DayOf(start - absl::Seconds(1), tz), day) << name << " " << day;
    }
  }
}

// --- ParseDay / FormatDay ---------------------------------------------------------------

TEST(ParseDayTest, AcceptsRealDates) {
  EXPECT_THAT(ParseDay("2026-01-05"), IsOkAndHolds(absl::CivilDay(2026, 1, 5)));
  EXPECT_THAT(ParseDay("1970-01-01"), IsOkAndHolds(absl::CivilDay(1970, 1, 1)));
  EXPECT_THAT(ParseDay("9999-12-31"), IsOkAndHolds(absl::CivilDay(9999, 12, 31)));
  EXPECT_THAT(ParseDay("2024-02-29"), IsOkAndHolds(absl::CivilDay(2024, 2, 29)));
  EXPECT_THAT(ParseDay("2000-02-29"), IsOkAndHolds(absl::CivilDay(2000, 2, 29)));
  EXPECT_THAT(ParseDay("2026-12-31"), IsOkAndHolds(absl::CivilDay(2026, 12, 31)));
  EXPECT_THAT(ParseDay("2026-04-30"), IsOkAndHolds(absl::CivilDay(2026, 4, 30)));
}

TEST(ParseDayTest, RejectsDatesAbseilWouldNormalise) {
  for (const char* text : {"2026-02-29", "2100-02-29", "2026-02-30", "2026-02-31", "2026-04-31",
                           "2026-06-31", "2026-09-31", "2026-11-31", "2026-13-01", "2026-00-10",
                           "2026-01-00", "2026-01-32", "2026-99-99"}) {
    EXPECT_THAT(ParseDay(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no such date")))
        << text;
  }
}

TEST(ParseDayTest, RejectsYearsOutOfRange) {
  for (const char* text : {"1969-12-31", "0000-01-01", "1900-02-28"}) {
    EXPECT_THAT(ParseDay(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1970..9999")))
        << text;
  }
}

TEST(ParseDayTest, RejectsOtherFormats) {
  for (const std::string& text : {std::string(""),
                                  std::string("2026-1-5"),
                                  std::string("2026-01-5"),
                                  std::string("2026-1-05"),
                                  std::string("26-01-05"),
                                  std::string("2026/01/05"),
                                  std::string("2026.01.05"),
                                  std::string("20260105"),
                                  std::string("2026-01-05 "),
                                  std::string(" 2026-01-05"),
                                  std::string("2026-01-05\n"),
                                  std::string("2026-01-05T00:00"),
                                  std::string("+2026-01-05"),
                                  std::string("-2026-01-05"),
                                  std::string("+026-01-05"),
                                  std::string("2026-+1-05"),
                                  std::string("2026--1-05"),
                                  std::string("2026-0x-05"),
                                  std::string("10000-01-01"),
                                  std::string("2026-01-05\0", 11),
                                  std::string("2026-01-0\0", 10),
                                  std::string("\xef\xbc\x92\x30\x32\x36-01-05"),
                                  std::string("2026 01 05"),
                                  std::string(10 * 1024, '1')}) {
    EXPECT_THAT(ParseDay(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected YYYY-MM-DD")))
        << absl::CHexEscape(text);
  }
  EXPECT_LT(ParseDay(std::string(10 * 1024, '1')).status().message().size(), 200u);
}

TEST(FormatDayTest, ZeroPadsAndRoundTrips) {
  EXPECT_EQ(FormatDay(absl::CivilDay(2026, 1, 5)), "2026-01-05");
  EXPECT_EQ(FormatDay(absl::CivilDay(1970, 12, 31)), "1970-12-31");
  EXPECT_EQ(FormatDay(absl::CivilDay(9999, 9, 9)), "9999-09-09");
  for (absl::CivilDay day(1970, 1, 1); day <= absl::CivilDay(2100, 12, 31); ++day) {
    absl::StatusOr<absl::CivilDay> parsed = ParseDay(FormatDay(day));
    ASSERT_TRUE(parsed.ok() && *parsed == day) << day;
  }
}

TEST(ValidateDayInRangeTest, InclusiveBounds) {
  const absl::CivilDay min(2026, 1, 1);
  const absl::CivilDay max(2026, 12, 31);
  EXPECT_THAT(ValidateDayInRange(min, min, max), IsOk());
  EXPECT_THAT(ValidateDayInRange(max, min, max), IsOk());
  EXPECT_THAT(ValidateDayInRange(absl::CivilDay(2026, 6, 15), min, max), IsOk());
  EXPECT_THAT(ValidateDayInRange(absl::CivilDay(2025, 12, 31), min, max),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("2025-12-31"), HasSubstr("2026-01-01..2026-12-31"))));
  EXPECT_THAT(ValidateDayInRange(absl::CivilDay(2027, 1, 1), min, max),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2027-01-01")));
  EXPECT_THAT(ValidateDayInRange(min, min, min), IsOk());
  EXPECT_THAT(ValidateDayInRange(min, max, min), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace egress
