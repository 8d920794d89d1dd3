/* sorted_array_rep.c -- a complete custom rep in ~150 lines: entry handles
 * in one sorted heap array behind a reader-writer lock.
 *
 * It is the example of examples/custom_rep.c and is run through the whole
 * conformance suite by registering it (tests/CMakeLists.txt builds
 * test_conformance_example with it), which is all a rep author has to do.
 *
 * Thread safety: inserts (serialised by core: no MT_CAP_CONCURRENT_INSERT)
 * take the write lock; get and every iterator step take the read lock, so a
 * reader waits at most one insert.  Iterators remember their entry, not an
 * index (inserts shift indexes), and find their place again by binary
 * search at each step.
 *
 * Invariants (the check slot verifies them):
 *  1. a[0..n) is in strictly increasing internal-key order.
 *  2. n <= cap; memory_outside_arena counts cap handles plus the struct.
 */
#define _POSIX_C_SOURCE 200809L /* pthread_rwlock_t in strict C11 */
#include <memtable/rep.h>

#include <pthread.h>

struct mt_rep {
  const mt_comparator *cmp;
  mt_arena *arena;
  pthread_rwlock_t lock;
  const uint8_t **a;
  size_t n, cap;
};

/* First index whose entry is >= (key, seq); REQUIRES: a lock held. */
static size_t lower_bound(const mt_rep *r, mt_slice key, uint64_t seq) {
  size_t lo = 0, hi = r->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (mt_entry_compare_key(r->cmp, r->a[mid], key, seq) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static int sa_create(mt_rep **out, const mt_rep_init *init) {
  mt_rep *r = mt_calloc(1, sizeof *r);
  if (!r) return MT_ENOMEM;
  r->cmp = init->cmp;
  r->arena = init->arena;
  pthread_rwlock_init(&r->lock, NULL);
  *out = r;
  return MT_OK;
}

static void sa_destroy(mt_rep *r) {
  pthread_rwlock_destroy(&r->lock);
  mt_free(r->a);
  mt_free(r);
}

static int sa_insert(mt_rep *r, const mt_new_entry *e) {
  int rc = MT_OK;
  pthread_rwlock_wrlock(&r->lock);
  size_t i = lower_bound(r, e->key, e->seq);
  if (i < r->n && mt_entry_compare_key(r->cmp, r->a[i], e->key, e->seq) == 0) {
    rc = MT_EEXIST;
  } else if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 64;
    const uint8_t **a = mt_realloc(r->a, cap * sizeof *a);
    if (!a) rc = MT_ENOMEM;
    else r->a = a, r->cap = cap;
  }
  const uint8_t *entry = NULL;
  if (rc == MT_OK) entry = mt_arena_alloc_entry(r->arena, e, 0, 1);
  if (rc == MT_OK && !entry) rc = MT_ENOMEM;
  if (rc == MT_OK) {
    memmove(&r->a[i + 1], &r->a[i], (r->n - i) * sizeof *r->a);
    r->a[i] = entry;
    r->n++;
  }
  pthread_rwlock_unlock(&r->lock);
  return rc;
}

static size_t sa_memory(const mt_rep *r) { return sizeof *r + r->cap * sizeof *r->a; }

static int sa_check(const mt_rep *r) {
  if (r->n > r->cap) return mt_set_error(MT_ECORRUPT, "sorted_array: n %zu > cap %zu", r->n, r->cap);
  for (size_t i = 1; i < r->n; i++)
    if (mt_entry_compare(r->cmp, r->a[i - 1], r->a[i]) >= 0)
      return mt_set_error(MT_ECORRUPT, "sorted_array: entries %zu and %zu out of order", i - 1, i);
  return MT_OK;
}

/* ---- iterator: the current entry, re-found by binary search at each step */

struct mt_rep_iter {
  mt_rep *r;
  const uint8_t *cur; /* NULL: invalid */
};

static int it_new(mt_rep_iter **out, mt_rep *r) {
  mt_rep_iter *it = mt_calloc(1, sizeof *it);
  if (!it) return MT_ENOMEM;
  it->r = r;
  *out = it;
  return MT_OK;
}
static void it_free(mt_rep_iter *it) { mt_free(it); }

/* Positions at index i (or invalid) under the read lock. */
static void at(mt_rep_iter *it, size_t i) { it->cur = i < it->r->n ? it->r->a[i] : NULL; }

static void it_first(mt_rep_iter *it) {
  pthread_rwlock_rdlock(&it->r->lock);
  at(it, 0);
  pthread_rwlock_unlock(&it->r->lock);
}
static void it_last(mt_rep_iter *it) {
  pthread_rwlock_rdlock(&it->r->lock);
  at(it, it->r->n ? it->r->n - 1 : SIZE_MAX);
  pthread_rwlock_unlock(&it->r->lock);
}
static void it_seek(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  pthread_rwlock_rdlock(&it->r->lock);
  at(it, lower_bound(it->r, key, seq));
  pthread_rwlock_unlock(&it->r->lock);
}
static void it_seek_for_prev(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  pthread_rwlock_rdlock(&it->r->lock);
  size_t i = lower_bound(it->r, key, seq); /* first >= target */
  if (i < it->r->n && mt_entry_compare_key(it->r->cmp, it->r->a[i], key, seq) == 0) at(it, i);
  else at(it, i ? i - 1 : SIZE_MAX);
  pthread_rwlock_unlock(&it->r->lock);
}
static void it_next(mt_rep_iter *it) {
  pthread_rwlock_rdlock(&it->r->lock);
  at(it, lower_bound(it->r, mt_entry_key(it->cur), mt_entry_seq(it->cur)) + 1);
  pthread_rwlock_unlock(&it->r->lock);
}
static void it_prev(mt_rep_iter *it) {
  pthread_rwlock_rdlock(&it->r->lock);
  size_t i = lower_bound(it->r, mt_entry_key(it->cur), mt_entry_seq(it->cur));
  at(it, i ? i - 1 : SIZE_MAX);
  pthread_rwlock_unlock(&it->r->lock);
}
static const uint8_t *it_entry(const mt_rep_iter *it) { return it->cur; }

const mt_rep_ops example_sorted_array_rep = {
    .version = MT_REP_OPS_VERSION,
    .name = "sorted_array",
    .caps = 0,
    .help = "example: a sorted array behind a rwlock (O(n) inserts)",
    .create = sa_create,
    .destroy = sa_destroy,
    .insert = sa_insert,
    .iter_new = it_new,
    .iter_free = it_free,
    .iter_seek_to_first = it_first,
    .iter_seek_to_last = it_last,
    .iter_seek = it_seek,
    .iter_seek_for_prev = it_seek_for_prev,
    .iter_next = it_next,
    .iter_prev = it_prev,
    .iter_entry = it_entry,
    .memory_outside_arena = sa_memory,
    .check = sa_check,
};
