/* test_check.h -- the CHECK macro of mtbench's own tests (test_workloads.c,
 * test_latency.c, test_research.c): counts a passed or failed condition and
 * prints "FAIL file:line: condition: <message>" for a failed one.  Each
 * test ends with test_check_report(), which prints "N passed, N failed" and
 * gives the exit status (1 on any failure).
 *
 * Thread safety: CHECK updates plain counters; call it from one thread at a
 * time (the tests check after joining their threads).
 *
 * Invariants:
 *  1. Every CHECK adds one to exactly one of test_passed, test_failed.
 */
#ifndef MTBENCH_TEST_CHECK_H
#define MTBENCH_TEST_CHECK_H

#include <stdio.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                                \
  do {                                                                                  \
    if (cond) {                                                                         \
      test_passed++;                                                                    \
    } else {                                                                            \
      test_failed++;                                                                    \
      printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                          \
      printf(__VA_ARGS__);                                                              \
      printf("\n");                                                                     \
    }                                                                                   \
  } while (0)

static inline int test_check_report(void) {
  printf("%d passed, %d failed\n", test_passed, test_failed);
  return test_failed ? 1 : 0;
}

#endif /* MTBENCH_TEST_CHECK_H */
