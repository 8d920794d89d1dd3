/* test_conformance.c -- the conformance suite: written once against the
 * public API (memtable.h, plus rep.h's mt_memtable_check) and run for every
 * registered rep.  main() runs one cmocka group per name in mt_rep_names(),
 * with the rep name as the group state, so a rep gets every test here by
 * registering.
 *
 * What it checks (DESIGN.md "Semantics every rep must pass"):
 *   internal-key order with many versions per key; gets at snapshots;
 *   tombstones; every MT_EEXIST / MT_EINVAL / MT_EFROZEN case changing
 *   nothing; bad arguments naming themselves in mt_last_error(); iterator
 *   positioning against a reference model (support.h), direction changes
 *   included; randomized model-based runs with the rep's check after every
 *   operation; custom comparators; empty keys and values; long keys and big
 *   values; memory accounting bounds; the flush sink protocol; freeze; the
 *   canonical spec; caps; reference counting.
 *
 * Single-threaded; test_conc_conformance.c has the concurrent half.  Every
 * test is deterministic (fixed seeds) so a failure replays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* ---- helpers --------------------------------------------------------------- */

#define REP ((const char *)*state)

static mt_memtable *open_rep(void **state, const mt_comparator *cmp) {
  mt_memtable *m = NULL;
  int rc = mt_memtable_new(&m, REP, cmp);
  if (rc != MT_OK || !m) fail_msg("%s: mt_memtable_new: %d %s", REP, rc, mt_last_error());
  return m;
}

#define CHECK(m)                                                                        \
  do {                                                                                  \
    int rc_ = mt_memtable_check(m);                                                     \
    if (rc_ != MT_OK) fail_msg("%s: mt_memtable_check: %d %s", REP, rc_, mt_last_error()); \
  } while (0)

#define MATCH(md, m)                                                   \
  do {                                                                 \
    char why_[320];                                                    \
    if (!model_matches(md, m, why_, sizeof why_)) fail_msg("%s: %s", REP, why_); \
  } while (0)

/* Adds to both the memtable and the model; both must agree on the status. */
#define ADD_BOTH(m, md, seq, kind, key, val)                                              \
  add_both(state, m, md, seq, kind, key, val)

static void add_both(void **state, mt_memtable *m, model *md, uint64_t seq, mt_kind kind,
                     mt_slice key, mt_slice val) {
  int want = model_add(md, seq, kind, key, val);
  int got = mt_memtable_add(m, seq, kind, key, val);
  if (got != want)
    fail_msg("%s: add seq %llu returned %d, expected %d (%s)", REP, (unsigned long long)seq, got,
             want, mt_last_error());
}

static mt_slice keyf(char *buf, size_t cap, unsigned i) {
  int n = snprintf(buf, cap, "k%06u", i);
  return SL(buf, (size_t)n);
}

/* Compares a get against the model: status, seq and value. */
static void get_vs_model(void **state, mt_memtable *m, const model *md, mt_slice key,
                         uint64_t snap) {
  size_t idx = 0;
  int want = model_get(md, key, snap, &idx);
  mt_slice v = {NULL, 0};
  uint64_t seq = ~0ULL;
  int got = mt_memtable_get(m, key, snap, &v, &seq);
  if (got != want)
    fail_msg("%s: get '%.*s' at %llu: %d, model %d", REP, (int)key.len, (const char *)key.data,
             (unsigned long long)snap, got, want);
  if (want == MT_NOTFOUND) return;
  assert_int_equal(seq, md->e[idx].seq);
  if (want == MT_OK) {
    assert_int_equal(v.len, md->e[idx].vlen);
    if (v.len) assert_memory_equal(v.data, md->e[idx].val, v.len);
  }
}

typedef struct snapshot {
  uint64_t count;
  size_t usage;
  mt_state st;
} snapshot;

static snapshot take(mt_memtable *m) {
  snapshot s = {mt_memtable_count(m), mt_memtable_memory_usage(m), mt_memtable_state(m)};
  return s;
}

/* The call was rejected with `want`: the error text is set and nothing changed. */
static void rejected(void **state, int got, int want, mt_memtable *m, const model *md, snapshot before,
                     const char *what) {
  if (got != want) fail_msg("%s: %s returned %d, expected %d", REP, what, got, want);
  if (!*mt_last_error()) fail_msg("%s: %s: mt_last_error() is empty", REP, what);
  snapshot after = take(m);
  if (after.count != before.count || after.usage != before.usage || after.st != before.st)
    fail_msg("%s: %s changed the memtable: count %llu->%llu usage %zu->%zu state %d->%d", REP, what,
             (unsigned long long)before.count, (unsigned long long)after.count, before.usage,
             after.usage, (int)before.st, (int)after.st);
  MATCH(md, m);
  CHECK(m);
}

/* ---- order ------------------------------------------------------------------- */

static void order_many_versions(void **state) {
  rng r = rng_seed(1);
  char kb[32], vb[48];
  /* random keys and seqs, duplicates included */
  mt_memtable *m = open_rep(state, NULL);
  model md;
  model_init(&md, NULL);
  for (int i = 0; i < 3000; i++) {
    unsigned k = (unsigned)rng_below(&r, 200);
    uint64_t seq = 1 + rng_below(&r, 600);
    mt_kind kind = rng_below(&r, 5) ? MT_PUT : MT_DELETE;
    int vn = snprintf(vb, sizeof vb, "v%llu.%u", (unsigned long long)seq, k);
    ADD_BOTH(m, &md, seq, kind, keyf(kb, sizeof kb, k), SL(vb, (size_t)vn));
  }
  assert_true(md.n > 2000); /* many versions per key */
  CHECK(m);
  MATCH(&md, m);
  mt_memtable_unref(m);
  model_free(&md);

  /* ascending keys, ascending seqs per key (the usual write order), then
   * descending keys, descending seqs */
  for (int dir = 0; dir < 2; dir++) {
    m = open_rep(state, NULL);
    model_init(&md, NULL);
    uint64_t seq = dir ? 100000 : 1;
    for (int i = 0; i < 500; i++) {
      unsigned k = dir ? 499 - (unsigned)i : (unsigned)i;
      for (int v = 0; v < 4; v++) {
        ADD_BOTH(m, &md, seq, MT_PUT, keyf(kb, sizeof kb, k), S("x"));
        seq = dir ? seq - 1 : seq + 1;
      }
    }
    CHECK(m);
    MATCH(&md, m);
    mt_memtable_unref(m);
    model_free(&md);
  }
}

/* ---- gets and tombstones ------------------------------------------------------- */

static void get_at_snapshots(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  /* b: put@10, delete@20, put@30; a and c bracket it */
  assert_int_equal(mt_memtable_add(m, 5, MT_PUT, S("a"), S("va")), MT_OK);
  assert_int_equal(mt_memtable_add(m, 30, MT_PUT, S("b"), S("v30")), MT_OK);
  assert_int_equal(mt_memtable_add(m, 10, MT_PUT, S("b"), S("v10")), MT_OK);
  assert_int_equal(mt_memtable_add(m, 20, MT_DELETE, S("b"), S("")), MT_OK);
  assert_int_equal(mt_memtable_add(m, 7, MT_PUT, S("c"), S("vc")), MT_OK);
  static const struct {
    uint64_t snap;
    int status;
    uint64_t seq;
    const char *val;
  } want[] = {
      {0, MT_NOTFOUND, 0, NULL},   {9, MT_NOTFOUND, 0, NULL},  {10, MT_OK, 10, "v10"},
      {15, MT_OK, 10, "v10"},      {19, MT_OK, 10, "v10"},     {20, MT_DELETED, 20, NULL},
      {29, MT_DELETED, 20, NULL},  {30, MT_OK, 30, "v30"},     {31, MT_OK, 30, "v30"},
      {MT_SEQ_MAX, MT_OK, 30, "v30"},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    mt_slice v = {"junk", 4};
    uint64_t seq = 12345;
    int rc = mt_memtable_get(m, S("b"), want[i].snap, &v, &seq);
    if (rc != want[i].status)
      fail_msg("%s: get b at %llu: %d, expected %d", REP, (unsigned long long)want[i].snap, rc,
               want[i].status);
    if (rc == MT_NOTFOUND) continue;
    assert_int_equal(seq, want[i].seq);
    if (rc == MT_OK) {
      assert_int_equal(v.len, strlen(want[i].val));
      assert_memory_equal(v.data, want[i].val, v.len);
    }
    /* NULL outputs are allowed */
    assert_int_equal(mt_memtable_get(m, S("b"), want[i].snap, NULL, NULL), want[i].status);
  }
  /* neighbours and misses: before the first key, between keys, after the last */
  mt_slice v;
  uint64_t seq;
  assert_int_equal(mt_memtable_get(m, S("a"), MT_SEQ_MAX, &v, &seq), MT_OK);
  assert_int_equal(seq, 5);
  assert_int_equal(mt_memtable_get(m, S("a"), 4, &v, &seq), MT_NOTFOUND);
  assert_int_equal(mt_memtable_get(m, S("c"), 7, &v, &seq), MT_OK);
  assert_memory_equal(v.data, "vc", 2);
  assert_int_equal(mt_memtable_get(m, S(""), MT_SEQ_MAX, &v, &seq), MT_NOTFOUND);
  assert_int_equal(mt_memtable_get(m, S("0"), MT_SEQ_MAX, &v, &seq), MT_NOTFOUND);
  assert_int_equal(mt_memtable_get(m, S("aa"), MT_SEQ_MAX, &v, &seq), MT_NOTFOUND);
  assert_int_equal(mt_memtable_get(m, SL("b", 1), MT_SEQ_MAX, &v, &seq), MT_OK);
  assert_int_equal(mt_memtable_get(m, SL("b\0", 2), MT_SEQ_MAX, &v, &seq), MT_NOTFOUND);
  assert_int_equal(mt_memtable_get(m, S("bb"), MT_SEQ_MAX, &v, &seq), MT_NOTFOUND);
  assert_int_equal(mt_memtable_get(m, S("d"), MT_SEQ_MAX, &v, &seq), MT_NOTFOUND);
  /* seq 0 and MT_SEQ_MAX are valid sequence numbers */
  assert_int_equal(mt_memtable_add(m, 0, MT_PUT, S("z"), S("zero")), MT_OK);
  assert_int_equal(mt_memtable_add(m, MT_SEQ_MAX, MT_PUT, S("z"), S("max")), MT_OK);
  assert_int_equal(mt_memtable_get(m, S("z"), 0, &v, &seq), MT_OK);
  assert_int_equal(seq, 0);
  assert_memory_equal(v.data, "zero", 4);
  assert_int_equal(mt_memtable_get(m, S("z"), MT_SEQ_MAX - 1, &v, &seq), MT_OK);
  assert_int_equal(seq, 0);
  assert_int_equal(mt_memtable_get(m, S("z"), MT_SEQ_MAX, &v, &seq), MT_OK);
  assert_int_equal(seq, MT_SEQ_MAX);
  assert_memory_equal(v.data, "max", 3);
  CHECK(m);
  mt_memtable_unref(m);
}

static void tombstones(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  mt_slice v = {"junk", 4};
  uint64_t seq = 0;
  /* a delete of a key never put, with a value that must be ignored */
  assert_int_equal(mt_memtable_add(m, 3, MT_DELETE, S("ghost"), S("ignored")), MT_OK);
  assert_int_equal(mt_memtable_get(m, S("ghost"), MT_SEQ_MAX, &v, &seq), MT_DELETED);
  assert_int_equal(seq, 3);
  assert_int_equal(v.len, 0);
  assert_int_equal(mt_memtable_get(m, S("ghost"), 2, &v, &seq), MT_NOTFOUND);
  /* the value of a DELETE is ignored even when its data pointer is NULL */
  assert_int_equal(mt_memtable_add(m, 4, MT_DELETE, S("nullval"), SL(NULL, 9)), MT_OK);
  assert_int_equal(mt_memtable_get(m, S("nullval"), MT_SEQ_MAX, NULL, &seq), MT_DELETED);
  assert_int_equal(seq, 4);
  /* put, delete, put again */
  assert_int_equal(mt_memtable_add(m, 10, MT_PUT, S("k"), S("one")), MT_OK);
  assert_int_equal(mt_memtable_add(m, 11, MT_DELETE, S("k"), S("")), MT_OK);
  assert_int_equal(mt_memtable_add(m, 12, MT_PUT, S("k"), S("two")), MT_OK);
  assert_int_equal(mt_memtable_get(m, S("k"), 11, &v, &seq), MT_DELETED);
  assert_int_equal(seq, 11);
  assert_int_equal(mt_memtable_get(m, S("k"), 12, &v, &seq), MT_OK);
  assert_memory_equal(v.data, "two", 3);
  /* iteration shows tombstones as MT_DELETE entries with empty values */
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  mt_iter_seek(it, S("ghost"));
  assert_true(mt_iter_valid(it));
  assert_int_equal(mt_iter_kind(it), MT_DELETE);
  assert_int_equal(mt_iter_seq(it), 3);
  assert_int_equal(mt_iter_value(it).len, 0);
  mt_iter_seek(it, S("k"));
  assert_int_equal(mt_iter_seq(it), 12);
  mt_iter_next(it);
  assert_int_equal(mt_iter_seq(it), 11);
  assert_int_equal(mt_iter_kind(it), MT_DELETE);
  mt_iter_next(it);
  assert_int_equal(mt_iter_seq(it), 10);
  assert_int_equal(mt_iter_kind(it), MT_PUT);
  mt_iter_free(it);
  assert_int_equal(mt_memtable_count(m), 5);
  CHECK(m);
  mt_memtable_unref(m);
}

/* ---- rejected writes ----------------------------------------------------------- */

static void rejections_change_nothing(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  model md;
  model_init(&md, NULL);
  char kb[32];
  for (unsigned i = 0; i < 300; i++) {
    ADD_BOTH(m, &md, 100 + i, MT_PUT, keyf(kb, sizeof kb, i % 100), S("value"));
  }
  ADD_BOTH(m, &md, 7, MT_DELETE, S("del"), S(""));
  snapshot s = take(m);

  struct {
    uint64_t seq;
    int kind;
    mt_slice key, val;
    int want;
    const char *what;
  } cases[] = {
      {100, MT_PUT, S("k000000"), S("value"), MT_EEXIST, "same (key, seq, value)"},
      {100, MT_PUT, S("k000000"), S("other"), MT_EEXIST, "same (key, seq), other value"},
      {100, MT_DELETE, S("k000000"), S(""), MT_EEXIST, "same (key, seq) as a DELETE"},
      {399, MT_PUT, S("k000099"), S(""), MT_EEXIST, "the last entry again"},
      {7, MT_PUT, S("del"), S("x"), MT_EEXIST, "a PUT over a tombstone's (key, seq)"},
      {MT_SEQ_MAX + 1, MT_PUT, S("new"), S("v"), MT_EINVAL, "seq MT_SEQ_MAX + 1"},
      {UINT64_MAX, MT_PUT, S("new"), S("v"), MT_EINVAL, "seq UINT64_MAX"},
      {1, MT_PUT, SL(NULL, 3), S("v"), MT_EINVAL, "key NULL with length"},
      {1, MT_PUT, S("new"), SL(NULL, 3), MT_EINVAL, "value NULL with length"},
      {1, 2, S("new"), S("v"), MT_EINVAL, "kind 2"},
      {1, -1, S("new"), S("v"), MT_EINVAL, "kind -1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    clear_last_error();
    int rc = mt_memtable_add(m, cases[i].seq, (mt_kind)cases[i].kind, cases[i].key, cases[i].val);
    rejected(state, rc, cases[i].want, m, &md, s, cases[i].what);
  }
  /* a memtable that rejected a write still takes the next one */
  ADD_BOTH(m, &md, 1, MT_PUT, S("new"), S("v"));
  s = take(m);
  MATCH(&md, m);

  /* frozen: every write is MT_EFROZEN, including those that would be EEXIST */
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  s = take(m);
  assert_int_equal(s.st, MT_IMMUTABLE);
  clear_last_error();
  rejected(state, mt_memtable_add(m, 2, MT_PUT, S("new2"), S("v")), MT_EFROZEN, m, &md, s,
           "add after freeze");
  clear_last_error();
  rejected(state, mt_memtable_add(m, 1, MT_PUT, S("new"), S("v")), MT_EFROZEN, m, &md, s,
           "existing (key, seq) after freeze");
  clear_last_error();
  rejected(state, mt_memtable_add(m, 3, MT_DELETE, S("new"), S("")), MT_EFROZEN, m, &md, s,
           "delete after freeze");
  /* bad arguments on a frozen memtable are still rejected, with a reason */
  clear_last_error();
  int rc = mt_memtable_add(m, MT_SEQ_MAX + 1, MT_PUT, S("x"), S("v"));
  assert_true(rc == MT_EINVAL || rc == MT_EFROZEN);
  assert_true(*mt_last_error() != '\0');
  mt_memtable_unref(m);
  model_free(&md);
}

static mt_memtable *g_nullm; /* a NULL the compiler can't see through */

static void bad_arguments(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  mt_iter *it = (mt_iter *)&it;
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("k"), S("v")), MT_OK);
#define EINVAL_WITH_TEXT(call)                                                          \
  do {                                                                                  \
    clear_last_error();                                                                 \
    int rc_ = (call);                                                                   \
    if (rc_ != MT_EINVAL) fail_msg("%s: %s returned %d, expected MT_EINVAL", REP, #call, rc_); \
    if (!*mt_last_error()) fail_msg("%s: %s left mt_last_error() empty", REP, #call);  \
  } while (0)
  EINVAL_WITH_TEXT(mt_memtable_add(g_nullm, 1, MT_PUT, S("k"), S("v")));
  EINVAL_WITH_TEXT(mt_memtable_get(g_nullm, S("k"), MT_SEQ_MAX, NULL, NULL));
  EINVAL_WITH_TEXT(mt_memtable_get(m, SL(NULL, 1), MT_SEQ_MAX, NULL, NULL));
  EINVAL_WITH_TEXT(mt_memtable_freeze(g_nullm));
  EINVAL_WITH_TEXT(mt_memtable_new(NULL, REP, NULL));
  EINVAL_WITH_TEXT(mt_iter_new(NULL, m));
  EINVAL_WITH_TEXT(mt_iter_new(&it, g_nullm));
  assert_null(it); /* *out cleared on failure */
  EINVAL_WITH_TEXT(mt_memtable_check(g_nullm));
  mt_flush_sink none = {NULL, NULL, NULL};
  EINVAL_WITH_TEXT(mt_memtable_flush(g_nullm, &none, NULL));
  EINVAL_WITH_TEXT(mt_memtable_add(m, MT_SEQ_MAX + 1, MT_PUT, S("k"), S("v")));
  EINVAL_WITH_TEXT(mt_memtable_add(m, 2, MT_PUT, SL(NULL, 1), S("v")));
  EINVAL_WITH_TEXT(mt_memtable_add(m, 2, MT_PUT, S("k"), SL(NULL, 1)));
  EINVAL_WITH_TEXT(mt_memtable_add(m, 2, (mt_kind)5, S("k"), S("v")));
  mt_memtable *m2 = (mt_memtable *)&m2;
  EINVAL_WITH_TEXT(mt_memtable_new(&m2, "", NULL));
  assert_null(m2);
#undef EINVAL_WITH_TEXT
  /* the getters tolerate NULL */
  assert_int_equal(mt_memtable_count(g_nullm), 0);
  assert_int_equal(mt_memtable_memory_usage(g_nullm), 0);
  assert_non_null(mt_memtable_spec(g_nullm));
  mt_memtable_unref(g_nullm);
  mt_iter_free(NULL);
  /* nothing of the above reached the memtable */
  assert_int_equal(mt_memtable_count(m), 1);
  assert_int_equal(mt_memtable_state(m), MT_ACTIVE);
  CHECK(m);
  mt_memtable_unref(m);
}

/* ---- iterators against the model ------------------------------------------------- */

static void iter_empty(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  assert_false(mt_iter_valid(it)); /* invalid until positioned */
  mt_iter_seek_to_first(it);
  assert_false(mt_iter_valid(it));
  mt_iter_seek_to_last(it);
  assert_false(mt_iter_valid(it));
  mt_iter_seek(it, S("a"));
  assert_false(mt_iter_valid(it));
  mt_iter_seek_for_prev(it, S("a"));
  assert_false(mt_iter_valid(it));
  mt_iter_seek(it, S(""));
  assert_false(mt_iter_valid(it));
  assert_int_equal(mt_iter_status(it), MT_OK);
  mt_iter_free(it);
  mt_slice v;
  assert_int_equal(mt_memtable_get(m, S("a"), MT_SEQ_MAX, &v, NULL), MT_NOTFOUND);
  CHECK(m);
  mt_memtable_unref(m);
}

static void iter_vs_model(void **state) {
  rng r = rng_seed(7);
  mt_memtable *m = open_rep(state, NULL);
  model md;
  model_init(&md, NULL);
  char kb[32];
  for (int i = 0; i < 1200; i++) {
    unsigned k = 2 * (unsigned)rng_below(&r, 300); /* even keys: odd ones are misses */
    ADD_BOTH(m, &md, 1 + rng_below(&r, 50), rng_below(&r, 4) ? MT_PUT : MT_DELETE,
             keyf(kb, sizeof kb, k), S("val"));
  }
  CHECK(m);
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  size_t pos = md.n; /* model position; md.n = invalid */
  static const char *opname[] = {"seek", "seek_for_prev", "next", "prev", "seek_to_first",
                                 "seek_to_last"};
  for (int step = 0; step < 4000; step++) {
    int op = (int)rng_below(&r, 10);
    op = op < 2 ? 0 : op < 4 ? 1 : op < 6 ? 2 : op < 8 ? 3 : op == 8 ? 4 : 5;
    unsigned k = (unsigned)rng_below(&r, 602); /* beyond both ends too */
    mt_slice key = keyf(kb, sizeof kb, k);
    if (rng_below(&r, 50) == 0) key = S(""); /* before everything */
    if (rng_below(&r, 50) == 0) key = S("z"); /* after everything */
    if ((op == 2 || op == 3) && pos == md.n) op = 0; /* next/prev need a valid iterator */
    switch (op) {
      case 0:
        mt_iter_seek(it, key);
        pos = model_lower_bound(&md, key);
        break;
      case 1: {
        size_t u = model_upper_bound(&md, key);
        mt_iter_seek_for_prev(it, key);
        pos = u ? u - 1 : md.n;
        break;
      }
      case 2:
        mt_iter_next(it);
        pos = pos + 1;
        break;
      case 3:
        mt_iter_prev(it);
        pos = pos ? pos - 1 : md.n;
        break;
      case 4:
        mt_iter_seek_to_first(it);
        pos = 0;
        break;
      default:
        mt_iter_seek_to_last(it);
        pos = md.n ? md.n - 1 : 0;
        break;
    }
    if (!model_iter_at(&md, it, pos))
      fail_msg("%s: step %d: after %s ('%.*s') the iterator is not at model entry %zu of %zu", REP,
               step, opname[op], (int)key.len, (const char *)key.data, pos, md.n);
  }
  /* a full walk with a direction change at every step: next, prev, next */
  mt_iter_seek_to_first(it);
  for (size_t i = 0; i < md.n; i++) {
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
  MATCH(&md, m);
  mt_memtable_unref(m);
  model_free(&md);
}

/* ---- randomized model-based run ----------------------------------------------------- */

static void random_model_run(void **state) {
  rng r = rng_seed(42);
  mt_memtable *m = open_rep(state, NULL);
  model md;
  model_init(&md, NULL);
  char kb[32], vb[64];
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK); /* lives through every add */
  for (int op = 0; op < 2500; op++) {
    unsigned k = (unsigned)rng_below(&r, 400);
    mt_slice key = keyf(kb, sizeof kb, k);
    uint64_t x = rng_below(&r, 100);
    if (x < 55) {
      uint64_t seq = rng_below(&r, 20) == 0 ? md.n ? md.e[rng_below(&r, md.n)].seq : 1
                                            : 1 + rng_below(&r, 100000);
      if (rng_below(&r, 20) == 0 && md.n) { /* an existing (key, seq): MT_EEXIST */
        const model_entry *e = &md.e[rng_below(&r, md.n)];
        key = SL(e->key, e->klen);
        seq = e->seq;
      }
      size_t vn = (size_t)rng_below(&r, sizeof vb);
      for (size_t i = 0; i < vn; i++) vb[i] = (char)('a' + (op + i) % 26);
      ADD_BOTH(m, &md, seq, rng_below(&r, 4) ? MT_PUT : MT_DELETE, key, SL(vb, vn));
    } else if (x < 85) {
      uint64_t snap = rng_below(&r, 3) ? MT_SEQ_MAX : rng_below(&r, 100001);
      get_vs_model(state, m, &md, key, snap);
    } else if (x < 95) {
      mt_iter_seek(it, key);
      size_t pos = model_lower_bound(&md, key);
      if (!model_iter_at(&md, it, pos)) fail_msg("%s: op %d: seek differs from the model", REP, op);
      if (pos < md.n && rng_below(&r, 2)) {
        mt_iter_prev(it);
        if (!model_iter_at(&md, it, pos ? pos - 1 : md.n))
          fail_msg("%s: op %d: prev after seek differs from the model", REP, op);
      }
    } else {
      mt_iter_seek_for_prev(it, key);
      size_t u = model_upper_bound(&md, key);
      if (!model_iter_at(&md, it, u ? u - 1 : md.n))
        fail_msg("%s: op %d: seek_for_prev differs from the model", REP, op);
    }
    CHECK(m);
    if (mt_memtable_count(m) != md.n) fail_msg("%s: op %d: count differs from the model", REP, op);
  }
  mt_iter_free(it);
  MATCH(&md, m);
  mt_memtable_unref(m);
  model_free(&md);
}

/* ---- comparators ------------------------------------------------------------------------- */

static int reverse_cmp(void *ctx, mt_slice a, mt_slice b) {
  (*(long *)ctx)++;
  size_t n = a.len < b.len ? a.len : b.len;
  int c = n ? memcmp(a.data, b.data, n) : 0;
  if (!c) c = a.len < b.len ? -1 : a.len > b.len;
  return -c;
}

static int nocase_cmp(void *ctx, mt_slice a, mt_slice b) {
  (*(long *)ctx)++;
  const unsigned char *p = a.data, *q = b.data;
  size_t n = a.len < b.len ? a.len : b.len;
  for (size_t i = 0; i < n; i++) {
    int x = tolower(p[i]), y = tolower(q[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.len < b.len ? -1 : a.len > b.len;
}

static void custom_comparators(void **state) {
  rng r = rng_seed(3);
  char kb[32];
  /* reverse order: iteration runs from the largest key down */
  long calls = 0;
  mt_comparator rev = {"test.reverse", reverse_cmp, &calls};
  mt_memtable *m = open_rep(state, &rev);
  model md;
  model_init(&md, &rev);
  for (int i = 0; i < 600; i++)
    ADD_BOTH(m, &md, 1 + rng_below(&r, 30), MT_PUT, keyf(kb, sizeof kb, (unsigned)rng_below(&r, 200)),
             S("v"));
  assert_true(calls > 0); /* the comparator and its ctx are used */
  CHECK(m);
  MATCH(&md, m);
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  mt_iter_seek_to_first(it);
  assert_true(mt_iter_valid(it));
  assert_memory_equal(mt_iter_key(it).data, md.e[0].key, md.e[0].klen);
  char first[32];
  snprintf(first, sizeof first, "%.*s", (int)mt_iter_key(it).len, (const char *)mt_iter_key(it).data);
  mt_iter_seek_to_last(it);
  assert_true(strncmp(first, mt_iter_key(it).data, mt_iter_key(it).len) > 0); /* descending */
  mt_iter_seek(it, S("k000100")); /* first key <= k000100 in bytes, i.e. >= in this order */
  assert_true(model_iter_at(&md, it, model_lower_bound(&md, S("k000100"))));
  mt_iter_seek_for_prev(it, S("k000100"));
  size_t u = model_upper_bound(&md, S("k000100"));
  assert_true(model_iter_at(&md, it, u ? u - 1 : md.n));
  mt_iter_free(it);
  for (unsigned k = 0; k < 200; k += 7) get_vs_model(state, m, &md, keyf(kb, sizeof kb, k), 15);
  mt_memtable_unref(m);
  model_free(&md);

  /* case-insensitive: "abc" and "ABC" are one key with two versions */
  calls = 0;
  mt_comparator nocase = {"test.nocase", nocase_cmp, &calls};
  m = open_rep(state, &nocase);
  model_init(&md, &nocase);
  ADD_BOTH(m, &md, 1, MT_PUT, S("abc"), S("lower"));
  ADD_BOTH(m, &md, 2, MT_PUT, S("ABC"), S("upper"));
  ADD_BOTH(m, &md, 2, MT_PUT, S("aBc"), S("dup")); /* same key, same seq: MT_EEXIST */
  ADD_BOTH(m, &md, 1, MT_PUT, S("Abd"), S("next"));
  ADD_BOTH(m, &md, 1, MT_PUT, S("ABB"), S("prev"));
  assert_int_equal(md.n, 4);
  mt_slice v;
  uint64_t seq;
  assert_int_equal(mt_memtable_get(m, S("AbC"), MT_SEQ_MAX, &v, &seq), MT_OK);
  assert_int_equal(seq, 2);
  assert_memory_equal(v.data, "upper", 5);
  assert_int_equal(mt_memtable_get(m, S("abc"), 1, &v, &seq), MT_OK);
  assert_memory_equal(v.data, "lower", 5);
  assert_int_equal(mt_memtable_get(m, S("abb"), MT_SEQ_MAX, &v, &seq), MT_OK);
  assert_memory_equal(v.data, "prev", 4);
  while (md.n < 300) { /* random mixed-case keys */
    char b[8];
    int n = 1 + (int)rng_below(&r, 4);
    for (int i = 0; i < n; i++) b[i] = (char)((rng_below(&r, 2) ? 'a' : 'A') + rng_below(&r, 3));
    uint64_t s = 1 + rng_below(&r, 20);
    int want = model_add(&md, s, MT_PUT, SL(b, (size_t)n), S("v"));
    assert_int_equal(mt_memtable_add(m, s, MT_PUT, SL(b, (size_t)n), S("v")), want);
  }
  assert_true(calls > 0);
  CHECK(m);
  MATCH(&md, m);
  mt_memtable_unref(m);
  model_free(&md);
}

/* ---- odd sizes ---------------------------------------------------------------------------- */

static void empty_keys_and_values(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  model md;
  model_init(&md, NULL);
  ADD_BOTH(m, &md, 5, MT_PUT, S("a"), S(""));
  ADD_BOTH(m, &md, 1, MT_PUT, S(""), S("empty key"));
  ADD_BOTH(m, &md, 2, MT_PUT, SL(NULL, 0), SL(NULL, 0)); /* NULL data with length 0 is fine */
  ADD_BOTH(m, &md, 3, MT_DELETE, S(""), S(""));
  ADD_BOTH(m, &md, 1, MT_PUT, SL("\0", 1), S("nul"));
  ADD_BOTH(m, &md, 2, MT_PUT, S(""), S("again")); /* MT_EEXIST */
  CHECK(m);
  MATCH(&md, m);
  mt_slice v = {"junk", 4};
  uint64_t seq;
  assert_int_equal(mt_memtable_get(m, S(""), MT_SEQ_MAX, &v, &seq), MT_DELETED);
  assert_int_equal(seq, 3);
  assert_int_equal(mt_memtable_get(m, SL(NULL, 0), 2, &v, &seq), MT_OK);
  assert_int_equal(seq, 2);
  assert_int_equal(v.len, 0);
  assert_int_equal(mt_memtable_get(m, S(""), 1, &v, &seq), MT_OK);
  assert_memory_equal(v.data, "empty key", 9);
  assert_int_equal(mt_memtable_get(m, S("a"), MT_SEQ_MAX, &v, &seq), MT_OK);
  assert_int_equal(v.len, 0);
  assert_int_equal(mt_memtable_get(m, SL("\0", 1), MT_SEQ_MAX, &v, &seq), MT_OK);
  assert_memory_equal(v.data, "nul", 3);
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  mt_iter_seek_to_first(it); /* the empty key sorts first */
  assert_int_equal(mt_iter_key(it).len, 0);
  assert_int_equal(mt_iter_seq(it), 3);
  mt_iter_seek(it, S(""));
  assert_int_equal(mt_iter_seq(it), 3);
  mt_iter_seek_for_prev(it, S(""));
  assert_true(model_iter_at(&md, it, 2)); /* the oldest version of "" */
  mt_iter_free(it);
  mt_memtable_unref(m);
  model_free(&md);
}

static void long_keys_big_values(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  model md;
  model_init(&md, NULL);
  char *key = malloc(1000);
  memset(key, 'q', 1000);
  for (int i = 0; i < 100; i++) { /* keys that differ only in their last bytes */
    key[998] = (char)('A' + i / 26);
    key[999] = (char)('a' + i % 26);
    ADD_BOTH(m, &md, (uint64_t)i + 1, MT_PUT, SL(key, 1000), S("small"));
  }
  key[998] = 'A';
  ADD_BOTH(m, &md, 1, MT_PUT, SL(key, 999), S("prefix")); /* a prefix sorts first */
  size_t big = (size_t)1 << 20;
  uint8_t *val = malloc(big);
  for (int j = 0; j < 3; j++) {
    for (size_t i = 0; i < big; i++) val[i] = (uint8_t)(i * 31 + (size_t)j * 7 + (i >> 12));
    char kb[16];
    snprintf(kb, sizeof kb, "big%d", j);
    ADD_BOTH(m, &md, 50, MT_PUT, S(kb), SL(val, big - (size_t)j));
  }
  CHECK(m);
  MATCH(&md, m);
  mt_slice v;
  assert_int_equal(mt_memtable_get(m, S("big2"), MT_SEQ_MAX, &v, NULL), MT_OK);
  assert_int_equal(v.len, big - 2);
  assert_memory_equal(v.data, val, v.len);
  key[998] = 'A', key[999] = 'c';
  assert_int_equal(mt_memtable_get(m, SL(key, 1000), MT_SEQ_MAX, &v, NULL), MT_OK);
  assert_memory_equal(v.data, "small", 5);
  assert_int_equal(mt_memtable_get(m, SL(key, 999), MT_SEQ_MAX, &v, NULL), MT_OK);
  assert_memory_equal(v.data, "prefix", 6);
  free(key);
  free(val);
  mt_memtable_unref(m);
  model_free(&md);
}

/* ---- memory accounting ---------------------------------------------------------------------- */

#define SLACK ((size_t)(2u << 20) + (64u << 10)) /* one partly used arena block and change */

static void memory_bounds(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  size_t base = mt_memtable_memory_usage(m), prev = base;
  assert_true(base > 0);
  size_t raw = 0;
  char kb[17], vb[33];
  memset(vb, 'v', 32);
  for (unsigned i = 0; i < 20000; i++) {
    snprintf(kb, sizeof kb, "key%013u", (i * 2654435761u) % 1000003u);
    assert_int_equal(mt_memtable_add(m, i + 1, MT_PUT, SL(kb, 16), SL(vb, 32)), MT_OK);
    raw += 16 + 32 + 8; /* key, value, seq */
    size_t u = mt_memtable_memory_usage(m);
    if (u < prev) fail_msg("%s: memory usage shrank from %zu to %zu after add %u", REP, prev, u, i);
    prev = u;
  }
  size_t u = mt_memtable_memory_usage(m);
  if (u < base + raw - 20000 * 8)
    fail_msg("%s: usage %zu is below the %zu bytes of keys and values stored", REP, u - base,
             raw - 20000 * 8);
  if (u > base + 2 * raw + SLACK)
    fail_msg("%s: usage %zu over an empty memtable's %zu is more than 2 x %zu raw bytes + %zu",
             REP, u - base, base, raw, SLACK);
  /* a big value is counted in full */
  size_t before = u, big = (size_t)3 << 20;
  void *val = calloc(1, big);
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("big"), SL(val, big)), MT_OK);
  free(val);
  u = mt_memtable_memory_usage(m);
  if (u < before + big) fail_msg("%s: a 3 MiB value added only %zu bytes of usage", REP, u - before);
  /* freezing does not lose track of anything */
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  size_t stored = raw - 20000 * 8 + big;
  if (mt_memtable_memory_usage(m) < base + stored)
    fail_msg("%s: after freeze usage %zu is below the %zu bytes stored", REP,
             mt_memtable_memory_usage(m) - base, stored);
  CHECK(m);
  mt_memtable_unref(m);
}

/* ---- flush --------------------------------------------------------------------------------- */

typedef struct rec_sink {
  mt_memtable *m;
  const model *md;
  int begins, adds, finishes;
  int finish_status;
  uint64_t begin_id, begin_count;
  int out_of_order;   /* a callback out of begin, add..., finish order */
  int wrong_state;    /* a callback saw a state other than FLUSHING */
  int wrong_entry;    /* an add that differs from the model */
  int fail_begin, fail_add_at, fail_finish; /* fail_add_at: index, -1 none */
} rec_sink;

static void rec_reset(rec_sink *s, mt_memtable *m, const model *md) {
  memset(s, 0, sizeof *s);
  s->m = m;
  s->md = md;
  s->fail_add_at = -1;
}

static int rec_begin(void *ctx, uint64_t id, uint64_t count) {
  rec_sink *s = ctx;
  if (s->begins || s->adds || s->finishes) s->out_of_order++;
  if (mt_memtable_state(s->m) != MT_FLUSHING) s->wrong_state++;
  s->begins++;
  s->begin_id = id;
  s->begin_count = count;
  return s->fail_begin ? MT_EIO : MT_OK;
}
static int rec_add(void *ctx, mt_slice key, uint64_t seq, mt_kind kind, mt_slice value) {
  rec_sink *s = ctx;
  if (s->begins != 1 || s->finishes) s->out_of_order++;
  if (mt_memtable_state(s->m) != MT_FLUSHING) s->wrong_state++;
  int i = s->adds++;
  if (i == s->fail_add_at) return MT_EIO;
  const model_entry *e = (size_t)i < s->md->n ? &s->md->e[i] : NULL;
  if (!e || key.len != e->klen || memcmp(key.data, e->key, key.len) || seq != e->seq ||
      kind != e->kind || value.len != e->vlen || (value.len && memcmp(value.data, e->val, value.len)))
    s->wrong_entry++;
  return MT_OK;
}
static int rec_finish(void *ctx, int status) {
  rec_sink *s = ctx;
  if (s->begins != 1 || s->finishes) s->out_of_order++;
  if (mt_memtable_state(s->m) != MT_FLUSHING) s->wrong_state++;
  s->finishes++;
  s->finish_status = status;
  return s->fail_finish ? MT_EIO : MT_OK;
}
static const mt_flush_sink rec = {rec_begin, rec_add, rec_finish};

static void flush_protocol(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  model md;
  model_init(&md, NULL);
  rng r = rng_seed(11);
  char kb[32];
  for (int i = 0; i < 500; i++)
    ADD_BOTH(m, &md, 1 + rng_below(&r, 40), rng_below(&r, 5) ? MT_PUT : MT_DELETE,
             keyf(kb, sizeof kb, (unsigned)rng_below(&r, 150)), S("flushed value"));
  rec_sink s;
  snapshot before = take(m);

  /* an active memtable cannot be flushed; nothing is called */
  rec_reset(&s, m, &md);
  clear_last_error();
  rejected(state, mt_memtable_flush(m, &rec, &s), MT_EINVAL, m, &md, before, "flush of an active memtable");
  assert_int_equal(s.begins + s.adds + s.finishes, 0);
  /* a sink missing a callback */
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  mt_flush_sink partial = {rec_begin, NULL, rec_finish};
  clear_last_error();
  assert_int_equal(mt_memtable_flush(m, &partial, &s), MT_EINVAL);
  assert_true(*mt_last_error() != '\0');
  assert_int_equal(mt_memtable_flush(m, NULL, &s), MT_EINVAL);
  assert_int_equal(mt_memtable_state(m), MT_IMMUTABLE);

  /* begin fails: no add, finish(status < 0), back to IMMUTABLE */
  rec_reset(&s, m, &md);
  s.fail_begin = 1;
  assert_true(mt_memtable_flush(m, &rec, &s) < 0);
  assert_int_equal(s.adds, 0);
  assert_int_equal(s.finishes, 1);
  assert_true(s.finish_status < 0);
  assert_int_equal(mt_memtable_state(m), MT_IMMUTABLE);

  /* an add fails half way: stops there, finish(status < 0), IMMUTABLE */
  rec_reset(&s, m, &md);
  s.fail_add_at = (int)md.n / 2;
  assert_int_equal(mt_memtable_flush(m, &rec, &s), MT_EIO);
  assert_int_equal(s.adds, (int)md.n / 2 + 1);
  assert_int_equal(s.finishes, 1);
  assert_int_equal(s.finish_status, MT_EIO);
  assert_int_equal(s.out_of_order + s.wrong_state + s.wrong_entry, 0);
  assert_int_equal(mt_memtable_state(m), MT_IMMUTABLE);

  /* finish fails: the flush fails, IMMUTABLE */
  rec_reset(&s, m, &md);
  s.fail_finish = 1;
  assert_int_equal(mt_memtable_flush(m, &rec, &s), MT_EIO);
  assert_int_equal(s.finish_status, MT_OK);
  assert_int_equal(mt_memtable_state(m), MT_IMMUTABLE);

  /* the retry succeeds: every entry exactly once, in order, then FLUSHED */
  rec_reset(&s, m, &md);
  assert_int_equal(mt_memtable_flush(m, &rec, &s), MT_OK);
  assert_int_equal(s.begins, 1);
  assert_int_equal(s.begin_id, mt_memtable_id(m));
  assert_int_equal(s.begin_count, md.n);
  assert_int_equal(s.adds, (int)md.n);
  assert_int_equal(s.finishes, 1);
  assert_int_equal(s.finish_status, MT_OK);
  assert_int_equal(s.out_of_order, 0);
  assert_int_equal(s.wrong_state, 0);
  assert_int_equal(s.wrong_entry, 0);
  assert_int_equal(mt_memtable_state(m), MT_FLUSHED);
  /* a flushed memtable: no second flush, no writes, reads still work */
  rec_reset(&s, m, &md);
  before = take(m);
  clear_last_error();
  rejected(state, mt_memtable_flush(m, &rec, &s), MT_EINVAL, m, &md, before, "second flush");
  assert_int_equal(s.begins, 0);
  clear_last_error();
  rejected(state, mt_memtable_add(m, 999, MT_PUT, S("late"), S("v")), MT_EFROZEN, m, &md, before,
           "add after flush");
  assert_int_equal(mt_memtable_freeze(m), MT_OK); /* idempotent, state stays */
  assert_int_equal(mt_memtable_state(m), MT_FLUSHED);
  for (unsigned k = 0; k < 150; k += 5) get_vs_model(state, m, &md, keyf(kb, sizeof kb, k), 20);
  mt_memtable_unref(m);

  /* an empty memtable flushes as begin(count 0), finish(0) */
  m = open_rep(state, NULL);
  model_free(&md);
  model_init(&md, NULL);
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  rec_reset(&s, m, &md);
  assert_int_equal(mt_memtable_flush(m, &rec, &s), MT_OK);
  assert_int_equal(s.begins, 1);
  assert_int_equal(s.begin_count, 0);
  assert_int_equal(s.adds, 0);
  assert_int_equal(s.finishes, 1);
  mt_memtable_unref(m);
  model_free(&md);
}

/* ---- lifecycle, spec, caps, refs ---------------------------------------------------------------- */

static void freeze_idempotent(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  assert_int_equal(mt_memtable_state(m), MT_ACTIVE);
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("k"), S("v")), MT_OK);
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  assert_int_equal(mt_memtable_state(m), MT_IMMUTABLE);
  size_t u = mt_memtable_memory_usage(m);
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  assert_int_equal(mt_memtable_state(m), MT_IMMUTABLE);
  assert_int_equal(mt_memtable_memory_usage(m), u);
  assert_int_equal(mt_memtable_count(m), 1);
  mt_slice v;
  assert_int_equal(mt_memtable_get(m, S("k"), MT_SEQ_MAX, &v, NULL), MT_OK);
  assert_memory_equal(v.data, "v", 1);
  CHECK(m);
  mt_memtable_unref(m);
}

static void spec_and_caps(void **state) {
  const mt_rep_ops *ops = mt_rep_find(REP);
  assert_non_null(ops);
  mt_memtable *m = open_rep(state, NULL);
  const char *spec = mt_memtable_spec(m);
  size_t n = strlen(REP);
  assert_true(strncmp(spec, REP, n) == 0);
  assert_true(spec[n] == (ops->nparams ? ':' : '\0'));
  for (size_t i = 0; i < ops->nparams; i++) { /* every parameter, named */
    char want[96];
    snprintf(want, sizeof want, "%s=", ops->params[i].name);
    if (!strstr(spec, want)) fail_msg("%s: canonical spec '%s' lacks %s", REP, spec, want);
  }
  /* the canonical form parses back to the same thing */
  mt_memtable *m2;
  assert_int_equal(mt_memtable_new(&m2, spec, NULL), MT_OK);
  assert_string_equal(mt_memtable_spec(m2), spec);
  assert_int_equal(mt_memtable_caps(m2), ops->caps);
  assert_int_equal(mt_memtable_caps(m), ops->caps);
  assert_true(mt_memtable_id(m2) != mt_memtable_id(m));
  mt_memtable_unref(m2);
  /* each parameter set to its min and to its max round-trips and works */
  for (size_t i = 0; i < ops->nparams; i++) {
    const mt_rep_param *p = &ops->params[i];
    int64_t vals[2] = {p->min, p->max};
    for (int j = 0; j < 2; j++) {
      char s1[256];
      if (p->type == MT_PARAM_BOOL)
        snprintf(s1, sizeof s1, "%s:%s=%s", REP, p->name, vals[j] ? "true" : "false");
      else
        snprintf(s1, sizeof s1, "%s:%s=%lld", REP, p->name, (long long)vals[j]);
      /* keep memory sane for parameters that size up front */
      if (p->type == MT_PARAM_INT && vals[j] > 1000000) continue;
      if (mt_memtable_new(&m2, s1, NULL) != MT_OK)
        fail_msg("%s: '%s' rejected: %s", REP, s1, mt_last_error());
      char s2[256];
      snprintf(s2, sizeof s2, "%s", mt_memtable_spec(m2));
      char want[96];
      if (p->type == MT_PARAM_BOOL)
        snprintf(want, sizeof want, "%s=%s", p->name, vals[j] ? "true" : "false");
      else
        snprintf(want, sizeof want, "%s=%lld", p->name, (long long)vals[j]);
      if (!strstr(s2, want)) fail_msg("%s: spec of '%s' is '%s'", REP, s1, s2);
      char kb[32];
      for (unsigned k = 0; k < 200; k++)
        assert_int_equal(mt_memtable_add(m2, k + 1, MT_PUT, keyf(kb, sizeof kb, k * 7 % 200), S("v")), MT_OK);
      CHECK(m2);
      mt_memtable *m3;
      assert_int_equal(mt_memtable_new(&m3, s2, NULL), MT_OK);
      assert_string_equal(mt_memtable_spec(m3), s2);
      mt_memtable_unref(m3);
      mt_memtable_unref(m2);
    }
  }
  mt_memtable_unref(m);
}

static void refcount(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  model md;
  model_init(&md, NULL);
  char kb[32];
  for (unsigned i = 0; i < 100; i++) ADD_BOTH(m, &md, i + 1, MT_PUT, keyf(kb, sizeof kb, i), S("v"));
  mt_memtable_ref(m);
  mt_memtable_unref(m); /* back to one: still alive */
  MATCH(&md, m);
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  mt_memtable_unref(m); /* the iterator's reference keeps it */
  size_t i = 0;
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), i++)
    assert_true(model_iter_at(&md, it, i));
  assert_int_equal(i, md.n);
  mt_iter_seek_for_prev(it, S("k000050"));
  assert_true(model_iter_at(&md, it, 50));
  mt_iter_free(it); /* frees the memtable: ASan tells if it leaks or is used after */
  model_free(&md);
}

/* mt_iter_new_prefix: exactly the keys starting with the prefix, in order,
 * forwards and backwards, and seeks clamped to the prefix's range. */
static void prefix_iterators(void **state) {
  mt_memtable *m = open_rep(state, NULL);
  static const char *keys[] = {"a", "a/1", "a/2", "a/2", "a0", "ab", "ab/x", "b", "b\xff", "b\xff\xff",
                               "b\xff\xff\x01", "c"};
  size_t nkeys = sizeof keys / sizeof keys[0];
  for (size_t i = 0; i < nkeys; i++)
    assert_int_equal(mt_memtable_add(m, i + 1, MT_PUT, S(keys[i]), S("v")), MT_OK);
  static const char *prefixes[] = {"a", "a/", "ab", "b\xff", "b\xff\xff", "zz", ""};
  for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
    mt_slice pre = S(prefixes[p]);
    /* the expected entries: keys with the prefix, in internal order */
    const char *want[16];
    uint64_t want_seq[16];
    size_t n = 0;
    mt_iter *all;
    assert_int_equal(mt_iter_new(&all, m), MT_OK);
    for (mt_iter_seek_to_first(all); mt_iter_valid(all); mt_iter_next(all)) {
      mt_slice k = mt_iter_key(all);
      if (k.len >= pre.len && !memcmp(k.data, pre.data, pre.len)) {
        want[n] = k.data;
        want_seq[n++] = mt_iter_seq(all);
      }
    }
    mt_iter_free(all);
    mt_iter *it;
    assert_int_equal(mt_iter_new_prefix(&it, m, pre), MT_OK);
    size_t i = 0;
    for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), i++) {
      assert_true(i < n);
      assert_ptr_equal(mt_iter_key(it).data, want[i]);
      assert_int_equal(mt_iter_seq(it), want_seq[i]);
    }
    assert_int_equal(i, n);
    for (mt_iter_seek_to_last(it); mt_iter_valid(it); mt_iter_prev(it)) {
      assert_true(i > 0);
      assert_int_equal(mt_iter_seq(it), want_seq[--i]);
    }
    assert_int_equal(i, 0);
    mt_iter_seek(it, S("")); /* before the range: its first entry */
    assert_int_equal(mt_iter_valid(it), n > 0);
    if (n) assert_int_equal(mt_iter_seq(it), want_seq[0]);
    mt_iter_seek_for_prev(it, S("\xff\xff\xff")); /* past the range: its last entry */
    assert_int_equal(mt_iter_valid(it), n > 0);
    if (n) assert_int_equal(mt_iter_seq(it), want_seq[n - 1]);
    mt_iter_seek(it, S("\xff\xff\xff")); /* past the range: nothing */
    assert_false(mt_iter_valid(it) && pre.len);
    mt_iter_free(it);
  }
  mt_iter *it;
  assert_int_equal(mt_iter_new_prefix(&it, m, (mt_slice){NULL, 3}), MT_EINVAL);
  assert_null(it);
  assert_true(*mt_last_error());
  mt_memtable_unref(m);
}

/* ---- main ---------------------------------------------------------------------------------------- */

static const char *group_rep;
static int group_setup(void **state) {
  *state = (void *)group_rep;
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(order_many_versions),
      cmocka_unit_test(get_at_snapshots),
      cmocka_unit_test(tombstones),
      cmocka_unit_test(rejections_change_nothing),
      cmocka_unit_test(bad_arguments),
      cmocka_unit_test(iter_empty),
      cmocka_unit_test(iter_vs_model),
      cmocka_unit_test(random_model_run),
      cmocka_unit_test(custom_comparators),
      cmocka_unit_test(empty_keys_and_values),
      cmocka_unit_test(long_keys_big_values),
      cmocka_unit_test(memory_bounds),
      cmocka_unit_test(flush_protocol),
      cmocka_unit_test(freeze_idempotent),
      cmocka_unit_test(spec_and_caps),
      cmocka_unit_test(refcount),
      cmocka_unit_test(prefix_iterators),
  };
  const char *names[64];
  size_t n = rep_list(names, 64);
  int failed = n == 0; /* no rep registered is a failure too */
  for (size_t i = 0; i < n; i++) {
    group_rep = names[i];
    printf("[==========] rep %s\n", names[i]); /* cmocka does not print the group name */
    fflush(stdout);
    failed += cmocka_run_group_tests_name(names[i], tests, group_setup, NULL);
  }
  return failed;
}
