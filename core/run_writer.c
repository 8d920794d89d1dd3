/* run_writer.c -- writes one sorted-run file (run_format.h).
 *
 * Thread safety: a writer is used by one thread.
 *
 * Invariants:
 *  1. block holds whole entries of the data block being built; it is
 *     appended to the file once it reaches MT_RUN_BLOCK bytes, and its
 *     index entry (offset, length, checksum, last key) goes to index.
 *  2. hashes holds the XXH3-64 of each distinct user key added (entries
 *     arrive in internal order, so equal keys are adjacent); the bloom
 *     filter is built from them at finish, sized for their number.
 *  3. out holds bytes that follow the file's appended bytes; offset counts
 *     both.  It is appended once it holds OUT_BATCH bytes and at finish:
 *     one write(2) per 64 blocks instead of one per block, each of which
 *     costs a system call's entry more than its copy on a VM; its
 *     writeback is started at once (mt_file_start_writeback).
 *  4. After finish only the file is held: a finished run waiting for its
 *     sync (store_flush.c) keeps no buffers.
 */
#include "run.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum { OUT_BATCH = 256 << 10 };

typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf;

struct mt_run_writer {
  mt_file *f;
  char *cmp_name;
  mt_run_info info;
  buf block, index, last_key, out;
  uint64_t last_seq;
  uint64_t *hashes;
  size_t nhashes, hcap;
  uint64_t count, min_seq, max_seq;
  uint64_t offset; /* bytes appended */
  uint32_t nblocks;
};

static int buf_need(buf *b, size_t more) {
  if (b->len + more <= b->cap) return MT_OK;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more) cap *= 2;
  uint8_t *p = mt_realloc(b->p, cap);
  if (!p) return mt_set_error(MT_ENOMEM, "run writer: out of memory growing a %zu-byte buffer", cap);
  b->p = p;
  b->cap = cap;
  return MT_OK;
}

/* Appends what out holds to the file (invariant 3). */
static int flush_out(mt_run_writer *w) {
  if (!w->out.len) return MT_OK;
  uint64_t at = mt_file_size(w->f);
  int rc = mt_file_append(w->f, w->out.p, w->out.len);
  if (!rc) mt_file_start_writeback(w->f, at, w->out.len);
  w->out.len = 0;
  return rc;
}

/* Adds n bytes to the file through out; offset moves past them. */
static int emit(mt_run_writer *w, const void *p, size_t n) {
  int rc = MT_OK;
  if (w->out.len + n > OUT_BATCH) rc = flush_out(w);
  if (!rc && n >= OUT_BATCH) rc = mt_file_append(w->f, p, n);
  else if (!rc && !(rc = buf_need(&w->out, n))) {
    memcpy(w->out.p + w->out.len, p, n);
    w->out.len += n;
  }
  if (!rc) w->offset += n;
  return rc;
}

static void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

void mt_run_name(char *b, size_t cap, uint64_t number) { snprintf(b, cap, "run-%012" PRIu64 ".sst", number); }

bool mt_run_parse_name(const char *name, uint64_t *number) {
  size_t len = strlen(name);
  if (len < 4 + 12 + 4 || strncmp(name, "run-", 4) || strcmp(name + len - 4, ".sst")) return false;
  uint64_t n = 0;
  for (size_t i = 4; i < len - 4; i++) {
    if (name[i] < '0' || name[i] > '9' || n > (UINT64_MAX - 9) / 10) return false;
    n = n * 10 + (uint64_t)(name[i] - '0');
  }
  *number = n;
  return true;
}

int mt_run_writer_open(mt_run_writer **out, const char *path, const mt_run_info *info) {
  *out = NULL;
  mt_run_writer *w = mt_calloc(1, sizeof *w);
  if (!w) return MT_ENOMEM;
  w->cmp_name = mt_strdup(info->cmp_name);
  if (!w->cmp_name) {
    mt_free(w);
    return MT_ENOMEM;
  }
  w->info = *info;
  w->min_seq = UINT64_MAX;
  int rc = mt_file_create(&w->f, path);
  if (rc) {
    mt_free(w->cmp_name);
    mt_free(w);
    return rc;
  }
  *out = w;
  return MT_OK;
}

static int end_block(mt_run_writer *w) {
  if (!w->block.len) return MT_OK;
  int rc = buf_need(&w->index, MT_RUN_INDEX_FIXED + w->last_key.len);
  if (rc) return rc;
  uint8_t *p = w->index.p + w->index.len;
  put_u64(p, w->offset);
  put_u32(p + 8, (uint32_t)w->block.len);
  put_u32(p + 12, mt_run_cksum(w->block.p, w->block.len));
  put_u32(p + 16, (uint32_t)w->last_key.len);
  put_u64(p + 20, w->last_seq);
  if (w->last_key.len) memcpy(p + MT_RUN_INDEX_FIXED, w->last_key.p, w->last_key.len);
  rc = emit(w, w->block.p, w->block.len);
  if (rc) return rc;
  w->index.len += MT_RUN_INDEX_FIXED + w->last_key.len;
  w->block.len = 0;
  w->nblocks++;
  return MT_OK;
}

int mt_run_writer_add(mt_run_writer *w, mt_slice key, uint64_t seq, mt_kind kind, mt_slice value) {
  if (kind != MT_PUT) value.len = 0;
  if (key.len > UINT32_MAX || value.len > UINT32_MAX)
    return mt_set_error(MT_EINVAL, "run writer: an entry of %zu + %zu bytes is too big", key.len, value.len);
  bool new_key = !w->count || key.len != w->last_key.len || (key.len && memcmp(key.data, w->last_key.p, key.len));
  int rc = buf_need(&w->block, MT_RUN_ENTRY_FIXED + key.len + value.len);
  if (!rc) rc = buf_need(&w->last_key, key.len);
  if (!rc && new_key && w->nhashes == w->hcap) {
    size_t cap = w->hcap ? w->hcap * 2 : 1024;
    uint64_t *h = mt_realloc(w->hashes, cap * sizeof *h);
    if (!h) rc = mt_set_error(MT_ENOMEM, "run writer: out of memory for the bloom filter's keys");
    else {
      w->hashes = h;
      w->hcap = cap;
    }
  }
  if (rc) return rc;
  uint8_t *p = w->block.p + w->block.len;
  put_u32(p, (uint32_t)key.len);
  put_u32(p + 4, (uint32_t)value.len);
  put_u64(p + 8, seq << 8 | (uint64_t)kind);
  if (key.len) memcpy(p + MT_RUN_ENTRY_FIXED, key.data, key.len);
  if (value.len) memcpy(p + MT_RUN_ENTRY_FIXED + key.len, value.data, value.len);
  w->block.len += MT_RUN_ENTRY_FIXED + key.len + value.len;
  if (new_key) w->hashes[w->nhashes++] = XXH3_64bits(key.data, key.len);
  if (key.len) memcpy(w->last_key.p, key.data, key.len);
  w->last_key.len = key.len;
  w->last_seq = seq;
  w->count++;
  if (seq < w->min_seq) w->min_seq = seq;
  if (seq > w->max_seq) w->max_seq = seq;
  return w->block.len >= MT_RUN_BLOCK ? end_block(w) : MT_OK;
}

/* Appends one section; *off, *len, *ck describe it. */
static int section(mt_run_writer *w, const uint8_t *p, size_t n, uint64_t *off, uint32_t *len, uint32_t *ck) {
  *off = w->offset;
  *len = (uint32_t)n;
  *ck = mt_run_cksum(p, n);
  return emit(w, p, n);
}

static void release_buffers(mt_run_writer *w) {
  buf *bufs[] = {&w->block, &w->index, &w->last_key, &w->out};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) {
    mt_free(bufs[i]->p);
    *bufs[i] = (buf){0};
  }
  mt_free(w->hashes);
  w->hashes = NULL;
  w->nhashes = w->hcap = 0;
}

int mt_run_writer_finish(mt_run_writer *w) {
  int rc = end_block(w);
  if (rc) return rc;
  /* index: count first */
  buf ix = {0};
  rc = buf_need(&ix, 4 + w->index.len);
  if (rc) return rc;
  put_u32(ix.p, w->nblocks);
  if (w->index.len) memcpy(ix.p + 4, w->index.p, w->index.len);
  ix.len = 4 + w->index.len;
  uint64_t ioff, boff, poff;
  uint32_t ilen, ick, blen, bck, plen, pck;
  rc = section(w, ix.p, ix.len, &ioff, &ilen, &ick);
  mt_free(ix.p);
  if (rc) return rc;
  /* bloom */
  uint64_t nbits = (uint64_t)w->nhashes * MT_RUN_BLOOM_BITS_PER_KEY;
  if (nbits < 64) nbits = 64;
  nbits = (nbits + 7) / 8 * 8;
  if (nbits > (uint64_t)UINT32_MAX - 7) nbits = ((uint64_t)UINT32_MAX - 7) / 8 * 8;
  uint8_t *bl = mt_calloc(1, 8 + nbits / 8);
  if (!bl) return mt_set_error(MT_ENOMEM, "run writer: out of memory for the bloom filter");
  put_u32(bl, MT_RUN_BLOOM_K);
  put_u32(bl + 4, (uint32_t)nbits);
  for (size_t i = 0; i < w->nhashes; i++) {
    uint32_t h1 = (uint32_t)w->hashes[i], h2 = (uint32_t)(w->hashes[i] >> 32);
    for (uint32_t k = 0; k < MT_RUN_BLOOM_K; k++) {
      uint32_t bit = (uint32_t)(((uint64_t)h1 + (uint64_t)k * h2) % nbits);
      bl[8 + bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
  }
  rc = section(w, bl, 8 + nbits / 8, &boff, &blen, &bck);
  mt_free(bl);
  if (rc) return rc;
  /* props */
  size_t nlen = strlen(w->cmp_name);
  uint8_t props[2 + 65535 + 48];
  put_u16(props, (uint16_t)nlen);
  memcpy(props + 2, w->cmp_name, nlen);
  uint8_t *p = props + 2 + nlen;
  put_u64(p, w->count);
  put_u64(p + 8, w->count ? w->min_seq : 0);
  put_u64(p + 16, w->max_seq);
  put_u64(p + 24, w->info.number);
  put_u64(p + 32, w->info.first_input);
  put_u64(p + 40, w->info.last_input);
  rc = section(w, props, 2 + nlen + 48, &poff, &plen, &pck);
  if (rc) return rc;
  uint8_t f[MT_RUN_FOOTER];
  put_u64(f, poff);
  put_u32(f + 8, plen);
  put_u32(f + 12, pck);
  put_u64(f + 16, ioff);
  put_u32(f + 24, ilen);
  put_u32(f + 28, ick);
  put_u64(f + 32, boff);
  put_u32(f + 40, blen);
  put_u32(f + 44, bck);
  put_u32(f + 48, MT_RUN_VERSION);
  put_u32(f + 52, mt_run_cksum(f, 52));
  put_u64(f + 56, MT_RUN_MAGIC);
  rc = emit(w, f, sizeof f);
  if (!rc) rc = flush_out(w);
  if (!rc) release_buffers(w); /* the file waits for its sync with nothing else held */
  return rc;
}

int mt_run_writer_sync(mt_run_writer *w) { return mt_file_sync(w->f); }
const char *mt_run_writer_path(const mt_run_writer *w) { return mt_file_path(w->f); }

int mt_run_writer_close(mt_run_writer *w, bool remove) {
  if (!w) return MT_OK;
  char *path = remove ? mt_strdup(mt_file_path(w->f)) : NULL;
  int rc = mt_file_close(w->f);
  if (path) {
    mt_path_remove(path);
    mt_free(path);
  }
  release_buffers(w);
  mt_free(w->cmp_name);
  mt_free(w);
  return rc;
}
