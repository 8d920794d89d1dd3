/* batch.c -- mt_batch: puts and deletes collected for one all-or-nothing
 * mt_store_write.  The batch keeps its entries already encoded as the
 * body of a WAL BATCH record (wal_format.h), so committing it costs one
 * copy into the WAL's block framing and no re-encoding.
 *
 * Thread safety: a batch is used by one thread at a time; the store only
 * reads it, during mt_store_write.
 * Invariants: buf[0, len) is exactly `count` encoded entries; a failed
 * put or delete leaves the batch unchanged.
 */
#include "internal.h"
#include "wal.h"

struct mt_batch {
  uint8_t *buf;
  size_t len, cap;
  uint32_t count;
};

int mt_batch_new(mt_batch **out) {
  if (!out) return mt_set_error(MT_EINVAL, "mt_batch_new: out is NULL");
  *out = mt_calloc(1, sizeof **out);
  return *out ? MT_OK : MT_ENOMEM;
}

void mt_batch_free(mt_batch *b) {
  if (!b) return;
  mt_free(b->buf);
  mt_free(b);
}

void mt_batch_clear(mt_batch *b) {
  if (!b) return;
  b->len = 0;
  b->count = 0;
}

uint32_t mt_batch_count(const mt_batch *b) { return b ? b->count : 0; }

mt_slice mt_batch_body(const mt_batch *b) { return (mt_slice){b->buf, b->len}; }

static int check(const char *fn, const char *what, mt_slice s) {
  if (!s.data && s.len) return mt_set_error(MT_EINVAL, "%s: %s.data is NULL with len %zu", fn, what, s.len);
  if (s.len > UINT32_MAX)
    return mt_set_error(MT_EINVAL, "%s: %s is %zu bytes; the limit is %u", fn, what, s.len, UINT32_MAX);
  return MT_OK;
}

static int add(mt_batch *b, const char *fn, mt_kind kind, mt_slice key, mt_slice value) {
  if (!b) return mt_set_error(MT_EINVAL, "%s: batch is NULL", fn);
  int rc = check(fn, "key", key);
  if (!rc && kind == MT_PUT) rc = check(fn, "value", value);
  if (rc) return rc;
  if (b->count == UINT32_MAX) return mt_set_error(MT_EINVAL, "%s: the batch is full (%u entries)", fn, b->count);
  size_t n = mt_wal_entry_size(kind, key, value);
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
      if (cap > SIZE_MAX / 2) return mt_set_error(MT_ENOMEM, "%s: batch too large", fn);
      cap *= 2;
    }
    uint8_t *p = mt_realloc(b->buf, cap);
    if (!p) return MT_ENOMEM;
    b->buf = p;
    b->cap = cap;
  }
  mt_wal_entry_encode(b->buf + b->len, kind, key, value);
  b->len += n;
  b->count++;
  return MT_OK;
}

int mt_batch_put(mt_batch *b, mt_slice key, mt_slice value) {
  return add(b, "mt_batch_put", MT_PUT, key, value);
}

int mt_batch_delete(mt_batch *b, mt_slice key) {
  return add(b, "mt_batch_delete", MT_DELETE, key, (mt_slice){NULL, 0});
}
