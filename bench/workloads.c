/* workloads.c -- the workload table, the per-rep context (keys, values, the
 * read fixture) and the standard workload of ../shared/WORKLOAD.md:
 * fillrandom (+ bytes/entry), readrandom (frozen), readmissing, scan,
 * seekrandom_next10, fillseq, fillrandom_Nthreads.
 *
 * Thread safety: see workloads.h.  fillrandom_Nthreads starts T threads that
 * share the memtable (the memtable makes concurrent adds safe) and read the
 * context's key array and value table, which nobody writes meanwhile; each
 * thread writes only its own slot of the result array; pthread_join orders
 * those writes before the main thread reads them.
 *
 * Invariants: those of workloads.h and wl_internal.h.  Operation order and
 * key choice match shared/anchors/anchor_bench.cc exactly when dist is
 * uniform: reads pick mix(i + 7) % filled, seeks mix(i + 99) % filled.
 */
#define _POSIX_C_SOURCE 200809L
#include "wl_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

static volatile uint64_t g_touch; /* scans read a byte of every key into it */

void mtw_config_default(mtw_config *c) {
  memset(c, 0, sizeof *c);
  c->num = 1000000;
  c->prefixes = 10000;
  c->key_size = 16;
  c->value_size = 100;
  c->threads = 2;
  c->dist = MTW_UNIFORM;
  c->zipf_theta = 0.99;
  c->cap_s = 20;
  c->mix = (mtw_mix){70, 25, 5};
  c->scan_len = 10;
  c->versions = 16;
  c->seed = 0x6d7462656e6368ULL; /* "mtbench" */
  c->interval_ms = 10;
  c->nearsort_k = 10;
  c->nearsort_l = 100;
}

/* ---- helpers ---------------------------------------------------------------- */

int wl_fail(mtw_result *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out->error, sizeof out->error, fmt, ap);
  va_end(ap);
  return -1;
}

int wl_fail_mt(mtw_result *out, const char *what, int rc) {
  const char *detail = mt_last_error();
  return wl_fail(out, "%s: %s%s%s", what, mt_strerror(rc), *detail ? ": " : "", detail);
}

int wl_memtable(mtw_ctx *ctx, mt_memtable **m, mtw_result *out) {
  int rc = mt_memtable_new(m, ctx->spec, NULL);
  if (rc != MT_OK) {
    char what[300];
    snprintf(what, sizeof what, "mt_memtable_new(\"%s\")", ctx->spec);
    return wl_fail_mt(out, what, rc);
  }
  return 0;
}

void wl_counter(mtw_result *out, const char *name, double value) {
  if (out->ncounters >= MTW_MAX_COUNTERS) return;
  out->counters[out->ncounters].name = name;
  out->counters[out->ncounters].value = value;
  out->ncounters++;
}

void wl_set_bytes(mtw_result *out, mt_memtable *m, uint64_t entries) {
  if (entries) out->bytes_per_entry = (double)mt_memtable_memory_usage(m) / (double)entries;
}

size_t wl_key_size(const mtw_ctx *ctx, const mtw_workload *w) {
  return w->key_size ? w->key_size : ctx->cfg.key_size;
}

size_t wl_value_size(const mtw_ctx *ctx, const mtw_workload *w) {
  return w->value_size ? w->value_size : ctx->cfg.value_size;
}

void wl_make_key(uint8_t *p, int kind, uint64_t i, size_t ks, uint64_t prefixes) {
  switch (kind) {
  case KEYS_RANDOM:
    wl_be64(p, wl_mix(i) % prefixes);
    wl_be64(p + 8, wl_mix(i ^ 0x5bd1e995ULL));
    break;
  case KEYS_MISSING:
    wl_be64(p, wl_mix(i) % prefixes);
    wl_be64(p + 8, wl_mix(i ^ 0xdeadbeefcafeULL));
    break;
  default:
    wl_be64(p, 0);
    wl_be64(p + 8, i);
    break;
  }
  for (size_t off = 16, j = 0; off < ks; off += 8, j++) {
    uint8_t t[8];
    wl_be64(t, wl_mix(i ^ ~(uint64_t)j));
    memcpy(p + off, t, ks - off < 8 ? ks - off : 8);
  }
}

const uint8_t *wl_keys_get(mtw_ctx *ctx, int kind, uint64_t n, size_t ks) {
  wl_keys *k = &ctx->keys[kind];
  if (k->data && k->ks == ks && k->n >= n) return k->data;
  free(k->data);
  k->data = malloc(n && ks ? n * ks : 1);
  k->n = k->data ? n : 0;
  k->ks = ks;
  for (uint64_t i = 0; i < k->n; i++) wl_make_key(k->data + i * ks, kind, i, ks, ctx->cfg.prefixes);
  return k->data;
}

bool wl_values_reserve(mtw_ctx *ctx, size_t vs) {
  if (ctx->values && ctx->values_len >= vs + 26) return true;
  uint8_t *v = realloc(ctx->values, vs + 26);
  if (!v) return false;
  for (size_t j = 0; j < vs + 26; j++) v[j] = (uint8_t)('a' + j % 26);
  ctx->values = v;
  ctx->values_len = vs + 26;
  return true;
}

/* YCSB's zipfian generator (Gray et al.): rank r in [0, n) with probability
 * proportional to 1 / (r + 1)^theta. */
typedef struct zipf {
  double n, theta, alpha, zetan, eta, half_pow;
} zipf;

static void zipf_init(zipf *z, uint64_t n, double theta) {
  double zeta2 = 1.0 + pow(0.5, theta), zetan = 0;
  for (uint64_t i = 1; i <= n; i++) zetan += 1.0 / pow((double)i, theta);
  z->n = (double)n;
  z->theta = theta;
  z->alpha = 1.0 / (1.0 - theta);
  z->zetan = zetan;
  z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / zetan);
  z->half_pow = zeta2;
}

static uint64_t zipf_rank(const zipf *z, double u) {
  double uz = u * z->zetan;
  if (uz < 1.0) return 0;
  if (uz < z->half_pow) return 1;
  uint64_t r = (uint64_t)(z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
  return r >= (uint64_t)z->n ? (uint64_t)z->n - 1 : r;
}

uint32_t *wl_picks(mtw_dist dist, double theta, uint64_t n, uint64_t range, uint64_t salt) {
  uint32_t *p = malloc((n ? n : 1) * sizeof *p);
  if (!p || !range) return p;
  zipf z = {0, 0, 0, 0, 0, 0};
  if (dist == MTW_ZIPF) zipf_init(&z, range, theta);
  for (uint64_t i = 0; i < n; i++) {
    if (dist == MTW_UNIFORM) {
      p[i] = (uint32_t)(wl_mix(i + salt) % range);
    } else if (dist == MTW_SEQ) {
      p[i] = (uint32_t)(i % range);
    } else { /* scrambled: hot ranks land anywhere in the key order */
      double u = (double)(wl_mix(i + salt) >> 11) * 0x1.0p-53;
      p[i] = (uint32_t)(wl_mix(zipf_rank(&z, u) ^ 0x2545f491ULL) % range);
    }
  }
  return p;
}

int64_t wl_fill_random(mtw_ctx *ctx, mt_memtable *m, uint64_t n, size_t ks, size_t vs,
                       mtw_result *out) {
  const uint8_t *keys = wl_keys_get(ctx, KEYS_RANDOM, n, ks);
  uint8_t *buf = malloc(ks + vs + 1);
  if (!keys || !buf || !wl_values_reserve(ctx, vs)) {
    free(buf);
    return wl_fail(out, "out of memory for %llu keys", (unsigned long long)n);
  }
  wl_lat *lat = wl_lat_open(out);
  double t0 = wl_now();
  uint64_t i = 0, t = wl_lat_now(lat);
  for (; i < n; i++) {
    mt_slice key, val;
    wl_fill_op(ctx, KEYS_RANDOM, keys, i, ks, vs, buf, &key, &val);
    int rc = mt_memtable_add(m, i + 1, MT_PUT, key, val);
    wl_lat_lap(lat, WL_OP_INSERT, &t);
    if (rc != MT_OK) {
      free(buf);
      return wl_fail_mt(out, "mt_memtable_add", rc);
    }
    if (wl_capped(ctx, i, t0)) {
      i++;
      break;
    }
  }
  out->seconds = wl_now() - t0;
  out->ops = i;
  out->want = n;
  free(buf);
  return (int64_t)i;
}

static void set_fixture(mtw_ctx *ctx, mt_memtable *m, uint64_t n, size_t ks, size_t vs) {
  if (ctx->fixture) mt_memtable_unref(ctx->fixture);
  ctx->fixture = m;
  ctx->fixture_n = n;
  ctx->fixture_ks = ks;
  ctx->fixture_vs = vs;
}

void wl_drop_fixture(mtw_ctx *ctx) { set_fixture(ctx, NULL, 0, 0, 0); }

mt_memtable *wl_fixture(mtw_ctx *ctx, size_t ks, size_t vs, uint64_t *filled,
                        mtw_result *out) {
  if (!ctx->fixture || ctx->fixture_ks != ks || ctx->fixture_vs != vs ||
      ctx->fixture_n == 0) {
    wl_drop_fixture(ctx);
    mt_memtable *m;
    if (wl_memtable(ctx, &m, out)) return NULL;
    mtw_result fill = {0};
    int64_t n = wl_fill_random(ctx, m, ctx->cfg.num, ks, vs, &fill);
    if (n < 0) {
      mt_memtable_unref(m);
      wl_fail(out, "building the read fixture: %s", fill.error);
      return NULL;
    }
    set_fixture(ctx, m, (uint64_t)n, ks, vs);
  }
  int rc = mt_memtable_freeze(ctx->fixture);
  if (rc != MT_OK) {
    wl_fail_mt(out, "mt_memtable_freeze", rc);
    return NULL;
  }
  *filled = ctx->fixture_n;
  return ctx->fixture;
}

/* ---- the standard workload ---------------------------------------------------- */

static int wl_fillrandom(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  mt_memtable *m;
  if (!wl_keys_get(ctx, KEYS_RANDOM, ctx->cfg.num, ks)) return wl_fail(out, "out of memory");
  wl_drop_fixture(ctx);
  if (wl_memtable(ctx, &m, out)) return -1;
  int64_t n = wl_fill_random(ctx, m, ctx->cfg.num, ks, vs, out);
  if (n < 0) {
    mt_memtable_unref(m);
    return -1;
  }
  wl_set_bytes(out, m, (uint64_t)n);
  if (mt_memtable_count(m) != (uint64_t)n) {
    wl_fail(out, "count %llu after %lld adds", (unsigned long long)mt_memtable_count(m),
            (long long)n);
    mt_memtable_unref(m);
    return -1;
  }
  set_fixture(ctx, m, (uint64_t)n, ks, vs); /* the anchors read this very table */
  return 0;
}

/* N gets of present keys (frozen), by dist; every one must be found. */
static int wl_readrandom(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  uint64_t filled;
  mt_memtable *m = wl_fixture(ctx, ks, vs, &filled, out);
  if (!m) return -1;
  uint32_t *pick = wl_picks(ctx->cfg.dist, ctx->cfg.zipf_theta, filled, filled, 7);
  uint8_t *kbuf = malloc(ks);
  if (!kbuf || !pick) {
    free(pick);
    free(kbuf);
    return wl_fail(out, "out of memory");
  }
  uint64_t hits = 0, i = 0;
  wl_lat *lat = wl_lat_open(out);
  double t0 = wl_now();
  uint64_t t = wl_lat_now(lat);
  for (; i < filled; i++) {
    mt_slice v;
    hits += mt_memtable_get(m, wl_rand_key(ctx, pick[i], ks, kbuf), MT_SEQ_MAX, &v, NULL) ==
            MT_OK;
    wl_lat_lap(lat, WL_OP_READ, &t);
    if (wl_capped(ctx, i, t0)) {
      i++;
      break;
    }
  }
  out->seconds = wl_now() - t0;
  out->ops = i;
  out->want = filled;
  wl_set_bytes(out, m, filled);
  free(pick);
  free(kbuf);
  if (hits != i)
    return wl_fail(out, "found %llu of %llu present keys", (unsigned long long)hits,
                   (unsigned long long)i);
  return 0;
}

static int wl_readmissing(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  uint64_t filled;
  mt_memtable *m = wl_fixture(ctx, ks, vs, &filled, out);
  if (!m) return -1;
  const uint8_t *keys = wl_keys_get(ctx, KEYS_MISSING, filled, ks);
  if (!keys) return wl_fail(out, "out of memory");
  uint64_t hits = 0, i = 0;
  wl_lat *lat = wl_lat_open(out);
  double t0 = wl_now();
  uint64_t t = wl_lat_now(lat);
  for (; i < filled; i++) {
    mt_slice v;
    hits += mt_memtable_get(m, wl_slice(keys + i * ks, ks), MT_SEQ_MAX, &v, NULL) == MT_OK;
    wl_lat_lap(lat, WL_OP_READ, &t);
    if (wl_capped(ctx, i, t0)) {
      i++;
      break;
    }
  }
  out->seconds = wl_now() - t0;
  out->ops = i;
  out->want = filled;
  if (hits) return wl_fail(out, "found %llu absent keys", (unsigned long long)hits);
  return 0;
}

/* One full ordered pass; an op is one entry. */
static int wl_scan(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  uint64_t filled;
  mt_memtable *m = wl_fixture(ctx, wl_key_size(ctx, w), wl_value_size(ctx, w), &filled, out);
  if (!m) return -1;
  mt_iter *it;
  int rc = mt_iter_new(&it, m);
  if (rc != MT_OK) return wl_fail_mt(out, "mt_iter_new", rc);
  uint64_t n = 0, touch = 0;
  wl_lat *lat = wl_lat_open(out);
  double t0 = wl_now();
  uint64_t t = wl_lat_now(lat); /* entries are timed in groups of 64 */
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it)) {
    n++;
    touch += ((const uint8_t *)mt_iter_key(it).data)[0];
    if ((n & 63) == 0) {
      uint64_t e = wl_lat_now(lat);
      wl_lat_record_n(lat, WL_OP_SCAN, t, e, 64);
      t = e;
    }
  }
  wl_lat_record_n(lat, WL_OP_SCAN, t, wl_lat_now(lat), n & 63);
  out->seconds = wl_now() - t0;
  g_touch += touch;
  rc = mt_iter_status(it);
  mt_iter_free(it);
  out->ops = n;
  out->want = filled;
  if (rc != MT_OK) return wl_fail_mt(out, "scan", rc);
  if (n != filled)
    return wl_fail(out, "scan saw %llu of %llu entries", (unsigned long long)n,
                   (unsigned long long)filled);
  return 0;
}

/* N/10 seeks to present keys, each followed by 10 nexts (one iterator). */
static int wl_seekrandom_next10(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w);
  uint64_t filled;
  mt_memtable *m = wl_fixture(ctx, ks, wl_value_size(ctx, w), &filled, out);
  if (!m) return -1;
  uint64_t n = filled / 10;
  uint32_t *pick = wl_picks(ctx->cfg.dist, ctx->cfg.zipf_theta, n, filled, 99);
  uint8_t *kbuf = malloc(ks);
  mt_iter *it = NULL;
  int rc = kbuf && pick ? mt_iter_new(&it, m) : MT_ENOMEM;
  if (rc != MT_OK) {
    free(pick);
    free(kbuf);
    return wl_fail_mt(out, "mt_iter_new", rc);
  }
  uint64_t i = 0, found = 0;
  wl_lat *lat = wl_lat_open(out);
  double t0 = wl_now();
  uint64_t t = wl_lat_now(lat);
  for (; i < n; i++) {
    mt_iter_seek(it, wl_rand_key(ctx, pick[i], ks, kbuf));
    found += mt_iter_valid(it);
    for (int k = 0; k < 10 && mt_iter_valid(it); k++) mt_iter_next(it);
    wl_lat_lap(lat, WL_OP_SCAN, &t);
    if (wl_capped(ctx, i, t0)) {
      i++;
      break;
    }
  }
  out->seconds = wl_now() - t0;
  rc = mt_iter_status(it);
  mt_iter_free(it);
  free(pick);
  free(kbuf);
  out->ops = i;
  out->want = n;
  if (rc != MT_OK) return wl_fail_mt(out, "seek", rc);
  if (found != i)
    return wl_fail(out, "%llu of %llu seeks to present keys found nothing",
                   (unsigned long long)(i - found), (unsigned long long)i);
  return 0;
}

static int wl_fillseq(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  uint64_t n = ctx->cfg.num;
  const uint8_t *keys = wl_keys_get(ctx, KEYS_SEQ, n, ks);
  uint8_t *buf = malloc(ks + vs + 1);
  mt_memtable *m;
  if (!keys || !buf || !wl_values_reserve(ctx, vs)) {
    free(buf);
    return wl_fail(out, "out of memory");
  }
  wl_drop_fixture(ctx);
  if (wl_memtable(ctx, &m, out)) {
    free(buf);
    return -1;
  }
  uint64_t i = 0;
  int rc = MT_OK;
  wl_lat *lat = wl_lat_open(out);
  double t0 = wl_now();
  uint64_t t = wl_lat_now(lat);
  for (; i < n; i++) {
    mt_slice key, val;
    wl_fill_op(ctx, KEYS_SEQ, keys, i, ks, vs, buf, &key, &val);
    rc = mt_memtable_add(m, i + 1, MT_PUT, key, val);
    wl_lat_lap(lat, WL_OP_INSERT, &t);
    if (rc != MT_OK) break;
    if (wl_capped(ctx, i, t0)) {
      i++;
      break;
    }
  }
  out->seconds = wl_now() - t0;
  out->ops = i;
  out->want = n;
  wl_set_bytes(out, m, i);
  mt_memtable_unref(m);
  free(buf);
  return rc == MT_OK ? 0 : wl_fail_mt(out, "mt_memtable_add", rc);
}

typedef struct fill_thread {
  mtw_ctx *ctx;
  mt_memtable *m;
  const uint8_t *keys;
  size_t ks, vs;
  int t, nthreads;
  double t0;
  uint64_t added;
  int rc;
  pthread_t tid;
  wl_lat *lat; /* this thread's recorder (opened by the starting thread) */
} fill_thread;

static void *fill_thread_main(void *arg) {
  fill_thread *f = arg;
  uint64_t n = f->ctx->cfg.num, k = 0;
  uint8_t *buf = malloc(f->ks + f->vs + 1);
  if (!buf) {
    f->rc = MT_ENOMEM;
    return NULL;
  }
  uint64_t t = wl_lat_now(f->lat);
  for (uint64_t i = (uint64_t)f->t; i < n; i += (uint64_t)f->nthreads, k++) {
    mt_slice key, val;
    wl_fill_op(f->ctx, KEYS_RANDOM, f->keys, i, f->ks, f->vs, buf, &key, &val);
    f->rc = mt_memtable_add(f->m, i + 1, MT_PUT, key, val);
    wl_lat_lap(f->lat, WL_OP_INSERT, &t);
    if (f->rc != MT_OK) break;
    f->added++;
    if (wl_capped(f->ctx, k, f->t0)) break;
  }
  free(buf);
  return NULL;
}

/* T threads add the N random keys concurrently; wall ns per entry. */
static int wl_fillrandom_threads(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  int nt = ctx->cfg.threads < 1 ? 1 : ctx->cfg.threads;
  const uint8_t *keys = wl_keys_get(ctx, KEYS_RANDOM, ctx->cfg.num, ks);
  fill_thread *f = calloc((size_t)nt, sizeof *f);
  if (!keys || !f || !wl_values_reserve(ctx, vs)) {
    free(f);
    return wl_fail(out, "out of memory");
  }
  wl_drop_fixture(ctx);
  mt_memtable *m;
  if (wl_memtable(ctx, &m, out)) {
    free(f);
    return -1;
  }
  double t0 = wl_now();
  int started = 0, rc = 0;
  for (; started < nt; started++) {
    f[started] = (fill_thread){ctx, m, keys, ks, vs, started, nt, t0, 0, MT_OK, 0, NULL};
    f[started].lat = wl_lat_open(out);
    if (pthread_create(&f[started].tid, NULL, fill_thread_main, &f[started])) break;
  }
  uint64_t added = 0;
  for (int t = 0; t < started; t++) {
    pthread_join(f[t].tid, NULL);
    added += f[t].added;
    if (f[t].rc != MT_OK && !rc) rc = f[t].rc;
  }
  out->seconds = wl_now() - t0;
  out->ops = added;
  out->want = ctx->cfg.num;
  wl_set_bytes(out, m, added);
  uint64_t count = mt_memtable_count(m);
  mt_memtable_unref(m);
  free(f);
  if (started < nt) return wl_fail(out, "could not start thread %d", started);
  if (rc) return wl_fail_mt(out, "mt_memtable_add (concurrent)", rc);
  if (count != added)
    return wl_fail(out, "count %llu after %llu concurrent adds", (unsigned long long)count,
                   (unsigned long long)added);
  return 0;
}

/* ---- the table ------------------------------------------------------------------ */

#define STD "standard"
#define EXT "extended"
#define RES "research"
static const mtw_workload g_workloads[] = {
    {"fillrandom", STD, "add N random keys to an empty memtable; also bytes/entry",
     wl_fillrandom, 0, 0, {0, 0, 0}},
    {"readrandom", STD, "freeze, then N gets of present keys (dist order)", wl_readrandom, 0,
     0, {0, 0, 0}},
    {"readmissing", STD, "N gets of absent keys (frozen)", wl_readmissing, 0, 0, {0, 0, 0}},
    {"scan", STD, "one full ordered pass; an op is one entry", wl_scan, 0, 0, {0, 0, 0}},
    {"seekrandom_next10", STD, "N/10 seeks to present keys, each + 10 nexts",
     wl_seekrandom_next10, 0, 0, {0, 0, 0}},
    {"fillseq", STD, "add N sequential keys (one shared prefix)", wl_fillseq, 0, 0, {0, 0, 0}},
    {"fillrandom_Nthreads", STD, "T threads add the N random keys; wall ns per entry",
     wl_fillrandom_threads, 0, 0, {0, 0, 0}},
    {"zipfread", EXT, "N gets, scrambled zipfian (theta 0.99) over the fixture", wl_zipfread,
     0, 0, {0, 0, 0}},
    {"readwhilewriting", EXT, "1 writer adds N/2 keys beside 1 reader; writer ns/op",
     wl_readwhilewriting, 0, 0, {0, 0, 0}},
    {"mix", EXT, "N ops of --mix over N prefilled keys (write = new version)", wl_mix_run, 0, 0,
     {0, 0, 0}},
    {"mix_readheavy", EXT, "mix read:95,write:5", wl_mix_run, 0, 0, {95, 5, 0}},
    {"mix_writeheavy", EXT, "mix read:10,write:90", wl_mix_run, 0, 0, {10, 90, 0}},
    {"mix_scanheavy", EXT, "mix read:45,write:10,scan:45", wl_mix_run, 0, 0, {45, 10, 45}},
    {"prefixscan", EXT, "N/20 scans of every entry of one random 8-byte prefix",
     wl_prefixscan, 0, 0, {0, 0, 0}},
    {"updateheavy", EXT, "N adds over N/versions keys (many versions per key)",
     wl_updateheavy, 0, 0, {0, 0, 0}},
    {"fillrandom_v16", EXT, "fillrandom with 16-byte values", wl_fillrandom, 0, 16, {0, 0, 0}},
    {"fillrandom_v1000", EXT, "fillrandom with 1000-byte values", wl_fillrandom, 0, 1000,
     {0, 0, 0}},
    {"fillrandom_k64", EXT, "fillrandom with 64-byte keys", wl_fillrandom, 64, 0, {0, 0, 0}},
    {"readrandom_k64", EXT, "readrandom with 64-byte keys", wl_readrandom, 64, 0, {0, 0, 0}},
    {"ycsb-a", RES, "YCSB A: load N; N ops 50% read / 50% update, scrambled zipfian", wl_ycsb,
     0, 0, {0, 0, 0}},
    {"ycsb-b", RES, "YCSB B: load N; N ops 95% read / 5% update, scrambled zipfian", wl_ycsb,
     0, 0, {0, 0, 0}},
    {"ycsb-c", RES, "YCSB C: load N; N reads, scrambled zipfian", wl_ycsb, 0, 0, {0, 0, 0}},
    {"ycsb-d", RES, "YCSB D: load N; N ops 95% read (latest) / 5% insert", wl_ycsb, 0, 0,
     {0, 0, 0}},
    {"ycsb-e", RES, "YCSB E: load N; N ops 95% scan (1..100 entries) / 5% insert", wl_ycsb, 0,
     0, {0, 0, 0}},
    {"ycsb-f", RES, "YCSB F: load N; N ops 50% read / 50% read-modify-write", wl_ycsb, 0, 0,
     {0, 0, 0}},
    {"insertread-0", RES, "N inserts, no reads", wl_insertread, 0, 0, {0, 0, 0}},
    {"insertread-0.1", RES, "N inserts + gets of inserted keys, 0.1% of ops", wl_insertread, 0,
     0, {0, 0, 0}},
    {"insertread-1", RES, "N inserts + gets of inserted keys, 1% of ops", wl_insertread, 0, 0,
     {0, 0, 0}},
    {"insertread-10", RES, "N inserts + gets of inserted keys, 10% of ops", wl_insertread, 0,
     0, {0, 0, 0}},
    {"insertread-50", RES, "N inserts + gets of inserted keys, 50% of ops", wl_insertread, 0,
     0, {0, 0, 0}},
    {"nearsorted", RES, "add N sequential keys, --nearsort-k % displaced by <= --nearsort-l",
     wl_nearsorted_run, 0, 0, {0, 0, 0}},
    {"phases", RES, "4 x N/4 ops: write-only, read-heavy, scan-heavy, mixed", wl_phases, 0, 0,
     {0, 0, 0}},
    {"deleteheavy", RES, "load N; N ops: deletes of half the keys among gets", wl_deleteheavy,
     0, 0, {0, 0, 0}},
    {"trace", "trace", "replay of --trace=FILE; an op is one trace line", wl_trace, 0, 0,
     {0, 0, 0}},
};

const mtw_workload *mtw_workloads(size_t *count) {
  *count = sizeof g_workloads / sizeof g_workloads[0];
  return g_workloads;
}

const mtw_workload *mtw_find(const char *name) {
  size_t n;
  const mtw_workload *w = mtw_workloads(&n);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(w[i].name, name)) return &w[i];
  unsigned t;
  char rest[16];
  if (sscanf(name, "fillrandom_%uthread%15s", &t, rest) == 2 && (!strcmp(rest, "s") ||
                                                                 !strcmp(rest, "")))
    return mtw_find("fillrandom_Nthreads");
  return NULL;
}

const char *mtw_display_name(const mtw_workload *w, const mtw_config *c, char *buf,
                             size_t cap) {
  if (w->run == wl_fillrandom_threads)
    snprintf(buf, cap, "fillrandom_%dthreads", c->threads);
  else
    snprintf(buf, cap, "%s", w->name);
  return buf;
}

/* ---- context ---------------------------------------------------------------- */

int mtw_ctx_new(mtw_ctx **out, const char *spec, const mtw_config *c, char *err, size_t cap) {
  *out = NULL;
  const char *dflt[1] = {"skiplist"};
  if (!spec) { /* the default rep, by name */
    mt_rep_names(dflt, 1);
    spec = dflt[0];
  }
  if (c->key_size < 16 || c->key_size > 4096 || c->num == 0 || c->num > UINT32_MAX ||
      c->prefixes == 0) {
    snprintf(err, cap, "need 16 <= key size <= 4096, 0 < num <= %u, prefixes > 0", UINT32_MAX);
    return MT_EINVAL;
  }
  mt_memtable *m;
  int rc = mt_memtable_new(&m, spec, NULL);
  if (rc != MT_OK) {
    const char *d = mt_last_error();
    snprintf(err, cap, "%s: %s%s%s", spec, mt_strerror(rc), *d ? ": " : "", d);
    return rc;
  }
  mtw_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) {
    mt_memtable_unref(m);
    snprintf(err, cap, "out of memory");
    return MT_ENOMEM;
  }
  snprintf(ctx->spec, sizeof ctx->spec, "%s", spec);
  snprintf(ctx->canon, sizeof ctx->canon, "%s", mt_memtable_spec(m));
  mt_memtable_unref(m);
  ctx->cfg = *c;
  if (!wl_values_reserve(ctx, c->value_size > 1000 ? c->value_size : 1000)) {
    mtw_ctx_free(ctx);
    snprintf(err, cap, "out of memory");
    return MT_ENOMEM;
  }
  *out = ctx;
  return MT_OK;
}

void mtw_ctx_free(mtw_ctx *ctx) {
  if (!ctx) return;
  for (int k = 0; k < KEYS_KINDS; k++) free(ctx->keys[k].data);
  free(ctx->values);
  if (ctx->fixture) mt_memtable_unref(ctx->fixture);
  mtw_trace_free(ctx->trace);
  free(ctx);
}

const char *mtw_ctx_spec(const mtw_ctx *ctx) { return ctx->canon; }

int mtw_run(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  memset(out, 0, sizeof *out);
  if (!ctx->cfg.no_latency) mtw_lat_begin(out, (uint32_t)ctx->cfg.interval_ms);
  int rc = w->run(ctx, w, out);
  if (rc < 0 && !out->error[0]) snprintf(out->error, sizeof out->error, "failed (%d)", rc);
  return rc < 0 ? rc : 0;
}
