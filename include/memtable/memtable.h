/* memtable.h -- the user API of libmemtable: the write buffer of an LSM tree
 * with a swappable representation ("rep") chosen by a spec string.
 *
 * Two levels:
 *   mt_memtable  one in-memory table of versioned entries (key, seq, kind,
 *                value) held by a rep; readers run beside writers.
 *   mt_store     a durable write buffer: WAL + active/frozen memtables +
 *                background flush to sorted runs.
 *
 * Conventions:
 *   - Every function that can fail returns an int status: 0 success, > 0 a
 *     normal outcome (MT_NOTFOUND, MT_DELETED), < 0 an error.  On an error
 *     mt_last_error() holds a thread-local message naming what was wrong,
 *     and the call changed nothing.
 *   - Out-parameters come first and are named out; every _new has a _free or
 *     _unref; memory handed to the caller is freed with mt_free().
 *   - Thread safety: any number of readers (get, iterators) run beside
 *     writers on every rep; concurrent adds are always safe (serialised by
 *     the memtable unless the rep has MT_CAP_CONCURRENT_INSERT).
 *
 * The rep author's API is <memtable/rep.h>; this header never includes it.
 */
#ifndef MEMTABLE_MEMTABLE_H
#define MEMTABLE_MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MT_VERSION_MAJOR 0
#define MT_VERSION_MINOR 1
#define MT_VERSION_PATCH 0

/* ---- status ------------------------------------------------------------ */

/* One list generates the enum and mt_strerror(). */
#define MT_STATUS_MAP(X)                                                        \
  X(MT_OK, 0, "ok")                                                             \
  X(MT_NOTFOUND, 1, "not found")                                                \
  X(MT_DELETED, 2, "deleted")                                                   \
  X(MT_EINVAL, -1, "invalid argument")                                          \
  X(MT_ENOMEM, -2, "out of memory")                                             \
  X(MT_EFROZEN, -3, "memtable is frozen")                                       \
  X(MT_EEXIST, -4, "entry already exists")                                      \
  X(MT_ENOTSUP, -5, "not supported by this rep")                                \
  X(MT_EIO, -6, "I/O error")                                                    \
  X(MT_ECORRUPT, -7, "corruption")

enum {
#define MT_STATUS_ENUM_(name, value, text) name = value,
  MT_STATUS_MAP(MT_STATUS_ENUM_)
#undef MT_STATUS_ENUM_
};

const char *mt_strerror(int status); /* static text for any status */
const char *mt_last_error(void);     /* thread-local detail of this thread's
                                        last error; "" when none */

/* ---- basic types --------------------------------------------------------- */

#define MT_SEQ_MAX ((1ULL << 56) - 1) /* read at MT_SEQ_MAX to see everything */

typedef struct mt_slice {
  const void *data;
  size_t len;
} mt_slice;

typedef enum mt_kind { MT_DELETE = 0, MT_PUT = 1 } mt_kind;
typedef enum mt_state { MT_ACTIVE, MT_IMMUTABLE, MT_FLUSHING, MT_FLUSHED } mt_state;

/* A user key order.  NULL anywhere means bytewise: memcmp, shorter key first
 * on a tie.  compare must be a total order, thread-safe, and never fail. The
 * name is recorded in the WAL and run files; reopening with another name is
 * MT_EINVAL. */
typedef struct mt_comparator {
  const char *name;
  int (*compare)(void *ctx, mt_slice a, mt_slice b);
  void *ctx;
} mt_comparator;

/* The heap behind every allocation of the library.  Memtable arenas map
 * their own pages (one reserved range each) but ask the allocator first:
 * malloc is called with each commit step's size and the block handed
 * straight back, so an allocator that enforces a budget (or a test that
 * fails the n-th call) can refuse arena growth too.  Set before any other
 * call; NULL restores the C library's.  Values returned to users are freed
 * with mt_free(). */
typedef struct mt_allocator {
  void *(*malloc)(void *ctx, size_t size);
  void *(*realloc)(void *ctx, void *p, size_t size);
  void (*free)(void *ctx, void *p);
  void *ctx;
} mt_allocator;
void mt_set_allocator(const mt_allocator *a);
void mt_free(void *p);

/* ---- one memtable -------------------------------------------------------- */

typedef struct mt_memtable mt_memtable;

/* spec: "name[:key=value[,key=value]...]", NULL = "skiplist".  cmp NULL =
 * bytewise; *cmp is copied, its ctx must outlive the memtable. */
int mt_memtable_new(mt_memtable **out, const char *spec, const mt_comparator *cmp);
void mt_memtable_ref(mt_memtable *m);
void mt_memtable_unref(mt_memtable *m); /* frees at zero; starts at 1 */

/* Adds one version.  value is ignored for MT_DELETE.  MT_EEXIST if (key, seq)
 * is present, MT_EFROZEN after freeze, MT_EINVAL for seq > MT_SEQ_MAX or a
 * NULL data pointer with nonzero length, MT_ENOMEM: nothing changed. */
int mt_memtable_add(mt_memtable *m, uint64_t seq, mt_kind kind, mt_slice key,
                    mt_slice value);

/* Newest version with seq <= snapshot: MT_OK, MT_DELETED (a tombstone) or
 * MT_NOTFOUND.  Outputs may be NULL; *value points into the memtable and is
 * valid while a reference is held. */
int mt_memtable_get(mt_memtable *m, mt_slice key, uint64_t snapshot, mt_slice *value,
                    uint64_t *seq);

int mt_memtable_freeze(mt_memtable *m); /* ACTIVE -> IMMUTABLE, idempotent */
mt_state mt_memtable_state(const mt_memtable *m);
size_t mt_memtable_memory_usage(const mt_memtable *m); /* every byte it holds */
uint64_t mt_memtable_count(const mt_memtable *m);      /* entries added */
const char *mt_memtable_spec(const mt_memtable *m);    /* canonical, every param */
uint32_t mt_memtable_caps(const mt_memtable *m);       /* MT_CAP_* of its rep */
uint64_t mt_memtable_id(const mt_memtable *m);         /* unique in the process */

#define MT_CAP_CONCURRENT_INSERT (1u << 0) /* adds run in parallel, lock-free */

/* ---- iteration ----------------------------------------------------------- */

/* Raw iteration over a memtable: every entry, in internal-key order = key
 * ascending by the comparator, then seq descending.  The store's iterator
 * (mt_store_iter) shares the type and shows the user view instead.  An
 * iterator is used by one thread at a time.  Positioning calls on an
 * iterator that failed internally leave it invalid; mt_iter_status tells. */
typedef struct mt_iter mt_iter;
int mt_iter_new(mt_iter **out, mt_memtable *m); /* holds a ref on m */
/* A raw iterator confined to the keys that start with prefix (bytes): it
 * is invalid outside them, and seek_to_first / seek_to_last go to the
 * first / last of them.  The range must be contiguous in the comparator's
 * order (always so for bytewise).  Reps that hash prefixes (hash_skiplist)
 * answer it from one bucket: the cheap way to read one prefix. */
int mt_iter_new_prefix(mt_iter **out, mt_memtable *m, mt_slice prefix);
void mt_iter_free(mt_iter *it);
void mt_iter_seek_to_first(mt_iter *it);
void mt_iter_seek_to_last(mt_iter *it);
void mt_iter_seek(mt_iter *it, mt_slice key);          /* first entry with key >= key */
void mt_iter_seek_for_prev(mt_iter *it, mt_slice key); /* last entry with key <= key */
bool mt_iter_valid(const mt_iter *it);
void mt_iter_next(mt_iter *it); /* REQUIRES: valid */
void mt_iter_prev(mt_iter *it); /* REQUIRES: valid */
mt_slice mt_iter_key(const mt_iter *it);
mt_slice mt_iter_value(const mt_iter *it);
uint64_t mt_iter_seq(const mt_iter *it);
mt_kind mt_iter_kind(const mt_iter *it);
int mt_iter_status(const mt_iter *it); /* MT_OK, or the error that stopped it */

/* ---- flush ---------------------------------------------------------------- */

/* Stream a frozen memtable, in iteration order, into a sink.  begin, then
 * add for every entry, then finish(ctx, status): status < 0 means abandon
 * what was written.  A callback's negative return stops the flush; finish
 * is still called with it.  MT_EINVAL unless the memtable is IMMUTABLE;
 * during the flush it is FLUSHING, after a success FLUSHED, after a
 * failure IMMUTABLE again. */
typedef struct mt_flush_sink {
  int (*begin)(void *ctx, uint64_t memtable_id, uint64_t count);
  int (*add)(void *ctx, mt_slice key, uint64_t seq, mt_kind kind, mt_slice value);
  int (*finish)(void *ctx, int status);
} mt_flush_sink;
int mt_memtable_flush(mt_memtable *m, const mt_flush_sink *sink, void *ctx);

/* Registered reps, default first; returns the count (may exceed cap). */
size_t mt_rep_names(const char **names, size_t cap);

/* ---- the store: WAL + memtables + flush ----------------------------------- */

/* When a write is acknowledged (docs/store.md says what survives a crash). */
typedef enum mt_sync {
  MT_SYNC_NONE = 0,   /* once in the OS's page cache: survives a process crash */
  MT_SYNC_ALWAYS = 1, /* after fdatasync (group commit): survives power loss */
} mt_sync;

/* How mt_store_open treats a damaged WAL. */
typedef enum mt_recovery {
  MT_RECOVER_TOLERATE_TAIL = 0, /* torn last record ignored; other corruption fails open */
  MT_RECOVER_ABSOLUTE,          /* any damage fails open, naming file and offset */
  MT_RECOVER_POINT_IN_TIME,     /* replay stops at the first damage; open succeeds */
  MT_RECOVER_SKIP_CORRUPT,      /* skip damaged records, keep the rest; report count */
} mt_recovery;

typedef struct mt_store_options {
  const char *rep;            /* memtable spec string, default "skiplist" */
  const mt_comparator *cmp;   /* default bytewise; must outlive the store */
  size_t memtable_bytes;      /* freeze threshold, default 64 MiB */
  unsigned max_immutable;     /* writers wait while this many frozen memtables
                                 are unflushed, default 2 */
  mt_sync sync;               /* default MT_SYNC_NONE */
  mt_recovery recovery;       /* default MT_RECOVER_TOLERATE_TAIL */
  const mt_flush_sink *sink;  /* where flushed memtables go; NULL: sorted-run
                                 files in dir (docs/run-format.md), or
                                 dropped for a memory-only store */
  void *sink_ctx;
  unsigned max_runs;          /* past this many run files a background merge
                                 folds them into one, default 8 */
} mt_store_options;

typedef struct mt_store mt_store;
typedef struct mt_batch mt_batch;

void mt_store_options_init(mt_store_options *o);
/* dir NULL: memory only (no WAL; a flush goes to the sink or is dropped).
 * o NULL: defaults.  Opens the runs in dir and replays the WAL records
 * they do not hold, per o->recovery;
 * MT_ECORRUPT names the file and offset, a comparator other than the one
 * the WAL was written with is MT_EINVAL. */
int mt_store_open(mt_store **out, const char *dir, const mt_store_options *o);
/* Waits for flushes and frees the store (NULL is fine); the WAL keeps
 * whatever was not flushed.  MT_EIO if the last sync or close failed. */
int mt_store_close(mt_store *s);
int mt_store_put(mt_store *s, mt_slice key, mt_slice value);
int mt_store_delete(mt_store *s, mt_slice key);
int mt_store_write(mt_store *s, const mt_batch *b); /* all or nothing */
/* MT_OK (then *value is a copy the caller frees with mt_free) or
 * MT_NOTFOUND (no version, or a tombstone, visible at the snapshot). */
int mt_store_get(mt_store *s, mt_slice key, uint64_t snapshot, void **value, size_t *vlen);
uint64_t mt_store_last_seq(mt_store *s); /* a snapshot: reads at it stay fixed */
/* User view at snapshot: the newest visible version of each key, tombstones
 * hidden, in key order; next, prev, seek and seek_for_prev all work. */
int mt_store_iter(mt_iter **out, mt_store *s, uint64_t snapshot);
/* Freezes the active memtable and waits until every frozen one is flushed
 * and durable (its run synced, its WAL segments removed); MT_EIO (with the
 * failure's message) if a flush or sync attempt fails meanwhile: the data
 * stays readable and in the WAL, and the background threads keep retrying. */
int mt_store_flush(mt_store *s);

/* A struct tag only: the function below takes the name. */
struct mt_store_stats {
  uint64_t memtables;         /* memtables held: active + frozen */
  uint64_t frozen;            /* frozen, not yet flushed */
  uint64_t bytes;             /* memory usage of the memtables held, plus the
                                 arena kept from a flushed one for the next */
  uint64_t flushes;           /* memtables flushed since open */
  uint64_t flush_errors;      /* failed flush or merge attempts (retried) */
  uint64_t runs;              /* sorted runs readers see (the durable ones and
                                 flushed ones waiting for their sync) */
  uint64_t run_bytes;         /* their total size */
  uint64_t merges;            /* background merges of runs since open */
  uint64_t stalls;            /* writes that waited for a flush */
  uint64_t stall_ns;          /* time they waited */
  uint64_t wal_bytes;         /* bytes appended to the WAL since open */
  uint64_t wal_syncs;         /* fdatasync calls on the WAL since open */
  uint64_t write_groups;      /* WAL appends: one per group commit */
  uint64_t writes;            /* acknowledged writes (puts, deletes, batches) */
  uint64_t recovered_records; /* WAL records replayed at open (not those the runs held) */
  uint64_t dropped_records;   /* damaged records skipped or cut off at open */
  uint64_t wal_segment;       /* number of the segment written now; 0 without a dir */
  uint64_t last_seq;
  int failed;                 /* 0, or the error that put the store in its failed state */
};
int mt_store_stats(mt_store *s, struct mt_store_stats *out);

int mt_batch_new(mt_batch **out);
int mt_batch_put(mt_batch *b, mt_slice key, mt_slice value);
int mt_batch_delete(mt_batch *b, mt_slice key);
void mt_batch_clear(mt_batch *b);
void mt_batch_free(mt_batch *b);
uint32_t mt_batch_count(const mt_batch *b);

#ifdef __cplusplus
}
#endif

#endif /* MEMTABLE_MEMTABLE_H */
