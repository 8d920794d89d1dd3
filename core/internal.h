/* internal.h -- what core's files share and nothing outside core sees.
 *
 * Pieces, one file each: status.c (status text, thread-local error detail),
 * alloc.c (the injectable allocator), arena.c (blocks + exact accounting),
 * entry.c (the one entry encoding), registry.c (rep table), spec.c (spec
 * string grammar), memtable.c (the only caller of rep ops), iter.c (the
 * public iterator over any source).
 */
#ifndef MT_CORE_INTERNAL_H
#define MT_CORE_INTERNAL_H

#include <memtable/memtable.h>
#include <memtable/rep.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the entry trailer is read as a little-endian u64"
#endif

#define MT_MAX_PARAMS 16 /* parameters one rep may declare */
#define MT_SPEC_MAX 512  /* canonical spec text, NUL included */

/* status.c */
void mt_clear_error(void);

/* alloc.c: mt_malloc & co. are declared in rep.h */
char *mt_strdup(const char *s);
/* Asks a custom allocator (mt_set_allocator) whether `size` more bytes may
 * be committed by an arena: true under the C library's. */
bool mt_alloc_permit(size_t size);

/* arena.c */
mt_arena *mt_arena_new(void);
void mt_arena_free(mt_arena *a);
size_t mt_arena_memory(const mt_arena *a); /* every byte the arena holds */
/* Commit steps grow to at most `bytes` (whole pages, at least one page, at
 * most the default 2 MiB), so the arena holds at most that much unused. */
void mt_arena_limit_step(mt_arena *a, size_t bytes);
/* Empties a for another life: its bytes are zeroed, its memory() is back
 * to the minimum, but its pages stay resident (mt_arena_resident), so the
 * next life does not fault them in again.  REQUIRES: no other user. */
void mt_arena_recycle(mt_arena *a);
size_t mt_arena_resident(const mt_arena *a);
/* Every byte the arena's pages take: memory(), or more on a recycled
 * arena whose earlier life left pages past what this one committed. */
size_t mt_arena_held(const mt_arena *a);

/* arena_pool.c: keeps one emptied arena of its owner's flushed memtables
 * for the owner's next memtable (the store's), so writers reuse pages
 * already faulted in.  Reference counted: the owner and each memtable
 * drawn from it hold a reference.  Thread-safe. */
typedef struct mt_arena_pool mt_arena_pool;
/* An arena holding more than keep_limit resident bytes is not kept. */
mt_arena_pool *mt_arena_pool_new(size_t keep_limit);
void mt_arena_pool_ref(mt_arena_pool *p);
void mt_arena_pool_unref(mt_arena_pool *p); /* the last frees the kept arena */
/* The kept arena (emptied), or a new one; NULL on MT_ENOMEM. */
mt_arena *mt_arena_pool_take(mt_arena_pool *p);
/* a's memtable is gone: a is kept as it is (O(1): any thread may drop the
 * last ref), or freed if one is kept already or it is too big. */
void mt_arena_pool_give(mt_arena_pool *p, mt_arena *a);
/* Empties the kept arena (zeroes what it used) if it was not yet: the
 * owner's background thread calls it, so the writer taking it need not. */
void mt_arena_pool_clean(mt_arena_pool *p);
/* Resident bytes of the kept arena (0 without one). */
size_t mt_arena_pool_memory(mt_arena_pool *p);

/* memtable.c: mt_memtable_new for an owner (the store) with an arena pool
 * (pool: the arena comes from it and goes back at the last unref) and a
 * budget (it freezes m at that memory usage: m then commits memory in
 * steps of at most budget / 8, from the rep's create on, and holds at most
 * that much unused when frozen).  NULL / 0: none. */
int mt_memtable_new_pooled(mt_memtable **out, const char *spec, const mt_comparator *cmp, mt_arena_pool *pool,
                           size_t budget);
/* memory_usage, plus pages its arena kept from an earlier life beyond
 * what m committed: what m's memory really takes (the store's stats). */
size_t mt_memtable_memory_held(const mt_memtable *m);

/* entry.c */
uint8_t *mt_entry_encode(uint8_t *dst, const mt_new_entry *e); /* returns end */
size_t mt_varint32_len(uint32_t v);

/* registry.c */
size_t mt_registry_list(const mt_rep_ops **out, size_t cap);

/* spec.c: parses spec (NULL = default rep) into the rep and its parameter
 * values (every declared one, defaults filled in); MT_EINVAL with the bad
 * token named in mt_last_error(). */
int mt_spec_parse(const char *spec, const mt_rep_ops **ops, int64_t params[MT_MAX_PARAMS]);
/* Canonical text "name:k=v,..." with every parameter in declared order. */
void mt_spec_format(const mt_rep_ops *ops, const int64_t *params, char *buf, size_t cap);

/* iter.c: every public mt_iter is a source behind this small vtable, so the
 * memtable's raw iterator and the store's merged view share the type. */
typedef struct mt_iter_vt {
  void (*free)(mt_iter *it);
  void (*seek_to_first)(mt_iter *it);
  void (*seek_to_last)(mt_iter *it);
  void (*seek)(mt_iter *it, mt_slice key);
  void (*seek_for_prev)(mt_iter *it, mt_slice key);
  void (*next)(mt_iter *it);
  void (*prev)(mt_iter *it);
} mt_iter_vt;

struct mt_iter {
  const mt_iter_vt *vt;
  int status;           /* MT_OK or the error that stopped the iterator */
  bool valid;           /* positioned on an entry */
  const uint8_t *entry; /* the current entry, encoded (decoded lazily), or */
  mt_slice key, value;  /* with entry NULL: the current entry's fields */
  uint64_t seq;
  mt_kind kind;
};

/* Positions it on an encoded entry (NULL = invalid); decoding waits until
 * an accessor asks, so stepping over entries touches only what it must. */
static inline void mt_iter_set_entry(mt_iter *it, const uint8_t *entry) {
  it->valid = entry != NULL;
  it->entry = entry;
}
/* Positions it on an entry given by its fields (copied by reference). */
void mt_iter_set_fields(mt_iter *it, mt_slice key, uint64_t seq, mt_kind kind, mt_slice value);

#endif
