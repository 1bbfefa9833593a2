// Outbound abuse detection against the real service and PostgreSQL: SMTP
// records ingested through a real agent stream lock the offending account
// (only it) within seconds, the agent receives the port lock as rules, the
// webhook receiver (a real HTTP server on loopback that answers 500 once)
// gets exactly one signed event per incident, and the abuse lock is lifted
// only by support with a note. Also policy overrides, expiry and bad input.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/civil_day.h"
#include "egress/v1/abuse.grpc.pb.h"
#include "egress/v1/connections.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "service/abuse_webhook.h"
#include "service/server.h"
#include "tests/support/admin_calls.h"
#include "tests/support/agent_client.h"
#include "tests/support/postgres_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_tokens.h"
#include "tools/egressctl/commands.h"

namespace egress {
namespace {

namespace v1 = ::egress::v1;
using ::egress::testing::AdminToken;
using ::egress::testing::AgentClient;
using ::egress::testing::PanelToken;
using ::testing::HasSubstr;

// A one-request-per-connection HTTP/1.1 server on 127.0.0.1 that records
// each POST and answers 500 to the first `fail_first` of them, 200 after.
class WebhookReceiver {
 public:
  struct Request {
    std::string head;
    std::string body;
  };

  explicit WebhookReceiver(int fail_first) : fail_first_(fail_first) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~WebhookReceiver() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_, "/hook"); }
  std::vector<Request> requests() const {
    absl::MutexLock lock(&mutex_);
    return requests_;
  }
  // Waits until `n` requests arrived (or `timeout`).
  bool WaitFor(size_t n, absl::Duration timeout) const {
    absl::MutexLock lock(&mutex_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mutex_) { return requests_.size() >= n; };
    return mutex_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

 private:
  void Serve() {
    while (!stopping_) {
      const int client = accept(fd_, nullptr, nullptr);
      if (client < 0) return;
      std::string data;
      char buffer[4096];
      size_t header_end = std::string::npos;
      size_t length = 0;
      while (true) {
        const ssize_t n = read(client, buffer, sizeof(buffer));
        if (n <= 0) break;
        data.append(buffer, n);
        if (header_end == std::string::npos) {
          header_end = data.find("\r\n\r\n");
          if (header_end != std::string::npos) {
            const std::string head = absl::AsciiStrToLower(data.substr(0, header_end));
            const size_t at = head.find("content-length:");
            if (at != std::string::npos) length = std::stoul(head.substr(at + 15));
          }
        }
        if (header_end != std::string::npos && data.size() >= header_end + 4 + length) break;
      }
      Request request{data.substr(0, header_end), data.substr(header_end + 4)};
      int seen;
      {
        absl::MutexLock lock(&mutex_);
        requests_.push_back(std::move(request));
        seen = static_cast<int>(requests_.size());
      }
      const std::string answer = seen <= fail_first_
                                     ? "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"
                                     : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
      (void)!write(client, answer.data(), answer.size());
      close(client);
    }
  }

  const int fail_first_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex mutex_;
  std::vector<Request> requests_ ABSL_GUARDED_BY(mutex_);
  std::thread thread_;
};

std::string Header(const std::string& head, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(head, "\r\n")) {
    if (absl::StartsWithIgnoreCase(line, absl::StrCat(name, ":"))) {
      return std::string(absl::StripAsciiWhitespace(line.substr(name.size() + 1)));
    }
  }
  return "";
}

constexpr char kSecret[] = "s3cret-for-the-abuse-desk";

class AbuseDetectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    secret_file_ = absl::StrCat(::testing::TempDir(), "/abuse-secret-", getpid());
    std::ofstream(secret_file_) << kSecret << "\n";
    conninfo_ = ::egress::testing::FreshDatabase();
    DatabaseOptions database_options;
    database_options.conninfo = conninfo_;
    ASSERT_OK_AND_ASSIGN(database_, Database::Connect(database_options));
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.abuse_webhook_secret_file = secret_file_;
    options.abuse_webhook_first_backoff = absl::Milliseconds(100);
    options.abuse_sweep_interval = absl::Milliseconds(200);
    ServerDependencies deps{database_.get(), &::egress::testing::TestSigner()};
    ASSERT_OK_AND_ASSIGN(server_, EgressServer::Start(options, deps));
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    ASSERT_OK(::egress::testing::UpsertNode(channel_, "web-01", "198.51.100.1"));
    ASSERT_OK(::egress::testing::UpsertAccount(channel_, "alice", "web-01", 1001));
    ASSERT_OK(::egress::testing::UpsertAccount(channel_, "bob", "web-01", 1002));
    abuse_ = v1::AbuseService::NewStub(channel_);
    connections_ = v1::ConnectionsService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Now() + absl::Seconds(2));
    std::remove(secret_file_.c_str());
  }

  grpc::Status SetPolicy(const v1::SetAbusePolicyRequest& request,
                         v1::GetAbusePolicyResponse* out = nullptr,
                         const std::string& token = AdminToken()) {
    v1::GetAbusePolicyResponse ignored;
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, token);
    return abuse_->SetAbusePolicy(&context, request, out == nullptr ? &ignored : out);
  }
  grpc::Status GetPolicy(const v1::GetAbusePolicyRequest& request,
                         v1::GetAbusePolicyResponse* out) {
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, AdminToken());
    return abuse_->GetAbusePolicy(&context, request, out);
  }
  grpc::Status Lift(const std::string& account, const std::string& note, const std::string& token,
                    v1::AccountStatus* out = nullptr) {
    v1::AccountStatus ignored;
    v1::LiftAbuseLockRequest request;
    request.set_account_id(account);
    request.set_note(note);
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, token);
    return abuse_->LiftAbuseLock(&context, request, out == nullptr ? &ignored : out);
  }
  v1::AccountStatus Status(const std::string& account) {
    v1::GetAccountStatusRequest request;
    request.set_account_id(account);
    v1::AccountStatus status;
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, AdminToken());
    EXPECT_TRUE(connections_->GetAccountStatus(&context, request, &status).ok());
    return status;
  }
  std::vector<std::string> AuditActions(const std::string& account) {
    v1::ListAuditEventsRequest request;
    request.set_account_id(account);
    v1::ListAuditEventsResponse response;
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, AdminToken());
    EXPECT_TRUE(connections_->ListAuditEvents(&context, request, &response).ok());
    std::vector<std::string> actions;
    for (const v1::AuditEvent& event : response.events()) actions.push_back(event.action());
    return actions;
  }
  std::vector<v1::AbuseIncident> Incidents(const std::string& account) {
    v1::ListAbuseIncidentsRequest request;
    request.set_account_id(account);
    v1::ListAbuseIncidentsResponse response;
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, AdminToken());
    EXPECT_TRUE(abuse_->ListAbuseIncidents(&context, request, &response).ok());
    return {response.incidents().begin(), response.incidents().end()};
  }

  // Sends one batch on `agent`: `smtp` connections of `uid` to port 25 (each
  // to another address) and `web` of `other_uid` to port 443; waits for its
  // ack, keeping every RuleSet seen on the way.
  void SendBatch(AgentClient& agent, uint32_t uid, int smtp, uint32_t other_uid, int web) {
    v1::AgentMessage message;
    message.mutable_batch()->set_seq(++seq_);
    const absl::Time now = absl::Now();
    const absl::CivilDay day = DayOf(now, absl::UTCTimeZone());
    auto add = [&](uint32_t record_uid, int i, uint32_t port) {
      v1::ConnectionRecord* record = message.mutable_batch()->add_records();
      record->set_uid(record_uid);
      record->mutable_day()->set_year(static_cast<int32_t>(day.year()));
      record->mutable_day()->set_month(day.month());
      record->mutable_day()->set_day(day.day());
      const int host = static_cast<int>(seq_ * 50 + i);
      record->set_dst_ip(
          std::string({static_cast<char>(203), static_cast<char>(0), static_cast<char>(host / 256),
                       static_cast<char>(host % 256)}));
      record->set_protocol(v1::PROTOCOL_TCP);
      record->set_dst_port(port);
      record->set_action(v1::ACTION_ACCEPT);
      record->set_count(1);
      record->mutable_first_seen()->set_seconds(absl::ToUnixSeconds(now));
      record->mutable_last_seen()->set_seconds(absl::ToUnixSeconds(now));
    };
    for (int i = 0; i < smtp; ++i) add(uid, i, 25);
    for (int i = 0; i < web; ++i) add(other_uid, i, 443);
    ASSERT_TRUE(agent.Send(message));
    while (true) {
      std::optional<v1::ServiceMessage> next = agent.Next();
      ASSERT_TRUE(next.has_value());
      if (next->has_rule_set()) rule_sets_.push_back(next->rule_set());
      if (next->has_ack() && next->ack().seq() == seq_) break;
    }
  }

  std::string secret_file_;
  std::string conninfo_;
  std::unique_ptr<Database> database_;
  std::unique_ptr<EgressServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AbuseService::Stub> abuse_;
  std::unique_ptr<v1::ConnectionsService::Stub> connections_;
  uint64_t seq_ = 0;
  std::vector<v1::RuleSet> rule_sets_;
};

TEST_F(AbuseDetectTest, SmtpBurstLocksOnlyThatAccountWithinTenSecondsAndAlertsOnce) {
  WebhookReceiver receiver(/*fail_first=*/1);
  v1::SetAbusePolicyRequest hook;
  hook.set_scope(v1::ABUSE_POLICY_SCOPE_DEFAULT);
  hook.mutable_policy()->set_webhook_url(receiver.url());
  ASSERT_TRUE(SetPolicy(hook).ok());

  AgentClient agent(channel_, ::egress::testing::NodeToken("web-01"));
  ASSERT_TRUE(agent.SendHello("web-01"));
  std::optional<v1::ServiceMessage> welcome = agent.NextOfKind(v1::ServiceMessage::kWelcome);
  ASSERT_TRUE(welcome.has_value());
  seq_ = welcome->welcome().last_committed_seq();
  // 30 SMTP connections a second from alice (a spam run), bob browsing; the
  // default limit (100 per 10 minutes) is crossed by the 4th batch.
  for (int i = 0; i < 3; ++i) {
    SendBatch(agent, 1001, 30, 1002, 5);
    EXPECT_TRUE(Status("alice").locks().empty());
  }
  const absl::Time crossed = absl::Now();
  SendBatch(agent, 1001, 30, 1002, 5);
  absl::Duration took = absl::InfiniteDuration();
  while (absl::Now() - crossed < absl::Seconds(10)) {
    if (!Status("alice").locks().empty()) {
      took = absl::Now() - crossed;
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_LT(took, absl::Seconds(10)) << "alice was not locked within 10 s";
  std::printf("abuse: threshold crossed -> lock visible in %.0f ms\n",
              absl::ToDoubleMilliseconds(took));
  const v1::AccountStatus alice = Status("alice");
  ASSERT_EQ(alice.locks_size(), 1);
  EXPECT_EQ(alice.locks(0).kind(), v1::LOCK_KIND_ABUSE);
  EXPECT_THAT(alice.locks(0).reason(), HasSubstr("SMTP connections"));
  EXPECT_THAT(alice.locks(0).what_to_do(), HasSubstr("contact support"));
  EXPECT_THAT(std::vector<uint32_t>(alice.locks(0).ports().begin(), alice.locks(0).ports().end()),
              ::testing::ElementsAre(25, 465, 587));
  EXPECT_EQ(alice.locks(0).set_by(), "abuse-detector");
  // Only the ports: alice's web traffic keeps working, and bob is untouched.
  EXPECT_FALSE(alice.all_blocked());
  EXPECT_TRUE(Status("bob").locks().empty());

  // The agent receives the port lock as rules of alice (no change needed on
  // the node): every address, TCP and UDP, each SMTP port.
  bool pushed = false;
  for (int i = 0; i < 50 && !pushed; ++i) {
    for (const v1::RuleSet& set : rule_sets_) {
      for (const v1::AccountRules& rules : set.accounts()) {
        if (rules.account_id() == "alice" && rules.rules_size() == 12 && !rules.block_all()) {
          pushed = true;
          EXPECT_EQ(rules.rules(0).network(), "0.0.0.0/0");
        }
        if (rules.account_id() == "bob") {
          EXPECT_EQ(rules.rules_size(), 0);
          EXPECT_FALSE(rules.block_all());
        }
      }
    }
    if (!pushed) {
      std::optional<v1::ServiceMessage> next = agent.Next(absl::Milliseconds(200));
      if (next.has_value() && next->has_rule_set()) rule_sets_.push_back(next->rule_set());
    }
  }
  EXPECT_TRUE(pushed) << "no RuleSet with alice's port lock reached the agent";

  // The spam goes on: still one incident, one webhook event (+ its retry).
  SendBatch(agent, 1001, 30, 1002, 5);
  ASSERT_TRUE(receiver.WaitFor(2, absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(500));
  const std::vector<WebhookReceiver::Request> posts = receiver.requests();
  ASSERT_EQ(posts.size(), 2u) << "one 500, then the retry";
  EXPECT_EQ(posts[0].body, posts[1].body);
  EXPECT_EQ(Header(posts[1].head, "X-Egress-Signature"), WebhookSignature(kSecret, posts[1].body));
  const std::vector<v1::AbuseIncident> incidents = Incidents("alice");
  ASSERT_EQ(incidents.size(), 1u);
  EXPECT_EQ(Header(posts[1].head, "X-Egress-Incident"), std::to_string(incidents[0].incident_id()));
  EXPECT_THAT(posts[1].body, HasSubstr("\"kind\":\"smtp\""));
  EXPECT_THAT(posts[1].body, HasSubstr("\"accountId\":\"alice\""));
  EXPECT_TRUE(Incidents("bob").empty());
  {
    pqxx::connection connection(conninfo_);
    pqxx::nontransaction work(connection);
    EXPECT_EQ(work.exec1("SELECT count(*) FROM abuse_incidents WHERE notified_at IS NOT NULL")[0]
                  .as<int>(),
              1);
  }
  const std::string metrics = server_->metrics().Render();
  EXPECT_THAT(metrics, HasSubstr("egress_abuse_incidents_total{kind=\"smtp\",lock=\"port\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("egress_abuse_webhooks_total{result=\"delivered\"} 1"));

  // Lifting: never by the customer, by support only with a note.
  grpc::Status customer = Lift("alice", "I fixed it", PanelToken("alice"));
  EXPECT_EQ(customer.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(customer.error_message(), HasSubstr("contact support"));
  EXPECT_EQ(Lift("alice", "x", PanelToken("bob")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status no_note = Lift("alice", "", AdminToken());
  EXPECT_EQ(no_note.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(no_note.error_message(), HasSubstr("note"));
  EXPECT_EQ(Status("alice").locks_size(), 1);
  v1::AccountStatus lifted;
  ASSERT_TRUE(Lift("alice", "spam script removed (ticket 42)", AdminToken(), &lifted).ok());
  EXPECT_TRUE(lifted.locks().empty());
  EXPECT_EQ(Lift("alice", "again", AdminToken()).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  const std::vector<std::string> actions = AuditActions("alice");
  EXPECT_THAT(actions,
              ::testing::IsSupersetOf({"abuse.incident", "lock.abuse.set", "lock.abuse.clear"}));
  EXPECT_EQ(Incidents("alice")[0].closed_why(), "lifted");
  agent.CloseSend();
  (void)agent.Finish();
}

// An incident whose webhook no replica delivered (the service restarted
// while it was queued) is sent by the sweeper, once, and marked delivered.
TEST_F(AbuseDetectTest, UndeliveredIncidentIsSentAgainAfterARestart) {
  {
    pqxx::connection connection(conninfo_);
    pqxx::work work(connection);
    work.exec(
        "INSERT INTO abuse_incidents (account_id, node_id, kind, detail, opened_at, last_seen_at, "
        "lock) VALUES ('bob', 'web-01', 'scan', 'connections to 900 distinct addresses on port "
        "22', now() - interval '6 minutes', now() - interval '6 minutes', 'port')");
    work.commit();
  }
  WebhookReceiver receiver(/*fail_first=*/0);
  v1::SetAbusePolicyRequest hook;
  hook.set_scope(v1::ABUSE_POLICY_SCOPE_DEFAULT);
  hook.mutable_policy()->set_webhook_url(receiver.url());
  ASSERT_TRUE(SetPolicy(hook).ok());
  ASSERT_TRUE(receiver.WaitFor(1, absl::Seconds(10)));
  absl::SleepFor(absl::Seconds(1));  // several sweeps: still one POST
  const std::vector<WebhookReceiver::Request> posts = receiver.requests();
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_THAT(posts[0].body, HasSubstr("\"kind\":\"scan\""));
  EXPECT_EQ(Header(posts[0].head, "X-Egress-Signature"), WebhookSignature(kSecret, posts[0].body));
  pqxx::connection connection(conninfo_);
  pqxx::nontransaction work(connection);
  EXPECT_EQ(
      work.exec1("SELECT count(*) FROM abuse_incidents WHERE notified_at IS NULL")[0].as<int>(), 0);
}

TEST_F(AbuseDetectTest, PolicyOverridesAndBadInputChangeNothing) {
  // bob's own override: lock everything, with a lower SMTP limit.
  v1::SetAbusePolicyRequest bob;
  bob.set_scope(v1::ABUSE_POLICY_SCOPE_ACCOUNT);
  bob.set_account_id("bob");
  bob.mutable_policy()->set_smtp_max_connections(10);
  bob.mutable_policy()->set_lock_action(v1::ABUSE_LOCK_ACTION_ALL);
  v1::GetAbusePolicyResponse out;
  ASSERT_TRUE(SetPolicy(bob, &out).ok());
  EXPECT_EQ(out.effective().smtp_max_connections(), 10);
  EXPECT_EQ(out.effective().scan_max_destinations(), 500);
  // alice's node raises the limit for everyone on it.
  v1::SetAbusePolicyRequest node;
  node.set_scope(v1::ABUSE_POLICY_SCOPE_NODE);
  node.set_node_id("web-01");
  node.mutable_policy()->set_smtp_max_connections(1000);
  ASSERT_TRUE(SetPolicy(node).ok());

  auto expect_refused = [&](v1::SetAbusePolicyRequest request, grpc::StatusCode code,
                            const std::string& field) {
    grpc::Status status = SetPolicy(request);
    EXPECT_EQ(status.error_code(), code) << field;
    EXPECT_THAT(status.error_message(), HasSubstr(field));
  };
  v1::SetAbusePolicyRequest bad = node;
  bad.mutable_policy()->set_smtp_max_connections(0);
  expect_refused(bad, grpc::StatusCode::INVALID_ARGUMENT, "smtp_max_connections");
  bad = node;
  bad.mutable_policy()->mutable_watched_ports()->add_ports(70000);
  expect_refused(bad, grpc::StatusCode::INVALID_ARGUMENT, "watched_ports[0]");
  bad = v1::SetAbusePolicyRequest();
  bad.set_scope(v1::ABUSE_POLICY_SCOPE_DEFAULT);
  bad.mutable_policy()->set_webhook_url("ftp://example.org/");
  expect_refused(bad, grpc::StatusCode::INVALID_ARGUMENT, "webhook_url");
  bad = node;
  bad.set_node_id("web-99");
  expect_refused(bad, grpc::StatusCode::NOT_FOUND, "web-99");
  bad = bob;
  bad.set_account_id("nobody");
  expect_refused(bad, grpc::StatusCode::NOT_FOUND, "nobody");
  bad = bob;
  bad.set_scope(v1::ABUSE_POLICY_SCOPE_UNSPECIFIED);
  expect_refused(bad, grpc::StatusCode::INVALID_ARGUMENT, "scope");
  EXPECT_EQ(SetPolicy(node, nullptr, PanelToken("alice")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Nothing of the refused calls was written.
  v1::GetAbusePolicyRequest get;
  get.set_scope(v1::ABUSE_POLICY_SCOPE_NODE);
  get.set_node_id("web-01");
  ASSERT_TRUE(GetPolicy(get, &out).ok());
  EXPECT_EQ(out.policy().smtp_max_connections(), 1000);
  EXPECT_FALSE(out.policy().has_watched_ports());
  get.set_scope(v1::ABUSE_POLICY_SCOPE_DEFAULT);
  get.clear_node_id();
  ASSERT_TRUE(GetPolicy(get, &out).ok());
  EXPECT_FALSE(out.policy().has_webhook_url());

  AgentClient agent(channel_, ::egress::testing::NodeToken("web-01"));
  ASSERT_TRUE(agent.SendHello("web-01"));
  std::optional<v1::ServiceMessage> welcome = agent.NextOfKind(v1::ServiceMessage::kWelcome);
  ASSERT_TRUE(welcome.has_value());
  seq_ = welcome->welcome().last_committed_seq();
  // 150 SMTP connections each: under alice's node limit, over bob's own.
  SendBatch(agent, 1001, 150, 1002, 0);
  SendBatch(agent, 1002, 15, 1001, 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Status("bob").locks().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const v1::AccountStatus status = Status("bob");
  ASSERT_EQ(status.locks_size(), 1);
  EXPECT_TRUE(status.all_blocked());
  EXPECT_EQ(status.locks(0).ports_size(), 0);
  EXPECT_TRUE(Status("alice").locks().empty());
  // A lock on everything: the owner's switch cannot lift it.
  {
    v1::SetBlockAllRequest off;
    off.set_account_id("bob");
    off.set_enabled(false);
    grpc::ClientContext panel;
    ::egress::testing::Authorize(&panel, PanelToken("bob"));
    v1::AccountStatus ignored;
    const grpc::Status refused = connections_->SetBlockAll(&panel, off, &ignored);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(refused.error_message(), HasSubstr("contact support"));
  }
  agent.CloseSend();
  (void)agent.Finish();
}

TEST_F(AbuseDetectTest, SupportLockOnPortsExpiresByItself) {
  v1::SetAbuseLockRequest request;
  request.set_account_id("alice");
  request.add_ports(25);
  request.set_reason("Spam reported by example.net (ticket 7)");
  const absl::Time expires = absl::Now() + absl::Seconds(1);
  request.mutable_expire_time()->set_seconds(absl::ToUnixSeconds(expires) + 1);
  v1::AccountStatus status;
  {
    v1::SetAbuseLockRequest bad = request;
    bad.set_ports(0, 0);
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, AdminToken());
    grpc::Status refused = abuse_->SetAbuseLock(&context, bad, &status);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(refused.error_message(), HasSubstr("ports[0]"));
  }
  {
    v1::SetAbuseLockRequest bad = request;
    bad.set_account_id("nobody");
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, AdminToken());
    EXPECT_EQ(abuse_->SetAbuseLock(&context, bad, &status).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    ::egress::testing::Authorize(&context, PanelToken("alice"));
    EXPECT_EQ(abuse_->SetAbuseLock(&context, request, &status).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_TRUE(Status("alice").locks().empty());
  grpc::ClientContext context;
  ::egress::testing::Authorize(&context, AdminToken());
  ASSERT_TRUE(abuse_->SetAbuseLock(&context, request, &status).ok());
  ASSERT_EQ(status.locks_size(), 1);
  EXPECT_TRUE(status.locks(0).has_expire_time());
  EXPECT_FALSE(status.all_blocked());
  // The owner's switch stays the owner's (a port lock holds by itself): on
  // and off again, and the port lock is still there.
  for (bool enabled : {true, false}) {
    v1::SetBlockAllRequest request_switch;
    request_switch.set_account_id("alice");
    request_switch.set_enabled(enabled);
    grpc::ClientContext panel;
    ::egress::testing::Authorize(&panel, PanelToken("alice"));
    v1::AccountStatus after;
    ASSERT_TRUE(connections_->SetBlockAll(&panel, request_switch, &after).ok());
    EXPECT_EQ(after.all_blocked(), enabled);
    EXPECT_EQ(after.locks_size(), enabled ? 2 : 1);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!Status("alice").locks().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(Status("alice").locks().empty());
  EXPECT_THAT(AuditActions("alice"), ::testing::Contains("lock.abuse.expire"));
}

}  // namespace
}  // namespace egress

namespace egress {
namespace {

// egressctl abuse policy/incidents/lift, in process against the same server.
TEST_F(AbuseDetectTest, EgressctlSetsAndShowsPolicies) {
  auto run = [&](std::vector<std::string> args, std::string* out, const std::string& note = "") {
    std::ostringstream stdout_text, stderr_text;
    ctl::CommandContext context;
    context.channel = channel_;
    context.token = AdminToken();
    context.out = &stdout_text;
    context.err = &stderr_text;
    ctl::CommandOptions options;
    options.note = note;
    const int code = ctl::RunCommand(args, options, context);
    *out = stdout_text.str() + stderr_text.str();
    return code;
  };
  std::string out;
  ASSERT_EQ(run({"abuse", "policy", "set", "node", "web-01", "smtp_max_connections=250",
                 "watched_ports=23,3389", "lock=all"},
                &out),
            ctl::kExitOk)
      << out;
  EXPECT_THAT(out, HasSubstr("250"));
  ASSERT_EQ(run({"abuse", "policy", "get", "account", "alice"}, &out), ctl::kExitOk) << out;
  EXPECT_THAT(out, HasSubstr("23,3389"));
  EXPECT_THAT(out, HasSubstr("(inherited)"));
  // Bad input: the service names the field; nothing changes.
  EXPECT_EQ(run({"abuse", "policy", "set", "node", "web-01", "reject_max=0"}, &out),
            ctl::kExitRpcError);
  EXPECT_THAT(out, HasSubstr("reject_max"));
  EXPECT_EQ(run({"abuse", "policy", "set", "default", "webhook_url=gopher://x"}, &out),
            ctl::kExitRpcError);
  EXPECT_THAT(out, HasSubstr("webhook_url"));
  EXPECT_EQ(run({"abuse", "policy", "set", "node", "web-01", "colour=red"}, &out), ctl::kExitUsage);
  EXPECT_EQ(run({"abuse", "policy", "get", "node", "web-99"}, &out), ctl::kExitRpcError);
  EXPECT_THAT(out, HasSubstr("NOT_FOUND"));
  ASSERT_EQ(run({"abuse", "policy", "set", "node", "web-01",
                 "smtp_max_connections=", "watched_ports=none"},
                &out),
            ctl::kExitOk)
      << out;
  v1::GetAbusePolicyRequest get;
  get.set_scope(v1::ABUSE_POLICY_SCOPE_NODE);
  get.set_node_id("web-01");
  v1::GetAbusePolicyResponse policy;
  ASSERT_TRUE(GetPolicy(get, &policy).ok());
  EXPECT_FALSE(policy.policy().has_smtp_max_connections());
  EXPECT_TRUE(policy.policy().has_watched_ports());
  EXPECT_EQ(policy.effective().watched_ports().ports_size(), 0);
  EXPECT_EQ(policy.policy().lock_action(), v1::ABUSE_LOCK_ACTION_ALL);
  ASSERT_EQ(run({"abuse", "incidents", "alice"}, &out), ctl::kExitOk) << out;
  EXPECT_EQ(run({"abuse", "lift", "alice"}, &out, "why"), ctl::kExitRpcError);
  EXPECT_THAT(out, HasSubstr("no abuse lock"));
  ASSERT_EQ(run({"abuse", "lock", "alice", "Spam report T-1", "25"}, &out), ctl::kExitOk) << out;
  EXPECT_THAT(out, HasSubstr("ports 25"));
  EXPECT_EQ(run({"abuse", "lock", "alice", "x", "0"}, &out), ctl::kExitRpcError);
  EXPECT_THAT(out, HasSubstr("ports[0]"));
  EXPECT_EQ(run({"abuse", "lift", "alice"}, &out), ctl::kExitRpcError);
  EXPECT_THAT(out, HasSubstr("note"));
  ASSERT_EQ(run({"abuse", "lift", "alice"}, &out, "cleaned (T-1)"), ctl::kExitOk) << out;
}

}  // namespace
}  // namespace egress
