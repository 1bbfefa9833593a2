#include "agent/spool_dump.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "agent/spool_record.h"
#include "common/files.h"
#include "common/ip_address.h"
#include "common/protocol_proto.h"

namespace egress::agent {
namespace {

// "tcp", "udp", ... as users type them; "proto<N>" for a value this build
// does not know.
std::string ProtocolName(v1::Protocol protocol) {
  const std::optional<Protocol> known = ProtocolFromProto(protocol);
  if (!known.has_value()) return absl::StrCat("proto", static_cast<int>(protocol));
  return std::string(egress::ProtocolName(*known));
}

std::string DayText(const v1::Date& day) {
  return absl::StrFormat("%04d-%02d-%02d", day.year(), day.month(), day.day());
}

std::string TimeText(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ",
                          absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos()),
                          absl::UTCTimeZone());
}

std::string IpText(const std::string& bytes) {
  auto ip = IpAddress::FromBytes(
      absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  return ip.ok() ? ip->ToString() : "invalid";
}

}  // namespace

absl::StatusOr<std::string> DumpSpool(const std::string& state_dir, const std::string& spool_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(spool_dir, ec)) {
    return absl::NotFoundError(absl::StrCat("no spool directory ", spool_dir));
  }
  std::string out;

  // Persisted state: read only (FileStateStore::Open would create the directory).
  {
    uint64_t version = 0;
    int accounts = 0;
    if (auto data = ReadWholeFile(state_dir + "/rules.pb"); data.ok()) {
      v1::RuleSet rules;
      if (rules.ParseFromString(*data)) {
        version = rules.version();
        accounts = rules.accounts_size();
      }
    }
    std::string zone;
    if (auto data = ReadWholeFile(state_dir + "/time_zone"); data.ok()) {
      zone = std::string(absl::StripAsciiWhitespace(*data));
    }
    absl::StrAppend(&out, "state rule_version=", version, " accounts=", accounts,
                    " time_zone=", zone.empty() ? "-" : zone, "\n");
  }

  uint64_t acked = 0, mark = 0;
  bool anchored = false;
  if (auto data = ReadWholeFile(spool_dir + "/acked"); data.ok()) {
    std::istringstream in(*data);
    std::string a, m, f;
    if (in >> a && absl::SimpleAtoi(a, &acked)) anchored = true;
    if (in >> m) (void)absl::SimpleAtoi(m, &mark);
    if (in >> f) anchored = f == "1";
  }

  std::map<uint64_t, std::string> segments;
  for (const auto& item : std::filesystem::directory_iterator(spool_dir, ec)) {
    const std::string name = item.path().filename().string();
    absl::string_view view = name;
    uint64_t first = 0;
    if (absl::ConsumePrefix(&view, "seg-") && absl::ConsumeSuffix(&view, ".log") &&
        absl::SimpleAtoi(view, &first)) {
      segments[first] = item.path().string();
    }
  }

  using Key = std::tuple<uint32_t, std::string, std::string, int, uint32_t, int>;
  struct Sum {
    uint64_t count = 0;
    google::protobuf::Timestamp first, last;
  };
  std::map<Key, Sum> sums;
  std::map<std::tuple<std::string, int>, std::pair<uint64_t, bool>> losses;
  uint64_t bytes = 0, batches = 0, damaged = 0, first_seq = 0, last_seq = 0;
  uint64_t accept = 0, reject = 0;
  auto before = [](const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
    return std::make_pair(a.seconds(), a.nanos()) < std::make_pair(b.seconds(), b.nanos());
  };
  for (const auto& [first, path] : segments) {
    auto data = ReadWholeFile(path);
    if (!data.ok()) continue;  // deleted meanwhile (acked)
    bytes += data->size();
    size_t offset = 0;
    while (offset < data->size()) {
      auto record = DecodeSpoolRecord(absl::string_view(*data).substr(offset));
      if (!record.ok()) {
        ++damaged;  // a torn tail (or a record being written right now)
        break;
      }
      offset += record->header_bytes + record->payload_bytes;
      mark = std::max(mark, record->high_water_mark);
      const v1::RecordBatch& batch = record->batch;
      if (batch.seq() <= acked) continue;
      ++batches;
      if (first_seq == 0) first_seq = batch.seq();
      last_seq = std::max(last_seq, batch.seq());
      for (const v1::ConnectionRecord& r : batch.records()) {
        Sum& sum =
            sums[{r.uid(), DayText(r.day()), IpText(r.dst_ip()), static_cast<int>(r.protocol()),
                  r.dst_port(), static_cast<int>(r.action())}];
        if (sum.count == 0 || before(r.first_seen(), sum.first)) sum.first = r.first_seen();
        if (sum.count == 0 || before(sum.last, r.last_seen())) sum.last = r.last_seen();
        sum.count += r.count();
        (r.action() == v1::ACTION_REJECT ? reject : accept) += r.count();
      }
      for (const v1::LossReport& l : batch.losses()) {
        auto& loss = losses[{DayText(l.day()), static_cast<int>(l.reason())}];
        loss.first += l.events();
        loss.second = loss.second || l.size_unknown();
      }
    }
  }
  absl::StrAppend(&out, "spool dir=", spool_dir, " segments=", segments.size(), " bytes=", bytes,
                  " acked_seq=", acked, " high_water_mark=", mark, " anchored=", anchored ? 1 : 0,
                  " unacked_batches=", batches, " first_seq=", first_seq, " last_seq=", last_seq,
                  " damaged_records=", damaged, "\n");
  for (const auto& [key, sum] : sums) {
    const auto& [uid, day, dst, protocol, port, action] = key;
    absl::StrAppend(&out, "record uid=", uid, " day=", day, " dst=", dst,
                    " protocol=", ProtocolName(static_cast<v1::Protocol>(protocol)), " port=", port,
                    " action=", action == v1::ACTION_REJECT ? "REJECT" : "ACCEPT",
                    " count=", sum.count, " first_seen=", TimeText(sum.first),
                    " last_seen=", TimeText(sum.last), "\n");
  }
  for (const auto& [key, loss] : losses) {
    absl::StrAppend(&out, "loss day=", std::get<0>(key),
                    " reason=", v1::LossReport::Reason_Name(std::get<1>(key)),
                    " events=", loss.first, " size_unknown=", loss.second ? 1 : 0, "\n");
  }
  absl::StrAppend(&out, "total records=", sums.size(), " accept=", accept, " reject=", reject,
                  "\n");
  return out;
}

}  // namespace egress::agent
