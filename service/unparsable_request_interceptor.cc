#include "service/unparsable_request_interceptor.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"

namespace egress {
namespace {

using Hook = grpc::experimental::InterceptionHookPoints;
using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Dotted paths of the string fields of `type` and its nested messages
// ("note", "filter.ip_prefix"), depth-bounded against recursive types.
void CollectTextFields(const Descriptor* type, const std::string& prefix, int depth,
                       std::vector<std::string>* out) {
  if (depth > 3) return;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    const std::string path = absl::StrCat(prefix, field->name());
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      out->push_back(path);
    } else if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      CollectTextFields(field->message_type(), absl::StrCat(path, "."), depth + 1, out);
    }
  }
}

class UnparsableRequestInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit UnparsableRequestInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method() == nullptr ? "" : info->method()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE)) {
      // nullptr here means the payload arrived but did not parse.
      request_unparsable_ = methods->GetRecvMessage() == nullptr;
    }
    if (request_unparsable_ && methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS) &&
        methods->GetSendStatus().error_code() == grpc::StatusCode::INTERNAL) {
      methods->ModifySendStatus(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                             UnparsableRequestMessage(method_.c_str())));
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  bool request_unparsable_ = false;
};

class UnparsableRequestFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Streams parse each message in the reactor's own read path and report
    // failures there; only unary calls end with the bare INTERNAL.
    if (info->type() != grpc::experimental::ServerRpcInfo::Type::UNARY) return nullptr;
    return new UnparsableRequestInterceptor(info);
  }
};

}  // namespace

std::string UnparsableRequestMessage(const char* method_path) {
  absl::string_view method(method_path == nullptr ? "" : method_path);
  absl::ConsumePrefix(&method, "/");
  std::string full_name(method);
  const size_t slash = full_name.find('/');
  if (slash != std::string::npos) full_name[slash] = '.';
  const google::protobuf::MethodDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name);
  std::vector<std::string> fields;
  if (descriptor != nullptr) CollectTextFields(descriptor->input_type(), "", 0, &fields);
  if (fields.empty()) return "request: not a valid message of this method's request type";
  return absl::StrCat("request: could not be parsed; text fields (", absl::StrJoin(fields, ", "),
                      ") must be valid UTF-8");
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewUnparsableRequestInterceptorFactory() {
  return std::make_unique<UnparsableRequestFactory>();
}

}  // namespace egress
