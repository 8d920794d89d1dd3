/* btree.c -- a B+tree of entry handles: an 8-byte key chunk beside every
 * handle, optimistic readers, and concurrent writers (optimistic lock
 * coupling, Leis et al., "The ART of Practical Synchronization", 2016).
 *
 * Layout.  A node is one arena allocation, cache-line aligned:
 *
 *   [header: 64 bytes][chunk[F]: u64][hand[F]: entry][kid[F]: node, inner only]
 *
 * F is the `fanout` parameter.  A leaf holds up to F entries in internal-key
 * order; an inner node up to F children and count-1 separators (chunk and
 * hand slots 0..count-2).  Separator i is the first entry of child i+1's
 * subtree: keys of child i are < sep[i] <= keys of child i+1.  Every node
 * knows its range [lo, hi) (the separators that bound it; NULL is
 * unbounded) and `pfx`, a byte count every user key in the range shares
 * (for the bytewise order, the common prefix of lo and hi bounds it).
 * chunk[i] is bytes [pfx, pfx + 8) of slot i's user key, big-endian, zero
 * padded.  Between keys of one node, differing chunks order the keys; only
 * equal chunks need the entry itself.  So a binary search inside a node
 * reads the dense chunk array and dereferences an entry only on a tie:
 * once a node's range lies inside one key prefix, that is the match itself.
 * With a custom comparator chunks are all 0 and every probe compares
 * entries.  pfx is raised at a split only when the new range shares
 * PFX_STEP more bytes (re-deriving chunks reads every entry of the node).
 * A descent asks for every line of the next node it will search at once
 * (header, chunks, and handles or children), so their misses overlap.
 *
 * Splits (no deletes in a memtable, so never a merge or a borrow).  A full
 * leaf splits before the insert that found it full, then the insert starts
 * again; m = F/2, or F-1 when the insert goes past the end of the last
 * leaf (sequential fills leave full leaves behind):
 *
 *   leaf, F = 4:   parent  [ .. s  t .. ]           [ .. s  c  t .. ]
 *                                |          -->            |  |
 *                  P <-> [a b c d] <-> N      P <-> [a b] <-> [c d] <-> N
 *
 *   The right half is a new leaf; c (its first entry) becomes the
 *   separator; the left half stays in place, so the first leaf never moves.
 *
 *   inner, F = 4:            [ .. x .. ]                 [ .. x  m  .. ]
 *                                 |           -->            |   |
 *                         [p  m  q]                        [p]   [q]
 *                        /  |  |  \                       /  \   /  \
 *                       A   B  C   D                     A   B  C    D
 *
 *   m (separator F/2-1) moves up; children F/2.. go to a new right node.
 *
 *   root:  a full root splits as above under a new root [m] with the two
 *   halves as children; the tree grows by one level at the top only.
 *
 * A full node splits only when an insert must pass a key up into it: the
 * writer splits the highest node of the full chain that ends at its leaf,
 * whose parent has room, then starts again (so an insert that turns out to
 * be MT_EEXIST never splits anything).
 *
 * Invariants (check verifies each; depth and fill follow from the splits):
 *  1. Entries strictly increase: along a leaf, along the leaf chain, and
 *     the separators of an inner node; no two entries compare equal.
 *  2. Every key of a node lies in [lo, hi); child i of an inner node has
 *     lo = sep[i-1] (the node's lo for i = 0) and hi = sep[i] (hi for the
 *     last); a leaf with lo != NULL holds lo as its first entry.
 *  3. Every leaf is at level 0 and every child one level below its parent:
 *     all leaves have the same depth.
 *  4. count <= F.  A non-root inner node has >= F/2 children, the root >= 2;
 *     a non-root leaf >= 1 entry and >= F/2 unless it is the last leaf.
 *  5. The leaves form one chain, both ways, in key order: next/prev agree;
 *     `first` (the initial root leaf) is its head.
 *  6. pfx <= the common prefix length of lo and hi (0 when unbounded or
 *     with a custom comparator); chunk[i] is derived from slot i at pfx.
 *  7. Nodes and entries are never freed or moved while the memtable lives.
 *
 * Thread safety.  Every node has a version: odd while a writer holds it,
 * bumped by 2 by each change.  All node fields are atomics.
 *  - Readers (get, iterators) never write.  They read a node's version
 *    (waiting while it is odd: at most one insert's change of one node),
 *    read what they need, then check the version: changed means start
 *    again.  Descending, a reader checks the parent again after reading the
 *    child's version (lock coupling): a child that split in between is
 *    caught by its parent's version.  Invariant 7 makes every pointer read
 *    from a torn node safe to follow; NULL slots and counts beyond F are
 *    guarded.  Readers hold nothing between calls.  A reader starts again
 *    only because an insert changed a node it was reading; it can starve
 *    only if inserts into that one node never pause.
 *  - Writers (insert, insert_concurrent: the same code, many at once)
 *    descend like readers, then take the leaf (and, to split, the parent)
 *    by CAS from the version they read: a failed CAS means the node
 *    changed, so they let go of what they hold and start again.  A writer
 *    never waits while holding a node, so writers cannot deadlock.  A
 *    writer that changed nothing (a split that lost the race for the
 *    parent, or ran out of memory) puts the old version back.  The root
 *    pointer changes only under the old root's lock.
 *  - A leaf's prev is written by the split of its predecessor, under that
 *    predecessor's lock; a reader following prev checks that the leaf it
 *    reaches still has next == where it came from.
 *  - Iterators remember (leaf, slot, version, entry).  If the leaf's
 *    version is unchanged they step inside it or along the chain; if not
 *    they seek again from their entry (first entry > it, last entry < it).
 *
 * Memory orders.  Readers load node fields with acquire; writers store
 * them with release (both plain moves on x86).  A writer locks with an
 * acquire CAS and unlocks with a release store.  So: a reader that sees
 * any store of a change synchronises with it, and its later load of the
 * version sees at least the locked value, which fails its check (the
 * seqlock argument without fences; Boehm 2012).  A node or entry is
 * written before the release store of the first pointer to it, and every
 * pointer is loaded with acquire, so what a pointer leads to is complete.
 */
#include <memtable/rep.h>

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#define HDR 64        /* header bytes: the arrays start on the second cache line */
#define MAX_DEPTH 48  /* levels: with >= 2 children per inner node, enough for 2^47 leaves */
#define PFX_STEP 4    /* raise a node's pfx at a split only by this many bytes or more */
#define SCAN_RUN 16   /* nexts in a row that make an iterator a scan */
#define SCAN_AHEAD 16 /* a scan prefetches the entry this many slots ahead */

#define LD(p) atomic_load_explicit((p), memory_order_acquire)
#define ST(p, v) atomic_store_explicit((p), (v), memory_order_release)

typedef struct node node;
typedef _Atomic(const uint8_t *) hand_t;
typedef _Atomic(node *) kid_t;

struct node {
  _Atomic uint64_t version;    /* odd: held by a writer */
  _Atomic uint32_t count;      /* entries (leaf) or children (inner) */
  _Atomic uint32_t pfx;        /* chunks start at this key byte (invariant 6) */
  uint32_t level;              /* 0: leaf; fixed before the node is published */
  _Atomic(const uint8_t *) lo; /* range [lo, hi); NULL: unbounded */
  _Atomic(const uint8_t *) hi;
  _Atomic(node *) next, prev;  /* leaves: the chain */
};
_Static_assert(sizeof(node) <= HDR, "the node header fits one cache line");

static const mt_rep_param bt_params[] = {
    {"fanout", MT_PARAM_INT, 64, 4, 512, "entries per leaf and children per inner node"},
};

struct mt_rep {
  const mt_comparator *cmp;
  mt_arena *arena;
  uint32_t fanout;
  bool bytewise; /* chunks are in use (no custom comparator) */
  node *first;   /* the leftmost leaf; it never changes (splits keep the left half) */
  _Atomic(node *) root;
};
typedef struct mt_rep tree;

static inline _Atomic uint64_t *chunks(node *x) { return (_Atomic uint64_t *)((uint8_t *)x + HDR); }
static inline hand_t *hands(const tree *t, node *x) {
  return (hand_t *)((uint8_t *)x + HDR + 8 * (size_t)t->fanout);
}
static inline kid_t *kids(const tree *t, node *x) {
  return (kid_t *)((uint8_t *)x + HDR + 16 * (size_t)t->fanout);
}
static inline size_t node_bytes(const tree *t, uint32_t level) {
  return HDR + (level ? 24 : 16) * (size_t)t->fanout;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* ---- versions ---------------------------------------------------------------- */

static inline uint64_t read_lock(node *x) { /* waits while a writer holds x */
  uint64_t v;
  while ((v = LD(&x->version)) & 1) cpu_relax();
  return v;
}
static inline bool still(node *x, uint64_t v) { return LD(&x->version) == v; }
static inline bool upgrade(node *x, uint64_t v) {
  return atomic_compare_exchange_strong_explicit(&x->version, &v, v + 1, memory_order_acquire,
                                                 memory_order_relaxed);
}
static inline void unlock(node *x) { /* after a change: odd v+1 -> v+2 */
  ST(&x->version, atomic_load_explicit(&x->version, memory_order_relaxed) + 1);
}
static inline void unlock_same(node *x, uint64_t v) { ST(&x->version, v); } /* no change made */

/* ---- keys and chunks ------------------------------------------------------------ */

/* bytes [pfx, pfx + 8) of a key, big-endian, zero padded */
static inline uint64_t chunk_of(const uint8_t *k, size_t len, uint32_t pfx) {
  if (len >= (size_t)pfx + 8) return mt_load_be64(k + pfx);
  uint8_t b[8] = {0};
  if (len > pfx) memcpy(b, k + pfx, len - pfx);
  return mt_load_be64(b);
}
static inline uint64_t entry_chunk(const tree *t, const uint8_t *e, uint32_t pfx) {
  if (!t->bytewise) return 0;
  mt_slice k = mt_entry_key(e);
  return chunk_of(k.data, k.len, pfx);
}

/* entry against the target (key, seq) in internal-key order */
static inline int cmp_entry(const tree *t, const uint8_t *e, mt_slice key, uint64_t seq) {
  return mt_entry_compare_key(t->cmp, e, key, seq);
}

/* common prefix length of two entries' user keys; 0 if either is NULL */
static uint32_t lcp(const uint8_t *a, const uint8_t *b) {
  if (!a || !b) return 0;
  mt_slice x = mt_entry_key(a), y = mt_entry_key(b);
  const uint8_t *p = x.data, *q = y.data;
  size_t n = x.len < y.len ? x.len : y.len, i = 0;
  while (i < n && p[i] == q[i]) i++;
  return i > UINT32_MAX - 8 ? UINT32_MAX - 8 : (uint32_t)i;
}

/* the pfx of a node whose range became [lo, hi), which had pfx `cur` */
static uint32_t choose_pfx(const tree *t, uint32_t cur, const uint8_t *lo, const uint8_t *hi) {
  if (!t->bytewise) return 0;
  uint32_t l = lcp(lo, hi);
  return l >= cur + PFX_STEP ? l : cur;
}

/* Number of the first n slots of x that are < target (<= when incl).
 * Unvalidated: the caller checks x's version before trusting it. */
static uint32_t rank(const tree *t, node *x, uint32_t n, mt_slice key, uint64_t seq, bool incl) {
  _Atomic uint64_t *ck = chunks(x);
  hand_t *hs = hands(t, x);
  uint64_t c = t->bytewise ? chunk_of(key.data, key.len, LD(&x->pfx)) : 0;
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    uint64_t cm = LD(&ck[mid]);
    int r;
    if (cm != c) {
      r = cm < c ? -1 : 1;
    } else {
      const uint8_t *e = LD(&hs[mid]);
      if (!e) return lo; /* torn view: the version check fails */
      r = cmp_entry(t, e, key, seq);
    }
    if (r < 0 || (incl && r == 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static inline uint32_t clamp(uint32_t n, uint32_t lo, uint32_t hi) {
  return n < lo ? lo : n > hi ? hi : n;
}

/* Asks for the lines a search of x reads, all at once so that their misses
 * overlap: the header and chunks, then a leaf's handles or an inner node's
 * children. */
static inline void prefetch_line(const void *p) {
#if defined(__x86_64__) && defined(__GNUC__)
  /* volatile: GCC deletes loops of __builtin_prefetch as loops without effect */
  __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#else
  __builtin_prefetch(p);
#endif
}
static inline void prefetch_node(const tree *t, node *x, uint32_t level) {
  const char *p = (const char *)x, *q = (const char *)(level ? (void *)kids(t, x) : (void *)hands(t, x));
  size_t chunk_end = HDR + 8 * (size_t)t->fanout, arr = 8 * (size_t)t->fanout;
  for (size_t off = 0; off < chunk_end; off += 64) prefetch_line(p + off);
  for (size_t off = 0; off < arr; off += 64) prefetch_line(q + off);
}

/* ---- descent -------------------------------------------------------------------- */

typedef struct step {
  node *x;
  uint64_t v;   /* x's version when read */
  uint32_t idx; /* inner: the child taken */
  uint32_t n;   /* count read under v */
} step;

/* Descends to the leaf whose range holds (key, seq); a separator equal to
 * the target sends it right when eq_right.  Returns the depth; path[depth]
 * is the leaf with its version read (not yet checked against its content). */
static int descend(const tree *t, mt_slice key, uint64_t seq, bool eq_right, step *path) {
restart:;
  node *x = LD(&t->root);
  uint64_t v = read_lock(x);
  if (x != LD(&t->root)) goto restart;
  int d = 0;
  while (x->level > 0) {
    uint32_t n = clamp(LD(&x->count), 1, t->fanout);
    uint32_t i = rank(t, x, n - 1, key, seq, eq_right);
    node *c = LD(&kids(t, x)[i]);
    if (!c || !still(x, v)) goto restart;
    prefetch_node(t, c, x->level - 1);
    uint64_t vc = read_lock(c);
    if (!still(x, v) || d + 1 >= MAX_DEPTH) goto restart; /* c may have split meanwhile */
    path[d] = (step){x, v, i, n};
    d++;
    x = c;
    v = vc;
  }
  path[d] = (step){x, v, 0, 0};
  return d;
}

/* ---- reading: cursors ---------------------------------------------------------- */

typedef struct cursor {
  node *leaf;
  uint64_t v;       /* leaf's version when e was read there */
  uint32_t idx;
  const uint8_t *e; /* NULL: invalid */
} cursor;

static inline void set_cursor(cursor *c, node *leaf, uint64_t v, uint32_t idx, const uint8_t *e) {
  c->leaf = leaf, c->v = v, c->idx = idx, c->e = e;
}

/* The first entry of leaf x, or of the first non-empty leaf after it. */
static void first_from(const tree *t, node *x, cursor *c) {
  while (x) {
    uint64_t v = read_lock(x);
    uint32_t n = clamp(LD(&x->count), 0, t->fanout);
    const uint8_t *e = n ? LD(&hands(t, x)[0]) : NULL;
    node *nx = LD(&x->next);
    if (!still(x, v) || (n && !e)) continue;
    if (n) {
      set_cursor(c, x, v, 0, e);
      return;
    }
    x = nx;
  }
  set_cursor(c, NULL, 0, 0, NULL);
}

/* The last entry of leaf p if p is still right before leaf `after`. */
static bool last_before(const tree *t, node *p, node *after, cursor *c) {
  for (;;) {
    uint64_t v = read_lock(p);
    uint32_t n = clamp(LD(&p->count), 0, t->fanout);
    const uint8_t *e = n ? LD(&hands(t, p)[n - 1]) : NULL;
    node *nx = LD(&p->next);
    if (!still(p, v) || (n && !e)) continue;
    if (nx != after || !n) return false;
    set_cursor(c, p, v, n - 1, e);
    return true;
  }
}

/* The first entry >= (key, seq), or > it when incl. */
static void find_fwd(const tree *t, mt_slice key, uint64_t seq, bool incl, cursor *c) {
  step path[MAX_DEPTH];
  for (;;) {
    int d = descend(t, key, seq, true, path);
    node *l = path[d].x;
    uint64_t v = path[d].v;
    uint32_t n = clamp(LD(&l->count), 0, t->fanout);
    uint32_t i = rank(t, l, n, key, seq, incl);
    if (i < n) {
      const uint8_t *e = LD(&hands(t, l)[i]);
      if (!e || !still(l, v)) continue;
      set_cursor(c, l, v, i, e);
      return;
    }
    node *nx = LD(&l->next);
    if (!still(l, v)) continue;
    first_from(t, nx, c); /* every entry of nx is above l's range, hence above the target */
    return;
  }
}

/* The last entry < (key, seq), or <= it when incl. */
static void find_bwd(const tree *t, mt_slice key, uint64_t seq, bool incl, cursor *c) {
  step path[MAX_DEPTH];
  for (;;) {
    int d = descend(t, key, seq, incl, path);
    node *l = path[d].x;
    uint64_t v = path[d].v;
    uint32_t n = clamp(LD(&l->count), 0, t->fanout);
    uint32_t i = rank(t, l, n, key, seq, incl);
    if (i > 0) {
      const uint8_t *e = LD(&hands(t, l)[i - 1]);
      if (!e || !still(l, v)) continue;
      set_cursor(c, l, v, i - 1, e);
      return;
    }
    /* only the first leaf gets here when the view is consistent (invariant 2:
     * a leaf's lo is its first entry, and routing kept lo before the target) */
    node *p = LD(&l->prev);
    if (!still(l, v)) continue;
    if (!p) {
      set_cursor(c, NULL, 0, 0, NULL);
      return;
    }
    if (last_before(t, p, l, c)) return;
  }
}

static void find_last(const tree *t, cursor *c) {
restart:;
  node *x = LD(&t->root);
  uint64_t v = read_lock(x);
  if (x != LD(&t->root)) goto restart;
  while (x->level > 0) {
    uint32_t n = clamp(LD(&x->count), 1, t->fanout);
    node *k = LD(&kids(t, x)[n - 1]);
    if (!k || !still(x, v)) goto restart;
    uint64_t vk = read_lock(k);
    if (!still(x, v)) goto restart;
    x = k;
    v = vk;
  }
  uint32_t n = clamp(LD(&x->count), 0, t->fanout);
  const uint8_t *e = n ? LD(&hands(t, x)[n - 1]) : NULL;
  if ((n && !e) || !still(x, v)) goto restart;
  /* only an empty tree has an empty last leaf: every other leaf holds >= 1 */
  set_cursor(c, n ? x : NULL, v, n ? n - 1 : 0, e);
}

/* ---- writing ------------------------------------------------------------------------- */

static node *alloc_node(tree *t, uint32_t level) {
  size_t bytes = node_bytes(t, level);
  node *x = mt_arena_alloc(t->arena, bytes, 64);
  if (!x) return NULL;
  memset(x, 0, bytes); /* unused slots read as NULL by torn views */
  atomic_init(&x->version, 0);
  atomic_init(&x->count, 0);
  atomic_init(&x->pfx, 0);
  x->level = level;
  atomic_init(&x->lo, NULL);
  atomic_init(&x->hi, NULL);
  atomic_init(&x->next, NULL);
  atomic_init(&x->prev, NULL);
  return x;
}

/* Moves n key slots (chunk and handle) of src from s to dst's slot d,
 * re-deriving chunks when the pfx differs. */
static void move_keys(const tree *t, node *dst, uint32_t d, node *src, uint32_t s, uint32_t n,
                      uint32_t src_pfx, uint32_t dst_pfx) {
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *e = LD(&hands(t, src)[s + i]);
    uint64_t ck = src_pfx == dst_pfx ? LD(&chunks(src)[s + i]) : entry_chunk(t, e, dst_pfx);
    ST(&chunks(dst)[d + i], ck);
    ST(&hands(t, dst)[d + i], e);
  }
}

/* Re-derives the chunks of x's first n keys at a new pfx, in place. */
static void repfx(const tree *t, node *x, uint32_t n, uint32_t pfx) {
  for (uint32_t i = 0; i < n; i++) ST(&chunks(x)[i], entry_chunk(t, LD(&hands(t, x)[i]), pfx));
  ST(&x->pfx, pfx);
}

/* REQUIRES: x (a full leaf) held; r fresh.  Returns the separator. */
static const uint8_t *split_leaf(tree *t, node *x, node *r, bool append) {
  uint32_t f = t->fanout, m = append ? f - 1 : f / 2;
  const uint8_t *sep = LD(&hands(t, x)[m]), *lo = LD(&x->lo), *hi = LD(&x->hi);
  uint32_t pfx = LD(&x->pfx), rpfx = choose_pfx(t, pfx, sep, hi), lpfx = choose_pfx(t, pfx, lo, sep);
  node *nx = LD(&x->next);
  move_keys(t, r, 0, x, m, f - m, pfx, rpfx);
  atomic_init(&r->pfx, rpfx);
  atomic_init(&r->count, f - m);
  atomic_init(&r->lo, sep);
  atomic_init(&r->hi, hi);
  atomic_init(&r->next, nx);
  atomic_init(&r->prev, x);
  if (lpfx != pfx) repfx(t, x, m, lpfx);
  ST(&x->count, m);
  ST(&x->hi, sep);
  ST(&x->next, r); /* publishes r */
  if (nx) ST(&nx->prev, r);
  return sep;
}

/* REQUIRES: x (a full inner node) held; r fresh.  Returns the separator
 * that moves up. */
static const uint8_t *split_inner(tree *t, node *x, node *r) {
  uint32_t f = t->fanout, m = f / 2;
  const uint8_t *up = LD(&hands(t, x)[m - 1]), *lo = LD(&x->lo), *hi = LD(&x->hi);
  uint32_t pfx = LD(&x->pfx), rpfx = choose_pfx(t, pfx, up, hi), lpfx = choose_pfx(t, pfx, lo, up);
  move_keys(t, r, 0, x, m, f - m - 1, pfx, rpfx);
  for (uint32_t i = m; i < f; i++) ST(&kids(t, r)[i - m], LD(&kids(t, x)[i]));
  atomic_init(&r->pfx, rpfx);
  atomic_init(&r->count, f - m);
  atomic_init(&r->lo, up);
  atomic_init(&r->hi, hi);
  if (lpfx != pfx) repfx(t, x, m - 1, lpfx);
  ST(&x->count, m);
  ST(&x->hi, up);
  return up;
}

/* REQUIRES: p held, not full.  Inserts sep and child r right after child i. */
static void inner_insert(tree *t, node *p, uint32_t i, const uint8_t *sep, node *r) {
  uint32_t n = LD(&p->count);
  _Atomic uint64_t *ck = chunks(p);
  hand_t *hs = hands(t, p);
  kid_t *ks = kids(t, p);
  for (uint32_t j = n; j > i + 1; j--) ST(&ks[j], LD(&ks[j - 1]));
  for (uint32_t j = n - 1; j > i; j--) {
    ST(&ck[j], LD(&ck[j - 1]));
    ST(&hs[j], LD(&hs[j - 1]));
  }
  ST(&ck[i], entry_chunk(t, sep, LD(&p->pfx)));
  ST(&hs[i], sep);
  ST(&ks[i + 1], r);
  ST(&p->count, n + 1);
}

/* REQUIRES: x held, the root.  Publishes a new root over x and r. */
static void grow_root(tree *t, node *nr, node *x, const uint8_t *sep, node *r) {
  atomic_init(&chunks(nr)[0], entry_chunk(t, sep, 0));
  atomic_init(&hands(t, nr)[0], sep);
  atomic_init(&kids(t, nr)[0], x);
  atomic_init(&kids(t, nr)[1], r);
  atomic_init(&nr->count, 2);
  ST(&t->root, nr);
}

/* Splits path[j] (full; its parent path[j-1], if any, not full), taking
 * both by CAS from the versions the descent read.  MT_OK when done or when
 * a node changed meanwhile (the caller starts again), MT_ENOMEM. */
static int split_at(tree *t, const step *path, int j, bool append) {
  node *s = path[j].x, *p = j ? path[j - 1].x : NULL;
  if (p && !upgrade(p, path[j - 1].v)) return MT_OK;
  if (!upgrade(s, path[j].v)) {
    if (p) unlock_same(p, path[j - 1].v);
    return MT_OK;
  }
  if (!p && s != LD(&t->root)) {
    unlock_same(s, path[j].v);
    return MT_OK;
  }
  node *r = alloc_node(t, s->level), *nr = NULL;
  if (r && !p) {
    nr = s->level + 2 < MAX_DEPTH ? alloc_node(t, s->level + 1)
                                  : (mt_set_error(MT_ENOMEM, "btree: the tree is %d levels deep", MAX_DEPTH), NULL);
  }
  if (!r || (!p && !nr)) {
    unlock_same(s, path[j].v);
    if (p) unlock_same(p, path[j - 1].v);
    return MT_ENOMEM;
  }
  const uint8_t *sep = s->level ? split_inner(t, s, r) : split_leaf(t, s, r, append);
  if (p) inner_insert(t, p, path[j - 1].idx, sep, r);
  else grow_root(t, nr, s, sep, r);
  unlock(s);
  if (p) unlock(p);
  return MT_OK;
}

static int bt_insert(mt_rep *t, const mt_new_entry *ne) {
  step path[MAX_DEPTH];
  const uint8_t *entry = NULL; /* allocated once, kept across restarts */
  for (unsigned tries = 0;; tries++) {
    if (tries > 16) sched_yield();
    else if (tries) cpu_relax();
    int d = descend(t, ne->key, ne->seq, true, path);
    node *l = path[d].x;
    uint64_t v = path[d].v;
    uint32_t n = clamp(LD(&l->count), 0, t->fanout);
    uint32_t i = rank(t, l, n, ne->key, ne->seq, false);
    const uint8_t *at = i < n ? LD(&hands(t, l)[i]) : NULL;
    bool dup = at && cmp_entry(t, at, ne->key, ne->seq) == 0;
    bool last_leaf = LD(&l->hi) == NULL;
    if ((i < n && !at) || !still(l, v)) continue;
    if (dup) return MT_EEXIST;
    if (!entry) {
      entry = mt_arena_alloc_entry(t->arena, ne, 0, 1);
      if (!entry) return MT_ENOMEM;
    }
    if (n == t->fanout) { /* split the top of the full chain ending here */
      int j = d;
      while (j > 0 && path[j - 1].n == t->fanout) j--;
      int rc = split_at(t, path, j, j == d && i == n && last_leaf);
      if (rc) return rc;
      continue;
    }
    if (!upgrade(l, v)) continue;
    _Atomic uint64_t *ck = chunks(l);
    hand_t *hs = hands(t, l);
    for (uint32_t j = n; j > i; j--) {
      ST(&ck[j], LD(&ck[j - 1]));
      ST(&hs[j], LD(&hs[j - 1]));
    }
    ST(&ck[i], entry_chunk(t, entry, LD(&l->pfx)));
    ST(&hs[i], entry);
    ST(&l->count, n + 1);
    unlock(l);
    return MT_OK;
  }
}

/* ---- lifecycle and point reads ---------------------------------------------------------- */

static int bt_create(mt_rep **out, const mt_rep_init *init) {
  tree *t = mt_arena_alloc(init->arena, sizeof *t, 64);
  if (!t) return MT_ENOMEM;
  memset(t, 0, sizeof *t);
  t->cmp = init->cmp;
  t->arena = init->arena;
  t->fanout = (uint32_t)init->params[0];
  t->bytewise = init->cmp->compare == NULL;
  t->first = alloc_node(t, 0);
  if (!t->first) return MT_ENOMEM;
  atomic_init(&t->root, t->first);
  *out = t;
  return MT_OK;
}

static void bt_destroy(mt_rep *t) { (void)t; /* everything is in the arena */ }

static const uint8_t *bt_get(mt_rep *t, mt_slice key, uint64_t snapshot) {
  cursor c;
  find_fwd(t, key, snapshot, false, &c);
  if (!c.e) return NULL;
  mt_slice k = mt_entry_key(c.e);
  bool same = t->bytewise ? k.len == key.len && (!k.len || memcmp(k.data, key.data, k.len) == 0)
                          : t->cmp->compare(t->cmp->ctx, k, key) == 0;
  return same ? c.e : NULL;
}

/* ---- check ------------------------------------------------------------------------------- */

typedef struct checker {
  const tree *t;
  node *last_leaf;
  uint64_t entries;
} checker;

#define BAD(...) mt_set_error(MT_ECORRUPT, "btree: " __VA_ARGS__)

/* key i of x in [lo, hi) and above prev (invariants 1, 2) */
static int check_key(const tree *t, const uint8_t *e, const uint8_t *prev, const uint8_t *lo,
                     const uint8_t *hi, uint32_t level, uint32_t i) {
  if (!e) return BAD("level %u slot %u holds NULL", level, i);
  if (prev && mt_entry_compare(t->cmp, prev, e) >= 0)
    return BAD("level %u slot %u is not above the slot before it", level, i);
  if (lo && mt_entry_compare(t->cmp, lo, e) > 0) return BAD("level %u slot %u is below lo", level, i);
  if (hi && mt_entry_compare(t->cmp, e, hi) >= 0) return BAD("level %u slot %u is not below hi", level, i);
  return MT_OK;
}

static int check_node(checker *ck, node *x, const uint8_t *lo, const uint8_t *hi, uint32_t level,
                      bool root) {
  const tree *t = ck->t;
  uint32_t f = t->fanout, n = LD(&x->count), pfx = LD(&x->pfx);
  if (LD(&x->version) & 1) return BAD("a node at level %u is held by a writer", level);
  if (x->level != level) return BAD("a node at level %u says level %u", level, x->level);
  if (LD(&x->lo) != lo || LD(&x->hi) != hi)
    return BAD("a node at level %u has fences other than its parent's separators", level);
  if (n > f) return BAD("a node at level %u holds %u > fanout %u", level, n, f);
  if (level ? (root ? n < 2 : n < f / 2) : (!root && (n < 1 || (hi && n < f / 2))))
    return BAD("a %s node at level %u holds only %u", root ? "root" : "non-root", level, n);
  if (t->bytewise ? pfx > lcp(lo, hi) : pfx != 0)
    return BAD("a node at level %u has pfx %u beyond its fences' common prefix", level, pfx);
  uint32_t keys = level ? n - 1 : n;
  const uint8_t *prev = NULL;
  for (uint32_t i = 0; i < keys; i++) {
    const uint8_t *e = LD(&hands(t, x)[i]);
    int rc = check_key(t, e, prev, lo, hi, level, i);
    if (rc) return rc;
    if (LD(&chunks(x)[i]) != entry_chunk(t, e, pfx))
      return BAD("level %u slot %u has a stale key chunk", level, i);
    prev = e;
  }
  if (level == 0) {
    if (lo && n && LD(&hands(t, x)[0]) != lo) return BAD("a leaf does not start with its lo fence");
    node *pl = ck->last_leaf;
    if (!pl ? x != t->first || LD(&x->prev) != NULL : LD(&pl->next) != x || LD(&x->prev) != pl)
      return BAD("the leaf chain disagrees with the tree after %llu entries",
                 (unsigned long long)ck->entries);
    ck->last_leaf = x;
    ck->entries += n;
    return MT_OK;
  }
  for (uint32_t i = 0; i < n; i++) {
    node *k = LD(&kids(t, x)[i]);
    if (!k) return BAD("level %u child %u is NULL", level, i);
    const uint8_t *klo = i ? LD(&hands(t, x)[i - 1]) : lo, *khi = i + 1 < n ? LD(&hands(t, x)[i]) : hi;
    int rc = check_node(ck, k, klo, khi, level - 1, false);
    if (rc) return rc;
  }
  return MT_OK;
}

static int bt_check(const mt_rep *t) {
  checker ck = {t, NULL, 0};
  node *root = LD(&t->root);
  int rc = check_node(&ck, root, NULL, NULL, root->level, true);
  if (rc) return rc;
  if (LD(&ck.last_leaf->next) != NULL) return BAD("the last leaf has a next");
  return MT_OK;
}

/* ---- iterator ------------------------------------------------------------------------------- */

struct mt_rep_iter {
  const tree *t;
  cursor c;
  unsigned run; /* nexts since the last positioning call, up to SCAN_RUN */
};

static int it_new(mt_rep_iter **out, mt_rep *t) {
  mt_rep_iter *it = mt_malloc(sizeof *it);
  if (!it) return MT_ENOMEM;
  it->t = t;
  it->run = 0;
  set_cursor(&it->c, NULL, 0, 0, NULL);
  *out = it;
  return MT_OK;
}
static void it_free(mt_rep_iter *it) { mt_free(it); }
static void it_first(mt_rep_iter *it) {
  it->run = 0;
  first_from(it->t, it->t->first, &it->c);
}
static void it_last(mt_rep_iter *it) {
  it->run = 0;
  find_last(it->t, &it->c);
}
static void it_seek(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  it->run = 0;
  find_fwd(it->t, key, seq, false, &it->c);
}
static void it_seek_for_prev(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  it->run = 0;
  find_bwd(it->t, key, seq, true, &it->c);
}

/* A scan (SCAN_RUN nexts in a row) asks for the entry SCAN_AHEAD slots
 * ahead, in this leaf or the next, so that the misses on the entries the
 * caller reads overlap; entering a leaf it asks for the next leaf's header
 * and first handles.  Short runs (a seek, then a few nexts) ask nothing.
 * Unvalidated reads: a stale handle costs one useless prefetch. */
static void scan_prefetch(const tree *t, const cursor *c, uint32_t n) {
  uint32_t ahead = c->idx + SCAN_AHEAD;
  node *nx = LD(&c->leaf->next);
  if (c->idx == 0 && nx) {
    prefetch_line(nx);
    for (uint32_t i = 0; i < SCAN_AHEAD && i < t->fanout; i += 8) prefetch_line(&hands(t, nx)[i]);
  }
  if (ahead < n) __builtin_prefetch(LD(&hands(t, c->leaf)[ahead]));
  else if (nx && ahead - n < t->fanout) __builtin_prefetch(LD(&hands(t, nx)[ahead - n]));
}

static void it_next(mt_rep_iter *it) {
  cursor *c = &it->c;
  node *l = c->leaf;
  if (it->run < SCAN_RUN) it->run++;
  if (still(l, c->v)) { /* the leaf is as we left it: step inside it or to the next */
    uint32_t n = clamp(LD(&l->count), 0, it->t->fanout);
    if (c->idx + 1 < n) {
      const uint8_t *e = LD(&hands(it->t, l)[c->idx + 1]);
      if (e && still(l, c->v)) {
        c->idx++;
        c->e = e;
        if (it->run == SCAN_RUN) scan_prefetch(it->t, c, n);
        return;
      }
    } else {
      node *nx = LD(&l->next);
      if (still(l, c->v)) {
        first_from(it->t, nx, c);
        if (c->e && it->run == SCAN_RUN)
          scan_prefetch(it->t, c, clamp(LD(&c->leaf->count), 0, it->t->fanout));
        return;
      }
    }
  }
  mt_slice k = mt_entry_key(c->e); /* it changed: the first entry above ours */
  find_fwd(it->t, k, mt_entry_seq(c->e), true, c);
}

static void it_prev(mt_rep_iter *it) {
  cursor *c = &it->c;
  it->run = 0;
  node *l = c->leaf;
  if (still(l, c->v)) {
    if (c->idx > 0) {
      const uint8_t *e = LD(&hands(it->t, l)[c->idx - 1]);
      if (e && still(l, c->v)) {
        c->idx--;
        c->e = e;
        return;
      }
    } else {
      node *p = LD(&l->prev);
      if (still(l, c->v)) {
        if (!p) {
          set_cursor(c, NULL, 0, 0, NULL);
          return;
        }
        if (last_before(it->t, p, l, c)) return;
      }
    }
  }
  mt_slice k = mt_entry_key(c->e); /* it changed: the last entry below ours */
  find_bwd(it->t, k, mt_entry_seq(c->e), false, c);
}

static const uint8_t *it_entry(const mt_rep_iter *it) { return it->c.e; }

const mt_rep_ops mt_rep_btree = {
    .version = MT_REP_OPS_VERSION,
    .name = "btree",
    .caps = MT_CAP_CONCURRENT_INSERT,
    .params = bt_params,
    .nparams = sizeof bt_params / sizeof bt_params[0],
    .help = "B+tree with key chunks: fastest point reads and seeks, concurrent inserts",
    .create = bt_create,
    .destroy = bt_destroy,
    .insert = bt_insert,
    .insert_concurrent = bt_insert,
    .get = bt_get,
    .iter_new = it_new,
    .iter_free = it_free,
    .iter_seek_to_first = it_first,
    .iter_seek_to_last = it_last,
    .iter_seek = it_seek,
    .iter_seek_for_prev = it_seek_for_prev,
    .iter_next = it_next,
    .iter_prev = it_prev,
    .iter_entry = it_entry,
    .check = bt_check,
};
