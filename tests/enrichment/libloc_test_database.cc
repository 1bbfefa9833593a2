#include "tests/enrichment/libloc_test_database.h"

#include <cstdio>

extern "C" {
#include <libloc/as.h>
#include <libloc/libloc.h>
#include <libloc/network.h>
#include <libloc/writer.h>
}

#include "absl/strings/str_cat.h"

namespace egress::testing {

absl::Status WriteLiblocDatabase(const std::string& path, const std::vector<TestNetwork>& networks,
                                 const std::vector<TestAs>& ases) {
  loc_ctx* ctx = nullptr;
  if (loc_new(&ctx) != 0) return absl::InternalError("loc_new");
  loc_writer* writer = nullptr;
  absl::Status status;
  if (loc_writer_new(ctx, &writer, nullptr, nullptr) != 0) {
    loc_unref(ctx);
    return absl::InternalError("loc_writer_new");
  }
  loc_writer_set_vendor(writer, "egress tests");
  for (const TestAs& a : ases) {
    loc_as* as = nullptr;
    if (loc_writer_add_as(writer, &as, a.asn) != 0) {
      status = absl::InternalError(absl::StrCat("add as ", a.asn));
      break;
    }
    loc_as_set_name(as, a.name.c_str());
    loc_as_unref(as);
  }
  for (const TestNetwork& n : networks) {
    if (!status.ok()) break;
    loc_network* network = nullptr;
    if (loc_writer_add_network(writer, &network, n.cidr.c_str()) != 0) {
      status = absl::InternalError(absl::StrCat("add network ", n.cidr));
      break;
    }
    if (n.asn != 0) loc_network_set_asn(network, n.asn);
    if (!n.country.empty()) loc_network_set_country_code(network, n.country.c_str());
    if (n.anycast) loc_network_set_flag(network, LOC_NETWORK_FLAG_ANYCAST);
    loc_network_unref(network);
  }
  if (status.ok()) {
    std::string tmp = path + ".tmp";
    FILE* f = fopen(tmp.c_str(), "w");
    if (f == nullptr) {
      status = absl::InternalError(absl::StrCat("cannot write ", tmp));
    } else {
      int r = loc_writer_write(writer, f, LOC_DATABASE_VERSION_LATEST);
      fclose(f);
      if (r != 0) {
        status = absl::InternalError("loc_writer_write");
      } else if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        status = absl::InternalError("rename");
      }
    }
  }
  loc_writer_unref(writer);
  loc_unref(ctx);
  return status;
}

}  // namespace egress::testing
