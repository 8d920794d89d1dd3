/* arena.c -- bump allocation in one reserved address range, with exact
 * accounting.
 *
 * The arena reserves MT_ARENA_RESERVE bytes of address space (PROT_NONE,
 * nothing backed) and commits it front to back in growing steps.  Every
 * allocation therefore lies in [base, base + MT_ARENA_RESERVE), which lets
 * reps link nodes with 32-bit offsets in 4-byte units (rep.h's
 * mt_arena_base).  Big allocations waste nothing: the range is contiguous.
 *
 * Thread safety: mt_arena_alloc may be called by any number of threads.
 * Space is claimed by CAS on `used`.  Once two threads have collided on that
 * CAS (`contended`), each thread claims a private chunk at a time and bumps
 * inside it without atomics, so parallel writers stop sharing a cache line.
 * Only committing more of the range takes the mutex.
 *
 * Invariants:
 *  1. used <= committed <= resident <= MT_ARENA_RESERVE; [base, base +
 *     resident) is readable, writable and populated.  committed is what
 *     the arena has taken; resident is more only after mt_arena_recycle,
 *     which keeps the pages of an arena's earlier life for the next.
 *  2. memory == sizeof(mt_arena) + committed: what the arena holds.
 *     (Pages kept past committed are counted by whoever keeps the arena:
 *     arena_pool.c.)
 *  3. Commit steps double from MIN_STEP to max_step (MAX_STEP unless
 *     mt_arena_limit_step lowered it), so a small memtable holds little and
 *     one frozen once it reached a budget B (step limit B / 8) holds at
 *     most B / 8 unused; past HUGE_FROM the range is advised for huge pages.
 *  4. Every byte in [used, resident) is zero, as in a fresh mapping: a
 *     recycled arena's bytes are zeroed before it is used again.
 *
 * Memory orders: `committed` is stored with release after mprotect and read
 * with acquire before a claim may use it.  `used` needs only relaxed CAS:
 * the claimed bytes are written by the claiming thread and published to
 * readers by the rep's own release store of the node.  A thread-local chunk
 * is keyed by the arena's id, never reused, so a stale chunk is never used. */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIN_STEP ((size_t)4 << 10) /* or the page size, if bigger */
#define MAX_STEP ((size_t)2 << 20)
#define HUGE_FROM ((size_t)8 << 20)
#define CHUNK ((size_t)32 << 10) /* a contended thread's private chunk */

struct mt_arena {
  uint8_t *base;
  uint8_t *mapping; /* what munmap gets back */
  size_t mapping_len;
  _Atomic size_t used;
  _Atomic size_t committed;
  _Atomic size_t resident; /* written under grow; read by stats (relaxed: a figure) */
  _Atomic bool contended;
  size_t step;     /* the next commit step: a multiple of page */
  size_t max_step; /* where steps stop doubling: a multiple of page */
  size_t page;
  uint64_t id;
  pthread_mutex_t grow;
};

static _Atomic uint64_t next_arena_id = 1;

static _Thread_local struct {
  uint64_t arena_id;
  size_t cur, end;
} chunk;

mt_arena *mt_arena_new(void) {
  mt_arena *a = mt_malloc(sizeof *a);
  if (!a) return NULL;
  size_t len = MT_ARENA_RESERVE + MAX_STEP;
  void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    mt_free(a);
    mt_set_error(MT_ENOMEM, "arena: cannot reserve %zu bytes of address space", len);
    return NULL;
  }
  a->mapping = p;
  a->mapping_len = len;
  a->base = (uint8_t *)(((uintptr_t)p + MAX_STEP - 1) & ~(uintptr_t)(MAX_STEP - 1));
  atomic_init(&a->used, 0);
  atomic_init(&a->committed, 0);
  atomic_init(&a->contended, false);
  atomic_init(&a->resident, 0);
  long page = sysconf(_SC_PAGESIZE);
  a->page = page > 0 ? (size_t)page : MIN_STEP;
  a->step = a->page > MIN_STEP ? a->page : MIN_STEP;
  a->max_step = MAX_STEP > a->step ? MAX_STEP : a->step;
  a->id = atomic_fetch_add_explicit(&next_arena_id, 1, memory_order_relaxed);
  pthread_mutex_init(&a->grow, NULL);
  return a;
}

void mt_arena_recycle(mt_arena *a) {
  memset(a->base, 0, atomic_load_explicit(&a->used, memory_order_relaxed)); /* invariant 4 */
  atomic_store_explicit(&a->used, 0, memory_order_relaxed);
  atomic_store_explicit(&a->committed, 0, memory_order_relaxed);
  atomic_store_explicit(&a->contended, false, memory_order_relaxed);
  a->step = a->page > MIN_STEP ? a->page : MIN_STEP;
  a->max_step = MAX_STEP > a->step ? MAX_STEP : a->step;
  /* a new id: no thread's chunk of the earlier life is used again */
  a->id = atomic_fetch_add_explicit(&next_arena_id, 1, memory_order_relaxed);
}

size_t mt_arena_resident(const mt_arena *a) {
  return atomic_load_explicit(&((mt_arena *)a)->resident, memory_order_relaxed);
}

size_t mt_arena_held(const mt_arena *a) {
  size_t c = atomic_load_explicit(&((mt_arena *)a)->committed, memory_order_relaxed), r = mt_arena_resident(a);
  return sizeof *a + (r > c ? r : c);
}

void mt_arena_limit_step(mt_arena *a, size_t bytes) {
  size_t cap = bytes & ~(a->page - 1);
  if (cap < a->page) cap = a->page;
  if (cap > MAX_STEP) cap = MAX_STEP;
  pthread_mutex_lock(&a->grow);
  a->max_step = cap;
  if (a->step > cap) a->step = cap;
  pthread_mutex_unlock(&a->grow);
}

void mt_arena_free(mt_arena *a) {
  if (!a) return;
  munmap(a->mapping, a->mapping_len);
  pthread_mutex_destroy(&a->grow);
  mt_free(a);
}

size_t mt_arena_memory(const mt_arena *a) {
  return sizeof *a + atomic_load_explicit(&((mt_arena *)a)->committed, memory_order_relaxed);
}

uint8_t *mt_arena_base(const mt_arena *a) { return a->base; }

/* Makes [base, base + end) resident (invariant 1): the pages past what an
 * earlier life left.  False when mprotect fails.  REQUIRES: grow. */
static bool make_resident(mt_arena *a, size_t end) {
  size_t resident = atomic_load_explicit(&a->resident, memory_order_relaxed);
  if (end <= resident) return true;
  uint8_t *from = a->base + resident;
  size_t len = end - resident;
  if (mprotect(from, len, PROT_READ | PROT_WRITE) != 0) return false;
#ifdef MADV_HUGEPAGE
  if (end > HUGE_FROM) madvise(from, len, MADV_HUGEPAGE); /* advice */
#endif
#ifdef MADV_POPULATE_WRITE
  /* Fault the pages in now, in one call, rather than a page at a time
   * under the writers (advice: an old kernel leaves it to faults). */
  madvise(from, len, MADV_POPULATE_WRITE);
#endif
  atomic_store_explicit(&a->resident, end, memory_order_relaxed);
  return true;
}

/* Commits the range up to at least `need` bytes.  False on MT_ENOMEM. */
static bool commit(mt_arena *a, size_t need) {
  bool ok = true;
  pthread_mutex_lock(&a->grow);
  size_t have = atomic_load_explicit(&a->committed, memory_order_relaxed);
  while (ok && have < need) {
    size_t step = a->step;
    if (need - have > step) step = (need - have + a->page - 1) & ~(a->page - 1); /* mprotect takes pages */
    if (step >= MAX_STEP) /* end on a huge-page boundary so the next step is one whole huge page */
      step = ((have + step + MAX_STEP - 1) & ~(MAX_STEP - 1)) - have;
    if (step > MT_ARENA_RESERVE - have) {
      mt_set_error(MT_ENOMEM, "arena: a memtable holds at most %zu bytes", (size_t)MT_ARENA_RESERVE);
      ok = false;
    } else if (!mt_alloc_permit(step) || !make_resident(a, have + step)) {
      mt_set_error(MT_ENOMEM, "arena: out of memory committing %zu bytes", step);
      ok = false;
    } else {
      have += step;
      if (a->step < a->max_step) a->step = a->step * 2 < a->max_step ? a->step * 2 : a->max_step;
      atomic_store_explicit(&a->committed, have, memory_order_release);
    }
  }
  pthread_mutex_unlock(&a->grow);
  return ok;
}

/* Claims [start, start + size) from the shared range; returns the offset or
 * SIZE_MAX on MT_ENOMEM. */
static size_t claim_shared(mt_arena *a, size_t size, size_t align) {
  size_t used = atomic_load_explicit(&a->used, memory_order_relaxed);
  for (;;) {
    size_t start = (used + align - 1) & ~(align - 1);
    if (start + size < start || start + size > MT_ARENA_RESERVE) {
      mt_set_error(MT_ENOMEM, "arena: a memtable holds at most %zu bytes", (size_t)MT_ARENA_RESERVE);
      return SIZE_MAX;
    }
    if (start + size > atomic_load_explicit(&a->committed, memory_order_acquire)) {
      if (!commit(a, start + size)) return SIZE_MAX;
      continue;
    }
    if (atomic_compare_exchange_weak_explicit(&a->used, &used, start + size, memory_order_relaxed,
                                              memory_order_relaxed))
      return start;
    atomic_store_explicit(&a->contended, true, memory_order_relaxed);
  }
}

void *mt_arena_alloc(mt_arena *a, size_t size, size_t align) {
  if (atomic_load_explicit(&a->contended, memory_order_relaxed) && size <= CHUNK / 4) {
    if (chunk.arena_id == a->id) {
      size_t start = (chunk.cur + align - 1) & ~(align - 1);
      if (start + size <= chunk.end) {
        chunk.cur = start + size;
        return a->base + start;
      }
    }
    size_t c = claim_shared(a, CHUNK, 64);
    if (c == SIZE_MAX) return NULL;
    chunk.arena_id = a->id;
    chunk.cur = c + size;
    chunk.end = c + CHUNK;
    return a->base + c;
  }
  size_t start = claim_shared(a, size, align);
  return start == SIZE_MAX ? NULL : a->base + start;
}

void *mt_arena_alloc_entry(mt_arena *a, const mt_new_entry *e, size_t header_bytes,
                           size_t align) {
  size_t n = mt_entry_encoded_size(e);
  uint8_t *h = mt_arena_alloc(a, header_bytes + n, align);
  if (h) mt_entry_encode(h + header_bytes, e);
  return h;
}
