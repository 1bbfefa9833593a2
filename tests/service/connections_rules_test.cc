// Block rules, notes, the manual lock, account status and the audit log
// over real gRPC against a real PostgreSQL.
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/storage/rule_changes.h"
#include "tests/service/connections_test_env.h"
#include "tests/support/notification_listener.h"

namespace egress {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace v1 = ::egress::v1;
using Stub = v1::ConnectionsService::Stub;
using AvStub = v1::AntivirusService::Stub;

class ConnectionsRulesTest : public testing::PanelTest {
 protected:
  grpc::Status Block(const std::string& destination, v1::Protocol protocol, uint32_t port,
                     const std::string& note, v1::BlockRule* out = nullptr,
                     const std::string& account = "alice", const std::string& token = "") {
    v1::BlockDestinationRequest request;
    request.set_account_id(account);
    request.set_destination(destination);
    request.set_protocol(protocol);
    request.set_port(port);
    request.set_note(note);
    v1::BlockRule rule;
    grpc::Status status = Call(connections_.get(), &Stub::BlockDestination,
                               token.empty() ? alice_ : token, request, &rule);
    if (out != nullptr) *out = rule;
    return status;
  }

  v1::AccountStatus Status(const std::string& account = "alice") {
    v1::GetAccountStatusRequest request;
    request.set_account_id(account);
    v1::AccountStatus status;
    grpc::Status rpc = Call(connections_.get(), &Stub::GetAccountStatus, admin_, request, &status);
    EXPECT_TRUE(rpc.ok()) << rpc.error_message();
    return status;
  }

  grpc::Status BlockAll(bool enabled, v1::AccountStatus* out = nullptr,
                        const std::string& token = "") {
    v1::SetBlockAllRequest request;
    request.set_account_id("alice");
    request.set_enabled(enabled);
    v1::AccountStatus status;
    grpc::Status rpc = Call(connections_.get(), &Stub::SetBlockAll, token.empty() ? alice_ : token,
                            request, &status);
    if (out != nullptr) *out = status;
    return rpc;
  }

  std::vector<v1::AuditEvent> Audit(const std::string& account = "alice") {
    std::vector<v1::AuditEvent> events;
    v1::ListAuditEventsRequest request;
    request.set_account_id(account);
    request.set_page_size(2);
    while (true) {
      v1::ListAuditEventsResponse response;
      grpc::Status rpc =
          Call(connections_.get(), &Stub::ListAuditEvents, admin_, request, &response);
      EXPECT_TRUE(rpc.ok()) << rpc.error_message();
      events.insert(events.end(), response.events().begin(), response.events().end());
      if (!rpc.ok() || response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return events;
  }
};

TEST_F(ConnectionsRulesTest, BlockDestinationStoresTheRuleAndBumpsTheVersion) {
  const v1::AccountStatus before = Status();
  EXPECT_TRUE(before.enforced() || before.applied_rule_version() == 0);
  Sql("INSERT INTO ip_info (ip, status, ptr) VALUES ('203.0.113.7', 2, 'mx.example.org')");
  v1::BlockRule rule;
  ASSERT_TRUE(Block("203.0.113.7", v1::PROTOCOL_TCP, 25, "spam relay", &rule).ok());
  EXPECT_GT(rule.rule_id(), 0u);
  EXPECT_EQ(rule.network(), "203.0.113.7/32");
  EXPECT_EQ(rule.protocol(), v1::PROTOCOL_TCP);
  EXPECT_EQ(rule.port(), 25u);
  EXPECT_EQ(rule.note(), "spam relay");
  EXPECT_EQ(rule.created_by(), "account:alice");
  EXPECT_EQ(rule.ip_info().ptr(), "mx.example.org");
  EXPECT_GT(rule.create_time().seconds(), 0);

  const v1::AccountStatus after = Status();
  EXPECT_GT(after.rule_version(), before.rule_version());
  EXPECT_FALSE(after.enforced());
  // The node confirms the account's version as applied (what its stream
  // records on RulesApplied): enforced.
  Sql(
      absl::StrCat("INSERT INTO account_rules_applied (account_id, node_id, version) "
                   "VALUES ('alice', 'web-01', ",
                   after.rule_version(), ")"));
  const v1::AccountStatus applied = Status();
  EXPECT_TRUE(applied.enforced());
  EXPECT_GT(applied.applied_time().seconds(), 0);

  // Unspecified protocol means any; CIDR and IPv6 are canonicalised.
  v1::BlockRule any;
  ASSERT_TRUE(Block("2001:DB8:0::/48", v1::PROTOCOL_UNSPECIFIED, 0, "", &any).ok());
  EXPECT_EQ(any.network(), "2001:db8::/48");
  EXPECT_EQ(any.protocol(), v1::PROTOCOL_ANY);
  EXPECT_EQ(any.port(), 0u);
  v1::BlockRule mapped;
  ASSERT_TRUE(Block("::ffff:192.0.2.1", v1::PROTOCOL_UDP, 53, "", &mapped).ok());
  EXPECT_EQ(mapped.network(), "192.0.2.1/32");

  std::vector<v1::AuditEvent> events = Audit();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].action(), "block_rule.create");
  EXPECT_EQ(events[2].actor(), "account:alice");
  EXPECT_EQ(events[2].before_json(), "");
  EXPECT_THAT(events[2].after_json(), AllOf(HasSubstr("203.0.113.7/32"), HasSubstr("\"tcp\"")));
  EXPECT_GT(events[0].event_id(), events[1].event_id());
}

TEST_F(ConnectionsRulesTest, ADuplicateNamesTheExistingRuleAndChangesNothing) {
  v1::BlockRule rule;
  ASSERT_TRUE(Block("198.51.100.0/24", v1::PROTOCOL_ANY, 443, "first", &rule).ok());
  const std::string before = Dump();
  grpc::Status duplicate = Block("198.51.100.0/24", v1::PROTOCOL_ANY, 443, "second");
  EXPECT_EQ(duplicate.error_code(), grpc::ALREADY_EXISTS);
  EXPECT_THAT(duplicate.error_message(),
              AllOf(StartsWith("destination:"), HasSubstr(absl::StrCat("rule ", rule.rule_id()))));
  EXPECT_EQ(Dump(), before);
  // Another protocol or port, or another account, is another rule.
  EXPECT_TRUE(Block("198.51.100.0/24", v1::PROTOCOL_TCP, 443, "").ok());
  EXPECT_TRUE(Block("198.51.100.0/24", v1::PROTOCOL_ANY, 0, "").ok());
  EXPECT_TRUE(Block("198.51.100.0/24", v1::PROTOCOL_ANY, 443, "", nullptr, "bob", bob_).ok());
}

TEST_F(ConnectionsRulesTest, BadRulesAreInvalidArgumentNamingTheFieldAndChangeNothing) {
  const std::string before = Dump();
  struct Case {
    std::string destination;
    v1::Protocol protocol;
    uint32_t port;
    std::string note;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"", v1::PROTOCOL_TCP, 1, "", "destination:"},
      {"10.0.0.1/8", v1::PROTOCOL_TCP, 1, "", "destination:"},
      {"10.0.0.0/33", v1::PROTOCOL_TCP, 1, "", "destination:"},
      {"1.2.3.4'); DELETE FROM block_rules;--", v1::PROTOCOL_TCP, 1, "", "destination:"},
      {"example.com", v1::PROTOCOL_TCP, 1, "", "destination:"},
      {" 1.2.3.4", v1::PROTOCOL_TCP, 1, "", "destination:"},
      {"1.2.3.4", v1::PROTOCOL_ICMP, 0, "", "protocol:"},
      {"1.2.3.4", v1::PROTOCOL_ICMPV6, 0, "", "protocol:"},
      {"1.2.3.4", static_cast<v1::Protocol>(99), 0, "", "protocol:"},
      {"1.2.3.4", v1::PROTOCOL_TCP, 65536, "", "port:"},
      {"1.2.3.4", v1::PROTOCOL_TCP, 4294967295u, "", "port:"},
      {"1.2.3.4", v1::PROTOCOL_TCP, 80, std::string(1001, 'x'), "note:"},
      {"1.2.3.4", v1::PROTOCOL_TCP, 80, std::string("a\0b", 3), "note:"},
      {"1.2.3.4", v1::PROTOCOL_TCP, 80, "bell\a", "note:"},
  };
  for (const Case& c : cases) {
    grpc::Status status = Block(c.destination, c.protocol, c.port, c.note);
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT) << c.field << status.error_message();
    EXPECT_THAT(status.error_message(), StartsWith(c.field));
  }
  grpc::Status icmp = Block("1.2.3.4", v1::PROTOCOL_ICMP, 0, "");
  EXPECT_THAT(icmp.error_message(), HasSubstr("PROTOCOL_ANY"));
  v1::BlockDestinationRequest request;
  request.set_destination("1.2.3.4");
  v1::BlockRule ignored;
  grpc::Status no_account =
      Call(connections_.get(), &Stub::BlockDestination, admin_, request, &ignored);
  EXPECT_EQ(no_account.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(no_account.error_message(), StartsWith("account_id:"));
  EXPECT_EQ(Dump(), before);
}

TEST_F(ConnectionsRulesTest, NotesAreStoredAndReturnedByteForByte) {
  const std::vector<std::string> notes = {
      "'; DROP TABLE block_rules; --",
      "Robert'); DELETE FROM accounts WHERE ('1'='1",
      "<script>alert(1)</script> & \"quotes\" \\backslash\\ {\"json\": [1,2]}",
      "tab\there\nnewline\r\nCRLF",
      "emoji 🔒🔓 and кириллица, 中文, e\xcc\x81 (combining)",
      std::string(1000, 'n'),
      [] {
        std::string s;
        for (int i = 0; i < 1000; ++i) s += "й";  // 1000 code points, 2000 bytes
        return s;
      }(),
  };
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < notes.size(); ++i) {
    v1::BlockRule rule;
    grpc::Status status =
        Block(absl::StrCat("192.0.2.", i + 1), v1::PROTOCOL_TCP, 80, notes[i], &rule);
    ASSERT_TRUE(status.ok()) << i << ": " << status.error_message();
    EXPECT_EQ(rule.note(), notes[i]);
    ids.push_back(rule.rule_id());
  }
  v1::ListBlockRulesRequest request;
  request.set_account_id("alice");
  v1::ListBlockRulesResponse response;
  ASSERT_TRUE(Call(connections_.get(), &Stub::ListBlockRules, alice_, request, &response).ok());
  ASSERT_EQ(response.rules_size(), static_cast<int>(notes.size()));
  for (int i = 0; i < response.rules_size(); ++i) {
    // Newest first.
    EXPECT_EQ(response.rules(i).note(), notes[notes.size() - 1 - i]);
  }
  EXPECT_EQ(Sql("SELECT count(*) FROM accounts")[0][0].as<int>(), 3);

  // 1001 code points is one too many.
  std::string too_long;
  for (int i = 0; i < 1001; ++i) too_long += "й";
  v1::UpdateNoteRequest update;
  update.set_account_id("alice");
  update.set_rule_id(ids[0]);
  update.set_note(too_long);
  v1::BlockRule rule;
  const std::string before = Dump();
  grpc::Status status = Call(connections_.get(), &Stub::UpdateNote, alice_, update, &rule);
  EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), StartsWith("note:"));
  EXPECT_EQ(Dump(), before);
}

TEST_F(ConnectionsRulesTest, UpdateNoteChangesOnlyTheNoteAndIsAudited) {
  v1::BlockRule rule;
  ASSERT_TRUE(Block("203.0.113.0/24", v1::PROTOCOL_UDP, 0, "old", &rule).ok());
  const uint64_t version = Status().rule_version();
  v1::UpdateNoteRequest update;
  update.set_account_id("alice");
  update.set_rule_id(rule.rule_id());
  update.set_note("new ' note");
  v1::BlockRule updated;
  ASSERT_TRUE(Call(connections_.get(), &Stub::UpdateNote, alice_, update, &updated).ok());
  EXPECT_EQ(updated.note(), "new ' note");
  EXPECT_EQ(updated.network(), "203.0.113.0/24");
  EXPECT_EQ(updated.rule_id(), rule.rule_id());
  // Notes are not enforced, so the node's rule set does not change.
  EXPECT_EQ(Status().rule_version(), version);
  std::vector<v1::AuditEvent> events = Audit();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].action(), "block_rule.note");
  EXPECT_THAT(events[0].before_json(), HasSubstr("\"old\""));
  EXPECT_THAT(events[0].after_json(), HasSubstr("new ' note"));
  // The same note again writes nothing; an empty note clears it.
  ASSERT_TRUE(Call(connections_.get(), &Stub::UpdateNote, alice_, update, &updated).ok());
  EXPECT_EQ(Audit().size(), 2u);
  update.set_note("");
  ASSERT_TRUE(Call(connections_.get(), &Stub::UpdateNote, alice_, update, &updated).ok());
  EXPECT_EQ(updated.note(), "");

  // Unknown and foreign rules look the same: NOT_FOUND, nothing changes.
  v1::BlockRule bobs;
  ASSERT_TRUE(Block("203.0.113.0/24", v1::PROTOCOL_UDP, 0, "bob's", &bobs, "bob", bob_).ok());
  const std::string before = Dump();
  for (uint64_t id : {bobs.rule_id(), uint64_t{999999}}) {
    update.set_rule_id(id);
    grpc::Status status = Call(connections_.get(), &Stub::UpdateNote, alice_, update, &updated);
    EXPECT_EQ(status.error_code(), grpc::NOT_FOUND) << id;
    EXPECT_THAT(status.error_message(), StartsWith("rule_id:"));
  }
  for (uint64_t id : {uint64_t{0}, uint64_t{1} << 63}) {
    update.set_rule_id(id);
    grpc::Status status = Call(connections_.get(), &Stub::UpdateNote, alice_, update, &updated);
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT) << id;
    EXPECT_THAT(status.error_message(), StartsWith("rule_id:"));
  }
  update.set_rule_id(bobs.rule_id());
  update.set_account_id("bob");
  EXPECT_EQ(Call(connections_.get(), &Stub::UpdateNote, alice_, update, &updated).error_code(),
            grpc::PERMISSION_DENIED);
  EXPECT_EQ(Dump(), before);
}

TEST_F(ConnectionsRulesTest, DeleteBlockRulesIsAllOrNothing) {
  std::vector<uint64_t> ids;
  for (int i = 1; i <= 5; ++i) {
    v1::BlockRule rule;
    ASSERT_TRUE(Block(absl::StrCat("192.0.2.", i), v1::PROTOCOL_TCP, 443, "", &rule).ok());
    ids.push_back(rule.rule_id());
  }
  v1::BlockRule bobs;
  ASSERT_TRUE(Block("192.0.2.1", v1::PROTOCOL_TCP, 443, "", &bobs, "bob", bob_).ok());
  const std::string before = Dump();

  auto remove = [&](std::vector<uint64_t> rule_ids, v1::DeleteBlockRulesResponse* out,
                    const std::string& token) {
    v1::DeleteBlockRulesRequest request;
    request.set_account_id("alice");
    for (uint64_t id : rule_ids) request.add_rule_ids(id);
    return Call(connections_.get(), &Stub::DeleteBlockRules, token, request, out);
  };
  v1::DeleteBlockRulesResponse response;
  grpc::Status unknown = remove({ids[0], ids[1], 424242}, &response, alice_);
  EXPECT_EQ(unknown.error_code(), grpc::NOT_FOUND);
  EXPECT_THAT(unknown.error_message(), AllOf(StartsWith("rule_ids[2]:"), HasSubstr("424242")));
  grpc::Status foreign = remove({bobs.rule_id(), ids[0]}, &response, alice_);
  EXPECT_EQ(foreign.error_code(), grpc::NOT_FOUND);
  EXPECT_THAT(foreign.error_message(), StartsWith("rule_ids[0]:"));
  grpc::Status twice = remove({ids[0], ids[0]}, &response, alice_);
  EXPECT_EQ(twice.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(twice.error_message(), StartsWith("rule_ids[1]:"));
  EXPECT_EQ(remove({}, &response, alice_).error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(remove({ids[0], 0}, &response, alice_).error_code(), grpc::INVALID_ARGUMENT);
  std::vector<uint64_t> too_many;
  for (uint64_t i = 1; i <= 1001; ++i) too_many.push_back(i);
  grpc::Status many = remove(too_many, &response, alice_);
  EXPECT_EQ(many.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(many.error_message(), StartsWith("rule_ids:"));
  EXPECT_EQ(remove({ids[0]}, &response, bob_).error_code(), grpc::PERMISSION_DENIED);
  EXPECT_EQ(remove({ids[0]}, &response, "").error_code(), grpc::UNAUTHENTICATED);
  EXPECT_EQ(Dump(), before);

  const uint64_t version = Status().rule_version();
  ASSERT_TRUE(remove({ids[3], ids[0], ids[4]}, &response, admin_).ok());
  EXPECT_EQ(response.deleted(), 3u);
  EXPECT_GT(response.rule_version(), version);
  EXPECT_EQ(Status().rule_version(), response.rule_version());
  v1::ListBlockRulesRequest list;
  list.set_account_id("alice");
  v1::ListBlockRulesResponse rules;
  ASSERT_TRUE(Call(connections_.get(), &Stub::ListBlockRules, alice_, list, &rules).ok());
  ASSERT_EQ(rules.rules_size(), 2);
  EXPECT_EQ(rules.rules(0).rule_id(), ids[2]);
  EXPECT_EQ(rules.rules(1).rule_id(), ids[1]);
  std::vector<v1::AuditEvent> events = Audit();
  EXPECT_EQ(events[0].action(), "block_rule.delete");
  EXPECT_EQ(events[0].actor(), "admin:ops");
  EXPECT_THAT(events[0].before_json(), AllOf(HasSubstr("192.0.2.1/32"), HasSubstr("192.0.2.4/32"),
                                             HasSubstr("192.0.2.5/32")));
  // Bob's rule is untouched.
  EXPECT_EQ(Sql("SELECT count(*) FROM block_rules WHERE account_id = 'bob'")[0][0].as<int>(), 1);
}

TEST_F(ConnectionsRulesTest, ListBlockRulesPagesNewestFirst) {
  std::vector<uint64_t> ids;
  for (int i = 1; i <= 7; ++i) {
    v1::BlockRule rule;
    ASSERT_TRUE(Block(absl::StrCat("192.0.2.", i), v1::PROTOCOL_TCP, 0, "", &rule).ok());
    ids.push_back(rule.rule_id());
  }
  std::vector<uint64_t> seen;
  v1::ListBlockRulesRequest request;
  request.set_account_id("alice");
  request.set_page_size(3);
  int pages = 0;
  while (true) {
    v1::ListBlockRulesResponse response;
    ASSERT_TRUE(Call(connections_.get(), &Stub::ListBlockRules, alice_, request, &response).ok());
    EXPECT_EQ(response.total_rules(), 7u);
    for (const auto& rule : response.rules()) seen.push_back(rule.rule_id());
    ++pages;
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, std::vector<uint64_t>(ids.rbegin(), ids.rend()));
  request.set_page_token("bm9wZQ");
  v1::ListBlockRulesResponse response;
  grpc::Status bad = Call(connections_.get(), &Stub::ListBlockRules, alice_, request, &response);
  EXPECT_EQ(bad.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), StartsWith("page_token:"));
}

TEST_F(ConnectionsRulesTest, ManualBlockAllSwitchesOnAndOffIdempotently) {
  v1::AccountStatus status;
  ASSERT_TRUE(BlockAll(true, &status).ok());
  EXPECT_TRUE(status.all_blocked());
  ASSERT_EQ(status.locks_size(), 1);
  EXPECT_EQ(status.locks(0).kind(), v1::LOCK_KIND_MANUAL);
  EXPECT_EQ(status.locks(0).set_by(), "account:alice");
  EXPECT_GT(status.locks(0).since().seconds(), 0);
  EXPECT_FALSE(status.locks(0).reason().empty());
  const uint64_t version = status.rule_version();
  // On again: nothing changes.
  ASSERT_TRUE(BlockAll(true, &status).ok());
  EXPECT_EQ(status.rule_version(), version);
  EXPECT_EQ(Audit().size(), 1u);
  ASSERT_TRUE(BlockAll(false, &status).ok());
  EXPECT_FALSE(status.all_blocked());
  EXPECT_EQ(status.locks_size(), 0);
  EXPECT_GT(status.rule_version(), version);
  ASSERT_TRUE(BlockAll(false, &status).ok());
  std::vector<v1::AuditEvent> events = Audit();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].action(), "lock.manual.clear");
  EXPECT_EQ(events[1].action(), "lock.manual.set");
  EXPECT_EQ(BlockAll(true, nullptr, bob_).error_code(), grpc::PERMISSION_DENIED);
}

TEST_F(ConnectionsRulesTest, TheAntivirusLockCannotBeLiftedByHand) {
  ASSERT_TRUE(BlockAll(true).ok());
  v1::ReportScanRequest scan;
  scan.set_account_id("alice");
  scan.set_scan_id("scan-1");
  scan.mutable_finish_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 60);
  auto* threat = scan.add_threats();
  threat->set_path("public_html/wp-content/shell.php");
  threat->set_signature("Php.Webshell.C99");
  v1::ReportScanResponse scanned;
  ASSERT_TRUE(Call(antivirus_.get(), &AvStub::ReportScan, av_, scan, &scanned).ok());
  ASSERT_EQ(scanned.status().locks_size(), 2);

  const std::string before = Dump();
  for (const std::string& token : {alice_, admin_}) {
    grpc::Status refused = BlockAll(false, nullptr, token);
    EXPECT_EQ(refused.error_code(), grpc::FAILED_PRECONDITION);
    EXPECT_EQ(refused.error_message(),
              "Outgoing connections are blocked because our antivirus found malicious code on "
              "your account. Remove it and run a new scan: the block is lifted automatically "
              "when the scan is clean.");
  }
  EXPECT_EQ(Dump(), before);

  // A clean scan lifts the antivirus lock only; the manual one stays until
  // the owner switches it off.
  scan.set_scan_id("scan-2");
  scan.clear_threats();
  scan.mutable_finish_time()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 30);
  ASSERT_TRUE(Call(antivirus_.get(), &AvStub::ReportScan, av_, scan, &scanned).ok());
  ASSERT_EQ(scanned.status().locks_size(), 1);
  EXPECT_EQ(scanned.status().locks(0).kind(), v1::LOCK_KIND_MANUAL);
  v1::AccountStatus status;
  ASSERT_TRUE(BlockAll(false, &status).ok());
  EXPECT_FALSE(status.all_blocked());
}

TEST_F(ConnectionsRulesTest, StatusReportsEgressAddressesAndTheirOwners) {
  Sql("INSERT INTO ip_info (ip, status, ptr, asn, as_name, country) VALUES "
      "('203.0.113.5', 2, 'alice.example.net', 64501, 'Hoster', 'DE'), "
      "('2001:db8::10', 3, '', 64501, 'Hoster', 'DE')");
  const v1::AccountStatus alice = Status("alice");
  EXPECT_EQ(alice.account_id(), "alice");
  EXPECT_EQ(alice.node_id(), "web-01");
  // The first ordered dedicated IPv4; no dedicated IPv6, so the server's.
  EXPECT_EQ(alice.egress_ipv4(), "203.0.113.5");
  EXPECT_EQ(alice.egress_ipv4_info().ptr(), "alice.example.net");
  EXPECT_EQ(alice.egress_ipv4_info().asn(), 64501u);
  EXPECT_EQ(alice.egress_ipv6(), "2001:db8::10");
  EXPECT_EQ(alice.egress_ipv6_info().status(), v1::IpInfo::IP_INFO_STATUS_NO_PTR);
  EXPECT_FALSE(alice.all_blocked());
  const v1::AccountStatus carol = Status("carol");
  EXPECT_EQ(carol.egress_ipv4(), "198.51.100.20");
  EXPECT_EQ(carol.egress_ipv4_info().status(), v1::IpInfo::IP_INFO_STATUS_PENDING);
  EXPECT_EQ(carol.egress_ipv6(), "");

  v1::GetAccountStatusRequest request;
  request.set_account_id("ghost");
  v1::AccountStatus ignored;
  EXPECT_EQ(
      Call(connections_.get(), &Stub::GetAccountStatus, admin_, request, &ignored).error_code(),
      grpc::NOT_FOUND);
  EXPECT_EQ(
      Call(connections_.get(), &Stub::GetAccountStatus, alice_, request, &ignored).error_code(),
      grpc::PERMISSION_DENIED);
  request.set_account_id("alice");
  EXPECT_EQ(Call(connections_.get(), &Stub::GetAccountStatus, bob_, request, &ignored).error_code(),
            grpc::PERMISSION_DENIED);
  EXPECT_EQ(Call(connections_.get(), &Stub::GetAccountStatus, std::string(), request, &ignored)
                .error_code(),
            grpc::UNAUTHENTICATED);
  ASSERT_TRUE(Call(connections_.get(), &Stub::GetAccountStatus, alice_, request, &ignored).ok());
}

TEST_F(ConnectionsRulesTest, EveryRuleChangeIsAnnouncedToTheReplicas) {
  testing::NotificationListener listener(conninfo_, kRulesChangedChannel);
  v1::BlockRule rule;
  ASSERT_TRUE(Block("192.0.2.99", v1::PROTOCOL_TCP, 22, "", &rule).ok());
  ASSERT_TRUE(BlockAll(true).ok());
  EXPECT_THAT(listener.WaitFor(2), ElementsAre("web-01", "web-01"));
}

TEST_F(ConnectionsRulesTest, AccountsOnlySeeTheirOwnAuditLog) {
  ASSERT_TRUE(Block("192.0.2.1", v1::PROTOCOL_TCP, 22, "").ok());
  v1::ListAuditEventsRequest request;
  request.set_account_id("alice");
  v1::ListAuditEventsResponse response;
  EXPECT_EQ(Call(connections_.get(), &Stub::ListAuditEvents, bob_, request, &response).error_code(),
            grpc::PERMISSION_DENIED);
  ASSERT_TRUE(Call(connections_.get(), &Stub::ListAuditEvents, alice_, request, &response).ok());
  ASSERT_EQ(response.events_size(), 1);
  EXPECT_EQ(response.events(0).account_id(), "alice");
  request.set_account_id("bob");
  ASSERT_TRUE(Call(connections_.get(), &Stub::ListAuditEvents, bob_, request, &response).ok());
  EXPECT_EQ(response.events_size(), 0);
  request.set_page_size(5000);
  EXPECT_EQ(Call(connections_.get(), &Stub::ListAuditEvents, bob_, request, &response).error_code(),
            grpc::INVALID_ARGUMENT);
  // Earlier accounts' history is for admins only.
  request.set_page_size(0);
  request.set_account_id("alice");
  request.set_include_earlier_accounts(true);
  const grpc::Status customer =
      Call(connections_.get(), &Stub::ListAuditEvents, alice_, request, &response);
  EXPECT_EQ(customer.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_THAT(customer.error_message(), HasSubstr("include_earlier_accounts"));
  ASSERT_TRUE(Call(connections_.get(), &Stub::ListAuditEvents, admin_, request, &response).ok());
  EXPECT_EQ(response.events_size(), 1);
}

}  // namespace
}  // namespace egress
