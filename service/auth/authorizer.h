// Who is calling, and may they do this? Used at the top of every RPC.
//
// Order of checks in a handler: Authenticate (UNAUTHENTICATED), then the
// request's fields (INVALID_ARGUMENT), then RequireScope / RequireAccount
// (PERMISSION_DENIED), then the store (NOT_FOUND, ...). A panel token asking
// for another account gets PERMISSION_DENIED whether or not that account
// exists, so tokens cannot probe for account ids.
#ifndef EGRESS_SERVICE_AUTH_AUTHORIZER_H_
#define EGRESS_SERVICE_AUTH_AUTHORIZER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "grpcpp/server_context.h"
#include "service/auth/token.h"
#include "service/domain/actor.h"

namespace egress {

struct Caller {
  Claims claims;
  bool HasScope(Scope scope) const { return claims.scopes.count(scope) > 0; }
  // As written to the audit log: "account:<id>", "admin:<name>",
  // "antivirus:<name>", "node:<id>".
  std::string ActorName() const;
  // The actor of the changes this caller makes (name and role).
  Actor AsActor() const;
};

// Thread-safe. `signer` must outlive the authorizer.
class Authorizer {
 public:
  // `clock` decides whether tokens have expired or are not valid yet.
  explicit Authorizer(const TokenSigner* signer, const Clock* clock = RealClock::Get())
      : signer_(*signer), clock_(*clock) {}

  // Reads `authorization: Bearer <token>` from the call's metadata.
  absl::StatusOr<Caller> Authenticate(const grpc::ServerContextBase& context) const;
  absl::StatusOr<Caller> AuthenticateToken(absl::string_view token) const;

  // PERMISSION_DENIED unless the caller has `scope`.
  static absl::Status RequireScope(const Caller& caller, Scope scope);
  // Panel callers may act only on their own account; admins on any.
  static absl::Status RequireAccount(const Caller& caller, absl::string_view account_id);

  // The names a verified client certificate carries (its common name, then
  // its subject alternative names); nullopt when the peer presented none
  // (plaintext, or TLS without client certificates). Call it from a gRPC
  // callback of the call, not from another thread.
  static std::optional<std::vector<std::string>> CertificateNames(
      const grpc::ServerContextBase& context);
  // With mTLS a node's certificate identifies it as well as its token: the
  // node id must be one of the certificate's names (PERMISSION_DENIED
  // otherwise), so a certificate of one node cannot open another node's
  // stream even with that node's token. No certificate: OK (the token alone
  // identifies the node).
  static absl::Status RequireCertificateFor(const std::optional<std::vector<std::string>>& names,
                                            absl::string_view node_id);

 private:
  const TokenSigner& signer_;
  const Clock& clock_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_AUTH_AUTHORIZER_H_
