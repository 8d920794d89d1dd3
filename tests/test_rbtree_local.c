/* test_rbtree_local.c -- the rbtree rep beside a model: randomized adds with
 * the invariant check (colours, black heights, order, parent links, the
 * thread and next2) after every one, the rotation-heavy sorted orders, a
 * reversed comparator, out-of-memory at each of the first 40 allocations,
 * readers and iterators racing a writer (LevelDB's scheme: every key a
 * reader knew was added before it started is found; scans never go
 * backwards), and small trees rotating near the root under a reader (gets,
 * seeks and prev must stay right: a missing seqlock or lock fails it). */
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

static void key_of(char *buf, size_t cap, uint64_t k) {
  snprintf(buf, cap, "k%08llu", (unsigned long long)k);
}

static int rev_compare(void *ctx, mt_slice a, mt_slice b) {
  (void)ctx;
  size_t n = a.len < b.len ? a.len : b.len;
  int c = memcmp(a.data, b.data, n);
  if (!c) c = a.len < b.len ? -1 : a.len > b.len;
  return -c;
}

/* Adds, gets and iterator moves at random, all checked against the model. */
static void random_against_model(const mt_comparator *cmp, uint64_t seed) {
  mt_memtable *m;
  assert_int_equal(mt_memtable_new(&m, "rbtree", cmp), MT_OK);
  model md;
  model_init(&md, cmp);
  rng r = rng_seed(seed);
  char k[32], v[32];
  for (int i = 0; i < 3000; i++) {
    key_of(k, sizeof k, rng_below(&r, 400));
    uint64_t seq = 1 + rng_below(&r, 50);
    mt_kind kind = rng_below(&r, 5) ? MT_PUT : MT_DELETE;
    snprintf(v, sizeof v, "v%d", i);
    int want = model_add(&md, seq, kind, S(k), S(v));
    assert_int_equal(mt_memtable_add(m, seq, kind, S(k), S(v)), want);
    assert_int_equal(mt_memtable_check(m), MT_OK);
    if (i % 97 == 0) {
      char why[256];
      assert_true(model_matches(&md, m, why, sizeof why));
    }
    key_of(k, sizeof k, rng_below(&r, 420));
    uint64_t snap = rng_below(&r, 60);
    size_t idx;
    int g = model_get(&md, S(k), snap, &idx);
    mt_slice val;
    uint64_t s;
    assert_int_equal(mt_memtable_get(m, S(k), snap, &val, &s), g);
    if (g != MT_NOTFOUND) assert_int_equal(s, md.e[idx].seq);
  }
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  for (int i = 0; i < 2000; i++) {
    key_of(k, sizeof k, rng_below(&r, 420));
    size_t at;
    if (rng_below(&r, 2)) {
      mt_iter_seek(it, S(k));
      at = model_lower_bound(&md, S(k));
    } else {
      mt_iter_seek_for_prev(it, S(k));
      size_t ub = model_upper_bound(&md, S(k));
      at = ub ? ub - 1 : md.n;
    }
    assert_true(model_iter_at(&md, it, at));
    for (int j = 0; j < 5 && at < md.n; j++) {
      if (rng_below(&r, 2)) {
        mt_iter_next(it);
        at++;
      } else {
        mt_iter_prev(it);
        at = at ? at - 1 : md.n;
      }
      assert_true(model_iter_at(&md, it, at));
    }
  }
  mt_iter_free(it);
  model_free(&md);
  mt_memtable_unref(m);
}

static void random_bytewise(void **state) {
  for (uint64_t seed = 1; seed <= 3; seed++) random_against_model(NULL, seed);
}
static void random_reversed(void **state) {
  mt_comparator rev = {"reversed", rev_compare, NULL};
  random_against_model(&rev, 7);
}

static void sorted_orders(void **state) {
  for (int order = 0; order < 2; order++) {
    mt_memtable *m;
    assert_int_equal(mt_memtable_new(&m, "rbtree", NULL), MT_OK);
    char k[32];
    for (int i = 0; i < 20000; i++) {
      key_of(k, sizeof k, order ? 20000 - i : i);
      assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S(k), S("v")), MT_OK);
      if (i % 1000 == 0) assert_int_equal(mt_memtable_check(m), MT_OK);
    }
    assert_int_equal(mt_memtable_check(m), MT_OK);
    assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S(k), S("v")), MT_EEXIST);
    assert_string_equal(mt_memtable_spec(m), "rbtree");
    mt_memtable_unref(m);
  }
  mt_memtable *m;
  assert_int_equal(mt_memtable_new(&m, "rbtree:fanout=4", NULL), MT_EINVAL);
}

static void out_of_memory(void **state) {
  char k[32];
  for (long fail = 0; fail < 40; fail++) {
    fail_alloc_install(-1);
    mt_memtable *m;
    assert_int_equal(mt_memtable_new(&m, "rbtree", NULL), MT_OK);
    model md;
    model_init(&md, NULL);
    fail_alloc_arm(fail);
    for (int i = 0; i < 3000; i++) {
      key_of(k, sizeof k, (uint64_t)(i * 7919) % 3000);
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

/* ---- readers against a writer -------------------------------------------------------- */

#define CONC_N 200000
typedef struct shared {
  mt_memtable *m;
  _Atomic uint64_t added; /* keys [0, added) of the permutation are in */
  _Atomic int failures;
} shared;

static uint64_t perm(uint64_t i) { return (i * 2654435761u) % CONC_N; } /* a bijection on [0, N) */

static void *writer(void *arg) {
  shared *sh = arg;
  char k[32];
  for (uint64_t i = 0; i < CONC_N; i++) {
    key_of(k, sizeof k, perm(i));
    if (mt_memtable_add(sh->m, i + 1, MT_PUT, S(k), S(k)) != MT_OK)
      atomic_fetch_add(&sh->failures, 1);
    atomic_store_explicit(&sh->added, i + 1, memory_order_release);
  }
  return NULL;
}

static void *getter(void *arg) {
  shared *sh = arg;
  rng r = rng_seed((uint64_t)(uintptr_t)&r);
  char k[32];
  while (atomic_load(&sh->added) < CONC_N) {
    uint64_t n = atomic_load_explicit(&sh->added, memory_order_acquire);
    if (!n) continue;
    uint64_t i = rng_below(&r, n);
    key_of(k, sizeof k, perm(i));
    mt_slice v;
    if (mt_memtable_get(sh->m, S(k), MT_SEQ_MAX, &v, NULL) != MT_OK || v.len != strlen(k) ||
        memcmp(v.data, k, v.len) != 0)
      atomic_fetch_add(&sh->failures, 1);
  }
  return NULL;
}

static void *scanner(void *arg) {
  shared *sh = arg;
  char k[32];
  while (atomic_load(&sh->added) < CONC_N) {
    uint64_t n = atomic_load_explicit(&sh->added, memory_order_acquire);
    mt_iter *it;
    if (mt_iter_new(&it, sh->m) != MT_OK) {
      atomic_fetch_add(&sh->failures, 1);
      break;
    }
    /* every key < bound that was added before the scan started must be seen */
    uint64_t seen = 0, expect = 0;
    for (uint64_t i = 0; i < n; i++) expect += perm(i) < 2000;
    char prev[32] = "";
    for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it)) {
      mt_slice key = mt_iter_key(it);
      snprintf(k, sizeof k, "%.*s", (int)key.len, (const char *)key.data);
      if (strcmp(prev, k) >= 0) atomic_fetch_add(&sh->failures, 1);
      strcpy(prev, k);
      if (strcmp(k, "k00002000") >= 0) break;
      seen++;
    }
    if (seen < expect) atomic_fetch_add(&sh->failures, 1);
    /* and backwards from a seek */
    mt_iter_seek_for_prev(it, S("k00001000"));
    strcpy(prev, "k99999999");
    for (int j = 0; j < 100 && mt_iter_valid(it); j++, mt_iter_prev(it)) {
      mt_slice key = mt_iter_key(it);
      snprintf(k, sizeof k, "%.*s", (int)key.len, (const char *)key.data);
      if (strcmp(prev, k) <= 0) atomic_fetch_add(&sh->failures, 1);
      strcpy(prev, k);
    }
    mt_iter_free(it);
  }
  return NULL;
}

static void readers_beside_writer(void **state) {
  shared sh;
  assert_int_equal(mt_memtable_new(&sh.m, "rbtree", NULL), MT_OK);
  atomic_init(&sh.added, 0);
  atomic_init(&sh.failures, 0);
  pthread_t w, g, s;
  pthread_create(&g, NULL, getter, &sh);
  pthread_create(&s, NULL, scanner, &sh);
  pthread_create(&w, NULL, writer, &sh);
  pthread_join(w, NULL);
  pthread_join(g, NULL);
  pthread_join(s, NULL);
  assert_int_equal(atomic_load(&sh.failures), 0);
  assert_int_equal(mt_memtable_check(sh.m), MT_OK);
  assert_int_equal(mt_memtable_count(sh.m), CONC_N);
  mt_memtable_unref(sh.m);
}

/* Small trees rotate near the root all the time: a reader crossing a
 * rotation without the seqlock would miss keys. */
#define SMALL_N 600
typedef struct small {
  mt_memtable *m;
  uint64_t salt;
  _Atomic uint64_t added;
  _Atomic int failures;
} small;

static void small_key(char *k, size_t cap, const small *sm, uint64_t i) {
  key_of(k, cap, (i * 7919 + sm->salt) % SMALL_N);
}

static void *small_writer(void *arg) {
  small *sm = arg;
  char k[32];
  for (uint64_t i = 0; i < SMALL_N; i++) {
    small_key(k, sizeof k, sm, i);
    if (mt_memtable_add(sm->m, 1, MT_PUT, S(k), S("v")) != MT_OK)
      atomic_fetch_add(&sm->failures, 1);
    atomic_store_explicit(&sm->added, i + 1, memory_order_release);
  }
  return NULL;
}

static void *small_reader(void *arg) {
  small *sm = arg;
  rng r = rng_seed(sm->salt + 1);
  char k[32];
  mt_iter *it;
  if (mt_iter_new(&it, sm->m) != MT_OK) {
    atomic_fetch_add(&sm->failures, 1);
    return NULL;
  }
  while (atomic_load_explicit(&sm->added, memory_order_acquire) < SMALL_N) {
    uint64_t n = atomic_load_explicit(&sm->added, memory_order_acquire);
    if (!n) continue;
    small_key(k, sizeof k, sm, rng_below(&r, n));
    size_t kn = strlen(k);
    if (mt_memtable_get(sm->m, S(k), MT_SEQ_MAX, NULL, NULL) != MT_OK)
      atomic_fetch_add(&sm->failures, 1);
    /* prev walks the parent links: it must land on a smaller key or nowhere */
    mt_iter_seek(it, S(k));
    if (!mt_iter_valid(it) || mt_iter_key(it).len != kn || memcmp(mt_iter_key(it).data, k, kn))
      atomic_fetch_add(&sm->failures, 1);
    mt_iter_prev(it);
    if (mt_iter_valid(it) && memcmp(mt_iter_key(it).data, k, kn) >= 0)
      atomic_fetch_add(&sm->failures, 1);
  }
  mt_iter_free(it);
  return NULL;
}

static void small_trees_rotating(void **state) {
  int failures = 0;
  for (int round = 0; round < 300; round++) {
    small sm = {.salt = (uint64_t)round * 104729};
    assert_int_equal(mt_memtable_new(&sm.m, "rbtree", NULL), MT_OK);
    atomic_init(&sm.added, 0);
    atomic_init(&sm.failures, 0);
    pthread_t w, rd;
    pthread_create(&rd, NULL, small_reader, &sm);
    pthread_create(&w, NULL, small_writer, &sm);
    pthread_join(w, NULL);
    pthread_join(rd, NULL);
    failures += atomic_load(&sm.failures);
    assert_int_equal(mt_memtable_check(sm.m), MT_OK);
    mt_memtable_unref(sm.m);
  }
  assert_int_equal(failures, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(random_bytewise),  cmocka_unit_test(random_reversed),
      cmocka_unit_test(sorted_orders),    cmocka_unit_test(out_of_memory),
      cmocka_unit_test(readers_beside_writer), cmocka_unit_test(small_trees_rotating),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
