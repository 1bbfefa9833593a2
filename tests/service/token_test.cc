// HS256 tokens and the authorisation rules built on them.
#include "service/auth/token.h"

#include <jwt.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/authorizer.h"
#include "tests/support/status_matchers.h"

namespace egress {
namespace {

using ::egress::testing::IsOk;
using ::egress::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kSecret[] = "0123456789abcdef0123456789abcdef";

std::unique_ptr<TokenSigner> Signer(const std::string& secret = kSecret) {
  return *TokenSigner::Create(secret);
}

Claims PanelClaims(const std::string& account) {
  return Claims{account, {Scope::kPanel}, absl::Now() + absl::Hours(1)};
}

TEST(TokenSignerTest, RoundTrip) {
  auto signer = Signer();
  ASSERT_OK_AND_ASSIGN(std::string token, signer->Sign(Claims{"ops",
                                                              {Scope::kAdmin, Scope::kAntivirus},
                                                              absl::FromUnixSeconds(4000000000)}));
  ASSERT_OK_AND_ASSIGN(Claims claims, signer->Verify(token, absl::Now()));
  EXPECT_EQ(claims.subject, "ops");
  EXPECT_EQ(claims.scopes, (std::set<Scope>{Scope::kAdmin, Scope::kAntivirus}));
  EXPECT_EQ(claims.expires_at, absl::FromUnixSeconds(4000000000));
}

TEST(TokenSignerTest, RejectsShortSecretsAndEmptyClaims) {
  EXPECT_THAT(TokenSigner::Create("short"), StatusIs(absl::StatusCode::kInvalidArgument));
  auto signer = Signer();
  EXPECT_THAT(signer->Sign(Claims{"", {Scope::kPanel}, absl::Now()}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(signer->Sign(Claims{"alice", {}, absl::Now()}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TokenSignerTest, ExpiredTokenIsUnauthenticated) {
  auto signer = Signer();
  ASSERT_OK_AND_ASSIGN(std::string token, signer->Sign(PanelClaims("alice")));
  EXPECT_THAT(signer->Verify(token, absl::Now() + absl::Hours(2)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("expired")));
}

TEST(TokenSignerTest, AnotherSecretDoesNotVerify) {
  ASSERT_OK_AND_ASSIGN(std::string token, Signer()->Sign(PanelClaims("alice")));
  EXPECT_THAT(Signer("another secret of at least thirty-two bytes")->Verify(token, absl::Now()),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(TokenSignerTest, TamperedPayloadDoesNotVerify) {
  auto signer = Signer();
  ASSERT_OK_AND_ASSIGN(std::string token, signer->Sign(PanelClaims("alice")));
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  ASSERT_EQ(parts.size(), 3u);
  std::string payload;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[1], &payload));
  const size_t at = payload.find("alice");
  ASSERT_NE(at, std::string::npos);
  payload.replace(at, 5, "mallo");
  std::string forged = parts[0] + "." + absl::WebSafeBase64Escape(payload) + "." + parts[2];
  EXPECT_THAT(signer->Verify(forged, absl::Now()), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(TokenSignerTest, UnsignedAlgNoneTokenIsRefused) {
  const std::string header = absl::WebSafeBase64Escape(R"({"alg":"none","typ":"JWT"})");
  const std::string payload = absl::WebSafeBase64Escape(
      R"({"iss":"egress","sub":"alice","scope":"admin","exp":4000000000})");
  for (const std::string& token : {header + "." + payload + ".", header + "." + payload}) {
    EXPECT_THAT(Signer()->Verify(token, absl::Now()), StatusIs(absl::StatusCode::kUnauthenticated))
        << token;
  }
}

TEST(TokenSignerTest, GarbageIsUnauthenticated) {
  auto signer = Signer();
  for (const std::string& token :
       {std::string(""), std::string("abc"), std::string("a.b.c"), std::string(10000, 'x'),
        std::string("eyJ\0.x.y", 8), std::string("Bearer x")}) {
    EXPECT_THAT(signer->Verify(token, absl::Now()), StatusIs(absl::StatusCode::kUnauthenticated));
  }
}

// A token with exactly these claims (JSON), signed with kSecret: what a
// third party holding the secret (the hosting panel) might mint.
std::string SignRaw(const std::string& claims_json) {
  jwt_t* jwt = nullptr;
  EXPECT_EQ(jwt_new(&jwt), 0);
  EXPECT_EQ(jwt_add_grants_json(jwt, claims_json.c_str()), 0) << claims_json;
  EXPECT_EQ(jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(kSecret),
                        static_cast<int>(sizeof(kSecret) - 1)),
            0);
  char* encoded = jwt_encode_str(jwt);
  std::string token = encoded == nullptr ? "" : encoded;
  free(encoded);
  jwt_free(jwt);
  return token;
}

TEST(TokenSignerTest, SubjectBoundScopesStandAlone) {
  auto signer = Signer();
  // Minting refuses them...
  for (std::set<Scope> scopes : {std::set<Scope>{Scope::kPanel, Scope::kAdmin},
                                 std::set<Scope>{Scope::kPanel, Scope::kAntivirus},
                                 std::set<Scope>{Scope::kNode, Scope::kAdmin}}) {
    EXPECT_THAT(signer->Sign(Claims{"alice", scopes, absl::Now() + absl::Hours(1)}),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot be combined")));
  }
  // ... and a token minted elsewhere with them does not authenticate: a
  // "panel admin" token for an account is not an admin token.
  for (const char* scope : {"panel admin", "admin panel", "panel node", "node antivirus"}) {
    const std::string token = SignRaw(absl::StrCat(
        R"({"iss":"egress","sub":"alice","exp":4000000000,"scope":")", scope, R"("})"));
    EXPECT_THAT(signer->Verify(token, absl::Now()),
                StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("cannot be combined")))
        << scope;
  }
  // Scopes that are not bound to their subject combine.
  EXPECT_THAT(signer->Sign(Claims{"ops", {Scope::kAdmin, Scope::kAntivirus}, absl::Now()}), IsOk());
}

TEST(TokenSignerTest, NoScopeVerifiesButMayCallNothing) {
  auto signer = Signer();
  Authorizer authorizer(signer.get());
  for (const char* claims : {R"({"iss":"egress","sub":"alice","exp":4000000000,"scope":""})",
                             R"({"iss":"egress","sub":"alice","exp":4000000000})"}) {
    ASSERT_OK_AND_ASSIGN(Caller caller, authorizer.AuthenticateToken(SignRaw(claims)));
    EXPECT_TRUE(caller.claims.scopes.empty());
    for (Scope scope : {Scope::kPanel, Scope::kAdmin, Scope::kAntivirus, Scope::kNode}) {
      EXPECT_THAT(Authorizer::RequireScope(caller, scope),
                  StatusIs(absl::StatusCode::kPermissionDenied));
    }
    EXPECT_THAT(Authorizer::RequireAccount(caller, "alice"),
                StatusIs(absl::StatusCode::kPermissionDenied));
  }
}

TEST(TokenSignerTest, NotBeforeIsHonoured) {
  auto signer = Signer();
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  auto with_nbf = [](const std::string& nbf) {
    return SignRaw(absl::StrCat(
        R"({"iss":"egress","sub":"alice","scope":"panel","exp":4000000000,"nbf":)", nbf, "}"));
  };
  EXPECT_THAT(signer->Verify(with_nbf(absl::StrCat(now + 3600)), absl::Now()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("not valid yet")));
  // Within the leeway for clocks a little apart, and in the past: valid.
  EXPECT_THAT(signer->Verify(with_nbf(absl::StrCat(now + 5)), absl::Now()), IsOk());
  EXPECT_THAT(signer->Verify(with_nbf(absl::StrCat(now - 60)), absl::Now()), IsOk());
  // Not a number: refused, not ignored.
  EXPECT_THAT(signer->Verify(with_nbf(R"("soon")"), absl::Now()),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("nbf")));
}

TEST(AuthorizerTest, PanelTokensReachOnlyTheirAccount) {
  auto signer = Signer();
  Authorizer authorizer(signer.get());
  ASSERT_OK_AND_ASSIGN(std::string token, signer->Sign(PanelClaims("alice")));
  ASSERT_OK_AND_ASSIGN(Caller caller, authorizer.AuthenticateToken(token));
  EXPECT_EQ(caller.ActorName(), "account:alice");
  EXPECT_THAT(Authorizer::RequireAccount(caller, "alice"), IsOk());
  EXPECT_THAT(Authorizer::RequireAccount(caller, "bob"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("bob")));
  EXPECT_THAT(Authorizer::RequireScope(caller, Scope::kAdmin),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("admin")));
}

TEST(AuthorizerTest, AdminsReachEveryAccountNodesNone) {
  Caller admin{Claims{"ops", {Scope::kAdmin}, absl::InfiniteFuture()}};
  EXPECT_EQ(admin.ActorName(), "admin:ops");
  EXPECT_THAT(Authorizer::RequireAccount(admin, "anyone"), IsOk());
  Caller node{Claims{"alice", {Scope::kNode}, absl::InfiniteFuture()}};
  EXPECT_THAT(Authorizer::RequireAccount(node, "alice"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  Caller antivirus{Claims{"scanner", {Scope::kAntivirus}, absl::InfiniteFuture()}};
  EXPECT_EQ(antivirus.ActorName(), "antivirus:scanner");
  EXPECT_THAT(Authorizer::RequireScope(antivirus, Scope::kAntivirus), IsOk());
}

}  // namespace
}  // namespace egress
