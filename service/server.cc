#include "service/server.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace egress {

absl::StatusOr<std::unique_ptr<EgressServer>> EgressServer::Start(const ServerOptions& options,
                                                                  Database* database) {
  const std::string& address = options.listen_address;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen: \"", address, "\" is not host:port (e.g. 127.0.0.1:50051)"));
  }
  std::unique_ptr<EgressServer> server(new EgressServer());
  server->host_ = address.substr(0, colon);
  server->accounts_store_ = std::make_unique<PgAccountsStore>(database);
  server->accounts_service_ = std::make_unique<AccountsServiceImpl>(server->accounts_store_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // grpc++ binds with SO_REUSEPORT by default: a second, stale server would
  // silently share the port and answer half of the calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->accounts_service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("listen: cannot bind ", address, " (address in use or not local?)"));
  }
  server->server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

EgressServer::~EgressServer() { Shutdown(absl::Now()); }

std::string EgressServer::address() const { return absl::StrCat(host_, ":", port_); }

void EgressServer::Shutdown(absl::Time deadline) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(absl::ToChronoTime(deadline));
  server_->Wait();
}

}  // namespace egress
