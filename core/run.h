/* run.h -- sorted-run files: a writer, a verifying reader with point
 * lookups through a bloom filter, and a raw iterator (run_format.h has the
 * bytes, docs/run-format.md the story).
 *
 * Thread safety: a writer is used by one thread.  A reader (mt_run) is
 * immutable after mt_run_open and shared by any number of threads; its
 * refcount is atomic (acq_rel on the decrement that may free, relaxed on
 * increments: a ref is only taken from one already held).  An iterator
 * over a run is used by one thread and holds a ref.
 *
 * Invariants:
 *  1. mt_run_open verifies everything before it returns a run: the footer,
 *     every section's checksum, every block's checksum, every entry's
 *     bounds and the internal order of all entries.  Later reads trust it.
 *  2. A run's bytes are a read-only mapping, valid until the last unref.
 */
#ifndef MT_CORE_RUN_H
#define MT_CORE_RUN_H

#include "file.h"
#include "internal.h"
#include "run_format.h"

#include <memtable/memtable.h>

#include <stdbool.h>
#include <stdint.h>
#include <xxhash.h>
#ifdef MT_HAVE_XXH_DISPATCH /* CMake found XXH3_64bits_dispatch in libxxhash */
/* The same XXH3, picking AVX2 or AVX-512 at run time: a 4 KiB block's
 * checksum took 78 ns instead of 242 here. */
#include <xxh_x86dispatch.h>
#endif

/* The checksum of a block or section: the low 32 bits of XXH3-64. */
static inline uint32_t mt_run_cksum(const void *p, size_t n) { return (uint32_t)XXH3_64bits(p, n); }

/* ---- names: "run-<number, 12+ digits>.sst" -------------------------------- */
#define MT_RUN_NAME_MAX 48
void mt_run_name(char *buf, size_t cap, uint64_t number);
bool mt_run_parse_name(const char *name, uint64_t *number);

/* ---- writer ---------------------------------------------------------------- */
typedef struct mt_run_writer mt_run_writer;
typedef struct mt_run_info {
  const char *cmp_name;
  uint64_t number;
  uint64_t first_input, last_input; /* runs a merge replaces; 0, 0 for a flush */
} mt_run_info;

/* Creates path (truncating). */
int mt_run_writer_open(mt_run_writer **out, const char *path, const mt_run_info *info);
/* Entries come in internal order (the caller guarantees it). */
int mt_run_writer_add(mt_run_writer *w, mt_slice key, uint64_t seq, mt_kind kind, mt_slice value);
/* Writes the last block, index, bloom, props and footer (no sync). */
int mt_run_writer_finish(mt_run_writer *w);
int mt_run_writer_sync(mt_run_writer *w);
const char *mt_run_writer_path(const mt_run_writer *w);
/* Closes and frees (NULL is fine); remove: also unlinks the file. */
int mt_run_writer_close(mt_run_writer *w, bool remove);

/* ---- reader ---------------------------------------------------------------- */
typedef struct mt_run mt_run;
typedef struct mt_run_props {
  uint64_t count, min_seq, max_seq, number, first_input, last_input;
  mt_slice cmp_name; /* points into the run */
} mt_run_props;

/* Maps and verifies the file (invariant 1); MT_ECORRUPT names the file,
 * the offset and what is wrong.  cmp NULL = bytewise. */
int mt_run_open(mt_run **out, const char *path, const mt_comparator *cmp);
/* The same over bytes the caller keeps alive (the fuzzer's door). */
int mt_run_open_buffer(mt_run **out, const void *data, size_t len, const char *name,
                       const mt_comparator *cmp);
void mt_run_ref(mt_run *r);
void mt_run_unref(mt_run *r);
const mt_run_props *mt_run_props_of(const mt_run *r);
uint64_t mt_run_file_bytes(const mt_run *r);
const char *mt_run_path(const mt_run *r);
/* False only when the key is surely absent. */
bool mt_run_may_contain(const mt_run *r, mt_slice key);
/* Newest version of key with seq <= snapshot: MT_OK / MT_DELETED /
 * MT_NOTFOUND; *value points into the run (valid while a ref is held). */
int mt_run_get(mt_run *r, mt_slice key, uint64_t snapshot, mt_slice *value, uint64_t *seq);
/* A raw iterator (internal order, every version); holds a ref on r. */
int mt_run_iter_new(mt_iter **out, mt_run *r);

#endif
