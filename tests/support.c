/* support.c -- the failing allocator behind the out-of-memory tests. */
#include "support.h"

#include <stdatomic.h>
#include <stdlib.h>

static _Atomic long countdown = -1, live, calls, failed;

static void *f_malloc(void *ctx, size_t n) {
  atomic_fetch_add(&calls, 1);
  if (atomic_load(&countdown) >= 0 && atomic_fetch_sub(&countdown, 1) == 0) {
    atomic_store(&failed, 1);
    return NULL;
  }
  void *p = malloc(n);
  if (p) atomic_fetch_add(&live, 1);
  return p;
}
static void *f_realloc(void *ctx, void *p, size_t n) {
  if (!p) return f_malloc(ctx, n);
  atomic_fetch_add(&calls, 1);
  if (atomic_load(&countdown) >= 0 && atomic_fetch_sub(&countdown, 1) == 0) {
    atomic_store(&failed, 1);
    return NULL;
  }
  return realloc(p, n);
}
static void f_free(void *ctx, void *p) {
  if (p) atomic_fetch_sub(&live, 1);
  free(p);
}

void fail_alloc_install(long fail_at) {
  atomic_store(&countdown, fail_at);
  atomic_store(&live, 0);
  atomic_store(&calls, 0);
  atomic_store(&failed, 0);
  mt_allocator a = {f_malloc, f_realloc, f_free, NULL};
  mt_set_allocator(&a);
}
void fail_alloc_uninstall(void) { mt_set_allocator(NULL); }
long fail_alloc_live(void) { return atomic_load(&live); }
long fail_alloc_calls(void) { return atomic_load(&calls); }
int fail_alloc_failed(void) { return (int)atomic_load(&failed); }
