/* test_vector_local.c -- the vector rep's own paths, beside the conformance
 * suite: a bulk load read while active (lazy merges never change the memory
 * usage), the slow duplicate path (repeated seqs, seqs outside the bitmap
 * window, sparse seqs that exhaust the page budget), keys whose sort windows
 * tie, a reversed comparator, an iterator living across merges and freeze,
 * and writers racing each other and a reader (two writers adding the same
 * (key, seq): exactly one wins). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <memtable/memtable.h>
#include <memtable/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "support.h"

#define CHECK(m) assert_int_equal(mt_memtable_check(m), MT_OK)
#define MATCH(md, m)                                         \
  do {                                                       \
    char why_[320];                                          \
    if (!model_matches(md, m, why_, sizeof why_)) fail_msg("%s", why_); \
  } while (0)

static mt_memtable *open_vec(const char *spec, const mt_comparator *cmp) {
  mt_memtable *m = NULL;
  if (mt_memtable_new(&m, spec, cmp) != MT_OK) fail_msg("new %s: %s", spec, mt_last_error());
  return m;
}

static void key16(uint8_t k[16], uint64_t i) { /* the standard workload's shape */
  uint64_t a = i * 0x9E3779B97F4A7C15ULL, p = (a >> 40) % 1000;
  for (int b = 7; b >= 0; b--, p >>= 8) k[b] = (uint8_t)p;
  for (int b = 15; b >= 8; b--, a >>= 8) k[b] = (uint8_t)a;
}

static void expect_get(mt_memtable *m, mt_slice key, uint64_t snap, int want, uint64_t want_seq) {
  uint64_t seq = 0;
  mt_slice v;
  int rc = mt_memtable_get(m, key, snap, &v, &seq);
  if (rc != want) fail_msg("get at %llu: %d, want %d", (unsigned long long)snap, rc, want);
  if (want != MT_NOTFOUND && seq != want_seq)
    fail_msg("get at %llu: seq %llu, want %llu", (unsigned long long)snap, (unsigned long long)seq,
             (unsigned long long)want_seq);
}

/* A bulk load read while active: gets and scans are right, and reads (which
 * merge lazily, in place) never change the memory usage. */
static void bulk_then_read_active(void **state) {
  (void)state;
  mt_memtable *m = open_vec("vector", NULL);
  const uint64_t n = 60000;
  uint8_t k[16];
  for (uint64_t i = 0; i < n; i++) {
    key16(k, i);
    assert_int_equal(mt_memtable_add(m, i + 1, MT_PUT, SL(k, 16), SL(&i, sizeof i)), MT_OK);
  }
  size_t usage = mt_memtable_memory_usage(m);
  for (uint64_t i = 0; i < n; i += 7) {
    key16(k, i);
    expect_get(m, SL(k, 16), MT_SEQ_MAX, MT_OK, i + 1);
    expect_get(m, SL(k, 16), i, MT_NOTFOUND, 0);
  }
  assert_int_equal(mt_memtable_memory_usage(m), usage);
  CHECK(m);
  /* interleave adds and reads: many small runs, then scans across them */
  for (uint64_t i = n; i < n + 5000; i++) {
    key16(k, i);
    assert_int_equal(mt_memtable_add(m, i + 1, MT_PUT, SL(k, 16), SL(&i, sizeof i)), MT_OK);
    uint64_t j = (i * 31) % (i + 1);
    key16(k, j);
    expect_get(m, SL(k, 16), MT_SEQ_MAX, MT_OK, j + 1);
    if (i % 1000 == 0) CHECK(m);
  }
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  uint64_t seen = 0;
  uint8_t prev[16];
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), seen++) {
    mt_slice key = mt_iter_key(it);
    assert_int_equal(key.len, 16);
    if (seen) assert_true(memcmp(prev, key.data, 16) < 0);
    memcpy(prev, key.data, 16);
  }
  assert_int_equal(seen, n + 5000);
  for (mt_iter_seek_to_last(it), seen = 0; mt_iter_valid(it); mt_iter_prev(it)) seen++;
  assert_int_equal(seen, n + 5000);
  mt_iter_free(it);
  usage = mt_memtable_memory_usage(m);
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  assert_true(mt_memtable_memory_usage(m) <= usage); /* the seq bitmap goes */
  CHECK(m);
  key16(k, 12345);
  expect_get(m, SL(k, 16), MT_SEQ_MAX, MT_OK, 12346);
  mt_memtable_unref(m);
}

/* Random adds against the model with seqs drawn to hit every duplicate path:
 * repeated small seqs (bit set), seqs far outside the window, sparse seqs. */
static void seq_paths_against_model(void **state) {
  (void)state;
  static const uint64_t far[] = {1ULL << 40, (1ULL << 40) + 1, MT_SEQ_MAX, MT_SEQ_MAX - 1, 0};
  for (int mode = 0; mode < 3; mode++) {
    mt_memtable *m = open_vec("vector:reserve=10000", NULL);
    model md;
    model_init(&md, NULL);
    rng r = rng_seed(100 + (uint64_t)mode);
    char k[32], v[16];
    for (int i = 0; i < 2500; i++) {
      snprintf(k, sizeof k, "k%05u", (unsigned)rng_below(&r, 300));
      uint64_t seq = mode == 0 ? 1 + rng_below(&r, 40)
                     : mode == 1 ? far[rng_below(&r, 5)] + rng_below(&r, 3) % 2
                                 : rng_below(&r, MT_SEQ_MAX);
      if (seq > MT_SEQ_MAX) seq = MT_SEQ_MAX;
      if (i % 50 == 49 && md.n) { /* an existing (key, seq) */
        const model_entry *e = &md.e[rng_below(&r, md.n)];
        snprintf(k, sizeof k, "%.*s", (int)e->klen, (const char *)e->key);
        seq = e->seq;
      }
      snprintf(v, sizeof v, "v%d", i);
      mt_kind kind = rng_below(&r, 5) ? MT_PUT : MT_DELETE;
      int want = model_add(&md, seq, kind, S(k), S(v));
      size_t before = mt_memtable_memory_usage(m);
      int got = mt_memtable_add(m, seq, kind, S(k), S(v));
      if (got != want) fail_msg("mode %d add %d: %d, want %d (%s)", mode, i, got, want, mt_last_error());
      if (got == MT_EEXIST) assert_int_equal(mt_memtable_memory_usage(m), before);
      if (i % 10 == 0) {
        snprintf(k, sizeof k, "k%05u", (unsigned)rng_below(&r, 310));
        uint64_t snap = rng_below(&r, 2) ? MT_SEQ_MAX : seq;
        size_t idx;
        int w = model_get(&md, S(k), snap, &idx);
        expect_get(m, S(k), snap, w, w == MT_NOTFOUND ? 0 : md.e[idx].seq);
      }
      if (i % 250 == 0) {
        CHECK(m);
        MATCH(&md, m);
      }
    }
    CHECK(m);
    MATCH(&md, m);
    assert_int_equal(mt_memtable_freeze(m), MT_OK);
    CHECK(m);
    MATCH(&md, m);
    model_free(&md);
    mt_memtable_unref(m);
  }
}

/* Keys whose 8-byte sort windows tie (long shared prefixes, keys that are
 * prefixes of others, the empty key) and a reversed comparator. */
static int rev_compare(void *ctx, mt_slice a, mt_slice b) {
  (void)ctx;
  size_t n = a.len < b.len ? a.len : b.len;
  int c = n ? memcmp(a.data, b.data, n) : 0;
  if (!c) c = a.len < b.len ? -1 : a.len > b.len;
  return -c;
}

static void window_ties_and_comparators(void **state) {
  (void)state;
  mt_comparator rev = {"reverse", rev_compare, NULL};
  const mt_comparator *cmps[] = {NULL, &rev};
  for (int c = 0; c < 2; c++) {
    mt_memtable *m = open_vec("vector", cmps[c]);
    model md;
    model_init(&md, cmps[c]);
    rng r = rng_seed(9);
    char k[64];
    for (int i = 0; i < 4000; i++) {
      unsigned x = (unsigned)rng_below(&r, 1500);
      int len;
      switch (x % 4) {
        case 0: len = snprintf(k, sizeof k, "common-prefix-common-prefix-%06u", x); break;
        case 1: len = snprintf(k, sizeof k, "ab%u", x % 7); break;
        case 2: len = (int)(x % 9); memset(k, 'z', (size_t)len); break;
        default: len = snprintf(k, sizeof k, "%c%c", (char)(x % 3), (char)(x % 5)); break;
      }
      uint64_t seq = (uint64_t)i + 1;
      int want = model_add(&md, seq, MT_PUT, SL(k, (size_t)len), S("v"));
      assert_int_equal(mt_memtable_add(m, seq, MT_PUT, SL(k, (size_t)len), S("v")), want);
      if (i % 500 == 0) MATCH(&md, m); /* merges of every size along the way */
    }
    CHECK(m);
    MATCH(&md, m);
    assert_int_equal(mt_memtable_freeze(m), MT_OK);
    CHECK(m);
    MATCH(&md, m);
    model_free(&md);
    mt_memtable_unref(m);
  }
}

/* Several runs and an unsorted tail under one iterator: random moves with
 * direction changes against the model (the k-way merge of the sources). */
static void iterator_over_runs_and_tail(void **state) {
  (void)state;
  mt_memtable *m = open_vec("vector", NULL);
  model md;
  model_init(&md, NULL);
  rng r = rng_seed(77);
  char k[32];
  for (int i = 0; i < 3000; i++) {
    snprintf(k, sizeof k, "k%05u", (unsigned)rng_below(&r, 2000) * 2);
    uint64_t seq = 1 + (uint64_t)i;
    assert_int_equal(mt_memtable_add(m, seq, MT_PUT, S(k), S("v")), model_add(&md, seq, MT_PUT, S(k), S("v")));
    if (i % 65 == 64 && i < 2950) expect_get(m, S("none"), MT_SEQ_MAX, MT_NOTFOUND, 0); /* merge now */
  }
  CHECK(m); /* several runs and a tail of up to 64 */
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  size_t pos = md.n;
  for (int step = 0; step < 20000; step++) {
    int op = (int)rng_below(&r, 6);
    if ((op == 2 || op == 3) && pos == md.n) op = 0;
    snprintf(k, sizeof k, "k%05u", (unsigned)rng_below(&r, 4010));
    switch (op) {
      case 0: mt_iter_seek(it, S(k)); pos = model_lower_bound(&md, S(k)); break;
      case 1: {
        size_t u = model_upper_bound(&md, S(k));
        mt_iter_seek_for_prev(it, S(k));
        pos = u ? u - 1 : md.n;
        break;
      }
      case 2: mt_iter_next(it); pos++; break;
      case 3: mt_iter_prev(it); pos = pos ? pos - 1 : md.n; break;
      case 4: mt_iter_seek_to_first(it); pos = 0; break;
      default: mt_iter_seek_to_last(it); pos = md.n - 1; break;
    }
    if (!model_iter_at(&md, it, pos)) fail_msg("step %d op %d: not at model entry %zu", step, op, pos);
  }
  mt_iter_seek_to_first(it);
  for (size_t i = 0; i < md.n; i++) { /* next, prev, next at every entry */
    assert_true(model_iter_at(&md, it, i));
    mt_iter_next(it);
    if (i + 1 < md.n) {
      mt_iter_prev(it);
      assert_true(model_iter_at(&md, it, i));
      mt_iter_next(it);
    }
  }
  assert_false(mt_iter_valid(it));
  mt_iter_free(it);
  model_free(&md);
  mt_memtable_unref(m);
}

/* An iterator made early keeps working while adds and merges go on and
 * across freeze: it never goes backwards, and it sees what existed before
 * it. */
static void iterator_across_merges(void **state) {
  (void)state;
  mt_memtable *m = open_vec("vector", NULL);
  char k[32];
  for (unsigned i = 0; i < 1000; i++) {
    snprintf(k, sizeof k, "k%06u", i * 2);
    assert_int_equal(mt_memtable_add(m, i + 1, MT_PUT, S(k), S("v")), MT_OK);
  }
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  mt_iter_seek_to_first(it);
  char prev[32] = "";
  uint64_t prev_seq = 0;
  unsigned seen_even = 0, added = 0;
  while (mt_iter_valid(it)) {
    mt_slice key = mt_iter_key(it);
    snprintf(k, sizeof k, "%.*s", (int)key.len, (const char *)key.data);
    int c = strcmp(prev, k);
    assert_true(c < 0 || (c == 0 && mt_iter_seq(it) < prev_seq)); /* forward in internal order */
    strcpy(prev, k);
    prev_seq = mt_iter_seq(it);
    unsigned x = (unsigned)atoi(k + 1);
    if (x % 2 == 0) seen_even++;
    /* odd keys land everywhere, forcing merges (and gen changes) under it */
    for (int j = 0; j < 3; j++, added++) {
      char nk[32];
      snprintf(nk, sizeof nk, "k%06u", (added * 7919u % 2000u) | 1u);
      int rc = mt_memtable_add(m, 10000 + added, MT_PUT, S(nk), S("w"));
      assert_true(rc == MT_OK);
    }
    if (added % 300 == 0) expect_get(m, S("k000002"), MT_SEQ_MAX, MT_OK, 2); /* a reader merges */
    if (added == 1500) assert_int_equal(mt_memtable_freeze(m), MT_OK), added = 100000;
    mt_iter_next(it);
    if (added >= 100000) added++; /* frozen: stop adding */
    if (added > 100000) {
      while (mt_iter_valid(it)) {
        key = mt_iter_key(it);
        snprintf(k, sizeof k, "%.*s", (int)key.len, (const char *)key.data);
        c = strcmp(prev, k);
        assert_true(c < 0 || (c == 0 && mt_iter_seq(it) < prev_seq));
        strcpy(prev, k);
        prev_seq = mt_iter_seq(it);
        if (atoi(k + 1) % 2 == 0) seen_even++;
        mt_iter_next(it);
      }
    }
  }
  assert_int_equal(seen_even, 1000);
  mt_iter_free(it);
  CHECK(m);
  mt_memtable_unref(m);
}

/* ---- threads ------------------------------------------------------------------------ */

typedef struct shared {
  mt_memtable *m;
  uint64_t n;
  _Atomic uint64_t done[2]; /* writer w has finished every i < done[w] of its parity */
  _Atomic int wins, fails, miss;
  _Atomic bool stop;
} shared;

typedef struct warg {
  shared *sh;
  int w;
} warg;

static void *writer(void *p) {
  warg *a = p;
  shared *sh = a->sh;
  uint8_t k[16];
  for (uint64_t i = (uint64_t)a->w; i < sh->n; i += 2) {
    key16(k, i);
    int rc = mt_memtable_add(sh->m, i + 1, MT_PUT, SL(k, 16), SL(&i, sizeof i));
    if (rc != MT_OK && atomic_fetch_add(&sh->fails, 1) == 0)
      fprintf(stderr, "writer %d: add %llu: %s\n", a->w, (unsigned long long)i, mt_last_error());
    /* both writers add this one: (key, seq) duplicates race */
    key16(k, sh->n + i / 2);
    rc = mt_memtable_add(sh->m, sh->n + i / 2 + 1, MT_PUT, SL(k, 16), S("dup"));
    if (rc == MT_OK) atomic_fetch_add(&sh->wins, 1);
    else if (rc != MT_EEXIST && atomic_fetch_add(&sh->fails, 1) == 0)
      fprintf(stderr, "writer %d: dup add: %s\n", a->w, mt_last_error());
    atomic_store_explicit(&sh->done[a->w], i + 1, memory_order_release);
  }
  return NULL;
}

static void *reader(void *p) {
  shared *sh = p;
  uint8_t k[16];
  uint64_t x = 1;
  while (!atomic_load(&sh->stop)) {
    uint64_t w = x & 1, d = atomic_load_explicit(&sh->done[w], memory_order_acquire);
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    if (d <= w) continue; /* nothing of writer w yet */
    uint64_t i = w + 2 * ((x >> 20) % ((d - 1 - w) / 2 + 1)); /* an entry of writer w, < d */
    key16(k, i);
    uint64_t seq;
    if (mt_memtable_get(sh->m, SL(k, 16), MT_SEQ_MAX, NULL, &seq) != MT_OK || seq != i + 1)
      atomic_fetch_add(&sh->miss, 1);
  }
  return NULL;
}

/* Scans beside the writers: strictly increasing, never torn, and every
 * entry finished before the iterator was made is there. */
static void *scanner(void *p) {
  shared *sh = p;
  while (!atomic_load(&sh->stop)) {
    uint64_t d0 = atomic_load_explicit(&sh->done[0], memory_order_acquire);
    uint64_t d1 = atomic_load_explicit(&sh->done[1], memory_order_acquire);
    mt_iter *it;
    if (mt_iter_new(&it, sh->m) != MT_OK) {
      atomic_fetch_add(&sh->fails, 1);
      break;
    }
    uint64_t must = 0, prev_seq = 0;
    uint8_t prev[16];
    bool first = true;
    bool back = (d0 + d1) % 3 == 0; /* some scans run backwards */
    for (back ? mt_iter_seek_to_last(it) : mt_iter_seek_to_first(it); mt_iter_valid(it);
         back ? mt_iter_prev(it) : mt_iter_next(it)) {
      mt_slice k = mt_iter_key(it);
      uint64_t seq = mt_iter_seq(it);
      if (k.len != 16) { atomic_fetch_add(&sh->miss, 1); break; }
      if (!first) {
        int c = memcmp(prev, k.data, 16);
        if (back ? !(c > 0 || (c == 0 && seq > prev_seq)) : !(c < 0 || (c == 0 && seq < prev_seq))) {
          atomic_fetch_add(&sh->miss, 1);
          break;
        }
      }
      first = false;
      memcpy(prev, k.data, 16);
      prev_seq = seq;
      if (seq <= sh->n) {
        uint64_t i = seq - 1;
        uint8_t want[16];
        key16(want, i);
        if (memcmp(want, k.data, 16) != 0 || mt_iter_value(it).len != sizeof i) atomic_fetch_add(&sh->miss, 1);
        if (i < (i & 1 ? d1 : d0)) must++;
      }
    }
    mt_iter_free(it);
    if (must != (d0 + 1) / 2 + d1 / 2) atomic_fetch_add(&sh->miss, 1);
  }
  return NULL;
}

static void writers_and_reader(void **state) {
  (void)state;
  shared sh = {.n = 40000};
  sh.m = open_vec("vector", NULL);
  pthread_t t[4];
  warg a[2] = {{&sh, 0}, {&sh, 1}};
  pthread_create(&t[2], NULL, reader, &sh);
  pthread_create(&t[3], NULL, scanner, &sh);
  for (int w = 0; w < 2; w++) pthread_create(&t[w], NULL, writer, &a[w]);
  for (int w = 0; w < 2; w++) pthread_join(t[w], NULL);
  atomic_store(&sh.stop, true);
  pthread_join(t[2], NULL);
  pthread_join(t[3], NULL);
  assert_int_equal(atomic_load(&sh.fails), 0);
  assert_int_equal(atomic_load(&sh.miss), 0);
  assert_int_equal(atomic_load(&sh.wins), sh.n / 2); /* each racing pair: one winner */
  assert_int_equal(mt_memtable_count(sh.m), sh.n + sh.n / 2);
  CHECK(sh.m);
  assert_int_equal(mt_memtable_freeze(sh.m), MT_OK);
  CHECK(sh.m);
  mt_memtable_unref(sh.m);
}

/* Writers sharing one seq (every add after the first goes the slow way)
 * beside writers with their own seqs, plus exact duplicates racing. */
typedef struct same_seq {
  mt_memtable *m;
  int w;
  _Atomic int *oks, *fails;
} same_seq;

static void *same_seq_writer(void *p) {
  same_seq *a = p;
  char k[32];
  for (int i = 0; i < 3000; i++) {
    int x = i % 4 == 3 ? i - 1 : i; /* every fourth: writer 0's previous key again */
    snprintf(k, sizeof k, "w%d-%05d", a->w == 1 && i % 4 == 3 ? 0 : a->w, x);
    uint64_t seq = a->w == 2 ? 1000 + (uint64_t)i : 7;
    int rc = mt_memtable_add(a->m, seq, MT_PUT, S(k), S("v"));
    if (rc == MT_OK) atomic_fetch_add(a->oks, 1);
    else if (rc != MT_EEXIST) atomic_fetch_add(a->fails, 1);
  }
  return NULL;
}

static void shared_seq_writers(void **state) {
  (void)state;
  mt_memtable *m = open_vec("vector", NULL);
  _Atomic int oks = 0, fails = 0;
  same_seq a[3];
  pthread_t t[3];
  for (int w = 0; w < 3; w++) {
    a[w] = (same_seq){m, w, &oks, &fails};
    pthread_create(&t[w], NULL, same_seq_writer, &a[w]);
  }
  for (int w = 0; w < 3; w++) pthread_join(t[w], NULL);
  assert_int_equal(atomic_load(&fails), 0);
  /* at seq 7: writer 0's 2250 distinct keys (750 of them added three times:
   * twice by writer 0, once by writer 1, one add wins) and writer 1's own
   * 2250; writer 2: 3000 at their own seqs */
  assert_int_equal(atomic_load(&oks), 2250 + 2250 + 3000);
  assert_int_equal(mt_memtable_count(m), (uint64_t)atomic_load(&oks));
  CHECK(m);
  expect_get(m, S("w0-00002"), MT_SEQ_MAX, MT_OK, 7);
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  CHECK(m);
  mt_memtable_unref(m);
}

/* Out of memory at every allocation of an add and of a freeze: MT_ENOMEM,
 * nothing visible changes, and the next call works. */
static void oom_every_allocation(void **state) {
  (void)state;
  for (long fail_at = 0; fail_at < 40; fail_at++) {
    mt_memtable *m = open_vec("vector", NULL);
    char k[32];
    for (unsigned i = 0; i < 300; i++) {
      snprintf(k, sizeof k, "k%05u", i * 37 % 1000);
      assert_int_equal(mt_memtable_add(m, i + 1, MT_PUT, S(k), S("v")), MT_OK);
    }
    fail_alloc_install(fail_at);
    int rc = MT_OK;
    for (unsigned i = 300; i < 20000 && rc == MT_OK; i++) {
      snprintf(k, sizeof k, "k%05u", i);
      uint64_t before = mt_memtable_count(m);
      rc = mt_memtable_add(m, i % 3 ? i + 1 : 5, MT_PUT, S(k), S("v")); /* some repeat a seq */
      if (rc != MT_OK) {
        assert_int_equal(rc, MT_ENOMEM);
        assert_int_equal(mt_memtable_count(m), before);
      }
      if (i % 1000 == 0 && rc == MT_OK) expect_get(m, S("k00037"), MT_SEQ_MAX, MT_OK, 2);
    }
    if (rc == MT_OK) rc = mt_memtable_freeze(m);
    fail_alloc_uninstall();
    CHECK(m);
    if (mt_memtable_state(m) == MT_ACTIVE) assert_int_equal(mt_memtable_freeze(m), MT_OK);
    CHECK(m);
    mt_memtable_unref(m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bulk_then_read_active),
      cmocka_unit_test(seq_paths_against_model),
      cmocka_unit_test(window_ties_and_comparators),
      cmocka_unit_test(iterator_over_runs_and_tail),
      cmocka_unit_test(iterator_across_merges),
      cmocka_unit_test(writers_and_reader),
      cmocka_unit_test(shared_seq_writers),
      cmocka_unit_test(oom_every_allocation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
