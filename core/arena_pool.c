/* arena_pool.c -- one emptied arena kept for its owner's next memtable.
 *
 * The store makes a memtable of the same size again and again.  A fresh
 * arena's pages cost a fault each on first write (on the VM we measure
 * on, 6.5 us a page even after MADV_POPULATE_WRITE: about a third of a
 * 4 MiB skiplist memtable's fill time); a recycled one is written at
 * memory speed.  So when a flushed memtable's last reference goes, its
 * arena is kept here, emptied (zeroed) by the owner's background thread,
 * and the next memtable takes it.
 *
 * Accounting stays exact: the kept arena's resident pages are reported by
 * mt_arena_pool_memory, and those a memtable on a recycled arena has not
 * committed again by mt_arena_held; the store adds both to its `bytes`
 * stat.  At most one arena is kept, and none holding more than keep_limit
 * (an owner's memtable budget and slack), so the pool holds at most one
 * memtable's worth of memory.
 *
 * Thread safety: `mu` guards `kept` and `clean`.  Giving is O(1) under
 * `mu`, as the last unref may come from any thread (a reader's).  Zeroing
 * (mt_arena_recycle) happens with the arena out of the pool, by the
 * cleaning thread or by a taker that found it not clean; `mu` orders the
 * zeroing before any use by a later taker.  refs is an atomic count
 * (acq_rel on the drop, so the freeing thread sees every earlier give).
 *
 * Invariants:
 *  1. kept is NULL or an arena no memtable uses; clean says whether it was
 *     emptied (mt_arena_recycle) since its last use.
 *  2. kept's resident bytes are at most keep_limit.
 */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

struct mt_arena_pool {
  pthread_mutex_t mu;
  mt_arena *kept;
  bool clean;
  size_t keep_limit;
  _Atomic long refs;
};

mt_arena_pool *mt_arena_pool_new(size_t keep_limit) {
  mt_arena_pool *p = mt_malloc(sizeof *p);
  if (!p) return NULL;
  pthread_mutex_init(&p->mu, NULL);
  p->kept = NULL;
  p->clean = false;
  p->keep_limit = keep_limit;
  atomic_init(&p->refs, 1);
  return p;
}

void mt_arena_pool_ref(mt_arena_pool *p) { atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed); }

void mt_arena_pool_unref(mt_arena_pool *p) {
  if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) return;
  mt_arena_free(p->kept);
  pthread_mutex_destroy(&p->mu);
  mt_free(p);
}

mt_arena *mt_arena_pool_take(mt_arena_pool *p) {
  pthread_mutex_lock(&p->mu);
  mt_arena *a = p->kept;
  bool clean = p->clean;
  p->kept = NULL;
  pthread_mutex_unlock(&p->mu);
  if (a && !clean) mt_arena_recycle(a);
  return a ? a : mt_arena_new();
}

/* Keeps a (emptied or not: clean) if no arena is kept and a is small
 * enough (invariant 2), else frees it. */
static void keep_or_free(mt_arena_pool *p, mt_arena *a, bool clean) {
  pthread_mutex_lock(&p->mu);
  bool keep = !p->kept && mt_arena_resident(a) <= p->keep_limit;
  if (keep) {
    p->kept = a;
    p->clean = clean;
  }
  pthread_mutex_unlock(&p->mu);
  if (!keep) mt_arena_free(a);
}

void mt_arena_pool_give(mt_arena_pool *p, mt_arena *a) { keep_or_free(p, a, false); }

void mt_arena_pool_clean(mt_arena_pool *p) {
  pthread_mutex_lock(&p->mu);
  mt_arena *a = p->clean ? NULL : p->kept;
  if (a) p->kept = NULL;
  pthread_mutex_unlock(&p->mu);
  if (!a) return;
  mt_arena_recycle(a); /* outside mu: zeroing a memtable's worth takes a while */
  keep_or_free(p, a, true); /* another arena may have come back meanwhile */
}

size_t mt_arena_pool_memory(mt_arena_pool *p) {
  pthread_mutex_lock(&p->mu);
  size_t n = p->kept ? mt_arena_resident(p->kept) : 0;
  pthread_mutex_unlock(&p->mu);
  return n;
}
