/* skiplist.c -- the default rep: a lock-free skip list with inline nodes.
 *
 * Layout: a node is one arena allocation, [next[h-1] .. next[0]][entry]:
 * the links sit right before the encoded entry, so a node pointer is the
 * entry's address and link i is at ((link *)node)[-1 - i].  Comparing a node
 * and following its lowest links touch the same cache line.  A link is a
 * 32-bit offset from the arena's base in 4-byte units (0 = none): half the
 * size of a pointer, so nodes are smaller and more of them stay in cache.
 *
 * Thread safety:
 *  - Readers (get, iterators) take no lock.  They load links with acquire.
 *  - Writers insert by CAS, level by level from the bottom: a node is
 *    visible at level 0 before any higher level, and its own links are
 *    written (relaxed) before the CAS that publishes it (release), so a
 *    reader that reaches a node sees its entry and links initialised.
 *  - One writer thread owns the remembered insert position (the splice):
 *    the first to insert claims it by CAS on splice_owner and keeps it, so
 *    a steady writer pays no atomic read-modify-write for it; other threads
 *    search from the head.  The splice is a hint: every link it proposes is
 *    checked against the key and every publication is a CAS.
 *
 * Invariants (check_list verifies them):
 *  1. Level 0 holds every node, in strictly increasing internal-key order.
 *  2. Level i+1 is a subsequence of level i.
 *  3. height (the levels in use) never decreases; links above it are NULL.
 *  4. No two nodes compare equal: an equal (key, seq) is MT_EEXIST.
 */
#include <memtable/rep.h>

#include <stdatomic.h>
#include <stdlib.h>

#define MAX_LEVELS 32

typedef uint8_t node; /* the entry; links precede it */
typedef _Atomic uint32_t link; /* offset from base / 4; 0 = none */

static const mt_rep_param sl_params[] = {
    {"max_height", MT_PARAM_INT, 12, 1, MAX_LEVELS, "levels a node may have"},
    {"branching", MT_PARAM_INT, 4, 2, 16, "1/branching of the nodes of a level reach the next"},
};

struct mt_rep {
  const mt_comparator *cmp;
  mt_arena *arena;
  uint8_t *base; /* the arena's */
  node *head;
  int max_height;
  uint32_t branching;
  _Atomic int height;
  /* remembered insert position (the splice), used only by its owner thread */
  _Atomic(const void *) splice_owner;
  unsigned splice_misses;
  node *splice[MAX_LEVELS];
};

static inline link *links(node *n) { return (link *)n; }
static inline node *at(const struct mt_rep *sl, uint32_t off) {
  return off ? sl->base + ((size_t)off << 2) : NULL;
}
static inline uint32_t off_of(const struct mt_rep *sl, const node *n) {
  return n ? (uint32_t)((size_t)(n - sl->base) >> 2) : 0;
}
/* acquire: the node's entry and links were written before its release CAS */
static inline node *next_acq_(const struct mt_rep *sl, node *n, int level) {
  return at(sl, atomic_load_explicit(&links(n)[-1 - level], memory_order_acquire));
}
#define next_acq(n, level) next_acq_(sl, (n), (level))

/* ---- comparison ----------------------------------------------------------- */

/* node against the target (key, seq): internal-key order */
static inline int cmp_node(const struct mt_rep *sl, const node *n, mt_slice key, uint64_t seq) {
  return mt_entry_compare_key(sl->cmp, n, key, seq);
}

static inline void prefetch(const node *n) {
  if (n) __builtin_prefetch(n - 8);
}

/* ---- search ------------------------------------------------------------------ */

/* The first node >= (key, seq), or NULL.  With prev, records at every level
 * below `levels` the last node < target (prev) and the one after it (next). */
static node *find_ge(const struct mt_rep *sl, mt_slice key, uint64_t seq, int levels,
                     node **prev, node **next) {
  node *x = sl->head, *bigger = NULL;
  int level = atomic_load_explicit(&sl->height, memory_order_relaxed) - 1;
  for (int i = level + 1; prev && i < levels; i++) prev[i] = sl->head, next[i] = NULL;
  for (;;) {
    node *n = next_acq(x, level);
    if (n != bigger && n && cmp_node(sl, n, key, seq) < 0) {
      x = n;
      if (level > 0) prefetch(next_acq(x, level - 1)); /* overlap the miss one level down */
      continue;
    }
    bigger = n;
    if (prev) prev[level] = x, next[level] = n;
    if (level == 0) return n;
    level--;
  }
}

/* The last node < (key, seq), or the head. */
static node *find_lt(const struct mt_rep *sl, mt_slice key, uint64_t seq) {
  node *x = sl->head, *bigger = NULL;
  for (int level = atomic_load_explicit(&sl->height, memory_order_relaxed) - 1; level >= 0;) {
    node *n = next_acq(x, level);
    if (n != bigger && n && cmp_node(sl, n, key, seq) < 0) {
      x = n;
    } else {
      bigger = n;
      level--;
    }
  }
  return x;
}

static node *find_last(const struct mt_rep *sl) {
  node *x = sl->head;
  for (int level = atomic_load_explicit(&sl->height, memory_order_relaxed) - 1; level >= 0;) {
    node *n = next_acq(x, level);
    if (n) x = n;
    else level--;
  }
  return x;
}

/* ---- insert ------------------------------------------------------------------ */

static int random_height(const struct mt_rep *sl) {
  static _Thread_local uint64_t s;
  if (!s) s = (uint64_t)(uintptr_t)&s * 0x9e3779b97f4a7c15ULL | 1;
  int h = 1;
  for (;;) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17; /* xorshift64 */
    if (h >= sl->max_height || (uint32_t)(s >> 32) % sl->branching) return h;
    h++;
  }
}

/* Moves prev along `level` until its successor is >= target. */
static void advance(const struct mt_rep *sl, mt_slice key, uint64_t seq, int level, node **prev,
                    node **next) {
  node *n = next_acq(*prev, level);
  while (n && cmp_node(sl, n, key, seq) < 0) {
    *prev = n;
    n = next_acq(n, level);
  }
  *next = n;
}

/* Fills prev/next below `levels` from the remembered splice if the target
 * lies right after the last insert; false if it does not. */
static bool from_splice(struct mt_rep *sl, mt_slice key, uint64_t seq, int levels, node **prev,
                        node **next) {
  node *p0 = sl->splice[0];
  if (p0 != sl->head && cmp_node(sl, p0, key, seq) >= 0) return false;
  node *n0 = next_acq(p0, 0);
  if (n0 && cmp_node(sl, n0, key, seq) < 0) return false;
  prev[0] = p0, next[0] = n0;
  for (int i = 1; i < levels; i++) {
    prev[i] = sl->splice[i];
    node *n = next_acq(prev[i], i);
    if (n == NULL || n == n0) next[i] = n; /* single writer: always so */
    else advance(sl, key, seq, i, &prev[i], &next[i]);
  }
  return true;
}

static int sl_insert(mt_rep *sl, const mt_new_entry *e) {
  node *prev[MAX_LEVELS], *next[MAX_LEVELS];
  int h = random_height(sl);
  int cur = atomic_load_explicit(&sl->height, memory_order_relaxed);
  int levels = h > cur ? h : cur;
  static _Thread_local char me; /* this thread's token: its address */
  const void *owner = atomic_load_explicit(&sl->splice_owner, memory_order_relaxed);
  bool own_splice = owner == &me ||
                    (owner == NULL && atomic_compare_exchange_strong(&sl->splice_owner, &owner, &me));
  bool hinted = false;
  if (own_splice && (sl->splice_misses < 4 || (sl->splice_misses & 63) == 0)) {
    hinted = from_splice(sl, e->key, e->seq, levels, prev, next);
    sl->splice_misses = hinted ? 0 : sl->splice_misses + 1;
  } else if (own_splice) {
    sl->splice_misses++;
  }
  if (!hinted) find_ge(sl, e->key, e->seq, levels, prev, next);

  if (next[0] && cmp_node(sl, next[0], e->key, e->seq) == 0) return MT_EEXIST;
  uint8_t *mem = mt_arena_alloc_entry(sl->arena, e, sizeof(link) * (size_t)h, sizeof(link));
  if (!mem) return MT_ENOMEM;
  node *x = mem + sizeof(link) * (size_t)h;
  while (cur < h && !atomic_compare_exchange_weak_explicit(&sl->height, &cur, h, memory_order_relaxed,
                                                           memory_order_relaxed)) {
  }
  uint32_t xoff = off_of(sl, x);
  for (int i = 0; i < h; i++) {
    for (;;) {
      atomic_store_explicit(&links(x)[-1 - i], off_of(sl, next[i]), memory_order_relaxed);
      uint32_t expect = off_of(sl, next[i]);
      if (atomic_compare_exchange_strong_explicit(&links(prev[i])[-1 - i], &expect, xoff,
                                                  memory_order_release, memory_order_relaxed))
        break;
      /* another writer linked a node here first: search this level again */
      advance(sl, e->key, e->seq, i, &prev[i], &next[i]);
      if (i == 0 && next[0] && cmp_node(sl, next[0], e->key, e->seq) == 0)
        return MT_EEXIST; /* a racing insert of the same (key, seq) won */
    }
  }
  if (own_splice) {
    for (int i = 0; i < h; i++) sl->splice[i] = x;
    for (int i = h; i < levels; i++) sl->splice[i] = prev[i];
  }
  return MT_OK;
}

/* ---- lifecycle and reads -------------------------------------------------------- */

static int sl_create(mt_rep **out, const mt_rep_init *init) {
  struct mt_rep *sl = mt_arena_alloc(init->arena, sizeof *sl, 64);
  if (!sl) return MT_ENOMEM;
  memset(sl, 0, sizeof *sl);
  sl->cmp = init->cmp;
  sl->arena = init->arena;
  sl->base = mt_arena_base(init->arena); /* sl itself sits there: no node has offset 0 */
  sl->max_height = (int)init->params[0];
  sl->branching = (uint32_t)init->params[1];
  uint8_t *h = mt_arena_alloc(init->arena, sizeof(link) * MAX_LEVELS, 64);
  if (!h) return MT_ENOMEM;
  sl->head = h + sizeof(link) * MAX_LEVELS;
  for (int i = 0; i < MAX_LEVELS; i++) {
    atomic_init(&links(sl->head)[-1 - i], 0);
    sl->splice[i] = sl->head;
  }
  atomic_init(&sl->height, 1);
  atomic_init(&sl->splice_owner, NULL);
  *out = sl;
  return MT_OK;
}

static void sl_destroy(mt_rep *sl) { (void)sl; /* everything is in the arena */ }

static const uint8_t *sl_get(mt_rep *sl, mt_slice key, uint64_t snapshot) {
  node *n = find_ge(sl, key, snapshot, 0, NULL, NULL);
  if (!n) return NULL;
  mt_slice k = mt_entry_key(n);
  bool same = sl->cmp->compare ? sl->cmp->compare(sl->cmp->ctx, k, key) == 0
                               : k.len == key.len && (!k.len || memcmp(k.data, key.data, k.len) == 0);
  return same ? n : NULL;
}

static int sl_check(const mt_rep *sl) {
  int height = atomic_load(&sl->height);
  for (int level = 0; level < MAX_LEVELS; level++) {
    node *below = sl->head, *prev = NULL;
    for (node *n = next_acq(sl->head, level); n; n = next_acq(n, level)) {
      if (level >= height)
        return mt_set_error(MT_ECORRUPT, "skiplist: level %d above height %d has a node", level, height);
      if (prev && mt_entry_compare(sl->cmp, prev, n) >= 0)
        return mt_set_error(MT_ECORRUPT, "skiplist: level %d is out of order", level);
      if (level > 0) { /* n must appear on the level below, after `below` */
        while (below && below != n) below = next_acq(below, level - 1);
        if (!below)
          return mt_set_error(MT_ECORRUPT, "skiplist: a node of level %d is missing below it", level);
      }
      prev = n;
    }
  }
  return MT_OK;
}

/* ---- iterator ---------------------------------------------------------------------- */

struct mt_rep_iter {
  const struct mt_rep *sl;
  node *cur; /* NULL: invalid */
};

static int it_new(mt_rep_iter **out, mt_rep *sl) {
  mt_rep_iter *it = mt_malloc(sizeof *it);
  if (!it) return MT_ENOMEM;
  it->sl = sl;
  it->cur = NULL;
  *out = it;
  return MT_OK;
}
static void it_free(mt_rep_iter *it) { mt_free(it); }
static void it_first(mt_rep_iter *it) {
  const struct mt_rep *sl = it->sl;
  it->cur = next_acq(sl->head, 0);
}
static void it_last(mt_rep_iter *it) {
  node *n = find_last(it->sl);
  it->cur = n == it->sl->head ? NULL : n;
}
static void it_seek(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  it->cur = find_ge(it->sl, key, seq, 0, NULL, NULL);
}
static void it_seek_for_prev(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  const struct mt_rep *sl = it->sl;
  node *x = find_lt(sl, key, seq), *n = next_acq(x, 0);
  if (n && cmp_node(it->sl, n, key, seq) == 0) x = n;
  it->cur = x == it->sl->head ? NULL : x;
}
static void it_next(mt_rep_iter *it) {
  const struct mt_rep *sl = it->sl;
  it->cur = next_acq(it->cur, 0);
  prefetch(it->cur); /* the caller reads it next; start the miss now */
}
static void it_prev(mt_rep_iter *it) {
  mt_slice k = mt_entry_key(it->cur);
  node *x = find_lt(it->sl, k, mt_entry_seq(it->cur));
  it->cur = x == it->sl->head ? NULL : x;
}
static const uint8_t *it_entry(const mt_rep_iter *it) { return it->cur; }

const mt_rep_ops mt_rep_skiplist = {
    .version = MT_REP_OPS_VERSION,
    .name = "skiplist",
    .caps = MT_CAP_CONCURRENT_INSERT,
    .params = sl_params,
    .nparams = sizeof sl_params / sizeof sl_params[0],
    .help = "lock-free skip list: concurrent inserts, the all-round default",
    .create = sl_create,
    .destroy = sl_destroy,
    .insert = sl_insert,
    .insert_concurrent = sl_insert,
    .get = sl_get,
    .iter_new = it_new,
    .iter_free = it_free,
    .iter_seek_to_first = it_first,
    .iter_seek_to_last = it_last,
    .iter_seek = it_seek,
    .iter_seek_for_prev = it_seek_for_prev,
    .iter_next = it_next,
    .iter_prev = it_prev,
    .iter_entry = it_entry,
    .check = sl_check,
};
