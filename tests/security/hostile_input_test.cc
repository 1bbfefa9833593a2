// The hostile input corpus (tests/security/corpus/*.txt) through the real
// API: every case sets some fields of a valid request to hostile values and
// expects a status whose message names the field; a refused case changes
// nothing in the database. Batches from an agent are covered below the
// corpus: per-record rejections, oversize batches and oversize messages.
#include <fstream>
#include <functional>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "gtest/gtest.h"
#include "service/connections_validation.h"
#include "tests/security/security_env.h"
#include "tests/support/agent_client.h"
#include "tests/support/test_tokens.h"

namespace egress::testing {
namespace {

namespace v1 = ::egress::v1;
namespace pb = ::google::protobuf;
using ::testing::HasSubstr;

// One line of the corpus.
struct Case {
  std::string where;  // file:line
  std::string rpc;
  std::string expected;  // a gRPC code name, or REJECTED / UNKNOWN_UID for records
  std::string message;   // the status message (or rejection reason) must contain it
  std::vector<std::pair<std::string, std::string>> assignments;  // path, raw value
};

std::vector<Case> LoadCorpus() {
  std::vector<Case> cases;
  for (const char* file : {"api.txt", "records.txt"}) {
    const std::string path = absl::StrCat(EGRESS_SECURITY_CORPUS_DIR, "/", file);
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << "cannot read " << path;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      if (line.empty() || line[0] == '#') continue;
      std::vector<std::string> columns = absl::StrSplit(line, absl::MaxSplits(" | ", 3));
      if (columns.size() != 4) {
        ADD_FAILURE() << path << ":" << number << ": expected 4 columns: " << line;
        continue;
      }
      Case c{absl::StrCat(file, ":", number), columns[0], columns[1], columns[2], {}};
      for (absl::string_view assignment : absl::StrSplit(columns[3], " && ")) {
        std::vector<std::string> pair = absl::StrSplit(assignment, absl::MaxSplits(" = ", 1));
        if (pair.size() != 2) {
          ADD_FAILURE() << c.where << ": expected `path = value`: " << assignment;
          continue;
        }
        c.assignments.emplace_back(pair[0], pair[1]);
      }
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

// Decodes a corpus value: \\ \n \t \r \xNN, \E (empty), \*N{text} (text N
// times), and $name (a value computed by the test, see SetUp).
std::string DecodeValue(absl::string_view raw, const std::map<std::string, std::string>& names) {
  if (raw.size() > 1 && raw[0] == '$' &&
      raw.find_first_not_of("abcdefghijklmnopqrstuvwxyz_", 1) == absl::string_view::npos) {
    raw.remove_prefix(1);
    auto it = names.find(std::string(raw));
    EXPECT_NE(it, names.end()) << "unknown $" << raw;
    return it == names.end() ? "" : it->second;
  }
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 == raw.size()) {
      out.push_back(raw[i]);
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 'E':
        break;
      case 'x': {
        int byte = 0;
        EXPECT_TRUE(i + 2 < raw.size() + 0 && absl::SimpleHexAtoi(raw.substr(i + 1, 2), &byte))
            << "bad \\x in " << raw;
        out.push_back(static_cast<char>(byte));
        i += 2;
        break;
      }
      case '*': {
        const size_t open = raw.find('{', i);
        const size_t close = raw.find('}', open);
        int times = 0;
        EXPECT_TRUE(open != absl::string_view::npos && close != absl::string_view::npos &&
                    absl::SimpleAtoi(raw.substr(i + 1, open - i - 1), &times))
            << "bad \\* in " << raw;
        const std::string text = DecodeValue(raw.substr(open + 1, close - open - 1), names);
        for (int n = 0; n < times; ++n) out += text;
        i = close;
        break;
      }
      default:
        out.push_back(e);
    }
  }
  return out;
}

// Sets `path` ("note", "date.year", "node.exempt_networks[0]",
// "threats[0].path") of `message` to `value`; "\unset" clears the field.
// An index equal to the current size appends.
void SetField(pb::Message* message, absl::string_view path, const std::string& raw_value,
              const std::string& value) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '.');
  for (size_t p = 0; p < parts.size(); ++p) {
    absl::string_view name = parts[p];
    int index = -1;
    if (absl::EndsWith(name, "]")) {
      const size_t open = name.find('[');
      ASSERT_NE(open, absl::string_view::npos) << path;
      ASSERT_TRUE(absl::SimpleAtoi(name.substr(open + 1, name.size() - open - 2), &index)) << path;
      name = name.substr(0, open);
    }
    const pb::Reflection* reflection = message->GetReflection();
    const pb::FieldDescriptor* field = message->GetDescriptor()->FindFieldByName(std::string(name));
    ASSERT_NE(field, nullptr) << "no field " << name << " in " << message->GetTypeName();
    ASSERT_TRUE(field->is_repeated() == (index >= 0) || raw_value == "\\unset") << path;
    const int size = field->is_repeated() ? reflection->FieldSize(*message, field) : 0;
    ASSERT_LE(index, size) << path;
    const bool append = field->is_repeated() && index == size;
    if (p + 1 < parts.size()) {
      ASSERT_EQ(field->cpp_type(), pb::FieldDescriptor::CPPTYPE_MESSAGE) << path;
      message = !field->is_repeated() ? reflection->MutableMessage(message, field)
                : append              ? reflection->AddMessage(message, field)
                                      : reflection->MutableRepeatedMessage(message, field, index);
      continue;
    }
    if (raw_value == "\\unset") {
      reflection->ClearField(message, field);
      return;
    }
    int64_t i64 = 0;
    uint64_t u64 = 0;
    switch (field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_STRING:
        if (append) {
          reflection->AddString(message, field, value);
        } else if (field->is_repeated()) {
          reflection->SetRepeatedString(message, field, index, value);
        } else {
          reflection->SetString(message, field, value);
        }
        return;
      case pb::FieldDescriptor::CPPTYPE_INT32:
        ASSERT_TRUE(absl::SimpleAtoi(value, &i64) && i64 >= INT32_MIN && i64 <= INT32_MAX) << path;
        reflection->SetInt32(message, field, static_cast<int32_t>(i64));
        return;
      case pb::FieldDescriptor::CPPTYPE_INT64:
        ASSERT_TRUE(absl::SimpleAtoi(value, &i64)) << path;
        reflection->SetInt64(message, field, i64);
        return;
      case pb::FieldDescriptor::CPPTYPE_UINT32:
        ASSERT_TRUE(absl::SimpleAtoi(value, &u64) && u64 <= UINT32_MAX) << path;
        if (append) {
          reflection->AddUInt32(message, field, static_cast<uint32_t>(u64));
        } else {
          reflection->SetUInt32(message, field, static_cast<uint32_t>(u64));
        }
        return;
      case pb::FieldDescriptor::CPPTYPE_UINT64:
        ASSERT_TRUE(absl::SimpleAtoi(value, &u64)) << path;
        if (append) {
          reflection->AddUInt64(message, field, u64);
        } else if (field->is_repeated()) {
          reflection->SetRepeatedUInt64(message, field, index, u64);
        } else {
          reflection->SetUInt64(message, field, u64);
        }
        return;
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        reflection->SetBool(message, field, value == "true");
        return;
      case pb::FieldDescriptor::CPPTYPE_ENUM: {
        int number = 0;
        if (const pb::EnumValueDescriptor* named = field->enum_type()->FindValueByName(value)) {
          number = named->number();
        } else {
          ASSERT_TRUE(absl::SimpleAtoi(value, &number)) << path << ": " << value;
        }
        reflection->SetEnumValue(message, field, number);
        return;
      }
      default:
        FAIL() << "unsupported field type at " << path;
    }
  }
}

// An RPC of the corpus: a valid base request, the token of its intended
// caller, and the call.
struct Target {
  std::function<std::unique_ptr<pb::Message>()> base;
  std::function<grpc::Status(const pb::Message& request, std::unique_ptr<pb::Message>* response)>
      call;
};

template <typename Request, typename Response, typename Stub>
Target Unary(Stub* stub,
             grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
             std::function<std::string()> token, std::function<Request()> base) {
  return Target{
      [base] { return std::unique_ptr<pb::Message>(new Request(base())); },
      [stub, method, token](const pb::Message& request, std::unique_ptr<pb::Message>* response) {
        grpc::ClientContext context;
        SecurityEnv::Prepare(&context, token());
        auto out = std::make_unique<Response>();
        grpc::Status status =
            (stub->*method)(&context, static_cast<const Request&>(request), out.get());
        *response = std::move(out);
        return status;
      }};
}

class HostileInputTest : public SecurityEnv {
 protected:
  void SetUp() override {
    SecurityEnv::SetUp();
    if (HasFatalFailure()) return;
    // A second rule (bob's) and page tokens issued by the real service.
    {
      v1::BlockDestinationRequest request;
      request.set_account_id(kBob);
      request.set_destination("192.0.2.200");
      v1::BlockRule rule;
      grpc::ClientContext context;
      Prepare(&context, PanelToken(kBob));
      ASSERT_TRUE(connections_->BlockDestination(&context, request, &rule).ok());
      names_["bob_rule"] = absl::StrCat(rule.rule_id());
      v1::BlockDestinationRequest second = request;
      second.set_destination("192.0.2.201");
      grpc::ClientContext second_context;
      Prepare(&second_context, PanelToken(kBob));
      ASSERT_TRUE(connections_->BlockDestination(&second_context, second, &rule).ok());
    }
    names_["seed_rule"] = absl::StrCat(seed_rule_id_);
    names_["today_year"] = absl::StrCat(today_.year());
    names_["today_month"] = absl::StrCat(today_.month());
    names_["today_day"] = absl::StrCat(today_.day());
    const absl::CivilDay later = today_ + 2;
    names_["later_year"] = absl::StrCat(later.year());
    names_["later_month"] = absl::StrCat(later.month());
    names_["later_day"] = absl::StrCat(later.day());
    names_["future_seconds"] = absl::StrCat(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
    {
      v1::ListBlockRulesRequest request;
      request.set_account_id(kBob);
      request.set_page_size(1);
      v1::ListBlockRulesResponse response;
      grpc::ClientContext context;
      Prepare(&context, PanelToken(kBob));
      ASSERT_TRUE(connections_->ListBlockRules(&context, request, &response).ok());
      ASSERT_FALSE(response.next_page_token().empty());
      names_["bob_rules_token"] = response.next_page_token();
    }
    {
      v1::ListConnectionsRequest request;
      request.set_account_id(kAlice);
      DayToProto(today_, request.mutable_date());
      request.set_page_size(1);
      v1::ListConnectionsResponse response;
      grpc::ClientContext context;
      Prepare(&context, PanelToken(kAlice));
      ASSERT_TRUE(connections_->ListConnections(&context, request, &response).ok());
      const std::string token = response.next_page_token();
      ASSERT_FALSE(token.empty());
      names_["conn_token"] = token;
      std::string decoded;
      ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &decoded));
      // Flip one bit in the kind, in the filter fingerprint and in the
      // cursor's key; truncate, pad, double, or use the other base64
      // alphabet.
      auto reencode = [](std::string text, size_t at) {
        text[at] = static_cast<char>(text[at] ^ 0x01);
        return absl::WebSafeBase64Escape(text);
      };
      names_["conn_token_kind_flipped"] = reencode(decoded, 0);
      names_["conn_token_filter_flipped"] = reencode(decoded, decoded.find('\n') + 3);
      // The cursor's IP field ("192.0.2.10" -> "092.0.2.10").
      names_["conn_token_cursor_flipped"] =
          reencode(decoded, decoded.find('/', decoded.find('/') + 1) + 1);
      names_["conn_token_truncated"] = token.substr(0, token.size() / 2);
      names_["conn_token_one_char_short"] = token.substr(0, token.size() - 1);
      names_["conn_token_extra_char"] = token + "A";
      names_["conn_token_padded"] = token + "==";
      names_["conn_token_double"] = token + token;
      names_["conn_token_std_base64"] = absl::Base64Escape(decoded) + "/+";
    }
    {
      v1::ListNodesRequest request;
      request.set_page_size(1);
      v1::ListNodesResponse response;
      grpc::ClientContext context;
      Prepare(&context, AdminToken());
      ASSERT_TRUE(accounts_->ListNodes(&context, request, &response).ok());
      ASSERT_FALSE(response.next_page_token().empty());
      names_["nodes_token"] = response.next_page_token();
    }
    BuildTargets();
  }

  void BuildTargets() {
    auto* a = accounts_.get();
    auto* c = connections_.get();
    using AS = v1::AccountsService::Stub;
    using CS = v1::ConnectionsService::Stub;
    auto admin = [] { return AdminToken(); };
    auto alice = [] { return PanelToken(kAlice); };
    const absl::CivilDay today = today_;
    targets_["UpsertNode"] = Unary<v1::UpsertNodeRequest, v1::Node>(a, &AS::UpsertNode, admin, [] {
      v1::UpsertNodeRequest r;
      r.mutable_node()->set_node_id("web-09");
      r.mutable_node()->set_server_ipv4("198.51.100.90");
      return r;
    });
    targets_["GetNode"] = Unary<v1::GetNodeRequest, v1::Node>(a, &AS::GetNode, admin, [] {
      v1::GetNodeRequest r;
      r.set_node_id(kNodeA);
      return r;
    });
    targets_["ListNodes"] = Unary<v1::ListNodesRequest, v1::ListNodesResponse>(
        a, &AS::ListNodes, admin, [] { return v1::ListNodesRequest(); });
    targets_["DeleteNode"] =
        Unary<v1::DeleteNodeRequest, v1::DeleteNodeResponse>(a, &AS::DeleteNode, admin, [] {
          v1::DeleteNodeRequest r;
          r.set_node_id("web-09");
          return r;
        });
    targets_["UpsertAccount"] =
        Unary<v1::UpsertAccountRequest, v1::Account>(a, &AS::UpsertAccount, admin, [] {
          v1::UpsertAccountRequest r;
          r.mutable_account()->set_account_id("zed");
          r.mutable_account()->set_node_id(kNodeA);
          r.mutable_account()->set_uid(1009);
          return r;
        });
    targets_["GetAccount"] =
        Unary<v1::GetAccountRequest, v1::Account>(a, &AS::GetAccount, admin, [] {
          v1::GetAccountRequest r;
          r.set_account_id(kAlice);
          return r;
        });
    targets_["ListAccounts"] = Unary<v1::ListAccountsRequest, v1::ListAccountsResponse>(
        a, &AS::ListAccounts, admin, [] { return v1::ListAccountsRequest(); });
    targets_["DeleteAccount"] = Unary<v1::DeleteAccountRequest, v1::DeleteAccountResponse>(
        a, &AS::DeleteAccount, admin, [] {
          v1::DeleteAccountRequest r;
          r.set_account_id("zed");
          return r;
        });
    targets_["LookupIp"] =
        Unary<v1::LookupIpRequest, v1::LookupIpResponse>(a, &AS::LookupIp, admin, [] {
          v1::LookupIpRequest r;
          r.set_ip("192.0.2.10");
          return r;
        });
    targets_["ListDates"] =
        Unary<v1::ListDatesRequest, v1::ListDatesResponse>(c, &CS::ListDates, alice, [] {
          v1::ListDatesRequest r;
          r.set_account_id(kAlice);
          return r;
        });
    targets_["ListConnections"] = Unary<v1::ListConnectionsRequest, v1::ListConnectionsResponse>(
        c, &CS::ListConnections, alice, [today] {
          v1::ListConnectionsRequest r;
          r.set_account_id(kAlice);
          DayToProto(today, r.mutable_date());
          return r;
        });
    targets_["DailyCounts"] =
        Unary<v1::DailyCountsRequest, v1::DailyCountsResponse>(c, &CS::DailyCounts, alice, [] {
          v1::DailyCountsRequest r;
          r.set_account_id(kAlice);
          return r;
        });
    targets_["ListBlockRules"] = Unary<v1::ListBlockRulesRequest, v1::ListBlockRulesResponse>(
        c, &CS::ListBlockRules, alice, [] {
          v1::ListBlockRulesRequest r;
          r.set_account_id(kAlice);
          return r;
        });
    targets_["BlockDestination"] =
        Unary<v1::BlockDestinationRequest, v1::BlockRule>(c, &CS::BlockDestination, alice, [] {
          v1::BlockDestinationRequest r;
          r.set_account_id(kAlice);
          r.set_destination("198.51.100.77");
          r.set_protocol(v1::PROTOCOL_TCP);
          r.set_port(443);
          r.set_note("ok");
          return r;
        });
    const uint64_t seed_rule = seed_rule_id_;
    targets_["UpdateNote"] =
        Unary<v1::UpdateNoteRequest, v1::BlockRule>(c, &CS::UpdateNote, alice, [seed_rule] {
          v1::UpdateNoteRequest r;
          r.set_account_id(kAlice);
          r.set_rule_id(seed_rule);
          r.set_note("ok");
          return r;
        });
    targets_["DeleteBlockRules"] = Unary<v1::DeleteBlockRulesRequest, v1::DeleteBlockRulesResponse>(
        c, &CS::DeleteBlockRules, alice, [seed_rule] {
          v1::DeleteBlockRulesRequest r;
          r.set_account_id(kAlice);
          r.add_rule_ids(seed_rule);
          return r;
        });
    targets_["SetBlockAll"] =
        Unary<v1::SetBlockAllRequest, v1::AccountStatus>(c, &CS::SetBlockAll, alice, [] {
          v1::SetBlockAllRequest r;
          r.set_account_id(kAlice);
          return r;
        });
    targets_["GetAccountStatus"] =
        Unary<v1::GetAccountStatusRequest, v1::AccountStatus>(c, &CS::GetAccountStatus, alice, [] {
          v1::GetAccountStatusRequest r;
          r.set_account_id(kAlice);
          return r;
        });
    targets_["ListAuditEvents"] = Unary<v1::ListAuditEventsRequest, v1::ListAuditEventsResponse>(
        c, &CS::ListAuditEvents, alice, [] {
          v1::ListAuditEventsRequest r;
          r.set_account_id(kAlice);
          return r;
        });
    targets_["ReportScan"] = Unary<v1::ReportScanRequest, v1::ReportScanResponse>(
        antivirus_.get(), &v1::AntivirusService::Stub::ReportScan, [] { return AntivirusToken(); },
        [] {
          v1::ReportScanRequest r;
          r.set_account_id(kAlice);
          r.set_scan_id("scan-1");
          r.mutable_finish_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 60);
          return r;
        });
  }

  // Sends one record through an open stream; checks the Ack against `c`.
  void RunRecordCase(AgentClient* agent, const Case& c) {
    v1::ConnectionRecord record = Record(kAliceUid, 50);
    for (const auto& [path, raw] : c.assignments) {
      SetField(&record, path, raw, DecodeValue(raw, names_));
    }
    const std::string before = Dump({"ingest_sequences"});
    ASSERT_TRUE(agent->Send(Batch({record})));
    std::optional<v1::ServiceMessage> ack = agent->NextOfKind(v1::ServiceMessage::kAck);
    ASSERT_TRUE(ack.has_value()) << "no ack";
    if (c.expected == "REJECTED") {
      EXPECT_EQ(ack->ack().accepted_records(), 0u);
      ASSERT_EQ(ack->ack().rejections_size(), 1);
      EXPECT_EQ(ack->ack().rejections(0).index(), 0u);
      EXPECT_THAT(ack->ack().rejections(0).reason(), HasSubstr(c.message));
      EXPECT_EQ(Dump({"ingest_sequences"}), before) << "a refused record changed the database";
    } else if (c.expected == "UNKNOWN_UID") {
      EXPECT_EQ(ack->ack().accepted_records(), 0u);
      EXPECT_EQ(ack->ack().unknown_uid_records(), 1u);
      EXPECT_EQ(Dump({"ingest_sequences"}), before) << "a refused record changed the database";
    } else {
      ASSERT_EQ(c.expected, "OK");
      EXPECT_EQ(ack->ack().rejections_size(), 0) << ack->ack().rejections(0).reason();
      EXPECT_EQ(ack->ack().accepted_records(), 1u);
    }
  }

  void RunApiCase(const Case& c) {
    auto target = targets_.find(c.rpc);
    ASSERT_NE(target, targets_.end()) << "unknown rpc " << c.rpc;
    std::unique_ptr<pb::Message> request = target->second.base();
    std::map<std::string, std::string> values;
    for (const auto& [path, raw] : c.assignments) {
      values[path] = DecodeValue(raw, names_);
      SetField(request.get(), path, raw, values[path]);
      if (HasFatalFailure()) return;
    }
    grpc::StatusCode expected;
    ASSERT_TRUE(CodeFromName(c.expected, &expected)) << "unknown code " << c.expected;
    const std::string before = Dump();
    std::unique_ptr<pb::Message> response;
    const grpc::Status status = target->second.call(*request, &response);
    EXPECT_EQ(status.error_code(), expected) << status.error_message();
    if (!status.ok()) {
      if (c.message != "-") {
        EXPECT_THAT(status.error_message(), HasSubstr(DecodeValue(c.message, names_)));
      }
      EXPECT_EQ(Dump(), before) << "a refused call changed the database";
      return;
    }
    // Accepted text comes back exactly as sent.
    for (const auto& [path, value] : values) {
      if (path != "note") continue;
      const pb::FieldDescriptor* note = response->GetDescriptor()->FindFieldByName("note");
      ASSERT_NE(note, nullptr);
      EXPECT_EQ(response->GetReflection()->GetString(*response, note), value);
      EXPECT_EQ(StoredNote(response->GetReflection()->GetUInt64(
                    *response, response->GetDescriptor()->FindFieldByName("rule_id"))),
                value);
    }
  }

  // The note of alice's rule `id` as ListBlockRules returns it.
  std::string StoredNote(uint64_t id) {
    v1::ListBlockRulesRequest request;
    request.set_account_id(kAlice);
    request.set_page_size(1000);
    v1::ListBlockRulesResponse response;
    grpc::ClientContext context;
    Prepare(&context, PanelToken(kAlice));
    EXPECT_TRUE(connections_->ListBlockRules(&context, request, &response).ok());
    for (const v1::BlockRule& rule : response.rules()) {
      if (rule.rule_id() == id) return rule.note();
    }
    return "<no rule " + absl::StrCat(id) + ">";
  }

  static bool CodeFromName(const std::string& name, grpc::StatusCode* code) {
    static const std::map<std::string, grpc::StatusCode> kCodes = {
        {"OK", grpc::OK},
        {"INVALID_ARGUMENT", grpc::INVALID_ARGUMENT},
        {"NOT_FOUND", grpc::NOT_FOUND},
        {"ALREADY_EXISTS", grpc::ALREADY_EXISTS},
        {"PERMISSION_DENIED", grpc::PERMISSION_DENIED},
        {"FAILED_PRECONDITION", grpc::FAILED_PRECONDITION},
        {"INTERNAL", grpc::INTERNAL},
        {"RESOURCE_EXHAUSTED", grpc::RESOURCE_EXHAUSTED},
        {"UNAUTHENTICATED", grpc::UNAUTHENTICATED},
    };
    auto it = kCodes.find(name);
    if (it == kCodes.end()) return false;
    *code = it->second;
    return true;
  }

  std::map<std::string, std::string> names_;
  std::map<std::string, Target> targets_;
};

TEST_F(HostileInputTest, EveryCorpusCaseGetsItsStatusAndRefusalsChangeNothing) {
  const std::vector<Case> cases = LoadCorpus();
  ASSERT_GE(cases.size(), 200u);
  AgentClient agent(channel_, NodeToken(kNodeA));
  ASSERT_TRUE(agent.SendHello(kNodeA));
  ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value());
  int api = 0, records = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.where, ": ", c.rpc, " ", c.expected));
    if (c.rpc == "Record") {
      RunRecordCase(&agent, c);
      ++records;
    } else {
      RunApiCase(c);
      ++api;
    }
  }
  agent.CloseSend();
  EXPECT_TRUE(agent.Finish().ok());
  std::cerr << "corpus: " << api << " API cases, " << records << " agent record cases\n";
}

// Batch headers and sizes: the whole batch is refused and the stream closed.
TEST_F(HostileInputTest, OversizeAndMalformedBatchesAreRefusedWhole) {
  struct BatchCase {
    std::string name;
    std::function<v1::AgentMessage()> make;
    grpc::StatusCode code;
    std::string message;
  };
  const v1::ConnectionRecord good = Record(kAliceUid, 60);
  const std::vector<BatchCase> cases = {
      {"seq 0",
       [&] {
         v1::AgentMessage m = Batch({good});
         m.mutable_batch()->set_seq(0);
         return m;
       },
       grpc::INVALID_ARGUMENT, "batch.seq"},
      {"one record over the limit (100,001 minimal records, under 4 MiB)",
       [&] {
         v1::AgentMessage m = Batch({});
         for (int i = 0; i < 100001; ++i) m.mutable_batch()->add_records()->set_uid(kAliceUid);
         return m;
       },
       grpc::INVALID_ARGUMENT, "batch.records"},
      {"a message over the 4 MiB receive limit",
       [&] {
         v1::AgentMessage m = Batch({good});
         m.mutable_batch()->mutable_records(0)->set_dst_ip(std::string(5 << 20, 'x'));
         return m;
       },
       grpc::RESOURCE_EXHAUSTED, ""},
      {"a second Hello",
       [&] {
         v1::AgentMessage m;
         m.mutable_hello()->set_node_id(kNodeA);
         return m;
       },
       grpc::INVALID_ARGUMENT, "Hello"},
      {"an empty message", [] { return v1::AgentMessage(); }, grpc::INVALID_ARGUMENT, "empty"},
      // Every uint64 a peer sends must fit the bigint it is stored in.
      {"seq 2^64 - 1",
       [&] {
         v1::AgentMessage m = Batch({good});
         m.mutable_batch()->set_seq(~uint64_t{0});
         return m;
       },
       grpc::INVALID_ARGUMENT, "batch.seq: 18446744073709551615 is out of range"},
      {"loss events 2^64 - 1",
       [&] {
         v1::AgentMessage m = Batch({good});
         v1::LossReport* loss = m.mutable_batch()->add_losses();
         *loss->mutable_day() = good.day();
         loss->set_reason(v1::LossReport::REASON_NETLINK_OVERRUN);
         loss->set_events(~uint64_t{0});
         return m;
       },
       grpc::INVALID_ARGUMENT, "batch.losses[0].events"},
      {"rules_applied.version 2^64 - 1",
       [] {
         v1::AgentMessage m;
         m.mutable_rules_applied()->set_version(~uint64_t{0});
         return m;
       },
       grpc::INVALID_ARGUMENT, "rules_applied.version"},
      {"stats 2^63",
       [] {
         v1::AgentMessage m;
         m.mutable_stats()->set_spool_bytes(uint64_t{1} << 63);
         return m;
       },
       grpc::INVALID_ARGUMENT, "stats.spool_bytes"},
      // Does not parse (proto3 strings must be UTF-8): answered like a unary
      // call's unparsable request, not taken for the agent's half-close.
      {"a message that does not parse",
       [] {
         v1::AgentMessage m;
         m.mutable_rules_applied()->set_version(1);
         m.mutable_rules_applied()->set_error("\xff\xfe not UTF-8");
         return m;
       },
       grpc::INVALID_ARGUMENT, "could not be parsed"},
      {"rules_applied.error over 4096 bytes",
       [] {
         v1::AgentMessage m;
         m.mutable_rules_applied()->set_version(1);
         m.mutable_rules_applied()->set_error(std::string(4097, 'e'));
         return m;
       },
       grpc::INVALID_ARGUMENT, "rules_applied.error"},
  };
  for (const BatchCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string before = Dump();
    AgentClient agent(channel_, NodeToken(kNodeA));
    ASSERT_TRUE(agent.SendHello(kNodeA));
    ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value());
    agent.Send(c.make());
    const grpc::Status status = agent.Finish();
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message));
    EXPECT_EQ(Dump(), before) << "a refused batch changed the database";
  }
}

// An agent's error text is stored whatever bytes it holds: control bytes
// (NUL would cut the text short in PostgreSQL) come back escaped.
TEST_F(HostileInputTest, ControlBytesInAnAgentsErrorAreStoredEscaped) {
  AgentClient agent(channel_, NodeToken(kNodeA));
  ASSERT_TRUE(agent.SendHello(kNodeA));
  ASSERT_TRUE(agent.NextOfKind(v1::ServiceMessage::kWelcome).has_value());
  v1::AgentMessage applied;
  applied.mutable_rules_applied()->set_version(1);
  applied.mutable_rules_applied()->set_error(std::string("nft: bad\0element\x01 \xc3\xa9", 20));
  ASSERT_TRUE(agent.Send(applied));
  v1::AgentMessage stats;
  stats.mutable_stats();
  ASSERT_TRUE(agent.Send(stats));
  const grpc::Status status = agent.Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  pqxx::connection connection(conninfo_);
  pqxx::nontransaction query(connection);
  EXPECT_EQ(query.exec_params1("SELECT apply_error FROM nodes WHERE node_id = $1", kNodeA)[0]
                .as<std::string>(),
            "nft: bad\\x00element\\x01 \xc3\xa9");
}

// Hello's node id is checked before anything is looked up.
TEST_F(HostileInputTest, HostileNodeIdsInHelloAreRefused) {
  for (const std::string& id :
       {std::string(""), std::string("web-01' OR '1'='1"), std::string("../../etc/passwd"),
        std::string("WEB-01"), std::string(64, 'a'), std::string("web-01\0x", 8),
        std::string("web-01\n"), std::string("\xc3\xa9"), std::string("\xff\xfe")}) {
    SCOPED_TRACE(absl::CEscape(id));
    const std::string before = Dump();
    AgentClient agent(channel_, NodeToken(kNodeA));
    agent.SendHello(id);
    const grpc::Status status = agent.Finish();
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT) << status.error_message();
    // Not UTF-8: the message does not even parse.
    EXPECT_THAT(status.error_message(),
                ::testing::AnyOf(HasSubstr("hello.node_id"), HasSubstr("could not be parsed")));
    EXPECT_EQ(Dump(), before);
  }
}

}  // namespace
}  // namespace egress::testing
