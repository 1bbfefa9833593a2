// Bearer tokens: HS256-signed JWTs (libjwt) carrying who the caller is and
// what it may do.
//
// Claims: "sub" (subject: an account id for panel tokens, a node id for node
// tokens, a service name for service tokens), "scope" (space-separated
// scopes), "exp" (expiry, seconds since the epoch; required), "iat", and
// "iss" = "egress".
#ifndef EGRESS_SERVICE_AUTH_TOKEN_H_
#define EGRESS_SERVICE_AUTH_TOKEN_H_

#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace egress {

enum class Scope {
  // ConnectionsService for the one account named by "sub".
  kPanel,
  // AccountsService, and ConnectionsService for any account (support staff).
  kAdmin,
  // AntivirusService.ReportScan.
  kAntivirus,
  // CollectorService.Connect for the node named by "sub".
  kNode,
};

absl::string_view ScopeName(Scope scope);

struct Claims {
  std::string subject;
  std::set<Scope> scopes;
  absl::Time expires_at;
};

// Signs and verifies tokens with one shared secret. Thread-safe.
class TokenSigner {
 public:
  // The secret must be at least 32 bytes (INVALID_ARGUMENT otherwise).
  static absl::StatusOr<std::unique_ptr<TokenSigner>> Create(std::string secret);
  // Reads the secret from a file (surrounding whitespace ignored).
  static absl::StatusOr<std::unique_ptr<TokenSigner>> FromFile(const std::string& path);

  // INVALID_ARGUMENT for an empty subject or no scope.
  absl::StatusOr<std::string> Sign(const Claims& claims) const;

  // UNAUTHENTICATED with a reason (malformed, bad signature, wrong
  // algorithm, expired, missing claim, unknown scope). Never says more about
  // the secret than "signature does not verify".
  absl::StatusOr<Claims> Verify(absl::string_view token, absl::Time now) const;

 private:
  explicit TokenSigner(std::string secret) : secret_(std::move(secret)) {}
  const std::string secret_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_AUTH_TOKEN_H_
