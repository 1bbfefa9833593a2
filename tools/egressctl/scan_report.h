// Reads an antivirus scanner's report into the threats `report-scan` sends:
// ClamAV's `clamscan` output, or a JSON list. Pure (text in, threats out), so
// it is unit-tested apart from files and RPCs.
#ifndef EGRESS_TOOLS_EGRESSCTL_SCAN_REPORT_H_
#define EGRESS_TOOLS_EGRESSCTL_SCAN_REPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace egress::ctl {

enum class ScanReportFormat {
  // JSON when the first character that is not white space is '[' or '{',
  // clamscan output otherwise (its lines start with a path, '-' or "LibClamAV").
  kAuto,
  // `clamscan --infected` (or without --infected: "OK" lines are skipped):
  //   /home/a/x.php: Php.Webshell-1 FOUND
  //   /home/a/unreadable: Access denied. ERROR
  //   ----------- SCAN SUMMARY -----------
  //   Infected files: 1
  //   ...
  // A path may contain ": " (the last one before the signature splits).
  kClamscan,
  // [{"path": "x.php", "signature": "Php.Webshell"}, ...], or an object
  // whose "threats" member is that list (other members are ignored, so a
  // scanner can add its own). Members of a threat other than path and
  // signature are ignored.
  kJson,
};

// "auto", "clamscan" or "json"; INVALID_ARGUMENT otherwise.
absl::StatusOr<ScanReportFormat> ParseScanReportFormat(absl::string_view name);

struct ScanReportThreat {
  std::string path;
  std::string signature;
};

struct ParsedScanReport {
  // In the report's order; empty for a clean scan (an empty report, or one
  // with a summary only, is clean).
  std::vector<ScanReportThreat> threats;
  // Files the scanner could not read (clamscan "... ERROR" lines), and the
  // first of them, for a warning: the scan did not see everything.
  int scan_errors = 0;
  std::string first_scan_error;
};

// Parses `text` (CRLF or LF line ends). Paths and signatures are made
// acceptable to the service: bytes that are not UTF-8 and control
// characters become "\xNN", so a file with an odd name still locks the
// account. INVALID_ARGUMENT naming the line (clamscan) or the element (JSON)
// for anything that is not such a report, including a clamscan summary
// whose "Infected files" differs from the files listed (a cut report).
absl::StatusOr<ParsedScanReport> ParseScanReport(absl::string_view text, ScanReportFormat format);

// `path` relative to `base` when it lies under it ("/home/a" + "/home/a/x"
// -> "x"); unchanged otherwise or when `base` is empty.
std::string RelativeToBase(const std::string& path, absl::string_view base);

}  // namespace egress::ctl

#endif  // EGRESS_TOOLS_EGRESSCTL_SCAN_REPORT_H_
