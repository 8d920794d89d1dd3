/* workloads_more.c -- the workloads beyond the standard set: zipfian reads,
 * read-while-writing, read/write/scan mixes, prefix scans and update-heavy
 * fills.  Each states its parameters in the table of workloads.c.
 *
 * Thread safety: readwhilewriting runs one writer thread beside the calling
 * (reader) thread on one memtable.  The writer publishes `done` with a
 * release store after its last add and its end time; the reader polls it
 * with acquire loads, so once it sees done it also sees the writer's figures.
 * Both threads only read the context's key array and value table.
 *
 * Invariants:
 *  1. Reads in these workloads target keys present before the timed region
 *     began (prefilled or the fixture): every read must find its key, and a
 *     miss is reported as the rep's error, never ignored.
 *  2. Writes use fresh sequence numbers (above every prefilled one), so an
 *     add never collides with an existing (key, seq).
 */
#define _POSIX_C_SOURCE 200809L
#include "wl_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Adds random keys [from, to) untimed; 0 or -1 with out->error. */
static int prefill(mtw_ctx *ctx, mt_memtable *m, const uint8_t *keys, uint64_t from,
                   uint64_t to, size_t ks, size_t vs, mtw_result *out) {
  for (uint64_t i = from; i < to; i++) {
    int rc = mt_memtable_add(m, i + 1, MT_PUT, wl_slice(keys + i * ks, ks),
                             wl_slice(wl_value(ctx, i), vs));
    if (rc != MT_OK) return wl_fail_mt(out, "prefill: mt_memtable_add", rc);
  }
  return 0;
}

int wl_zipfread(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w);
  uint64_t filled;
  mt_memtable *m = wl_fixture(ctx, ks, wl_value_size(ctx, w), &filled, out);
  if (!m) return -1;
  uint32_t *pick = wl_picks(MTW_ZIPF, ctx->cfg.zipf_theta, filled, filled, 17);
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
    hits += mt_memtable_get(m, wl_rand_key(ctx, pick[i], ks, kbuf), MT_SEQ_MAX, NULL, NULL) ==
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
  free(pick);
  free(kbuf);
  if (hits != i)
    return wl_fail(out, "found %llu of %llu present keys", (unsigned long long)hits,
                   (unsigned long long)i);
  return 0;
}

typedef struct rww_writer {
  mtw_ctx *ctx;
  mt_memtable *m;
  const uint8_t *keys;
  size_t ks, vs;
  uint64_t from, to, added;
  double t0, t1;
  int rc;
  atomic_int done; /* release: added, t1, rc are final */
  wl_lat *lat;     /* the writer's recorder */
} rww_writer;

static void *rww_writer_main(void *arg) {
  rww_writer *wr = arg;
  uint64_t t = wl_lat_now(wr->lat);
  for (uint64_t i = wr->from; i < wr->to; i++) {
    wr->rc = mt_memtable_add(wr->m, i + 1, MT_PUT, wl_slice(wr->keys + i * wr->ks, wr->ks),
                             wl_slice(wl_value(wr->ctx, i), wr->vs));
    wl_lat_lap(wr->lat, WL_OP_INSERT, &t);
    if (wr->rc != MT_OK) break;
    wr->added++;
    if (wl_capped(wr->ctx, i - wr->from, wr->t0)) break;
  }
  wr->t1 = wl_now();
  atomic_store_explicit(&wr->done, 1, memory_order_release);
  return NULL;
}

/* Prefill N/2 keys; one writer adds the other N/2 while this thread reads
 * present keys (by dist) until the writer is done.  ns/op is the writer's. */
int wl_readwhilewriting(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  uint64_t n = ctx->cfg.num, half = n / 2 ? n / 2 : 1;
  const uint8_t *keys = wl_keys_get(ctx, KEYS_RANDOM, n, ks);
  uint32_t *pick = wl_picks(ctx->cfg.dist, ctx->cfg.zipf_theta, n, half, 23);
  if (!keys || !pick || !wl_values_reserve(ctx, vs)) {
    free(pick);
    return wl_fail(out, "out of memory");
  }
  wl_drop_fixture(ctx);
  mt_memtable *m;
  if (wl_memtable(ctx, &m, out)) {
    free(pick);
    return -1;
  }
  if (prefill(ctx, m, keys, 0, half, ks, vs, out)) {
    free(pick);
    mt_memtable_unref(m);
    return -1;
  }
  rww_writer wr = {ctx, m, keys, ks, vs, half, n, 0, 0, 0, MT_OK, 0, NULL};
  uint64_t reads = 0, hits = 0;
  wr.lat = wl_lat_open(out);
  wl_lat *lat = wl_lat_open(out); /* the reader's (this thread) */
  wr.t0 = wl_now();
  pthread_t tid;
  if (pthread_create(&tid, NULL, rww_writer_main, &wr)) {
    free(pick);
    mt_memtable_unref(m);
    return wl_fail(out, "could not start the writer thread");
  }
  uint8_t kbuf[4096]; /* key_size <= 4096 (mtbench's --key-size bound) */
  uint64_t t = wl_lat_now(lat);
  while (!atomic_load_explicit(&wr.done, memory_order_acquire)) {
    for (int k = 0; k < 64; k++, reads++) {
      hits += mt_memtable_get(m, wl_rand_key(ctx, pick[reads % n], ks, kbuf), MT_SEQ_MAX, NULL,
                              NULL) == MT_OK;
      wl_lat_lap(lat, WL_OP_READ, &t);
    }
  }
  double t_read = wl_now() - wr.t0;
  pthread_join(tid, NULL);
  double t_write = wr.t1 - wr.t0;
  out->seconds = t_write;
  out->ops = wr.added;
  out->want = n - half;
  wl_set_bytes(out, m, half + wr.added);
  wl_counter(out, "write_ops/s", t_write > 0 ? (double)wr.added / t_write : 0);
  wl_counter(out, "read_ops/s", t_read > 0 ? (double)reads / t_read : 0);
  wl_counter(out, "read_ns", reads ? t_read * 1e9 / (double)reads : 0);
  mt_memtable_unref(m);
  free(pick);
  if (wr.rc != MT_OK) return wl_fail_mt(out, "writer: mt_memtable_add", wr.rc);
  if (hits != reads)
    return wl_fail(out, "reader found %llu of %llu present keys while the writer ran",
                   (unsigned long long)hits, (unsigned long long)reads);
  return 0;
}

int mtw_parse_mix(const char *s, mtw_mix *out, char *err, size_t cap) {
  mtw_mix m = {0, 0, 0};
  const char *p = s;
  while (*p) {
    char kind[16];
    int pct, used;
    if (sscanf(p, "%15[a-z]:%d%n", kind, &pct, &used) != 2 || pct < 0 || pct > 100) {
      snprintf(err, cap, "bad mix \"%s\" at \"%s\": want read:P,write:P,scan:P", s, p);
      return -1;
    }
    if (!strcmp(kind, "read")) m.read = pct;
    else if (!strcmp(kind, "write")) m.write = pct;
    else if (!strcmp(kind, "scan")) m.scan = pct;
    else {
      snprintf(err, cap, "bad mix \"%s\": unknown kind \"%s\" (read, write, scan)", s, kind);
      return -1;
    }
    p += used;
    if (*p == ',') p++;
    else if (*p) {
      snprintf(err, cap, "bad mix \"%s\" at \"%s\"", s, p);
      return -1;
    }
  }
  if (m.read + m.write + m.scan != 100) {
    snprintf(err, cap, "mix \"%s\" sums to %d, not 100", s, m.read + m.write + m.scan);
    return -1;
  }
  *out = m;
  return 0;
}

/* Prefill N keys (not frozen); then N ops drawn from the mix, keys by dist:
 * read = get (must hit), write = a new version of the key, scan = seek +
 * scan_len nexts.  ns/op over all ops. */
int wl_mix_run(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  mtw_mix mix = (w->mix.read || w->mix.write || w->mix.scan) ? w->mix : ctx->cfg.mix;
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  uint64_t n = ctx->cfg.num;
  const uint8_t *keys = wl_keys_get(ctx, KEYS_RANDOM, n, ks);
  uint32_t *pick = wl_picks(ctx->cfg.dist, ctx->cfg.zipf_theta, n, n, 0x55);
  uint8_t *kind = malloc(n);
  if (!keys || !pick || !kind || !wl_values_reserve(ctx, vs)) {
    free(pick);
    free(kind);
    return wl_fail(out, "out of memory");
  }
  uint64_t nw = 0;
  for (uint64_t i = 0; i < n; i++) {
    int r = (int)(wl_mix(i ^ 0x6d6978ULL) % 100);
    kind[i] = r < mix.read ? 0 : r < mix.read + mix.write ? 1 : 2;
  }
  wl_drop_fixture(ctx);
  mt_memtable *m;
  mt_iter *it = NULL;
  int rc = -1;
  if (wl_memtable(ctx, &m, out)) goto out_free;
  if (prefill(ctx, m, keys, 0, n, ks, vs, out)) goto out_unref;
  rc = mt_iter_new(&it, m);
  if (rc != MT_OK) {
    rc = wl_fail_mt(out, "mt_iter_new", rc);
    goto out_unref;
  }
  uint64_t i = 0, hits = 0, reads = 0, scans = 0;
  uint8_t kbuf[4096]; /* key_size <= 4096 (mtbench's --key-size bound) */
  static const wl_op op_of[3] = {WL_OP_READ, WL_OP_UPDATE, WL_OP_SCAN};
  wl_lat *lat = wl_lat_open(out);
  double t0 = wl_now();
  uint64_t t = wl_lat_now(lat);
  for (; i < n; i++) {
    mt_slice key = wl_rand_key(ctx, pick[i], ks, kbuf);
    if (kind[i] == 0) {
      reads++;
      hits += mt_memtable_get(m, key, MT_SEQ_MAX, NULL, NULL) == MT_OK;
    } else if (kind[i] == 1) {
      rc = mt_memtable_add(m, n + 1 + i, MT_PUT, key, wl_slice(wl_value(ctx, pick[i] + i), vs));
      if (rc != MT_OK) break;
      nw++;
    } else {
      scans++;
      mt_iter_seek(it, key);
      for (int k = 0; k < ctx->cfg.scan_len && mt_iter_valid(it); k++) mt_iter_next(it);
    }
    wl_lat_lap(lat, op_of[kind[i]], &t);
    if (wl_capped(ctx, i, t0)) {
      i++;
      break;
    }
  }
  out->seconds = wl_now() - t0;
  out->ops = i;
  out->want = n;
  wl_set_bytes(out, m, n + nw);
  wl_counter(out, "reads", (double)reads);
  wl_counter(out, "writes", (double)nw);
  wl_counter(out, "scans", (double)scans);
  if (rc < 0) rc = wl_fail_mt(out, "mt_memtable_add", rc);
  else if ((rc = mt_iter_status(it)) != MT_OK) rc = wl_fail_mt(out, "scan", rc);
  else if (hits != reads)
    rc = wl_fail(out, "found %llu of %llu present keys", (unsigned long long)hits,
                 (unsigned long long)reads);
  else rc = 0;
  mt_iter_free(it);
out_unref:
  mt_memtable_unref(m);
out_free:
  free(pick);
  free(kind);
  return rc;
}

/* N/20 scans, each of every entry under one random prefix of the fixture; an
 * op is one prefix scan.  Each scan's length is checked against the keys. */
int wl_prefixscan(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w);
  uint64_t filled, P = ctx->cfg.prefixes;
  mt_memtable *m = wl_fixture(ctx, ks, wl_value_size(ctx, w), &filled, out);
  if (!m) return -1;
  const uint8_t *keys = wl_keys_get(ctx, KEYS_RANDOM, filled, ks);
  uint64_t n = filled / 20 ? filled / 20 : 1;
  uint32_t *count = calloc(P, sizeof *count);
  uint8_t *seek = calloc(n, ks);
  mt_iter *it = NULL;
  int rc = keys && count && seek ? mt_iter_new(&it, m) : MT_ENOMEM;
  if (rc != MT_OK) {
    free(count);
    free(seek);
    return wl_fail_mt(out, "prefixscan setup", rc);
  }
  for (uint64_t i = 0; i < filled; i++) count[wl_mix(i) % P]++;
  for (uint64_t i = 0; i < n; i++) wl_be64(seek + i * ks, wl_mix(i + 13) % P);
  uint64_t i = 0, entries = 0, bad = 0;
  wl_lat *lat = wl_lat_open(out);
  double t0 = wl_now();
  uint64_t t = wl_lat_now(lat);
  for (; i < n; i++) {
    const uint8_t *target = seek + i * ks;
    uint64_t got = 0;
    for (mt_iter_seek(it, wl_slice(target, ks)); mt_iter_valid(it); mt_iter_next(it)) {
      mt_slice k = mt_iter_key(it);
      if (k.len < 8 || memcmp(k.data, target, 8)) break;
      got++;
    }
    wl_lat_lap(lat, WL_OP_SCAN, &t);
    entries += got;
    bad += got != count[wl_mix(i + 13) % P];
    if (wl_capped(ctx, i, t0)) {
      i++;
      break;
    }
  }
  out->seconds = wl_now() - t0;
  out->ops = i;
  out->want = n;
  wl_counter(out, "entries/scan", i ? (double)entries / (double)i : 0);
  rc = mt_iter_status(it);
  mt_iter_free(it);
  free(count);
  free(seek);
  if (rc != MT_OK) return wl_fail_mt(out, "scan", rc);
  if (bad) return wl_fail(out, "%llu of %llu prefix scans saw the wrong number of entries",
                          (unsigned long long)bad, (unsigned long long)i);
  return 0;
}

/* N adds spread over N/versions distinct keys: every key gets ~versions
 * versions, newest seq last.  Then checks the newest version of a sample. */
int wl_updateheavy(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  uint64_t n = ctx->cfg.num, v = ctx->cfg.versions > 0 ? (uint64_t)ctx->cfg.versions : 1;
  uint64_t nkeys = n / v ? n / v : 1;
  const uint8_t *keys = wl_keys_get(ctx, KEYS_RANDOM, nkeys, ks);
  uint32_t *pick = wl_picks(MTW_UNIFORM, 0, n, nkeys, 0x75);
  if (!keys || !pick || !wl_values_reserve(ctx, vs)) {
    free(pick);
    return wl_fail(out, "out of memory");
  }
  wl_drop_fixture(ctx);
  mt_memtable *m;
  if (wl_memtable(ctx, &m, out)) {
    free(pick);
    return -1;
  }
  uint64_t i = 0;
  int rc = MT_OK;
  wl_lat *lat = wl_lat_open(out);
  double t0 = wl_now();
  uint64_t t = wl_lat_now(lat);
  for (; i < n; i++) {
    rc = mt_memtable_add(m, i + 1, MT_PUT, wl_slice(keys + (uint64_t)pick[i] * ks, ks),
                         wl_slice(wl_value(ctx, i), vs));
    wl_lat_lap(lat, WL_OP_UPDATE, &t); /* most adds are a key's later version */
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
  wl_counter(out, "versions/key", (double)i / (double)nkeys);
  /* The newest version of the last written key is the last add. */
  uint64_t seq = 0;
  int grc = i ? mt_memtable_get(m, wl_slice(keys + (uint64_t)pick[i - 1] * ks, ks),
                                MT_SEQ_MAX, NULL, &seq)
              : MT_OK;
  mt_memtable_unref(m);
  free(pick);
  if (rc != MT_OK) return wl_fail_mt(out, "mt_memtable_add", rc);
  if (i && (grc != MT_OK || seq != i))
    return wl_fail(out, "newest version of the last key: status %d seq %llu, want seq %llu",
                   grc, (unsigned long long)seq, (unsigned long long)i);
  return 0;
}
