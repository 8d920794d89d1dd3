/* iter.c -- the public iterator: one type over any source (a memtable's
 * raw entries, the store's merged view), dispatched through mt_iter_vt.
 * The current entry is decoded when asked for, not when reached.
 * An invalid iterator answers empty keys and values; next/prev on it do
 * nothing. */
#include "internal.h"

void mt_iter_set_fields(mt_iter *it, mt_slice key, uint64_t seq, mt_kind kind, mt_slice value) {
  it->valid = true;
  it->entry = NULL;
  it->key = key;
  it->seq = seq;
  it->kind = kind;
  it->value = value;
}

void mt_iter_free(mt_iter *it) {
  if (it) it->vt->free(it);
}
void mt_iter_seek_to_first(mt_iter *it) {
  if (it && it->status == MT_OK) it->vt->seek_to_first(it);
}
void mt_iter_seek_to_last(mt_iter *it) {
  if (it && it->status == MT_OK) it->vt->seek_to_last(it);
}
/* A key with NULL data and a nonzero length positions nowhere: invalid. */
static bool seekable(mt_iter *it, mt_slice key, const char *fn) {
  if (!it || it->status != MT_OK) return false;
  if (key.data || !key.len) return true;
  it->valid = false;
  mt_set_error(MT_EINVAL, "%s: key.data is NULL with len %zu", fn, key.len);
  return false;
}
void mt_iter_seek(mt_iter *it, mt_slice key) {
  if (seekable(it, key, "mt_iter_seek")) it->vt->seek(it, key);
}
void mt_iter_seek_for_prev(mt_iter *it, mt_slice key) {
  if (seekable(it, key, "mt_iter_seek_for_prev")) it->vt->seek_for_prev(it, key);
}
bool mt_iter_valid(const mt_iter *it) { return it && it->valid; }
void mt_iter_next(mt_iter *it) {
  if (it && it->valid) it->vt->next(it);
}
void mt_iter_prev(mt_iter *it) {
  if (it && it->valid) it->vt->prev(it);
}
mt_slice mt_iter_key(const mt_iter *it) {
  if (!it || !it->valid) return (mt_slice){"", 0};
  return it->entry ? mt_entry_key(it->entry) : it->key;
}
mt_slice mt_iter_value(const mt_iter *it) {
  if (!it || !it->valid) return (mt_slice){"", 0};
  return it->entry ? mt_entry_value(it->entry) : it->value;
}
uint64_t mt_iter_seq(const mt_iter *it) {
  if (!it || !it->valid) return 0;
  return it->entry ? mt_entry_seq(it->entry) : it->seq;
}
mt_kind mt_iter_kind(const mt_iter *it) {
  if (!it || !it->valid) return MT_DELETE;
  return it->entry ? mt_entry_kind(it->entry) : it->kind;
}
int mt_iter_status(const mt_iter *it) {
  return it ? it->status : mt_set_error(MT_EINVAL, "mt_iter_status: iterator is NULL");
}
