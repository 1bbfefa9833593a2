#include "common/note.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Repeat(absl::string_view unit, size_t times) {
  std::string out;
  for (size_t i = 0; i < times; ++i) absl::StrAppend(&out, unit);
  return out;
}

// --- Notes -------------------------------------------------------------------

TEST(ValidateNoteTest, AcceptsOrdinaryText) {
  EXPECT_THAT(ValidateNote(""), IsOk());
  EXPECT_THAT(ValidateNote("blocked: spam relay, ticket #4411"), IsOk());
  EXPECT_THAT(ValidateNote("Платёжный шлюз — не блокировать"), IsOk());
  EXPECT_THAT(ValidateNote("支付网关 🚫 \xf4\x8f\xbf\xbf"), IsOk());  // includes U+10FFFF
  EXPECT_THAT(ValidateNote("line one\nline two\r\n\tindented"), IsOk());
  EXPECT_THAT(ValidateNote("\xc2\x80\xc2\x9f"), IsOk());  // C1 controls are not rejected
  EXPECT_THAT(ValidateNote("\xef\xbb\xbf BOM and \xe2\x80\xae RLO are text"), IsOk());
}

TEST(ValidateNoteTest, AcceptsInjectionTextVerbatim) {
  EXPECT_THAT(ValidateNote("'); DROP TABLE rules; --"), IsOk());
  EXPECT_THAT(ValidateNote("<script>alert(1)</script>"), IsOk());
  EXPECT_THAT(ValidateNote("${jndi:ldap://x}/%s%n\\"), IsOk());
}

TEST(ValidateNoteTest, LengthLimitCountsCodePointsNotBytes) {
  // 1000 four-byte characters = 4000 bytes: allowed.
  const std::string emoji_1000 = Repeat("\xf0\x9f\x98\x80", kMaxNoteCodePoints);
  EXPECT_EQ(CountCodePoints(emoji_1000), 1000u);
  EXPECT_THAT(ValidateNote(emoji_1000), IsOk());
  EXPECT_THAT(ValidateNote(Repeat("\xd0\xaf", 1000)), IsOk());
  EXPECT_THAT(ValidateNote(Repeat("\xe4\xb8\xad", 1000)), IsOk());
  EXPECT_THAT(ValidateNote(std::string(1000, 'a')), IsOk());
  EXPECT_THAT(ValidateNote(Repeat("\xd0\xaf", 1001)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("1001"), HasSubstr("at most 1000"))));
  EXPECT_THAT(ValidateNote(std::string(1001, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1001")));
  EXPECT_THAT(ValidateNote(emoji_1000 + "a"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1001")));
  EXPECT_THAT(ValidateNote(std::string(1 << 20, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1048576")));
}

TEST(ValidateNoteTest, RejectsNulAndControlCharacters) {
  EXPECT_THAT(ValidateNote(std::string("ab\0c", 4)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("U+0000"), HasSubstr("byte offset 2"))));
  EXPECT_THAT(ValidateNote(std::string(1, '\0')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte offset 0")));
  for (int c = 1; c < 0x20; ++c) {
    if (c == '\t' || c == '\n' || c == '\r') continue;
    const std::string note = absl::StrCat("x", std::string(1, static_cast<char>(c)));
    EXPECT_THAT(ValidateNote(note),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("control character"), HasSubstr("byte offset 1"))))
        << c;
  }
  EXPECT_THAT(ValidateNote("del\x7f"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("U+007F"), HasSubstr("byte offset 3"))));
  EXPECT_THAT(ValidateNote("\x1b[2J clear screen"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("U+001B")));
  // Offsets are in bytes, after multi-byte characters.
  EXPECT_THAT(ValidateNote("\xd0\xaf\xd0\xaf\x01"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte offset 4")));
}

TEST(ValidateNoteTest, RejectsInvalidUtf8WithOffset) {
  const std::pair<std::string, const char*> cases[] = {
      // Stray continuation bytes.
      {"ab\x80", "continuation byte at byte offset 2"},
      {"\xbf", "continuation byte at byte offset 0"},
      // Bytes that never appear in UTF-8.
      {"a\xff", "invalid byte 0xFF at byte offset 1"},
      {"a\xfe", "invalid byte 0xFE at byte offset 1"},
      {"\xf8\x88\x80\x80\x80", "invalid byte 0xF8 at byte offset 0"},
      // Overlong forms, including the classic overlong NUL and '/'.
      {"\xc0\x80", "overlong encoding at byte offset 0"},
      {"x\xc0\xaf", "overlong encoding at byte offset 1"},
      {"\xc1\xbf", "overlong encoding at byte offset 0"},
      {"\xe0\x80\xaf", "overlong encoding at byte offset 0"},
      {"\xe0\x9f\xbf", "overlong encoding at byte offset 0"},
      {"\xf0\x80\x80\xaf", "overlong encoding at byte offset 0"},
      {"\xf0\x8f\xbf\xbf", "overlong encoding at byte offset 0"},
      // UTF-16 surrogates.
      {"\xed\xa0\x80", "surrogate U+D800 at byte offset 0"},
      {"ok \xed\xbf\xbf", "surrogate U+DFFF at byte offset 3"},
      {"\xed\xa0\xbd\xed\xb8\x80", "surrogate U+D83D at byte offset 0"},  // CESU-8 emoji
      // Beyond U+10FFFF.
      {"\xf4\x90\x80\x80", "above U+10FFFF at byte offset 0"},
      {"\xf7\xbf\xbf\xbf", "above U+10FFFF at byte offset 0"},
      // Truncated sequences: at the end and followed by a non-continuation.
      {"abc\xd0", "truncated by the end of the text at byte offset 3"},
      {"\xe4\xb8", "truncated by the end of the text at byte offset 0"},
      {"\xf0\x9f\x98", "truncated by the end of the text at byte offset 0"},
      {"\xd0"
       "a",
       "missing a continuation byte at byte offset 0"},
      {"xy\xe4\xb8"
       "a",
       "missing a continuation byte at byte offset 2"},
      {"\xf0\x9f\x98"
       "a",
       "missing a continuation byte at byte offset 0"},
      {std::string("\xe4\0\xad", 3), "missing a continuation byte at byte offset 0"},
  };
  for (const auto& [note, reason] : cases) {
    EXPECT_THAT(ValidateNote(note),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("not valid UTF-8"), HasSubstr(reason))))
        << absl::CHexEscape(note);
  }
}

TEST(ValidateNoteTest, AcceptsBoundaryCodePoints) {
  EXPECT_THAT(ValidateNote("\x7e"), IsOk());              // U+007E
  EXPECT_THAT(ValidateNote("\xc2\x80"), IsOk());          // U+0080
  EXPECT_THAT(ValidateNote("\xdf\xbf"), IsOk());          // U+07FF
  EXPECT_THAT(ValidateNote("\xe0\xa0\x80"), IsOk());      // U+0800
  EXPECT_THAT(ValidateNote("\xed\x9f\xbf"), IsOk());      // U+D7FF
  EXPECT_THAT(ValidateNote("\xee\x80\x80"), IsOk());      // U+E000
  EXPECT_THAT(ValidateNote("\xef\xbf\xbf"), IsOk());      // U+FFFF
  EXPECT_THAT(ValidateNote("\xf0\x90\x80\x80"), IsOk());  // U+10000
  EXPECT_THAT(ValidateNote("\xf4\x8f\xbf\xbf"), IsOk());  // U+10FFFF
}

TEST(ValidateNoteTest, ControlCheckAppliesBeforeLengthCheck) {
  // A bad byte is reported even in a note that is also too long.
  const std::string note = std::string(2000, 'a') + "\x07";
  EXPECT_THAT(ValidateNote(note),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte offset 2000")));
}

TEST(CountCodePointsTest, CountsCharactersNotBytes) {
  EXPECT_EQ(CountCodePoints(""), 0u);
  EXPECT_EQ(CountCodePoints("abc"), 3u);
  EXPECT_EQ(CountCodePoints("Я"), 1u);
  EXPECT_EQ(CountCodePoints("中文"), 2u);
  EXPECT_EQ(CountCodePoints("a\xf0\x9f\x98\x80z"), 3u);
  EXPECT_EQ(CountCodePoints(std::string("a\0b", 3)), 3u);
}

// --- Identifiers ---------------------------------------------------------------

TEST(ValidateIdentifierTest, AcceptsAllowedForm) {
  for (const char* id : {"a", "0", "acct-42", "node1.dc2", "user_name", "a.b-c_d", "9lives", "a-",
                         "a.", "a_", "a..b"}) {
    EXPECT_THAT(ValidateIdentifier(id), IsOk()) << id;
  }
  EXPECT_THAT(ValidateIdentifier(std::string(63, 'z')), IsOk());
}

TEST(ValidateIdentifierTest, RejectsEverythingElse) {
  const std::pair<std::string, const char*> cases[] = {
      {"", "empty"},
      {std::string(64, 'z'), "64 bytes"},
      {std::string(10 * 1024, 'z'), "10240 bytes"},
      {"-a", "must start"},
      {".hidden", "must start"},
      {"_a", "must start"},
      {"..", "must start"},
      {"Acct", "must start"},
      {"acctX", "offset 4"},
      {"acct 1", "offset 4"},
      {" acct", "must start"},
      {"acct\n", "offset 4"},
      {"a/b", "offset 1"},
      {"a\\b", "offset 1"},
      {"a:b", "offset 1"},
      {"a@b", "offset 1"},
      {"a'b", "offset 1"},
      {"acct;drop", "offset 4"},
      {"\xd0\xaf", "must start"},
      {"a\xd0\xaf", "offset 1"},
      {std::string("a\0", 2), "offset 1"},
      {std::string("\0", 1), "must start"},
  };
  for (const auto& [id, reason] : cases) {
    EXPECT_THAT(ValidateIdentifier(id),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(reason), HasSubstr("a-z, 0-9, '.', '_' and '-'"),
                               HasSubstr("1 to 63"))))
        << absl::CHexEscape(id);
  }
}

TEST(ValidateIdentifierTest, ErrorQuotesInputSafely) {
  const absl::Status status = ValidateIdentifier(std::string("a\0\n", 3));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"a\\x00\\n\"")));
}

}  // namespace
}  // namespace egress
