// Tokens for tests: one well-known secret, helpers to mint each kind and to
// attach a token to a call.
#ifndef EGRESS_TESTS_SUPPORT_TEST_TOKENS_H_
#define EGRESS_TESTS_SUPPORT_TEST_TOKENS_H_

#include <string>

#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "service/auth/token.h"

namespace egress::testing {

inline constexpr char kTestTokenSecret[] = "test-secret-0123456789abcdef-0123456789";

inline const TokenSigner& TestSigner() {
  static const TokenSigner* const signer = TokenSigner::Create(kTestTokenSecret)->release();
  return *signer;
}

inline std::string MintToken(const std::string& subject, std::set<Scope> scopes,
                             absl::Duration ttl = absl::Hours(1)) {
  return *TestSigner().Sign(Claims{subject, std::move(scopes), absl::Now() + ttl});
}

inline std::string AdminToken() { return MintToken("test-admin", {Scope::kAdmin}); }
inline std::string PanelToken(const std::string& account) {
  return MintToken(account, {Scope::kPanel});
}
inline std::string NodeToken(const std::string& node) { return MintToken(node, {Scope::kNode}); }
inline std::string AntivirusToken() { return MintToken("scanner", {Scope::kAntivirus}); }

inline void Authorize(grpc::ClientContext* context, const std::string& token) {
  context->AddMetadata("authorization", "Bearer " + token);
}

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_TEST_TOKENS_H_
