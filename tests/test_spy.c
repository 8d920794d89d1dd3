/* test_spy.c -- a call-counting spy rep checks core's dispatch and the
 * memtable lifecycle (libgit2's fake-backend idea).
 *
 * The spy wraps support.h's sorted-array rep; every slot counts its calls
 * in the global `spy`.  Three tables:
 *   spy       params alpha (int) and beta (bool), every slot, no caps;
 *   spy_noget the same without a get slot (core must fall back to a seek);
 *   spy_min   only the required slots (get, freeze, memory, check NULL);
 *   spy_conc  MT_CAP_CONCURRENT_INSERT (its insert_concurrent locks the
 *             array itself), to check that freeze waits for parallel adds.
 * What is checked: create gets the parsed params; insert is never called
 * after freeze, nor concurrently for a rep without the cap; the freeze hook
 * runs exactly once and a failing one leaves the memtable ACTIVE; get falls
 * back to a seek; memory_outside_arena is added to memory usage; destroy
 * runs exactly once, at the last unref, after every iterator is freed;
 * NULL optional slots work. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

#define SPY_EXTRA ((size_t)12345) /* bytes the spy claims to hold outside the arena */

static struct {
  _Atomic long create, destroy, insert, insert_conc, get, iter_new, iter_free, seek, seek_for_prev,
      freeze, check, memory;
  _Atomic long insert_after_freeze; /* inserts that reached the rep after its freeze hook */
  _Atomic int in_insert;            /* an insert is running */
  _Atomic long overlaps;            /* inserts that found another one running */
  _Atomic bool frozen;
  int fail_freeze; /* the next freeze hook returns MT_ENOMEM */
  int fail_iter_new;
  long live_iters_at_destroy;
  int64_t params[2];
  mt_rep *rep;
  pthread_mutex_t conc_mu;
} spy;

static void spy_reset(void) {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  memset(&spy, 0, sizeof spy);
  spy.conc_mu = mu;
  spy.live_iters_at_destroy = -1;
}

/* ---- the slots -------------------------------------------------------------------- */

static int spy_create(mt_rep **out, const mt_rep_init *init) {
  atomic_fetch_add(&spy.create, 1);
  if (!init || !init->arena || !init->cmp) return MT_EINVAL;
  if (init->params) {
    spy.params[0] = init->params[0];
    spy.params[1] = init->params[1];
    if (init->params[0] == 10) return mt_set_error(MT_ENOMEM, "spy: create fails for alpha=10");
    if (init->params[0] == 9) return 5; /* a bogus positive status */
  }
  int rc = support_array_create(out, init);
  if (rc == MT_OK) spy.rep = *out;
  return rc;
}
static void spy_destroy(mt_rep *r) {
  atomic_fetch_add(&spy.destroy, 1);
  spy.live_iters_at_destroy = atomic_load(&spy.iter_new) - atomic_load(&spy.iter_free);
  support_array_destroy(r);
}
static void busy(void) {
  for (volatile int i = 0; i < 300; i++) {
  }
}
static int spy_insert(mt_rep *r, const mt_new_entry *e) {
  atomic_fetch_add(&spy.insert, 1);
  if (atomic_load(&spy.frozen)) atomic_fetch_add(&spy.insert_after_freeze, 1);
  if (atomic_exchange(&spy.in_insert, 1)) atomic_fetch_add(&spy.overlaps, 1);
  /* widen the window an overlap would fall into; the yield lets another
   * thread run inside it even on a single busy core */
  busy();
  if (atomic_load(&spy.insert) % 8 == 0) sched_yield();
  int rc = support_array_insert(r, e);
  atomic_store(&spy.in_insert, 0);
  return rc;
}
static int spy_insert_concurrent(mt_rep *r, const mt_new_entry *e) {
  atomic_fetch_add(&spy.insert_conc, 1);
  if (atomic_load(&spy.frozen)) atomic_fetch_add(&spy.insert_after_freeze, 1);
  pthread_mutex_lock(&spy.conc_mu); /* the array itself is single-writer */
  int rc = support_array_insert(r, e);
  pthread_mutex_unlock(&spy.conc_mu);
  busy();
  if (atomic_load(&spy.frozen)) atomic_fetch_add(&spy.insert_after_freeze, 1);
  return rc;
}
static const uint8_t *spy_get(mt_rep *r, mt_slice key, uint64_t snapshot) {
  atomic_fetch_add(&spy.get, 1);
  return support_array_get(r, key, snapshot);
}
static int spy_iter_new(mt_rep_iter **out, mt_rep *r) {
  if (spy.fail_iter_new) return mt_set_error(MT_ENOMEM, "spy: iter_new fails");
  atomic_fetch_add(&spy.iter_new, 1);
  return support_array_iter_new(out, r);
}
static void spy_iter_free(mt_rep_iter *it) {
  atomic_fetch_add(&spy.iter_free, 1);
  support_array_iter_free(it);
}
static void spy_seek(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  atomic_fetch_add(&spy.seek, 1);
  support_array_iter_seek(it, key, seq);
}
static void spy_seek_for_prev(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  atomic_fetch_add(&spy.seek_for_prev, 1);
  support_array_iter_seek_for_prev(it, key, seq);
}
static int spy_freeze(mt_rep *r) {
  atomic_fetch_add(&spy.freeze, 1);
  if (spy.fail_freeze) {
    spy.fail_freeze = 0;
    return mt_set_error(MT_ENOMEM, "spy: the freeze hook fails once");
  }
  atomic_store(&spy.frozen, true);
  return MT_OK;
}
static size_t spy_memory(const mt_rep *r) {
  atomic_fetch_add(&spy.memory, 1);
  return SPY_EXTRA + r->cap * sizeof *r->v;
}
static int spy_check(const mt_rep *r) {
  atomic_fetch_add(&spy.check, 1);
  return support_array_check(r);
}

static const mt_rep_param spy_params[] = {
    {"alpha", MT_PARAM_INT, 3, 0, 10, "an int (9 and 10 make create fail)"},
    {"beta", MT_PARAM_BOOL, 1, 0, 1, "a bool"},
};
static mt_rep_ops spy_ops, spy_noget_ops, spy_min_ops, spy_conc_ops;

static void register_spies(void) {
  spy_ops = support_array_ops("spy");
  spy_ops.params = spy_params;
  spy_ops.nparams = 2;
  spy_ops.create = spy_create;
  spy_ops.destroy = spy_destroy;
  spy_ops.insert = spy_insert;
  spy_ops.get = spy_get;
  spy_ops.iter_new = spy_iter_new;
  spy_ops.iter_free = spy_iter_free;
  spy_ops.iter_seek = spy_seek;
  spy_ops.iter_seek_for_prev = spy_seek_for_prev;
  spy_ops.freeze = spy_freeze;
  spy_ops.memory_outside_arena = spy_memory;
  spy_ops.check = spy_check;
  spy_noget_ops = spy_ops;
  spy_noget_ops.name = "spy_noget";
  spy_noget_ops.get = NULL;
  spy_min_ops = spy_ops;
  spy_min_ops.name = "spy_min";
  spy_min_ops.get = NULL;
  spy_min_ops.freeze = NULL;
  spy_min_ops.memory_outside_arena = NULL;
  spy_min_ops.check = NULL;
  spy_conc_ops = spy_ops;
  spy_conc_ops.name = "spy_conc";
  spy_conc_ops.caps = MT_CAP_CONCURRENT_INSERT;
  spy_conc_ops.insert_concurrent = spy_insert_concurrent;
  const mt_rep_ops *all[] = {&spy_ops, &spy_noget_ops, &spy_min_ops, &spy_conc_ops};
  for (int i = 0; i < 4; i++)
    if (mt_rep_register(all[i]) != MT_OK) fail_msg("registering %s: %s", all[i]->name, mt_last_error());
}

static mt_memtable *open_spy(const char *spec) {
  mt_memtable *m = NULL;
  int rc = mt_memtable_new(&m, spec, NULL);
  if (rc != MT_OK) fail_msg("'%s': %d %s", spec, rc, mt_last_error());
  return m;
}

/* ---- tests ------------------------------------------------------------------------- */

static void create_gets_params(void **state) {
  spy_reset();
  mt_memtable *m = open_spy("spy:alpha=7,beta=false");
  assert_int_equal(spy.create, 1);
  assert_int_equal(spy.params[0], 7);
  assert_int_equal(spy.params[1], 0);
  mt_memtable_unref(m);
  assert_int_equal(spy.destroy, 1);
  m = open_spy("spy");
  assert_int_equal(spy.params[0], 3); /* defaults filled in */
  assert_int_equal(spy.params[1], 1);
  assert_string_equal(mt_memtable_spec(m), "spy:alpha=3,beta=true");
  mt_memtable_unref(m);

  /* a failing create: its status comes back, nothing leaks, no destroy */
  spy_reset();
  fail_alloc_install(-1);
  mt_memtable *bad = (mt_memtable *)&bad;
  clear_last_error();
  assert_int_equal(mt_memtable_new(&bad, "spy:alpha=10", NULL), MT_ENOMEM);
  assert_null(bad);
  assert_string_equal(mt_last_error(), "spy: create fails for alpha=10");
  assert_int_equal(fail_alloc_live(), 0);
  /* a positive status from create is not success */
  bad = (mt_memtable *)&bad;
  clear_last_error();
  assert_int_equal(mt_memtable_new(&bad, "spy:alpha=9", NULL), MT_EINVAL);
  assert_null(bad);
  assert_true(*mt_last_error() != '\0');
  assert_int_equal(fail_alloc_live(), 0);
  fail_alloc_uninstall();
  assert_int_equal(spy.create, 2);
  assert_int_equal(spy.destroy, 0);
}

static int count_add(void *ctx, mt_slice k, uint64_t seq, mt_kind kind, mt_slice v) {
  (*(int *)ctx)++;
  return MT_OK;
}
static int ok_begin(void *ctx, uint64_t id, uint64_t n) { return MT_OK; }
static int ok_finish(void *ctx, int status) { return MT_OK; }

static void dispatch_counts(void **state) {
  spy_reset();
  mt_memtable *m = open_spy("spy");
  char kb[16];
  for (int i = 0; i < 10; i++) {
    snprintf(kb, sizeof kb, "k%02d", i);
    assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S(kb), S("v")), MT_OK);
  }
  assert_int_equal(spy.insert, 10);
  /* EEXIST comes from the rep; bad arguments never reach it */
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("k03"), S("v")), MT_EEXIST);
  assert_int_equal(spy.insert, 11);
  assert_int_equal(mt_memtable_add(m, MT_SEQ_MAX + 1, MT_PUT, S("x"), S("v")), MT_EINVAL);
  assert_int_equal(mt_memtable_add(m, 1, (mt_kind)3, S("x"), S("v")), MT_EINVAL);
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, SL(NULL, 1), S("v")), MT_EINVAL);
  assert_int_equal(spy.insert, 11);
  assert_int_equal(mt_memtable_count(m), 10);
  /* get goes through the get slot, not a seek */
  for (int i = 0; i < 5; i++) assert_int_equal(mt_memtable_get(m, S("k04"), MT_SEQ_MAX, NULL, NULL), MT_OK);
  assert_int_equal(mt_memtable_get(m, S("zz"), MT_SEQ_MAX, NULL, NULL), MT_NOTFOUND);
  assert_int_equal(spy.get, 6);
  assert_int_equal(spy.seek, 0);
  assert_int_equal(spy.iter_new, 0);
  /* iterator calls map one to one */
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  assert_int_equal(spy.iter_new, 1);
  mt_iter_seek(it, S("k05"));
  mt_iter_seek(it, S("k06"));
  mt_iter_seek_for_prev(it, S("k07"));
  assert_int_equal(spy.seek, 2);
  assert_int_equal(spy.seek_for_prev, 1);
  assert_memory_equal(mt_iter_key(it).data, "k07", 3);
  mt_iter_free(it);
  assert_int_equal(spy.iter_free, 1);
  /* the check hook and the memory hook */
  long mem = spy.memory;
  assert_int_equal(mt_memtable_check(m), MT_OK);
  assert_int_equal(spy.check, 1);
  (void)mt_memtable_memory_usage(m);
  assert_true(spy.memory > mem);
  /* flush reads through one iterator and never inserts */
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  long inserts = spy.insert, iters = spy.iter_new;
  int n = 0;
  mt_flush_sink sink = {ok_begin, count_add, ok_finish};
  assert_int_equal(mt_memtable_flush(m, &sink, &n), MT_OK);
  assert_int_equal(n, 10);
  assert_int_equal(spy.insert, inserts);
  assert_int_equal(spy.iter_new, iters + 1);
  assert_int_equal(spy.iter_free, spy.iter_new);
  mt_memtable_unref(m);
  assert_int_equal(spy.destroy, 1);
}

static void get_falls_back_to_seek(void **state) {
  spy_reset();
  mt_memtable *m = open_spy("spy_noget");
  assert_int_equal(mt_memtable_add(m, 10, MT_PUT, S("b"), S("v10")), MT_OK);
  assert_int_equal(mt_memtable_add(m, 20, MT_DELETE, S("b"), S("")), MT_OK);
  assert_int_equal(mt_memtable_add(m, 5, MT_PUT, S("c"), S("v5")), MT_OK);
  mt_slice v;
  uint64_t seq;
  assert_int_equal(mt_memtable_get(m, S("b"), 15, &v, &seq), MT_OK);
  assert_int_equal(seq, 10);
  assert_memory_equal(v.data, "v10", 3);
  assert_int_equal(mt_memtable_get(m, S("b"), MT_SEQ_MAX, &v, &seq), MT_DELETED);
  assert_int_equal(seq, 20);
  assert_int_equal(mt_memtable_get(m, S("b"), 9, &v, &seq), MT_NOTFOUND); /* seek lands on c */
  assert_int_equal(mt_memtable_get(m, S("a"), MT_SEQ_MAX, &v, &seq), MT_NOTFOUND);
  assert_int_equal(mt_memtable_get(m, S("bb"), MT_SEQ_MAX, &v, &seq), MT_NOTFOUND);
  assert_int_equal(mt_memtable_get(m, S("d"), MT_SEQ_MAX, &v, &seq), MT_NOTFOUND);
  assert_int_equal(spy.get, 0);
  assert_int_equal(spy.seek, 6);
  assert_int_equal(spy.iter_new, spy.iter_free); /* the fallback frees its iterator */
  /* a fallback that cannot make an iterator reports it */
  spy.fail_iter_new = 1;
  clear_last_error();
  int rc = mt_memtable_get(m, S("b"), MT_SEQ_MAX, &v, &seq);
  assert_int_equal(rc, MT_ENOMEM);
  assert_true(*mt_last_error() != '\0');
  spy.fail_iter_new = 0;
  mt_memtable_unref(m);
  assert_int_equal(spy.destroy, 1);
}

static void freeze_hook_once_no_insert_after(void **state) {
  spy_reset();
  mt_memtable *m = open_spy("spy");
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("a"), S("v")), MT_OK);
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  assert_int_equal(spy.freeze, 1);
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  assert_int_equal(spy.freeze, 1); /* exactly once */
  long inserts = spy.insert;
  assert_int_equal(mt_memtable_add(m, 2, MT_PUT, S("b"), S("v")), MT_EFROZEN);
  assert_int_equal(spy.insert, inserts);
  assert_int_equal(spy.insert_after_freeze, 0);
  mt_memtable_unref(m);
}

static void failing_freeze_hook_stays_active(void **state) {
  spy_reset();
  mt_memtable *m = open_spy("spy");
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("a"), S("v")), MT_OK);
  spy.fail_freeze = 1;
  clear_last_error();
  assert_int_equal(mt_memtable_freeze(m), MT_ENOMEM);
  assert_string_equal(mt_last_error(), "spy: the freeze hook fails once");
  assert_int_equal(mt_memtable_state(m), MT_ACTIVE);
  /* still a working active memtable */
  assert_int_equal(mt_memtable_add(m, 2, MT_PUT, S("b"), S("v")), MT_OK);
  assert_int_equal(mt_memtable_count(m), 2);
  mt_flush_sink sink = {NULL, NULL, NULL};
  assert_int_equal(mt_memtable_flush(m, &sink, NULL), MT_EINVAL);
  /* the retry freezes */
  assert_int_equal(mt_memtable_freeze(m), MT_OK);
  assert_int_equal(spy.freeze, 2);
  assert_int_equal(mt_memtable_state(m), MT_IMMUTABLE);
  assert_int_equal(mt_memtable_add(m, 3, MT_PUT, S("c"), S("v")), MT_EFROZEN);
  assert_int_equal(spy.insert_after_freeze, 0);
  mt_memtable_unref(m);
}

/* ---- concurrency ---------------------------------------------------------------------------- */

typedef struct adder {
  mt_memtable *m;
  int id, n;        /* n adds; n < 0: add until 20 MT_EFROZEN were seen */
  long ok, frozen, other;
  _Atomic int *start;
} adder;

static void *add_loop(void *p) {
  adder *a = p;
  char kb[32];
  while (!atomic_load(a->start)) sched_yield(); /* all threads start together */
  for (int i = 0; a->n < 0 ? a->frozen < 20 && i < 5000000 : i < a->n; i++) {
    int n = snprintf(kb, sizeof kb, "t%d-%07d", a->id, i);
    int rc = mt_memtable_add(a->m, 1, MT_PUT, SL(kb, (size_t)n), S("v"));
    if (rc == MT_OK) a->ok++;
    else if (rc == MT_EFROZEN) a->frozen++;
    else a->other++;
  }
  return NULL;
}

/* 4 threads add; with freeze_after > 0 the main thread freezes once that
 * many adds are in, and the threads add until they have seen the freeze. */
static void run_adders(mt_memtable *m, adder *a, int n_each, long freeze_after) {
  pthread_t th[4];
  _Atomic int start = 0;
  for (int i = 0; i < 4; i++) {
    a[i] = (adder){m, i, freeze_after ? -1 : n_each, 0, 0, 0, &start};
    assert_int_equal(pthread_create(&th[i], NULL, add_loop, &a[i]), 0);
  }
  atomic_store(&start, 1);
  if (freeze_after) {
    while (mt_memtable_count(m) < (uint64_t)freeze_after) sched_yield();
    assert_int_equal(mt_memtable_freeze(m), MT_OK);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
}

static void inserts_serialised_without_cap(void **state) {
  spy_reset();
  mt_memtable *m = open_spy("spy");
  adder a[4];
  run_adders(m, a, 2000, 0);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(a[i].ok, 2000);
    assert_int_equal(a[i].other, 0);
  }
  assert_int_equal(spy.overlaps, 0);
  assert_int_equal(spy.insert, 8000);
  assert_int_equal(spy.insert_conc, 0);
  assert_int_equal(mt_memtable_count(m), 8000);
  assert_int_equal(mt_memtable_check(m), MT_OK);
  mt_memtable_unref(m);
}

static void no_insert_after_freeze_under_race(void **state) {
  const char *specs[] = {"spy", "spy_conc"};
  for (int s = 0; s < 2; s++) {
    spy_reset();
    mt_memtable *m = open_spy(specs[s]);
    adder a[4];
    run_adders(m, a, 0, 5000);
    long ok = 0, frozen = 0;
    for (int i = 0; i < 4; i++) {
      ok += a[i].ok, frozen += a[i].frozen;
      assert_int_equal(a[i].other, 0);
    }
    if (spy.insert_after_freeze) fail_msg("%s: %ld inserts ran after the freeze hook", specs[s], (long)spy.insert_after_freeze);
    assert_int_equal(spy.freeze, 1);
    assert_true(frozen > 0);
    assert_int_equal(mt_memtable_count(m), (uint64_t)ok);
    assert_true(ok >= 5000);
    assert_int_equal(spy.overlaps, 0);
    assert_int_equal(s ? spy.insert_conc : spy.insert, ok);
    assert_int_equal(mt_memtable_check(m), MT_OK);
    mt_memtable_unref(m);
  }
}

/* ---- memory, lifecycle, optional slots --------------------------------------------------------- */

static void memory_outside_arena_is_counted(void **state) {
  spy_reset();
  mt_memtable *a = open_spy("spy"), *b = open_spy("spy_min");
  /* same arena use, so the difference is what the memory slot reports */
  assert_int_equal(mt_memtable_memory_usage(a) - mt_memtable_memory_usage(b), SPY_EXTRA);
  char kb[16];
  for (int i = 0; i < 100; i++) {
    snprintf(kb, sizeof kb, "k%03d", i);
    assert_int_equal(mt_memtable_add(a, 1, MT_PUT, S(kb), S("value")), MT_OK);
    assert_int_equal(mt_memtable_add(b, 1, MT_PUT, S(kb), S("value")), MT_OK);
  }
  const mt_rep *ra = spy.rep; /* b's rep, created last; a's array has the same capacity */
  size_t arrays = ra->cap * sizeof *ra->v;
  assert_true(arrays >= 100 * sizeof *ra->v);
  assert_int_equal(mt_memtable_memory_usage(a) - mt_memtable_memory_usage(b), SPY_EXTRA + arrays);
  mt_memtable_unref(a);
  mt_memtable_unref(b);
}

static void destroy_once_at_last_unref(void **state) {
  spy_reset();
  mt_memtable *m = open_spy("spy");
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("a"), S("v")), MT_OK);
  mt_iter *it1, *it2;
  assert_int_equal(mt_iter_new(&it1, m), MT_OK);
  assert_int_equal(mt_iter_new(&it2, m), MT_OK);
  mt_memtable_ref(m);
  mt_memtable_unref(m);
  mt_memtable_unref(m); /* the caller's reference is gone; the iterators keep it */
  assert_int_equal(spy.destroy, 0);
  mt_iter_seek_to_first(it1);
  assert_true(mt_iter_valid(it1));
  assert_memory_equal(mt_iter_key(it1).data, "a", 1);
  mt_iter_free(it1);
  assert_int_equal(spy.destroy, 0);
  mt_iter_seek_to_last(it2);
  assert_true(mt_iter_valid(it2));
  mt_iter_free(it2);
  assert_int_equal(spy.destroy, 1);
  assert_int_equal(spy.live_iters_at_destroy, 0);
  assert_int_equal(spy.iter_new, 2);
  assert_int_equal(spy.iter_free, 2);

  /* a failed mt_iter_new keeps no reference */
  spy_reset();
  m = open_spy("spy");
  spy.fail_iter_new = 1;
  mt_iter *it = (mt_iter *)&it;
  assert_int_equal(mt_iter_new(&it, m), MT_ENOMEM);
  assert_null(it);
  spy.fail_iter_new = 0;
  mt_memtable_unref(m);
  assert_int_equal(spy.destroy, 1);
}

static void optional_slots_null(void **state) {
  spy_reset();
  mt_memtable *m = open_spy("spy_min");
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("a"), S("v1")), MT_OK);
  assert_int_equal(mt_memtable_add(m, 2, MT_PUT, S("a"), S("v2")), MT_OK);
  mt_slice v;
  assert_int_equal(mt_memtable_get(m, S("a"), 1, &v, NULL), MT_OK); /* no get slot */
  assert_memory_equal(v.data, "v1", 2);
  assert_true(mt_memtable_memory_usage(m) > 0); /* no memory slot */
  assert_int_equal(mt_memtable_check(m), MT_OK); /* no check slot */
  assert_int_equal(spy.check, 0);
  assert_int_equal(mt_memtable_freeze(m), MT_OK); /* no freeze hook */
  assert_int_equal(spy.freeze, 0);
  assert_int_equal(mt_memtable_state(m), MT_IMMUTABLE);
  int n = 0;
  mt_flush_sink sink = {ok_begin, count_add, ok_finish};
  assert_int_equal(mt_memtable_flush(m, &sink, &n), MT_OK);
  assert_int_equal(n, 2);
  assert_int_equal(mt_memtable_state(m), MT_FLUSHED);
  mt_memtable_unref(m);
  assert_int_equal(spy.destroy, 1);
}

int main(void) {
  register_spies();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(create_gets_params),
      cmocka_unit_test(dispatch_counts),
      cmocka_unit_test(get_falls_back_to_seek),
      cmocka_unit_test(freeze_hook_once_no_insert_after),
      cmocka_unit_test(failing_freeze_hook_stays_active),
      cmocka_unit_test(inserts_serialised_without_cap),
      cmocka_unit_test(no_insert_after_freeze_under_race),
      cmocka_unit_test(memory_outside_arena_is_counted),
      cmocka_unit_test(destroy_once_at_last_unref),
      cmocka_unit_test(optional_slots_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
