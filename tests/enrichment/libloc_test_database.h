// Builds small libloc databases for tests with libloc's own writer.
#ifndef EGRESS_TESTS_ENRICHMENT_LIBLOC_TEST_DATABASE_H_
#define EGRESS_TESTS_ENRICHMENT_LIBLOC_TEST_DATABASE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace egress::testing {

struct TestNetwork {
  std::string cidr;
  uint32_t asn = 0;
  std::string country;
  bool anycast = false;
};

struct TestAs {
  uint32_t asn;
  std::string name;
};

// Writes a libloc database to `path` (atomically: a temporary file renamed).
absl::Status WriteLiblocDatabase(const std::string& path, const std::vector<TestNetwork>& networks,
                                 const std::vector<TestAs>& ases);

}  // namespace egress::testing

#endif  // EGRESS_TESTS_ENRICHMENT_LIBLOC_TEST_DATABASE_H_
