/* entry.c -- the one entry encoding every rep stores (rep.h documents it):
 *   varint32 klen | key | fixed64le (seq << 8 | kind) | varint32 vlen | value
 * Reading is inline in rep.h; writing is here. */
#include "internal.h"

size_t mt_varint32_len(uint32_t v) {
  size_t n = 1;
  while (v >= 128) {
    v >>= 7;
    n++;
  }
  return n;
}

static uint8_t *put_varint32(uint8_t *p, uint32_t v) {
  while (v >= 128) {
    *p++ = (uint8_t)(v | 128);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

static size_t value_len(const mt_new_entry *e) {
  return e->kind == MT_PUT ? e->value.len : 0;
}

size_t mt_entry_encoded_size(const mt_new_entry *e) {
  size_t vn = value_len(e);
  return mt_varint32_len((uint32_t)e->key.len) + e->key.len + 8 +
         mt_varint32_len((uint32_t)vn) + vn;
}

uint8_t *mt_entry_encode(uint8_t *p, const mt_new_entry *e) {
  size_t vn = value_len(e);
  uint64_t trailer = e->seq << 8 | (uint64_t)e->kind;
  p = put_varint32(p, (uint32_t)e->key.len);
  if (e->key.len) memcpy(p, e->key.data, e->key.len);
  p += e->key.len;
  memcpy(p, &trailer, 8);
  p = put_varint32(p + 8, (uint32_t)vn);
  if (vn) memcpy(p, e->value.data, vn);
  return p + vn;
}
