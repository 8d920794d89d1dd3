/* vector_iter.h -- the vector rep's iterator; vector.c includes it once
 * (everything static).
 *
 * An iterator reads a view: the runs, plus a private sorted copy of the tail
 * taken when it synced.  It merges its sources like LevelDB's
 * MergingIterator: going forward every source sits on its first entry above
 * the current one, going backward on its last entry below it, so a change of
 * direction moves the other sources by one.  Frozen, there is one run and
 * next is an index increment.
 *
 * Thread safety: one thread at a time per iterator (rep contract 7).  On an
 * active vector each operation runs under the seqlock gen: when a merge moved
 * the slots (gen changed, or a slot read was a HOLE), the iterator syncs
 * again and re-seeks to the entry it stood on, which still exists, so it
 * never goes backwards and still holds everything it held.  A positioning
 * op (seek, first, last) syncs when slots were claimed since the view was
 * taken, so it sees every entry added before it; next and prev keep the
 * view. */

struct mt_rep_iter {
  struct mt_rep *r;
  uint64_t gen;   /* the seqlock value the view was taken under */
  uint64_t upto;  /* claimed when the view was taken */
  bool synced;    /* the view and positions are usable */
  bool frozen;    /* the view is the frozen run: never stale */
  bool fwd;       /* direction of the last move */
  bool torn;      /* a slot read this operation was not a handle */
  uint32_t nruns; /* sources: runs 0..nruns-1, then the tail if tail_n */
  int cur;        /* source of the current entry; -1: invalid */
  uint32_t cur_h; /* the current entry */
  uint32_t *tail; /* private sorted tail: tail_cap handles, then tail_cap of scratch */
  /* frozen forward steps: the chunks holding the current slot and the one
   * PREFETCH_AHEAD slots on, cached so a step is one load */
  const _Atomic uint32_t *cur_c, *ahead_c;
  uint64_t cur_base, ahead_base;
  size_t tail_n, tail_cap;
  runv run[MAX_RUNS];
  int64_t pos[MAX_RUNS + 1];
};

static inline uint32_t nsrc(const mt_rep_iter *it) { return it->nruns + (it->tail_n ? 1 : 0); }
static inline uint64_t src_n(const mt_rep_iter *it, uint32_t s) {
  return s < it->nruns ? it->run[s].n : it->tail_n;
}
/* Handle i of source s; 0 (and torn) when the slot was not a handle. */
static inline uint32_t src_h(mt_rep_iter *it, uint32_t s, uint64_t i) {
  if (s == it->nruns) return it->tail[i];
  uint32_t h = slot_get(it->r, it->run[s].start + i);
  if (real(h)) return h;
  it->torn = true;
  return 0;
}

static uint64_t src_lb(mt_rep_iter *it, uint32_t s, mt_slice key, uint64_t seq, bool strict) {
  if (s < it->nruns) return run_lb(it->r, &it->run[s], key, seq, strict, &it->torn);
  uint64_t lo = 0, hi = it->tail_n;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    int c = cmp_target(it->r, ent(it->r, it->tail[mid]), key, seq);
    if (c < 0 || (strict && c == 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Takes a fresh view; false (iterator invalid) on MT_ENOMEM. */
static bool resync(mt_rep_iter *it) {
  struct mt_rep *r = it->r;
  bool merged = false;
  for (;;) {
    if (atomic_load_explicit(&r->frozen, memory_order_acquire)) {
      it->frozen = true;
      it->nruns = atomic_load_explicit(&r->nruns, memory_order_relaxed);
      if (it->nruns) it->run[0] = run_load(r, 0);
      it->tail_n = 0;
      it->synced = true;
      return true;
    }
    uint64_t g = atomic_load_explicit(&r->gen, memory_order_acquire);
    if (g & 1) {
      sched_yield();
      continue;
    }
    uint64_t covered = atomic_load_explicit(&r->covered, memory_order_acquire);
    uint64_t c = atomic_load_explicit(&r->claimed, memory_order_acquire);
    if (c - covered > TAIL_MAX && !merged) {
      merged = true;
      merge(r, false); /* MT_ENOMEM: copy the long tail instead */
      continue;
    }
    if (c - covered > it->tail_cap) {
      size_t cap = (size_t)(c - covered) * 2;
      uint32_t *t = mt_malloc(cap * 2 * sizeof *t);
      if (!t) return false;
      mt_free(it->tail);
      it->tail = t;
      it->tail_cap = cap;
    }
    uint32_t nr = atomic_load_explicit(&r->nruns, memory_order_acquire);
    if (nr > MAX_RUNS) continue;
    bool torn = false;
    for (uint32_t j = 0; j < nr; j++) {
      it->run[j] = run_load(r, j);
      torn |= it->run[j].start + it->run[j].n > c; /* mixed bounds of two merges */
    }
    if (torn) continue;
    size_t n = 0;
    for (uint64_t i = covered; i < c; i++) {
      uint32_t h = slot_get(r, i);
      if (real(h)) it->tail[n++] = h;
    }
    if (atomic_load_explicit(&r->gen, memory_order_relaxed) != g) continue; /* loads above: acquire */
    vs_msort(it->tail, it->tail + it->tail_cap, n, cmp_handles, r);
    it->gen = g;
    it->upto = c;
    it->nruns = nr;
    it->tail_n = n;
    it->frozen = false;
    it->synced = true;
    return true;
  }
}

/* Sets cur to the smallest (min) or largest source entry. */
static void pick(mt_rep_iter *it, bool min) {
  const uint8_t *best = NULL;
  it->cur = -1;
  for (uint32_t s = 0, ns = nsrc(it); s < ns; s++) {
    if (it->pos[s] < 0 || (uint64_t)it->pos[s] >= src_n(it, s)) continue;
    uint32_t h = src_h(it, s, (uint64_t)it->pos[s]);
    if (it->torn) return;
    const uint8_t *e = ent(it->r, h);
    if (best) {
      int c = cmp_target(it->r, e, mt_entry_key(best), mt_entry_seq(best));
      if (min ? c >= 0 : c <= 0) continue;
    }
    best = e;
    it->cur = (int)s;
    it->cur_h = h;
  }
}

enum { OP_FIRST, OP_LAST, OP_SEEK, OP_SEEK_PREV, OP_NEXT, OP_PREV };

static void do_op(mt_rep_iter *it, int op, mt_slice key, uint64_t seq) {
  uint32_t ns = nsrc(it);
  switch (op) {
  case OP_FIRST:
  case OP_LAST:
    for (uint32_t s = 0; s < ns; s++) it->pos[s] = op == OP_FIRST ? 0 : (int64_t)src_n(it, s) - 1;
    it->fwd = op == OP_FIRST;
    break;
  case OP_SEEK:
  case OP_SEEK_PREV:
    for (uint32_t s = 0; s < ns && !it->torn; s++)
      it->pos[s] = (int64_t)src_lb(it, s, key, seq, op == OP_SEEK_PREV) - (op == OP_SEEK_PREV);
    it->fwd = op == OP_SEEK;
    break;
  case OP_NEXT:
  case OP_PREV:
    if (it->fwd != (op == OP_NEXT)) /* turn: the others step over the current entry */
      for (uint32_t s = 0; s < ns; s++)
        if ((int)s != it->cur) it->pos[s] += op == OP_NEXT ? 1 : -1;
    it->pos[it->cur] += op == OP_NEXT ? 1 : -1;
    it->fwd = op == OP_NEXT;
    break;
  }
  if (!it->torn) pick(it, it->fwd);
}

/* Runs op under the seqlock, syncing and re-seeking when the view moved. */
static void it_run(mt_rep_iter *it, int op, mt_slice key, uint64_t seq) {
  struct mt_rep *r = it->r;
  uint32_t saved = it->cur_h; /* next / prev: the entry to step from */
  bool step = op == OP_NEXT || op == OP_PREV;
  /* a positioning op sees everything added before it: a view with a shorter
   * tail than now is stale for it */
  if (!step && it->synced && !it->frozen &&
      atomic_load_explicit(&r->claimed, memory_order_acquire) != it->upto)
    it->synced = false;
  for (;;) {
    it->torn = false;
    if (!it->synced || (!it->frozen && atomic_load_explicit(&r->gen, memory_order_acquire) != it->gen)) {
      if (!resync(it)) {
        it->cur = -1;
        return;
      }
      if (step) {
        const uint8_t *e = ent(r, saved);
        do_op(it, OP_SEEK, mt_entry_key(e), mt_entry_seq(e));
        if (it->cur < 0 && !it->torn) return; /* cannot happen: entries stay */
      }
    }
    if (!it->torn) do_op(it, op, key, seq);
    if (it->frozen) return;
    if (!it->torn && atomic_load_explicit(&r->gen, memory_order_relaxed) == it->gen) return;
    it->synced = false;
  }
}

static int it_new(mt_rep_iter **out, mt_rep *r) {
  mt_rep_iter *it = mt_malloc(sizeof *it);
  if (!it) return MT_ENOMEM;
  memset(it, 0, offsetof(mt_rep_iter, run));
  it->r = r;
  it->cur = -1;
  if (!atomic_load_explicit(&r->frozen, memory_order_acquire)) {
    /* room for the tail as it is now (a merge that could not run leaves it
     * long), so positioning later needs no allocation that could fail */
    uint64_t tail = atomic_load_explicit(&r->claimed, memory_order_acquire) -
                    atomic_load_explicit(&r->covered, memory_order_acquire);
    if (tail > TAIL_MAX) merge(r, false);
    tail = atomic_load_explicit(&r->claimed, memory_order_acquire) -
           atomic_load_explicit(&r->covered, memory_order_acquire);
    it->tail_cap = (size_t)(tail > 2 * TAIL_MAX ? 2 * tail : 4 * TAIL_MAX);
    it->tail = mt_malloc(it->tail_cap * 2 * sizeof *it->tail);
    if (!it->tail) {
      mt_free(it);
      return MT_ENOMEM;
    }
  }
  *out = it;
  return MT_OK;
}

static void it_free(mt_rep_iter *it) {
  if (!it) return;
  mt_free(it->tail);
  mt_free(it);
}

static const mt_slice no_key = {"", 0};

static void it_first(mt_rep_iter *it) { it_run(it, OP_FIRST, no_key, 0); }
static void it_last(mt_rep_iter *it) { it_run(it, OP_LAST, no_key, 0); }
static void it_seek(mt_rep_iter *it, mt_slice key, uint64_t seq) { it_run(it, OP_SEEK, key, seq); }
static void it_seek_for_prev(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  it_run(it, OP_SEEK_PREV, key, seq);
}

#define PREFETCH_AHEAD 16

/* Slot i through a one-chunk cache (frozen: slots no longer change). */
static inline uint32_t cached_slot(const struct mt_rep *r, const _Atomic uint32_t **c, uint64_t *base,
                                   uint64_t i) {
  if (!*c || i - *base >= CHUNK_SLOTS) {
    *base = i & ~(CHUNK_SLOTS - 1);
    *c = chunk_of(r, i)->slot;
  }
  return atomic_load_explicit(&(*c)[i - *base], memory_order_relaxed);
}

static void it_next(mt_rep_iter *it) {
  if (it->frozen && it->nruns == 1 && it->fwd) { /* one sorted run: step */
    const runv *v = &it->run[0];
    uint64_t p = (uint64_t)++it->pos[0];
    if (p >= v->n) {
      it->cur = -1;
      return;
    }
    if (p + PREFETCH_AHEAD < v->n)
      __builtin_prefetch(ent(it->r, cached_slot(it->r, &it->ahead_c, &it->ahead_base, v->start + p + PREFETCH_AHEAD)));
    it->cur_h = cached_slot(it->r, &it->cur_c, &it->cur_base, v->start + p);
    return;
  }
  it_run(it, OP_NEXT, no_key, 0);
}
static void it_prev(mt_rep_iter *it) { it_run(it, OP_PREV, no_key, 0); }
static const uint8_t *it_entry(const mt_rep_iter *it) {
  return it->cur >= 0 ? ent(it->r, it->cur_h) : NULL;
}
