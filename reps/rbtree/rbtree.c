/* rbtree.c -- a threaded red-black tree with intrusive 20-byte node
 * headers and optimistic readers.
 *
 * Layout.  A node is one arena allocation, [header][entry]:
 *
 *     next | next2 | parent+colour | left | right | entry (varint klen, key..)
 *     4      4       4               4      4
 *
 * The children sit right before the key they lead to compare, so a descent
 * touches one line per node, or two adjacent ones that it prefetches
 * together.  next threads the nodes in order (an iterator's next is one
 * load); next2 is the node after next, kept exact, so a scan prefetches
 * two nodes ahead and waits for about half of its misses.  A link is not a
 * pointer but a 31-bit offset from the arena's base (rep.h: every
 * allocation of the arena lies in one reserved range) in 4-byte units,
 * nodes being 4-byte aligned:
 *
 *     bit 31                     bits 30..0
 *     colour, 1 = red            (node - mt_arena_base) / 4
 *     (in the parent word only)
 *
 * 31 bits reach 8 GiB of the arena: an insert whose node would lie beyond
 * fails with MT_ENOMEM (contract 7: nothing changes).  Link 0 is nil:
 * offset 0 holds the arena's first allocation, made before any node (the
 * rep's own struct, at the latest).
 *
 * Thread safety:
 *  - Inserts are serialised by core (no MT_CAP_CONCURRENT_INSERT).  The
 *    writer reads the tree without synchronisation: nobody else changes it.
 *  - Readers (get, iterators) are optimistic: they read `seq`, walk the
 *    tree, and keep the result only if `seq` did not change (a seqlock).
 *    Only rotations bump `seq`: linking a new leaf and recolouring never
 *    make a walk wrong (a reader sees the new leaf or not; readers ignore
 *    colours), so most walks succeed at the first try even while inserts
 *    run.  A walk is bounded (MAX_STEPS): a torn view during a rotation can
 *    revisit nodes but never loops forever.
 *  - After OPTIMISTIC_TRIES failed walks, or when a rotation is in progress,
 *    a reader takes `lock` shared; the writer holds it exclusive (writer
 *    preferred) around the rotations of one insert only.  So a reader waits
 *    at most for the rotations of one insert.
 *  - Nodes never move and are never freed while the memtable lives, so an
 *    iterator keeps only its node between calls.  next follows the thread,
 *    which needs no seqlock: the thread changes only by linking a new node
 *    in (its own next set first, then its predecessor's next, release), so
 *    every value a reader loads is a successor the tree had at some
 *    instant.  prev recomputes the in-order predecessor in the current tree
 *    from the parent links, under the seqlock.  next2 is only a prefetch
 *    hint to readers: any value it holds is harmless.
 *
 * Memory orders.  Every link store is a release store and every reader's
 * link load an acquire load: a node's header and entry are written before
 * the first link to it, so a reader that loads a link sees the node it
 * names.  The seqlock needs no fences because of that: the writer stores
 * `seq = odd` before the rotations and `seq = even` (release) after; a
 * reader loads `seq` (acquire) before its walk and again after it.  If the
 * walk loaded any link a rotation stored, that release store carried the
 * odd `seq` with it (it was sequenced before), so the second load sees odd
 * or later and the walk is retried; if the walk loaded only older links,
 * it saw the tree as it was before the rotation: consistent.  And no load
 * of the walk can move past the second `seq` load: each is an acquire.
 * The lock orders the pessimistic path by itself.
 *
 * Red-black properties (check verifies all of them, plus 6-8):
 *  1. Every node is red or black.
 *  2. The root is black.
 *  3. A red node has no red child.
 *  4. Every path from a node down to a nil link crosses the same number of
 *     black nodes (the black height).
 *  5. Nil links count as black.
 *  6. In-order traversal is strictly increasing in internal-key order (no
 *     two entries compare equal: an equal (key, seq) is MT_EEXIST).
 *  7. parent(child(x)) == x for every link; the root's parent is nil.
 *  8. The number of nodes is the number of successful inserts.
 * 2-4 bound the height by 2 log2(n + 1): at most 62 for 2^31 nodes.
 *
 * Insert (lower case red, upper case black, a..c subtrees of equal black
 * height).  n is the new red leaf or the node the last step made red; p its
 * parent, g the grandparent, u the uncle.  Drawn with p a left child; the
 * mirror cases swap left and right.
 *
 *  Case 1: n is the root.  Paint it black (the black height grows by one).
 *
 *  Case 2: p is black.  Nothing is broken; done.
 *
 *  Case 3: p and u are red.  Flip colours; g may now break property 3
 *  with its own parent: continue from g.
 *
 *            G                 g   <- n
 *           / \               / \
 *          p   u     -->     P   U
 *         /                 /
 *        n                 n
 *
 *  Case 4: u is black, n is the inner child.  Rotate left at p; now the
 *  old p is the outer child of the old n: continue with case 5.
 *
 *            G                 G
 *           / \               / \
 *          p   U     -->     n   U
 *         / \               / \
 *        a   n             p   c
 *           / \           / \
 *          b   c         a   b
 *
 *  Case 5: u is black, n is the outer child.  Rotate right at g, paint p
 *  black and g red; done (at most two rotations per insert).
 *
 *            G                 P
 *           / \               / \
 *          p   U     -->     n   g
 *         / \                   / \
 *        n   c                 c   U
 *
 * Rotations (left at x; right is the mirror).  x->right = b, y->left = x,
 * and x's parent (or the root) points at y; the parent links of b, x and y
 * follow.  In-order stays a x b y c, so the thread is untouched:
 *
 *          x                   y
 *         / \                 / \
 *        a   y       -->     x   c
 *           / \             / \
 *          b   c           a   b
 *
 * The thread.  The new node n lies between pred (the last node at which
 * the descent turned right, NIL if n is the first) and succ (the last at
 * which it turned left).  n->next = succ, n->next2 = succ->next, then pred->next2 =
 * succ and pred->next = n, and the node before pred, pp, gets next2 = n.
 * pp is the rightmost node of pred's left subtree or, if pred has no left
 * child, the right turn the descent took before pred.
 *
 *     pp --> pred --> succ --> ss        pp --> pred --> n --> succ --> ss
 *
 * Iteration.  next(x) = x->next.  prev(x): if x has a left child, the
 * rightmost node of that subtree; else climb while x is a left child, the
 * parent is prev.  Each link is crossed twice in a full backward scan, so
 * prev is O(1) amortized.
 */
#include <memtable/rep.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

typedef uint32_t link_t;

#define NIL ((link_t)0)
#define RED ((uint32_t)1 << 31)
#define UNIT_SHIFT 2 /* nodes are 4-byte aligned */
#define MAX_OFFSET ((uint64_t)RED << UNIT_SHIFT) /* 8 GiB: what 31 bits reach */
#define MAX_STEPS 256   /* > 2 * the height bound: more means a torn view */
#define OPTIMISTIC_TRIES 2

typedef struct node {
  _Atomic link_t next;     /* the in-order successor: the thread */
  _Atomic link_t next2;    /* the successor's successor, for prefetching */
  _Atomic uint32_t up;     /* parent link | RED when red */
  _Atomic link_t child[2]; /* left, right: next to the key they lead to compare */
} node;

struct mt_rep {
  const mt_comparator *cmp;
  mt_arena *arena;
  _Atomic link_t root;
  _Atomic link_t first; /* the head of the thread: the smallest node */
  _Atomic uint32_t seq; /* odd while the writer rotates */
  uint8_t *base;        /* mt_arena_base: link l is the node at base + 4 l */
  uint64_t count;       /* nodes in the tree (writer only; check reads it) */
  pthread_rwlock_t lock;
};

/* ---- links ---------------------------------------------------------------- */

static inline node *N(const struct mt_rep *t, link_t l) {
  return (node *)(t->base + ((uintptr_t)l << UNIT_SHIFT));
}
static inline const uint8_t *entry_of(const node *n) { return (const uint8_t *)(n + 1); }

static inline link_t acq_child(const node *n, int d) {
  return atomic_load_explicit(&n->child[d], memory_order_acquire);
}
static inline link_t acq_parent(const node *n) {
  return atomic_load_explicit(&n->up, memory_order_acquire) & ~RED;
}

/* The writer's own view: relaxed is enough, nobody else stores. */
static inline link_t child_of(const node *n, int d) {
  return atomic_load_explicit(&n->child[d], memory_order_relaxed);
}
static inline link_t parent_of(const node *n) {
  return atomic_load_explicit(&n->up, memory_order_relaxed) & ~RED;
}
static inline bool is_red(const node *n) {
  return atomic_load_explicit(&n->up, memory_order_relaxed) & RED;
}
static inline void set_child(node *n, int d, link_t c) {
  atomic_store_explicit(&n->child[d], c, memory_order_release);
}
static inline void set_parent(node *n, link_t p) {
  uint32_t colour = atomic_load_explicit(&n->up, memory_order_relaxed) & RED;
  atomic_store_explicit(&n->up, p | colour, memory_order_release);
}
static inline void set_red(node *n, bool red) {
  uint32_t up = atomic_load_explicit(&n->up, memory_order_relaxed) & ~RED;
  atomic_store_explicit(&n->up, up | (red ? RED : 0), memory_order_release);
}

/* The link of a new node at p; NIL when p lies beyond what a link reaches. */
static link_t encode(const struct mt_rep *t, const void *p) {
  uint64_t off = (uint64_t)((const uint8_t *)p - t->base);
  return off < MAX_OFFSET ? (link_t)(off >> UNIT_SHIFT) : NIL;
}

/* ---- comparison ------------------------------------------------------------- */

/* Node entry against the target (key, seq) in internal-key order. */
static inline int cmp_node(const struct mt_rep *t, const node *n, mt_slice key, uint64_t seq) {
  const uint8_t *e = entry_of(n);
  if (t->cmp->compare) return mt_entry_compare_key(t->cmp, e, key, seq);
  uint32_t klen;
  const uint8_t *k = e[0] < 128 ? (klen = e[0], e + 1) : mt_varint32_(e, &klen);
  int c = mt_bytewise_compare(k, klen, key.data, key.len);
  if (c) return c;
  uint64_t tr;
  memcpy(&tr, k + klen, 8);
  uint64_t s = tr >> 8;
  return s > seq ? -1 : s < seq;
}

/* ---- the read protocol --------------------------------------------------------- */

typedef struct reader {
  struct mt_rep *t;
  uint32_t seq;
  int tries;
  bool locked;
} reader;

static void read_start(reader *r) {
  for (;;) {
    r->seq = atomic_load_explicit(&r->t->seq, memory_order_acquire);
    if (!(r->seq & 1) && r->tries < OPTIMISTIC_TRIES) return;
    if (pthread_rwlock_rdlock(&r->t->lock) == 0) {
      r->locked = true;
      return;
    }
    /* EAGAIN (the reader count is full): stay optimistic, wait for even */
    if (!(r->seq & 1)) return;
    sched_yield();
  }
}
static void read_begin(reader *r, const struct mt_rep *t) {
  r->t = (struct mt_rep *)t; /* the lock is the only thing a reader writes */
  r->tries = 0;
  r->locked = false;
  read_start(r);
}
/* True when the walk just made stands (ok: it ended within MAX_STEPS);
 * false to walk again. */
static bool read_end(reader *r, bool ok) {
  if (r->locked) {
    pthread_rwlock_unlock(&r->t->lock);
    return true; /* under the lock no rotation runs: ok holds */
  }
  /* no fence: every load of the walk was an acquire (see the top) */
  if (ok && !(r->seq & 1) && atomic_load_explicit(&r->t->seq, memory_order_relaxed) == r->seq)
    return true;
  r->tries++;
  read_start(r);
  return false;
}

/* ---- walks (readers) ------------------------------------------------------------- */

/* Starts loading the node l names: the header and the key after it may
 * straddle two lines.  Always inlined: GCC's IPA takes a function whose only
 * effect is a prefetch for const and deletes the calls. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void prefetch(const struct mt_rep *t, link_t l) {
  if (!l) return;
  const char *p = (const char *)N(t, l);
  __builtin_prefetch(p);
  __builtin_prefetch(p + 36); /* the key's last byte of a 16-byte key */
}

/* The first node >= (key, seq) (lower) or the last node <= it (!lower).
 * Both children are prefetched before the compare: the line of the one
 * taken is on its way while the key is compared.  above: the three
 * previous best nodes, nearest first (NIL-padded): the ancestors an
 * iterator reaches next after the subtree below the result. */
static inline link_t walk_bound(const struct mt_rep *t, mt_slice key, uint64_t seq, bool lower,
                                bool *ok, link_t above[3]) {
  link_t x = atomic_load_explicit(&t->root, memory_order_acquire), best = NIL;
  above[0] = above[1] = above[2] = NIL;
  for (int steps = 0; x; steps++) {
    if (steps == MAX_STEPS) return *ok = false, NIL;
    const node *n = N(t, x);
    link_t kids[2] = {acq_child(n, 0), acq_child(n, 1)};
    prefetch(t, kids[0]);
    prefetch(t, kids[1]);
    int c = cmp_node(t, n, key, seq);
    int d = lower ? c < 0 : c <= 0; /* the side to go on */
    if (d != lower) { /* x is the best so far */
      above[2] = above[1], above[1] = above[0], above[0] = best;
      best = x;
    }
    x = kids[d];
  }
  *ok = true;
  return best;
}

/* The outermost node on side d (0: first, 1: last) below x.  Each node
 * passed is visited later, then its subtree on the other side: prefetch
 * that now, so an in-order walk waits only for the chains on side d. */
static link_t walk_edge(const struct mt_rep *t, link_t x, int d, int *steps) {
  if (!x) return NIL;
  for (;;) {
    const node *n = N(t, x);
    link_t c = acq_child(n, d);
    prefetch(t, acq_child(n, !d));
    if (!c) return x;
    x = c;
    if (++*steps >= MAX_STEPS) return NIL;
  }
}

/* The in-order neighbour of x on side d (1: next, 0: prev), or NIL. */
static link_t walk_step(const struct mt_rep *t, link_t x, int d, bool *ok) {
  int steps = 0;
  const node *n = N(t, x);
  link_t c = acq_child(n, d), p;
  if (c) {
    link_t r = walk_edge(t, c, !d, &steps);
    *ok = steps < MAX_STEPS;
    return r;
  }
  while ((p = acq_parent(n)) != NIL) {
    n = N(t, p);
    link_t pc = acq_child(n, d);
    if (pc != x) {
      prefetch(t, pc); /* the next step goes there */
      break;
    }
    x = p;
    if (++steps == MAX_STEPS) return *ok = false, NIL;
  }
  *ok = true;
  return p;
}

/* ---- insert (the writer) ----------------------------------------------------------- */

static void rotate_begin(struct mt_rep *t, bool *locked) {
  if (*locked) return;
  pthread_rwlock_wrlock(&t->lock);
  uint32_t s = atomic_load_explicit(&t->seq, memory_order_relaxed);
  /* relaxed: the release store of each link the rotation moves orders it */
  atomic_store_explicit(&t->seq, s + 1, memory_order_relaxed);
  *locked = true;
}

static void rotate_end(struct mt_rep *t, bool locked) {
  if (!locked) return;
  uint32_t s = atomic_load_explicit(&t->seq, memory_order_relaxed);
  atomic_store_explicit(&t->seq, s + 1, memory_order_release); /* after every link moved */
  pthread_rwlock_unlock(&t->lock);
}

/* Rotates at x so that x goes down to side d (d = 0: a left rotation). */
static void rotate(struct mt_rep *t, link_t xl, int d) {
  node *x = N(t, xl);
  link_t yl = child_of(x, !d), bl, pl = parent_of(x);
  node *y = N(t, yl);
  bl = child_of(y, d);
  set_child(x, !d, bl);
  if (bl) set_parent(N(t, bl), xl);
  set_child(y, d, xl);
  if (!pl) atomic_store_explicit(&t->root, yl, memory_order_release);
  else {
    node *p = N(t, pl);
    set_child(p, child_of(p, 1) == xl, yl);
  }
  set_parent(y, pl);
  set_parent(x, yl);
}

/* Restores properties 2 and 3 after n, red, was linked (cases 1-5 above). */
static void insert_fixup(struct mt_rep *t, link_t nl) {
  bool locked = false;
  for (;;) {
    node *n = N(t, nl);
    link_t pl = parent_of(n);
    if (!pl) { /* case 1 */
      set_red(n, false);
      break;
    }
    node *p = N(t, pl);
    if (!is_red(p)) break; /* case 2 */
    link_t gl = parent_of(p); /* p is red, so not the root */
    node *g = N(t, gl);
    int pd = child_of(g, 1) == pl; /* the side p hangs on */
    link_t ul = child_of(g, !pd);
    if (ul && is_red(N(t, ul))) { /* case 3 */
      set_red(p, false);
      set_red(N(t, ul), false);
      set_red(g, true);
      nl = gl;
      continue;
    }
    rotate_begin(t, &locked);
    if (child_of(p, !pd) == nl) { /* case 4: inner child */
      rotate(t, pl, pd);
      link_t tmp = pl;
      pl = nl, nl = tmp;
      p = N(t, pl);
    }
    rotate(t, gl, !pd); /* case 5 */
    set_red(p, false);
    set_red(g, true);
    break;
  }
  rotate_end(t, locked);
}

/* Links n into the thread between pred and succ (NIL at the ends) and
 * points the two nodes before it past it in next2.  The predecessor of pred
 * is the rightmost node of pred's left subtree or, without one, `before`:
 * the right turn above pred on the path to n. */
static void link_thread(struct mt_rep *t, link_t nl, link_t pred, link_t before, link_t succ) {
  if (!pred) {
    atomic_store_explicit(&t->first, nl, memory_order_release);
    return;
  }
  node *p = N(t, pred);
  atomic_store_explicit(&p->next2, succ, memory_order_relaxed); /* a hint: any order */
  atomic_store_explicit(&p->next, nl, memory_order_release);      /* publishes n */
  link_t pp = child_of(p, 0);
  if (pp)
    for (link_t r; (r = child_of(N(t, pp), 1)) != NIL;) pp = r;
  else pp = before;
  if (pp) atomic_store_explicit(&N(t, pp)->next2, nl, memory_order_relaxed);
}

static int rb_insert(mt_rep *t, const mt_new_entry *e) {
  link_t pl = NIL, x = atomic_load_explicit(&t->root, memory_order_relaxed);
  link_t around[2] = {NIL, NIL}; /* the in-order predecessor and successor */
  link_t before = NIL;           /* the right turn before around[0] */
  int d = 0;
  while (x) {
    const node *n = N(t, x);
    int c = cmp_node(t, n, e->key, e->seq);
    if (c == 0) return MT_EEXIST;
    pl = x;
    d = c < 0;
    if (d) before = around[0];
    around[!d] = x; /* going right: x precedes the new node; left: follows it */
    x = child_of(n, d);
  }
  node *n = mt_arena_alloc_entry(t->arena, e, sizeof(node), 4);
  if (!n) return MT_ENOMEM;
  link_t nl = encode(t, n);
  if (!nl)
    return mt_set_error(MT_ENOMEM, "rbtree: a node %llu MiB into the arena is beyond the %llu MiB "
                        "its 31-bit links reach",
                        (unsigned long long)(((uint8_t *)n - t->base) >> 20),
                        (unsigned long long)(MAX_OFFSET >> 20));
  link_t succ = around[1], pred = around[0];
  link_t after = succ ? atomic_load_explicit(&N(t, succ)->next, memory_order_relaxed) : NIL;
  atomic_store_explicit(&n->next, succ, memory_order_relaxed);
  atomic_store_explicit(&n->next2, after, memory_order_relaxed);
  atomic_store_explicit(&n->up, pl | RED, memory_order_relaxed);
  atomic_store_explicit(&n->child[0], NIL, memory_order_relaxed);
  atomic_store_explicit(&n->child[1], NIL, memory_order_relaxed);
  if (pl) set_child(N(t, pl), d, nl); /* publishes n: release */
  else atomic_store_explicit(&t->root, nl, memory_order_release);
  link_thread(t, nl, pred, before, succ);
  t->count++;
  insert_fixup(t, nl);
  return MT_OK;
}

/* ---- lifecycle, get, check -------------------------------------------------------- */

static int rb_create(mt_rep **out, const mt_rep_init *init) {
  struct mt_rep *t = mt_arena_alloc(init->arena, sizeof *t, 64);
  if (!t) return MT_ENOMEM;
  memset(t, 0, sizeof *t);
  t->cmp = init->cmp;
  t->arena = init->arena;
  t->base = mt_arena_base(init->arena);
  atomic_init(&t->root, NIL);
  atomic_init(&t->first, NIL);
  atomic_init(&t->seq, 0);
  pthread_rwlockattr_t attr;
  int rc = pthread_rwlockattr_init(&attr);
  if (rc) return mt_set_error(MT_ENOMEM, "rbtree: pthread_rwlockattr_init failed (%d)", rc);
#if defined(__GLIBC__)
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
  rc = pthread_rwlock_init(&t->lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  if (rc) return mt_set_error(MT_ENOMEM, "rbtree: pthread_rwlock_init failed (%d)", rc);
  *out = t;
  return MT_OK;
}

static void rb_destroy(mt_rep *t) { pthread_rwlock_destroy(&t->lock); /* the rest is arena */ }

static const uint8_t *rb_get(mt_rep *t, mt_slice key, uint64_t snapshot) {
  reader r;
  link_t x;
  bool ok;
  read_begin(&r, t);
  link_t above[3];
  do x = walk_bound(t, key, snapshot, true, &ok, above);
  while (!read_end(&r, ok));
  if (!x) return NULL;
  const uint8_t *e = entry_of(N(t, x));
  mt_slice k = mt_entry_key(e);
  bool same = t->cmp->compare
                  ? t->cmp->compare(t->cmp->ctx, k, key) == 0
                  : k.len == key.len && (!k.len || memcmp(k.data, key.data, k.len) == 0);
  return same ? e : NULL;
}

typedef struct check_state {
  const struct mt_rep *t;
  const uint8_t *prev; /* the last entry in order */
  link_t prev_link;    /* and its link */
  uint64_t nodes;
} check_state;

/* Checks the subtree at x (parent pl, depth levels down); its black height
 * in *bh.  Recursion depth is bounded by the height check. */
static int check_sub(check_state *s, link_t x, link_t pl, int depth, int *bh) {
  const struct mt_rep *t = s->t;
  if (!x) return *bh = 1, MT_OK;
  if (x & RED) return mt_set_error(MT_ECORRUPT, "rbtree: child link %#x has the colour bit", x);
  if (depth > 2 * 64)
    return mt_set_error(MT_ECORRUPT, "rbtree: depth %d exceeds the red-black bound", depth);
  const node *n = N(t, x);
  if (parent_of(n) != pl)
    return mt_set_error(MT_ECORRUPT, "rbtree: node %#x has parent %#x, expected %#x", x,
                        parent_of(n), pl);
  if (is_red(n) && pl && is_red(N(t, pl)))
    return mt_set_error(MT_ECORRUPT, "rbtree: red node %#x has a red parent", x);
  int lh, rh, rc = check_sub(s, child_of(n, 0), x, depth + 1, &lh);
  if (rc) return rc;
  if (s->prev && mt_entry_compare(t->cmp, s->prev, entry_of(n)) >= 0)
    return mt_set_error(MT_ECORRUPT, "rbtree: node %#x is out of order", x);
  const _Atomic link_t *into = s->prev_link ? &N(t, s->prev_link)->next : &t->first;
  link_t thread = atomic_load_explicit(into, memory_order_relaxed);
  if (thread != x)
    return mt_set_error(MT_ECORRUPT, "rbtree: the thread leads to %#x, not to node %#x", thread, x);
  link_t nx = atomic_load_explicit(&n->next, memory_order_relaxed);
  link_t want2 = nx ? atomic_load_explicit(&N(t, nx)->next, memory_order_relaxed) : NIL;
  if (atomic_load_explicit(&n->next2, memory_order_relaxed) != want2)
    return mt_set_error(MT_ECORRUPT,
                        "rbtree: node %#x has next2 %#x, its successor's successor is %#x",
                        x, atomic_load_explicit(&n->next2, memory_order_relaxed), want2);
  s->prev = entry_of(n);
  s->prev_link = x;
  s->nodes++;
  rc = check_sub(s, child_of(n, 1), x, depth + 1, &rh);
  if (rc) return rc;
  if (lh != rh)
    return mt_set_error(MT_ECORRUPT, "rbtree: node %#x has black heights %d and %d", x, lh, rh);
  *bh = lh + !is_red(n);
  return MT_OK;
}

static int rb_check(const mt_rep *t) {
  link_t root = atomic_load_explicit(&t->root, memory_order_acquire);
  if (root && is_red(N(t, root))) return mt_set_error(MT_ECORRUPT, "rbtree: the root is red");
  if (atomic_load_explicit(&t->seq, memory_order_relaxed) & 1)
    return mt_set_error(MT_ECORRUPT, "rbtree: seq is odd with no writer running");
  check_state s = {t, NULL, NIL, 0};
  int bh, rc = check_sub(&s, root, NIL, 0, &bh);
  if (rc) return rc;
  if (!root && atomic_load_explicit(&t->first, memory_order_relaxed))
    return mt_set_error(MT_ECORRUPT, "rbtree: an empty tree has a thread");
  if (s.prev_link && atomic_load_explicit(&N(t, s.prev_link)->next, memory_order_relaxed))
    return mt_set_error(MT_ECORRUPT, "rbtree: the thread goes on past the last node");
  if (s.nodes != t->count)
    return mt_set_error(MT_ECORRUPT, "rbtree: %llu nodes reachable, %llu inserted",
                        (unsigned long long)s.nodes, (unsigned long long)t->count);
  /* the parent-link walks (prev, and next the same way) visit every node once */
  uint64_t fwd = 0, back = 0;
  bool ok = true;
  int steps0 = 0, steps1 = 0;
  for (link_t x = walk_edge(t, root, 0, &steps0); x && ok; x = walk_step(t, x, 1, &ok)) fwd++;
  for (link_t x = walk_edge(t, root, 1, &steps1); x && ok; x = walk_step(t, x, 0, &ok)) back++;
  if (!ok || fwd != s.nodes || back != s.nodes)
    return mt_set_error(MT_ECORRUPT, "rbtree: next walks %llu nodes and prev %llu, of %llu",
                        (unsigned long long)fwd, (unsigned long long)back,
                        (unsigned long long)s.nodes);
  return MT_OK;
}

/* ---- iterator ------------------------------------------------------------------------ */

struct mt_rep_iter {
  struct mt_rep *t;
  link_t cur; /* NIL: invalid */
};

/* Starts loading the two nodes after x on the thread. */
static void ahead(const struct mt_rep *t, link_t x) {
  const node *n = N(t, x);
  prefetch(t, atomic_load_explicit(&n->next, memory_order_relaxed));
  prefetch(t, atomic_load_explicit(&n->next2, memory_order_relaxed));
}

static int it_new(mt_rep_iter **out, mt_rep *t) {
  mt_rep_iter *it = mt_malloc(sizeof *it);
  if (!it) return MT_ENOMEM;
  it->t = t;
  it->cur = NIL;
  *out = it;
  return MT_OK;
}
static void it_free(mt_rep_iter *it) { mt_free(it); }

static void it_last(mt_rep_iter *it) {
  reader r;
  link_t x;
  bool ok;
  read_begin(&r, it->t);
  do {
    int steps = 0;
    x = walk_edge(it->t, atomic_load_explicit(&it->t->root, memory_order_acquire), 1, &steps);
    ok = steps < MAX_STEPS;
  } while (!read_end(&r, ok));
  it->cur = x;
}
static void it_first(mt_rep_iter *it) {
  it->cur = atomic_load_explicit(&it->t->first, memory_order_acquire);
  if (it->cur) ahead(it->t, it->cur);
}

static void it_bound(mt_rep_iter *it, mt_slice key, uint64_t seq, bool lower) {
  reader r;
  link_t x;
  bool ok;
  read_begin(&r, it->t);
  link_t above[3];
  do x = walk_bound(it->t, key, seq, lower, &ok, above);
  while (!read_end(&r, ok));
  it->cur = x;
  if (x && lower) { /* the next ~10 nodes, in parallel: the thread after x and after the
                       ancestors that follow x's right subtree */
    ahead(it->t, x);
    for (int i = 0; i < 3 && above[i]; i++) ahead(it->t, above[i]);
  }
}
static void it_seek(mt_rep_iter *it, mt_slice key, uint64_t seq) { it_bound(it, key, seq, true); }
static void it_seek_for_prev(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  it_bound(it, key, seq, false);
}

static void it_step(mt_rep_iter *it, int d) {
  reader r;
  link_t x;
  bool ok;
  read_begin(&r, it->t);
  do x = walk_step(it->t, it->cur, d, &ok);
  while (!read_end(&r, ok));
  it->cur = x;
}
/* The thread needs no seqlock: it changes only by linking a new node in,
 * after that node's own next is set, so any value loaded is a successor the
 * tree had at some instant. */
static void it_next(mt_rep_iter *it) {
  link_t x = atomic_load_explicit(&N(it->t, it->cur)->next, memory_order_acquire);
  if (x) prefetch(it->t, atomic_load_explicit(&N(it->t, x)->next2, memory_order_relaxed));
  it->cur = x;
}
static void it_prev(mt_rep_iter *it) { it_step(it, 0); } /* by the parent links */

static const uint8_t *it_entry(const mt_rep_iter *it) {
  return it->cur ? entry_of(N(it->t, it->cur)) : NULL;
}

const mt_rep_ops mt_rep_rbtree = {
    .version = MT_REP_OPS_VERSION,
    .name = "rbtree",
    .caps = 0,
    .params = NULL,
    .nparams = 0,
    .help = "threaded red-black tree, 20-byte inline node headers, optimistic readers: "
            "fast point reads and scans, no write contention, little memory",
    .create = rb_create,
    .destroy = rb_destroy,
    .insert = rb_insert,
    .get = rb_get,
    .iter_new = it_new,
    .iter_free = it_free,
    .iter_seek_to_first = it_first,
    .iter_seek_to_last = it_last,
    .iter_seek = it_seek,
    .iter_seek_for_prev = it_seek_for_prev,
    .iter_next = it_next,
    .iter_prev = it_prev,
    .iter_entry = it_entry,
    .check = rb_check,
};
