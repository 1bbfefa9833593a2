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

#include "absl/status/status.h"
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
// The scope named `name` ("panel", "admin", ...); false if none is.
bool ParseScope(absl::string_view name, Scope* scope);

// Scopes bound to their subject (panel: an account, node: a node) stand
// alone: combined with another scope, the subject would name both an
// account or node and a caller with wider rights (a "panel admin" token for
// an account would be a full admin token). INVALID_ARGUMENT naming the
// scopes otherwise. An empty set is valid (such a token may call nothing:
// PERMISSION_DENIED everywhere).
absl::Status ValidateScopeCombination(const std::set<Scope>& scopes);

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

  // INVALID_ARGUMENT for an empty subject, no scope, or scopes that may not
  // be combined (ValidateScopeCombination).
  absl::StatusOr<std::string> Sign(const Claims& claims) const;

  // UNAUTHENTICATED with a reason (malformed, bad signature, wrong
  // algorithm, expired, not valid yet ("nbf" more than kNotBeforeLeeway
  // ahead of `now`), missing subject or expiry, unknown scope, scopes that
  // may not be combined). Never says more about the secret than "signature
  // does not verify". A token without scopes verifies (the caller then has
  // no rights: PERMISSION_DENIED at every call).
  static constexpr absl::Duration kNotBeforeLeeway = absl::Seconds(30);
  absl::StatusOr<Claims> Verify(absl::string_view token, absl::Time now) const;

 private:
  explicit TokenSigner(std::string secret) : secret_(std::move(secret)) {}
  const std::string secret_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_AUTH_TOKEN_H_
