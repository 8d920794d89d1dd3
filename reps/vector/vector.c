/* vector.c -- the bulk loader: entries appended to an array while active,
 * sorted in place, read by binary search.
 *
 * Files: this one (layout, slots, search, insert, lifecycle); vector_seqs.h
 * (the seq bitmap), vector_merge.h (sorting and the in-place merge),
 * vector_iter.h (the iterator), vector_check.h (the check slot), vsort.h
 * (radix and merge sort kernels).  The headers are static code included
 * once, here, so the rep still exports one symbol.
 *
 * Layout.  Entries are core's encodings in the arena, 4-byte aligned, and a
 * handle is a 32-bit offset from mt_arena_base in 4-byte units (rep.h,
 * contract 14).  Handles live in one array of slots: a two-level directory
 * of fixed chunks of CHUNK_SLOTS slots that never move once published, so a
 * writer claims a slot with one CAS and no reader ever sees an array move.
 * Each chunk also holds one fence (see below) per FENCE_EVERY slots.  The
 * slots [0, claimed) are, in order:
 *
 *     [ run 0 ][holes][ run 1 ][holes] ... [ run k-1 ][holes][ tail ........ )
 *     0                                                      covered    claimed
 *
 * A run is a sorted segment; the tail holds handles in claim order.  A merge
 * sorts the completed head of the tail, merges it with the smallest runs
 * (each run at most RATIO times the data merged so far, size-tiered as in an
 * LSM) and writes the result back in place over the same slots, HOLE-filling
 * what is left over.  Nothing is allocated for a run: the slots are the run, so
 * reads that merge never change the memory usage.  Merges are lazy: a reader
 * that finds a tail longer than TAIL_MAX merges first, a read-mostly phase
 * folds the runs into one (count_read), and freeze merges everything into
 * one run.  A get therefore costs a binary search per run
 * (O(log n) each, fewer than log_RATIO(n / TAIL_MAX) runs) plus a scan of at
 * most TAIL_MAX tail slots.
 *
 * Fences.  For the bytewise comparator a run stores, at every slot index
 * that is a multiple of FENCE_EVERY, the 8 key bytes at offset L of its
 * entry (big-endian; L = the run's common key prefix, at most 8).  These
 * windows are non-decreasing along a run, so a binary search over the fences
 * (0.5 B a slot, 8 to a cache line) narrows a lookup to FENCE_EVERY slots
 * before any entry is touched; those are then fetched at once.
 *
 * Duplicates.  (key, seq) can only repeat if seq repeats.  A bitmap of the
 * seqs seen (pages of 2^PAGE_SHIFT bits over a window fixed by the first
 * insert) lets the fast path prove an insert new with one fetch_or.  An
 * insert whose seq bit was already set, or whose seq has no bit (outside the
 * window, or its page refused by the memory budget, for good), takes the
 * slow path: under slow_mu it waits until every slot claimed so far is
 * complete, then searches runs and tail for the exact (key, seq).
 *
 * Thread safety:
 *  - Fast-path writers take no lock.  Slow-path writers take slow_mu.
 *  - Merges (readers, slow writers, freeze) take merge_mu; lock order is
 *    slow_mu then merge_mu.  Readers never take slow_mu.
 *  - Readers of an active vector use the seqlock `gen`: odd while a merge
 *    rewrites slots, fences and run bounds.  A reader snapshots gen (acquire),
 *    reads with acquire loads, then re-reads gen; a change, or a HOLE where a
 *    run slot should be, means retry.  Iterators remember their current entry
 *    and re-seek to it when gen moved.  A reader spins only across a merge's
 *    write-back, never across an insert.
 *  - Once `frozen` is set (release, after the final merge) nothing is
 *    written again; readers that see it (acquire) read without the seqlock.
 *
 * Invariants (vec_check verifies them):
 *  1. Runs are disjoint, in slot order, each strictly increasing in internal
 *     key order; the slots between and after them, up to covered, are HOLE.
 *  2. Every slot in [covered, claimed) is a handle, HOLE, PENDING (its
 *     writer waits for slow_mu) or EMPTY (its writer is between claim and
 *     publish); with no writer running, only handles and HOLEs.
 *  3. No two entries compare equal.
 *  4. Every entry whose seq maps to an allocated page has its bit set; a page
 *     index, once refused, stays refused.
 *  5. A fence at slot i of a run holds the window of the entry at slot i.
 *  6. Frozen: at most one run, covered == claimed.
 *
 * Memory orders:
 *  - claim: CAS on `claimed`, seq_cst, after the chunk is installed (release
 *    CAS on the directory), so a reader that loads claimed (acquire) sees the
 *    chunk of every slot below it.
 *  - Dekker between a fast writer (CAS claimed; fetch_or bit) and a slow
 *    writer (load bit; load claimed): all seq_cst / acquire-release, so the
 *    slow writer either sees the fast writer's slot below claimed and waits
 *    for it, or the fast writer sees the bit set and goes slow itself.
 *  - A slot is published with a release store after the entry is encoded and
 *    read with acquire; merges copy handles with the same orders, so the
 *    entry's bytes happen-before any reader that reaches it.
 *  - Seqlock without fences: a merge makes gen odd, then stores every slot,
 *    fence, run bound and `covered` with release; readers load them with
 *    acquire.  A reader that reads any value of the merge therefore sees gen
 *    odd or newer when it re-reads it, and retries.  A torn snapshot of run
 *    bounds is also caught before use: a run reaching past `claimed` (where
 *    a chunk may not exist) is torn by definition. */
#include <memtable/rep.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "vsort.h"

#define CHUNK_SHIFT 13 /* 8192 slots: 32 KiB of handles + 4 KiB of fences */
#define CHUNK_SLOTS ((uint64_t)1 << CHUNK_SHIFT)
#define FENCE_SHIFT 4
#define FENCE_EVERY ((uint64_t)1 << FENCE_SHIFT)
#define DIR_SHIFT 10
#define DIR_SIZE ((size_t)1 << DIR_SHIFT)
#define TOP_SIZE 512
#define MAX_SLOTS ((uint64_t)TOP_SIZE << (DIR_SHIFT + CHUNK_SHIFT)) /* 2^32 */

#define H_EMPTY 0u
#define H_PENDING 0xFFFFFFFEu
#define H_HOLE 0xFFFFFFFFu
#define NO_SLOT UINT64_MAX

#define PAGE_SHIFT 15 /* 32768 seqs a page: 4 KiB of bits */
#define PAGE_WORDS ((size_t)1 << (PAGE_SHIFT - 6))
#define NPAGES 1024
#define WINDOW ((uint64_t)NPAGES << PAGE_SHIFT)
#define SEQ_UNSET UINT64_MAX
#define FREE_PAGES 4 /* pages allowed beyond one per CHUNK_SLOTS entries */

#define TAIL_MAX 64
#define RATIO 4
#define MAX_RUNS 48
#define FENCE_MIN 64 /* runs shorter than this are searched without fences */
#define READ_BATCH 256 /* a thread adds its gets to `reads` this many at a time */
#define FOLD_MIN 4096  /* reads since a merge before several runs are folded into one */

typedef struct chunk {
  _Atomic uint32_t slot[CHUNK_SLOTS];
  _Atomic uint64_t fence[CHUNK_SLOTS >> FENCE_SHIFT];
} chunk;
typedef struct dir {
  _Atomic(chunk *) c[DIR_SIZE];
} dir;
typedef struct page {
  _Atomic uint64_t w[PAGE_WORDS];
} page;
#define PAGE_REFUSED ((page *)(uintptr_t)1)

static const mt_rep_param vec_params[] = {
    {"reserve", MT_PARAM_INT, 0, 0, (int64_t)1 << 26, "slots allocated up front (initial capacity)"},
};

struct mt_rep {
  const mt_comparator *cmp;
  mt_arena *arena;
  uint8_t *base;
  bool bytewise;
  _Atomic uint64_t claimed;
  _Atomic(dir *) top[TOP_SIZE];
  /* the sorted part: written under merge_mu inside the seqlock gen */
  _Atomic uint64_t gen;
  _Atomic uint64_t covered;
  _Atomic uint32_t nruns;
  _Atomic uint64_t run_start[MAX_RUNS], run_n[MAX_RUNS];
  _Atomic uint64_t run_meta[MAX_RUNS]; /* L << 32 | handle of the run's first entry */
  _Atomic bool frozen;
  _Atomic uint64_t reads; /* gets since the last merge, counted READ_BATCH at a time */
  pthread_mutex_t merge_mu, slow_mu;
  /* the seq bitmap */
  _Atomic uint64_t seq_base;
  _Atomic(page *) pages[NPAGES];
  _Atomic uint32_t npages;
  _Atomic size_t outside; /* heap bytes held: chunks, directories, pages, merge scratch, this */
};

typedef struct runv {
  uint64_t start, n;
  uint32_t L, first;
} runv;

/* ---- small helpers ---------------------------------------------------------------- */

static inline const uint8_t *ent(const struct mt_rep *r, uint32_t h) {
  return r->base + ((size_t)h << 2);
}
static inline bool real(uint32_t h) { return h != H_EMPTY && h < H_PENDING; }

static inline chunk *chunk_of(const struct mt_rep *r, uint64_t i) {
  dir *d = atomic_load_explicit(&((struct mt_rep *)r)->top[i >> (CHUNK_SHIFT + DIR_SHIFT)],
                                memory_order_acquire);
  return atomic_load_explicit(&d->c[(i >> CHUNK_SHIFT) & (DIR_SIZE - 1)], memory_order_acquire);
}
static inline uint32_t slot_get(const struct mt_rep *r, uint64_t i) {
  return atomic_load_explicit(&chunk_of(r, i)->slot[i & (CHUNK_SLOTS - 1)], memory_order_acquire);
}
static inline void slot_set(struct mt_rep *r, uint64_t i, uint32_t h) {
  atomic_store_explicit(&chunk_of(r, i)->slot[i & (CHUNK_SLOTS - 1)], h, memory_order_release);
}
static inline uint64_t fence_get(const struct mt_rep *r, uint64_t i) {
  return atomic_load_explicit(&chunk_of(r, i)->fence[(i & (CHUNK_SLOTS - 1)) >> FENCE_SHIFT],
                              memory_order_acquire);
}
static inline void fence_set(struct mt_rep *r, uint64_t i, uint64_t w) {
  atomic_store_explicit(&chunk_of(r, i)->fence[(i & (CHUNK_SLOTS - 1)) >> FENCE_SHIFT], w,
                        memory_order_release);
}

static void *heap_alloc(struct mt_rep *r, size_t bytes, bool zero) {
  void *p = zero ? mt_calloc(1, bytes) : mt_malloc(bytes);
  if (p) atomic_fetch_add_explicit(&r->outside, bytes, memory_order_relaxed);
  return p;
}
static void heap_free(struct mt_rep *r, void *p, size_t bytes) {
  if (!p) return;
  mt_free(p);
  atomic_fetch_sub_explicit(&r->outside, bytes, memory_order_relaxed);
}

/* ---- comparison -------------------------------------------------------------------- */

/* 8 bytes of k from offset off, big-endian, zero-padded past the end. */
static inline uint64_t window(const uint8_t *k, size_t len, size_t off) {
  if (len >= off + 8) return mt_load_be64(k + off);
  uint8_t b[8] = {0};
  if (len > off) memcpy(b, k + off, len - off);
  return mt_load_be64(b);
}

static inline int key_cmp(const struct mt_rep *r, mt_slice a, mt_slice b) {
  if (!r->bytewise) return r->cmp->compare(r->cmp->ctx, a, b);
  return mt_bytewise_compare(a.data, a.len, b.data, b.len);
}
/* entry e against the target (key, seq) in internal-key order */
static inline int cmp_target(const struct mt_rep *r, const uint8_t *e, mt_slice key, uint64_t seq) {
  mt_slice k = mt_entry_key(e);
  int c = key_cmp(r, k, key);
  if (c) return c;
  uint64_t t;
  memcpy(&t, (const uint8_t *)k.data + k.len, 8);
  uint64_t s = t >> 8;
  return s > seq ? -1 : s < seq;
}
static int cmp_handles(const void *ctx, uint32_t a, uint32_t b) {
  const struct mt_rep *r = ctx;
  const uint8_t *ea = ent(r, a);
  return cmp_target(r, ea, mt_entry_key(ent(r, b)), mt_entry_seq(ent(r, b)));
}

/* ---- the slot array -------------------------------------------------------------------- */

/* Installs the chunk of slot i if missing.  False on MT_ENOMEM. */
static bool chunk_ensure(struct mt_rep *r, uint64_t i) {
  _Atomic(dir *) *dp = &r->top[i >> (CHUNK_SHIFT + DIR_SHIFT)];
  dir *d = atomic_load_explicit(dp, memory_order_acquire);
  if (!d) {
    dir *nd = heap_alloc(r, sizeof *nd, true);
    if (!nd) return false;
    if (atomic_compare_exchange_strong_explicit(dp, &d, nd, memory_order_acq_rel, memory_order_acquire))
      d = nd;
    else
      heap_free(r, nd, sizeof *nd); /* another writer installed one first */
  }
  _Atomic(chunk *) *cp = &d->c[(i >> CHUNK_SHIFT) & (DIR_SIZE - 1)];
  chunk *c = atomic_load_explicit(cp, memory_order_acquire);
  if (c) return true;
  chunk *nc = heap_alloc(r, sizeof *nc, true);
  if (!nc) return false;
  if (!atomic_compare_exchange_strong_explicit(cp, &c, nc, memory_order_acq_rel, memory_order_acquire))
    heap_free(r, nc, sizeof *nc);
  return true;
}

/* Claims the next slot (its chunk installed first); NO_SLOT on MT_ENOMEM. */
static uint64_t claim(struct mt_rep *r) {
  uint64_t c = atomic_load_explicit(&r->claimed, memory_order_relaxed);
  for (;;) {
    if (c >= MAX_SLOTS) {
      mt_set_error(MT_ENOMEM, "vector: a memtable holds at most %llu entries",
                   (unsigned long long)MAX_SLOTS);
      return NO_SLOT;
    }
    if (!chunk_ensure(r, c)) return NO_SLOT;
    if (atomic_compare_exchange_weak_explicit(&r->claimed, &c, c + 1, memory_order_seq_cst,
                                              memory_order_relaxed))
      return c;
  }
}

#include "vector_seqs.h"
#include "vector_merge.h"

/* ---- searching ------------------------------------------------------------------------------- */

/* Narrows [*lo, *hi) of run v for target key with the fences. */
static void narrow(const struct mt_rep *r, const runv *v, mt_slice key, uint64_t *lo, uint64_t *hi) {
  mt_slice fk = mt_entry_key(ent(r, v->first));
  size_t L = v->L, m = key.len < L ? key.len : L;
  int c = m ? memcmp(key.data, fk.data, m) : 0;
  if (c < 0 || (c == 0 && key.len < L)) { /* before every key of the run */
    *lo = *hi = 0;
    return;
  }
  if (c > 0) {
    *lo = *hi = v->n;
    return;
  }
  uint64_t d = window(key.data, key.len, L);
  uint64_t i0 = (FENCE_EVERY - (v->start & (FENCE_EVERY - 1))) & (FENCE_EVERY - 1);
  if (i0 >= v->n) return;
  uint64_t nf = (v->n - i0 + FENCE_EVERY - 1) >> FENCE_SHIFT;
  uint64_t a = 0, b = nf; /* a: first fence >= d */
  bool fetched = false;
  while (a < b) {
    if (!fetched && b - a <= 64) { /* the last levels: fetch their lines at once */
      fetched = true;
      for (uint64_t k = a; k < b; k += 8)
        __builtin_prefetch(&chunk_of(r, v->start + i0 + (k << FENCE_SHIFT))
                                ->fence[((v->start + i0 + (k << FENCE_SHIFT)) & (CHUNK_SLOTS - 1)) >> FENCE_SHIFT]);
    }
    uint64_t mid = (a + b) / 2;
    if (fence_get(r, v->start + i0 + (mid << FENCE_SHIFT)) < d) a = mid + 1;
    else b = mid;
  }
  uint64_t e = a; /* e: first fence > d */
  b = nf;
  while (e < b) {
    uint64_t mid = (e + b) / 2;
    if (fence_get(r, v->start + i0 + (mid << FENCE_SHIFT)) <= d) e = mid + 1;
    else b = mid;
  }
  if (a > 0) *lo = i0 + ((a - 1) << FENCE_SHIFT) + 1;
  if (e < nf) *hi = i0 + (e << FENCE_SHIFT);
}

/* First index of run v whose entry is >= (key, seq) (> with strict).
 * *torn is set when a slot read was not a handle (a merge is rewriting). */
static uint64_t run_lb(const struct mt_rep *r, const runv *v, mt_slice key, uint64_t seq, bool strict,
                       bool *torn) {
  uint64_t lo = 0, hi = v->n;
  if (r->bytewise && v->n >= FENCE_MIN) {
    narrow(r, v, key, &lo, &hi);
    if (hi - lo <= 2 * FENCE_EVERY) /* fetch the candidates' keys at once, not probe by probe */
      for (uint64_t i = lo; i < hi; i++) {
        uint32_t h = slot_get(r, v->start + i);
        if (real(h)) __builtin_prefetch(ent(r, h)), __builtin_prefetch(ent(r, h) + 24);
      }
  }
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    uint32_t h = slot_get(r, v->start + mid);
    if (!real(h)) {
      *torn = true;
      return lo;
    }
    int c = cmp_target(r, ent(r, h), key, seq);
    if (c < 0 || (strict && c == 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static inline bool same_key(const struct mt_rep *r, const uint8_t *e, mt_slice key) {
  mt_slice k = mt_entry_key(e);
  if (r->bytewise) return k.len == key.len && (k.len == 0 || memcmp(k.data, key.data, k.len) == 0);
  return r->cmp->compare(r->cmp->ctx, k, key) == 0;
}

/* The newest entry of key with seq <= snap in run v, or NULL. */
static const uint8_t *run_find(const struct mt_rep *r, const runv *v, mt_slice key, uint64_t snap,
                               bool *torn) {
  uint64_t i = run_lb(r, v, key, snap, false, torn);
  if (*torn || i >= v->n) return NULL;
  uint32_t h = slot_get(r, v->start + i);
  if (!real(h)) {
    *torn = true;
    return NULL;
  }
  return same_key(r, ent(r, h), key) ? ent(r, h) : NULL;
}

/* Read-mostly phases end with one run: once a quarter of the entries' worth
 * of gets (at least FOLD_MIN) found several runs and no merge happened
 * meanwhile, fold them all (the fold costs about as much as the searches of
 * the extra runs it saves).  With writes going on, tail merges reset the
 * count and runs stay size-tiered. */
static void count_read(struct mt_rep *r) {
  static _Thread_local unsigned n;
  if (++n % READ_BATCH) return;
  uint64_t reads = atomic_fetch_add_explicit(&r->reads, READ_BATCH, memory_order_relaxed) + READ_BATCH;
  uint64_t covered = atomic_load_explicit(&r->covered, memory_order_relaxed);
  if (atomic_load_explicit(&r->nruns, memory_order_relaxed) > 1 && reads >= FOLD_MIN && reads >= covered / 4)
    merge(r, true); /* MT_ENOMEM: keep the runs */
}

/* The newest entry of key with seq <= snap (exact: only seq == snap), or NULL. */
static const uint8_t *find(struct mt_rep *r, mt_slice key, uint64_t snap, bool exact) {
  if (atomic_load_explicit(&r->frozen, memory_order_acquire)) {
    bool torn = false;
    if (atomic_load_explicit(&r->nruns, memory_order_relaxed) == 0) return NULL;
    runv v = run_load(r, 0);
    const uint8_t *e = run_find(r, &v, key, snap, &torn);
    return e && (!exact || mt_entry_seq(e) == snap) ? e : NULL;
  }
  bool merged = false;
  count_read(r);
  for (;;) {
    uint64_t g = atomic_load_explicit(&r->gen, memory_order_acquire);
    if (g & 1) {
      sched_yield();
      continue;
    }
    if (atomic_load_explicit(&r->frozen, memory_order_acquire)) return find(r, key, snap, exact);
    uint64_t covered = atomic_load_explicit(&r->covered, memory_order_acquire);
    uint64_t c = atomic_load_explicit(&r->claimed, memory_order_acquire);
    if (c - covered > TAIL_MAX && !merged) {
      merged = true;
      merge(r, false); /* MT_ENOMEM: search the long tail as it is */
      continue;
    }
    uint32_t nr = atomic_load_explicit(&r->nruns, memory_order_acquire);
    bool torn = nr > MAX_RUNS;
    const uint8_t *best = NULL;
    uint64_t best_seq = 0;
    for (uint32_t j = 0; j < nr && !torn; j++) {
      runv v = run_load(r, j);
      torn = v.start + v.n > c; /* a bound from another merge: slots past claimed may lack a chunk */
      if (torn) break;
      const uint8_t *e = run_find(r, &v, key, snap, &torn);
      if (e && (!best || mt_entry_seq(e) > best_seq)) best = e, best_seq = mt_entry_seq(e);
    }
    for (uint64_t i = covered; i < c && !torn; i++) {
      uint32_t h = slot_get(r, i);
      if (!real(h)) continue;
      const uint8_t *e = ent(r, h);
      uint64_t s = mt_entry_seq(e);
      if (s <= snap && (!best || s > best_seq) && same_key(r, e, key)) best = e, best_seq = s;
    }
    if (!torn && atomic_load_explicit(&r->gen, memory_order_relaxed) == g)
      return best && (!exact || best_seq == snap) ? best : NULL;
  }
}

/* ---- insert ------------------------------------------------------------------------------ */

/* Waits until no slot in [covered, c) is EMPTY: every writer that claimed
 * one has published or gone slow (PENDING). */
static void wait_complete(struct mt_rep *r, uint64_t c) {
  for (uint64_t i = atomic_load_explicit(&r->covered, memory_order_acquire); i < c; i++)
    while (slot_get(r, i) == H_EMPTY) sched_yield();
}

/* The insert whose seq may repeat: exact search under slow_mu.  s is the
 * slot the writer holds (or NO_SLOT), h its encoded entry (or 0). */
static int slow_insert(struct mt_rep *r, const mt_new_entry *e, uint64_t s, uint32_t h) {
  if (s != NO_SLOT) slot_set(r, s, H_PENDING);
  pthread_mutex_lock(&r->slow_mu);
  wait_complete(r, atomic_load_explicit(&r->claimed, memory_order_seq_cst));
  int rc = MT_OK;
  if (find(r, e->key, e->seq, true)) {
    rc = MT_EEXIST;
  } else if (!h) {
    uint8_t *mem = mt_arena_alloc_entry(r->arena, e, 0, 4);
    if (!mem) rc = MT_ENOMEM;
    else h = (uint32_t)((size_t)(mem - r->base) >> 2);
  }
  if (rc == MT_OK && s == NO_SLOT) {
    s = claim(r);
    if (s == NO_SLOT) rc = MT_ENOMEM;
  }
  if (s != NO_SLOT) slot_set(r, s, rc == MT_OK ? h : H_HOLE);
  pthread_mutex_unlock(&r->slow_mu);
  return rc;
}

static int vec_insert(mt_rep *r, const mt_new_entry *e) {
  seqbit b;
  bool has_bit = seq_locate(r, e->seq, &b);
  page *pg = has_bit ? atomic_load_explicit(&r->pages[b.page], memory_order_acquire) : NULL;
  if (!has_bit || pg == PAGE_REFUSED ||
      (pg && (atomic_load_explicit(&pg->w[b.word], memory_order_acquire) & b.bit)))
    return slow_insert(r, e, NO_SLOT, 0);
  uint8_t *mem = mt_arena_alloc_entry(r->arena, e, 0, 4);
  if (!mem) return MT_ENOMEM;
  uint32_t h = (uint32_t)((size_t)(mem - r->base) >> 2);
  if (!pg) {
    pg = page_ensure(r, b.page);
    if (!pg) return MT_ENOMEM;
    if (pg == PAGE_REFUSED) return slow_insert(r, e, NO_SLOT, h);
  }
  uint64_t s = claim(r);
  if (s == NO_SLOT) return MT_ENOMEM;
  /* seq_cst after the claim: see "Dekker" in the contract */
  if (atomic_fetch_or_explicit(&pg->w[b.word], b.bit, memory_order_seq_cst) & b.bit)
    return slow_insert(r, e, s, h);
  slot_set(r, s, h);
  return MT_OK;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void free_pages(struct mt_rep *r) {
  for (size_t p = 0; p < NPAGES; p++) {
    page *pg = atomic_load_explicit(&r->pages[p], memory_order_relaxed);
    if (pg && pg != PAGE_REFUSED) heap_free(r, pg, sizeof *pg);
    atomic_store_explicit(&r->pages[p], PAGE_REFUSED, memory_order_relaxed);
  }
}

static void vec_destroy(mt_rep *r) {
  free_pages(r);
  for (size_t t = 0; t < TOP_SIZE; t++) {
    dir *d = atomic_load_explicit(&r->top[t], memory_order_relaxed);
    if (!d) continue;
    for (size_t i = 0; i < DIR_SIZE; i++) heap_free(r, atomic_load_explicit(&d->c[i], memory_order_relaxed), sizeof(chunk));
    heap_free(r, d, sizeof *d);
  }
  pthread_mutex_destroy(&r->merge_mu);
  pthread_mutex_destroy(&r->slow_mu);
  mt_free(r);
}

static int vec_create(mt_rep **out, const mt_rep_init *init) {
  struct mt_rep *r = mt_calloc(1, sizeof *r);
  if (!r) return MT_ENOMEM;
  r->cmp = init->cmp;
  r->arena = init->arena;
  r->base = mt_arena_base(init->arena);
  r->bytewise = init->cmp->compare == NULL;
  atomic_init(&r->outside, sizeof *r);
  atomic_init(&r->seq_base, SEQ_UNSET);
  pthread_mutex_init(&r->merge_mu, NULL);
  pthread_mutex_init(&r->slow_mu, NULL);
  /* offset 0 of the arena is never an entry, so handle 0 can mean EMPTY */
  bool ok = mt_arena_alloc(init->arena, 4, 4) != NULL;
  uint64_t reserve = (uint64_t)init->params[0];
  for (uint64_t i = 0; ok && i < (reserve ? reserve : 1); i += CHUNK_SLOTS) ok = chunk_ensure(r, i);
  if (!ok) {
    vec_destroy(r);
    return MT_ENOMEM;
  }
  *out = r;
  return MT_OK;
}

static int vec_freeze(mt_rep *r) {
  pthread_mutex_lock(&r->merge_mu);
  int rc = merge_locked(r, true);
  if (rc == MT_OK) {
    atomic_store_explicit(&r->frozen, true, memory_order_release);
    free_pages(r); /* no writer will ask again */
  }
  pthread_mutex_unlock(&r->merge_mu);
  return rc;
}

static size_t vec_memory(const mt_rep *r) {
  return atomic_load_explicit(&((struct mt_rep *)r)->outside, memory_order_relaxed);
}

static const uint8_t *vec_get(mt_rep *r, mt_slice key, uint64_t snapshot) {
  return find(r, key, snapshot, false);
}

#include "vector_iter.h"
#include "vector_check.h"

const mt_rep_ops mt_rep_vector = {
    .version = MT_REP_OPS_VERSION,
    .name = "vector",
    .caps = MT_CAP_CONCURRENT_INSERT,
    .params = vec_params,
    .nparams = sizeof vec_params / sizeof vec_params[0],
    .help = "append-only array sorted lazily and at freeze: fastest bulk load, write-then-read phases",
    .create = vec_create,
    .destroy = vec_destroy,
    .insert = vec_insert,
    .insert_concurrent = vec_insert,
    .get = vec_get,
    .iter_new = it_new,
    .iter_free = it_free,
    .iter_seek_to_first = it_first,
    .iter_seek_to_last = it_last,
    .iter_seek = it_seek,
    .iter_seek_for_prev = it_seek_for_prev,
    .iter_next = it_next,
    .iter_prev = it_prev,
    .iter_entry = it_entry,
    .freeze = vec_freeze,
    .memory_outside_arena = vec_memory,
    .check = vec_check,
};
