/* wl_internal.h -- what the workload files share: the context, key and value
 * generation (the standard workload's definitions, reimplemented here so the
 * project builds without ../shared), timing and error helpers.
 *
 * Thread safety: as workloads.h; the key arrays and value table of a context
 * are read-only while a workload's threads run.
 *
 * Invariants:
 *  1. ctx->keys[k] holds keys 0..n-1 of kind k at key size ks, packed.
 *  2. ctx->values is 'a'..'z' repeated: value i (size vs) is
 *     ctx->values + mix(i) % 26, byte for byte the anchors' wl_value.
 *  3. ctx->fixture, when set, holds fixture_n random keys of size
 *     fixture_ks with values of fixture_vs bytes; wl_fixture freezes it
 *     before any read workload sees it.
 */
#ifndef MTBENCH_WL_INTERNAL_H
#define MTBENCH_WL_INTERNAL_H

#include "latency.h"
#include "workloads.h"

#include <memtable/memtable.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { KEYS_RANDOM, KEYS_MISSING, KEYS_SEQ, KEYS_KINDS };

typedef struct wl_keys {
  uint8_t *data;
  uint64_t n;
  size_t ks;
} wl_keys;

struct mtw_ctx {
  char spec[256];  /* as given */
  char canon[256]; /* mt_memtable_spec of a memtable made from it */
  mtw_config cfg;
  wl_keys keys[KEYS_KINDS];
  uint8_t *values; /* 26 + max value size bytes */
  size_t values_len;
  mt_memtable *fixture;
  uint64_t fixture_n;
  size_t fixture_ks, fixture_vs;
  mtw_trace *trace;
};

static inline uint64_t wl_mix(uint64_t x) { /* splitmix64 finaliser */
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static inline void wl_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = (uint8_t)v;
    v >>= 8;
  }
}

static inline double wl_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* True every 1024th op once the phase has run longer than the cap. */
static inline bool wl_capped(const mtw_ctx *ctx, uint64_t i, double t0) {
  return (i & 1023) == 1023 && wl_now() - t0 > ctx->cfg.cap_s;
}

static inline const uint8_t *wl_value(const mtw_ctx *ctx, uint64_t i) {
  return ctx->values + wl_mix(i) % 26;
}

static inline mt_slice wl_slice(const void *p, size_t n) {
  mt_slice s = {p, n};
  return s;
}

/* Key i of a kind (KEYS_*) at size ks; bytes 16.. come from mix(i ^ ~j). */
void wl_make_key(uint8_t *p, int kind, uint64_t i, size_t ks, uint64_t prefixes);
/* The key and value of fill op i (key kind `kind`): from the pregenerated
 * arrays, or with cfg.anchor_gen made here in buf (ks + vs bytes) the way
 * the anchors' timed loop makes them, so that their cost is timed alike. */
static inline void wl_fill_op(const mtw_ctx *ctx, int kind, const uint8_t *keys, uint64_t i,
                              size_t ks, size_t vs, uint8_t *buf, mt_slice *key,
                              mt_slice *val) {
  if (!ctx->cfg.anchor_gen) {
    *key = wl_slice(keys + i * ks, ks);
    *val = wl_slice(wl_value(ctx, i), vs);
    return;
  }
  wl_make_key(buf, kind, i, ks, ctx->cfg.prefixes);
  uint64_t x = wl_mix(i);
  for (size_t k = 0; k < vs; k++) buf[ks + k] = (uint8_t)('a' + (x + k) % 26);
  *key = wl_slice(buf, ks);
  *val = wl_slice(buf + ks, vs);
}

/* Random key idx for a random-order op (a read, a seek, a mix op): made
 * here in buf (ks bytes) from idx -- two mixes, a few ns -- rather than
 * loaded from the pregenerated array, whose random access would add a
 * cache miss per op that the anchors' loop does not pay. */
static inline mt_slice wl_rand_key(const mtw_ctx *ctx, uint64_t idx, size_t ks, uint8_t *buf) {
  wl_make_key(buf, KEYS_RANDOM, idx, ks, ctx->cfg.prefixes);
  return wl_slice(buf, ks);
}

/* Keys 0..n-1 of a kind at size ks (generated on first use); NULL on ENOMEM. */
const uint8_t *wl_keys_get(mtw_ctx *ctx, int kind, uint64_t n, size_t ks);
/* Makes sure the value table covers vs bytes; false on ENOMEM. */
bool wl_values_reserve(mtw_ctx *ctx, size_t vs);

/* Sets out->error from a format and returns -1. */
int wl_fail(mtw_result *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Fails out with the memtable status rc of `what`; returns -1. */
int wl_fail_mt(mtw_result *out, const char *what, int rc);
/* A new memtable of the context's rep, or -1 with out->error set. */
int wl_memtable(mtw_ctx *ctx, mt_memtable **m, mtw_result *out);
void wl_counter(mtw_result *out, const char *name, double value);
void wl_set_bytes(mtw_result *out, mt_memtable *m, uint64_t entries);

/* Fills m with random keys 0..n-1 (timed; stops at the cap); returns entries
 * added or -1 with out->error set. */
int64_t wl_fill_random(mtw_ctx *ctx, mt_memtable *m, uint64_t n, size_t ks, size_t vs,
                       mtw_result *out);
/* The frozen fixture of n random keys at (ks, vs), built untimed if absent. */
mt_memtable *wl_fixture(mtw_ctx *ctx, size_t ks, size_t vs, uint64_t *filled,
                        mtw_result *out);
/* Frees the fixture.  Workloads that build their own memtable call it
 * first, so that (as in the anchors) no other table is alive while they
 * run; the next read workload rebuilds the fixture untimed. */
void wl_drop_fixture(mtw_ctx *ctx);
/* Index sequence of n picks over [0, range) by dist (salt varies uniform). */
uint32_t *wl_picks(mtw_dist dist, double theta, uint64_t n, uint64_t range, uint64_t salt);

size_t wl_key_size(const mtw_ctx *ctx, const mtw_workload *w);
size_t wl_value_size(const mtw_ctx *ctx, const mtw_workload *w);

/* Extended workloads (workloads_more.c) and the trace replay (trace.c). */
int wl_zipfread(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);
int wl_readwhilewriting(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);
int wl_mix_run(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);
int wl_prefixscan(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);
int wl_updateheavy(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);
int wl_trace(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);

/* Research workloads (workloads_research.c) and their key choosers
 * (workloads_research_gen.c; docs/bench.md "Research workloads"). */
#define WL_YCSB_ITEMS 10000000000ULL /* ScrambledZipfianGenerator's item space */
typedef struct wl_zipfian {    /* YCSB's ZipfianGenerator over [0, items) */
  double theta, alpha, zeta2, zetan, eta;
  uint64_t items; /* zetan = sum_{i=1}^{items} i^-theta */
} wl_zipfian;
void wl_zipfian_init(wl_zipfian *z, uint64_t items, double theta);
/* A rank in [0, n) from u in [0, 1); extends zetan when n grows. */
uint64_t wl_zipfian_next(wl_zipfian *z, uint64_t n, double u);
uint64_t wl_fnv64(uint64_t v); /* YCSB's Utils.fnvhash64 */
/* ScrambledZipfianGenerator: fnv64(rank over WL_YCSB_ITEMS) % range. */
uint64_t wl_scrambled_next(wl_zipfian *z, uint64_t range, double u);
/* SkewedLatestGenerator: last - rank over last + 1 items, in [0, last]. */
uint64_t wl_latest_next(wl_zipfian *z, uint64_t last, double u);
/* 0..n-1 with about k_pct% of positions displaced by 1..l; *displaced
 * counts positions p with order[p] != p.  NULL on ENOMEM. */
uint32_t *wl_nearsorted(uint64_t n, double k_pct, uint64_t l, uint64_t seed,
                        uint64_t *displaced);
int wl_ycsb(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);
int wl_insertread(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);
int wl_nearsorted_run(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);
int wl_phases(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);
int wl_deleteheavy(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);

#endif /* MTBENCH_WL_INTERNAL_H */
