// The scanner-report reader of `egressctl report-scan --report`, and the
// command's refusals that happen before any call (no server needed).
#include "tools/egressctl/scan_report.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tools/egressctl/commands.h"

namespace egress::ctl {
namespace {

using ::egress::testing::IsOkAndHolds;
using ::egress::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

auto Threat(const std::string& path, const std::string& signature) {
  return AllOf(Field(&ScanReportThreat::path, path),
               Field(&ScanReportThreat::signature, signature));
}

std::vector<ScanReportThreat> Threats(absl::string_view text,
                                      ScanReportFormat format = ScanReportFormat::kAuto) {
  absl::StatusOr<ParsedScanReport> report = ParseScanReport(text, format);
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? report->threats : std::vector<ScanReportThreat>{};
}

constexpr char kInfected[] =
    "/home/alice/public_html/shell.php: Php.Webshell.Generic-1 FOUND\n"
    "/home/alice/tmp/x.zip: Win.Test.EICAR_HDB-1 FOUND\n"
    "\n"
    "----------- SCAN SUMMARY -----------\n"
    "Known viruses: 8693728\n"
    "Engine version: 0.103.8\n"
    "Scanned directories: 10\n"
    "Scanned files: 120\n"
    "Infected files: 2\n"
    "Data scanned: 1.23 MB\n"
    "Data read: 0.60 MB (ratio 2.05:1)\n"
    "Time: 20.123 sec (0 m 20 s)\n"
    "Start Date: 2026:01:02 03:04:00\n"
    "End Date:   2026:01:02 03:04:20\n";

TEST(ClamscanReportTest, FoundLinesBecomeThreatsInOrderAndTheSummaryIsIgnored) {
  EXPECT_THAT(Threats(kInfected),
              ElementsAre(Threat("/home/alice/public_html/shell.php", "Php.Webshell.Generic-1"),
                          Threat("/home/alice/tmp/x.zip", "Win.Test.EICAR_HDB-1")));
}

TEST(ClamscanReportTest, PathsWithSpacesAndColonsSplitAtTheLastColon) {
  EXPECT_THAT(Threats("/home/a/my docs/a: b.php: Php.Shell-1 FOUND\n"
                      "/home/a/c:d/e FOUND.js: Js.Miner FOUND\n"),
              ElementsAre(Threat("/home/a/my docs/a: b.php", "Php.Shell-1"),
                          Threat("/home/a/c:d/e FOUND.js", "Js.Miner")));
}

TEST(ClamscanReportTest, CrlfLineEndsAreRead) {
  std::string crlf = kInfected;
  for (size_t at = crlf.find('\n'); at != std::string::npos; at = crlf.find('\n', at + 2)) {
    crlf.replace(at, 1, "\r\n");
  }
  EXPECT_THAT(Threats(crlf),
              ElementsAre(Threat("/home/alice/public_html/shell.php", "Php.Webshell.Generic-1"),
                          Threat("/home/alice/tmp/x.zip", "Win.Test.EICAR_HDB-1")));
}

TEST(ClamscanReportTest, EmptyAndSummaryOnlyReportsAreClean) {
  EXPECT_THAT(Threats(""), IsEmpty());
  EXPECT_THAT(Threats(" \n\r\n\n"), IsEmpty());
  EXPECT_THAT(Threats("\n----------- SCAN SUMMARY -----------\nKnown viruses: 8693728\n"
                      "Scanned files: 3\nInfected files: 0\nTime: 0.5 sec (0 m 0 s)\n"),
              IsEmpty());
  EXPECT_THAT(Threats("", ScanReportFormat::kJson), IsEmpty());
}

TEST(ClamscanReportTest, CleanVerdictsAndScannerMessagesAreNotThreats) {
  absl::StatusOr<ParsedScanReport> report = ParseScanReport(
      "/home/a/index.php: OK\n"
      "/home/a/empty.txt: Empty file\n"
      "/home/a/link: Symbolic link\n"
      "LibClamAV Warning: cli_scanxz: decompress file size exceeds limits\n"
      "WARNING: /home/a/big.iso: Can't read file\n"
      "/home/a/secret: Access denied. ERROR\n"
      "/home/a/evil.php: Php.Malware.Agent-2 FOUND\n"
      "ERROR: Can't open /home/a/gone\n",
      ScanReportFormat::kClamscan);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->threats, ElementsAre(Threat("/home/a/evil.php", "Php.Malware.Agent-2")));
  EXPECT_EQ(report->scan_errors, 2);
  EXPECT_EQ(report->first_scan_error, "/home/a/secret: Access denied. ERROR");
}

TEST(ClamscanReportTest, OneFileWithSeveralSignaturesCountsOnceInTheSummary) {
  // clamscan --allmatch: one line per signature, "Infected files" counts files.
  EXPECT_THAT(Threats("/home/a/x.php: Sig.One FOUND\n/home/a/x.php: Sig.Two FOUND\n"
                      "----------- SCAN SUMMARY -----------\nInfected files: 1\n"),
              ElementsAre(Threat("/home/a/x.php", "Sig.One"), Threat("/home/a/x.php", "Sig.Two")));
}

TEST(ClamscanReportTest, ASummaryThatDisagreesWithTheListIsRefused) {
  EXPECT_THAT(ParseScanReport("/home/a/x.php: Sig.One FOUND\n"
                              "----------- SCAN SUMMARY -----------\nInfected files: 3\n",
                              ScanReportFormat::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the summary counts 3 infected files but 1 are listed")));
}

TEST(ClamscanReportTest, GarbageIsRefusedNamingTheLine) {
  EXPECT_THAT(
      ParseScanReport("/home/a/x.php: Sig.One FOUND\nhello world\n", ScanReportFormat::kAuto),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "report line 2 is not clamscan output: \"hello world\""));
  EXPECT_THAT(ParseScanReport("<html><body>502 Bad Gateway</body></html>", ScanReportFormat::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("report line 1 is not")));
  EXPECT_THAT(
      ParseScanReport("[{\"path\": \"x\", \"signature\": \"y\"}]", ScanReportFormat::kClamscan),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("report line 1")));
  EXPECT_THAT(ParseScanReport("/x: FOUND\n", ScanReportFormat::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("report line 1 has FOUND")));
  EXPECT_THAT(ParseScanReport("/x: Two Words FOUND\n", ScanReportFormat::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no signature")));
  EXPECT_THAT(ParseScanReport("----------- SCAN SUMMARY -----------\nInfected files: 0\n"
                              "/home/a/x.php: Sig FOUND\n",
                              ScanReportFormat::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("report line 3 is not a clamscan summary line")));
  EXPECT_THAT(ParseScanReport(std::string("a\0 b", 4), ScanReportFormat::kAuto),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"a\\x00 b\"")));
}

TEST(ClamscanReportTest, BytesTheServiceRefusesAreEscaped) {
  // A Latin-1 file name and a tab: the service takes only UTF-8 without
  // control characters, and the threat must still lock the account.
  EXPECT_THAT(Threats("/home/a/caf\xE9\t.php: Php.Shell FOUND\n/home/a/\xC3\xA9t\xC3\xA9.php: "
                      "Php.Shell FOUND\n"),
              ElementsAre(Threat("/home/a/caf\\xE9\\x09.php", "Php.Shell"),
                          Threat("/home/a/\xC3\xA9t\xC3\xA9.php", "Php.Shell")));
}

TEST(JsonReportTest, AListOrAnObjectWithThreats) {
  EXPECT_THAT(Threats("[{\"path\": \"public_html/x.php\", \"signature\": \"Php.Shell\"},"
                      " {\"path\": \"a: b.js\", \"signature\": \"Js.Miner\", \"size\": 10}]"),
              ElementsAre(Threat("public_html/x.php", "Php.Shell"), Threat("a: b.js", "Js.Miner")));
  EXPECT_THAT(Threats("\xEF\xBB\xBF\r\n{\"scanner\": \"maldet\", \"threats\": "
                      "[{\"path\": \"x\", \"signature\": \"y\"}]}\r\n"),
              ElementsAre(Threat("x", "y")));
  EXPECT_THAT(Threats("[]"), IsEmpty());
  EXPECT_THAT(Threats("{\"threats\": []}"), IsEmpty());
}

TEST(JsonReportTest, MalformedJsonIsRefusedNamingTheElement) {
  const auto refused = [](absl::string_view text) {
    return ParseScanReport(text, ScanReportFormat::kJson).status();
  };
  EXPECT_THAT(refused("[{\"path\": \"x\", \"signature\": \"y\"}, {\"path\": \"z\"}]"),
              StatusIs(absl::StatusCode::kInvalidArgument, "report [1].signature: missing"));
  EXPECT_THAT(refused("{\"threats\": [{\"path\": 7, \"signature\": \"y\"}]}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "report threats[0].path: not a non-empty string"));
  EXPECT_THAT(refused("[{\"path\": \" \", \"signature\": \"y\"}]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[0].path")));
  EXPECT_THAT(refused("[\"x.php:Sig\"]"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("report [0]: not an object")));
  EXPECT_THAT(refused("{\"found\": []}"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"threats\" list")));
  EXPECT_THAT(refused("\"clean\""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(refused("[{\"path\": \"x\", "),
              StatusIs(absl::StatusCode::kInvalidArgument, "report: not valid JSON"));
}

TEST(ScanReportFormatTest, NamesAreParsed) {
  EXPECT_THAT(ParseScanReportFormat("json"), IsOkAndHolds(ScanReportFormat::kJson));
  EXPECT_THAT(ParseScanReportFormat("clamscan"), IsOkAndHolds(ScanReportFormat::kClamscan));
  EXPECT_THAT(ParseScanReportFormat("auto"), IsOkAndHolds(ScanReportFormat::kAuto));
  EXPECT_THAT(ParseScanReportFormat("xml"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--report-format")));
}

TEST(RelativeToBaseTest, PathsUnderTheHomeBecomeRelative) {
  EXPECT_EQ(RelativeToBase("/home/alice/public_html/x.php", "/home/alice"), "public_html/x.php");
  EXPECT_EQ(RelativeToBase("/home/alice/x.php", "/home/alice/"), "x.php");
  EXPECT_EQ(RelativeToBase("/home/alice2/x.php", "/home/alice"), "/home/alice2/x.php");
  EXPECT_EQ(RelativeToBase("/tmp/x.php", "/home/alice"), "/tmp/x.php");
  EXPECT_EQ(RelativeToBase("/home/alice", "/home/alice"), "/home/alice");
  EXPECT_EQ(RelativeToBase("/home/alice/x.php", ""), "/home/alice/x.php");
}

// report-scan refuses a bad --report before calling anything: the channel
// points nowhere, and every case must exit 2 without trying it.
class ReportScanCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/egress-report-XXXXXX";
    const int fd = mkstemp(pattern);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = pattern;
  }
  void TearDown() override { std::remove(path_.c_str()); }

  int Run(CommandOptions options, std::string input = "") {
    std::istringstream in(input);
    CommandContext context;
    context.channel =
        grpc::CreateChannel("unix:/nonexistent/egress.sock", grpc::InsecureChannelCredentials());
    context.timeout = absl::Milliseconds(100);
    context.out = &out_;
    context.err = &err_;
    context.in = &in;
    return RunCommand({"report-scan", "alice", "scan-1"}, options, context);
  }
  void Write(const std::string& text) { std::ofstream(path_, std::ios::binary) << text; }

  std::string path_;
  std::ostringstream out_, err_;
};

TEST_F(ReportScanCommandTest, AMalformedReportIsRefusedNamingTheLine) {
  Write("/home/a/x.php: Sig FOUND\nthis is not clamscan\n");
  CommandOptions options;
  options.report = path_;
  EXPECT_EQ(Run(options), kExitUsage);
  EXPECT_THAT(err_.str(), AllOf(HasSubstr(path_ + ": report line 2 is not clamscan output"),
                                HasSubstr("nothing was reported")));
  EXPECT_EQ(out_.str(), "");
}

TEST_F(ReportScanCommandTest, StandardInputIsReadForDash) {
  CommandOptions options;
  options.report = "-";
  options.report_format = "json";
  EXPECT_EQ(Run(options, "[{\"path\": 1}]"), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("-: report [0].path: not a non-empty string"));
}

TEST_F(ReportScanCommandTest, UsageErrors) {
  CommandOptions missing;
  missing.report = "/nonexistent/report.txt";
  EXPECT_EQ(Run(missing), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("cannot read /nonexistent/report.txt"));

  CommandOptions both;
  both.report = path_;
  both.threats = {"x.php:Sig"};
  EXPECT_EQ(Run(both), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("not both"));

  CommandOptions format;
  format.report = path_;
  format.report_format = "xml";
  EXPECT_EQ(Run(format), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("--report-format"));
}

}  // namespace
}  // namespace egress::ctl
