// The gRPC server of egress-service: every egress.v1 service, gRPC health
// checking and server reflection, on one listening address.
#ifndef EGRESS_SERVICE_SERVER_H_
#define EGRESS_SERVICE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "service/accounts_service.h"
#include "service/storage/database.h"
#include "service/storage/pg_accounts_store.h"

namespace egress {

struct ServerOptions {
  // host:port; port 0 picks a free port (see EgressServer::port()).
  std::string listen_address = "127.0.0.1:50051";
};

// Owns the stores and service implementations built on `database`, which
// must outlive it. Start() returns once the port is bound and serving.
class EgressServer {
 public:
  // UNAVAILABLE if the address cannot be bound (in use, bad host).
  static absl::StatusOr<std::unique_ptr<EgressServer>> Start(const ServerOptions& options,
                                                             Database* database);
  ~EgressServer();

  int port() const { return port_; }
  // "host:port" actually bound.
  std::string address() const;

  // Stops accepting calls, marks health NOT_SERVING, lets calls in flight
  // finish until `deadline`, then cancels the rest. Idempotent.
  void Shutdown(absl::Time deadline);

 private:
  EgressServer() = default;

  std::string host_;
  int port_ = 0;
  std::unique_ptr<PgAccountsStore> accounts_store_;
  std::unique_ptr<AccountsServiceImpl> accounts_service_;
  std::unique_ptr<grpc::Server> server_;
  bool shut_down_ = false;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_SERVER_H_
