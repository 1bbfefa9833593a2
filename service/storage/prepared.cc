#include "service/storage/prepared.h"

#include <functional>

#include "absl/strings/str_cat.h"

namespace egress {

std::string PreparedName(const char* sql) {
  return absl::StrCat("egress_", absl::Hex(std::hash<std::string_view>{}(sql)));
}

}  // namespace egress
