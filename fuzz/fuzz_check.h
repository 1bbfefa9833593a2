// FUZZ_CHECK: an invariant of the code under test. A violation aborts, which
// libFuzzer reports as a crash and saves the input.
#ifndef EGRESS_FUZZ_FUZZ_CHECK_H_
#define EGRESS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                  \
  do {                                                                                         \
    if (!(condition)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

#endif  // EGRESS_FUZZ_FUZZ_CHECK_H_
