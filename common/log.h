// Structured, one-line log records: `ts=... level=info event=name key=value ...`.
//
// Values are quoted when they contain spaces, quotes, '=' or control bytes, so
// every record is one line that `grep`/`awk` and log shippers can split. Writes
// go to stderr under a mutex; safe to call from any thread.
#ifndef EGRESS_COMMON_LOG_H_
#define EGRESS_COMMON_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace egress {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// One key=value field. Numbers and strings convert implicitly.
struct LogField {
  LogField(absl::string_view k, absl::string_view v) : key(k), value(v) {}
  LogField(absl::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(absl::string_view k, const char* v) : key(k), value(v) {}
  LogField(absl::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  template <typename Int, typename = std::enable_if_t<std::is_integral_v<Int>>>
  LogField(absl::string_view k, Int v) : key(k), value(std::to_string(v)) {}
  LogField(absl::string_view k, double v);

  absl::string_view key;
  std::string value;
};

// Records below this level are dropped. Default kInfo; set once at start-up.
void SetMinLogLevel(LogLevel level);

// Parses "debug", "info", "warning", "error"; false if unknown.
bool ParseLogLevel(absl::string_view text, LogLevel* level);

void Log(LogLevel level, absl::string_view event, std::initializer_list<LogField> fields = {});

// Formats one record without the timestamp (exposed for tests).
std::string FormatLogRecord(LogLevel level, absl::string_view event,
                            std::initializer_list<LogField> fields);

inline void LogInfo(absl::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kInfo, event, fields);
}
inline void LogWarning(absl::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kWarning, event, fields);
}
inline void LogError(absl::string_view event, std::initializer_list<LogField> fields = {}) {
  Log(LogLevel::kError, event, fields);
}

}  // namespace egress

#endif  // EGRESS_COMMON_LOG_H_
