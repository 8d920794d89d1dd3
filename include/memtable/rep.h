/* rep.h -- the rep author's API: the versioned mt_rep_ops vtable, parameter
 * declarations, registration, and what core gives a rep (the entry
 * encoding, entry comparison, arena allocation with a co-allocated node
 * header, allocation and error reporting).
 *
 * The contract, numbered (docs/rep-contract.md says more):
 *  1. A rep stores handles to entries that core encoded in the arena; it
 *     never copies keys.  A handle is a `const uint8_t *` to the encoding
 *     below; a rep may keep its node header right before the entry.
 *  2. Order is internal-key order: key ascending by the comparator, then
 *     seq descending (mt_entry_compare).  No two entries compare equal:
 *     inserting an existing (key, seq) returns MT_EEXIST and changes nothing.
 *  3. insert is called by one thread at a time (core serialises);
 *     insert_concurrent, present iff caps has MT_CAP_CONCURRENT_INSERT, may
 *     be called by many threads at once.  Neither is called after freeze.
 *  4. Readers (get and iterators, any number of threads) run concurrently
 *     with inserts and must never see a torn entry, miss an entry that was
 *     inserted before they started, or go backwards; none waits longer than
 *     one insert.
 *  5. Optional slots are NULL when absent: get (core falls back to a seek),
 *     freeze, memory_outside_arena (taken as 0), check.
 *  6. Everything a rep allocates is either from the arena (freed with the
 *     memtable, counted) or reported by memory_outside_arena.
 *  7. An allocation failure returns MT_ENOMEM and leaves the rep unchanged.
 *  8. A rep lives in reps/<name>/, includes only this header, exports one
 *     symbol (its const ops table) and keeps every function static.
 */
#ifndef MEMTABLE_REP_H
#define MEMTABLE_REP_H

#include <memtable/memtable.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MT_REP_OPS_VERSION 1 /* the newest version this library understands */

/* ---- the entry encoding ---------------------------------------------------
 *   varint32 klen | key[klen] | fixed64le trailer | varint32 vlen | value[vlen]
 *   trailer = seq << 8 | kind
 * A DELETE has vlen 0.  Entries are not aligned: read them with memcpy. */

typedef struct mt_new_entry { /* what core asks a rep to insert */
  mt_slice key;
  mt_slice value;
  uint64_t seq;
  mt_kind kind;
} mt_new_entry;

static inline const uint8_t *mt_varint32_(const uint8_t *p, uint32_t *v) {
  uint32_t r = p[0];
  if (r < 128) {
    *v = r;
    return p + 1;
  }
  r &= 127;
  for (int shift = 7;; shift += 7) {
    uint32_t b = *++p;
    r |= (b & 127) << shift;
    if (b < 128) break;
  }
  *v = r;
  return p + 1;
}

static inline mt_slice mt_entry_key(const uint8_t *e) {
  uint32_t n;
  const uint8_t *k = mt_varint32_(e, &n);
  mt_slice s = {k, n};
  return s;
}
static inline uint64_t mt_entry_trailer(const uint8_t *e) {
  mt_slice k = mt_entry_key(e);
  uint64_t t;
  memcpy(&t, (const uint8_t *)k.data + k.len, 8);
  return t; /* little-endian hosts only; core checks at build time */
}
static inline uint64_t mt_entry_seq(const uint8_t *e) { return mt_entry_trailer(e) >> 8; }
static inline mt_kind mt_entry_kind(const uint8_t *e) {
  return (mt_kind)(mt_entry_trailer(e) & 0xff);
}
static inline mt_slice mt_entry_value(const uint8_t *e) {
  mt_slice k = mt_entry_key(e);
  uint32_t n;
  const uint8_t *v = mt_varint32_((const uint8_t *)k.data + k.len + 8, &n);
  mt_slice s = {v, n};
  return s;
}

/* ---- comparison -------------------------------------------------------------
 * cmp->compare NULL means bytewise.  Reps get the memtable's comparator in
 * mt_rep_init and pass it back here. */

/* 8 bytes as a big-endian integer: integer order is memcmp order. */
static inline uint64_t mt_load_be64(const void *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

/* Bytewise order (memcmp, shorter first on a tie), 8 bytes at a time. */
static inline int mt_bytewise_compare(const void *a, size_t an, const void *b, size_t bn) {
  const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;
  size_t n = an < bn ? an : bn, i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t u = mt_load_be64(x + i), v = mt_load_be64(y + i);
    if (u != v) return u < v ? -1 : 1;
  }
  for (; i < n; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return an < bn ? -1 : an > bn;
}

static inline int mt_key_compare(const mt_comparator *cmp, mt_slice a, mt_slice b) {
  if (cmp->compare) return cmp->compare(cmp->ctx, a, b);
  return mt_bytewise_compare(a.data, a.len, b.data, b.len);
}
static inline int mt_seq_compare_(uint64_t sa, uint64_t sb) { /* descending */
  return sa > sb ? -1 : sa < sb;
}
/* Internal-key order of two entries: key ascending, then seq descending. */
static inline int mt_entry_compare(const mt_comparator *cmp, const uint8_t *a,
                                   const uint8_t *b) {
  mt_slice ka = mt_entry_key(a), kb = mt_entry_key(b);
  int c = mt_key_compare(cmp, ka, kb);
  if (c) return c;
  return mt_seq_compare_(mt_entry_seq(a), mt_entry_seq(b));
}
/* An entry against a target (key, seq) in the same order. */
static inline int mt_entry_compare_key(const mt_comparator *cmp, const uint8_t *e,
                                       mt_slice key, uint64_t seq) {
  mt_slice ke = mt_entry_key(e);
  int c = mt_key_compare(cmp, ke, key);
  if (c) return c;
  uint64_t t;
  memcpy(&t, (const uint8_t *)ke.data + ke.len, 8);
  return mt_seq_compare_(t >> 8, seq);
}

/* ---- what core gives a rep ------------------------------------------------ */

typedef struct mt_arena mt_arena;

/* Every allocation of an arena lies in [base, base + MT_ARENA_RESERVE), so a
 * rep may store 32-bit offsets from mt_arena_base() in 4-byte units instead
 * of pointers.  A memtable holds at most MT_ARENA_RESERVE bytes. */
#define MT_ARENA_RESERVE ((size_t)16 << 30)
uint8_t *mt_arena_base(const mt_arena *a);

/* Arena memory: thread-safe, counted in the memtable's memory usage, freed
 * with the memtable.  align is a power of two <= 64.  NULL on MT_ENOMEM
 * (mt_last_error set). */
void *mt_arena_alloc(mt_arena *a, size_t size, size_t align);

/* One allocation holding a node header of header_bytes followed by the
 * encoded entry e.  Returns the header (aligned to align); the entry starts
 * at (uint8_t *)header + header_bytes.  NULL on MT_ENOMEM. */
void *mt_arena_alloc_entry(mt_arena *a, const mt_new_entry *e, size_t header_bytes,
                           size_t align);
size_t mt_entry_encoded_size(const mt_new_entry *e);

/* Heap memory through the library's allocator (mt_set_allocator); what a
 * rep keeps there must be reported by memory_outside_arena.  NULL on
 * MT_ENOMEM (mt_last_error set). */
void *mt_malloc(size_t size);
void *mt_calloc(size_t n, size_t size);
void *mt_realloc(void *p, size_t size);
/* mt_free() is in memtable.h. */

/* Sets this thread's mt_last_error() text (printf format); returns status. */
int mt_set_error(int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- parameters -------------------------------------------------------------- */

typedef enum mt_param_type {
  MT_PARAM_INT = 1,  /* a decimal integer in [min, max] */
  MT_PARAM_BOOL = 2, /* true/false (or 1/0); min 0, max 1 */
} mt_param_type;

typedef struct mt_rep_param {
  const char *name;
  mt_param_type type;
  int64_t def, min, max;
  const char *help; /* one line */
} mt_rep_param;

/* ---- the vtable ----------------------------------------------------------- */

typedef struct mt_rep mt_rep;           /* the rep's own state, opaque to core */
typedef struct mt_rep_iter mt_rep_iter; /* the rep's own iterator */

typedef struct mt_rep_init {
  const mt_comparator *cmp; /* compare NULL = bytewise; valid for the rep's life */
  mt_arena *arena;          /* the memtable's arena */
  const int64_t *params;    /* values of ops->params, in declared order */
} mt_rep_init;

typedef struct mt_rep_ops {
  /* data */
  int version;                 /* MT_REP_OPS_VERSION the rep was written for */
  const char *name;            /* [a-z0-9_]+, unique among registered reps */
  uint32_t caps;               /* MT_CAP_* bits */
  const mt_rep_param *params;  /* nparams entries */
  size_t nparams;
  const char *help;            /* one line: when to pick this rep */

  /* lifecycle */
  int (*create)(mt_rep **out, const mt_rep_init *init);
  void (*destroy)(mt_rep *r);

  /* writes (contract 2, 3, 7): MT_OK, MT_EEXIST or MT_ENOMEM */
  int (*insert)(mt_rep *r, const mt_new_entry *e);
  int (*insert_concurrent)(mt_rep *r, const mt_new_entry *e); /* iff the cap */

  /* optional: the newest entry with this key and seq <= snapshot, or NULL */
  const uint8_t *(*get)(mt_rep *r, mt_slice key, uint64_t snapshot);

  /* iteration: a fresh iterator is invalid until positioned */
  int (*iter_new)(mt_rep_iter **out, mt_rep *r);
  void (*iter_free)(mt_rep_iter *it);
  void (*iter_seek_to_first)(mt_rep_iter *it);
  void (*iter_seek_to_last)(mt_rep_iter *it);
  /* first entry >= (key, seq) / last entry <= (key, seq) in internal order */
  void (*iter_seek)(mt_rep_iter *it, mt_slice key, uint64_t seq);
  void (*iter_seek_for_prev)(mt_rep_iter *it, mt_slice key, uint64_t seq);
  void (*iter_next)(mt_rep_iter *it); /* REQUIRES: valid */
  void (*iter_prev)(mt_rep_iter *it); /* REQUIRES: valid */
  const uint8_t *(*iter_entry)(const mt_rep_iter *it); /* NULL when invalid */

  /* optional: called once, after the last insert, before freeze is visible;
   * MT_ENOMEM leaves the memtable active */
  int (*freeze)(mt_rep *r);
  /* optional: bytes held outside the arena (heap arrays, bucket tables) */
  size_t (*memory_outside_arena)(const mt_rep *r);
  /* optional: verify every invariant; MT_ECORRUPT + mt_set_error on damage.
   * Called with no writer running. */
  int (*check)(const mt_rep *r);
} mt_rep_ops;

/* Registry (SQLite's vfs manners): ops must be const and outlive the
 * process; registering the same table twice is harmless; another table
 * under a registered name, version 0 or newer than MT_REP_OPS_VERSION,
 * a missing required slot or a bad parameter declaration is MT_EINVAL. */
int mt_rep_register(const mt_rep_ops *ops);
const mt_rep_ops *mt_rep_find(const char *name); /* NULL name: the default */

/* Test hook for the conformance suite: runs the rep's check slot on a
 * memtable (MT_OK when the rep has none). */
int mt_memtable_check(mt_memtable *m);

#ifdef __cplusplus
}
#endif

#endif /* MEMTABLE_REP_H */
