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

#define RADIX_MIN 512 /* smaller batches sort faster under the comparator */

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

/* Sorts h[0..n) in place: radix over key windows when big and bytewise, a
 * merge sort under the comparator otherwise.  MT_ENOMEM: h unchanged. */
static int sort_handles(struct mt_rep *r, uint32_t *h, size_t n) {
  if (n < 2) return MT_OK;
  if (r->bytewise && n >= RADIX_MIN) {
    sorted s = {.h = h, .n = n};
    int rc = sort_batch(r, &s);
    sorted_free(r, &s);
    return rc;
  }
  uint32_t *t = heap_alloc(r, n * sizeof *t, false);
  if (!t) return MT_ENOMEM;
  vs_msort(h, t, n, cmp_handles, r);
  heap_free(r, t, n * sizeof *t);
  return MT_OK;
}

/* Merges the k sorted segments [b[x], b[x + 1]) of in into out. */
static void merge_segments(const struct mt_rep *r, const uint32_t *in, const size_t *b, uint32_t k,
                           uint32_t *out) {
  size_t pos[MAX_RUNS + 1];
  const uint8_t *head[MAX_RUNS + 1];
  for (uint32_t x = 0; x < k; x++) {
    pos[x] = b[x];
    head[x] = pos[x] < b[x + 1] ? ent(r, in[pos[x]]) : NULL;
  }
  for (size_t o = 0, n = b[k] - b[0]; o < n; o++) {
    uint32_t best = k;
    for (uint32_t x = 0; x < k; x++)
      if (head[x] && (best == k || cmp_target(r, head[x], mt_entry_key(head[best]), mt_entry_seq(head[best])) < 0))
        best = x;
    out[o] = in[pos[best]++];
    if (pos[best] < b[best + 1]) {
      if (pos[best] + 4 < b[best + 1]) __builtin_prefetch(ent(r, in[pos[best] + 4]));
      head[best] = ent(r, in[pos[best]]);
    } else {
      head[best] = NULL;
    }
  }
}

/* The run's window offset: the common key prefix of its first and last
 * entries (so of all of them), at most 8 bytes. */
static uint32_t run_prefix(const struct mt_rep *r, uint32_t first, uint32_t last) {
  mt_slice a = mt_entry_key(ent(r, first)), b = mt_entry_key(ent(r, last));
  size_t n = a.len < b.len ? a.len : b.len, L = 0;
  if (n > 8) n = 8;
  while (L < n && ((const uint8_t *)a.data)[L] == ((const uint8_t *)b.data)[L]) L++;
  return (uint32_t)L;
}

/* Folds the completed head of the tail into the runs; with full, everything
 * into one run.  The tail is sorted, then merged with the runs it joins;
 * the result is written back over their slots inside the seqlock.
 * MT_ENOMEM (scratch) changes nothing.
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

  /* gather: the runs, then the tail, as sorted segments of h */
  size_t hb = (size_t)(acc ? acc : 1) * sizeof(uint32_t), nf = (size_t)(acc / FENCE_EVERY + 1);
  uint32_t *h = heap_alloc(r, hb, false), *out = NULL;
  uint64_t *f = r->bytewise ? heap_alloc(r, nf * sizeof *f, false) : NULL;
  size_t b[MAX_RUNS + 2], k = 0;
  uint32_t nseg = 0;
  int rc = !h || (r->bytewise && !f) ? MT_ENOMEM : MT_OK;
  for (uint32_t x = j; rc == MT_OK && x < nr; x++) {
    runv v = run_load(r, x);
    b[nseg++] = k;
    for (uint64_t i = 0; i < v.n; i++) h[k++] = slot_get(r, v.start + i);
  }
  if (rc == MT_OK && t) {
    b[nseg++] = k;
    for (uint64_t i = covered; i < end; i++) {
      uint32_t x = slot_get(r, i);
      if (x != H_HOLE) h[k++] = x;
    }
    rc = sort_handles(r, h + b[nseg - 1], (size_t)t);
  }
  b[nseg] = k;
  out = h;
  if (rc == MT_OK && nseg > 1) {
    out = heap_alloc(r, hb, false);
    if (out) merge_segments(r, h, b, nseg, out);
    else rc = MT_ENOMEM;
  }
  uint32_t L = 0;
  if (rc == MT_OK && acc && r->bytewise) { /* fences, computed before the write-back */
    L = run_prefix(r, out[0], out[acc - 1]);
    for (uint64_t i = (FENCE_EVERY - (start & (FENCE_EVERY - 1))) & (FENCE_EVERY - 1), q = 0; i < acc;
         i += FENCE_EVERY, q++) {
      mt_slice key = mt_entry_key(ent(r, out[i]));
      f[q] = window(key.data, key.len, L);
    }
  }
  if (rc == MT_OK) {
    /* write back inside the seqlock: every store below is release and every
     * reader load of these is acquire, so a reader that reads any of them
     * also sees gen odd (or newer) after */
    uint64_t g = atomic_load_explicit(&r->gen, memory_order_relaxed);
    atomic_store_explicit(&r->gen, g + 1, memory_order_relaxed);
    for (uint64_t i = 0, q = 0; i < acc; i++) {
      slot_set(r, start + i, out[i]);
      if (r->bytewise && ((start + i) & (FENCE_EVERY - 1)) == 0) fence_set(r, start + i, f[q++]);
    }
    for (uint64_t i = start + acc; i < end; i++) slot_set(r, i, H_HOLE);
    if (acc) {
      atomic_store_explicit(&r->run_start[j], start, memory_order_release);
      atomic_store_explicit(&r->run_n[j], acc, memory_order_release);
      atomic_store_explicit(&r->run_meta[j], (uint64_t)L << 32 | out[0], memory_order_release);
      j++;
    }
    atomic_store_explicit(&r->nruns, j, memory_order_release);
    atomic_store_explicit(&r->covered, end, memory_order_release);
    atomic_store_explicit(&r->gen, g + 2, memory_order_release);
    atomic_store_explicit(&r->reads, 0, memory_order_relaxed);
  }
  if (out != h) heap_free(r, out, hb);
  heap_free(r, h, hb);
  heap_free(r, f, nf * sizeof *f);
  return rc;
}

static int merge(struct mt_rep *r, bool full) {
  pthread_mutex_lock(&r->merge_mu);
  int rc = merge_locked(r, full);
  pthread_mutex_unlock(&r->merge_mu);
  return rc;
}

