#include "common/port.h"

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
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

TEST(ParsePortTest, AcceptsFullRange) {
  EXPECT_THAT(ParsePort("1"), IsOkAndHolds(1));
  EXPECT_THAT(ParsePort("80"), IsOkAndHolds(80));
  EXPECT_THAT(ParsePort("443"), IsOkAndHolds(443));
  EXPECT_THAT(ParsePort("8080"), IsOkAndHolds(8080));
  EXPECT_THAT(ParsePort("65535"), IsOkAndHolds(65535));
  for (int port = 1; port <= 65535; ++port) {
    absl::StatusOr<uint16_t> parsed = ParsePort(std::to_string(port));
    ASSERT_TRUE(parsed.ok() && *parsed == port) << port;
  }
}

TEST(ParsePortTest, RejectsOutOfRange) {
  for (const char* text : {"0", "65536", "65537", "99999", "100000", "9223372036854775808",
                           "18446744073709551616", "99999999999999999999999999"}) {
    EXPECT_THAT(ParsePort(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1..65535")))
        << text;
  }
}

TEST(ParsePortTest, RejectsNonCanonicalText) {
  const std::pair<std::string, const char*> cases[] = {
      {"", "empty"},
      {"-1", "decimal digits"},
      {"+80", "decimal digits"},
      {" 80", "decimal digits"},
      {"80 ", "decimal digits"},
      {"8 0", "decimal digits"},
      {"\t80", "decimal digits"},
      {"80\n", "decimal digits"},
      {"0x50", "decimal digits"},
      {"80.0", "decimal digits"},
      {"1e3", "decimal digits"},
      {"http", "decimal digits"},
      {"80/tcp", "decimal digits"},
      {"\xd9\xa8\xd9\xa0", "decimal digits"},  // Arabic-Indic "80"
      {std::string("80\0", 3), "decimal digits"},
      {std::string("\0", 1), "decimal digits"},
      {"080", "leading zeros"},
      {"00080", "leading zeros"},
      {"00", "leading zeros"},
      {"065535", "leading zeros"},
  };
  for (const auto& [text, reason] : cases) {
    EXPECT_THAT(ParsePort(text), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(reason)))
        << absl::CHexEscape(text);
  }
}

TEST(ParsePortTest, ErrorQuotesInput) {
  EXPECT_THAT(ParsePort("65536"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("\"65536\""), HasSubstr("not a valid port"))));
  const absl::Status huge = ParsePort(std::string(10 * 1024, '9')).status();
  EXPECT_THAT(huge, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_LT(huge.message().size(), 200u);
}

TEST(ValidatePortTest, Range) {
  EXPECT_THAT(ValidatePort(1), IsOk());
  EXPECT_THAT(ValidatePort(65535), IsOk());
  EXPECT_THAT(ValidatePort(0), StatusIs(absl::StatusCode::kInvalidArgument,
                                        AllOf(HasSubstr("1..65535"), HasSubstr("got 0"))));
  EXPECT_THAT(ValidatePort(65536),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 65536")));
  EXPECT_THAT(ValidatePort(-1), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got -1")));
  EXPECT_THAT(ValidatePort(int64_t{1} << 32),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 4294967296")));
  EXPECT_THAT(ValidatePort(std::numeric_limits<int64_t>::max()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 9223372036854775807")));
  EXPECT_THAT(ValidatePort(std::numeric_limits<int64_t>::min()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ValidatePortTest, OrAnyAllowsZero) {
  EXPECT_THAT(ValidatePortOrAny(0), IsOk());
  EXPECT_THAT(ValidatePortOrAny(1), IsOk());
  EXPECT_THAT(ValidatePortOrAny(65535), IsOk());
  EXPECT_THAT(ValidatePortOrAny(-1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("0 (any)"), HasSubstr("1..65535"), HasSubstr("got -1"))));
  EXPECT_THAT(ValidatePortOrAny(65536),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 65536")));
  EXPECT_THAT(ValidatePortOrAny(std::numeric_limits<int64_t>::max()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace egress
