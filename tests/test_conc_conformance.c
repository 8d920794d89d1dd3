/* test_conc_conformance.c -- the concurrent half of the conformance suite,
 * run for every registered rep (one cmocka group per rep name): writers
 * calling mt_memtable_add in parallel (always allowed; core serialises the
 * reps without MT_CAP_CONCURRENT_INSERT) beside readers doing gets and
 * iterations, then freeze racing with writers, then racing duplicates.
 *
 * The reader checks follow LevelDB's skiplist ConcurrentTest idea.  Key
 * space: K slots; every entry is <slot, gen, hash>:
 *   family 'a': user key 'a' | be32(slot) | be32(gen), one version each;
 *   family 'b': user key 'b' | be32(slot), the gens as versions (seq = gen).
 * The value is a hash-derived byte string of (slot, gen), so a torn entry
 * shows.  Writer w owns the slots with slot % writers == w; it writes gen
 * g of a slot to both families, then publishes cur[slot] = g (release).
 * A reader first reads every cur[] (acquire) -- the state it must see --
 * then opens an iterator; it must never miss an 'a' entry with gen <= its
 * initial gen, never see a torn entry, and never go backwards.  Gets of
 * 'b' at MT_SEQ_MAX see at least the published gen, at snapshot g exactly g.
 *
 * Threads never call cmocka: they count failures and keep the first
 * message; the main thread asserts after joining.  Bounded by operation
 * counts (well under a few seconds per rep plain; also run under TSan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define REP ((const char *)*state)
#define K 256            /* slots */
#define WRITERS 3        /* 2-4 is the brief; 3 keeps both cores busy with readers */
#define READERS 2
#define WRITER_OPS 2000  /* gens written per writer (two adds each) */
#define MAX_VAL 40

/* ---- failure collection ------------------------------------------------------- */

static _Atomic int nfail;
static char first_fail[512];

static void failf(const char *fmt, ...) {
  if (atomic_fetch_add(&nfail, 1) != 0) return; /* keep the first message */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(first_fail, sizeof first_fail, fmt, ap);
  va_end(ap);
}

static void reset_failures(void) {
  atomic_store(&nfail, 0);
  first_fail[0] = '\0';
}

#define ASSERT_NO_THREAD_FAILURES()                                                     \
  do {                                                                                  \
    int n_ = atomic_load(&nfail);                                                       \
    if (n_) fail_msg("%s: %d failures in threads, the first: %s", REP, n_, first_fail); \
  } while (0)

/* ---- encoding --------------------------------------------------------------------- */

static uint64_t mix(uint64_t x) { /* splitmix64 finaliser */
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

static size_t make_value(uint8_t *v, uint32_t slot, uint32_t gen) {
  uint64_t h = mix((uint64_t)slot << 32 | gen);
  size_t n = 8 + (size_t)(h % (MAX_VAL - 8 + 1));
  for (size_t i = 0; i < n; i++) {
    if (i % 8 == 0) h = mix(h + i);
    v[i] = (uint8_t)(h >> (8 * (i % 8)));
  }
  return n;
}

static bool value_ok(mt_slice v, uint32_t slot, uint32_t gen) {
  uint8_t want[MAX_VAL];
  size_t n = make_value(want, slot, gen);
  return v.len == n && memcmp(v.data, want, n) == 0;
}

static void put_be32(uint8_t *p, uint32_t x) {
  p[0] = (uint8_t)(x >> 24), p[1] = (uint8_t)(x >> 16), p[2] = (uint8_t)(x >> 8), p[3] = (uint8_t)x;
}
static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static mt_slice key_a(uint8_t *b, uint32_t slot, uint32_t gen) {
  b[0] = 'a';
  put_be32(b + 1, slot);
  put_be32(b + 5, gen);
  return SL(b, 9);
}
static mt_slice key_b(uint8_t *b, uint32_t slot) {
  b[0] = 'b';
  put_be32(b + 1, slot);
  return SL(b, 5);
}

/* ---- writers and readers ---------------------------------------------------------------- */

typedef struct shared {
  mt_memtable *m;
  _Atomic uint32_t cur[K];   /* last published gen of each slot */
  _Atomic int writers_done;
  _Atomic int start;         /* all threads spin until set */
  _Atomic long adds_ok;
  _Atomic long overlapped; /* iteration steps finished while writers ran */
} shared;

typedef struct warg {
  shared *sh;
  int id;
} warg;

static void wait_start(shared *sh) {
  while (!atomic_load_explicit(&sh->start, memory_order_acquire)) sched_yield();
}

static void *writer(void *p) {
  warg *a = p;
  shared *sh = a->sh;
  rng r = rng_seed(100 + (uint64_t)a->id);
  uint8_t kb[16], vb[MAX_VAL];
  wait_start(sh);
  /* at least WRITER_OPS, and on until the readers finished 3 iterations each
   * beside the writers, so the run always overlaps.  Bounded: 7,085 ops was
   * the most a writer needed in 125 runs; the cap leaves room for readers
   * the scheduler starves for a while, at ~30 MB of entries per writer. */
  for (int op = 0; !atomic_load(&nfail) && op < 100 * WRITER_OPS &&
                    (op < WRITER_OPS || atomic_load(&sh->overlapped) < 3 * READERS);
       op++) {
    uint32_t slot = (uint32_t)(rng_below(&r, K / WRITERS) * WRITERS + (uint64_t)a->id);
    if (slot >= K) slot = (uint32_t)a->id;
    uint32_t gen = atomic_load_explicit(&sh->cur[slot], memory_order_relaxed) + 1; /* owner only */
    size_t vn = make_value(vb, slot, gen);
    int rc = mt_memtable_add(sh->m, gen, MT_PUT, key_a(kb, slot, gen), SL(vb, vn));
    if (rc != MT_OK) failf("writer %d: add a(%u,%u): %d %s", a->id, slot, gen, rc, mt_last_error());
    rc = mt_memtable_add(sh->m, gen, MT_PUT, key_b(kb, slot), SL(vb, vn));
    if (rc != MT_OK) failf("writer %d: add b(%u)@%u: %d %s", a->id, slot, gen, rc, mt_last_error());
    atomic_fetch_add_explicit(&sh->adds_ok, 2, memory_order_relaxed);
    /* release: a reader that sees gen sees both entries */
    atomic_store_explicit(&sh->cur[slot], gen, memory_order_release);
  }
  atomic_fetch_add(&sh->writers_done, 1);
  return NULL;
}

/* Decodes an 'a' entry at the iterator; false at the end of family 'a'. */
static bool read_a(const mt_iter *it, uint32_t *slot, uint32_t *gen) {
  if (!mt_iter_valid(it)) return false;
  mt_slice k = mt_iter_key(it);
  const uint8_t *p = k.data;
  if (k.len == 0 || p[0] != 'a') {
    if (k.len == 0 || p[0] < 'a') failf("iterator: key of %zu bytes before family 'a'", k.len);
    return false;
  }
  if (k.len != 9) {
    failf("iterator: torn key of %zu bytes", k.len);
    return false;
  }
  *slot = get_be32(p + 1);
  *gen = get_be32(p + 5);
  if (*slot >= K || *gen == 0) failf("iterator: impossible key a(%u,%u)", *slot, *gen);
  if (mt_iter_seq(it) != *gen || mt_iter_kind(it) != MT_PUT)
    failf("iterator: a(%u,%u) has seq %llu kind %d", *slot, *gen,
          (unsigned long long)mt_iter_seq(it), (int)mt_iter_kind(it));
  if (!value_ok(mt_iter_value(it), *slot, *gen)) failf("iterator: torn value at a(%u,%u)", *slot, *gen);
  return true;
}

/* Every entry of family 'a' in [pos, cur) was skipped: none may be one the
 * reader was owed (gen >= 1 and gen <= initial[slot]). */
static void check_skipped(const uint32_t *initial, uint32_t ps, uint32_t pg, uint32_t cs, uint32_t cg) {
  for (uint32_t s = ps; s <= cs && s < K; s++) {
    uint32_t from = s == ps ? (pg ? pg : 1) : 1;         /* first skipped gen */
    uint32_t to = s == cs ? cg - 1 : UINT32_MAX;         /* last skipped gen */
    if (s == cs && cg == 0) continue;
    if (from <= to && from <= initial[s])
      failf("iterator missed a(%u,%u): it existed (gen %u) when the iterator was made", s, from,
            initial[s]);
  }
}

static void read_step(shared *sh, rng *r) {
  uint32_t initial[K];
  for (int s = 0; s < K; s++) initial[s] = atomic_load_explicit(&sh->cur[s], memory_order_acquire);
  mt_iter *it;
  if (mt_iter_new(&it, sh->m) != MT_OK) {
    failf("mt_iter_new: %s", mt_last_error());
    return;
  }
  uint8_t kb[16];
  uint32_t ps = (uint32_t)rng_below(r, K), pg = (uint32_t)rng_below(r, 4); /* pos */
  mt_iter_seek(it, key_a(kb, ps, pg));
  for (;;) {
    uint32_t cs = K, cg = 0; /* current; (K, 0) = the end */
    bool valid = read_a(it, &cs, &cg);
    if (!valid) cs = K, cg = 0;
    if (cs < ps || (cs == ps && cg < pg)) {
      failf("iterator went backwards: from a(%u,%u) to a(%u,%u)", ps, pg, cs, cg);
      break;
    }
    check_skipped(initial, ps, pg, cs, cg);
    if (!valid || atomic_load(&nfail)) break;
    if (rng_below(r, 8)) {
      mt_iter_next(it);
      ps = cs, pg = cg + 1;
    } else { /* reseek forward */
      uint32_t ts = (uint32_t)rng_below(r, K), tg = (uint32_t)rng_below(r, 4);
      if (ts > cs || (ts == cs && tg > cg)) {
        ps = ts, pg = tg;
        mt_iter_seek(it, key_a(kb, ts, tg));
      } else {
        mt_iter_next(it);
        ps = cs, pg = cg + 1;
      }
    }
  }
  /* backwards from the end of family 'a': strictly decreasing, never torn */
  mt_iter_seek_for_prev(it, SL("a\xff", 2));
  uint32_t ls = K, lg = 0;
  for (int i = 0; i < 200; i++) {
    uint32_t s, g;
    if (!read_a(it, &s, &g)) break;
    if (s > ls || (s == ls && g >= lg)) {
      failf("prev went forwards: from a(%u,%u) to a(%u,%u)", ls, lg, s, g);
      break;
    }
    ls = s, lg = g;
    mt_iter_prev(it);
  }
  mt_iter_free(it);
}

static void get_step(shared *sh, rng *r) {
  uint8_t kb[16];
  uint32_t s = (uint32_t)rng_below(r, K);
  uint32_t g0 = atomic_load_explicit(&sh->cur[s], memory_order_acquire);
  mt_slice v;
  uint64_t seq = 0;
  int rc = mt_memtable_get(sh->m, key_b(kb, s), MT_SEQ_MAX, &v, &seq);
  if (g0 == 0) {
    if (rc == MT_OK && (seq == 0 || !value_ok(v, s, (uint32_t)seq)))
      failf("get b(%u): torn or bad version %llu", s, (unsigned long long)seq);
    return;
  }
  if (rc != MT_OK) {
    failf("get b(%u) at MT_SEQ_MAX: %d after gen %u was published", s, rc, g0);
    return;
  }
  if (seq < g0 || !value_ok(v, s, (uint32_t)seq))
    failf("get b(%u): seq %llu (published %u) or a torn value", s, (unsigned long long)seq, g0);
  uint32_t snap = 1 + (uint32_t)rng_below(r, g0);
  rc = mt_memtable_get(sh->m, key_b(kb, s), snap, &v, &seq);
  if (rc != MT_OK || seq != snap || !value_ok(v, s, snap))
    failf("get b(%u) at snapshot %u: rc %d seq %llu", s, snap, rc, (unsigned long long)seq);
  rc = mt_memtable_get(sh->m, key_a(kb, s, g0), MT_SEQ_MAX, &v, &seq);
  if (rc != MT_OK || seq != g0 || !value_ok(v, s, g0))
    failf("get a(%u,%u): rc %d seq %llu", s, g0, rc, (unsigned long long)seq);
}

static void *reader(void *p) {
  warg *a = p;
  shared *sh = a->sh;
  rng r = rng_seed(200 + (uint64_t)a->id);
  wait_start(sh);
  for (long i = 0; !atomic_load(&nfail); i++) {
    bool last = atomic_load(&sh->writers_done) == WRITERS; /* one full round after the writers */
    if (i % 2 == 0) {
      read_step(sh, &r);
      if (!last && atomic_load(&sh->writers_done) == 0) atomic_fetch_add(&sh->overlapped, 1);
    } else {
      for (int j = 0; j < 20; j++) get_step(sh, &r);
    }
    if (last) {
      read_step(sh, &r);
      break;
    }
  }
  return NULL;
}

static void writers_with_readers(void **state) {
  reset_failures();
  shared *sh = calloc(1, sizeof *sh);
  assert_int_equal(mt_memtable_new(&sh->m, REP, NULL), MT_OK);
  pthread_t th[WRITERS + READERS];
  warg args[WRITERS + READERS];
  for (int i = 0; i < WRITERS + READERS; i++) {
    args[i] = (warg){sh, i < WRITERS ? i : i - WRITERS};
    assert_int_equal(pthread_create(&th[i], NULL, i < WRITERS ? writer : reader, &args[i]), 0);
  }
  atomic_store_explicit(&sh->start, 1, memory_order_release);
  for (int i = 0; i < WRITERS + READERS; i++) pthread_join(th[i], NULL);
  ASSERT_NO_THREAD_FAILURES();
  long adds = atomic_load(&sh->adds_ok);
  assert_true(adds >= 2L * WRITERS * WRITER_OPS);
  if (atomic_load(&sh->overlapped) < 3 * READERS)
    fail_msg("%s: readers finished only %ld iterations beside the writers", REP,
             (long)atomic_load(&sh->overlapped));
  assert_int_equal(mt_memtable_count(sh->m), (uint64_t)adds);
  int rc = mt_memtable_check(sh->m);
  if (rc != MT_OK) fail_msg("%s: check after the run: %s", REP, mt_last_error());
  /* quiescent: everything is there, in order, exactly once */
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, sh->m), MT_OK);
  long n = 0;
  uint32_t ls = 0, lg = 0;
  mt_iter_seek_to_first(it);
  for (uint32_t s, g; read_a(it, &s, &g); mt_iter_next(it), n++) {
    if (n && (s < ls || (s == ls && g != lg + 1))) fail_msg("%s: a(%u,%u) after a(%u,%u)", REP, s, g, ls, lg);
    if (s != ls || !n) {
      if (n && lg != atomic_load(&sh->cur[ls])) fail_msg("%s: slot %u ends at gen %u", REP, ls, lg);
      if (g != 1) fail_msg("%s: slot %u starts at gen %u", REP, s, g);
    }
    ls = s, lg = g;
  }
  assert_int_equal(n, adds / 2);
  mt_iter_free(it);
  ASSERT_NO_THREAD_FAILURES();
  mt_memtable_unref(sh->m);
  free(sh);
}

/* ---- freeze racing with writers ------------------------------------------------------------ */

typedef struct frz {
  mt_memtable *m;
  int id;
  _Atomic long *progress;
  long ok; /* successful adds: keys 0..ok-1 of this writer */
} frz;

static void *freeze_writer(void *p) {
  frz *f = p;
  char kb[32];
  int after = 0; /* adds tried after the first MT_EFROZEN */
  for (long i = 0; after < 50 && i < 2000000; i++) {
    int n = snprintf(kb, sizeof kb, "w%d-%09ld", f->id, i);
    int rc = mt_memtable_add(f->m, (uint64_t)i + 1, MT_PUT, SL(kb, (size_t)n), S("v"));
    if (rc == MT_OK) {
      if (after) {
        failf("writer %d: add %ld succeeded after an MT_EFROZEN", f->id, i);
        break;
      }
      f->ok++;
      atomic_fetch_add_explicit(f->progress, 1, memory_order_relaxed);
    } else if (rc == MT_EFROZEN) {
      if (!*mt_last_error()) failf("writer %d: MT_EFROZEN without a message", f->id);
      after++;
    } else {
      failf("writer %d: add %ld: %d %s", f->id, i, rc, mt_last_error());
      break;
    }
  }
  if (after < 50 && !atomic_load(&nfail)) failf("writer %d never saw MT_EFROZEN", f->id);
  return NULL;
}

static void freeze_races_writers(void **state) {
  reset_failures();
  for (int round = 0; round < 3; round++) {
    mt_memtable *m;
    assert_int_equal(mt_memtable_new(&m, REP, NULL), MT_OK);
    _Atomic long progress = 0;
    frz f[WRITERS];
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
      f[i] = (frz){m, i, &progress, 0};
      assert_int_equal(pthread_create(&th[i], NULL, freeze_writer, &f[i]), 0);
    }
    long target = 300 + 1000L * round;
    while (atomic_load_explicit(&progress, memory_order_relaxed) < target && !atomic_load(&nfail))
      sched_yield();
    assert_int_equal(mt_memtable_freeze(m), MT_OK);
    assert_int_equal(mt_memtable_state(m), MT_IMMUTABLE);
    uint64_t count_at_freeze = mt_memtable_count(m);
    for (int i = 0; i < WRITERS; i++) pthread_join(th[i], NULL);
    ASSERT_NO_THREAD_FAILURES();
    long total = 0;
    for (int i = 0; i < WRITERS; i++) total += f[i].ok;
    assert_int_equal(mt_memtable_count(m), (uint64_t)total);
    assert_int_equal(count_at_freeze, (uint64_t)total); /* nothing landed after freeze returned */
    assert_int_equal(mt_memtable_check(m), MT_OK);
    /* every successful add is there, the first refused one is not */
    char kb[32];
    for (int i = 0; i < WRITERS; i++) {
      for (long j = 0; j < f[i].ok; j += 1 + f[i].ok / 200) {
        int n = snprintf(kb, sizeof kb, "w%d-%09ld", i, j);
        assert_int_equal(mt_memtable_get(m, SL(kb, (size_t)n), MT_SEQ_MAX, NULL, NULL), MT_OK);
      }
      int n = snprintf(kb, sizeof kb, "w%d-%09ld", i, f[i].ok);
      assert_int_equal(mt_memtable_get(m, SL(kb, (size_t)n), MT_SEQ_MAX, NULL, NULL), MT_NOTFOUND);
    }
    mt_iter *it;
    assert_int_equal(mt_iter_new(&it, m), MT_OK);
    long n = 0;
    for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it)) n++;
    mt_iter_free(it);
    assert_int_equal(n, total);
    mt_memtable_unref(m);
  }
}

/* ---- the same (key, seq) from several threads: exactly one wins ----------------------------- */

#define DUP_KEYS 2000
typedef struct dup {
  mt_memtable *m;
  int id;
  long ok, exist;
  _Atomic int *start;
} dup;

static void *dup_writer(void *p) {
  dup *d = p;
  char kb[16];
  while (!atomic_load_explicit(d->start, memory_order_acquire)) sched_yield();
  for (int i = 0; i < DUP_KEYS; i++) {
    int k = d->id % 2 ? DUP_KEYS - 1 - i : i; /* half the threads go the other way */
    int n = snprintf(kb, sizeof kb, "d%06d", k);
    int rc = mt_memtable_add(d->m, 7, MT_PUT, SL(kb, (size_t)n), S("same"));
    if (rc == MT_OK) d->ok++;
    else if (rc == MT_EEXIST) d->exist++;
    else failf("dup writer %d: %d %s", d->id, rc, mt_last_error());
  }
  return NULL;
}

static void racing_duplicates(void **state) {
  reset_failures();
  mt_memtable *m;
  assert_int_equal(mt_memtable_new(&m, REP, NULL), MT_OK);
  _Atomic int start = 0;
  dup d[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    d[i] = (dup){m, i, 0, 0, &start};
    assert_int_equal(pthread_create(&th[i], NULL, dup_writer, &d[i]), 0);
  }
  atomic_store_explicit(&start, 1, memory_order_release);
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  ASSERT_NO_THREAD_FAILURES();
  long ok = 0, exist = 0;
  for (int i = 0; i < 4; i++) ok += d[i].ok, exist += d[i].exist;
  assert_int_equal(ok, DUP_KEYS);
  assert_int_equal(exist, 3L * DUP_KEYS);
  assert_int_equal(mt_memtable_count(m), DUP_KEYS);
  assert_int_equal(mt_memtable_check(m), MT_OK);
  mt_iter *it;
  assert_int_equal(mt_iter_new(&it, m), MT_OK);
  long n = 0;
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it)) n++;
  mt_iter_free(it);
  assert_int_equal(n, DUP_KEYS);
  mt_memtable_unref(m);
}

/* ---- main ----------------------------------------------------------------------------------------- */

static const char *group_rep;
static int group_setup(void **state) {
  *state = (void *)group_rep;
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(writers_with_readers),
      cmocka_unit_test(freeze_races_writers),
      cmocka_unit_test(racing_duplicates),
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
