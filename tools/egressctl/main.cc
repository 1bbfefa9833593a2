// egressctl: admin command line for egress-service.
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/command_line.h"
#include "common/files.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tools/egressctl/commands.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051",
          "egress-service address (host:port). Default from EGRESS_SERVER if set.");
ABSL_FLAG(std::string, tls_ca_file, "",
          "PEM CA that signed the server's certificate: connect with TLS (default: plaintext).");
ABSL_FLAG(bool, refresh, false, "lookup: look the address up again now.");
ABSL_FLAG(std::string, output, "table", "Output format: table or json.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline of each call.");
ABSL_FLAG(std::string, token, "",
          "Bearer token sent with every call. Default: the EGRESS_TOKEN environment variable.");
ABSL_FLAG(std::string, secret_file, "", "token: file with the service's token secret.");
ABSL_FLAG(std::string, scope, "", "token: scopes, e.g. panel, admin, \"admin antivirus\".");
ABSL_FLAG(absl::Duration, ttl, absl::Hours(24), "token: lifetime.");
ABSL_FLAG(std::string, node, "", "Node id (accounts upsert; filter of accounts list).");
ABSL_FLAG(int64_t, uid, -1, "Linux uid of the account on its node (accounts upsert).");
ABSL_FLAG(std::string, server_ipv4, "", "Node's own IPv4 address (nodes upsert).");
ABSL_FLAG(std::string, server_ipv6, "", "Node's own IPv6 address (nodes upsert).");
ABSL_FLAG(std::vector<std::string>, exempt, {},
          "Comma-separated CIDRs never blocked nor recorded (nodes upsert).");
ABSL_FLAG(std::vector<std::string>, dedicated_ip, {},
          "Comma-separated dedicated IPs, each IP or IP@RFC3339-order-time (accounts upsert). "
          "The first ordered of each family is the account's egress address.");

ABSL_FLAG(std::string, protocol, "",
          "block: tcp, udp or any (default any); abuse find: also icmp or icmpv6.");
ABSL_FLAG(int64_t, port, -1,
          "block, abuse find: destination port 1..65535; omitted or 0: every port.");
ABSL_FLAG(std::string, note, "", "block: a note kept with the rule; abuse lift: why (audit log).");
ABSL_FLAG(absl::Duration, expire_in, absl::ZeroDuration(),
          "block: a temporary rule that ends this long from now, e.g. 1h, 24h, 168h (at most "
          "366 days; default: until unblocked).");
ABSL_FLAG(std::string, expire_at, "",
          "block: a temporary rule that ends at this RFC 3339 time (default: until unblocked).");
ABSL_FLAG(std::vector<std::string>, threat, {},
          "report-scan: comma-separated PATH:SIGNATURE threats (paths with commas: give them "
          "as arguments after SCAN_ID).");
ABSL_FLAG(std::string, finished, "",
          "report-scan: when the scan finished, RFC 3339 (default now).");
ABSL_FLAG(std::string, report, "",
          "report-scan: a scanner's report to read the threats from (a file, or - for standard "
          "input).");
ABSL_FLAG(std::string, report_format, "auto",
          "report-scan: format of --report: clamscan (`clamscan --infected` output), json, or "
          "auto (JSON if it starts with [ or {).");
ABSL_FLAG(std::string, report_base, "",
          "report-scan: the account's home; threat paths under it are sent relative to it.");
ABSL_FLAG(std::string, filter, "", "connections: an IP, a CIDR or the start of an IP.");
ABSL_FLAG(std::string, action, "", "connections: accept or reject only.");
ABSL_FLAG(std::string, order_by, "", "connections: count (default), ip, port or last-seen.");
ABSL_FLAG(bool, reverse, false, "connections: reverse the default order.");
ABSL_FLAG(std::string, from, "",
          "abuse find: first day, YYYY-MM-DD (default: 29 days before --to).");
ABSL_FLAG(std::string, to, "", "abuse find: last day, YYYY-MM-DD (default: today).");
ABSL_FLAG(std::string, until, "",
          "abuse lock: when the lock ends by itself, RFC 3339 (default: when support lifts it).");
ABSL_FLAG(std::string, egress_address, "",
          "abuse find: only accounts whose egress (source) address was this IP.");

int main(int argc, char** argv) {
  const std::vector<std::string> args = egress::ParseCommandLine(
      argc, argv,
      absl::StrCat("administer egress-service (nodes, accounts, health).\n"
                   "Usage: egressctl [--server=HOST:PORT] [--output=table|json] COMMAND ...\n",
                   egress::ctl::kCommandsHelp,
                   "\nFlags may be spelled with dashes or underscores."));

  egress::ctl::CommandContext context;
  context.out = &std::cout;
  context.err = &std::cerr;
  context.in = &std::cin;
  context.timeout = absl::GetFlag(FLAGS_timeout);
  const std::string output = absl::GetFlag(FLAGS_output);
  if (output == "json") {
    context.format = egress::ctl::OutputFormat::kJson;
  } else if (output != "table") {
    std::cerr << "egressctl: --output must be table or json\n";
    return egress::ctl::kExitUsage;
  }
  std::string server = absl::GetFlag(FLAGS_server);
  if (const char* env = std::getenv("EGRESS_SERVER");
      env != nullptr && server == "127.0.0.1:50051") {
    server = env;
  }
  context.token = absl::GetFlag(FLAGS_token);
  if (const char* env = std::getenv("EGRESS_TOKEN"); env != nullptr && context.token.empty()) {
    context.token = env;
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (const std::string ca_file = absl::GetFlag(FLAGS_tls_ca_file); !ca_file.empty()) {
    absl::StatusOr<std::string> pem = egress::ReadWholeFile(ca_file);
    if (!pem.ok()) {
      std::cerr << "egressctl: --tls-ca-file: " << pem.status().message() << "\n";
      return egress::ctl::kExitUsage;
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *pem;
    credentials = grpc::SslCredentials(ssl);
  }
  context.channel = grpc::CreateChannel(server, credentials);

  egress::ctl::CommandOptions options;
  options.node = absl::GetFlag(FLAGS_node);
  options.uid = absl::GetFlag(FLAGS_uid);
  options.server_ipv4 = absl::GetFlag(FLAGS_server_ipv4);
  options.server_ipv6 = absl::GetFlag(FLAGS_server_ipv6);
  options.exempt = absl::GetFlag(FLAGS_exempt);
  options.dedicated_ips = absl::GetFlag(FLAGS_dedicated_ip);
  options.secret_file = absl::GetFlag(FLAGS_secret_file);
  options.refresh = absl::GetFlag(FLAGS_refresh);
  options.scope = absl::GetFlag(FLAGS_scope);
  options.ttl = absl::GetFlag(FLAGS_ttl);
  options.protocol = absl::GetFlag(FLAGS_protocol);
  options.port = absl::GetFlag(FLAGS_port);
  options.note = absl::GetFlag(FLAGS_note);
  options.expire_in = absl::GetFlag(FLAGS_expire_in);
  options.expire_at = absl::GetFlag(FLAGS_expire_at);
  options.threats = absl::GetFlag(FLAGS_threat);
  options.finished = absl::GetFlag(FLAGS_finished);
  options.report = absl::GetFlag(FLAGS_report);
  options.report_format = absl::GetFlag(FLAGS_report_format);
  options.report_base = absl::GetFlag(FLAGS_report_base);
  options.filter = absl::GetFlag(FLAGS_filter);
  options.action = absl::GetFlag(FLAGS_action);
  options.order_by = absl::GetFlag(FLAGS_order_by);
  options.reverse = absl::GetFlag(FLAGS_reverse);
  options.from = absl::GetFlag(FLAGS_from);
  options.to = absl::GetFlag(FLAGS_to);
  options.until = absl::GetFlag(FLAGS_until);
  options.egress_address = absl::GetFlag(FLAGS_egress_address);
  return egress::ctl::RunCommand(args, options, context);
}
