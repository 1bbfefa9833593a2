#include "service/paging.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOkAndHolds;
using ::egress::testing::StatusIs;
using ::testing::Eq;
using ::testing::HasSubstr;

TEST(ResolvePageSizeTest, DefaultsAndBounds) {
  EXPECT_THAT(ResolvePageSize(0, "page_size"), IsOkAndHolds(Eq(kDefaultPageSize)));
  EXPECT_THAT(ResolvePageSize(1, "page_size"), IsOkAndHolds(Eq(1)));
  EXPECT_THAT(ResolvePageSize(kMaxPageSize, "page_size"), IsOkAndHolds(Eq(kMaxPageSize)));
  for (int64_t bad : {int64_t{-1}, int64_t{kMaxPageSize + 1}, int64_t{1} << 40}) {
    EXPECT_THAT(ResolvePageSize(bad, "page_size"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_size:")))
        << bad;
  }
}

TEST(PageTokenTest, RoundTripsItsCursor) {
  const std::string token = EncodePageToken("nodes", "web-07");
  EXPECT_THAT(DecodePageToken(token, "nodes", "page_token"), IsOkAndHolds(Eq("web-07")));
  EXPECT_THAT(DecodePageToken("", "nodes", "page_token"), IsOkAndHolds(Eq("")));
}

TEST(PageTokenTest, RefusesTokensOfAnotherListAndTamperedTokens) {
  const std::string token = EncodePageToken("nodes", "web-07");
  for (const std::string& bad :
       {EncodePageToken("accounts", "web-07"), std::string("!!!"), token + "*",
        std::string(5000, 'A'), std::string("bm9kZXM"), std::string("\0\0", 2)}) {
    EXPECT_THAT(DecodePageToken(bad, "nodes", "page_token"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("page_token:")));
  }
}

}  // namespace
}  // namespace egress
