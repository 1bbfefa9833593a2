// How egressctl prints results: aligned tables for people, JSON for scripts.
#ifndef EGRESS_TOOLS_EGRESSCTL_OUTPUT_H_
#define EGRESS_TOOLS_EGRESSCTL_OUTPUT_H_

#include <ostream>
#include <string>
#include <vector>

#include "google/protobuf/message.h"

namespace egress::ctl {

enum class OutputFormat { kTable, kJson };

// A table: header row plus data rows, printed with aligned columns.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

void PrintTable(const Table& table, std::ostream& out);

// The message in proto3 JSON (field names as in the .proto, lowerCamelCase).
void PrintJson(const google::protobuf::Message& message, std::ostream& out);

}  // namespace egress::ctl

#endif  // EGRESS_TOOLS_EGRESSCTL_OUTPUT_H_
