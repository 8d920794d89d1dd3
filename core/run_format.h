/* run_format.h -- the bytes of a sorted-run file (docs/run-format.md).
 *
 * A run holds the entries of one flushed memtable (or of a merge of runs)
 * in internal order: user key ascending by the store's comparator, then
 * seq descending.  All integers are little-endian.
 *
 *   file    = data-block* index bloom props footer
 *   entry   = klen u32 + vlen u32 + (seq << 8 | kind) u64 + key + value
 *             (16 + klen + vlen bytes; vlen is 0 for a tombstone)
 *   block   = entry+, closed once it holds >= MT_RUN_BLOCK bytes
 *   index   = count u32 + index-entry*      (one per data block, in order)
 *   index-entry = offset u64 + len u32 + checksum u32 + last_klen u32
 *                 + last_seq u64 + last key           (28 + last_klen bytes)
 *   bloom   = k u32 + nbits u32 + bits            (nbits / 8 bytes)
 *   props   = name_len u16 + comparator name + count u64 + min_seq u64
 *             + max_seq u64 + number u64 + first_input u64 + last_input u64
 *   footer  = props_off u64 + props_len u32 + props_ck u32
 *           + index_off u64 + index_len u32 + index_ck u32
 *           + bloom_off u64 + bloom_len u32 + bloom_ck u32
 *           + version u32 + footer_ck u32 + magic u64   (= 64 bytes)
 *
 * checksum: low 32 bits of XXH3-64 over the section's bytes (footer_ck:
 * over the 52 footer bytes before it).  Bloom: bits set at
 * (h1 + i * h2) mod nbits for i < k, h1/h2 the low/high halves of
 * XXH3-64 of the user key.  first_input..last_input: the run numbers a
 * merged run replaces (0..0 for a flushed memtable).
 */
#ifndef MT_CORE_RUN_FORMAT_H
#define MT_CORE_RUN_FORMAT_H

#define MT_RUN_MAGIC 0x314e55524c424d54ull /* "TMBLRUN1" little-endian */
#define MT_RUN_VERSION 1
#define MT_RUN_BLOCK 4096       /* target data block size */
#define MT_RUN_ENTRY_FIXED 16   /* klen + vlen + seq/kind */
#define MT_RUN_INDEX_FIXED 28   /* offset + len + checksum + last_klen + last_seq, key excluded */
#define MT_RUN_FOOTER 64
#define MT_RUN_BLOOM_BITS_PER_KEY 10
#define MT_RUN_BLOOM_K 7

#endif
