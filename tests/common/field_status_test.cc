#include "common/field_status.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::StatusIs;
using ::testing::EndsWith;
using ::testing::StartsWith;

TEST(AnnotateFieldTest, PrefixesMessageAndKeepsCode) {
  EXPECT_THAT(AnnotateField("rule.cidr", absl::InvalidArgumentError("bad prefix")),
              StatusIs(absl::StatusCode::kInvalidArgument, "rule.cidr: bad prefix"));
  EXPECT_THAT(AnnotateField("account_id", absl::NotFoundError("no such account")),
              StatusIs(absl::StatusCode::kNotFound, "account_id: no such account"));
  EXPECT_THAT(AnnotateField("", absl::UnknownError("x")),
              StatusIs(absl::StatusCode::kUnknown, ": x"));
}

TEST(AnnotateFieldTest, NestsOutermostFirst) {
  const absl::Status inner = AnnotateField("port", absl::InvalidArgumentError("too big"));
  EXPECT_THAT(AnnotateField("rules[3]", inner),
              StatusIs(absl::StatusCode::kInvalidArgument, "rules[3]: port: too big"));
}

TEST(AnnotateFieldTest, OkStaysOk) {
  EXPECT_THAT(AnnotateField("field", absl::OkStatus()), IsOk());
  EXPECT_EQ(AnnotateField("field", absl::OkStatus()).message(), "");
}

TEST(AnnotateFieldTest, KeepsPayloads) {
  absl::Status status = absl::FailedPreconditionError("locked");
  status.SetPayload("type.example/lock", absl::Cord("antivirus"));
  const absl::Status annotated = AnnotateField("lock", status);
  EXPECT_THAT(annotated, StatusIs(absl::StatusCode::kFailedPrecondition, "lock: locked"));
  ASSERT_TRUE(annotated.GetPayload("type.example/lock").has_value());
  EXPECT_EQ(std::string(*annotated.GetPayload("type.example/lock")), "antivirus");
}

TEST(InvalidFieldTest, BuildsInvalidArgument) {
  EXPECT_THAT(InvalidField("note", "must not be empty"),
              StatusIs(absl::StatusCode::kInvalidArgument, "note: must not be empty"));
}

TEST(QuoteForMessageTest, QuotesPlainText) {
  EXPECT_EQ(QuoteForMessage("1.2.3.4"), "\"1.2.3.4\"");
  EXPECT_EQ(QuoteForMessage(""), "\"\"");
}

TEST(QuoteForMessageTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(QuoteForMessage("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(QuoteForMessage("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(QuoteForMessage("a\nb\tc\rd"), "\"a\\nb\\tc\\rd\"");
  EXPECT_EQ(QuoteForMessage("\x1b[31m"), "\"\\x1b[31m\"");
  EXPECT_EQ(QuoteForMessage("caf\xc3\xa9"), "\"caf\\xc3\\xa9\"");
  EXPECT_EQ(QuoteForMessage("'; DROP TABLE rules; --"), "\"\\'; DROP TABLE rules; --\"");
}

TEST(QuoteForMessageTest, EscapesNulBytes) {
  const std::string with_nul("a\0z\0", 4);
  EXPECT_EQ(QuoteForMessage(with_nul), "\"a\\x00z\\x00\"");
  // A hex digit after an escape is escaped too, so the escape stays unambiguous.
  EXPECT_EQ(QuoteForMessage(std::string("\0b", 2)), "\"\\x00\\x62\"");
  EXPECT_EQ(QuoteForMessage(std::string(1, '\0')), "\"\\x00\"");
}

TEST(QuoteForMessageTest, TruncatesLongInputTo64Bytes) {
  const std::string exactly(kMaxQuotedInputBytes, 'x');
  EXPECT_EQ(QuoteForMessage(exactly), "\"" + exactly + "\"");
  const std::string one_more(kMaxQuotedInputBytes + 1, 'x');
  EXPECT_EQ(QuoteForMessage(one_more), "\"" + exactly + "\"...");
  const std::string huge(10 * 1024, 'y');
  const std::string quoted = QuoteForMessage(huge);
  EXPECT_EQ(quoted, "\"" + std::string(64, 'y') + "\"...");
}

TEST(QuoteForMessageTest, TruncatesBeforeEscaping) {
  // 64 NUL bytes escape to 256 characters; the limit is on input bytes.
  const std::string nuls(100, '\0');
  const std::string quoted = QuoteForMessage(nuls);
  EXPECT_EQ(quoted.size(), 1 + 64 * 4 + 1 + 3);
  EXPECT_THAT(quoted, StartsWith("\"\\x00"));
  EXPECT_THAT(quoted, EndsWith("\\x00\"..."));
  // A multi-byte character cut in half is escaped, never emitted raw.
  const std::string cut = std::string(63, 'a') + "\xd0\xaf";
  EXPECT_EQ(QuoteForMessage(cut), "\"" + std::string(63, 'a') + "\\xd0\"...");
}

TEST(QuoteForMessageTest, OutputIsPrintableAscii) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  for (size_t start = 0; start < every_byte.size(); start += 64) {
    for (char c : QuoteForMessage(absl::string_view(every_byte).substr(start, 64))) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << static_cast<int>(c);
    }
  }
}

}  // namespace
}  // namespace egress
