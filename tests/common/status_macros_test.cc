#include "common/status_macros.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/ip_address.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::IsOkAndHolds;
using ::egress::testing::StatusIs;
using ::testing::Eq;
using ::testing::Pointee;

absl::Status ReturnIfErrorWithStatus(absl::Status input, int* reached) {
  EGRESS_RETURN_IF_ERROR(input);
  ++*reached;
  return absl::OkStatus();
}

absl::Status ReturnIfErrorWithStatusOr(absl::StatusOr<int> input, int* reached) {
  EGRESS_RETURN_IF_ERROR(input);
  ++*reached;
  return absl::OkStatus();
}

absl::StatusOr<int> ReturnIfErrorInStatusOrFunction(absl::Status input) {
  EGRESS_RETURN_IF_ERROR(input);
  return 7;
}

TEST(ReturnIfErrorTest, PassesThroughOk) {
  int reached = 0;
  EXPECT_OK(ReturnIfErrorWithStatus(absl::OkStatus(), &reached));
  EXPECT_EQ(reached, 1);
  EXPECT_OK(ReturnIfErrorWithStatusOr(3, &reached));
  EXPECT_EQ(reached, 2);
  EXPECT_THAT(ReturnIfErrorInStatusOrFunction(absl::OkStatus()), IsOkAndHolds(7));
}

TEST(ReturnIfErrorTest, ReturnsErrorUnchanged) {
  int reached = 0;
  EXPECT_THAT(ReturnIfErrorWithStatus(absl::NotFoundError("gone"), &reached),
              StatusIs(absl::StatusCode::kNotFound, "gone"));
  EXPECT_THAT(ReturnIfErrorWithStatusOr(absl::StatusOr<int>(absl::DataLossError("torn")), &reached),
              StatusIs(absl::StatusCode::kDataLoss, "torn"));
  EXPECT_EQ(reached, 0);
  EXPECT_THAT(ReturnIfErrorInStatusOrFunction(absl::UnavailableError("down")),
              StatusIs(absl::StatusCode::kUnavailable, "down"));
}

TEST(ReturnIfErrorTest, EvaluatesExpressionOnce) {
  int calls = 0;
  auto fail_once = [&calls]() {
    ++calls;
    return absl::InternalError("boom");
  };
  auto run = [&]() -> absl::Status {
    EGRESS_RETURN_IF_ERROR(fail_once());
    return absl::OkStatus();
  };
  EXPECT_THAT(run(), StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ(calls, 1);
}

TEST(ReturnIfErrorTest, WorksAsUnbracedIfBody) {
  auto run = [](bool check) -> absl::Status {
    if (check)
      EGRESS_RETURN_IF_ERROR(absl::AbortedError("checked"));
    else
      return absl::OkStatus();
    return absl::OkStatus();
  };
  EXPECT_THAT(run(true), StatusIs(absl::StatusCode::kAborted));
  EXPECT_OK(run(false));
}

absl::StatusOr<int> Half(int value) {
  if (value % 2 != 0) return absl::InvalidArgumentError("odd");
  return value / 2;
}

absl::StatusOr<int> Quarter(int value) {
  EGRESS_ASSIGN_OR_RETURN(int half, Half(value));
  EGRESS_ASSIGN_OR_RETURN(auto quarter, Half(half));
  return quarter;
}

absl::Status AssignToExisting(int value, int* out) {
  int result = -1;
  EGRESS_ASSIGN_OR_RETURN(result, Half(value));
  *out = result;
  return absl::OkStatus();
}

TEST(AssignOrReturnTest, DeclaresAndAssigns) {
  EXPECT_THAT(Quarter(8), IsOkAndHolds(2));
  EXPECT_THAT(Quarter(6), StatusIs(absl::StatusCode::kInvalidArgument, "odd"));
  EXPECT_THAT(Quarter(3), StatusIs(absl::StatusCode::kInvalidArgument, "odd"));
}

TEST(AssignOrReturnTest, AssignsToExistingVariableAndReturnsStatus) {
  int out = 0;
  EXPECT_OK(AssignToExisting(10, &out));
  EXPECT_EQ(out, 5);
  EXPECT_THAT(AssignToExisting(11, &out), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(out, 5);
}

TEST(AssignOrReturnTest, WorksWithNamedTypesAndMoveOnlyValues) {
  auto parse = [](absl::string_view text) -> absl::StatusOr<std::string> {
    EGRESS_ASSIGN_OR_RETURN(IpAddress ip, IpAddress::Parse(text));
    return ip.ToString();
  };
  EXPECT_THAT(parse("::FFFF:1.2.3.4"), IsOkAndHolds("1.2.3.4"));
  EXPECT_THAT(parse("nope"), StatusIs(absl::StatusCode::kInvalidArgument));

  auto make = [](bool ok) -> absl::StatusOr<std::unique_ptr<int>> {
    if (!ok) return absl::ResourceExhaustedError("full");
    return std::make_unique<int>(42);
  };
  auto wrap = [&make](bool ok) -> absl::StatusOr<std::unique_ptr<int>> {
    EGRESS_ASSIGN_OR_RETURN(std::unique_ptr<int> value, make(ok));
    return value;
  };
  EXPECT_THAT(wrap(true), IsOkAndHolds(Pointee(Eq(42))));
  EXPECT_THAT(wrap(false), StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(AssignOrReturnTest, ExpressionMayContainTemplateCommas) {
  auto run = []() -> absl::StatusOr<int> {
    EGRESS_ASSIGN_OR_RETURN(auto pair,
                            absl::StatusOr<std::pair<int, int>>(std::pair<int, int>(1, 2)));
    return pair.first + pair.second;
  };
  EXPECT_THAT(run(), IsOkAndHolds(3));
}

TEST(AssignOrReturnTest, EvaluatesExpressionOnce) {
  int calls = 0;
  auto counted = [&calls]() -> absl::StatusOr<int> { return ++calls; };
  auto run = [&counted]() -> absl::StatusOr<int> {
    EGRESS_ASSIGN_OR_RETURN(int value, counted());
    return value;
  };
  EXPECT_THAT(run(), IsOkAndHolds(1));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace egress
