/* vector_merge.h -- sorting a batch of handles and folding the tail into
 * the sorted runs in place (vector.c, "Layout").  vector.c includes it once;
 * everything is static.  Merges run under merge_mu; the write-back is the
 * seqlock writer side. */

/* ---- sorting a batch of handles --------------------------------------------------------- */

typedef struct sorted {
  uint32_t *h;  /* the handles, sorted */
  vs_pair *p;   /* bytewise: pairs in sorted order, p[i].w the window at L */
  vs_pair *tmp; /* scratch (custom comparators: handles) */
  size_t n, p_bytes, tmp_bytes;
  uint32_t L;
} sorted;

static void sorted_free(struct mt_rep *r, sorted *s) {
  heap_free(r, s->p, s->p_bytes);
  heap_free(r, s->tmp, s->tmp_bytes);
  s->p = s->tmp = NULL;
}

/* Sorts s->h[0..n).  Bytewise: each key's window at the set's common prefix
 * length L (capped at 8) is read once, the pairs are radix sorted, and runs
 * of equal windows are ordered by the full comparison.  MT_ENOMEM leaves
 * s->h as it was. */
static int sort_batch(struct mt_rep *r, sorted *s) {
  size_t n = s->n;
  s->L = 0;
  s->p_bytes = r->bytewise ? (n ? n : 1) * sizeof *s->p : 0;
  s->tmp_bytes = (n ? n : 1) * (r->bytewise ? sizeof *s->tmp : sizeof *s->h);
  s->p = s->p_bytes ? heap_alloc(r, s->p_bytes, false) : NULL;
  s->tmp = heap_alloc(r, s->tmp_bytes, false);
  if ((s->p_bytes && !s->p) || !s->tmp) {
    sorted_free(r, s);
    return MT_ENOMEM;
  }
  uint32_t *scratch = (uint32_t *)s->tmp; /* 16 bytes a pair: room for 4 handles each */
  if (!r->bytewise) {
    vs_msort(s->h, scratch, n, cmp_handles, r);
    return MT_OK;
  }
  if (n == 0) return MT_OK;
  /* the first 16 key bytes of each entry: hi in p[i].w, lo in tmp[i].w */
  mt_slice k0 = mt_entry_key(ent(r, s->h[0]));
  uint64_t hi0 = window(k0.data, k0.len, 0);
  size_t L = k0.len < 8 ? k0.len : 8;
  for (size_t i = 0; i < n; i++) {
    if (i + 8 < n) __builtin_prefetch(ent(r, s->h[i + 8]));
    mt_slice k = mt_entry_key(ent(r, s->h[i]));
    uint64_t hi = window(k.data, k.len, 0);
    s->p[i].w = hi;
    s->p[i].h = s->h[i];
    s->tmp[i].w = window(k.data, k.len, 8);
    if (L) {
      uint64_t x = hi ^ hi0;
      size_t l = x ? (size_t)__builtin_clzll(x) / 8 : 8;
      if (l > k.len) l = k.len;
      if (l < L) L = l;
    }
  }
  if (L) {
    for (size_t i = 0; i < n; i++)
      s->p[i].w = L == 8 ? s->tmp[i].w : s->p[i].w << (8 * L) | s->tmp[i].w >> (64 - 8 * L);
  }
  s->L = (uint32_t)L;
  vs_radix(s->p, s->tmp, n);
  for (size_t i = 0; i < n;) { /* runs of equal windows: the full comparison decides */
    size_t j = i + 1;
    while (j < n && s->p[j].w == s->p[i].w) j++;
    if (j - i > 1) {
      for (size_t x = i; x < j; x++) s->h[x - i] = s->p[x].h;
      vs_msort(s->h, scratch, j - i, cmp_handles, r);
      for (size_t x = i; x < j; x++) s->p[x].h = s->h[x - i];
    }
    i = j;
  }
  for (size_t i = 0; i < n; i++) s->h[i] = s->p[i].h;
  return MT_OK;
}

/* ---- merging (under merge_mu) -------------------------------------------------------------- */

static runv run_load(const struct mt_rep *r, uint32_t j) {
  struct mt_rep *m = (struct mt_rep *)r;
  /* acquire: meta names an entry, whose bytes the merger's release store
   * of meta makes visible */
  uint64_t meta = atomic_load_explicit(&m->run_meta[j], memory_order_acquire);
  runv v = {atomic_load_explicit(&m->run_start[j], memory_order_acquire),
            atomic_load_explicit(&m->run_n[j], memory_order_acquire), (uint32_t)(meta >> 32),
            (uint32_t)meta};
  return v;
}

/* Folds the completed head of the tail into the runs; with full, everything
 * into one run.  MT_ENOMEM (scratch) changes nothing.
 * REQUIRES: merge_mu held. */
static int merge_locked(struct mt_rep *r, bool full) {
  if (atomic_load_explicit(&r->frozen, memory_order_relaxed)) return MT_OK;
  uint64_t covered = atomic_load_explicit(&r->covered, memory_order_relaxed);
  uint64_t c = atomic_load_explicit(&r->claimed, memory_order_acquire), end = covered, t = 0;
  for (; end < c; end++) {
    uint32_t h = slot_get(r, end);
    if (h == H_EMPTY || h == H_PENDING) break;
    t += h != H_HOLE;
  }
  uint32_t nr = atomic_load_explicit(&r->nruns, memory_order_relaxed), j = nr;
  uint64_t acc = t;
  bool fold = full && !(t == 0 && nr <= 1); /* one sorted run already is the full merge */
  while (j > 0 && (fold || atomic_load_explicit(&r->run_n[j - 1], memory_order_relaxed) <= RATIO * acc))
    acc += atomic_load_explicit(&r->run_n[--j], memory_order_relaxed);
  if (j == nr && t == 0 && end == covered) return MT_OK;
  if (j == nr && nr == MAX_RUNS && t) /* no room for one more run: fold the last one in */
    acc += atomic_load_explicit(&r->run_n[--j], memory_order_relaxed);
  uint64_t start = j < nr ? atomic_load_explicit(&r->run_start[j], memory_order_relaxed) : covered;

  sorted s = {0};
  s.n = (size_t)acc;
  if (acc) {
    s.h = heap_alloc(r, (size_t)acc * sizeof *s.h, false);
    if (!s.h) return MT_ENOMEM;
    size_t k = 0;
    for (uint32_t x = j; x < nr; x++) {
      runv v = run_load(r, x);
      for (uint64_t i = 0; i < v.n; i++) s.h[k++] = slot_get(r, v.start + i);
    }
    for (uint64_t i = covered; i < end; i++) {
      uint32_t h = slot_get(r, i);
      if (h != H_HOLE) s.h[k++] = h;
    }
    int rc = sort_batch(r, &s);
    if (rc) {
      heap_free(r, s.h, (size_t)acc * sizeof *s.h);
      return rc;
    }
  }

  /* write back inside the seqlock */
  uint64_t g = atomic_load_explicit(&r->gen, memory_order_relaxed);
  /* every store below is release and every reader load of these is acquire:
   * a reader that reads any of them also sees gen odd (or newer) after */
  atomic_store_explicit(&r->gen, g + 1, memory_order_relaxed);
  for (uint64_t i = 0; i < acc; i++) {
    slot_set(r, start + i, s.h[i]);
    if (r->bytewise && ((start + i) & (FENCE_EVERY - 1)) == 0) fence_set(r, start + i, s.p[i].w);
  }
  for (uint64_t i = start + acc; i < end; i++) slot_set(r, i, H_HOLE);
  if (acc) {
    atomic_store_explicit(&r->run_start[j], start, memory_order_release);
    atomic_store_explicit(&r->run_n[j], acc, memory_order_release);
    atomic_store_explicit(&r->run_meta[j], (uint64_t)s.L << 32 | s.h[0], memory_order_release);
    j++;
  }
  atomic_store_explicit(&r->nruns, j, memory_order_release);
  atomic_store_explicit(&r->covered, end, memory_order_release);
  atomic_store_explicit(&r->gen, g + 2, memory_order_release);
  atomic_store_explicit(&r->reads, 0, memory_order_relaxed);

  if (acc) {
    sorted_free(r, &s);
    heap_free(r, s.h, (size_t)acc * sizeof *s.h);
  }
  return MT_OK;
}

static int merge(struct mt_rep *r, bool full) {
  pthread_mutex_lock(&r->merge_mu);
  int rc = merge_locked(r, full);
  pthread_mutex_unlock(&r->merge_mu);
  return rc;
}

