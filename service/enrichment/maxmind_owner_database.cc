#include "service/enrichment/maxmind_owner_database.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace egress {

struct MmdbHandle {
  MMDB_s mmdb;
  bool open = false;
  ~MmdbHandle() {
    if (open) MMDB_close(&mmdb);
  }
};

namespace {

std::string StringValue(MMDB_entry_s* entry, const char* const* path) {
  MMDB_entry_data_s data;
  if (MMDB_aget_value(entry, &data, path) != MMDB_SUCCESS || !data.has_data ||
      data.type != MMDB_DATA_TYPE_UTF8_STRING) {
    return "";
  }
  return std::string(data.utf8_string, data.data_size);
}

uint32_t AsnValue(MMDB_entry_s* entry) {
  static const char* const kPath[] = {"autonomous_system_number", nullptr};
  MMDB_entry_data_s data;
  if (MMDB_aget_value(entry, &data, kPath) != MMDB_SUCCESS || !data.has_data) return 0;
  switch (data.type) {
    case MMDB_DATA_TYPE_UINT32:
      return data.uint32;
    case MMDB_DATA_TYPE_UINT16:
      return data.uint16;
    case MMDB_DATA_TYPE_UINT64:
      return static_cast<uint32_t>(data.uint64);
    default:
      return 0;
  }
}

absl::StatusOr<std::shared_ptr<const MmdbHandle>> Open(const std::string& path,
                                                       absl::Time* built_at) {
  // Opened in place: MMDB_s is not documented as copyable.
  auto handle = std::make_shared<MmdbHandle>();
  int status = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &handle->mmdb);
  if (status != MMDB_SUCCESS) {
    // MMDB_open has released what it allocated.
    std::string message = absl::StrCat(path, ": ", MMDB_strerror(status));
    if (status == MMDB_FILE_OPEN_ERROR) return absl::NotFoundError(message);
    return absl::DataLossError(message);
  }
  handle->open = true;
  if (built_at != nullptr) {
    *built_at = absl::FromUnixSeconds(static_cast<int64_t>(handle->mmdb.metadata.build_epoch));
  }
  return std::shared_ptr<const MmdbHandle>(std::move(handle));
}

}  // namespace

MaxmindOwnerDatabase::MaxmindOwnerDatabase(const std::string& path)
    : reloader_(path, "maxmind", &Open, [](const MmdbHandle&) { return uint64_t{0}; }) {}

absl::StatusOr<std::unique_ptr<MaxmindOwnerDatabase>> MaxmindOwnerDatabase::Create(
    const std::string& path) {
  std::unique_ptr<MaxmindOwnerDatabase> db(new MaxmindOwnerDatabase(path));
  EGRESS_RETURN_IF_ERROR(db->reloader_.Reload());
  return db;
}

std::optional<OwnerInfo> MaxmindOwnerDatabase::Lookup(const IpAddress& raw) const {
  const IpAddress ip = raw.Unmapped();
  std::shared_ptr<const MmdbHandle> handle = reloader_.Current();
  sockaddr_storage storage{};
  if (ip.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(ip.v4());
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
    sin6->sin6_family = AF_INET6;
    std::memcpy(sin6->sin6_addr.s6_addr, ip.v6_bytes().data(), 16);
  }
  int mmdb_error = MMDB_SUCCESS;
  // libmaxminddb takes a non-const MMDB_s but only reads it.
  MMDB_lookup_result_s result = MMDB_lookup_sockaddr(
      const_cast<MMDB_s*>(&handle->mmdb), reinterpret_cast<const sockaddr*>(&storage), &mmdb_error);
  if (mmdb_error != MMDB_SUCCESS || !result.found_entry) return std::nullopt;

  // An IPv4 address in an IPv6 tree comes back with the ::/96 prefix counted.
  int prefix = result.netmask;
  if (ip.is_v4() && handle->mmdb.metadata.ip_version == 6) prefix -= 96;
  if (prefix < 0 || prefix > ip.bit_length()) return std::nullopt;
  IpAddress first = ip;
  if (ip.is_v4()) {
    uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
    first = IpAddress::FromV4(ip.v4() & mask);
  } else {
    std::array<uint8_t, 16> bytes = ip.v6_bytes();
    for (int bit = prefix; bit < 128; ++bit)
      bytes[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
    first = IpAddress::FromV6(bytes);
  }
  absl::StatusOr<IpNetwork> network = IpNetwork::Create(first, prefix);
  if (!network.ok()) return std::nullopt;

  static const char* const kOrg[] = {"autonomous_system_organization", nullptr};
  static const char* const kCountry[] = {"country", "iso_code", nullptr};
  static const char* const kRegistered[] = {"registered_country", "iso_code", nullptr};
  OwnerInfo info{*network, AsnValue(&result.entry), StringValue(&result.entry, kOrg),
                 StringValue(&result.entry, kCountry), false};
  if (info.country.empty()) info.country = StringValue(&result.entry, kRegistered);
  if (info.country.size() != 2) info.country.clear();
  return info;
}

absl::Status MaxmindOwnerDatabase::Reload() { return reloader_.Reload(); }
absl::Status MaxmindOwnerDatabase::ReloadIfChanged() { return reloader_.ReloadIfChanged(); }
OwnerDatabaseInfo MaxmindOwnerDatabase::info() const { return reloader_.info(); }

}  // namespace egress
