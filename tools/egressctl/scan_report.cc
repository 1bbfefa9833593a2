#include "tools/egressctl/scan_report.h"

#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace egress::ctl {
namespace {

constexpr absl::string_view kSummaryHeader = "----------- SCAN SUMMARY -----------";
// clamscan's verdicts on files that are not threats (printed without --infected).
constexpr absl::string_view kCleanVerdicts[] = {": OK", ": Empty file", ": Symbolic link",
                                                ": Excluded"};

// Length of the valid UTF-8 sequence at `text[i]`, or 0.
size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // bounds of the second byte
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = i + 2; k < i + length; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xBF) return 0;
  }
  return length;
}

// The service takes UTF-8 without control characters; scanners print file
// names as raw bytes. Escaping keeps the report (and the lock it brings).
std::string Sanitize(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0 || c < 0x20 || c == 0x7F) {
      absl::StrAppendFormat(&out, "\\x%02X", c);
      ++i;
    } else {
      out.append(text.data() + i, length);
      i += length;
    }
  }
  return out;
}

// A line as error messages show it: escaped, at most 80 characters.
std::string Quote(absl::string_view line) {
  std::string shown = absl::CHexEscape(line.substr(0, 80));
  return absl::StrCat("\"", shown, line.size() > 80 ? "...\"" : "\"");
}

absl::Status BadLine(size_t number, absl::string_view line, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("report line ", number, " ", why, ": ", Quote(line)));
}

absl::StatusOr<ParsedScanReport> ParseClamscan(absl::string_view text) {
  ParsedScanReport report;
  std::set<std::string> infected_paths;
  bool in_summary = false;
  int64_t summary_infected = -1;
  size_t number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    if (absl::StripAsciiWhitespace(line) == kSummaryHeader) {
      in_summary = true;
      continue;
    }
    if (in_summary) {
      // "Key words: value", e.g. "Infected files: 2", "Data read: 0.60 MB".
      const size_t colon = line.find(": ");
      const absl::string_view key = line.substr(0, colon);
      if (colon == absl::string_view::npos || key.empty() || !absl::ascii_isalpha(key[0]) ||
          key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ") !=
              absl::string_view::npos) {
        return BadLine(number, line, "is not a clamscan summary line");
      }
      if (key == "Infected files" &&
          !absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(colon + 2)),
                            &summary_infected)) {
        return BadLine(number, line, "has no number of infected files");
      }
      continue;
    }
    // clamscan's and libclamav's own messages (on stderr, in the report when
    // a hook sends both there).
    if (absl::StartsWith(line, "LibClamAV ") || absl::StartsWith(line, "WARNING: ")) continue;
    if (absl::StartsWith(line, "ERROR: ") || absl::EndsWith(line, " ERROR")) {
      if (report.scan_errors++ == 0) report.first_scan_error = Sanitize(line);
      continue;
    }
    if (absl::ConsumeSuffix(&line, " FOUND")) {
      // "PATH: SIGNATURE FOUND": signatures have no spaces; paths may hold ": ".
      const size_t split = line.rfind(": ");
      if (split == absl::string_view::npos || split == 0) {
        return BadLine(number, line, "has FOUND but no \"PATH: SIGNATURE\"");
      }
      const absl::string_view signature = line.substr(split + 2);
      if (signature.empty() || signature.find_first_of(" \t") != absl::string_view::npos) {
        return BadLine(number, line, "has FOUND but no signature before it");
      }
      const std::string path(line.substr(0, split));
      infected_paths.insert(path);
      report.threats.push_back({Sanitize(path), Sanitize(signature)});
      continue;
    }
    bool clean = false;
    for (absl::string_view verdict : kCleanVerdicts) {
      clean = clean || (absl::EndsWith(line, verdict) && line.size() > verdict.size());
    }
    if (clean) continue;
    return BadLine(number, line, "is not clamscan output");
  }
  if (summary_infected >= 0 && static_cast<size_t>(summary_infected) != infected_paths.size()) {
    return absl::InvalidArgumentError(absl::StrCat("report: the summary counts ", summary_infected,
                                                   " infected files but ", infected_paths.size(),
                                                   " are listed (a cut or merged report?)"));
  }
  return report;
}

absl::StatusOr<std::string> JsonText(const google::protobuf::Struct& threat,
                                     const std::string& where, const std::string& member) {
  const auto it = threat.fields().find(member);
  if (it == threat.fields().end()) {
    return absl::InvalidArgumentError(absl::StrCat("report ", where, ".", member, ": missing"));
  }
  if (it->second.kind_case() != google::protobuf::Value::kStringValue ||
      absl::StripAsciiWhitespace(it->second.string_value()).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("report ", where, ".", member, ": not a non-empty string"));
  }
  return Sanitize(it->second.string_value());
}

absl::StatusOr<ParsedScanReport> ParseJson(absl::string_view text) {
  google::protobuf::Value root;
  if (!google::protobuf::util::JsonStringToMessage(std::string(text), &root).ok()) {
    return absl::InvalidArgumentError("report: not valid JSON");
  }
  const google::protobuf::ListValue* list = nullptr;
  std::string prefix;
  if (root.kind_case() == google::protobuf::Value::kListValue) {
    list = &root.list_value();
  } else if (root.kind_case() == google::protobuf::Value::kStructValue) {
    const auto it = root.struct_value().fields().find("threats");
    if (it == root.struct_value().fields().end() ||
        it->second.kind_case() != google::protobuf::Value::kListValue) {
      return absl::InvalidArgumentError(
          "report: a JSON object needs a \"threats\" list (or give the list itself)");
    }
    list = &it->second.list_value();
    prefix = "threats";
  } else {
    return absl::InvalidArgumentError(
        "report: JSON must be a list of {\"path\", \"signature\"} or an object with \"threats\"");
  }
  ParsedScanReport report;
  for (int i = 0; i < list->values_size(); ++i) {
    const std::string where = absl::StrCat(prefix, "[", i, "]");
    const google::protobuf::Value& element = list->values(i);
    if (element.kind_case() != google::protobuf::Value::kStructValue) {
      return absl::InvalidArgumentError(
          absl::StrCat("report ", where, ": not an object with path and signature"));
    }
    absl::StatusOr<std::string> path = JsonText(element.struct_value(), where, "path");
    if (!path.ok()) return path.status();
    absl::StatusOr<std::string> signature = JsonText(element.struct_value(), where, "signature");
    if (!signature.ok()) return signature.status();
    report.threats.push_back({*std::move(path), *std::move(signature)});
  }
  return report;
}

}  // namespace

absl::StatusOr<ScanReportFormat> ParseScanReportFormat(absl::string_view name) {
  if (name == "auto" || name.empty()) return ScanReportFormat::kAuto;
  if (name == "clamscan") return ScanReportFormat::kClamscan;
  if (name == "json") return ScanReportFormat::kJson;
  return absl::InvalidArgumentError(absl::StrCat("--report-format: \"", absl::CHexEscape(name),
                                                 "\" is not auto, clamscan or json"));
}

absl::StatusOr<ParsedScanReport> ParseScanReport(absl::string_view text, ScanReportFormat format) {
  absl::ConsumePrefix(&text, "\xEF\xBB\xBF");  // a byte order mark some editors write
  if (format == ScanReportFormat::kAuto) {
    const absl::string_view start = absl::StripLeadingAsciiWhitespace(text);
    format = !start.empty() && (start[0] == '[' || start[0] == '{') ? ScanReportFormat::kJson
                                                                    : ScanReportFormat::kClamscan;
  }
  if (format == ScanReportFormat::kJson) {
    // An empty file is a clean scan in either format.
    if (absl::StripAsciiWhitespace(text).empty()) return ParsedScanReport{};
    return ParseJson(text);
  }
  return ParseClamscan(text);
}

std::string RelativeToBase(const std::string& path, absl::string_view base) {
  while (base.size() > 1 && absl::EndsWith(base, "/")) base.remove_suffix(1);
  if (base.empty()) return path;
  absl::string_view rest(path);
  if (base == "/") return std::string(absl::StripPrefix(rest, "/"));
  if (!absl::ConsumePrefix(&rest, base) || !absl::ConsumePrefix(&rest, "/") || rest.empty()) {
    return path;
  }
  return std::string(rest);
}

}  // namespace egress::ctl
