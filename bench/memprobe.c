/* memprobe.c -- memory two ways, for one rep, in a process of its own:
 *  - bytes per entry by the library's accounting (mt_memtable_memory_usage)
 *    beside the growth of the process's resident set (/proc/self/statm)
 *    over an untimed fill of N random keys, and
 *  - how many entries a memory budget holds: random keys are added until
 *    the next add would take memory_usage past the budget (the way a store
 *    sizes its memtable with memtable_bytes).
 * The keys are generated before the first measurement, and glibc's free
 * memory is handed back (malloc_trim) before it, so the resident growth is
 * the memtable's own allocations (arena blocks, buckets, index arrays).
 *
 * Thread safety: single-threaded; mtbench calls it in a fresh child.
 *
 * Invariants:
 *  1. out->budget_entries counts only adds after which memory_usage was
 *     still <= budget.
 *  2. A failure leaves a message in out->error and every figure that was
 *     measured before it.
 */
#define _POSIX_C_SOURCE 200809L
#include "mtbench.h"
#include "wl_internal.h"

#include <stdlib.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* Resident bytes of this process, or 0 when /proc is not there. */
static uint64_t resident_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long long size = 0, res = 0;
  if (!f) return 0;
  int n = fscanf(f, "%llu %llu", &size, &res);
  fclose(f);
  return n == 2 ? (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static void trim(void) {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

int mtb_memory_probe(const char *spec, const mtw_config *c, uint64_t budget, mtb_mem *out) {
  memset(out, 0, sizeof *out);
  out->budget = budget;
  mtw_config cfg = *c;
  cfg.no_latency = 1;
  mtw_ctx *ctx;
  char err[256];
  if (mtw_ctx_new(&ctx, spec, &cfg, err, sizeof err)) {
    snprintf(out->error, sizeof out->error, "%.190s", err);
    return -1;
  }
  size_t ks = cfg.key_size, vs = cfg.value_size;
  uint64_t n = cfg.num;
  const uint8_t *keys = wl_keys_get(ctx, KEYS_RANDOM, n, ks);
  uint8_t *kbuf = malloc(ks);
  int rc = MT_OK;
  mt_memtable *m = NULL;
  if (!keys || !kbuf || !wl_values_reserve(ctx, vs)) {
    snprintf(out->error, sizeof out->error, "out of memory for %llu keys", (unsigned long long)n);
    goto done;
  }
  trim();
  uint64_t rss0 = resident_bytes();
  if ((rc = mt_memtable_new(&m, spec, NULL)) != MT_OK) goto fail;
  for (uint64_t i = 0; i < n; i++)
    if ((rc = mt_memtable_add(m, i + 1, MT_PUT, wl_slice(keys + i * ks, ks),
                              wl_slice(wl_value(ctx, i), vs))) != MT_OK)
      goto fail;
  uint64_t rss1 = resident_bytes();
  out->n = n;
  out->lib_bpe = (double)mt_memtable_memory_usage(m) / (double)n;
  out->rss_bpe = rss1 > rss0 ? (double)(rss1 - rss0) / (double)n : 0;
  mt_memtable_unref(m);
  m = NULL;
  trim();
  if (budget) {
    if ((rc = mt_memtable_new(&m, spec, NULL)) != MT_OK) goto fail;
    for (uint64_t i = 0; i < UINT32_MAX; i++) {
      mt_slice key = wl_rand_key(ctx, i, ks, kbuf);
      if ((rc = mt_memtable_add(m, i + 1, MT_PUT, key, wl_slice(wl_value(ctx, i), vs))) != MT_OK)
        goto fail;
      if (mt_memtable_memory_usage(m) > budget) break;
      out->budget_entries = i + 1;
    }
  }
  goto done;
fail:
  snprintf(out->error, sizeof out->error, "memory probe: %s %s", mt_strerror(rc),
           mt_last_error());
done:
  if (m) mt_memtable_unref(m);
  free(kbuf);
  mtw_ctx_free(ctx);
  return out->error[0] ? -1 : 0;
}
