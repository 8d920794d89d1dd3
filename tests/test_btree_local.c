/* test_btree_local.c -- the btree rep beside a model, at fanouts small
 * enough that every split case (leaf, inner, root, the append split at the
 * end) happens hundreds of times: randomized adds with the invariant check
 * after every one, keys that share long prefixes or differ only in zero
 * bytes (the key chunks), the empty key with NULL data, a reversed
 * comparator (no chunks), iterators that live through the adds that split
 * their leaves, out-of-memory at every allocation, and readers and
 * iterators racing parallel writers. */
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
#include <string.h>
#include "support.h"

static int rev_compare(void *ctx, mt_slice a, mt_slice b) {
  (void)ctx;
  size_t n = a.len < b.len ? a.len : b.len;
  int c = n ? memcmp(a.data, b.data, n) : 0;
  if (!c) c = a.len < b.len ? -1 : a.len > b.len;
  return -c;
}

/* Key k of a family that stresses the chunks: a 20-byte shared prefix for
 * some, short keys, keys that differ only in trailing zero bytes. */
static mt_slice tricky_key(char *buf, uint64_t k) {
  static const char shared[] = "shared-prefix-20byte";
  size_t n;
  switch (k % 4) {
    case 0: n = (size_t)snprintf(buf, 64, "%s%06llu", shared, (unsigned long long)(k / 4)); break;
    case 1: n = (size_t)snprintf(buf, 64, "k%llu", (unsigned long long)(k / 4)); break;
    case 2: /* the empty key, or "z" followed by 0..7 zero bytes */
      n = (size_t)(k / 4 % 9);
      if (n) buf[0] = 'z';
      if (n > 1) memset(buf + 1, 0, n - 1);
      return SL(n ? buf : NULL, n);
    default: n = (size_t)snprintf(buf, 64, "%s%llu", shared, (unsigned long long)(k / 4 % 13)); break;
  }
  return SL(buf, n);
}

/* The model index of the entry an iterator is on (md->n when invalid). */
static size_t model_index(const model *md, const mt_iter *it) {
  if (!mt_iter_valid(it)) return md->n;
  mt_slice k = mt_iter_key(it);
  uint64_t seq = mt_iter_seq(it);
  for (size_t i = model_lower_bound(md, k); i < md->n; i++)
    if (md->e[i].seq == seq && model_key_compare(md, SL(md->e[i].key, md->e[i].klen), k) == 0) return i;
  return md->n + 1; /* not in the model: a failure */
}

/* Adds at random with check after each; gets; an iterator that lives
 * through the adds and must step to the model's neighbour every time. */
static void random_run(const char *spec, const mt_comparator *cmp, uint64_t seed, int adds) {
  mt_memtable *m;
  assert_int_equal(mt_memtable_new(&m, spec, cmp), MT_OK);
  model md;
  model_init(&md, cmp);
  rng r = rng_seed(seed);
  char kb[64], vb[32];
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  for (int i = 0; i < adds; i++) {
    mt_slice key = tricky_key(kb, rng_below(&r, 600));
    uint64_t seq = 1 + rng_below(&r, 40);
    mt_kind kind = rng_below(&r, 6) ? MT_PUT : MT_DELETE;
    int vn = snprintf(vb, sizeof vb, "v%d", i);
    int want = model_add(&md, seq, kind, key, SL(vb, (size_t)vn));
    assert_int_equal(mt_memtable_add(m, seq, kind, key, SL(vb, (size_t)vn)), want);
    int rc = mt_memtable_check(m);
    if (rc) fail_msg("%s seed %llu add %d: check: %s", spec, (unsigned long long)seed, i, mt_last_error());
    /* the iterator, positioned before this add, steps to the neighbour now */
    size_t at = model_index(&md, it);
    assert_true(at <= md.n);
    if (at < md.n) {
      if (rng_below(&r, 2)) {
        mt_iter_next(it);
        at++;
      } else {
        mt_iter_prev(it);
        at = at ? at - 1 : md.n;
      }
      if (!model_iter_at(&md, it, at)) fail_msg("%s add %d: iterator step off the model", spec, i);
    }
    if (at >= md.n || rng_below(&r, 8) == 0) {
      mt_slice k = tricky_key(kb, rng_below(&r, 620));
      if (rng_below(&r, 2)) {
        mt_iter_seek(it, k);
        at = model_lower_bound(&md, k);
      } else {
        mt_iter_seek_for_prev(it, k);
        size_t ub = model_upper_bound(&md, k);
        at = ub ? ub - 1 : md.n;
      }
      if (!model_iter_at(&md, it, at)) fail_msg("%s add %d: seek off the model", spec, i);
    }
    mt_slice k = tricky_key(kb, rng_below(&r, 620));
    uint64_t snap = rng_below(&r, 45);
    size_t idx;
    int g = model_get(&md, k, snap, &idx);
    uint64_t s;
    assert_int_equal(mt_memtable_get(m, k, snap, NULL, &s), g);
    if (g != MT_NOTFOUND) assert_int_equal(s, md.e[idx].seq);
  }
  char why[320];
  if (!model_matches(&md, m, why, sizeof why)) fail_msg("%s: %s", spec, why);
  mt_iter_seek_to_last(it);
  assert_true(model_iter_at(&md, it, md.n - 1));
  mt_iter_seek_to_first(it);
  assert_true(model_iter_at(&md, it, 0));
  mt_iter_free(it);
  model_free(&md);
  mt_memtable_unref(m);
}

static void random_small_fanouts(void **state) {
  random_run("btree:fanout=4", NULL, 1, 4000);
  random_run("btree:fanout=5", NULL, 2, 4000);
  random_run("btree:fanout=7", NULL, 3, 3000);
  random_run("btree:fanout=16", NULL, 4, 3000);
  random_run("btree", NULL, 5, 3000);
}

static void random_reversed(void **state) {
  mt_comparator rev = {"reversed", rev_compare, NULL};
  random_run("btree:fanout=4", &rev, 6, 3000);
  random_run("btree:fanout=9", &rev, 7, 2000);
}

/* Ascending (the append split), descending and interleaved fills. */
static void sorted_orders(void **state) {
  static const char *specs[] = {"btree:fanout=4", "btree:fanout=6", "btree"};
  for (size_t s = 0; s < 3; s++) {
    for (int order = 0; order < 3; order++) {
      mt_memtable *m;
      assert_int_equal(mt_memtable_new(&m, specs[s], NULL), MT_OK);
      char k[32];
      const int n = 20000;
      for (int i = 0; i < n; i++) {
        int x = order == 0 ? i : order == 1 ? n - i : (i % 2 ? i : n + n - i);
        snprintf(k, sizeof k, "key%08d", x);
        assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S(k), S("v")), MT_OK);
        if (i % 997 == 0) assert_int_equal(mt_memtable_check(m), MT_OK);
      }
      assert_int_equal(mt_memtable_check(m), MT_OK);
      assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S(k), S("v")), MT_EEXIST);
      mt_iter *it;
      assert_int_equal(mt_iter_new(&it, m), MT_OK);
      int count = 0;
      for (mt_iter_seek_to_last(it); mt_iter_valid(it); mt_iter_prev(it)) count++;
      assert_int_equal(count, n);
      mt_iter_free(it);
      mt_memtable_unref(m);
    }
  }
}

static void spec_bounds(void **state) {
  mt_memtable *m;
  assert_int_equal(mt_memtable_new(&m, "btree", NULL), MT_OK);
  assert_true(strncmp(mt_memtable_spec(m), "btree:fanout=", 13) == 0);
  assert_true(mt_memtable_caps(m) & MT_CAP_CONCURRENT_INSERT);
  mt_memtable_unref(m);
  assert_int_equal(mt_memtable_new(&m, "btree:fanout=3", NULL), MT_EINVAL);
  assert_int_equal(mt_memtable_new(&m, "btree:fanout=513", NULL), MT_EINVAL);
  assert_int_equal(mt_memtable_new(&m, "btree:fanout=512", NULL), MT_OK);
  assert_string_equal(mt_memtable_spec(m), "btree:fanout=512");
  mt_memtable_unref(m);
}

static void out_of_memory(void **state) {
  char k[32];
  for (long fail = 0; fail < 40; fail++) {
    fail_alloc_install(-1);
    mt_memtable *m;
    assert_int_equal(mt_memtable_new(&m, "btree:fanout=8", NULL), MT_OK);
    model md;
    model_init(&md, NULL);
    fail_alloc_arm(fail);
    for (int i = 0; i < 3000; i++) {
      snprintf(k, sizeof k, "k%08d", (i * 7919) % 3000);
      int rc = mt_memtable_add(m, 1, MT_PUT, S(k), S("value-value-value-value"));
      if (rc == MT_OK) model_add(&md, 1, MT_PUT, S(k), S("value-value-value-value"));
      else assert_int_equal(rc, MT_ENOMEM);
    }
    fail_alloc_arm(-1);
    assert_int_equal(mt_memtable_check(m), MT_OK);
    char why[256];
    assert_true(model_matches(&md, m, why, sizeof why));
    model_free(&md);
    mt_memtable_unref(m);
    assert_int_equal(fail_alloc_live(), 0);
    fail_alloc_uninstall();
  }
}

/* ---- readers against parallel writers ------------------------------------------------ */

#define CONC_N 120000
#define WRITERS 2
typedef struct shared {
  mt_memtable *m;
  _Atomic uint64_t done[WRITERS]; /* writer w added its first done[w] keys */
  _Atomic int writing;
  _Atomic int failures;
  char first[160]; /* what the first failure was */
} shared;

static void failed(shared *sh, const char *fmt, const char *a, const char *b) {
  if (atomic_fetch_add(&sh->failures, 1) == 0) snprintf(sh->first, sizeof sh->first, fmt, a, b);
}

static uint64_t perm(uint64_t i) { return (i * 2654435761u) % CONC_N; } /* a bijection on [0, N) */
static void key_of(char *buf, uint64_t k) { snprintf(buf, 32, "k%08llu", (unsigned long long)k); }

typedef struct wctx {
  shared *sh;
  int w;
} wctx;

static void *writer(void *arg) {
  wctx *c = arg;
  char k[32];
  uint64_t j = 0;
  for (uint64_t i = (uint64_t)c->w; i < CONC_N; i += WRITERS, j++) {
    key_of(k, perm(i));
    if (mt_memtable_add(c->sh->m, i + 1, MT_PUT, S(k), S(k)) != MT_OK)
      failed(c->sh, "add %s: %s", k, mt_last_error());
    atomic_store_explicit(&c->sh->done[c->w], j + 1, memory_order_release);
  }
  atomic_fetch_sub(&c->sh->writing, 1);
  return NULL;
}

static void *getter(void *arg) {
  shared *sh = arg;
  rng r = rng_seed((uint64_t)(uintptr_t)&r);
  char k[32];
  while (atomic_load(&sh->writing)) {
    int w = (int)rng_below(&r, WRITERS);
    uint64_t n = atomic_load_explicit(&sh->done[w], memory_order_acquire);
    if (!n) continue;
    key_of(k, perm((uint64_t)w + WRITERS * rng_below(&r, n)));
    mt_slice v;
    if (mt_memtable_get(sh->m, S(k), MT_SEQ_MAX, &v, NULL) != MT_OK || v.len != strlen(k) ||
        memcmp(v.data, k, v.len) != 0)
      failed(sh, "get %s%s: missing or wrong", k, "");
  }
  return NULL;
}

/* keys in [lo, hi) known to be in: from one snapshot of the writers' progress */
static uint64_t known_in(shared *sh, uint64_t lo, uint64_t hi) {
  uint64_t n = 0;
  for (int w = 0; w < WRITERS; w++) {
    uint64_t d = atomic_load_explicit(&sh->done[w], memory_order_acquire);
    for (uint64_t j = 0; j < d; j++) {
      uint64_t k = perm((uint64_t)w + WRITERS * j);
      n += k >= lo && k < hi;
    }
  }
  return n;
}

static void *scanner(void *arg) {
  shared *sh = arg;
  char k[32], prev[32];
  rng r = rng_seed(99);
  while (atomic_load(&sh->writing)) {
    mt_iter *it;
    if (mt_iter_new(&it, sh->m) != MT_OK) {
      failed(sh, "mt_iter_new: %s%s", mt_last_error(), "");
      break;
    }
    uint64_t lo = rng_below(&r, CONC_N - 3000), expect = known_in(sh, lo, lo + 3000);
    char lok[32], hik[32];
    key_of(lok, lo);
    key_of(hik, lo + 3000);
    /* forwards: never backwards, nothing known missed */
    uint64_t seen = 0;
    prev[0] = 0;
    for (mt_iter_seek(it, S(lok)); mt_iter_valid(it); mt_iter_next(it)) {
      mt_slice key = mt_iter_key(it);
      snprintf(k, sizeof k, "%.*s", (int)key.len, (const char *)key.data);
      if (strcmp(prev, k) >= 0) failed(sh, "next went from %s to %s", prev, k);
      strcpy(prev, k);
      if (strcmp(k, hik) >= 0) break;
      seen++;
    }
    if (seen < expect) failed(sh, "a forward scan from %s missed keys%s", lok, "");
    /* backwards over the same range */
    expect = known_in(sh, lo, lo + 3000);
    seen = 0;
    strcpy(prev, "l");
    for (mt_iter_seek_for_prev(it, S(hik)); mt_iter_valid(it); mt_iter_prev(it)) {
      mt_slice key = mt_iter_key(it);
      snprintf(k, sizeof k, "%.*s", (int)key.len, (const char *)key.data);
      if (strcmp(prev, k) <= 0) failed(sh, "prev went from %s to %s", prev, k);
      strcpy(prev, k);
      if (strcmp(k, lok) < 0) break;
      if (strcmp(k, hik) < 0) seen++;
    }
    if (seen < expect) failed(sh, "a backward scan from %s missed keys%s", hik, "");
    mt_iter_free(it);
  }
  return NULL;
}

static void readers_beside_writers(const char *spec) {
  shared sh;
  assert_int_equal(mt_memtable_new(&sh.m, spec, NULL), MT_OK);
  for (int w = 0; w < WRITERS; w++) atomic_init(&sh.done[w], 0);
  atomic_init(&sh.writing, WRITERS);
  atomic_init(&sh.failures, 0);
  sh.first[0] = 0;
  pthread_t ws[WRITERS], g, s;
  wctx wc[WRITERS];
  pthread_create(&g, NULL, getter, &sh);
  pthread_create(&s, NULL, scanner, &sh);
  for (int w = 0; w < WRITERS; w++) {
    wc[w] = (wctx){&sh, w};
    pthread_create(&ws[w], NULL, writer, &wc[w]);
  }
  for (int w = 0; w < WRITERS; w++) pthread_join(ws[w], NULL);
  pthread_join(g, NULL);
  pthread_join(s, NULL);
  if (atomic_load(&sh.failures)) fail_msg("%s: %d failures, the first: %s", spec, atomic_load(&sh.failures), sh.first);
  assert_int_equal(mt_memtable_check(sh.m), MT_OK);
  assert_int_equal(mt_memtable_count(sh.m), CONC_N);
  mt_memtable_unref(sh.m);
}

static void concurrent_small_fanout(void **state) { readers_beside_writers("btree:fanout=4"); }
static void concurrent_default(void **state) { readers_beside_writers("btree"); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(random_small_fanouts),    cmocka_unit_test(random_reversed),
      cmocka_unit_test(sorted_orders),           cmocka_unit_test(spec_bounds),
      cmocka_unit_test(out_of_memory),           cmocka_unit_test(concurrent_small_fanout),
      cmocka_unit_test(concurrent_default),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
