/* workloads_research.c -- the workloads researchers expect, at memtable
 * level: YCSB A-F, inserts interleaved with point queries, near-sorted
 * inserts, a multi-phase workload whose mix shifts, and a delete-heavy one
 * (docs/bench.md, "Research workloads").  The key choosers are in
 * workloads_research_gen.c.
 *
 * Every workload compiles its whole operation sequence into a program
 * (rs_prog) before the timed region: the kind of each op, its key bytes in
 * op order (read sequentially by the timed loop), its scan length and the
 * answer its read must get.  The timed loop (rs_exec) only calls the
 * memtable, checks the answer and records the op's latency with
 * wl_lat_record, one op after the other (the end of one op is the start of
 * the next).  Key index i is the standard workload's random key i
 * (wl_make_key, KEYS_RANDOM): insert order is hashed order, as YCSB's
 * hashed keys are; nearsorted uses the sequential keys instead.  Random
 * choices come from splitmix64 streams salted with cfg.seed.
 *
 * Thread safety: each workload runs on the calling thread only.
 *
 * Invariants:
 *  1. A program's reads target keys its earlier ops (or the load, timed
 *     apart as the load_ops/s counter) added: a get expects MT_OK, or
 *     MT_DELETED when the key's newest op was a delete; a scan starts at
 *     such a key and must land on it.  Any other answer fails the cell with
 *     the op's index and what it got.
 *  4. The latency recorder opens after the load, right before the first
 *     timed op, so the time series' t = 0 is the start of the timed ops.
 *  2. Sequence numbers are 1, 2, 3... in op order (the load first), so no
 *     add collides with an existing (key, seq).
 *  3. Inserts take key indexes inserted, inserted + 1, ... and nothing else
 *     changes `inserted`; every other op's key index is < inserted.
 */
#define _POSIX_C_SOURCE 200809L
#include "latency.h"
#include "wl_internal.h"

#include <stdlib.h>

enum { RS_INSERT, RS_UPDATE, RS_DELETE, RS_GET, RS_GET_GONE, RS_SCAN, RS_RMW, RS_KINDS };

static const wl_op k_lat_op[RS_KINDS] = {WL_OP_INSERT, WL_OP_UPDATE, WL_OP_DELETE, WL_OP_READ,
                                         WL_OP_READ,   WL_OP_SCAN,   WL_OP_RMW};
static const char *const k_what[RS_KINDS] = {
    "insert", "update", "delete", "get of a present key", "get of a deleted key",
    "scan from a present key", "read-modify-write"};

static volatile uint64_t g_touch; /* scans and read-modify-writes read bytes into it */

typedef struct rs_prog {
  uint64_t n; /* ops */
  size_t ks, vs;
  uint8_t *op;   /* RS_* */
  uint8_t *len;  /* scan length 1..255 (RS_SCAN) */
  uint8_t *keys; /* n * ks bytes, op order */
} rs_prog;

static void prog_free(rs_prog *p) {
  free(p->op);
  free(p->len);
  free(p->keys);
}

static bool prog_alloc(rs_prog *p, uint64_t n, size_t ks, size_t vs) {
  p->n = n;
  p->ks = ks;
  p->vs = vs;
  p->op = malloc(n ? n : 1);
  p->len = calloc(n ? n : 1, 1);
  p->keys = malloc(n && ks ? n * ks : 1);
  if (p->op && p->len && p->keys) return true;
  prog_free(p);
  return false;
}

/* ---- generating a program ------------------------------------------------------- */

enum { CHOOSE_UNIFORM, CHOOSE_SCRAMBLED, CHOOSE_LATEST };

typedef struct rs_mix { /* percents; sum 100 */
  int get, insert, update, del, scan, rmw;
} rs_mix;

typedef struct rs_gen {
  const mtw_ctx *ctx;
  uint64_t rng;      /* splitmix64 state */
  uint64_t inserted; /* keys 0..inserted-1 were added */
  uint8_t *dead;     /* per key index: newest op was a delete (cap entries) */
  uint64_t cap;      /* key indexes the program may reach */
  int chooser;       /* CHOOSE_* */
  wl_zipfian z;
  uint64_t zrange;        /* CHOOSE_SCRAMBLED: [0, zrange) before rejection */
  uint32_t *del_order;    /* deletes take these keys in turn (NULL: chooser) */
  uint64_t ndel;
  int max_scan; /* scan lengths uniform in 1..max_scan */
} rs_gen;

static uint64_t rng_next(rs_gen *g) { return wl_mix(g->rng++); }
static double rng_unit(rs_gen *g) { return (double)(rng_next(g) >> 11) * 0x1.0p-53; }

static uint64_t choose(rs_gen *g) {
  uint64_t last = g->inserted - 1, k;
  switch (g->chooser) {
  case CHOOSE_LATEST:
    return wl_latest_next(&g->z, last, rng_unit(g));
  case CHOOSE_SCRAMBLED: /* YCSB's nextKeynum: redraw keys not inserted yet */
    do k = wl_scrambled_next(&g->z, g->zrange, rng_unit(g));
    while (k > last);
    return k;
  default:
    return rng_next(g) % g->inserted;
  }
}

/* Appends ops [from, to) of mix m to p. */
static void gen_ops(rs_gen *g, rs_prog *p, uint64_t from, uint64_t to, rs_mix m) {
  for (uint64_t i = from; i < to; i++) {
    int r = (int)(rng_next(g) % 100), kind;
    if (r < m.get) kind = RS_GET;
    else if ((r -= m.get) < m.insert) kind = RS_INSERT;
    else if ((r -= m.insert) < m.update) kind = RS_UPDATE;
    else if ((r -= m.update) < m.del) kind = RS_DELETE;
    else if ((r -= m.del) < m.scan) kind = RS_SCAN;
    else kind = RS_RMW;
    if (g->inserted == 0 || (kind == RS_DELETE && g->del_order && g->ndel == g->inserted))
      kind = RS_INSERT;
    if (kind == RS_INSERT && g->inserted == g->cap) kind = RS_GET;
    uint64_t idx;
    if (kind == RS_INSERT) idx = g->inserted++;
    else if (kind == RS_DELETE && g->del_order) idx = g->del_order[g->ndel++];
    else idx = choose(g);
    if (kind == RS_INSERT || kind == RS_UPDATE) g->dead[idx] = 0;
    else if (kind == RS_DELETE) g->dead[idx] = 1;
    else if (kind == RS_GET && g->dead[idx]) kind = RS_GET_GONE;
    else if (kind == RS_RMW && g->dead[idx]) kind = RS_UPDATE; /* nothing to read */
    else if (kind == RS_SCAN) p->len[i] = (uint8_t)(1 + rng_next(g) % (uint64_t)g->max_scan);
    p->op[i] = (uint8_t)kind;
    wl_make_key(p->keys + i * p->ks, KEYS_RANDOM, idx, p->ks, g->ctx->cfg.prefixes);
  }
}

static bool gen_init(rs_gen *g, const mtw_ctx *ctx, uint64_t cap, uint64_t salt) {
  memset(g, 0, sizeof *g);
  g->ctx = ctx;
  g->rng = ctx->cfg.seed ^ salt;
  g->cap = cap;
  g->max_scan = 100;
  g->dead = calloc(cap ? cap : 1, 1);
  return g->dead != NULL;
}

/* ---- running a program ---------------------------------------------------------- */

typedef struct rs_run {
  mtw_ctx *ctx;
  mt_memtable *m;
  mt_iter *it;
  wl_lat *lat;
  uint64_t seq;             /* last sequence number used */
  uint64_t count[RS_KINDS]; /* ops done, by kind */
  double seconds;           /* timed, over every rs_exec */
} rs_run;

static bool same_key(mt_slice k, const uint8_t *want, size_t ks) {
  return k.len == ks && !memcmp(k.data, want, ks);
}

/* Runs ops [from, to) of p, timed; stops at the cap.  Returns the ops done,
 * or -1 with out->error naming the first op that got a wrong answer. */
static int64_t rs_exec(rs_run *r, const rs_prog *p, uint64_t from, uint64_t to,
                       mtw_result *out) {
  size_t ks = p->ks, vs = p->vs;
  mtw_ctx *ctx = r->ctx;
  uint64_t i = from, touch = 0;
  int st = MT_OK;
  bool bad = false;
  double t0 = wl_now();
  uint64_t t = wl_lat_now(r->lat);
  for (; i < to; i++) {
    const uint8_t *kp = p->keys + i * ks;
    mt_slice key = wl_slice(kp, ks), v;
    switch (p->op[i]) {
    case RS_INSERT:
    case RS_UPDATE:
      r->seq++;
      st = mt_memtable_add(r->m, r->seq, MT_PUT, key, wl_slice(wl_value(ctx, r->seq), vs));
      bad = st != MT_OK;
      break;
    case RS_DELETE:
      st = mt_memtable_add(r->m, ++r->seq, MT_DELETE, key, wl_slice(NULL, 0));
      bad = st != MT_OK;
      break;
    case RS_GET:
      st = mt_memtable_get(r->m, key, MT_SEQ_MAX, &v, NULL);
      bad = st != MT_OK;
      break;
    case RS_GET_GONE:
      st = mt_memtable_get(r->m, key, MT_SEQ_MAX, &v, NULL);
      bad = st != MT_DELETED;
      break;
    case RS_SCAN:
      mt_iter_seek(r->it, key);
      bad = !mt_iter_valid(r->it) || !same_key(mt_iter_key(r->it), kp, ks);
      for (int k = 1; !bad && k < p->len[i] && mt_iter_valid(r->it); k++) {
        mt_iter_next(r->it);
        if (mt_iter_valid(r->it)) touch += ((const uint8_t *)mt_iter_key(r->it).data)[0];
      }
      st = bad ? mt_iter_status(r->it) : MT_OK;
      break;
    default: /* RS_RMW: read the value, then write a new version */
      st = mt_memtable_get(r->m, key, MT_SEQ_MAX, &v, NULL);
      if (st == MT_OK) {
        touch += v.len ? ((const uint8_t *)v.data)[0] : 0;
        r->seq++;
        st = mt_memtable_add(r->m, r->seq, MT_PUT, key, wl_slice(wl_value(ctx, r->seq), vs));
      }
      bad = st != MT_OK;
      break;
    }
    wl_lat_lap(r->lat, k_lat_op[p->op[i]], &t);
    if (bad) break;
    r->count[p->op[i]]++;
    if (wl_capped(ctx, i - from, t0)) {
      i++;
      break;
    }
  }
  r->seconds += wl_now() - t0;
  g_touch += touch;
  if (!bad) return (int64_t)(i - from);
  if (st < 0) {
    char what[96];
    snprintf(what, sizeof what, "op %llu (%s)", (unsigned long long)i, k_what[p->op[i]]);
    return wl_fail_mt(out, what, st);
  }
  return wl_fail(out, "op %llu (%s): %s", (unsigned long long)i, k_what[p->op[i]],
                 p->op[i] == RS_SCAN ? "did not land on its key"
                 : st == MT_OK       ? "found a deleted key"
                                     : mt_strerror(st));
}

static int run_open(rs_run *r, mtw_ctx *ctx, size_t vs, mtw_result *out) {
  memset(r, 0, sizeof *r);
  r->ctx = ctx;
  if (!wl_values_reserve(ctx, vs)) return wl_fail(out, "out of memory");
  wl_drop_fixture(ctx);
  if (wl_memtable(ctx, &r->m, out)) return -1;
  int rc = mt_iter_new(&r->it, r->m);
  if (rc != MT_OK) {
    mt_memtable_unref(r->m);
    r->m = NULL;
    return wl_fail_mt(out, "mt_iter_new", rc);
  }
  return 0;
}

static void run_close(rs_run *r) {
  if (r->it) mt_iter_free(r->it);
  if (r->m) mt_memtable_unref(r->m);
}

/* Adds random keys 0..n-1 (seqs 1..n), timed apart from the ops: the
 * "load" counter.  0 or -1 with out->error. */
static int run_load(rs_run *r, uint64_t n, size_t ks, size_t vs, mtw_result *out) {
  const uint8_t *keys = wl_keys_get(r->ctx, KEYS_RANDOM, n, ks);
  if (!keys) return wl_fail(out, "out of memory for %llu keys", (unsigned long long)n);
  double t0 = wl_now();
  for (uint64_t i = 0; i < n; i++) {
    r->seq++;
    int rc = mt_memtable_add(r->m, r->seq, MT_PUT, wl_slice(keys + i * ks, ks),
                             wl_slice(wl_value(r->ctx, r->seq), vs));
    if (rc != MT_OK) return wl_fail_mt(out, "load: mt_memtable_add", rc);
  }
  double s = wl_now() - t0;
  wl_counter(out, "load_ops/s", s > 0 ? (double)n / s : 0);
  return 0;
}

/* Fills out from a finished run of `want` ops of which `done` ran. */
static void run_result(rs_run *r, uint64_t done, uint64_t want, mtw_result *out) {
  out->seconds = r->seconds;
  out->ops = done;
  out->want = want;
  uint64_t entries = r->seq;
  wl_set_bytes(out, r->m, entries);
}

/* Opens r, adds the load (keys 0..load-1, timed apart; none when load is
 * 0), then runs all of p timed and fills out.  The ops done, or -1 with
 * out->error; run_close(r) either way. */
static int64_t run_prog(rs_run *r, mtw_ctx *ctx, const rs_prog *p, uint64_t load,
                        mtw_result *out) {
  int rc = run_open(r, ctx, p->vs, out);
  if (!rc && load) rc = run_load(r, load, p->ks, p->vs, out);
  if (rc) return -1;
  r->lat = wl_lat_open(out);
  int64_t done = rs_exec(r, p, 0, p->n, out);
  if (done >= 0) run_result(r, (uint64_t)done, p->n, out);
  return done;
}

/* ---- YCSB A-F ------------------------------------------------------------------- */

typedef struct ycsb_def {
  const char *name;
  rs_mix mix;
  int chooser;
} ycsb_def;

/* YCSB's core workloads: readproportion, updateproportion, insertproportion,
 * scanproportion, readmodifywriteproportion and requestdistribution. */
static const ycsb_def k_ycsb[] = {
    {"ycsb-a", {50, 0, 50, 0, 0, 0}, CHOOSE_SCRAMBLED},
    {"ycsb-b", {95, 0, 5, 0, 0, 0}, CHOOSE_SCRAMBLED},
    {"ycsb-c", {100, 0, 0, 0, 0, 0}, CHOOSE_SCRAMBLED},
    {"ycsb-d", {95, 5, 0, 0, 0, 0}, CHOOSE_LATEST},
    {"ycsb-e", {0, 5, 0, 0, 95, 0}, CHOOSE_SCRAMBLED},
    {"ycsb-f", {50, 0, 0, 0, 0, 50}, CHOOSE_SCRAMBLED},
};

int wl_ycsb(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  const ycsb_def *d = NULL;
  for (size_t i = 0; i < sizeof k_ycsb / sizeof k_ycsb[0]; i++)
    if (!strcmp(w->name, k_ycsb[i].name)) d = &k_ycsb[i];
  if (!d) return wl_fail(out, "no YCSB workload is called %s", w->name);
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  uint64_t n = ctx->cfg.num, ops = n;
  /* YCSB: the chooser covers the records plus twice the expected inserts. */
  uint64_t expected_new = ops * (uint64_t)d->mix.insert * 2 / 100;
  rs_prog p;
  rs_gen g;
  if (!prog_alloc(&p, ops, ks, vs)) return wl_fail(out, "out of memory");
  if (!gen_init(&g, ctx, n + ops, 0x79637362ULL + (uint64_t)(d - k_ycsb))) {
    prog_free(&p);
    return wl_fail(out, "out of memory");
  }
  g.inserted = n; /* the load */
  g.chooser = d->chooser;
  if (d->chooser == CHOOSE_LATEST) wl_zipfian_init(&g.z, n, ctx->cfg.zipf_theta);
  else wl_zipfian_init(&g.z, WL_YCSB_ITEMS, ctx->cfg.zipf_theta);
  g.zrange = n + expected_new + 1;
  gen_ops(&g, &p, 0, ops, d->mix);
  free(g.dead);

  rs_run r;
  int64_t done = run_prog(&r, ctx, &p, n, out);
  if (done >= 0) {
    static const char *const names[RS_KINDS] = {"inserts", "updates", "deletes", "reads",
                                                "reads_of_deleted", "scans", "rmws"};
    for (int k = 0; k < RS_KINDS; k++)
      if (r.count[k]) wl_counter(out, names[k], (double)r.count[k]);
  }
  run_close(&r);
  prog_free(&p);
  return done < 0 ? -1 : 0;
}

/* ---- inserts interleaved with point queries ------------------------------------- */

/* N inserts of new random keys; reads make up pct% of all ops (N * pct /
 * (100 - pct) of them), each a get of a key inserted earlier (uniform). */
int wl_insertread(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  const char *dash = strrchr(w->name, '-');
  char *end;
  double pct = dash ? strtod(dash + 1, &end) : -1;
  if (!dash || *end || pct < 0 || pct >= 100)
    return wl_fail(out, "%s: want insertread-PCT with 0 <= PCT < 100", w->name);
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  uint64_t n = ctx->cfg.num, reads = (uint64_t)((double)n * pct / (100.0 - pct) + 0.5);
  uint64_t ops = n + reads;
  rs_prog p;
  rs_gen g;
  if (!prog_alloc(&p, ops, ks, vs)) return wl_fail(out, "out of memory");
  if (!gen_init(&g, ctx, n, 0x696e7372ULL)) {
    prog_free(&p);
    return wl_fail(out, "out of memory");
  }
  /* Each op is a read with probability reads_left / ops_left: exactly
   * `reads` reads, spread evenly; never before the first insert. */
  uint64_t reads_left = reads;
  for (uint64_t i = 0; i < ops; i++) {
    bool read = g.inserted > 0 && reads_left > 0 &&
                (g.inserted == n || rng_next(&g) % (ops - i) < reads_left);
    uint64_t idx = read ? rng_next(&g) % g.inserted : g.inserted++;
    reads_left -= read;
    p.op[i] = read ? RS_GET : RS_INSERT;
    wl_make_key(p.keys + i * ks, KEYS_RANDOM, idx, ks, ctx->cfg.prefixes);
  }
  free(g.dead);

  rs_run r;
  int64_t done = run_prog(&r, ctx, &p, 0, out);
  if (done >= 0) {
    wl_counter(out, "inserts", (double)r.count[RS_INSERT]);
    wl_counter(out, "reads", (double)r.count[RS_GET]);
  }
  run_close(&r);
  prog_free(&p);
  return done < 0 ? -1 : 0;
}

/* ---- near-sorted inserts -------------------------------------------------------- */

/* N sequential keys added in a near-sorted order (K% displaced, each by at
 * most L positions); then, untimed, one ordered pass must see all N keys in
 * order and a sample of gets must find them. */
int wl_nearsorted_run(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  uint64_t n = ctx->cfg.num, displaced;
  uint32_t *order = wl_nearsorted(n, ctx->cfg.nearsort_k, ctx->cfg.nearsort_l,
                                  ctx->cfg.seed ^ 0x6e736f72ULL, &displaced);
  rs_prog p;
  if (!order || !prog_alloc(&p, n, ks, vs)) {
    free(order);
    return wl_fail(out, "out of memory");
  }
  for (uint64_t i = 0; i < n; i++) {
    p.op[i] = RS_INSERT;
    wl_make_key(p.keys + i * ks, KEYS_SEQ, order[i], ks, ctx->cfg.prefixes);
  }
  free(order);
  rs_run r;
  int64_t done = run_prog(&r, ctx, &p, 0, out);
  if (done >= 0) {
    wl_counter(out, "displaced_pct", n ? 100.0 * (double)displaced / (double)n : 0);
    /* Untimed: the pass sees keys 0..done-1's set in ascending order. */
    uint64_t seen = 0;
    bool ordered = true;
    uint8_t prev[4096];
    for (mt_iter_seek_to_first(r.it); mt_iter_valid(r.it); mt_iter_next(r.it), seen++) {
      mt_slice k = mt_iter_key(r.it);
      if (seen && (k.len != ks || memcmp(prev, k.data, ks) >= 0)) ordered = false;
      if (k.len == ks) memcpy(prev, k.data, ks);
    }
    uint64_t missing = 0;
    for (uint64_t i = 0; i < (uint64_t)done; i += 1 + (uint64_t)done / 1000)
      missing += mt_memtable_get(r.m, wl_slice(p.keys + i * ks, ks), MT_SEQ_MAX, NULL, NULL) !=
                 MT_OK;
    if (mt_iter_status(r.it) != MT_OK) done = wl_fail_mt(out, "scan", mt_iter_status(r.it));
    else if (!ordered || seen != (uint64_t)done)
      done = wl_fail(out, "ordered pass saw %llu of %llu keys%s", (unsigned long long)seen,
                     (unsigned long long)done, ordered ? "" : ", out of order");
    else if (missing)
      done = wl_fail(out, "%llu sampled keys not found after the fill",
                     (unsigned long long)missing);
  }
  run_close(&r);
  prog_free(&p);
  return done < 0 ? -1 : 0;
}

/* ---- a multi-phase workload ----------------------------------------------------- */

/* Four phases of N/4 ops each on one memtable, keys uniform over those
 * inserted so far: write-only, read-heavy, scan-heavy, mixed (with
 * deletes).  Each phase's ops/s is a counter; the cell's time is their sum. */
int wl_phases(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  static const rs_mix mixes[4] = {
      {0, 100, 0, 0, 0, 0},   /* write-only */
      {90, 10, 0, 0, 0, 0},   /* read-heavy */
      {20, 10, 0, 0, 70, 0},  /* scan-heavy */
      {40, 10, 30, 10, 10, 0} /* mixed */
  };
  static const char *const names[4] = {"write_ops/s", "readheavy_ops/s", "scanheavy_ops/s",
                                       "mixed_ops/s"};
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  uint64_t ops = ctx->cfg.num < 4 ? 4 : ctx->cfg.num, bound[5];
  for (int ph = 0; ph <= 4; ph++) bound[ph] = ops * (uint64_t)ph / 4;
  rs_prog p;
  rs_gen g;
  if (!prog_alloc(&p, ops, ks, vs)) return wl_fail(out, "out of memory");
  if (!gen_init(&g, ctx, ops, 0x70686173ULL)) {
    prog_free(&p);
    return wl_fail(out, "out of memory");
  }
  g.max_scan = ctx->cfg.scan_len < 1 ? 1 : ctx->cfg.scan_len > 255 ? 255 : ctx->cfg.scan_len;
  for (int ph = 0; ph < 4; ph++) gen_ops(&g, &p, bound[ph], bound[ph + 1], mixes[ph]);
  free(g.dead);

  rs_run r;
  int rc = run_open(&r, ctx, vs, out);
  if (!rc) r.lat = wl_lat_open(out);
  int64_t done = 0;
  double rate[4] = {0, 0, 0, 0};
  for (int ph = 0; !rc && ph < 4; ph++) {
    double before = r.seconds;
    int64_t d = rs_exec(&r, &p, bound[ph], bound[ph + 1], out);
    if (d < 0) {
      rc = -1;
      break;
    }
    done += d;
    rate[ph] = r.seconds > before ? (double)d / (r.seconds - before) : 0;
    if ((uint64_t)d < bound[ph + 1] - bound[ph]) break; /* capped */
  }
  if (!rc) {
    run_result(&r, (uint64_t)done, ops, out);
    for (int ph = 0; ph < 4; ph++) wl_counter(out, names[ph], rate[ph]);
  }
  run_close(&r);
  prog_free(&p);
  return rc ? -1 : 0;
}

/* ---- a delete-heavy workload ---------------------------------------------------- */

/* Load N keys (timed apart: load_ops/s); then N ops: N/2 deletes of distinct random keys
 * interleaved with N/2 gets of random loaded keys, each of which must find
 * the live value or the tombstone its key has at that point.  Untimed after:
 * one ordered pass must count N + N/2 entries, N/2 of them tombstones. */
int wl_deleteheavy(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out) {
  size_t ks = wl_key_size(ctx, w), vs = wl_value_size(ctx, w);
  uint64_t n = ctx->cfg.num, ops = n;
  rs_prog p;
  rs_gen g;
  uint32_t *perm = malloc((n ? n : 1) * sizeof *perm);
  if (!perm || !prog_alloc(&p, ops, ks, vs)) {
    free(perm);
    return wl_fail(out, "out of memory");
  }
  if (!gen_init(&g, ctx, n, 0x64656c68ULL)) {
    free(perm);
    prog_free(&p);
    return wl_fail(out, "out of memory");
  }
  for (uint64_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
  for (uint64_t i = n; i > 1; i--) { /* Fisher-Yates */
    uint64_t j = rng_next(&g) % i;
    uint32_t t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
  g.inserted = n;
  g.del_order = perm;
  gen_ops(&g, &p, 0, ops, (rs_mix){50, 0, 0, 50, 0, 0});
  free(g.dead);
  free(perm);

  rs_run r;
  int64_t done = run_prog(&r, ctx, &p, n, out);
  if (done >= 0) {
    uint64_t dels = r.count[RS_DELETE], entries = 0, tombs = 0;
    wl_counter(out, "deletes", (double)dels);
    wl_counter(out, "reads", (double)(r.count[RS_GET] + r.count[RS_GET_GONE]));
    wl_counter(out, "reads_of_deleted", (double)r.count[RS_GET_GONE]);
    for (mt_iter_seek_to_first(r.it); mt_iter_valid(r.it); mt_iter_next(r.it), entries++)
      tombs += mt_iter_kind(r.it) == MT_DELETE;
    if (mt_iter_status(r.it) != MT_OK) done = wl_fail_mt(out, "scan", mt_iter_status(r.it));
    else if (entries != n + dels || tombs != dels)
      done = wl_fail(out, "ordered pass: %llu entries, %llu tombstones; want %llu, %llu",
                     (unsigned long long)entries, (unsigned long long)tombs,
                     (unsigned long long)(n + dels), (unsigned long long)dels);
  }
  run_close(&r);
  prog_free(&p);
  return done < 0 ? -1 : 0;
}
