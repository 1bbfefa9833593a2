// A unary request that protobuf cannot parse (in practice: a string field
// holding invalid UTF-8, which proto3 refuses) never reaches our handlers;
// gRPC answers INTERNAL with an empty message, which tells the caller
// nothing and reads like a server fault. This interceptor turns that answer
// into INVALID_ARGUMENT naming the request's text fields, so bad input gets
// the same kind of status as every other validation failure.
#ifndef EGRESS_SERVICE_UNPARSABLE_REQUEST_INTERCEPTOR_H_
#define EGRESS_SERVICE_UNPARSABLE_REQUEST_INTERCEPTOR_H_

#include <memory>
#include <string>

#include "grpcpp/support/server_interceptor.h"

namespace egress {

// The status message for an unparsable request to `method_path`
// ("/egress.v1.ConnectionsService/UpdateNote"), naming the request type's
// string fields ("note" …); exposed for tests.
std::string UnparsableRequestMessage(const char* method_path);

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewUnparsableRequestInterceptorFactory();

}  // namespace egress

#endif  // EGRESS_SERVICE_UNPARSABLE_REQUEST_INTERCEPTOR_H_
