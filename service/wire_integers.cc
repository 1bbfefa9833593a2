#include "service/wire_integers.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/field_status.h"
#include "common/status_macros.h"

namespace egress {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status ValidateWireIntegers(const Message& message, absl::string_view prefix) {
  const Reflection* reflection = message.GetReflection();
  const auto* descriptor = message.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const std::string name = absl::StrCat(prefix, prefix.empty() ? "" : ".", field->name());
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT64) {
      if (field->is_repeated()) {
        for (int k = 0; k < reflection->FieldSize(message, field); ++k) {
          EGRESS_RETURN_IF_ERROR(ValidateWireInteger(
              reflection->GetRepeatedUInt64(message, field, k), absl::StrCat(name, "[", k, "]")));
        }
      } else {
        EGRESS_RETURN_IF_ERROR(ValidateWireInteger(reflection->GetUInt64(message, field), name));
      }
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int k = 0; k < reflection->FieldSize(message, field); ++k) {
          EGRESS_RETURN_IF_ERROR(ValidateWireIntegers(
              reflection->GetRepeatedMessage(message, field, k), absl::StrCat(name, "[", k, "]")));
        }
      } else if (reflection->HasField(message, field)) {
        EGRESS_RETURN_IF_ERROR(ValidateWireIntegers(reflection->GetMessage(message, field), name));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace egress
