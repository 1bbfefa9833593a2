#include "tools/egressctl/reflection_client.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace egress::ctl {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::Message;
using google::protobuf::MessageFactory;

// One call: writes `request`, half-closes, reads one response. On the wire a
// unary call and a one-message bidi exchange are the same, so this serves
// both the health check and the reflection stream.
absl::StatusOr<grpc::ByteBuffer> CallOnce(const std::shared_ptr<grpc::Channel>& channel,
                                          const std::string& method, const std::string& request,
                                          absl::Duration timeout) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, method, &queue);
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::Status status;
  bool got_response = false;

  // Each step's tag is its number; steps complete in order.
  auto step = [&](int tag) {
    void* got = nullptr;
    bool ok = false;
    if (!queue.Next(&got, &ok)) return false;
    return ok && got == reinterpret_cast<void*>(static_cast<intptr_t>(tag));
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (step(1)) {
    call->Write(request_buffer, reinterpret_cast<void*>(2));
    if (step(2)) {
      call->WritesDone(reinterpret_cast<void*>(3));
      if (step(3)) {
        call->Read(&response_buffer, reinterpret_cast<void*>(4));
        got_response = step(4);
      }
    }
  }
  call->Finish(&status, reinterpret_cast<void*>(5));
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
    if (tag == reinterpret_cast<void*>(5)) break;
  }
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (!status.ok()) return FromGrpcStatus(status);
  if (!got_response) return absl::UnavailableError(absl::StrCat(method, ": no response"));
  return response_buffer;
}

std::string BufferToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout) {
  // Referencing the plugin keeps libgrpc++_reflection (and with it the
  // reflection descriptors) linked in.
  static const bool linked = [] {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    return true;
  }();
  (void)linked;
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  const Descriptor* request_type =
      pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionRequest");
  const Descriptor* response_type =
      pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionResponse");
  if (request_type == nullptr || response_type == nullptr) {
    return absl::InternalError("reflection descriptors are not linked into this binary");
  }
  MessageFactory* factory = MessageFactory::generated_factory();
  std::unique_ptr<Message> request(factory->GetPrototype(request_type)->New());
  request->GetReflection()->SetString(request.get(), request_type->FindFieldByName("list_services"),
                                      "*");
  absl::StatusOr<grpc::ByteBuffer> reply =
      CallOnce(channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
               request->SerializeAsString(), timeout);
  if (!reply.ok()) return reply.status();
  std::unique_ptr<Message> response(factory->GetPrototype(response_type)->New());
  if (!response->ParseFromString(BufferToString(*reply))) {
    return absl::InternalError("unparsable reflection response");
  }
  const auto* reflection = response->GetReflection();
  const auto* list_field = response_type->FindFieldByName("list_services_response");
  if (!reflection->HasField(*response, list_field)) {
    return absl::InternalError(
        absl::StrCat("unexpected reflection response: ", response->ShortDebugString()));
  }
  const Message& list = reflection->GetMessage(*response, list_field);
  const auto* service_field = list.GetDescriptor()->FindFieldByName("service");
  std::vector<std::string> names;
  for (int i = 0; i < list.GetReflection()->FieldSize(list, service_field); ++i) {
    const Message& service = list.GetReflection()->GetRepeatedMessage(list, service_field, i);
    names.push_back(service.GetReflection()->GetString(
        service, service.GetDescriptor()->FindFieldByName("name")));
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::string> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& service, absl::Duration timeout) {
  // HealthCheckRequest { string service = 1; }
  std::string request;
  if (!service.empty()) {
    if (service.size() > 127) return absl::InvalidArgumentError("service: name too long");
    request.push_back(0x0a);
    request.push_back(static_cast<char>(service.size()));
    request.append(service);
  }
  absl::StatusOr<grpc::ByteBuffer> reply =
      CallOnce(channel, "/grpc.health.v1.Health/Check", request, timeout);
  if (!reply.ok()) return reply.status();
  // HealthCheckResponse { ServingStatus status = 1; } (a varint below 128).
  const std::string bytes = BufferToString(*reply);
  int value = 0;
  if (bytes.size() == 2 && bytes[0] == 0x08) value = bytes[1];
  switch (value) {
    case 1:
      return std::string("SERVING");
    case 2:
      return std::string("NOT_SERVING");
    case 3:
      return std::string("SERVICE_UNKNOWN");
    default:
      return std::string("UNKNOWN");
  }
}

}  // namespace egress::ctl
