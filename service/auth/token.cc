#include "service/auth/token.h"

#include <jwt.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/files.h"

namespace egress {
namespace {

constexpr size_t kMinSecretBytes = 32;
constexpr size_t kMaxTokenBytes = 8192;
constexpr char kIssuer[] = "egress";

struct JwtDeleter {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

absl::Status Unauthenticated(absl::string_view reason) {
  return absl::UnauthenticatedError(absl::StrCat("invalid token: ", reason));
}

}  // namespace

absl::string_view ScopeName(Scope scope) {
  switch (scope) {
    case Scope::kPanel:
      return "panel";
    case Scope::kAdmin:
      return "admin";
    case Scope::kAntivirus:
      return "antivirus";
    case Scope::kNode:
      return "node";
  }
  return "unknown";
}

bool ParseScope(absl::string_view name, Scope* scope) {
  for (Scope candidate : {Scope::kPanel, Scope::kAdmin, Scope::kAntivirus, Scope::kNode}) {
    if (name == ScopeName(candidate)) {
      *scope = candidate;
      return true;
    }
  }
  return false;
}

absl::Status ValidateScopeCombination(const std::set<Scope>& scopes) {
  if (scopes.size() <= 1) return absl::OkStatus();
  for (Scope bound : {Scope::kPanel, Scope::kNode}) {
    if (scopes.count(bound) > 0) {
      std::vector<std::string> names;
      for (Scope scope : scopes) names.emplace_back(ScopeName(scope));
      return absl::InvalidArgumentError(
          absl::StrCat("the \"", ScopeName(bound), "\" scope cannot be combined with others (",
                       absl::StrJoin(names, " "), "): its subject names one ",
                       bound == Scope::kPanel ? "account" : "node"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TokenSigner>> TokenSigner::Create(std::string secret) {
  if (secret.size() < kMinSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat("token secret must be at least ",
                                                   kMinSecretBytes, " bytes, got ", secret.size()));
  }
  return std::unique_ptr<TokenSigner>(new TokenSigner(std::move(secret)));
}

absl::StatusOr<std::unique_ptr<TokenSigner>> TokenSigner::FromFile(const std::string& path) {
  absl::StatusOr<std::string> secret = ReadTrimmedFile(path);
  if (!secret.ok()) {
    return absl::Status(secret.status().code(),
                        absl::StrCat("token secret file: ", secret.status().message()));
  }
  absl::StatusOr<std::unique_ptr<TokenSigner>> signer = Create(*std::move(secret));
  if (!signer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", signer.status().message()));
  }
  return signer;
}

absl::StatusOr<std::string> TokenSigner::Sign(const Claims& claims) const {
  if (claims.subject.empty()) return absl::InvalidArgumentError("token subject is empty");
  if (claims.scopes.empty()) return absl::InvalidArgumentError("token has no scope");
  if (absl::Status combination = ValidateScopeCombination(claims.scopes); !combination.ok()) {
    return combination;
  }
  std::vector<std::string> scopes;
  for (Scope scope : claims.scopes) scopes.emplace_back(ScopeName(scope));
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return absl::InternalError("jwt_new failed");
  JwtPtr jwt(raw);
  const std::string scope_text = absl::StrJoin(scopes, " ");
  if (jwt_add_grant(jwt.get(), "iss", kIssuer) != 0 ||
      jwt_add_grant(jwt.get(), "sub", claims.subject.c_str()) != 0 ||
      jwt_add_grant(jwt.get(), "scope", scope_text.c_str()) != 0 ||
      jwt_add_grant_int(jwt.get(), "iat", absl::ToUnixSeconds(absl::Now())) != 0 ||
      jwt_add_grant_int(jwt.get(), "exp", absl::ToUnixSeconds(claims.expires_at)) != 0 ||
      jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret_.data()),
                  static_cast<int>(secret_.size())) != 0) {
    return absl::InternalError("cannot build token");
  }
  char* encoded = jwt_encode_str(jwt.get());
  if (encoded == nullptr) return absl::InternalError("cannot encode token");
  std::string token(encoded);
  free(encoded);
  return token;
}

absl::StatusOr<Claims> TokenSigner::Verify(absl::string_view token, absl::Time now) const {
  if (token.empty()) return Unauthenticated("empty");
  if (token.size() > kMaxTokenBytes) return Unauthenticated("too long");
  if (token.find('\0') != absl::string_view::npos) return Unauthenticated("malformed");
  const std::string text(token);
  jwt_t* raw = nullptr;
  // With a key, libjwt verifies the signature and refuses alg "none".
  if (jwt_decode(&raw, text.c_str(), reinterpret_cast<const unsigned char*>(secret_.data()),
                 static_cast<int>(secret_.size())) != 0 ||
      raw == nullptr) {
    return Unauthenticated("malformed or signature does not verify");
  }
  JwtPtr jwt(raw);
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) return Unauthenticated("algorithm must be HS256");
  const char* issuer = jwt_get_grant(jwt.get(), "iss");
  if (issuer == nullptr || absl::string_view(issuer) != kIssuer) {
    return Unauthenticated("issuer is not egress");
  }
  Claims claims;
  const char* subject = jwt_get_grant(jwt.get(), "sub");
  if (subject == nullptr || *subject == '\0') return Unauthenticated("no subject");
  claims.subject = subject;
  // No scope claim, or an empty one: a token with no rights.
  const char* scopes = jwt_get_grant(jwt.get(), "scope");
  if (scopes != nullptr) {
    for (absl::string_view name : absl::StrSplit(scopes, ' ', absl::SkipEmpty())) {
      Scope scope;
      if (!ParseScope(name, &scope)) return Unauthenticated(absl::StrCat("unknown scope ", name));
      claims.scopes.insert(scope);
    }
  }
  if (absl::Status combination = ValidateScopeCombination(claims.scopes); !combination.ok()) {
    return Unauthenticated(combination.message());
  }
  errno = 0;
  const long expiry = jwt_get_grant_int(jwt.get(), "exp");
  if (errno != 0 || expiry <= 0) return Unauthenticated("no expiry");
  claims.expires_at = absl::FromUnixSeconds(expiry);
  if (claims.expires_at <= now) return Unauthenticated("expired");
  // A string "nbf" (jwt_get_grant finds only strings) is not a time.
  if (jwt_get_grant(jwt.get(), "nbf") != nullptr) return Unauthenticated("nbf is not a number");
  errno = 0;
  const long not_before = jwt_get_grant_int(jwt.get(), "nbf");
  if (errno != 0 && errno != ENOENT) return Unauthenticated("nbf is not a number");
  if (errno == 0 && absl::FromUnixSeconds(not_before) > now + kNotBeforeLeeway) {
    return Unauthenticated("not valid yet (nbf is in the future)");
  }
  return claims;
}

}  // namespace egress
