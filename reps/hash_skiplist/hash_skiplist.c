/* hash_skiplist.c -- prefix-hashed skip lists that never degenerate.
 *
 * Shape.  The first prefix_len bytes of a key (a shorter key: all of it) are
 * its prefix.  Every distinct prefix owns a *group*: a lock-free skip list of
 * the entries with that prefix (nodes co-allocated with their entries, links
 * right before the entry, as in reps/skiplist).  Groups are found two ways:
 *  - the hash table: XXH3 of the prefix picks one of `buckets` buckets, each
 *    a CAS-pushed chain of groups; a get touches one bucket, one group and
 *    O(log n) nodes of that group, whatever the other groups hold;
 *  - the directory: a lock-free skip list of the groups ordered by prefix.
 *    Under bytewise order keys with different prefixes order as their
 *    prefixes do, so walking the directory and each group in turn is
 *    internal-key order: iteration and seeks need no merge and no sort.
 * A group's list grows in height with the group (max_height levels, 1 in
 * `branching` nodes reach the next), so one hot prefix -- fillseq, where all
 * keys share a prefix -- is a plain O(log n) skip list, not a long chain.
 * A custom comparator need not order keys by their bytes' prefix, so with
 * one every key goes to a single group (the rep is then one skip list)
 * unless cmp_by_prefix=1 promises that it does.
 *
 * Node links, bucket heads and chain links are 32-bit offsets from the
 * arena's base in 4-byte units (0 = none), as in reps/skiplist.  A node is
 * [link level h-1 .. level 1][link level 0][entry]: level 0 is the bare
 * offset; a link above carries the successor's fence too (the 4 key bytes
 * after the prefix), so a search under bytewise order passes over or stops
 * before a node of another fence without touching it.  That costs 4 bytes
 * per upper link (one node in `branching` has one) and saves the miss of
 * most overshoots above level 0 (about 10% less CPU per random insert,
 * measured at N = 1M).
 *
 * Freeze builds a sorted index (8 bytes per entry: the node's offset and a
 * 4-byte key fence; heap, reported by memory_outside_arena with the bucket
 * array): groups hold contiguous runs of it, filled by walking up to LANES
 * groups side by side so the pointer chases overlap.  Frozen gets and seeks
 * binary-search their group's run, comparing fences and touching an entry
 * only on a tie; iterators positioned after freeze read the index (scans
 * prefetch ahead; prev is one step).
 *
 * Thread safety:
 *  - Readers take no lock; every link (group lists, directory, bucket chains,
 *    a group's ext) is loaded with acquire.
 *  - Writers insert by CAS, level by level from the bottom, after writing
 *    the new node's links (relaxed); the CAS (release) publishes the node.
 *  - A new group is linked into the directory first (the directory decides
 *    which of two racing creators wins: the loser adopts the winner's group
 *    and abandons its own allocation), then pushed onto its bucket chain.
 *    Between the two a get could miss it in the chain, so `unchained`
 *    counts groups in that window (seq_cst increment before the directory
 *    link, seq_cst decrement after the push); a get loads it (seq_cst) before
 *    walking the chain and searches the directory when a chain miss may be
 *    one of them.  Reading 0 there means the push of every group whose
 *    increment came before is visible (the decrements are RMWs after it).
 *  - A group's head keeps LOW levels inline; levels above, and the group's
 *    remembered insert position (the splice), live in its ext, installed
 *    once by CAS (acq_rel) before anything is linked at those levels.  A
 *    reader that finds no ext treats those levels as empty: upper levels are
 *    shortcuts only.
 *  - One writer at a time uses a group's splice (taken by atomic exchange);
 *    the splice is a hint, checked against the key; publication is a CAS.
 *  - The index is published with a release store of `index`; iterators
 *    load it with acquire when they are positioned.  Core calls freeze with
 *    every insert drained, so the relaxed group counts are exact then.
 *
 * Invariants (hs_check verifies them):
 *  1. Directory level 0 holds every group once, in strictly increasing prefix
 *     order; level i+1 is a subsequence of level i.
 *  2. Every key in a group has the group's prefix; level 0 of a group holds
 *     its entries in strictly increasing internal-key order, level i+1 is a
 *     subsequence of level i, `count` is the length of level 0, and a link
 *     above level 0 carries its successor's fence.
 *  3. With no writer running every group is in the chain of its bucket.
 *  4. No two entries compare equal: an equal (key, seq) is MT_EEXIST.
 *  5. Once frozen, index[g->first .. g->first + g->count) is group g's level
 *     0, and the groups' runs follow the directory order without gaps.
 */
#include <memtable/rep.h>

#include <stdatomic.h>
#include <xxhash.h>

#define MAX_LEVELS 32     /* cap of max_height */
#define LOW 4             /* list-head levels inline in a group */
#define DIR_LEVELS 16     /* directory height */
#define DIR_BRANCHING 4   /* 1 in 4 groups reach the next directory level */
#define SPLICE_AT 1024    /* entries at which a group gets its splice */
#define LANES 16          /* groups walked side by side at freeze */
#define AHEAD 8           /* index entries prefetched ahead of a scan */

typedef uint8_t node; /* the entry; links precede it */
typedef _Atomic uint32_t link; /* offset from the arena's base / 4; 0 = none */
typedef _Atomic uint64_t ulink; /* upper levels: the successor's fence << 32 | its offset */
typedef struct group group;
typedef _Atomic(group *) glink;

/* An entry of the frozen index: the node, and the 4 key bytes after the
 * group's prefix (big-endian, zero-padded) so that a binary search within a
 * group compares most probes without touching the entry. */
typedef struct slot {
  uint32_t off;
  uint32_t fence;
} slot;

static const mt_rep_param hs_params[] = {
    {"prefix_len", MT_PARAM_INT, 8, 0, 255, "key bytes hashed to pick a group (0: one group)"},
    {"buckets", MT_PARAM_INT, 65536, 1, 1 << 26, "hash buckets for the prefix groups"},
    {"max_height", MT_PARAM_INT, 12, 1, MAX_LEVELS, "levels a node of a group's skip list may have"},
    {"branching", MT_PARAM_INT, 4, 2, 16, "1/branching of a level's nodes reach the next"},
    {"cmp_by_prefix", MT_PARAM_BOOL, 0, 0, 1,
     "a custom comparator orders keys by prefix first, as it orders the prefixes"},
};

/* Lazily installed part of a group: head levels >= LOW and the splice. */
typedef struct ext {
  _Atomic int busy; /* the splice's owner */
  unsigned misses;  /* consecutive inserts the splice did not fit */
  ulink high[];     /* max_height - LOW head links, then max_height splice slots */
} ext;

struct group { /* directory links precede it: ((glink *)g)[-1 - i] */
  link chain;            /* next group in the same bucket (offset, as node links) */
  _Atomic(ext *) ext;
  _Atomic size_t count;  /* entries linked at level 0 */
  size_t first;          /* frozen: position of the first entry in the index */
  _Atomic int height;    /* list levels in use, >= 1 */
  uint32_t common;       /* frozen: key bytes every entry shares (>= plen); fences follow */
  uint16_t plen;
  link low0;             /* list-head link of level 0 */
  ulink up[LOW - 1];     /* list-head links of levels 1..LOW-1 */
  uint8_t prefix[];      /* plen bytes */
};

struct mt_rep {
  const mt_comparator *cmp;
  mt_arena *arena;
  uint8_t *base; /* the arena's: links are 32-bit offsets from it */
  size_t prefix_len; /* 0 when every key goes to one group */
  uint32_t nbuckets;
  int max_height;
  uint32_t branching;
  link *buckets; /* heap: nbuckets chain heads (offsets); memory_outside_arena */
  group *dhead; /* directory head: links only, never read as a group */
  _Atomic int dir_height;
  _Atomic long unchained; /* groups in the directory, not yet in a chain */
  _Atomic(slot *) index; /* frozen, heap: every entry in order; NULL before */
  size_t nindex;
};

/* ---- small helpers ----------------------------------------------------------- */

/* A node's level-0 link sits right before its entry, its upper links (8
 * bytes: successor's fence and offset) before that, level i at n - 4 - 8i. */
static inline link *link0(const node *n) { return (link *)n - 1; }
static inline ulink *linkup(const node *n, int level) {
  return (ulink *)((uint8_t *)n - sizeof(link)) - level;
}
static inline size_t header_bytes(int h) { return sizeof(link) + sizeof(ulink) * (size_t)(h - 1); }
static inline node *at(const struct mt_rep *r, uint32_t off) {
  return off ? r->base + ((size_t)off << 2) : NULL;
}
static inline uint32_t off_of(const struct mt_rep *r, const node *n) {
  return n ? (uint32_t)((size_t)(n - r->base) >> 2) : 0;
}
/* acquire: the node's entry and links were written before its release CAS */
static inline node *next_acq(const struct mt_rep *r, const node *n, int level) {
  uint64_t w = level ? atomic_load_explicit(linkup(n, level), memory_order_acquire)
                     : atomic_load_explicit(link0(n), memory_order_acquire);
  return at(r, (uint32_t)w);
}
static inline glink *glinks(const group *g) { return (glink *)g; }
static inline group *gat(const struct mt_rep *r, uint32_t off) { return (group *)at(r, off); }
static inline group *dnext(const group *g, int level) {
  return atomic_load_explicit(&glinks(g)[-1 - level], memory_order_acquire);
}
static inline size_t high_levels(const struct mt_rep *r) {
  return r->max_height > LOW ? (size_t)(r->max_height - LOW) : 0;
}
static inline node **splice_of(const struct mt_rep *r, ext *x) {
  return (node **)((uint8_t *)x + sizeof(ext) + sizeof(ulink) * high_levels(r));
}

/* node against the target (key, seq): internal-key order */
static inline int cmp_node(const struct mt_rep *r, const node *n, mt_slice key, uint64_t seq) {
  return mt_entry_compare_key(r->cmp, n, key, seq);
}

/* Directory order of a group against a prefix. */
static inline int cmp_prefix(const struct mt_rep *r, const group *g, const uint8_t *p, size_t pn) {
  if (g->plen == 0 && pn == 0) return 0;
  return mt_key_compare(r->cmp, (mt_slice){g->prefix, g->plen}, (mt_slice){p, pn});
}

static inline size_t prefix_of(const struct mt_rep *r, mt_slice key) {
  return key.len < r->prefix_len ? key.len : r->prefix_len;
}

static inline uint32_t bucket_of(const struct mt_rep *r, const void *p, size_t pn) {
  uint64_t h = XXH3_64bits(p, pn);
  return (uint32_t)(((h >> 32) * r->nbuckets) >> 32); /* multiply-shift: any bucket count */
}

/* Key bytes [plen, plen + 4) as a big-endian number, zero-padded: fence(a) <
 * fence(b) implies a < b bytewise for keys sharing their first plen bytes.
 * The index takes them after the bytes a group's keys all share (`common`),
 * so keys alike far beyond their prefix (sequential ones) still differ. */
static inline uint32_t fence_of(mt_slice key, size_t plen) {
  const uint8_t *k = key.data;
  uint32_t f = 0;
  for (size_t i = plen; i < plen + 4; i++) f = f << 8 | (i < key.len ? k[i] : 0);
  return f;
}

static inline void prefetch(const void *p) {
  if (p) __builtin_prefetch((const uint8_t *)p - sizeof(link));
}

static int random_height(uint32_t branching, int max) {
  static _Thread_local uint64_t s;
  if (!s) s = (uint64_t)(uintptr_t)&s * 0x9e3779b97f4a7c15ULL | 1;
  int h = 1;
  for (;;) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17; /* xorshift64 */
    if (h >= max || (uint32_t)(s >> 32) % branching) return h;
    h++;
  }
}

/* ---- a group's skip list: a position is a node, or NULL for the head ------------ */

/* The raw link after position x at level: an offset at level 0, fence <<
 * 32 | offset above.  acquire: the successor was published by a release CAS. */
static inline uint64_t lraw(const group *g, const node *x, int level) {
  if (level == 0) return atomic_load_explicit(x ? link0(x) : &((group *)g)->low0, memory_order_acquire);
  if (x) return atomic_load_explicit(linkup(x, level), memory_order_acquire);
  if (level < LOW) return atomic_load_explicit(&((group *)g)->up[level - 1], memory_order_acquire);
  ext *e = atomic_load_explicit(&((group *)g)->ext, memory_order_acquire);
  return e ? atomic_load_explicit(&e->high[level - LOW], memory_order_acquire) : 0;
}
static inline node *lnext(const struct mt_rep *r, const group *g, const node *x, int level) {
  return at(r, (uint32_t)lraw(g, x, level));
}

/* Publishes n after x at level by CAS from the raw successor *expect (on
 * failure *expect is what is there).  REQUIRES: x is a node, or level < LOW,
 * or the group's ext is installed. */
static inline bool lcas(group *g, node *x, int level, uint64_t *expect, uint64_t mine) {
  if (level == 0) {
    uint32_t e32 = (uint32_t)*expect;
    bool ok = atomic_compare_exchange_strong_explicit(x ? link0(x) : &g->low0, &e32, (uint32_t)mine,
                                                      memory_order_release, memory_order_relaxed);
    *expect = e32;
    return ok;
  }
  ulink *to = x ? linkup(x, level)
                : level < LOW ? &g->up[level - 1]
                              : &atomic_load_explicit(&g->ext, memory_order_acquire)->high[level - LOW];
  return atomic_compare_exchange_strong_explicit(to, expect, mine, memory_order_release,
                                                 memory_order_relaxed);
}

/* The first node >= (key, seq), or NULL.  With prev, records at every level
 * below `levels` the last position < target (prev) and the raw link after
 * it (next).  Above level 0 a successor whose fence differs from the key's
 * is ordered by the fences alone, without touching it (bytewise only). */
static node *group_find_ge(const struct mt_rep *r, const group *g, mt_slice key, uint64_t seq,
                           int levels, node **prev, uint64_t *next) {
  node *x = NULL, *bigger = NULL;
  bool fences = !r->cmp->compare;
  uint32_t t = fence_of(key, g->plen);
  int level = atomic_load_explicit(&((group *)g)->height, memory_order_relaxed) - 1;
  for (int i = level + 1; prev && i < levels; i++) prev[i] = NULL, next[i] = 0;
  for (;;) {
    uint64_t w = lraw(g, x, level);
    node *n = at(r, (uint32_t)w);
    if (n != bigger && n) {
      uint32_t f = (uint32_t)(w >> 32);
      int c = level && fences && f != t ? (f < t ? -1 : 1) : cmp_node(r, n, key, seq);
      if (c < 0) {
        x = n;
        for (int i = level - 1; i >= 0; i--) prefetch(next_acq(r, x, i)); /* the descent, overlapped */
        continue;
      }
    }
    bigger = n;
    if (prev) prev[level] = x, next[level] = w;
    if (level == 0) return n;
    level--;
  }
}

/* The last node < (key, seq), or NULL (the head). */
static node *group_find_lt(const struct mt_rep *r, const group *g, mt_slice key, uint64_t seq) {
  node *x = NULL, *bigger = NULL;
  for (int level = atomic_load_explicit(&((group *)g)->height, memory_order_relaxed) - 1; level >= 0;) {
    node *n = lnext(r, g, x, level);
    if (n != bigger && n && cmp_node(r, n, key, seq) < 0) {
      x = n;
    } else {
      bigger = n;
      level--;
    }
  }
  return x;
}

/* The last node of the group, or NULL when it is empty. */
static node *group_last(const struct mt_rep *r, const group *g) {
  node *x = NULL;
  for (int level = atomic_load_explicit(&((group *)g)->height, memory_order_relaxed) - 1; level >= 0;) {
    node *n = lnext(r, g, x, level);
    if (n) x = n;
    else level--;
  }
  return x;
}

/* ---- the directory of groups ------------------------------------------------------ */

/* The first group with prefix >= p, or NULL; with prev as group_find_ge. */
static group *dir_find_ge(const struct mt_rep *r, const uint8_t *p, size_t pn, int levels,
                          group **prev, group **next) {
  group *x = r->dhead, *bigger = NULL;
  int level = atomic_load_explicit(&((struct mt_rep *)r)->dir_height, memory_order_relaxed) - 1;
  for (int i = level + 1; prev && i < levels; i++) prev[i] = r->dhead, next[i] = NULL;
  for (;;) {
    group *n = dnext(x, level);
    if (n != bigger && n && cmp_prefix(r, n, p, pn) < 0) {
      x = n;
      continue;
    }
    bigger = n;
    if (prev) prev[level] = x, next[level] = n;
    if (level == 0) return n;
    level--;
  }
}

/* The last group with prefix < p, or the head. */
static group *dir_find_lt(const struct mt_rep *r, const uint8_t *p, size_t pn) {
  group *x = r->dhead, *bigger = NULL;
  for (int level = atomic_load_explicit(&((struct mt_rep *)r)->dir_height, memory_order_relaxed) - 1;
       level >= 0;) {
    group *n = dnext(x, level);
    if (n != bigger && n && cmp_prefix(r, n, p, pn) < 0) {
      x = n;
    } else {
      bigger = n;
      level--;
    }
  }
  return x;
}

static group *dir_last(const struct mt_rep *r) {
  group *x = r->dhead;
  for (int level = atomic_load_explicit(&((struct mt_rep *)r)->dir_height, memory_order_relaxed) - 1;
       level >= 0;) {
    group *n = dnext(x, level);
    if (n) x = n;
    else level--;
  }
  return x;
}

/* ---- finding groups ------------------------------------------------------------------ */

static group *chain_find(const struct mt_rep *r, uint32_t b, const uint8_t *p, size_t pn) {
  for (group *g = gat(r, atomic_load_explicit(&r->buckets[b], memory_order_acquire)); g;
       g = gat(r, atomic_load_explicit(&g->chain, memory_order_acquire)))
    if (g->plen == pn && (pn == 0 || memcmp(g->prefix, p, pn) == 0)) return g;
  return NULL;
}

/* The group of prefix p, or NULL (a point read: one bucket, as a rule). */
static group *group_lookup(const struct mt_rep *r, const uint8_t *p, size_t pn) {
  long pending = atomic_load(&((struct mt_rep *)r)->unchained); /* seq_cst, before the chain */
  group *g = chain_find(r, bucket_of(r, p, pn), p, pn);
  if (g || pending == 0) return g;
  g = dir_find_ge(r, p, pn, 0, NULL, NULL);
  return g && cmp_prefix(r, g, p, pn) == 0 ? g : NULL;
}

/* The first group with prefix >= p, or NULL; *exact: its prefix is p. */
static group *group_at_or_after(const struct mt_rep *r, const uint8_t *p, size_t pn, bool *exact) {
  group *g = chain_find(r, bucket_of(r, p, pn), p, pn);
  if (!g) g = dir_find_ge(r, p, pn, 0, NULL, NULL);
  *exact = g && cmp_prefix(r, g, p, pn) == 0;
  return g;
}

/* The group of key's prefix, created if missing.  MT_ENOMEM changes nothing
 * a reader can see. */
static int group_get(struct mt_rep *r, mt_slice key, group **out) {
  const uint8_t *p = key.data;
  size_t pn = prefix_of(r, key);
  uint32_t b = bucket_of(r, p, pn);
  group *g = chain_find(r, b, p, pn);
  if (g) {
    *out = g;
    return MT_OK;
  }
  group *prev[DIR_LEVELS], *next[DIR_LEVELS];
  int h = random_height(DIR_BRANCHING, DIR_LEVELS);
  int cur = atomic_load_explicit(&r->dir_height, memory_order_relaxed);
  int levels = h > cur ? h : cur;
  g = dir_find_ge(r, p, pn, levels, prev, next);
  if (g && cmp_prefix(r, g, p, pn) == 0) { /* created, not yet chained */
    *out = g;
    return MT_OK;
  }
  size_t dl = sizeof(glink) * (size_t)h;
  uint8_t *mem = mt_arena_alloc(r->arena, dl + sizeof(group) + pn, sizeof(glink));
  if (!mem) return MT_ENOMEM;
  group *ng = (group *)(mem + dl);
  atomic_init(&ng->chain, 0);
  atomic_init(&ng->ext, NULL);
  atomic_init(&ng->count, 0);
  ng->first = 0;
  ng->common = (uint32_t)pn;
  atomic_init(&ng->height, 1);
  ng->plen = (uint16_t)pn;
  atomic_init(&ng->low0, 0);
  for (int i = 0; i < LOW - 1; i++) atomic_init(&ng->up[i], 0);
  if (pn) memcpy(ng->prefix, p, pn);

  atomic_fetch_add(&r->unchained, 1); /* seq_cst: before the group can be found */
  while (cur < h && !atomic_compare_exchange_weak_explicit(&r->dir_height, &cur, h, memory_order_relaxed,
                                                           memory_order_relaxed)) {
  }
  for (int i = 0; i < h; i++) {
    for (;;) {
      atomic_store_explicit(&glinks(ng)[-1 - i], next[i], memory_order_relaxed);
      group *expect = next[i];
      if (atomic_compare_exchange_strong_explicit(&glinks(prev[i])[-1 - i], &expect, ng,
                                                  memory_order_release, memory_order_relaxed))
        break;
      /* another creator linked a group here first: search this level again */
      group *n = dnext(prev[i], i);
      while (n && cmp_prefix(r, n, p, pn) < 0) prev[i] = n, n = dnext(n, i);
      next[i] = n;
      if (i == 0 && n && cmp_prefix(r, n, p, pn) == 0) { /* it was this prefix: adopt it */
        atomic_fetch_sub(&r->unchained, 1);
        *out = n;
        return MT_OK;
      }
    }
  }
  uint32_t head = atomic_load_explicit(&r->buckets[b], memory_order_relaxed);
  do atomic_store_explicit(&ng->chain, head, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(&r->buckets[b], &head, off_of(r, (node *)ng),
                                                memory_order_release, memory_order_relaxed));
  atomic_fetch_sub(&r->unchained, 1); /* seq_cst: after the push */
  *out = ng;
  return MT_OK;
}

/* ---- insert ---------------------------------------------------------------------------- */

/* The group's ext, installed if missing; NULL on MT_ENOMEM. */
static ext *ext_get(struct mt_rep *r, group *g) {
  ext *x = atomic_load_explicit(&g->ext, memory_order_acquire);
  if (x) return x;
  size_t nh = high_levels(r);
  x = mt_arena_alloc(r->arena, sizeof(ext) + sizeof(ulink) * nh + sizeof(node *) * (size_t)r->max_height,
                     sizeof(ulink));
  if (!x) return NULL;
  atomic_init(&x->busy, 0);
  x->misses = 0;
  for (size_t i = 0; i < nh; i++) atomic_init(&x->high[i], 0);
  node **sp = splice_of(r, x);
  for (int i = 0; i < r->max_height; i++) sp[i] = NULL; /* the head */
  ext *expect = NULL;
  if (atomic_compare_exchange_strong_explicit(&g->ext, &expect, x, memory_order_acq_rel,
                                              memory_order_acquire))
    return x;
  return expect; /* another writer installed one first; ours stays unused */
}

/* Moves prev along `level` until its successor is >= target; *next gets
 * the raw link after it. */
static void advance(const struct mt_rep *r, const group *g, mt_slice key, uint64_t seq, int level,
                    node **prev, uint64_t *next) {
  uint64_t w = lraw(g, *prev, level);
  for (node *n; (n = at(r, (uint32_t)w)) && cmp_node(r, n, key, seq) < 0;) {
    *prev = n;
    w = lraw(g, n, level);
  }
  *next = w;
}

/* Fills prev/next below `levels` from the splice if the target lies right
 * after the group's last insert; false if it does not. */
static bool from_splice(const struct mt_rep *r, const group *g, node **sp, mt_slice key, uint64_t seq,
                        int levels, node **prev, uint64_t *next) {
  node *p0 = sp[0];
  if (p0 && cmp_node(r, p0, key, seq) >= 0) return false;
  uint64_t w0 = lraw(g, p0, 0);
  node *n0 = at(r, (uint32_t)w0);
  if (n0 && cmp_node(r, n0, key, seq) < 0) return false;
  prev[0] = p0, next[0] = w0;
  for (int i = 1; i < levels; i++) {
    prev[i] = sp[i];
    uint64_t w = lraw(g, prev[i], i);
    node *n = at(r, (uint32_t)w);
    if (n == NULL || n == n0) next[i] = w;
    else advance(r, g, key, seq, i, &prev[i], &next[i]);
  }
  return true;
}

static int group_insert(struct mt_rep *r, group *g, const mt_new_entry *e) {
  node *prev[MAX_LEVELS];
  uint64_t next[MAX_LEVELS]; /* raw links */
  int h = random_height(r->branching, r->max_height);
  int cur = atomic_load_explicit(&g->height, memory_order_relaxed);
  int levels = h > cur ? h : cur;
  ext *x = atomic_load_explicit(&g->ext, memory_order_acquire);
  bool own = x && atomic_exchange_explicit(&x->busy, 1, memory_order_acquire) == 0;
  bool hinted = false;
  if (own && (x->misses < 4 || (x->misses & 63) == 0)) {
    hinted = from_splice(r, g, splice_of(r, x), e->key, e->seq, levels, prev, next);
    x->misses = hinted ? 0 : x->misses + 1;
  } else if (own) {
    x->misses++;
  }
  if (!hinted) group_find_ge(r, g, e->key, e->seq, levels, prev, next);

  int rc = MT_OK;
  size_t count = 0;
  node *n0 = at(r, (uint32_t)next[0]);
  if (n0 && cmp_node(r, n0, e->key, e->seq) == 0) {
    rc = MT_EEXIST;
    goto out;
  }
  if (h > LOW && !ext_get(r, g)) { /* head links above LOW live in the ext */
    rc = MT_ENOMEM;
    goto out;
  }
  /* a node of height 1 needs 4-byte alignment only; upper links need 8 */
  uint8_t *mem = mt_arena_alloc_entry(r->arena, e, header_bytes(h), h > 1 ? sizeof(ulink) : sizeof(link));
  if (!mem) {
    rc = MT_ENOMEM;
    goto out;
  }
  node *n = mem + header_bytes(h);
  uint64_t mine = (uint64_t)fence_of(e->key, g->plen) << 32 | off_of(r, n);
  while (cur < h && !atomic_compare_exchange_weak_explicit(&g->height, &cur, h, memory_order_relaxed,
                                                           memory_order_relaxed)) {
  }
  for (int i = 0; i < h; i++) {
    for (;;) {
      if (i) atomic_store_explicit(linkup(n, i), next[i], memory_order_relaxed);
      else atomic_store_explicit(link0(n), (uint32_t)next[0], memory_order_relaxed);
      uint64_t expect = next[i];
      if (lcas(g, prev[i], i, &expect, mine)) break;
      /* another writer linked a node here first: search this level again */
      advance(r, g, e->key, e->seq, i, &prev[i], &next[i]);
      n0 = at(r, (uint32_t)next[0]);
      if (i == 0 && n0 && cmp_node(r, n0, e->key, e->seq) == 0) {
        rc = MT_EEXIST; /* a racing insert of the same (key, seq) won */
        goto out;
      }
    }
  }
  count = atomic_fetch_add_explicit(&g->count, 1, memory_order_relaxed) + 1;
  if (own) {
    node **sp = splice_of(r, x);
    for (int i = 0; i < h; i++) sp[i] = n;
    for (int i = h; i < levels; i++) sp[i] = prev[i];
  }
out:
  if (own) atomic_store_explicit(&x->busy, 0, memory_order_release);
  if (count == SPLICE_AT && !x) ext_get(r, g); /* a hint: without memory, no splice */
  return rc;
}

static int hs_insert(mt_rep *r, const mt_new_entry *e) {
  group *g;
  int rc = group_get(r, e->key, &g);
  return rc ? rc : group_insert(r, g, e);
}

/* ---- lifecycle and reads ---------------------------------------------------------------- */

static int hs_create(mt_rep **out, const mt_rep_init *init) {
  struct mt_rep *r = mt_arena_alloc(init->arena, sizeof *r, 64);
  if (!r) return MT_ENOMEM;
  memset(r, 0, sizeof *r);
  r->cmp = init->cmp;
  r->arena = init->arena;
  r->base = mt_arena_base(init->arena);
  bool by_prefix = !init->cmp->compare || init->params[4];
  r->prefix_len = by_prefix ? (size_t)init->params[0] : 0;
  r->nbuckets = r->prefix_len ? (uint32_t)init->params[1] : 1; /* one group needs one bucket */
  r->max_height = (int)init->params[2];
  r->branching = (uint32_t)init->params[3];
  uint8_t *dh = mt_arena_alloc(init->arena, sizeof(glink) * DIR_LEVELS, 64);
  if (!dh) return MT_ENOMEM;
  r->buckets = mt_malloc(sizeof(link) * r->nbuckets);
  if (!r->buckets) return MT_ENOMEM;
  for (uint32_t i = 0; i < r->nbuckets; i++) atomic_init(&r->buckets[i], 0);
  r->dhead = (group *)(dh + sizeof(glink) * DIR_LEVELS);
  for (int i = 0; i < DIR_LEVELS; i++) atomic_init(&glinks(r->dhead)[-1 - i], NULL);
  atomic_init(&r->dir_height, 1);
  atomic_init(&r->unchained, 0);
  atomic_init(&r->index, NULL);
  *out = r;
  return MT_OK;
}

static void hs_destroy(mt_rep *r) { /* the rest is in the arena */
  mt_free(r->buckets);
  mt_free(atomic_load_explicit(&r->index, memory_order_relaxed));
}

static size_t hs_memory_outside_arena(const mt_rep *r) {
  bool frozen = atomic_load_explicit(&((struct mt_rep *)r)->index, memory_order_acquire) != NULL;
  return sizeof(link) * r->nbuckets + (frozen ? sizeof(slot) * r->nindex : 0);
}

static bool same_key(const struct mt_rep *r, const node *n, mt_slice key) {
  mt_slice k = mt_entry_key(n);
  return r->cmp->compare ? r->cmp->compare(r->cmp->ctx, k, key) == 0
                         : k.len == key.len && (k.len == 0 || memcmp(k.data, key.data, k.len) == 0);
}

/* Frozen: the first position of group g's run whose entry is > (key, seq)
 * (after = true) or >= (key, seq).  REQUIRES: key has g's prefix. */
static size_t index_bound(const struct mt_rep *r, const slot *index, const group *g, mt_slice key,
                          uint64_t seq, bool after) {
  size_t lo = g->first, hi = lo + atomic_load_explicit(&((group *)g)->count, memory_order_relaxed);
  bool fences = !r->cmp->compare; /* they order keys under bytewise order only */
  if (lo == hi) return lo;
  if (fences && g->common > g->plen) {
    const uint8_t *f = mt_entry_key(at(r, index[lo].off)).data;
    if (key.len < g->common || memcmp((const uint8_t *)key.data + g->plen, f + g->plen, g->common - g->plen)) {
      /* the key leaves the bytes the whole group shares: it sorts before or
       * after all of it, as it does against the first entry */
      int c = cmp_node(r, at(r, index[lo].off), key, seq);
      return c < 0 || (after && c == 0) ? hi : lo;
    }
  }
  uint32_t t = fence_of(key, g->common);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint32_t f = index[mid].fence;
    int c = fences && f != t ? (f < t ? -1 : 1) : cmp_node(r, at(r, index[mid].off), key, seq);
    if (c < 0 || (after && c == 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static const uint8_t *hs_get(mt_rep *r, mt_slice key, uint64_t snapshot) {
  group *g = group_lookup(r, key.data, prefix_of(r, key));
  if (!g) return NULL;
  node *n;
  slot *index = atomic_load_explicit(&r->index, memory_order_acquire);
  if (index) { /* frozen: a binary search of the group's run, mostly on fences */
    size_t i = index_bound(r, index, g, key, snapshot, false);
    n = i < g->first + atomic_load_explicit(&g->count, memory_order_relaxed) ? at(r, index[i].off) : NULL;
  } else {
    n = group_find_ge(r, g, key, snapshot, 0, NULL, NULL);
  }
  return n && same_key(r, n, key) ? n : NULL;
}

/* Freeze: the sorted index.  Groups' runs are laid out from their counts,
 * then filled by LANES walks in step, each prefetching its next node. */
static int hs_freeze(mt_rep *r) {
  size_t total = 0;
  for (group *g = dnext(r->dhead, 0); g; g = dnext(g, 0)) {
    g->first = total;
    total += atomic_load_explicit(&g->count, memory_order_relaxed);
    node *a = lnext(r, g, NULL, 0), *z = group_last(r, g);
    size_t c = g->plen;
    if (a) { /* the group is sorted: what its first and last keys share, all do */
      mt_slice ka = mt_entry_key(a), kz = mt_entry_key(z);
      const uint8_t *x = ka.data, *y = kz.data;
      while (c < ka.len && c < kz.len && c < UINT32_MAX && x[c] == y[c]) c++;
    }
    g->common = (uint32_t)c;
  }
  if (total == 0) return MT_OK; /* nothing to index: iterators stay on the lists */
  slot *index = mt_malloc(sizeof *index * total);
  if (!index) return MT_ENOMEM;
  struct lane {
    node *n;
    size_t pos, end, common;
  } lane[LANES];
  int nl = 0;
  group *feed = dnext(r->dhead, 0);
  for (;;) {
    for (; nl < LANES && feed; feed = dnext(feed, 0)) {
      node *n = lnext(r, feed, NULL, 0);
      if (n) lane[nl++] = (struct lane){n, feed->first, feed->first + atomic_load(&feed->count), feed->common};
    }
    if (nl == 0) break;
    for (int i = 0; i < nl;) {
      struct lane *l = &lane[i];
      if (l->pos == l->end) {
        mt_free(index);
        return mt_set_error(MT_ECORRUPT, "hash_skiplist: a group holds more entries than it counted");
      }
      index[l->pos++] = (slot){off_of(r, l->n), fence_of(mt_entry_key(l->n), l->common)};
      l->n = next_acq(r, l->n, 0);
      if (l->n) {
        prefetch(l->n);
        i++;
      } else {
        if (l->pos != l->end) {
          mt_free(index);
          return mt_set_error(MT_ECORRUPT, "hash_skiplist: a group holds fewer entries than it counted");
        }
        lane[i] = lane[--nl];
      }
    }
  }
  r->nindex = total;
  atomic_store_explicit(&r->index, index, memory_order_release); /* after every g->first */
  return MT_OK;
}

static int hs_check(const mt_rep *r) {
  group *prevg = NULL;
  size_t total = 0;
  slot *index = atomic_load(&((struct mt_rep *)r)->index);
  for (int level = 0; level < DIR_LEVELS; level++) {
    group *below = r->dhead;
    prevg = NULL;
    for (group *g = dnext(r->dhead, level); g; g = dnext(g, level)) {
      if (prevg && cmp_prefix(r, prevg, g->prefix, g->plen) >= 0)
        return mt_set_error(MT_ECORRUPT, "hash_skiplist: directory level %d is out of order", level);
      if (level > 0) {
        while (below && below != g) below = dnext(below, level - 1);
        if (!below)
          return mt_set_error(MT_ECORRUPT, "hash_skiplist: a group of directory level %d is missing below", level);
      }
      prevg = g;
    }
  }
  node *last = NULL;
  for (group *g = dnext(r->dhead, 0); g; g = dnext(g, 0)) {
    if (chain_find(r, bucket_of(r, g->prefix, g->plen), g->prefix, g->plen) != g)
      return mt_set_error(MT_ECORRUPT, "hash_skiplist: a group is missing from its bucket chain");
    int height = atomic_load(&g->height);
    int levels = r->max_height > LOW ? r->max_height : LOW; /* head links that exist */
    size_t n0 = 0;
    for (int level = 0; level < levels; level++) {
      node *below = NULL, *prev = NULL;
      for (node *n = lnext(r, g, NULL, level); n; n = next_acq(r, n, level)) {
        if (level >= height)
          return mt_set_error(MT_ECORRUPT, "hash_skiplist: a node above its group's height %d", height);
        if (prev && mt_entry_compare(r->cmp, prev, n) >= 0)
          return mt_set_error(MT_ECORRUPT, "hash_skiplist: group level %d is out of order", level);
        if (level > 0 && (uint32_t)(lraw(g, prev, level) >> 32) != fence_of(mt_entry_key(n), g->plen))
          return mt_set_error(MT_ECORRUPT, "hash_skiplist: a level %d link carries a wrong fence", level);
        if (level > 0) {
          while (below != n && (below = lnext(r, g, below, level - 1)) != NULL) {
          }
          if (!below)
            return mt_set_error(MT_ECORRUPT, "hash_skiplist: a node of level %d is missing below it", level);
        } else {
          mt_slice k = mt_entry_key(n);
          if (prefix_of(r, k) != g->plen || memcmp(k.data, g->prefix, g->plen) != 0)
            return mt_set_error(MT_ECORRUPT, "hash_skiplist: a key outside its group's prefix");
          if (last && mt_entry_compare(r->cmp, last, n) >= 0)
            return mt_set_error(MT_ECORRUPT, "hash_skiplist: groups overlap in key order");
          if (index && r->cmp->compare == NULL && n0 > 0) {
            mt_slice f = mt_entry_key(at(r, index[g->first].off));
            if (k.len < g->common || memcmp(k.data, f.data, g->common) != 0)
              return mt_set_error(MT_ECORRUPT, "hash_skiplist: a key lacks its group's common bytes");
          }
          if (index && (total + n0 >= r->nindex || index[total + n0].off != off_of(r, n) ||
                        index[total + n0].fence != fence_of(k, g->common)))
            return mt_set_error(MT_ECORRUPT, "hash_skiplist: the frozen index differs from the lists");
          last = n;
          n0++;
        }
        prev = n;
      }
    }
    if (n0 != atomic_load(&g->count))
      return mt_set_error(MT_ECORRUPT, "hash_skiplist: a group counts %zu entries and holds %zu",
                          atomic_load(&g->count), n0);
    if (index && g->first != total)
      return mt_set_error(MT_ECORRUPT, "hash_skiplist: a group's index run is misplaced");
    total += n0;
  }
  if (index && total != r->nindex)
    return mt_set_error(MT_ECORRUPT, "hash_skiplist: the index holds %zu entries, the lists %zu",
                        r->nindex, total);
  return MT_OK;
}

/* ---- iterator ----------------------------------------------------------------------------------
 * Two modes, chosen when the iterator is positioned: on the lists (group g,
 * node cur) while active, on the index (pos) once it is published. */

struct mt_rep_iter {
  const struct mt_rep *r;
  slot *index; /* non-NULL: index mode */
  size_t pos;   /* index mode: >= nindex is invalid */
  group *g;     /* list mode: the group of cur */
  node *cur;    /* list mode: NULL is invalid */
};

static int it_new(mt_rep_iter **out, mt_rep *r) {
  mt_rep_iter *it = mt_malloc(sizeof *it);
  if (!it) return MT_ENOMEM;
  it->r = r;
  it->index = NULL;
  it->pos = 0;
  it->g = NULL;
  it->cur = NULL;
  *out = it;
  return MT_OK;
}
static void it_free(mt_rep_iter *it) { mt_free(it); }

static bool use_index(mt_rep_iter *it) {
  it->index = atomic_load_explicit(&((struct mt_rep *)it->r)->index, memory_order_acquire);
  return it->index != NULL;
}

/* List mode: n in g, or the first entry of a later group if n is NULL. */
static void settle_forward(mt_rep_iter *it, group *g, node *n) {
  const struct mt_rep *r = it->r;
  while (!n) {
    g = dnext(g, 0);
    if (!g) {
      it->cur = NULL;
      return;
    }
    n = lnext(r, g, NULL, 0);
  }
  it->g = g, it->cur = n;
}

/* List mode: the last entry of g, or of an earlier group if g is empty. */
static void settle_backward(mt_rep_iter *it, group *g) {
  for (; g != it->r->dhead; g = dir_find_lt(it->r, g->prefix, g->plen)) {
    node *n = group_last(it->r, g);
    if (n) {
      it->g = g, it->cur = n;
      return;
    }
  }
  it->cur = NULL;
}

static void it_first(mt_rep_iter *it) {
  if (use_index(it)) it->pos = 0;
  else settle_forward(it, it->r->dhead, NULL);
}

static void it_last(mt_rep_iter *it) {
  if (use_index(it)) it->pos = it->r->nindex - 1; /* nindex > 0 whenever there is an index */
  else settle_backward(it, dir_last(it->r));
}


static void it_seek(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  const struct mt_rep *r = it->r;
  bool exact;
  group *g = group_at_or_after(r, key.data, prefix_of(r, key), &exact);
  if (use_index(it)) {
    if (!g) it->pos = r->nindex;
    else if (!exact) it->pos = g->first;
    else it->pos = index_bound(r, it->index, g, key, seq, false);
    return;
  }
  if (!g) it->cur = NULL;
  else settle_forward(it, g, exact ? group_find_ge(r, g, key, seq, 0, NULL, NULL) : lnext(r, g, NULL, 0));
}

static void it_seek_for_prev(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  const struct mt_rep *r = it->r;
  const uint8_t *p = key.data;
  size_t pn = prefix_of(r, key);
  bool exact;
  group *g = group_at_or_after(r, p, pn, &exact);
  if (use_index(it)) {
    size_t end; /* entries before position `end` are <= (key, seq) */
    if (exact) {
      end = index_bound(r, it->index, g, key, seq, true);
    } else {
      group *b = dir_find_lt(r, p, pn);
      end = b == r->dhead ? 0 : b->first + atomic_load_explicit(&b->count, memory_order_relaxed);
    }
    it->pos = end ? end - 1 : r->nindex;
    return;
  }
  if (exact) {
    node *x = group_find_lt(r, g, key, seq);
    node *n = lnext(r, g, x, 0);
    if (n && cmp_node(r, n, key, seq) == 0) x = n;
    if (x) {
      it->g = g, it->cur = x;
      return;
    }
  }
  settle_backward(it, dir_find_lt(r, p, pn));
}

static void it_next(mt_rep_iter *it) {
  if (it->index) {
    size_t ahead = ++it->pos + AHEAD;
    if (ahead < it->r->nindex) {
      const uint8_t *e = at(it->r, it->index[ahead].off);
      __builtin_prefetch(e);
      __builtin_prefetch(e + 64);
    }
    return;
  }
  settle_forward(it, it->g, next_acq(it->r, it->cur, 0));
}

static void it_prev(mt_rep_iter *it) {
  if (it->index) {
    it->pos = it->pos ? it->pos - 1 : it->r->nindex;
    return;
  }
  node *x = group_find_lt(it->r, it->g, mt_entry_key(it->cur), mt_entry_seq(it->cur));
  if (x) it->cur = x;
  else settle_backward(it, dir_find_lt(it->r, it->g->prefix, it->g->plen));
}

static const uint8_t *it_entry(const mt_rep_iter *it) {
  if (it->index) return it->pos < it->r->nindex ? at(it->r, it->index[it->pos].off) : NULL;
  return it->cur;
}

const mt_rep_ops mt_rep_hash_skiplist = {
    .version = MT_REP_OPS_VERSION,
    .name = "hash_skiplist",
    .caps = MT_CAP_CONCURRENT_INSERT,
    .params = hs_params,
    .nparams = sizeof hs_params / sizeof hs_params[0],
    .help = "prefix-hashed skip lists: point reads touch one prefix group; "
            "prefix seeks are cheap; never degenerates",
    .create = hs_create,
    .destroy = hs_destroy,
    .insert = hs_insert,
    .insert_concurrent = hs_insert,
    .get = hs_get,
    .iter_new = it_new,
    .iter_free = it_free,
    .iter_seek_to_first = it_first,
    .iter_seek_to_last = it_last,
    .iter_seek = it_seek,
    .iter_seek_for_prev = it_seek_for_prev,
    .iter_next = it_next,
    .iter_prev = it_prev,
    .iter_entry = it_entry,
    .freeze = hs_freeze,
    .memory_outside_arena = hs_memory_outside_arena,
    .check = hs_check,
};
