/* test_oom.c -- out of memory at every allocation, for every registered rep
 * (one cmocka group per rep name).
 *
 * support.h's failing allocator fails the k-th allocation from the moment
 * it is armed; each operation is tried for k = 0, 1, 2, ... until it
 * completes with no failure.  Every failed attempt must return MT_ENOMEM
 * with a message (or succeed in full, if the library tolerated the
 * failure), change nothing (count, contents, state), and leak nothing:
 * fail_alloc_live() is back to 0 once everything is freed.  Covered:
 * mt_memtable_new, add (many adds, so every growth of the arena and of the
 * rep's own structures is hit), get, iterator creation, freeze, flush.
 * Also run under ASan by `make test`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define REP ((const char *)*state)
#define MAX_K 10000 /* no single operation makes this many allocations */

#define MATCH(md, m)                                                                 \
  do {                                                                               \
    char why_[320];                                                                  \
    if (!model_matches(md, m, why_, sizeof why_)) fail_msg("%s: %s", REP, why_);     \
  } while (0)

static int teardown_allocator(void **state) {
  fail_alloc_uninstall();
  return 0;
}

/* ---- mt_memtable_new ------------------------------------------------------------- */

static void oom_new(void **state) {
  int failures = 0;
  for (long k = 0; k < MAX_K; k++) {
    fail_alloc_install(k);
    mt_memtable *m = (mt_memtable *)&m;
    clear_last_error();
    int rc = mt_memtable_new(&m, REP, NULL);
    bool failed = fail_alloc_failed();
    fail_alloc_arm(-1);
    if (failed && rc != MT_OK) {
      failures++;
      if (rc != MT_ENOMEM) fail_msg("%s: new with allocation %ld failing: %d", REP, k, rc);
      if (m != NULL) fail_msg("%s: new with allocation %ld failing left *out set", REP, k);
      if (!*mt_last_error()) fail_msg("%s: new failed at %ld without a message", REP, k);
      if (fail_alloc_live() != 0)
        fail_msg("%s: new failing at allocation %ld leaked %ld blocks", REP, k, fail_alloc_live());
      continue;
    }
    if (rc != MT_OK) fail_msg("%s: new with no failure: %d %s", REP, rc, mt_last_error());
    /* it works */
    assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("k"), S("v")), MT_OK);
    assert_int_equal(mt_memtable_get(m, S("k"), MT_SEQ_MAX, NULL, NULL), MT_OK);
    mt_memtable_unref(m);
    if (fail_alloc_live() != 0) fail_msg("%s: %ld blocks live after unref", REP, fail_alloc_live());
    if (!failed) break;
  }
  if (failures == 0) fail_msg("%s: mt_memtable_new made no allocation to fail", REP);
  fail_alloc_uninstall();
}

/* ---- add ----------------------------------------------------------------------------- */

/* Every add is tried with allocation k failing for k = 0, 1, ... until one
 * attempt completes with no failure; a failed attempt changes nothing. */
static void oom_adds(void **state) {
  fail_alloc_install(-1);
  mt_memtable *m;
  assert_int_equal(mt_memtable_new(&m, REP, NULL), MT_OK);
  model md;
  model_init(&md, NULL);
  rng r = rng_seed(5);
  char kb[48];
  size_t big = 300 << 10;
  uint8_t *vb = malloc(big);
  memset(vb, 'v', big);
  int failures = 0;
  for (int i = 0; i < 3000; i++) {
    int kn = snprintf(kb, sizeof kb, "key-%0*u", 4 + (int)rng_below(&r, 24), (unsigned)rng_below(&r, 1500));
    size_t vn = i % 500 == 499 ? big : (size_t)rng_below(&r, 200);
    uint64_t seq = 1 + rng_below(&r, 4);
    mt_kind kind = rng_below(&r, 6) ? MT_PUT : MT_DELETE;
    mt_slice key = SL(kb, (size_t)kn), val = SL(vb, vn);
    for (long k = 0;; k++) {
      if (k == MAX_K) fail_msg("%s: add %d never completed", REP, i);
      uint64_t count = mt_memtable_count(m);
      fail_alloc_arm(k);
      clear_last_error();
      int rc = mt_memtable_add(m, seq, kind, key, val);
      bool failed = fail_alloc_failed();
      fail_alloc_arm(-1);
      if (failed && rc == MT_ENOMEM) {
        failures++;
        if (!*mt_last_error()) fail_msg("%s: add %d: MT_ENOMEM without a message", REP, i);
        if (mt_memtable_count(m) != count) fail_msg("%s: add %d: MT_ENOMEM changed the count", REP, i);
        int c = mt_memtable_check(m);
        if (c != MT_OK) fail_msg("%s: add %d: check after MT_ENOMEM: %s", REP, i, mt_last_error());
        MATCH(&md, m);
        continue; /* the next attempt fails a later allocation, until none fails */
      }
      if (failed && rc != MT_OK && rc != MT_EEXIST)
        fail_msg("%s: add %d with allocation %ld failing: %d, expected MT_ENOMEM", REP, i, k, rc);
      int want = model_add(&md, seq, kind, key, val);
      if (rc != want) fail_msg("%s: add %d: %d, expected %d (%s)", REP, i, rc, want, mt_last_error());
      break;
    }
  }
  if (failures == 0) fail_msg("%s: 3000 adds made no allocation to fail", REP);
  assert_int_equal(mt_memtable_check(m), MT_OK);
  MATCH(&md, m);
  free(vb);
  mt_memtable_unref(m);
  model_free(&md);
  if (fail_alloc_live() != 0) fail_msg("%s: %ld blocks live after unref", REP, fail_alloc_live());
  fail_alloc_uninstall();
}

/* ---- reads: get and iterators --------------------------------------------------------------- */

static mt_memtable *filled(void **state, model *md, int n) {
  mt_memtable *m;
  assert_int_equal(mt_memtable_new(&m, REP, NULL), MT_OK);
  model_init(md, NULL);
  char kb[32];
  for (int i = 0; i < n; i++) {
    int kn = snprintf(kb, sizeof kb, "k%05d", (i * 37) % n);
    mt_slice key = SL(kb, (size_t)kn);
    assert_int_equal(mt_memtable_add(m, (uint64_t)i + 1, i % 7 ? MT_PUT : MT_DELETE, key, S("value")),
                     model_add(md, (uint64_t)i + 1, i % 7 ? MT_PUT : MT_DELETE, key, S("value")));
  }
  return m;
}

static void oom_reads(void **state) {
  fail_alloc_install(-1);
  model md;
  mt_memtable *m = filled(state, &md, 500);
  /* iterator creation */
  for (long k = 0;; k++) {
    if (k == MAX_K) fail_msg("%s: mt_iter_new never completed", REP);
    mt_iter *it = (mt_iter *)&it;
    fail_alloc_arm(k);
    clear_last_error();
    int rc = mt_iter_new(&it, m);
    bool failed = fail_alloc_failed();
    fail_alloc_arm(-1);
    if (failed && rc != MT_OK) {
      if (rc != MT_ENOMEM) fail_msg("%s: mt_iter_new failing at %ld: %d", REP, k, rc);
      if (it != NULL) fail_msg("%s: mt_iter_new failing at %ld left *out set", REP, k);
      if (!*mt_last_error()) fail_msg("%s: mt_iter_new failed without a message", REP);
      continue;
    }
    assert_int_equal(rc, MT_OK);
    size_t i = 0;
    for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), i++)
      assert_true(model_iter_at(&md, it, i));
    assert_int_equal(i, md.n);
    mt_iter_free(it);
    if (k == 0 && !failed) fail_msg("%s: mt_iter_new allocates nothing", REP);
    if (!failed) break;
  }
  /* get: may allocate (the seek fallback); a failure is MT_ENOMEM, else the answer is right */
  char kb[32];
  for (int j = 0; j < 50; j++) {
    int kn = snprintf(kb, sizeof kb, "k%05d", j * 11);
    mt_slice key = SL(kb, (size_t)kn);
    size_t idx = 0;
    int want = model_get(&md, key, MT_SEQ_MAX, &idx);
    for (long k = 0;; k++) {
      if (k == MAX_K) fail_msg("%s: get never completed", REP);
      fail_alloc_arm(k);
      uint64_t seq = 0;
      int rc = mt_memtable_get(m, key, MT_SEQ_MAX, NULL, &seq);
      bool failed = fail_alloc_failed();
      fail_alloc_arm(-1);
      if (failed && rc == MT_ENOMEM) continue;
      if (rc != want) fail_msg("%s: get %s: %d, expected %d (allocation %ld failing: %d)", REP, kb, rc, want, k, failed);
      if (want != MT_NOTFOUND) assert_int_equal(seq, md.e[idx].seq);
      if (!failed) break;
    }
  }
  mt_memtable_unref(m);
  model_free(&md);
  if (fail_alloc_live() != 0) fail_msg("%s: %ld blocks live after unref", REP, fail_alloc_live());
  fail_alloc_uninstall();
}

/* ---- freeze and flush ------------------------------------------------------------------------------ */

typedef struct sink_rec {
  const model *md;
  int begins, adds, finishes, finish_status, wrong;
} sink_rec;
static int s_begin(void *ctx, uint64_t id, uint64_t count) {
  ((sink_rec *)ctx)->begins++;
  return MT_OK;
}
static int s_add(void *ctx, mt_slice key, uint64_t seq, mt_kind kind, mt_slice value) {
  sink_rec *s = ctx;
  size_t i = (size_t)s->adds++;
  if (i >= s->md->n || s->md->e[i].seq != seq || s->md->e[i].klen != key.len ||
      memcmp(s->md->e[i].key, key.data, key.len) != 0)
    s->wrong++;
  return MT_OK;
}
static int s_finish(void *ctx, int status) {
  sink_rec *s = ctx;
  s->finishes++;
  s->finish_status = status;
  return MT_OK;
}

static void oom_freeze_and_flush(void **state) {
  fail_alloc_install(-1);
  model md;
  mt_memtable *m = filled(state, &md, 800);
  for (long k = 0;; k++) {
    if (k == MAX_K) fail_msg("%s: freeze never completed", REP);
    fail_alloc_arm(k);
    clear_last_error();
    int rc = mt_memtable_freeze(m);
    bool failed = fail_alloc_failed();
    fail_alloc_arm(-1);
    if (failed && rc != MT_OK) {
      if (rc != MT_ENOMEM) fail_msg("%s: freeze failing at %ld: %d", REP, k, rc);
      if (!*mt_last_error()) fail_msg("%s: freeze failed without a message", REP);
      if (mt_memtable_state(m) != MT_ACTIVE) fail_msg("%s: a failed freeze left state %d", REP, (int)mt_memtable_state(m));
      MATCH(&md, m);
      continue;
    }
    assert_int_equal(rc, MT_OK);
    assert_int_equal(mt_memtable_state(m), MT_IMMUTABLE);
    if (!failed) break;
  }
  MATCH(&md, m);
  mt_flush_sink sink = {s_begin, s_add, s_finish};
  int failures = 0;
  for (long k = 0;; k++) {
    if (k == MAX_K) fail_msg("%s: flush never completed", REP);
    sink_rec s = {&md, 0, 0, 0, 0, 0};
    fail_alloc_arm(k);
    clear_last_error();
    int rc = mt_memtable_flush(m, &sink, &s);
    bool failed = fail_alloc_failed();
    fail_alloc_arm(-1);
    if (failed && rc != MT_OK) {
      failures++;
      if (rc != MT_ENOMEM) fail_msg("%s: flush failing at %ld: %d", REP, k, rc);
      if (!*mt_last_error()) fail_msg("%s: flush failed without a message", REP);
      if (mt_memtable_state(m) != MT_IMMUTABLE) fail_msg("%s: a failed flush left state %d", REP, (int)mt_memtable_state(m));
      if (s.begins && (s.finishes != 1 || s.finish_status >= 0))
        fail_msg("%s: a flush failing after begin called finish %d times with %d", REP, s.finishes, s.finish_status);
      continue;
    }
    assert_int_equal(rc, MT_OK);
    assert_int_equal(s.begins, 1);
    assert_int_equal(s.adds, (int)md.n);
    assert_int_equal(s.wrong, 0);
    assert_int_equal(s.finishes, 1);
    assert_int_equal(s.finish_status, MT_OK);
    assert_int_equal(mt_memtable_state(m), MT_FLUSHED);
    if (!failed) break;
  }
  if (failures == 0) fail_msg("%s: flush made no allocation to fail", REP);
  mt_memtable_unref(m);
  model_free(&md);
  if (fail_alloc_live() != 0) fail_msg("%s: %ld blocks live after unref", REP, fail_alloc_live());
  fail_alloc_uninstall();
}

/* ---- main -------------------------------------------------------------------------------------------- */

static const char *group_rep;
static int group_setup(void **state) {
  *state = (void *)group_rep;
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(oom_new, teardown_allocator),
      cmocka_unit_test_teardown(oom_adds, teardown_allocator),
      cmocka_unit_test_teardown(oom_reads, teardown_allocator),
      cmocka_unit_test_teardown(oom_freeze_and_flush, teardown_allocator),
  };
  const char *names[64];
  size_t n = rep_list(names, 64);
  int failed = n == 0;
  for (size_t i = 0; i < n; i++) {
    group_rep = names[i];
    printf("[==========] rep %s\n", names[i]); /* cmocka does not print the group name */
    fflush(stdout);
    failed += cmocka_run_group_tests_name(names[i], tests, group_setup, NULL);
  }
  return failed;
}
