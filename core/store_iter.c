/* store_iter.c -- reads over everything the store holds: mt_store_get
 * (active memtable, then frozen ones newest first, then runs newest first,
 * each run's bloom filter first) and mt_store_iter (a heap merge of raw
 * iterators over all of them, under a user view).
 *
 * Thread safety: any number of readers run beside writers, flushes and
 * merges.  A reader takes refs on the memtables and runs it reads under
 * view_mu (a short critical section copying pointers), so a flush that
 * retires a memtable or a merge that retires runs never frees what a
 * reader holds: an iterator is stable for its whole life.
 *
 * Invariants:
 *  1. The sources of one read are taken in one view_mu section, and the
 *     flush thread publishes a run and retires its memtable in one such
 *     section: a reader sees every entry exactly once or (for a version
 *     in both a frozen memtable and its run, never at once) not twice.
 *  2. Merge heap: forward, every valid child is at its first entry after
 *     the current one and the heap's top is the smallest in internal
 *     order; backward, the same mirrored (LevelDB's MergingIterator with a
 *     heap instead of a scan).  Seqs are unique across sources, so the
 *     order is total.
 *  3. A snapshot is clamped to visible_seq (acquire), so a batch being
 *     applied is never partly visible.
 */
#include "store_int.h"

#include <string.h>

/* ---- taking refs on every source --------------------------------------------- */

typedef struct sources {
  mt_memtable **mem; /* active, then frozen newest first */
  size_t nmem;
  mt_run **runs; /* newest first */
  size_t nruns;
  mt_memtable *mem_stack[8];
  mt_run *run_stack[16];
} sources;

static int take_sources(mt_store *s, sources *src) {
  memset(src, 0, sizeof *src);
  pthread_mutex_lock(&s->view_mu);
  size_t nm = 1 + s->nimm, nr = s->nruns;
  src->mem = nm <= 8 ? src->mem_stack : mt_malloc(nm * sizeof *src->mem);
  src->runs = nr <= 16 ? src->run_stack : mt_malloc(nr * sizeof *src->runs);
  if (!src->mem || !src->runs) {
    pthread_mutex_unlock(&s->view_mu);
    if (src->mem != src->mem_stack) mt_free(src->mem);
    if (src->runs != src->run_stack) mt_free(src->runs);
    return mt_set_error(MT_ENOMEM, "store read: out of memory listing %zu memtables and %zu runs", nm, nr);
  }
  src->mem[src->nmem++] = s->active;
  for (size_t i = s->nimm; i-- > 0;) src->mem[src->nmem++] = s->imm[i].m;
  for (size_t i = s->nruns; i-- > 0;) src->runs[src->nruns++] = s->runs[i];
  for (size_t i = 0; i < src->nmem; i++) mt_memtable_ref(src->mem[i]);
  for (size_t i = 0; i < src->nruns; i++) mt_run_ref(src->runs[i]);
  pthread_mutex_unlock(&s->view_mu);
  return MT_OK;
}

static void drop_sources(sources *src) {
  for (size_t i = 0; i < src->nmem; i++) mt_memtable_unref(src->mem[i]);
  for (size_t i = 0; i < src->nruns; i++) mt_run_unref(src->runs[i]);
  if (src->mem != src->mem_stack) mt_free(src->mem);
  if (src->runs != src->run_stack) mt_free(src->runs);
}

static uint64_t clamp(mt_store *s, uint64_t snapshot) {
  uint64_t vis = atomic_load_explicit(&s->visible_seq, memory_order_acquire);
  return snapshot < vis ? snapshot : vis;
}

static int check_key(const char *fn, mt_slice key) {
  if (!key.data && key.len) return mt_set_error(MT_EINVAL, "%s: key.data is NULL with len %zu", fn, key.len);
  if (key.len > UINT32_MAX)
    return mt_set_error(MT_EINVAL, "%s: key is %zu bytes; the limit is %u", fn, key.len, UINT32_MAX);
  return MT_OK;
}

int mt_store_get(mt_store *s, mt_slice key, uint64_t snapshot, void **value, size_t *vlen) {
  static const char fn[] = "mt_store_get";
  if (!s) return mt_set_error(MT_EINVAL, "%s: store is NULL", fn);
  if (!value) return mt_set_error(MT_EINVAL, "%s: value is NULL", fn);
  *value = NULL;
  if (vlen) *vlen = 0;
  int rc = check_key(fn, key);
  if (rc) return rc;
  snapshot = clamp(s, snapshot);
  sources src;
  rc = take_sources(s, &src);
  if (rc) return rc;
  mt_slice v;
  rc = MT_NOTFOUND;
  for (size_t i = 0; i < src.nmem && rc == MT_NOTFOUND; i++) rc = mt_memtable_get(src.mem[i], key, snapshot, &v, NULL);
  for (size_t i = 0; i < src.nruns && rc == MT_NOTFOUND; i++) rc = mt_run_get(src.runs[i], key, snapshot, &v, NULL);
  if (rc == MT_OK) {
    void *copy = mt_malloc(v.len ? v.len : 1);
    if (!copy) rc = MT_ENOMEM;
    else {
      if (v.len) memcpy(copy, v.data, v.len);
      *value = copy;
      if (vlen) *vlen = v.len;
    }
  } else if (rc == MT_DELETED) {
    rc = MT_NOTFOUND;
  }
  drop_sources(&src);
  return rc;
}

/* ---- merging iterator: a heap over raw sources ---------------------------------- */

typedef struct merge_iter {
  mt_iter base;
  const mt_comparator *cmp;
  int n;         /* children */
  int nheap;     /* valid children in heap[0..nheap) */
  bool forward;
  int *heap;     /* child indices; top = heap[0] */
  mt_iter **child;
} merge_iter;

static void copy_current(mt_iter *dst, const mt_iter *src) {
  dst->valid = src->valid;
  dst->entry = src->entry;
  dst->key = src->key;
  dst->value = src->value;
  dst->seq = src->seq;
  dst->kind = src->kind;
}

static int internal_cmp(const mt_comparator *cmp, const mt_iter *a, const mt_iter *b) {
  int c = mt_key_compare(cmp, mt_iter_key(a), mt_iter_key(b));
  if (c) return c;
  uint64_t sa = mt_iter_seq(a), sb = mt_iter_seq(b);
  return sa > sb ? -1 : sa < sb;
}

/* a goes above b in the heap (smaller forward, larger backward). */
static bool above(merge_iter *m, int a, int b) {
  int d = internal_cmp(m->cmp, m->child[a], m->child[b]);
  return m->forward ? d < 0 : d > 0;
}

static void sift_down(merge_iter *m, int i) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, best = i;
    if (l < m->nheap && above(m, m->heap[l], m->heap[best])) best = l;
    if (r < m->nheap && above(m, m->heap[r], m->heap[best])) best = r;
    if (best == i) return;
    int t = m->heap[i];
    m->heap[i] = m->heap[best];
    m->heap[best] = t;
    i = best;
  }
}

static void show_top(merge_iter *m) {
  m->base.valid = false;
  for (int i = 0; i < m->n; i++) /* a child's failure stops the merge */
    if (mt_iter_status(m->child[i])) {
      m->base.status = mt_iter_status(m->child[i]);
      return;
    }
  if (m->nheap) copy_current(&m->base, m->child[m->heap[0]]);
}

static void rebuild(merge_iter *m, bool forward) {
  m->forward = forward;
  m->nheap = 0;
  for (int i = 0; i < m->n; i++)
    if (mt_iter_valid(m->child[i])) m->heap[m->nheap++] = i;
  for (int i = m->nheap / 2; i-- > 0;) sift_down(m, i);
  show_top(m);
}

/* The top child moved: restore the heap. */
static void fix_top(merge_iter *m) {
  if (!mt_iter_valid(m->child[m->heap[0]])) m->heap[0] = m->heap[--m->nheap];
  if (m->nheap) sift_down(m, 0);
  show_top(m);
}

static void mg_free(mt_iter *base) {
  merge_iter *m = (merge_iter *)base;
  for (int i = 0; i < m->n; i++) mt_iter_free(m->child[i]);
  mt_free(m->child);
  mt_free(m->heap);
  mt_free(m);
}
static void mg_first(mt_iter *base) {
  merge_iter *m = (merge_iter *)base;
  for (int i = 0; i < m->n; i++) mt_iter_seek_to_first(m->child[i]);
  rebuild(m, true);
}
static void mg_last(mt_iter *base) {
  merge_iter *m = (merge_iter *)base;
  for (int i = 0; i < m->n; i++) mt_iter_seek_to_last(m->child[i]);
  rebuild(m, false);
}
static void mg_seek(mt_iter *base, mt_slice key) {
  merge_iter *m = (merge_iter *)base;
  for (int i = 0; i < m->n; i++) mt_iter_seek(m->child[i], key);
  rebuild(m, true);
}
static void mg_seek_for_prev(mt_iter *base, mt_slice key) {
  merge_iter *m = (merge_iter *)base;
  for (int i = 0; i < m->n; i++) mt_iter_seek_for_prev(m->child[i], key);
  rebuild(m, false);
}
static void mg_next(mt_iter *base) {
  merge_iter *m = (merge_iter *)base;
  if (!m->forward) { /* every other child: first entry after (k, seq) */
    mt_slice k = mt_iter_key(base);
    uint64_t seq = mt_iter_seq(base);
    int cur = m->heap[0];
    for (int i = 0; i < m->n; i++) {
      mt_iter *c = m->child[i];
      if (i == cur) continue;
      mt_iter_seek(c, k);
      while (mt_iter_valid(c) && mt_iter_seq(c) >= seq && !mt_key_compare(m->cmp, mt_iter_key(c), k))
        mt_iter_next(c);
    }
    mt_iter_next(m->child[cur]);
    rebuild(m, true);
    return;
  }
  mt_iter_next(m->child[m->heap[0]]);
  fix_top(m);
}
static void mg_prev(mt_iter *base) {
  merge_iter *m = (merge_iter *)base;
  if (m->forward) { /* every other child: last entry before (k, seq) */
    mt_slice k = mt_iter_key(base);
    uint64_t seq = mt_iter_seq(base);
    int cur = m->heap[0];
    for (int i = 0; i < m->n; i++) {
      mt_iter *c = m->child[i];
      if (i == cur) continue;
      mt_iter_seek_for_prev(c, k);
      while (mt_iter_valid(c) && mt_iter_seq(c) <= seq && !mt_key_compare(m->cmp, mt_iter_key(c), k))
        mt_iter_prev(c);
    }
    mt_iter_prev(m->child[cur]);
    rebuild(m, false);
    return;
  }
  mt_iter_prev(m->child[m->heap[0]]);
  fix_top(m);
}

static const mt_iter_vt merge_vt = {mg_free, mg_first, mg_last, mg_seek, mg_seek_for_prev, mg_next, mg_prev};

/* A merge over every source; takes its own refs (the children's). */
static int merge_new(mt_iter **out, const mt_comparator *cmp, const sources *src) {
  *out = NULL;
  merge_iter *m = mt_calloc(1, sizeof *m);
  int total = (int)(src->nmem + src->nruns);
  if (m) {
    m->child = mt_calloc((size_t)total, sizeof *m->child);
    m->heap = mt_calloc((size_t)total, sizeof *m->heap);
  }
  if (!m || !m->child || !m->heap) {
    if (m) mt_free(m->child), mt_free(m->heap);
    mt_free(m);
    return mt_set_error(MT_ENOMEM, "mt_store_iter: out of memory for a merge of %d sources", total);
  }
  m->base.vt = &merge_vt;
  m->cmp = cmp;
  m->forward = true;
  int rc = MT_OK;
  for (size_t i = 0; !rc && i < src->nmem; i++) {
    rc = mt_iter_new(&m->child[m->n], src->mem[i]);
    if (!rc) m->n++;
  }
  for (size_t i = 0; !rc && i < src->nruns; i++) {
    rc = mt_run_iter_new(&m->child[m->n], src->runs[i]);
    if (!rc) m->n++;
  }
  if (rc) {
    mg_free(&m->base);
    return rc;
  }
  *out = &m->base;
  return MT_OK;
}

/* A raw merge over the given runs (the flush thread's merge input). */
int mt_store_merge_runs_iter_(mt_iter **out, const mt_comparator *cmp, mt_run **runs, size_t n) {
  sources src;
  memset(&src, 0, sizeof src);
  src.runs = runs;
  src.nruns = n;
  return merge_new(out, cmp, &src);
}

/* ---- the user view: newest visible version per key, tombstones hidden -------------
 * Forward, src sits on the entry shown; backward, on the last entry before
 * every version of the key shown (LevelDB's DBIter).  Keys and values
 * point into memtable arenas and run mappings, stable while the sources
 * hold their refs. */

typedef struct view_iter {
  mt_iter base;
  mt_iter *src;
  const mt_comparator *cmp;
  uint64_t snapshot;
  bool forward;
} view_iter;

static bool same_key(view_iter *v, mt_slice a, mt_slice b) { return !mt_key_compare(v->cmp, a, b); }

static void settle_forward(view_iter *v) {
  mt_iter *s = v->src;
  v->forward = true;
  while (mt_iter_valid(s)) {
    if (mt_iter_seq(s) > v->snapshot) {
      mt_iter_next(s);
      continue;
    }
    if (mt_iter_kind(s) == MT_PUT) {
      copy_current(&v->base, s);
      return;
    }
    mt_slice k = mt_iter_key(s); /* a tombstone hides every older version */
    while (mt_iter_valid(s) && same_key(v, mt_iter_key(s), k)) mt_iter_next(s);
  }
  v->base.valid = false;
}

static void settle_backward(view_iter *v) {
  mt_iter *s = v->src;
  v->forward = false;
  while (mt_iter_valid(s)) {
    mt_slice k = mt_iter_key(s);
    mt_iter newest = {0};
    for (; mt_iter_valid(s) && same_key(v, mt_iter_key(s), k); mt_iter_prev(s))
      if (mt_iter_seq(s) <= v->snapshot) copy_current(&newest, s); /* seqs grow going back */
    if (newest.valid && mt_iter_kind(&newest) == MT_PUT) {
      copy_current(&v->base, &newest);
      return;
    }
  }
  v->base.valid = false;
}

static void vw_free(mt_iter *base) {
  view_iter *v = (view_iter *)base;
  mt_iter_free(v->src);
  mt_free(v);
}
static void vw_first(mt_iter *base) {
  view_iter *v = (view_iter *)base;
  mt_iter_seek_to_first(v->src);
  settle_forward(v);
}
static void vw_last(mt_iter *base) {
  view_iter *v = (view_iter *)base;
  mt_iter_seek_to_last(v->src);
  settle_backward(v);
}
static void vw_seek(mt_iter *base, mt_slice key) {
  view_iter *v = (view_iter *)base;
  mt_iter_seek(v->src, key);
  settle_forward(v);
}
static void vw_seek_for_prev(mt_iter *base, mt_slice key) {
  view_iter *v = (view_iter *)base;
  mt_iter_seek_for_prev(v->src, key);
  settle_backward(v);
}
static void vw_next(mt_iter *base) {
  view_iter *v = (view_iter *)base;
  mt_slice k = mt_iter_key(base);
  if (!v->forward) mt_iter_seek(v->src, k);
  while (mt_iter_valid(v->src) && same_key(v, mt_iter_key(v->src), k)) mt_iter_next(v->src);
  settle_forward(v);
}
static void vw_prev(mt_iter *base) {
  view_iter *v = (view_iter *)base;
  mt_slice k = mt_iter_key(base);
  if (v->forward)
    while (mt_iter_valid(v->src) && same_key(v, mt_iter_key(v->src), k)) mt_iter_prev(v->src);
  settle_backward(v);
}

static const mt_iter_vt view_vt = {vw_free, vw_first, vw_last, vw_seek, vw_seek_for_prev, vw_next, vw_prev};

int mt_store_iter(mt_iter **out, mt_store *s, uint64_t snapshot) {
  if (!out) return mt_set_error(MT_EINVAL, "mt_store_iter: out is NULL");
  *out = NULL;
  if (!s) return mt_set_error(MT_EINVAL, "mt_store_iter: store is NULL");
  view_iter *v = mt_calloc(1, sizeof *v);
  if (!v) return MT_ENOMEM;
  v->base.vt = &view_vt;
  v->cmp = mt_store_cmp_(s);
  v->snapshot = clamp(s, snapshot);
  sources src;
  int rc = take_sources(s, &src);
  if (rc) {
    mt_free(v);
    return rc;
  }
  if (src.nmem == 1 && !src.nruns) rc = mt_iter_new(&v->src, src.mem[0]);
  else rc = merge_new(&v->src, v->cmp, &src);
  drop_sources(&src);
  if (rc) {
    mt_free(v);
    return rc;
  }
  *out = &v->base;
  return MT_OK;
}
