// gMock matchers and gTest macros for absl::Status and absl::StatusOr<T>,
// which Abseil 20220623 does not ship.
//
//   EXPECT_THAT(DoIt(), IsOk());
//   EXPECT_THAT(Parse("x"), StatusIs(absl::StatusCode::kInvalidArgument));
//   EXPECT_THAT(Parse("x"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("zone")));
//   EXPECT_THAT(Parse("1.2.3.4"), IsOkAndHolds(Eq(expected)));
//   EXPECT_OK(DoIt());  ASSERT_OK(DoIt());
//   ASSERT_OK_AND_ASSIGN(auto value, Parse("1.2.3.4"));
//
// Every matcher accepts both absl::Status and absl::StatusOr<T>, except
// IsOkAndHolds (StatusOr only).
#ifndef EGRESS_TESTS_SUPPORT_STATUS_MATCHERS_H_
#define EGRESS_TESTS_SUPPORT_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace egress::testing {
namespace internal_status {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }

template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace internal_status

MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const absl::Status& status = internal_status::GetStatus(arg);
  if (!status.ok()) *result_listener << "status is " << status;
  return status.ok();
}

MATCHER_P(StatusIs, code,
          absl::StrCat(negation ? "does not have" : "has", " status code ",
                       absl::StatusCodeToString(code))) {
  const absl::Status& status = internal_status::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           absl::StrCat(negation ? "does not have" : "has", " status code ",
                        absl::StatusCodeToString(code), " and a message that ",
                        ::testing::DescribeMatcher<std::string>(message_matcher, negation))) {
  const absl::Status& status = internal_status::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(::testing::SafeMatcherCast<std::string>(message_matcher),
                                       std::string(status.message()), result_listener);
}

MATCHER_P(
    IsOkAndHolds, value_matcher,
    absl::StrCat(negation ? "is not OK or holds a value that " : "is OK and holds a value that ",
                 ::testing::DescribeMatcher<typename std::remove_cvref_t<arg_type>::value_type>(
                     value_matcher, negation))) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace egress::testing

#define EGRESS_TESTING_CONCAT_INNER_(a, b) a##b
#define EGRESS_TESTING_CONCAT_(a, b) EGRESS_TESTING_CONCAT_INNER_(a, b)

#define EXPECT_OK(expr) EXPECT_THAT((expr), ::egress::testing::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::egress::testing::IsOk())

// Asserts that `expr` (an absl::StatusOr<T>) is OK and moves its value into
// `lhs` (a declaration or an lvalue). Once per line.
#define ASSERT_OK_AND_ASSIGN(lhs, ...) \
  ASSERT_OK_AND_ASSIGN_IMPL_(EGRESS_TESTING_CONCAT_(egress_status_or_, __LINE__), lhs, __VA_ARGS__)
#define ASSERT_OK_AND_ASSIGN_IMPL_(status_or, lhs, ...) \
  auto status_or = (__VA_ARGS__);                       \
  ASSERT_THAT(status_or, ::egress::testing::IsOk());    \
  lhs = *std::move(status_or)

#endif  // EGRESS_TESTS_SUPPORT_STATUS_MATCHERS_H_
