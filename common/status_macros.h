// Early-return helpers for absl::Status / absl::StatusOr, which Abseil 20220623
// does not ship.
//
//   EGRESS_RETURN_IF_ERROR(expr);
//     Evaluates `expr` (an absl::Status or absl::StatusOr<T>) once; if it is
//     not OK, returns its status from the enclosing function. The enclosing
//     function must return absl::Status or absl::StatusOr<U>.
//
//   EGRESS_ASSIGN_OR_RETURN(lhs, expr);
//     Evaluates `expr` (an absl::StatusOr<T>) once; if it is not OK, returns
//     its status; otherwise move-assigns the value to `lhs`. `lhs` may be an
//     existing lvalue (`ip`) or a declaration (`auto ip`, `IpAddress ip`).
//     Limits: it expands to several statements, so it cannot be the unbraced
//     body of an `if`/`for`; it may be used once per source line (the hidden
//     temporary is named after __LINE__); a `lhs` containing a top-level comma
//     (`std::pair<int, int> p`) must be declared beforehand.
//
// Both macros are plain control flow: no allocation beyond copying a Status
// (a reference-count increment) on the error path.
#ifndef EGRESS_COMMON_STATUS_MACROS_H_
#define EGRESS_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace egress::status_macros_internal {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }

template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace egress::status_macros_internal

#define EGRESS_STATUS_MACROS_CONCAT_INNER_(a, b) a##b
#define EGRESS_STATUS_MACROS_CONCAT_(a, b) EGRESS_STATUS_MACROS_CONCAT_INNER_(a, b)

// The temporary's name is unique per expansion (__COUNTER__), so the macro
// nests: an EGRESS_RETURN_IF_ERROR inside a lambda passed to another one
// does not shadow the outer temporary.
#define EGRESS_RETURN_IF_ERROR(expr) \
  EGRESS_RETURN_IF_ERROR_IMPL_(EGRESS_STATUS_MACROS_CONCAT_(egress_status_, __COUNTER__), expr)

#define EGRESS_RETURN_IF_ERROR_IMPL_(result, expr)                \
  do {                                                            \
    const auto& result = (expr);                                  \
    if (ABSL_PREDICT_FALSE(!result.ok())) {                       \
      return ::egress::status_macros_internal::GetStatus(result); \
    }                                                             \
  } while (false)

#define EGRESS_ASSIGN_OR_RETURN(lhs, ...)                                                       \
  EGRESS_ASSIGN_OR_RETURN_IMPL_(EGRESS_STATUS_MACROS_CONCAT_(egress_status_or_, __LINE__), lhs, \
                                __VA_ARGS__)

#define EGRESS_ASSIGN_OR_RETURN_IMPL_(status_or, lhs, ...) \
  auto status_or = (__VA_ARGS__);                          \
  if (ABSL_PREDICT_FALSE(!status_or.ok())) {               \
    return std::move(status_or).status();                  \
  }                                                        \
  lhs = *std::move(status_or)

#endif  // EGRESS_COMMON_STATUS_MACROS_H_
