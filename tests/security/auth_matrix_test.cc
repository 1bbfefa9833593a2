// Every RPC of the five services × every kind of caller, against the real
// service on real PostgreSQL: the expected status each time, and for every
// refused call, not one row changed anywhere in the database.
#include <functional>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/security/security_env.h"
#include "tests/support/agent_client.h"
#include "tests/support/test_tokens.h"

namespace egress::testing {
namespace {

namespace v1 = ::egress::v1;
using ::testing::HasSubstr;

// Who an RPC is meant for.
enum class Audience { kAdmin, kPanel, kAntivirus, kNode };

struct Rpc {
  std::string name;
  Audience audience;
  // Changes the database when allowed.
  bool mutates;
  // Makes the call with `token` ("" = no credentials).
  std::function<grpc::Status(const std::string& token)> call;
  // Run before the call, outside the snapshot (e.g. creates what it deletes).
  std::function<void()> prepare;
  // Status of the allowed caller when it is not OK.
  grpc::StatusCode allowed_code = grpc::OK;
};

Rpc MakeRpc(std::string name, Audience audience, bool mutates,
            std::function<grpc::Status(const std::string&)> call,
            std::function<void()> prepare = nullptr, grpc::StatusCode allowed_code = grpc::OK) {
  return Rpc{std::move(name), audience, mutates, std::move(call), std::move(prepare), allowed_code};
}

struct CallerKind {
  std::string name;
  std::function<std::string(Audience)> token;
  // Expected status for an RPC meant for `audience`.
  std::function<grpc::StatusCode(Audience)> expect;
};

// A token for `subject` and `scopes` signed with another secret.
std::string ForeignToken(const std::string& subject, std::set<Scope> scopes) {
  static const TokenSigner* const other =
      TokenSigner::Create("a-different-secret-0123456789-abcdefgh")->release();
  return *other->Sign(Claims{subject, std::move(scopes), absl::Now() + absl::Hours(1)});
}

// `token` with its claims replaced by those of `donor` (signature kept).
std::string SwapClaims(const std::string& token, const std::string& donor) {
  std::vector<std::string> a = absl::StrSplit(token, '.');
  std::vector<std::string> b = absl::StrSplit(donor, '.');
  return absl::StrCat(a[0], ".", b[1], ".", a[2]);
}

// An unsigned token ("alg": "none") with `subject` and `scope`.
std::string UnsignedToken(const std::string& subject, const std::string& scope) {
  const std::string header = absl::WebSafeBase64Escape(R"({"alg":"none","typ":"JWT"})");
  const std::string claims = absl::WebSafeBase64Escape(
      absl::StrCat(R"({"iss":"egress","sub":")", subject, R"(","scope":")", scope, R"(","exp":)",
                   absl::ToUnixSeconds(absl::Now()) + 3600, "}"));
  return absl::StrCat(header, ".", claims, ".");
}

// Subject and scope of an RPC's intended caller.
std::pair<std::string, Scope> RightClaims(Audience audience) {
  switch (audience) {
    case Audience::kAdmin:
      return {"ops", Scope::kAdmin};
    case Audience::kPanel:
      return {kAlice, Scope::kPanel};
    case Audience::kAntivirus:
      return {"scanner", Scope::kAntivirus};
    case Audience::kNode:
      return {kNodeA, Scope::kNode};
  }
  return {};
}

// The token an RPC's intended caller would carry.
std::string RightToken(Audience audience, absl::Duration ttl = absl::Hours(1)) {
  auto [subject, scope] = RightClaims(audience);
  return MintToken(subject, {scope}, ttl);
}

grpc::StatusCode Unauthenticated(Audience) { return grpc::UNAUTHENTICATED; }

std::vector<CallerKind> Callers() {
  auto only = [](std::set<Audience> allowed) {
    return [allowed](Audience audience) {
      return allowed.count(audience) > 0 ? grpc::OK : grpc::PERMISSION_DENIED;
    };
  };
  return {
      {"no token", [](Audience) { return std::string(); }, Unauthenticated},
      {"not a token", [](Audience) { return std::string("not-a-token"); }, Unauthenticated},
      {"expired", [](Audience a) { return RightToken(a, -absl::Seconds(5)); }, Unauthenticated},
      {"signed with another secret",
       [](Audience a) {
         auto [subject, scope] = RightClaims(a);
         return ForeignToken(subject, {scope});
       },
       Unauthenticated},
      {"claims swapped under a valid signature",
       [](Audience a) { return SwapClaims(PanelToken(kBob), RightToken(a)); }, Unauthenticated},
      {"alg none",
       [](Audience a) {
         auto [subject, scope] = RightClaims(a);
         return UnsignedToken(subject, std::string(ScopeName(scope)));
       },
       Unauthenticated},
      {"panel token of another account", [](Audience) { return PanelToken(kBob); }, only({})},
      {"panel token of the account", [](Audience) { return PanelToken(kAlice); },
       only({Audience::kPanel})},
      {"antivirus token", [](Audience) { return AntivirusToken(); }, only({Audience::kAntivirus})},
      {"node token of the account's node", [](Audience) { return NodeToken(kNodeA); },
       only({Audience::kNode})},
      {"node token of another node", [](Audience) { return NodeToken(kNodeB); }, only({})},
      {"admin token", [](Audience) { return AdminToken(); },
       only({Audience::kAdmin, Audience::kPanel})},
  };
}

class AuthMatrixTest : public SecurityEnv {
 protected:
  template <typename Request, typename Response, typename Stub>
  static grpc::Status Unary(Stub* stub,
                            grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                         Response*),
                            const Request& request, const std::string& token) {
    grpc::ClientContext context;
    Prepare(&context, token);
    Response response;
    return (stub->*method)(&context, request, &response);
  }

  // Creates (or finds) a rule of alice's with `destination` through the API.
  uint64_t EnsureRule(const std::string& destination) {
    v1::ListBlockRulesRequest list;
    list.set_account_id(kAlice);
    list.set_page_size(1000);
    v1::ListBlockRulesResponse rules;
    grpc::ClientContext list_context;
    Prepare(&list_context, AdminToken());
    EXPECT_TRUE(connections_->ListBlockRules(&list_context, list, &rules).ok());
    for (const v1::BlockRule& rule : rules.rules()) {
      if (rule.network() == destination + "/32") return rule.rule_id();
    }
    v1::BlockDestinationRequest request;
    request.set_account_id(kAlice);
    request.set_destination(destination);
    v1::BlockRule rule;
    grpc::ClientContext context;
    Prepare(&context, AdminToken());
    EXPECT_TRUE(connections_->BlockDestination(&context, request, &rule).ok());
    return rule.rule_id();
  }

  void UpsertSpare(const std::string& node, const std::string& account) {
    if (!node.empty()) {
      v1::UpsertNodeRequest request;
      request.mutable_node()->set_node_id(node);
      EXPECT_TRUE(
          Unary(accounts_.get(), &v1::AccountsService::Stub::UpsertNode, request, AdminToken())
              .ok());
    }
    if (!account.empty()) {
      v1::UpsertAccountRequest request;
      request.mutable_account()->set_account_id(account);
      request.mutable_account()->set_node_id(kNodeA);
      request.mutable_account()->set_uid(1005);
      EXPECT_TRUE(
          Unary(accounts_.get(), &v1::AccountsService::Stub::UpsertAccount, request, AdminToken())
              .ok());
    }
  }

  // The collector stream: Hello as web-01, then (if the Welcome came) a batch
  // for alice; the final status of the stream.
  grpc::Status Collect(const std::string& token) {
    AgentClient agent(channel_, token);
    agent.SendHello(kNodeA);
    std::optional<v1::ServiceMessage> first = agent.Next(absl::Seconds(10));
    if (first.has_value()) {
      EXPECT_TRUE(first->has_welcome());
      // web-01 learns its own accounts only.
      std::set<std::string> ids;
      for (const auto& account : first->welcome().rule_set().accounts()) {
        ids.insert(account.account_id());
      }
      EXPECT_TRUE(ids.count(kAlice) == 1 && ids.count(kBob) == 1 && ids.count(kCarol) == 0)
          << "web-01 must see its own accounts only";
    } else {
      // Refused: try to slip a batch in anyway.
      agent.Send(Batch({Record(kAliceUid, 99)}));
    }
    agent.CloseSend();
    return agent.Finish();
  }

  std::vector<Rpc> Rpcs() {
    auto* a = accounts_.get();
    auto* c = connections_.get();
    using AS = v1::AccountsService::Stub;
    using CS = v1::ConnectionsService::Stub;
    std::vector<Rpc> rpcs;
    // AccountsService (admin).
    rpcs.push_back(MakeRpc("UpsertNode", Audience::kAdmin, true, [a](const std::string& t) {
      v1::UpsertNodeRequest r;
      r.mutable_node()->set_node_id("web-03");
      r.mutable_node()->set_server_ipv4("198.51.100.30");
      return Unary(a, &AS::UpsertNode, r, t);
    }));
    rpcs.push_back(MakeRpc("GetNode", Audience::kAdmin, false, [a](const std::string& t) {
      v1::GetNodeRequest r;
      r.set_node_id(kNodeA);
      return Unary(a, &AS::GetNode, r, t);
    }));
    rpcs.push_back(MakeRpc("ListNodes", Audience::kAdmin, false, [a](const std::string& t) {
      return Unary(a, &AS::ListNodes, v1::ListNodesRequest(), t);
    }));
    rpcs.push_back(MakeRpc(
        "DeleteNode", Audience::kAdmin, true,
        [a](const std::string& t) {
          v1::DeleteNodeRequest r;
          r.set_node_id("spare-node");
          return Unary(a, &AS::DeleteNode, r, t);
        },
        [this] { UpsertSpare("spare-node", ""); }));
    rpcs.push_back(MakeRpc("UpsertAccount", Audience::kAdmin, true, [a](const std::string& t) {
      v1::UpsertAccountRequest r;
      r.mutable_account()->set_account_id("dave");
      r.mutable_account()->set_node_id(kNodeA);
      r.mutable_account()->set_uid(1004);
      return Unary(a, &AS::UpsertAccount, r, t);
    }));
    rpcs.push_back(MakeRpc("GetAccount", Audience::kAdmin, false, [a](const std::string& t) {
      v1::GetAccountRequest r;
      r.set_account_id(kAlice);
      return Unary(a, &AS::GetAccount, r, t);
    }));
    rpcs.push_back(MakeRpc("ListAccounts", Audience::kAdmin, false, [a](const std::string& t) {
      v1::ListAccountsRequest r;
      r.set_node_id(kNodeA);
      return Unary(a, &AS::ListAccounts, r, t);
    }));
    rpcs.push_back(MakeRpc(
        "DeleteAccount", Audience::kAdmin, true,
        [a](const std::string& t) {
          v1::DeleteAccountRequest r;
          r.set_account_id("erin");
          return Unary(a, &AS::DeleteAccount, r, t);
        },
        [this] { UpsertSpare("", "erin"); }));
    // Without enrichment on this server, an allowed LookupIp is
    // FAILED_PRECONDITION: past authorization either way.
    rpcs.push_back(MakeRpc(
        "LookupIp", Audience::kAdmin, false,
        [a](const std::string& t) {
          v1::LookupIpRequest r;
          r.set_ip("192.0.2.10");
          return Unary(a, &AS::LookupIp, r, t);
        },
        nullptr, grpc::FAILED_PRECONDITION));
    // ConnectionsService (panel, always on alice's data).
    rpcs.push_back(MakeRpc("ListDates", Audience::kPanel, false, [c](const std::string& t) {
      v1::ListDatesRequest r;
      r.set_account_id(kAlice);
      return Unary(c, &CS::ListDates, r, t);
    }));
    rpcs.push_back(
        MakeRpc("ListConnections", Audience::kPanel, false, [this, c](const std::string& t) {
          v1::ListConnectionsRequest r;
          r.set_account_id(kAlice);
          r.mutable_date()->set_year(static_cast<int32_t>(today_.year()));
          r.mutable_date()->set_month(today_.month());
          r.mutable_date()->set_day(today_.day());
          return Unary(c, &CS::ListConnections, r, t);
        }));
    rpcs.push_back(
        MakeRpc("ExportConnections", Audience::kPanel, false, [this, c](const std::string& t) {
          v1::ExportConnectionsRequest r;
          r.set_account_id(kAlice);
          r.mutable_date()->set_year(static_cast<int32_t>(today_.year()));
          r.mutable_date()->set_month(today_.month());
          r.mutable_date()->set_day(today_.day());
          // Server streaming: the status comes after every chunk was read.
          grpc::ClientContext context;
          Prepare(&context, t);
          std::unique_ptr<grpc::ClientReader<v1::ExportConnectionsChunk>> reader =
              c->ExportConnections(&context, r);
          v1::ExportConnectionsChunk chunk;
          while (reader->Read(&chunk)) {
          }
          return reader->Finish();
        }));
    rpcs.push_back(MakeRpc("DailyCounts", Audience::kPanel, false, [c](const std::string& t) {
      v1::DailyCountsRequest r;
      r.set_account_id(kAlice);
      return Unary(c, &CS::DailyCounts, r, t);
    }));
    rpcs.push_back(MakeRpc("ListBlockRules", Audience::kPanel, false, [c](const std::string& t) {
      v1::ListBlockRulesRequest r;
      r.set_account_id(kAlice);
      return Unary(c, &CS::ListBlockRules, r, t);
    }));
    rpcs.push_back(
        MakeRpc("BlockDestination", Audience::kPanel, true, [this, c](const std::string& t) {
          v1::BlockDestinationRequest r;
          r.set_account_id(kAlice);
          r.set_destination(absl::StrCat("198.18.0.", ++counter_));
          r.set_note("from the matrix");
          return Unary(c, &CS::BlockDestination, r, t);
        }));
    rpcs.push_back(MakeRpc("UpdateNote", Audience::kPanel, true, [this, c](const std::string& t) {
      v1::UpdateNoteRequest r;
      r.set_account_id(kAlice);
      r.set_rule_id(seed_rule_id_);
      r.set_note(absl::StrCat("note ", ++counter_));
      return Unary(c, &CS::UpdateNote, r, t);
    }));
    rpcs.push_back(MakeRpc(
        "DeleteBlockRules", Audience::kPanel, true,
        [this, c](const std::string& t) {
          v1::DeleteBlockRulesRequest r;
          r.set_account_id(kAlice);
          r.add_rule_ids(doomed_rule_id_);
          return Unary(c, &CS::DeleteBlockRules, r, t);
        },
        [this] { doomed_rule_id_ = EnsureRule("198.19.0.1"); }));
    rpcs.push_back(MakeRpc("SetBlockAll", Audience::kPanel, true, [c](const std::string& t) {
      v1::SetBlockAllRequest r;
      r.set_account_id(kAlice);
      r.set_enabled(true);
      return Unary(c, &CS::SetBlockAll, r, t);
    }));
    rpcs.push_back(MakeRpc("GetAccountStatus", Audience::kPanel, false, [c](const std::string& t) {
      v1::GetAccountStatusRequest r;
      r.set_account_id(kAlice);
      return Unary(c, &CS::GetAccountStatus, r, t);
    }));
    rpcs.push_back(MakeRpc("ListAuditEvents", Audience::kPanel, false, [c](const std::string& t) {
      v1::ListAuditEventsRequest r;
      r.set_account_id(kAlice);
      return Unary(c, &CS::ListAuditEvents, r, t);
    }));
    // AntivirusService.
    rpcs.push_back(MakeRpc("ReportScan", Audience::kAntivirus, true, [this](const std::string& t) {
      v1::ReportScanRequest r;
      r.set_account_id(kAlice);
      r.set_scan_id(absl::StrCat("scan-", ++counter_));
      r.mutable_finish_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 60);
      return Unary(antivirus_.get(), &v1::AntivirusService::Stub::ReportScan, r, t);
    }));
    // AbuseService.
    rpcs.push_back(
        MakeRpc("FindConnections", Audience::kAdmin, false, [this](const std::string& t) {
          v1::FindConnectionsRequest r;
          r.set_destination("203.0.113.0/24");
          return Unary(abuse_.get(), &v1::AbuseService::Stub::FindConnections, r, t);
        }));
    using AbS = v1::AbuseService::Stub;
    rpcs.push_back(MakeRpc("GetAbusePolicy", Audience::kAdmin, false, [this](const std::string& t) {
      v1::GetAbusePolicyRequest r;
      r.set_scope(v1::ABUSE_POLICY_SCOPE_ACCOUNT);
      r.set_account_id(kAlice);
      return Unary(abuse_.get(), &AbS::GetAbusePolicy, r, t);
    }));
    rpcs.push_back(MakeRpc("SetAbusePolicy", Audience::kAdmin, true, [this](const std::string& t) {
      v1::SetAbusePolicyRequest r;
      r.set_scope(v1::ABUSE_POLICY_SCOPE_ACCOUNT);
      r.set_account_id(kAlice);
      r.mutable_policy()->set_smtp_max_connections(1000 + ++counter_);
      return Unary(abuse_.get(), &AbS::SetAbusePolicy, r, t);
    }));
    rpcs.push_back(MakeRpc("SetAbuseLock", Audience::kAdmin, true, [this](const std::string& t) {
      v1::SetAbuseLockRequest r;
      r.set_account_id(kAlice);
      r.add_ports(static_cast<uint32_t>(1000 + ++counter_));
      r.set_reason("from the matrix");
      return Unary(abuse_.get(), &AbS::SetAbuseLock, r, t);
    }));
    // The account's own panel token reaches the lock policy, which refuses it
    // (PERMISSION_DENIED, what to do): the matrix's expectation either way.
    rpcs.push_back(MakeRpc(
        "LiftAbuseLock", Audience::kAdmin, true,
        [this](const std::string& t) {
          v1::LiftAbuseLockRequest r;
          r.set_account_id(kAlice);
          r.set_note("lifted by the matrix");
          return Unary(abuse_.get(), &AbS::LiftAbuseLock, r, t);
        },
        [this] { EnsureAbuseLock(); }));
    rpcs.push_back(
        MakeRpc("ListAbuseIncidents", Audience::kAdmin, false, [this](const std::string& t) {
          v1::ListAbuseIncidentsRequest r;
          r.set_account_id(kAlice);
          return Unary(abuse_.get(), &AbS::ListAbuseIncidents, r, t);
        }));
    // CollectorService.
    rpcs.push_back(MakeRpc("Connect", Audience::kNode, false,
                           [this](const std::string& t) { return Collect(t); }));
    return rpcs;
  }

  // An abuse lock on alice (one port), so that lifting it succeeds.
  void EnsureAbuseLock() {
    v1::SetAbuseLockRequest r;
    r.set_account_id(kAlice);
    r.add_ports(25);
    r.set_reason("prepared by the matrix");
    const grpc::Status status =
        Unary(abuse_.get(), &v1::AbuseService::Stub::SetAbuseLock, r, AdminToken());
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  int counter_ = 0;
  uint64_t doomed_rule_id_ = 0;
};

TEST_F(AuthMatrixTest, EveryRpcTimesEveryCallerHasTheExpectedStatusAndRefusalsChangeNothing) {
  const std::vector<Rpc> rpcs = Rpcs();
  const std::vector<CallerKind> callers = Callers();
  // Every method of every service is in the matrix.
  size_t methods = 0;
  for (const char* name :
       {"egress.v1.AccountsService", "egress.v1.ConnectionsService", "egress.v1.AntivirusService",
        "egress.v1.AbuseService", "egress.v1.CollectorService"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    methods += static_cast<size_t>(service->method_count());
  }
  ASSERT_EQ(rpcs.size(), methods);

  int cells = 0, refused = 0;
  for (const Rpc& rpc : rpcs) {
    for (const CallerKind& caller : callers) {
      SCOPED_TRACE(absl::StrCat(rpc.name, " × ", caller.name));
      if (rpc.prepare) rpc.prepare();
      grpc::StatusCode expected = caller.expect(rpc.audience);
      if (expected == grpc::OK) expected = rpc.allowed_code;
      const std::string token = caller.token(rpc.audience);
      const std::string before = Dump();
      const grpc::Status status = rpc.call(token);
      ++cells;
      EXPECT_EQ(status.error_code(), expected) << status.error_message();
      if (expected == grpc::UNAUTHENTICATED) {
        EXPECT_THAT(status.error_message(),
                    ::testing::AnyOf(HasSubstr("token"), HasSubstr("credentials")));
      }
      if (status.error_code() != grpc::OK) {
        ++refused;
        EXPECT_EQ(Dump(), before) << "a refused call changed the database";
      } else if (!rpc.mutates) {
        EXPECT_EQ(Dump(), before) << "a read changed the database";
      }
    }
  }
  EXPECT_EQ(cells, static_cast<int>(rpcs.size() * callers.size()));
  // Each RPC has 1-2 allowed callers out of 12.
  EXPECT_GE(refused, cells - 2 * static_cast<int>(rpcs.size()));
}

}  // namespace
}  // namespace egress::testing
