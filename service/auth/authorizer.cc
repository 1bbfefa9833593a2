#include "service/auth/authorizer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace egress {

std::string Caller::ActorName() const {
  if (HasScope(Scope::kAdmin)) return absl::StrCat("admin:", claims.subject);
  if (HasScope(Scope::kAntivirus)) return absl::StrCat("antivirus:", claims.subject);
  if (HasScope(Scope::kNode)) return absl::StrCat("node:", claims.subject);
  return absl::StrCat("account:", claims.subject);
}

Actor Caller::AsActor() const {
  ActorRole role = ActorRole::kCustomer;
  if (HasScope(Scope::kAdmin)) {
    role = ActorRole::kSupport;
  } else if (HasScope(Scope::kAntivirus)) {
    role = ActorRole::kAntivirus;
  } else if (HasScope(Scope::kNode)) {
    role = ActorRole::kNode;
  }
  return Actor{ActorName(), role};
}

absl::StatusOr<Caller> Authorizer::Authenticate(const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "missing credentials: send the metadata \"authorization: Bearer <token>\"");
  }
  absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWithIgnoreCase(value, kBearer)) {
    return absl::UnauthenticatedError("authorization metadata must be \"Bearer <token>\"");
  }
  return AuthenticateToken(value.substr(kBearer.size()));
}

absl::StatusOr<Caller> Authorizer::AuthenticateToken(absl::string_view token) const {
  absl::StatusOr<Claims> claims = signer_.Verify(token, clock_.Now());
  if (!claims.ok()) return claims.status();
  return Caller{*std::move(claims)};
}

absl::Status Authorizer::RequireScope(const Caller& caller, Scope scope) {
  if (caller.HasScope(scope)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("this call needs a token with the \"", ScopeName(scope), "\" scope"));
}

absl::Status Authorizer::RequireAccount(const Caller& caller, absl::string_view account_id) {
  if (caller.HasScope(Scope::kAdmin)) return absl::OkStatus();
  if (caller.HasScope(Scope::kPanel) && caller.claims.subject == account_id) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("this token does not grant access to account \"", account_id, "\""));
}

std::optional<std::vector<std::string>> Authorizer::CertificateNames(
    const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return std::nullopt;
  std::vector<std::string> names;
  for (const char* property : {"x509_common_name", "x509_subject_alternative_name"}) {
    for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
      names.emplace_back(value.data(), value.size());
    }
  }
  return names;
}

absl::Status Authorizer::RequireCertificateFor(const std::optional<std::vector<std::string>>& names,
                                               absl::string_view node_id) {
  if (!names.has_value()) return absl::OkStatus();
  for (const std::string& name : *names) {
    if (name == node_id) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("the client certificate is for \"",
                                                  absl::StrJoin(*names, "\", \""),
                                                  "\", not node \"", node_id, "\""));
}

}  // namespace egress
