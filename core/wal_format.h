/* wal_format.h -- the on-disk layout of a WAL segment (docs/wal-format.md).
 *
 * A segment is a sequence of 32 KiB blocks.  A block holds physical
 * records; fewer than kHeader bytes left at a block's end are zero padding.
 * Physical record:
 *
 *   header = checksum (4) + length (2) + type (1) + number (4) = 11 bytes
 *   then `length` payload bytes, all inside the same block.
 *
 *   checksum  low 32 bits of XXH3-64 over type, length, number and payload
 *   length    payload bytes, little-endian; at most kBlock - kHeader
 *   type      FULL, FIRST, MIDDLE, LAST; 0 is reserved (zero padding and
 *             preallocated space are never a record)
 *   number    low 32 bits of the segment's number: a record from another
 *             (older, reused) file fails the checksum of this one
 *
 * A logical record (a batch, the file header) larger than the room left is
 * split into FIRST, MIDDLE..., LAST fragments.  Logical payloads start with
 * a tag byte (MT_WAL_TAG_*); integers are little-endian.
 */
#ifndef MT_CORE_WAL_FORMAT_H
#define MT_CORE_WAL_FORMAT_H

enum {
  MT_WAL_BLOCK = 32768,
  MT_WAL_HEADER = 4 + 2 + 1 + 4,
};

typedef enum mt_wal_type {
  MT_WAL_ZERO = 0, /* reserved */
  MT_WAL_FULL = 1,
  MT_WAL_FIRST = 2,
  MT_WAL_MIDDLE = 3,
  MT_WAL_LAST = 4,
} mt_wal_type;

/* Logical record tags. */
enum {
  /* u8 tag | u32 version | u64 number | u64 base_seq | u8 flags |
   * u16 name_len | comparator name.  First record of every segment.
   * base_seq: the last sequence number written before this segment. */
  MT_WAL_TAG_HEADER = 1,
  /* u8 tag | u64 seq | u32 count | count x entry; entry i has seq + i.
   * entry = u8 kind | varint32 klen | key | (PUT: varint32 vlen | value) */
  MT_WAL_TAG_BATCH = 2,
  /* u8 tag | u32 count | count x (u64 seq | entry): a rewritten memtable */
  MT_WAL_TAG_ENTRIES = 3,
};

enum {
  MT_WAL_VERSION = 1,
  MT_WAL_HEADER_FIXED = 1 + 4 + 8 + 8 + 1 + 2, /* header record before the name */
  MT_WAL_BATCH_FIXED = 1 + 8 + 4,              /* batch record before entries */
  /* flags of the header record: every lower-numbered segment is obsolete
   * (this one holds everything they held) */
  MT_WAL_FLAG_SUPERSEDES = 1,
  /* the previous segment was not synced when this one was made (a freeze
   * under MT_SYNC_NONE): after a power loss its tail may be gone while this
   * segment's records survived, and recovery must end the log there */
  MT_WAL_FLAG_PREV_UNSYNCED = 2,
};

#endif
