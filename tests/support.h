/* support.h -- helpers shared by the tests:
 *   1. a failing allocator for the out-of-memory tests;
 *   2. small key/value makers and a deterministic PRNG;
 *   3. a reference model of a memtable's contents (a sorted array kept with
 *      the plain C heap, so it never shows up in the failing allocator's
 *      counts) and a full comparison of a memtable against it;
 *   4. a sorted-array rep (support_array_*) whose slots test files wrap to
 *      build their own reps (the spy, probes).
 *
 * Thread safety: the allocator counters are atomic; everything else is for
 * one thread.  The array rep is NOT safe for readers beside writers: the
 * tests that use it read only while no add runs. */
#ifndef MT_TEST_SUPPORT_H
#define MT_TEST_SUPPORT_H

#include <memtable/memtable.h>
#include <memtable/rep.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- 1. the failing allocator ---------------------------------------------- */

/* Installs an allocator that fails the n-th allocation from now (n >= 0;
 * -1 never fails) and counts live blocks. */
void fail_alloc_install(long fail_at);
void fail_alloc_uninstall(void);
/* Re-arms an installed allocator: fail the n-th allocation from now (-1:
 * never), clearing the failed flag but keeping the live count. */
void fail_alloc_arm(long fail_at);
long fail_alloc_live(void);  /* blocks allocated and not yet freed */
long fail_alloc_calls(void); /* allocations attempted since install */
int fail_alloc_failed(void); /* whether the planned failure happened */

/* ---- 2. makers ------------------------------------------------------------------ */

static inline mt_slice S(const char *s) {
  mt_slice x = {s, __builtin_strlen(s)};
  return x;
}
static inline mt_slice SL(const void *p, size_t n) {
  mt_slice x = {p, n};
  return x;
}

/* xorshift64*: deterministic, seeded per test so failures replay. */
typedef struct rng {
  uint64_t s;
} rng;
static inline uint64_t rng_next(rng *r) {
  r->s ^= r->s >> 12, r->s ^= r->s << 25, r->s ^= r->s >> 27;
  return r->s * 0x2545F4914F6CDD1DULL;
}
static inline uint64_t rng_below(rng *r, uint64_t n) { return n ? rng_next(r) % n : 0; }
static inline rng rng_seed(uint64_t seed) {
  rng r = {seed * 0x9E3779B97F4A7C15ULL | 1};
  return r;
}

/* Clears this thread's mt_last_error(), so a test can tell that a call set it. */
void clear_last_error(void);

/* Every registered rep, default first; returns the count. */
size_t rep_list(const char **names, size_t cap);

/* ---- 3. the reference model ------------------------------------------------------- */

typedef struct model_entry {
  uint8_t *key, *val;
  size_t klen, vlen;
  uint64_t seq;
  mt_kind kind;
} model_entry;

typedef struct model {
  model_entry *e; /* internal-key order: key ascending by cmp, seq descending */
  size_t n, cap;
  mt_comparator cmp; /* compare NULL = bytewise */
} model;

void model_init(model *m, const mt_comparator *cmp);
void model_free(model *m);
int model_key_compare(const model *m, mt_slice a, mt_slice b);
/* MT_OK, or MT_EEXIST when (key, seq) is present (the model is unchanged).
 * value is dropped for MT_DELETE, as the memtable does. */
int model_add(model *m, uint64_t seq, mt_kind kind, mt_slice key, mt_slice value);
size_t model_lower_bound(const model *m, mt_slice key); /* first entry with key >= key */
size_t model_upper_bound(const model *m, mt_slice key); /* first entry with key > key */
/* Newest version of key with seq <= snapshot: MT_OK, MT_DELETED or
 * MT_NOTFOUND; *idx is its index when found. */
int model_get(const model *m, mt_slice key, uint64_t snapshot, size_t *idx);
/* Whether the iterator sits on model entry idx (idx == m->n: invalid). */
bool model_iter_at(const model *m, const mt_iter *it, size_t idx);
/* Iterates t forwards and backwards and checks count; true when it holds
 * exactly the model's entries in order.  On false, why says where. */
bool model_matches(const model *m, mt_memtable *t, char *why, size_t cap);

/* ---- 4. the sorted-array rep ------------------------------------------------------- */

/* State: a heap array of entry handles (memory_outside_arena reports it),
 * entries in the arena.  params and user are for wrapping test files. */
struct mt_rep {
  const mt_comparator *cmp;
  mt_arena *arena;
  const uint8_t **v;
  size_t n, cap;
  int64_t params[8];
  void *user; /* for the wrapping test file */
};
int support_array_create(mt_rep **out, const mt_rep_init *init);
void support_array_destroy(mt_rep *r);
int support_array_insert(mt_rep *r, const mt_new_entry *e);
const uint8_t *support_array_get(mt_rep *r, mt_slice key, uint64_t snapshot);
int support_array_iter_new(mt_rep_iter **out, mt_rep *r);
void support_array_iter_free(mt_rep_iter *it);
void support_array_iter_seek_to_first(mt_rep_iter *it);
void support_array_iter_seek_to_last(mt_rep_iter *it);
void support_array_iter_seek(mt_rep_iter *it, mt_slice key, uint64_t seq);
void support_array_iter_seek_for_prev(mt_rep_iter *it, mt_slice key, uint64_t seq);
void support_array_iter_next(mt_rep_iter *it);
void support_array_iter_prev(mt_rep_iter *it);
const uint8_t *support_array_iter_entry(const mt_rep_iter *it);
size_t support_array_memory_outside_arena(const mt_rep *r);
int support_array_check(const mt_rep *r);
mt_rep *support_array_iter_rep(const mt_rep_iter *it); /* the rep an iterator walks */

/* An ops table over the array rep with every slot filled, named name (a
 * static string).  Test files copy it into a static table, change slots,
 * and register that table. */
mt_rep_ops support_array_ops(const char *name);

/* Removes a flat directory and the files in it. */
void rm_rf(const char *dir);
/* Makes `to` a copy of the flat directory `from` (removed and made again
 * first); false if any step fails. */
bool copy_dir(const char *from, const char *to);
/* Runs cmd (stderr joined); its output in out; returns its exit status. */
int run_capture(const char *cmd, char *out, size_t cap);

#endif
