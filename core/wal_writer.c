/* wal_writer.c -- frames logical records into 32 KiB blocks and appends
 * them to a segment (wal_format.h), plus the encoders of the logical
 * records.
 *
 * Thread safety: one thread at a time (the store's group-commit leader).
 * Invariants are listed with the writer in wal.h; in short: pending holds
 * whole framed records; `offset` = bytes in the file + pending, and decides
 * block positions; any I/O failure fails the writer for good.
 */
#include "wal.h"

#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

struct mt_wal_writer {
  mt_file *file;
  uint64_t number;
  uint64_t offset; /* file bytes + pending bytes */
  uint8_t *pending;
  size_t pending_len, pending_cap;
  int failed; /* 0 or the status that failed the writer */
};

/* ---- little helpers ------------------------------------------------------ */

static uint8_t *put_u16(uint8_t *p, uint16_t v) {
  memcpy(p, &v, 2);
  return p + 2;
}
static uint8_t *put_u32(uint8_t *p, uint32_t v) {
  memcpy(p, &v, 4);
  return p + 4;
}
static uint8_t *put_u64(uint8_t *p, uint64_t v) {
  memcpy(p, &v, 8);
  return p + 8;
}
static uint8_t *put_varint32(uint8_t *p, uint32_t v) {
  while (v >= 128) {
    *p++ = (uint8_t)(v | 128);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

void mt_wal_name(char *buf, size_t cap, uint64_t number) {
  snprintf(buf, cap, "wal-%012" PRIu64 ".log", number);
}

/* ---- logical records -------------------------------------------------------- */

size_t mt_wal_encode_header(uint8_t *buf, const mt_wal_header *h) {
  uint8_t *p = buf;
  *p++ = MT_WAL_TAG_HEADER;
  p = put_u32(p, h->version);
  p = put_u64(p, h->number);
  p = put_u64(p, h->base_seq);
  *p++ = h->flags;
  p = put_u16(p, (uint16_t)h->cmp_name.len);
  if (h->cmp_name.len) memcpy(p, h->cmp_name.data, h->cmp_name.len);
  return (size_t)(p - buf) + h->cmp_name.len;
}

size_t mt_wal_entry_size(mt_kind kind, mt_slice key, mt_slice value) {
  size_t n = 1 + mt_varint32_len((uint32_t)key.len) + key.len;
  if (kind == MT_PUT) n += mt_varint32_len((uint32_t)value.len) + value.len;
  return n;
}

uint8_t *mt_wal_entry_encode(uint8_t *p, mt_kind kind, mt_slice key, mt_slice value) {
  *p++ = (uint8_t)kind;
  p = put_varint32(p, (uint32_t)key.len);
  if (key.len) memcpy(p, key.data, key.len);
  p += key.len;
  if (kind == MT_PUT) {
    p = put_varint32(p, (uint32_t)value.len);
    if (value.len) memcpy(p, value.data, value.len);
    p += value.len;
  }
  return p;
}

/* ---- framing ---------------------------------------------------------------- */

static int reserve(mt_wal_writer *w, size_t more) {
  if (w->pending_cap - w->pending_len >= more) return MT_OK;
  size_t cap = w->pending_cap ? w->pending_cap : 4096;
  while (cap - w->pending_len < more) {
    if (cap > SIZE_MAX / 2) return mt_set_error(MT_ENOMEM, "WAL record of %zu bytes is too large", more);
    cap *= 2;
  }
  uint8_t *p = mt_realloc(w->pending, cap);
  if (!p) return MT_ENOMEM;
  w->pending = p;
  w->pending_cap = cap;
  return MT_OK;
}

/* Upper bound of the framed size of a len-byte record starting at offset. */
static size_t framed_bound(size_t len) {
  size_t room = MT_WAL_BLOCK - MT_WAL_HEADER;
  size_t frags = len / room + 2;
  return len + frags * (MT_WAL_HEADER + MT_WAL_HEADER); /* header + padding */
}

/* Completes the header of the fragment at h whose n payload bytes follow. */
static void seal(mt_wal_writer *w, uint8_t *h, mt_wal_type type, size_t n) {
  put_u16(h + 4, (uint16_t)n);
  h[6] = (uint8_t)type;
  put_u32(h + 7, (uint32_t)w->number);
  put_u32(h, (uint32_t)XXH3_64bits(h + 4, MT_WAL_HEADER - 4 + n));
  w->pending_len += MT_WAL_HEADER + n;
  w->offset += MT_WAL_HEADER + n;
}

int mt_wal_writer_addv(mt_wal_writer *w, const mt_slice *parts, int nparts) {
  if (w->failed) return mt_set_error(MT_EIO, "WAL %s failed earlier; no more writes", mt_file_path(w->file));
  size_t len = 0;
  for (int i = 0; i < nparts; i++) len += parts[i].len;
  int rc = reserve(w, framed_bound(len));
  if (rc) return rc;
  int part = 0;
  size_t used = 0; /* bytes of parts[part] already framed */
  bool first = true;
  for (;;) {
    size_t left_in_block = MT_WAL_BLOCK - (size_t)(w->offset % MT_WAL_BLOCK);
    if (left_in_block < MT_WAL_HEADER) { /* pad the block's tail with zeros */
      memset(w->pending + w->pending_len, 0, left_in_block);
      w->pending_len += left_in_block;
      w->offset += left_in_block;
      continue;
    }
    size_t n = len < left_in_block - MT_WAL_HEADER ? len : left_in_block - MT_WAL_HEADER;
    bool last = n == len;
    mt_wal_type t = first && last ? MT_WAL_FULL : first ? MT_WAL_FIRST : last ? MT_WAL_LAST : MT_WAL_MIDDLE;
    uint8_t *h = w->pending + w->pending_len, *d = h + MT_WAL_HEADER;
    for (size_t copied = 0; copied < n;) { /* gather the fragment's bytes */
      size_t take = parts[part].len - used;
      if (take > n - copied) take = n - copied;
      if (take) memcpy(d + copied, (const uint8_t *)parts[part].data + used, take);
      copied += take;
      used += take;
      if (used == parts[part].len) {
        part++;
        used = 0;
      }
    }
    seal(w, h, t, n);
    len -= n;
    first = false;
    if (last) return MT_OK;
  }
}

int mt_wal_writer_add(mt_wal_writer *w, const void *payload, size_t len) {
  mt_slice one = {payload, len};
  return mt_wal_writer_addv(w, &one, 1);
}

int mt_wal_writer_reserve(mt_wal_writer *w, size_t bytes, size_t records) {
  if (w->failed) return mt_set_error(MT_EIO, "WAL %s failed earlier; no more writes", mt_file_path(w->file));
  size_t need = framed_bound(bytes) + records * 2 * MT_WAL_HEADER;
  return need < bytes ? mt_set_error(MT_ENOMEM, "WAL group of %zu bytes is too large", bytes) : reserve(w, need);
}

static int fail(mt_wal_writer *w, int rc) {
  w->failed = rc;
  return rc;
}

int mt_wal_writer_flush(mt_wal_writer *w) {
  if (w->failed) return mt_set_error(MT_EIO, "WAL %s failed earlier; no more writes", mt_file_path(w->file));
  if (!w->pending_len) return MT_OK;
  uint64_t good = mt_file_size(w->file);
  int rc = mt_file_append(w->file, w->pending, w->pending_len);
  w->pending_len = 0;
  if (rc) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", mt_last_error());
    /* Best effort: cut the torn group off so a reopen finds a clean end. */
    if (mt_file_size(w->file) != good) mt_file_truncate(w->file, good);
    mt_set_error(rc, "%s", msg);
    return fail(w, rc);
  }
  return MT_OK;
}

int mt_wal_writer_sync(mt_wal_writer *w) {
  if (w->failed) return mt_set_error(MT_EIO, "WAL %s failed earlier; no more writes", mt_file_path(w->file));
  int rc = mt_file_sync(w->file);
  return rc ? fail(w, rc) : MT_OK;
}

int mt_wal_writer_open(mt_wal_writer **out, const char *path, const mt_wal_header *h, bool mapped) {
  *out = NULL;
  if (h->cmp_name.len > UINT16_MAX)
    return mt_set_error(MT_EINVAL, "comparator name of %zu bytes is too long for the WAL", h->cmp_name.len);
  mt_wal_writer *w = mt_calloc(1, sizeof *w);
  if (!w) return MT_ENOMEM;
  w->number = h->number;
  uint8_t *hdr = mt_malloc(MT_WAL_HEADER_FIXED + h->cmp_name.len);
  int rc = !hdr ? MT_ENOMEM : mapped ? mt_file_create_log(&w->file, path) : mt_file_create(&w->file, path);
  if (!rc) rc = mt_wal_writer_add(w, hdr, mt_wal_encode_header(hdr, h));
  if (!rc) rc = mt_wal_writer_flush(w);
  mt_free(hdr);
  if (rc) {
    char msg[512]; /* cleanup must not overwrite the reason */
    snprintf(msg, sizeof msg, "%s", mt_last_error());
    if (w->file) {
      mt_file_close(w->file);
      mt_path_remove(path);
    }
    mt_set_error(rc, "%s", msg);
    mt_free(w->pending);
    mt_free(w);
    return rc;
  }
  *out = w;
  return MT_OK;
}

int mt_wal_writer_reuse(mt_wal_writer **out, mt_file *log, const char *path, const mt_wal_header *h) {
  *out = NULL;
  if (h->cmp_name.len > UINT16_MAX)
    return mt_set_error(MT_EINVAL, "comparator name of %zu bytes is too long for the WAL", h->cmp_name.len);
  mt_wal_writer *w = mt_calloc(1, sizeof *w);
  uint8_t *hdr = w ? mt_malloc(MT_WAL_HEADER_FIXED + h->cmp_name.len) : NULL;
  if (!hdr) {
    mt_free(w);
    return MT_ENOMEM;
  }
  w->number = h->number;
  w->file = log;
  int rc = mt_file_log_reuse(log);
  if (!rc) rc = mt_wal_writer_add(w, hdr, mt_wal_encode_header(hdr, h));
  if (!rc) rc = mt_wal_writer_flush(w);
  if (!rc) rc = mt_file_rename(log, path);
  mt_free(hdr);
  if (rc) {
    mt_free(w->pending);
    mt_free(w);
    return rc; /* the log stays the caller's */
  }
  *out = w;
  return MT_OK;
}

mt_file *mt_wal_writer_release(mt_wal_writer *w) {
  mt_file *f = w->file;
  mt_free(w->pending);
  mt_free(w);
  return f;
}

uint64_t mt_wal_writer_offset(const mt_wal_writer *w) { return w->offset - w->pending_len; }
uint64_t mt_wal_writer_number(const mt_wal_writer *w) { return w->number; }
int mt_wal_writer_rename(mt_wal_writer *w, const char *path) { return mt_file_rename(w->file, path); }
const char *mt_wal_writer_path(const mt_wal_writer *w) { return mt_file_path(w->file); }

int mt_wal_writer_close(mt_wal_writer *w) {
  if (!w) return MT_OK;
  int rc = mt_file_close(w->file);
  mt_free(w->pending);
  mt_free(w);
  return rc;
}
