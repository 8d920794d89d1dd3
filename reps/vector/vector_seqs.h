/* vector_seqs.h -- the vector rep's bitmap of seen seqs, which proves most
 * adds new without a search (vector.c, "Duplicates").  vector.c includes it
 * once; everything is static.
 *
 * A bit per seq over a window of WINDOW seqs placed by the first add; the
 * window is cut in pages of 2^PAGE_SHIFT bits installed on demand by CAS and
 * never moved.  A page is allocated only within the budget (FREE_PAGES plus
 * one per CHUNK_SLOTS slots claimed); past it the page index is marked
 * PAGE_REFUSED for good, so a seq never gains a bit after an entry with it
 * was added without one.  Thread safety: lock-free; pages are freed only at
 * freeze and destroy, when no writer runs. */

/* ---- the seq bitmap ----------------------------------------------------------------- */

typedef struct seqbit {
  size_t page, word;
  uint64_t bit;
} seqbit;

/* Where seq's bit lives under window base `base`; false when seq has none.
 * Consecutive seqs fall in different cache lines, so writers that take
 * alternate seqs do not share one. */
static bool seq_map(uint64_t base, uint64_t seq, seqbit *b) {
  if (base == SEQ_UNSET || seq < base || seq - base >= WINDOW) return false;
  uint64_t off = seq - base;
  b->page = (size_t)(off >> PAGE_SHIFT);
  b->word = (size_t)((off & 63) << 3 | ((off >> 6) & 7)); /* 64 lines x 8 words */
  b->bit = (uint64_t)1 << ((off >> 9) & 63);
  return true;
}

/* seq_map under the window, which the first insert places around its seq. */
static bool seq_locate(struct mt_rep *r, uint64_t seq, seqbit *b) {
  uint64_t base = atomic_load_explicit(&r->seq_base, memory_order_acquire);
  if (base == SEQ_UNSET) {
    uint64_t want = seq < WINDOW / 2 ? 0 : (seq - WINDOW / 4) & ~(((uint64_t)1 << PAGE_SHIFT) - 1);
    if (atomic_compare_exchange_strong_explicit(&r->seq_base, &base, want, memory_order_acq_rel,
                                                memory_order_acquire))
      base = want;
  }
  return seq_map(base, seq, b);
}

/* The page of b, installing it within the budget; PAGE_REFUSED for good
 * once over it; NULL on MT_ENOMEM. */
static page *page_ensure(struct mt_rep *r, size_t p) {
  _Atomic(page *) *pp = &r->pages[p];
  page *pg = atomic_load_explicit(pp, memory_order_acquire);
  if (pg) return pg;
  uint64_t budget = FREE_PAGES + atomic_load_explicit(&r->claimed, memory_order_relaxed) / CHUNK_SLOTS;
  page *np = PAGE_REFUSED;
  if (atomic_load_explicit(&r->npages, memory_order_relaxed) < budget) {
    np = heap_alloc(r, sizeof *np, true);
    if (!np) return NULL;
  }
  if (atomic_compare_exchange_strong_explicit(pp, &pg, np, memory_order_acq_rel, memory_order_acquire)) {
    if (np != PAGE_REFUSED) atomic_fetch_add_explicit(&r->npages, 1, memory_order_relaxed);
    return np;
  }
  if (np != PAGE_REFUSED) heap_free(r, np, sizeof *np);
  return pg;
}

