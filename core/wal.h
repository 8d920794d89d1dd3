/* wal.h -- the write-ahead log: a segment writer, a segment reader that
 * reports damage precisely, and the codecs of the logical records
 * (wal_format.h has the layout, docs/wal-format.md the story).
 *
 * Thread safety: a writer or a reader is used by one thread at a time; the
 * store's group commit makes one leader the writer's only user.
 */
#ifndef MT_CORE_WAL_H
#define MT_CORE_WAL_H

#include "file.h"
#include "wal_format.h"

#include <memtable/memtable.h>

#include <stdbool.h>
#include <stdint.h>

/* ---- segment names: "wal-<number, 12+ digits>.log" ------------------------ */
#define MT_WAL_NAME_MAX 48
void mt_wal_name(char *buf, size_t cap, uint64_t number);
/* The number of a segment file name, or false if the name is not one. */
bool mt_wal_parse_name(const char *name, uint64_t *number);

/* ---- logical records ----------------------------------------------------- */
typedef struct mt_wal_header {
  uint32_t version;
  uint64_t number;
  uint64_t base_seq;
  uint8_t flags;
  mt_slice cmp_name; /* points into the decoded payload */
} mt_wal_header;

/* Encodes a header record into buf (cap >= MT_WAL_HEADER_FIXED + name
 * length); returns its length. */
size_t mt_wal_encode_header(uint8_t *buf, const mt_wal_header *h);
int mt_wal_decode_header(mt_slice payload, mt_wal_header *out); /* MT_ECORRUPT */

/* One entry of a batch or entries record. */
typedef struct mt_wal_entry {
  uint64_t seq;
  mt_kind kind;
  mt_slice key, value;
} mt_wal_entry;

/* Walks the entries of a BATCH or ENTRIES payload, calling fn for each; a
 * negative return from fn stops the walk and is returned.  A payload that
 * does not parse to the byte is MT_ECORRUPT (nothing is called for it:
 * the payload is validated before the first call).  *count gets the
 * number of entries and *last_seq the highest seq. */
int mt_wal_decode_entries(mt_slice payload, int (*fn)(void *ctx, const mt_wal_entry *e),
                          void *ctx, uint32_t *count, uint64_t *last_seq);

/* The body of a BATCH record (entries only) held by a batch (batch.c). */
typedef struct mt_batch mt_batch;
mt_slice mt_batch_body(const mt_batch *b);

/* Walks a BATCH body whose entries take seq, seq + 1, ... like
 * mt_wal_decode_entries. */
int mt_wal_decode_body(mt_slice body, uint64_t seq, uint32_t count,
                       int (*fn)(void *ctx, const mt_wal_entry *e), void *ctx);

/* Entry codec shared with batch.c: bytes of one entry, and its encoding. */
size_t mt_wal_entry_size(mt_kind kind, mt_slice key, mt_slice value);
uint8_t *mt_wal_entry_encode(uint8_t *p, mt_kind kind, mt_slice key, mt_slice value);

/* ---- writer ------------------------------------------------------------------
 * Invariants:
 *  1. pending holds whole framed records only; after flush() it is empty.
 *  2. offset (durable + pending) decides where the next fragment falls in
 *     its block; fragments never cross a block boundary.
 *  3. After a failed flush or sync the writer is failed for good: every
 *     later call returns MT_EIO.  A failed flush first tries to truncate the
 *     file back to the last complete group, so a torn group is not left
 *     behind when the file system allows. */
typedef struct mt_wal_writer mt_wal_writer;

/* Creates the segment at path (truncating), frames the header record and
 * writes it; the caller syncs the file and the directory.  mapped: the
 * segment is a log file (file.h mt_file_create_log: appends are copies
 * into a mapping, which can be reused), else appends are write(2)s --
 * cheaper around an fdatasync per group, which cleans and write-protects
 * the mapped pages on every CPU. */
int mt_wal_writer_open(mt_wal_writer **out, const char *path, const mt_wal_header *h, bool mapped);
/* A writer for segment h->number over `log`, the file of an older segment
 * (released by mt_wal_writer_release, now obsolete): it is written again
 * from its start -- the header first, over the old bytes, whose records
 * carry another segment's number and so are never read as this one's --
 * then renamed to path.  On failure the log stays the caller's. */
int mt_wal_writer_reuse(mt_wal_writer **out, mt_file *log, const char *path, const mt_wal_header *h);
/* Frees the writer but not its file, which it returns, open. */
mt_file *mt_wal_writer_release(mt_wal_writer *w);
/* Frames one logical record into the pending buffer (no I/O).  addv
 * frames the concatenation of n pieces as one record. */
int mt_wal_writer_add(mt_wal_writer *w, const void *payload, size_t len);
int mt_wal_writer_addv(mt_wal_writer *w, const mt_slice *parts, int n);
/* Makes room to frame `records` records of `bytes` payload bytes in all,
 * so that the adds that follow cannot fail for memory (MT_ENOMEM here
 * leaves the writer as it was). */
int mt_wal_writer_reserve(mt_wal_writer *w, size_t bytes, size_t records);
/* Writes everything pending with one append. */
int mt_wal_writer_flush(mt_wal_writer *w);
int mt_wal_writer_sync(mt_wal_writer *w);
uint64_t mt_wal_writer_offset(const mt_wal_writer *w); /* bytes written */
uint64_t mt_wal_writer_number(const mt_wal_writer *w);
/* Renames the segment file (a rewritten log becomes the live one). */
int mt_wal_writer_rename(mt_wal_writer *w, const char *path);
const char *mt_wal_writer_path(const mt_wal_writer *w);
int mt_wal_writer_close(mt_wal_writer *w); /* frees; MT_EIO if close failed */

/* ---- reader -------------------------------------------------------------- */
typedef enum mt_wal_damage_kind {
  MT_WAL_DMG_NONE = 0,
  MT_WAL_DMG_TORN,      /* a header or payload cut short by the end of file */
  MT_WAL_DMG_CHECKSUM,  /* checksum mismatch */
  MT_WAL_DMG_LENGTH,    /* length runs past the end of its block */
  MT_WAL_DMG_TYPE,      /* type outside FULL..LAST, or zeroed bytes */
  MT_WAL_DMG_STALE,     /* a valid record of another segment */
  MT_WAL_DMG_FRAGMENT,  /* fragments out of order or a record missing its end */
  MT_WAL_DMG_PAYLOAD,   /* checksum fine but the logical record does not parse */
} mt_wal_damage_kind;

typedef struct mt_wal_damage {
  mt_wal_damage_kind kind;
  uint64_t offset; /* where the damage starts */
  uint64_t resume; /* where valid records resume (file end when tail) */
  bool tail;       /* no valid record of this segment follows it */
} mt_wal_damage;

const char *mt_wal_damage_text(mt_wal_damage_kind k);

typedef struct mt_wal_reader mt_wal_reader;
int mt_wal_reader_open(mt_wal_reader **out, const char *path, uint64_t number);
void mt_wal_reader_free(mt_wal_reader *r);
/* The next logical record.  MT_OK: *payload (valid until the next call)
 * and *offset (where its first fragment starts).  MT_NOTFOUND: clean end
 * (end of file, or only zeroed / older segments' bytes after the last
 * record).  MT_ECORRUPT: mt_wal_reader_damage() describes it and
 * mt_last_error() names the file and offset; the next call continues at
 * damage.resume.  MT_EIO / MT_ENOMEM: reading failed. */
int mt_wal_reader_next(mt_wal_reader *r, mt_slice *payload, uint64_t *offset);
const mt_wal_damage *mt_wal_reader_damage(const mt_wal_reader *r);
uint64_t mt_wal_reader_size(const mt_wal_reader *r); /* bytes read so far */

#endif
