/* support.h -- helpers shared by the tests: a failing allocator for the
 * out-of-memory tests and small key/value makers. */
#ifndef MT_TEST_SUPPORT_H
#define MT_TEST_SUPPORT_H

#include <memtable/memtable.h>
#include <stddef.h>
#include <stdint.h>

/* Installs an allocator that fails the n-th allocation from now (n >= 0;
 * -1 never fails) and counts live blocks. */
void fail_alloc_install(long fail_at);
void fail_alloc_uninstall(void);
long fail_alloc_live(void);  /* blocks allocated and not yet freed */
long fail_alloc_calls(void); /* allocations attempted since install */
int fail_alloc_failed(void); /* whether the planned failure happened */

static inline mt_slice S(const char *s) {
  mt_slice x = {s, __builtin_strlen(s)};
  return x;
}

#endif
