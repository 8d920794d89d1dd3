/* test_hash_skiplist_local.c -- what the conformance suite cannot see of the
 * hash_skiplist rep: every prefix distribution (one prefix, many, short keys
 * that are their own prefix, one bucket for all groups), every iterator slot
 * against the reference model both while active (lists) and frozen (index),
 * the cheap path (a point read or a seek inside one prefix never compares a
 * key of another prefix), no degeneration when every key shares a prefix,
 * iterators racing parallel writers, and allocation failures.
 * The test's keys come from fixed seeds; the rep's node heights do not
 * (seeded per thread from an address), so bounds on comparison counts
 * hold over many samples, with room measured over hundreds of runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <memtable/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

static mt_memtable *open_spec(const char *spec, const mt_comparator *cmp) {
  mt_memtable *m = NULL;
  int rc = mt_memtable_new(&m, spec, cmp);
  if (rc != MT_OK) fail_msg("%s: mt_memtable_new: %d %s", spec, rc, mt_last_error());
  return m;
}

static void check(mt_memtable *m, const char *what) {
  int rc = mt_memtable_check(m);
  if (rc != MT_OK) fail_msg("%s: check: %d %s", what, rc, mt_last_error());
}

/* ---- model-based positioning ------------------------------------------------------ */

/* A key of one of several shapes: prefix p (4 bytes) + suffix, or a short
 * key (shorter than the prefix) that is its own prefix. */
static size_t make_key(uint8_t *b, rng *r, unsigned prefixes) {
  if (rng_below(r, 10) == 0) { /* short: 0..3 bytes */
    size_t n = rng_below(r, 4);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)('a' + rng_below(r, 3));
    return n;
  }
  uint32_t p = (uint32_t)rng_below(r, prefixes);
  b[0] = 'a' + (uint8_t)(p % 3), b[1] = (uint8_t)(p >> 16), b[2] = (uint8_t)(p >> 8), b[3] = (uint8_t)p;
  size_t n = 4 + rng_below(r, 6);
  for (size_t i = 4; i < n; i++) b[i] = (uint8_t)rng_below(r, 4);
  return n;
}

/* Every slot against the model at many targets, direction changes included. */
static void positions_vs_model(const char *what, mt_memtable *m, const model *md, rng *r,
                               unsigned prefixes) {
  char why[320];
  if (!model_matches(md, m, why, sizeof why)) fail_msg("%s: %s", what, why);
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  mt_iter_seek_to_last(it);
  assert_true(model_iter_at(md, it, md->n ? md->n - 1 : md->n));
  uint8_t kb[16];
  for (int t = 0; t < 400; t++) {
    mt_slice key = SL(kb, make_key(kb, r, prefixes + prefixes / 4)); /* some absent prefixes */
    size_t lb = model_lower_bound(md, key), ub = model_upper_bound(md, key);
    mt_iter_seek(it, key);
    if (!model_iter_at(md, it, lb)) fail_msg("%s: seek %d", what, t);
    for (size_t i = lb; i < lb + 3 && i < md->n; i++) { /* next, then back */
      mt_iter_next(it);
      if (!model_iter_at(md, it, i + 1)) fail_msg("%s: seek %d, next", what, t);
    }
    mt_iter_seek_for_prev(it, key);
    size_t want = ub ? ub - 1 : md->n;
    if (!model_iter_at(md, it, want)) fail_msg("%s: seek_for_prev %d", what, t);
    for (size_t i = want; i != md->n && i > 0 && i + 3 > want; i--) {
      mt_iter_prev(it);
      if (!model_iter_at(md, it, i - 1)) fail_msg("%s: seek_for_prev %d, prev", what, t);
    }
    if (want != md->n && want == 0) {
      mt_iter_prev(it);
      assert_false(mt_iter_valid(it));
    }
    uint64_t snap = 1 + rng_below(r, 3000);
    size_t idx = 0;
    int wantg = model_get(md, key, snap, &idx);
    uint64_t seq = 0;
    int got = mt_memtable_get(m, key, snap, NULL, &seq);
    if (got != wantg) fail_msg("%s: get %d: %d, model %d", what, t, got, wantg);
    if (got != MT_NOTFOUND) assert_int_equal(seq, md->e[idx].seq);
  }
  mt_iter_free(it);
}

static void fill(mt_memtable *m, model *md, rng *r, unsigned prefixes, int n) {
  uint8_t kb[16];
  for (int i = 0; i < n; i++) {
    mt_slice key = SL(kb, make_key(kb, r, prefixes));
    uint64_t seq = 1 + rng_below(r, 3000);
    mt_kind kind = rng_below(r, 6) ? MT_PUT : MT_DELETE;
    int want = model_add(md, seq, kind, key, S("value"));
    int got = mt_memtable_add(m, seq, kind, key, S("value"));
    if (got != want) fail_msg("add %d: %d, model %d (%s)", i, got, want, mt_last_error());
  }
}

static void distributions(void **state) {
  static const struct {
    const char *spec;
    unsigned prefixes;
  } cases[] = {
      {"hash_skiplist", 1},                           /* every long key in one group */
      {"hash_skiplist", 40},                          /* a few groups of many */
      {"hash_skiplist:prefix_len=4", 3000},           /* groups of about one */
      {"hash_skiplist:prefix_len=4,buckets=1", 200},  /* one chain holds every group */
      {"hash_skiplist:prefix_len=2,max_height=2", 50},/* short lists */
      {"hash_skiplist:prefix_len=0", 100},            /* one group: a plain skip list */
      {"hash_skiplist:branching=2,max_height=32", 7},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    rng r = rng_seed(100 + c);
    mt_memtable *m = open_spec(cases[c].spec, NULL);
    model md;
    model_init(&md, NULL);
    fill(m, &md, &r, cases[c].prefixes, 4000);
    check(m, cases[c].spec);
    positions_vs_model(cases[c].spec, m, &md, &r, cases[c].prefixes);
    assert_int_equal(mt_memtable_freeze(m), MT_OK); /* the index */
    check(m, cases[c].spec);
    positions_vs_model(cases[c].spec, m, &md, &r, cases[c].prefixes);
    mt_memtable_unref(m);
    model_free(&md);
  }
}

/* Keys alike far past their prefix (one prefix, then a big-endian counter):
 * the frozen index's fences start after the bytes the group shares. */
static void sequential_keys_frozen(void **state) {
  mt_memtable *m = open_spec("hash_skiplist", NULL);
  model md;
  model_init(&md, NULL);
  uint8_t kb[16] = {0};
  for (uint32_t i = 0; i < 3000; i++) {
    uint32_t v = 0x10000 + i * 3;
    for (int k = 0; k < 4; k++) kb[12 + k] = (uint8_t)(v >> (24 - 8 * k));
    assert_int_equal(model_add(&md, i + 1, MT_PUT, SL(kb, 16), S("v")), MT_OK);
    assert_int_equal(mt_memtable_add(m, i + 1, MT_PUT, SL(kb, 16), S("v")), MT_OK);
  }
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  check(m, "sequential");
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  rng r = rng_seed(11);
  for (int t = 0; t < 3000; t++) {
    uint8_t q[20] = {0};
    uint32_t v = (uint32_t)rng_below(&r, 0x10000 + 9100);
    size_t n = 16;
    switch (t % 5) {
    case 0: n = 11 + rng_below(&r, 5); break;                /* shorter: inside the shared bytes */
    case 1: q[9] = 1; break;                                 /* leaves the shared bytes upwards */
    case 2: n = 16 + 1 + rng_below(&r, 4); q[17] = 7; break; /* longer */
    default: break;
    }
    for (int k = 0; k < 4; k++) q[12 + k] = (uint8_t)(v >> (24 - 8 * k));
    mt_slice key = SL(q, n);
    mt_iter_seek(it, key);
    if (!model_iter_at(&md, it, model_lower_bound(&md, key))) fail_msg("seek %d", t);
    size_t ub = model_upper_bound(&md, key);
    mt_iter_seek_for_prev(it, key);
    if (!model_iter_at(&md, it, ub ? ub - 1 : md.n)) fail_msg("seek_for_prev %d", t);
    size_t idx;
    assert_int_equal(mt_memtable_get(m, key, MT_SEQ_MAX, NULL, NULL), model_get(&md, key, MT_SEQ_MAX, &idx));
  }
  mt_iter_free(it);
  mt_memtable_unref(m);
  model_free(&md);
}

/* An iterator positioned while active keeps walking the lists after freeze;
 * one positioned after freeze walks the index: both agree. */
static void iterator_across_freeze(void **state) {
  rng r = rng_seed(7);
  mt_memtable *m = open_spec("hash_skiplist:prefix_len=4", NULL);
  model md;
  model_init(&md, NULL);
  fill(m, &md, &r, 30, 2000);
  mt_iter *a, *b;
  assert_int_equal(mt_iter_new(&a, m), MT_OK);
  assert_int_equal(mt_iter_new(&b, m), MT_OK);
  mt_iter_seek_to_first(a);
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  mt_iter_seek_to_first(b);
  size_t n = 0;
  for (; mt_iter_valid(a); mt_iter_next(a), mt_iter_next(b), n++) {
    assert_true(mt_iter_valid(b));
    assert_true(model_iter_at(&md, a, n));
    assert_true(model_iter_at(&md, b, n));
  }
  assert_false(mt_iter_valid(b));
  assert_int_equal(n, md.n);
  mt_iter_free(a);
  mt_iter_free(b);
  mt_memtable_unref(m);
  model_free(&md);
}

/* ---- the cheap path: one prefix, one group -------------------------------------- */

typedef struct counting {
  long calls, cross; /* comparisons; those between keys of different 4-byte prefixes */
} counting;

static int counting_cmp(void *ctx, mt_slice a, mt_slice b) {
  counting *c = ctx;
  c->calls++;
  size_t n = a.len < b.len ? a.len : b.len;
  int r = n ? memcmp(a.data, b.data, n) : 0;
  size_t pa = a.len < 4 ? a.len : 4, pb = b.len < 4 ? b.len : 4;
  if (pa != pb || memcmp(a.data, b.data, pa) != 0) c->cross++;
  return r ? r : a.len < b.len ? -1 : a.len > b.len;
}

static void put_key(uint8_t *b, uint32_t prefix, uint32_t i) {
  for (int k = 0; k < 4; k++) b[k] = (uint8_t)(prefix >> (24 - 8 * k));
  for (int k = 0; k < 4; k++) b[4 + k] = (uint8_t)(i >> (24 - 8 * k));
}

/* Seeks to one prefix and reads it to its end; returns the entries read. */
static int read_prefix(mt_iter *it, uint32_t prefix) {
  uint8_t kb[8];
  put_key(kb, prefix, 0);
  int n = 0;
  for (mt_iter_seek(it, SL(kb, 4)); mt_iter_valid(it); mt_iter_next(it), n++) {
    mt_slice k = mt_iter_key(it);
    if (k.len < 4 || memcmp(k.data, kb, 4) != 0) break;
  }
  return n;
}

static void prefix_path_is_cheap(void **state) {
  counting cnt = {0, 0};
  mt_comparator cmp = {"test.counting", counting_cmp, &cnt};
  mt_memtable *m = open_spec("hash_skiplist:prefix_len=4,cmp_by_prefix=true", &cmp);
  assert_non_null(strstr(mt_memtable_spec(m), "cmp_by_prefix=true"));
  uint8_t kb[8];
  const uint32_t P = 1000, PER = 50;
  for (uint32_t i = 0; i < P * PER; i++) {
    if (i == P) cnt.cross = 0; /* every group exists: creating one ordered it among the others */
    uint32_t p = (i * 7919u) % P, j = i / P;
    put_key(kb, p * 3 + 1, j);
    assert_int_equal(mt_memtable_add(m, i + 1, MT_PUT, SL(kb, 8), S("v")), MT_OK);
  }
  assert_int_equal(cnt.cross, 0); /* an insert into an existing group compares within it only */
  check(m, "counting");
  for (int frozen = 0; frozen < 2; frozen++) {
    mt_iter *it;
    assert_int_equal(mt_iter_new(&it, m), MT_OK);
    long get_calls = 0, sampled = 0;
    for (uint32_t p = 0; p < P; p += 97, sampled++) {
      cnt.calls = cnt.cross = 0;
      assert_int_equal(read_prefix(it, p * 3 + 1), (int)PER);
      /* one group: no merge over 1000 groups, no key of another prefix compared
       * (the only cross-prefix comparison is the test's own bound check) */
      if (cnt.calls > 40) fail_msg("frozen %d: reading one prefix took %ld comparisons", frozen, cnt.calls);
      if (cnt.cross > 0) fail_msg("frozen %d: a seek compared keys of other prefixes", frozen);
      cnt.calls = 0;
      put_key(kb, p * 3 + 1, 17);
      assert_int_equal(mt_memtable_get(m, SL(kb, 8), MT_SEQ_MAX, NULL, NULL), MT_OK);
      put_key(kb, p * 3 + 1, 1000); /* absent key of a present prefix */
      assert_int_equal(mt_memtable_get(m, SL(kb, 8), MT_SEQ_MAX, NULL, NULL), MT_NOTFOUND);
      put_key(kb, p * 3 + 2, 1); /* absent prefix: the bucket says so, no comparison */
      assert_int_equal(mt_memtable_get(m, SL(kb, 8), MT_SEQ_MAX, NULL, NULL), MT_NOTFOUND);
      if (cnt.cross > 0) fail_msg("frozen %d: gets compared keys of other prefixes", frozen);
      get_calls += cnt.calls;
      assert_int_equal(read_prefix(it, p * 3 + 2), 0); /* an absent prefix reads nothing */
    }
    /* Two searches of a 50-entry group: 17 comparisons per prefix is the
     * median.  The heights are random per process (a skip list's are seeded
     * from a thread-local address), so one prefix took up to 44 in 3,300
     * samples; the sum over 11 prefixes stayed within 142-247 in 300 runs.
     * A walk of the group, or of other groups, costs 75 and more each. */
    if (get_calls > 30 * sampled)
      fail_msg("frozen %d: gets took %ld comparisons over %ld prefixes", frozen, get_calls, sampled);
    mt_iter_free(it);
    assert_int_equal(mt_memtable_freeze(m), MT_OK);
  }
  check(m, "counting frozen");
  mt_memtable_unref(m);
}

/* Every key shares one prefix, inserted in order (fillseq) and in reverse:
 * comparisons per insert stay logarithmic. */
static void one_prefix_never_degenerates(void **state) {
  for (int reverse = 0; reverse < 2; reverse++) {
    counting cnt = {0, 0};
    mt_comparator cmp = {"test.counting", counting_cmp, &cnt};
    mt_memtable *m = open_spec("hash_skiplist:prefix_len=4,cmp_by_prefix=true", &cmp);
    uint8_t kb[8];
    const uint32_t N = 100000;
    for (uint32_t i = 0; i < N; i++) {
      put_key(kb, 42, reverse ? N - i : i);
      assert_int_equal(mt_memtable_add(m, i + 1, MT_PUT, SL(kb, 8), S("v")), MT_OK);
    }
    double per = (double)cnt.calls / N;
    if (per > 40) fail_msg("reverse %d: %.1f comparisons per insert into one prefix", reverse, per);
    cnt.calls = 0;
    for (uint32_t i = 0; i < N; i += 101) {
      put_key(kb, 42, i + 1);
      assert_int_equal(mt_memtable_get(m, SL(kb, 8), MT_SEQ_MAX, NULL, NULL), MT_OK);
    }
    per = (double)cnt.calls / (N / 101 + 1);
    if (per > 60) fail_msg("reverse %d: %.1f comparisons per get in one prefix", reverse, per);
    check(m, "one prefix");
    mt_memtable_unref(m);
  }
}

/* ---- parallel writers, readers beside them ------------------------------------------ */

#define WRITERS 2
#define PER_WRITER 20000

typedef struct shared {
  mt_memtable *m;
  _Atomic uint32_t done[WRITERS]; /* keys [0, done) of each writer are in */
  _Atomic int stop;
  int failures;
  char why[200];
} shared;

static void wkey(uint8_t *b, int w, uint32_t i) { /* prefix (i % 64, w) then i */
  b[0] = (uint8_t)(i % 64), b[1] = (uint8_t)w;
  for (int k = 0; k < 4; k++) b[2 + k] = (uint8_t)(i >> (24 - 8 * k));
}

typedef struct warg {
  shared *sh;
  int w;
} warg;

static void *writer(void *p) {
  warg *a = p;
  uint8_t kb[6];
  for (uint32_t i = 0; i < PER_WRITER; i++) {
    wkey(kb, a->w, i);
    int rc = mt_memtable_add(a->sh->m, (uint64_t)a->w * PER_WRITER + i + 1, MT_PUT, SL(kb, 6), SL(kb, 6));
    if (rc != MT_OK) {
      a->sh->failures++;
      break;
    }
    atomic_store_explicit(&a->sh->done[a->w], i + 1, memory_order_release);
  }
  return NULL;
}

/* Full passes forwards and backwards: strictly ordered, and every key a
 * writer had finished before the pass started is there. */
static void *reader(void *p) {
  shared *sh = p;
  mt_iter *it;
  if (mt_iter_new(&it, sh->m) != MT_OK) {
    sh->failures++;
    return NULL;
  }
  uint8_t *seen = calloc(WRITERS * PER_WRITER, 1);
  for (int pass = 0; !atomic_load(&sh->stop) || pass < 2; pass++) {
    uint32_t before[WRITERS];
    for (int w = 0; w < WRITERS; w++) before[w] = atomic_load_explicit(&sh->done[w], memory_order_acquire);
    memset(seen, 0, WRITERS * PER_WRITER);
    uint8_t prev[6];
    size_t prevn = 0;
    bool back = pass & 1;
    for (back ? mt_iter_seek_to_last(it) : mt_iter_seek_to_first(it); mt_iter_valid(it);
         back ? mt_iter_prev(it) : mt_iter_next(it)) {
      mt_slice k = mt_iter_key(it);
      if (k.len != 6 || memcmp(mt_iter_value(it).data, k.data, 6) != 0) {
        snprintf(sh->why, sizeof sh->why, "a torn entry");
        sh->failures++;
        goto out;
      }
      if (prevn) {
        int c = memcmp(prev, k.data, 6);
        if (back ? c <= 0 : c >= 0) {
          snprintf(sh->why, sizeof sh->why, "out of order, pass %d", pass);
          sh->failures++;
          goto out;
        }
      }
      memcpy(prev, k.data, 6), prevn = 6;
      const uint8_t *b = k.data;
      uint32_t i = (uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 | (uint32_t)b[4] << 8 | b[5];
      seen[b[1] * PER_WRITER + i] = 1;
    }
    for (int w = 0; w < WRITERS; w++)
      for (uint32_t i = 0; i < before[w]; i++)
        if (!seen[w * PER_WRITER + i]) {
          snprintf(sh->why, sizeof sh->why, "pass %d missed writer %d key %u", pass, w, i);
          sh->failures++;
          goto out;
        }
    /* seeks and gets beside the writers */
    for (int w = 0; w < WRITERS; w++) {
      uint32_t d = before[w];
      if (!d) continue;
      uint8_t kb[6];
      wkey(kb, w, d - 1);
      mt_iter_seek(it, SL(kb, 6));
      bool ok = mt_iter_valid(it) && memcmp(mt_iter_key(it).data, kb, 6) == 0;
      mt_iter_seek_for_prev(it, SL(kb, 6));
      ok = ok && mt_iter_valid(it) && memcmp(mt_iter_key(it).data, kb, 6) == 0;
      ok = ok && mt_memtable_get(sh->m, SL(kb, 6), MT_SEQ_MAX, NULL, NULL) == MT_OK;
      if (!ok) {
        snprintf(sh->why, sizeof sh->why, "seek or get missed writer %d key %u", w, d - 1);
        sh->failures++;
        goto out;
      }
    }
  }
out:
  free(seen);
  mt_iter_free(it);
  return NULL;
}

static void parallel_writers_with_readers(void **state) {
  const char *specs[] = {"hash_skiplist:prefix_len=2", "hash_skiplist:prefix_len=2,buckets=1",
                         "hash_skiplist:prefix_len=0"};
  for (size_t s = 0; s < 3; s++) {
    shared sh;
    memset(&sh, 0, sizeof sh);
    sh.m = open_spec(specs[s], NULL);
    assert_true(mt_memtable_caps(sh.m) & MT_CAP_CONCURRENT_INSERT);
    pthread_t wt[WRITERS], rt;
    warg args[WRITERS];
    pthread_create(&rt, NULL, reader, &sh);
    for (int w = 0; w < WRITERS; w++) {
      args[w] = (warg){&sh, w};
      pthread_create(&wt[w], NULL, writer, &args[w]);
    }
    for (int w = 0; w < WRITERS; w++) pthread_join(wt[w], NULL);
    atomic_store(&sh.stop, 1);
    pthread_join(rt, NULL);
    if (sh.failures) fail_msg("%s: %d failures: %s", specs[s], sh.failures, sh.why);
    assert_int_equal(mt_memtable_count(sh.m), WRITERS * PER_WRITER);
    check(sh.m, specs[s]);
    assert_int_equal(mt_memtable_freeze(sh.m), MT_OK);
    check(sh.m, specs[s]);
    mt_memtable_unref(sh.m);
  }
}

/* ---- allocation failures ------------------------------------------------------------- */

static void allocation_failures(void **state) {
  for (long at = 0; at < 40; at++) {
    fail_alloc_install(at);
    mt_memtable *m = NULL;
    int rc = mt_memtable_new(&m, "hash_skiplist:prefix_len=3,buckets=64", NULL);
    if (rc != MT_OK) {
      assert_int_equal(rc, MT_ENOMEM);
      assert_null(m);
      fail_alloc_uninstall();
      continue;
    }
    model md;
    model_init(&md, NULL);
    rng r = rng_seed((uint64_t)at);
    uint8_t kb[16];
    char big[3000];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 3000; i++) {
      mt_slice key = SL(kb, make_key(kb, &r, 400));
      uint64_t seq = 1 + (uint64_t)i;
      uint64_t before = mt_memtable_count(m);
      rc = mt_memtable_add(m, seq, MT_PUT, key, SL(big, 1 + (size_t)i % sizeof big));
      if (rc == MT_OK) {
        model_add(&md, seq, MT_PUT, key, SL(big, 1 + (size_t)i % sizeof big));
      } else {
        assert_int_equal(rc, MT_ENOMEM);
        assert_int_equal(mt_memtable_count(m), before);
      }
    }
    fail_alloc_arm(-1);
    check(m, "after failures");
    char why[320];
    if (!model_matches(&md, m, why, sizeof why)) fail_msg("fail at %ld: %s", at, why);
    fail_alloc_arm(0); /* the index cannot be had: the memtable stays active */
    assert_int_equal(mt_memtable_freeze(m), MT_ENOMEM);
    assert_int_equal(mt_memtable_state(m), MT_ACTIVE);
    fail_alloc_arm(-1);
    if (!model_matches(&md, m, why, sizeof why)) fail_msg("fail at %ld, refused freeze: %s", at, why);
    assert_int_equal(mt_memtable_freeze(m), MT_OK);
    check(m, "frozen after failures");
    if (!model_matches(&md, m, why, sizeof why)) fail_msg("fail at %ld, frozen: %s", at, why);
    mt_memtable_unref(m);
    model_free(&md);
    fail_alloc_uninstall();
  }
}

static void spec_and_custom_comparators(void **state) {
  mt_memtable *m = open_spec("hash_skiplist", NULL);
  assert_string_equal(mt_memtable_spec(m),
                      "hash_skiplist:prefix_len=8,buckets=65536,max_height=12,branching=4,cmp_by_prefix=false");
  size_t u = mt_memtable_memory_usage(m);
  assert_true(u >= 65536 * 4); /* the bucket array is counted */
  mt_memtable_unref(m);
  /* a custom comparator without cmp_by_prefix: one group, any order works */
  counting cnt = {0, 0};
  mt_comparator cmp = {"test.counting", counting_cmp, &cnt};
  m = open_spec("hash_skiplist:prefix_len=1", &cmp);
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("b1"), S("v")), MT_OK);
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("a2"), S("v")), MT_OK);
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("a2"), S("v")), MT_EEXIST);
  assert_int_equal(mt_memtable_get(m, S("a2"), MT_SEQ_MAX, NULL, NULL), MT_OK);
  check(m, "custom");
  mt_memtable_unref(m);
  assert_int_equal(mt_memtable_new(&m, "hash_skiplist:buckets=0", NULL), MT_EINVAL);
  assert_int_equal(mt_memtable_new(&m, "hash_skiplist:prefix_len=256", NULL), MT_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(distributions),
      cmocka_unit_test(sequential_keys_frozen),
      cmocka_unit_test(iterator_across_freeze),
      cmocka_unit_test(prefix_path_is_cheap),
      cmocka_unit_test(one_prefix_never_degenerates),
      cmocka_unit_test(parallel_writers_with_readers),
      cmocka_unit_test(allocation_failures),
      cmocka_unit_test(spec_and_custom_comparators),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
