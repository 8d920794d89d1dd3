/* run_reader.c -- opens, verifies and reads a sorted-run file
 * (run_format.h): point lookups through the bloom filter and a raw
 * iterator in internal order.
 *
 * Thread safety: an mt_run is read-only after open; refs are atomic (see
 * run.h).  An iterator belongs to one thread.
 *
 * Invariants:
 *  1. open checks, before anything is read through the fast paths: the
 *     footer's magic, version and checksum; that index, bloom and props lie
 *     in order between the data and the footer; their checksums; that the
 *     index's blocks tile [0, index_off) exactly with good checksums; that
 *     every entry of every block lies inside it; and that entries are in
 *     strict internal order (key ascending, seq descending) with each
 *     block's last entry equal to its index key.  So the readers below
 *     never bound-check again.
 *  2. blocks[i].first is the number of entries before block i, so an
 *     iterator position is (block, entry-in-block) with offsets decoded
 *     once per block visit.
 */
#include "run.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

typedef struct blockref {
  uint64_t off;
  uint32_t len;
  mt_slice last_key;
  uint64_t last_seq;
} blockref;

struct mt_run {
  _Atomic long refs;
  const uint8_t *data;
  size_t len;
  bool mapped;
  char *path;
  mt_comparator cmp;
  bool bytewise;
  blockref *blocks;
  uint32_t nblocks;
  const uint8_t *bloom;
  uint32_t bloom_k, bloom_bits;
  mt_run_props props;
};

static uint16_t get_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static int bad(const mt_run *r, uint64_t off, const char *what) {
  return mt_set_error(MT_ECORRUPT, "run %s: offset %" PRIu64 ": %s", r->path, off, what);
}

static int kcmp(const mt_run *r, mt_slice a, mt_slice b) { return mt_key_compare(&r->cmp, a, b); }

/* One decoded entry at p (bounds already verified). */
typedef struct ent {
  mt_slice key, value;
  uint64_t seq;
  mt_kind kind;
  uint32_t size;
} ent;

static ent decode(const uint8_t *p) {
  ent e;
  uint32_t kl = get_u32(p), vl = get_u32(p + 4);
  uint64_t sk = get_u64(p + 8);
  e.key = (mt_slice){p + MT_RUN_ENTRY_FIXED, kl};
  e.value = (mt_slice){p + MT_RUN_ENTRY_FIXED + kl, vl};
  e.seq = sk >> 8;
  e.kind = (mt_kind)(sk & 0xff);
  e.size = MT_RUN_ENTRY_FIXED + kl + vl;
  return e;
}

/* Internal order: <0 when (ka, sa) comes before (kb, sb). */
static int icmp(const mt_run *r, mt_slice ka, uint64_t sa, mt_slice kb, uint64_t sb) {
  int c = kcmp(r, ka, kb);
  if (c) return c;
  return sa > sb ? -1 : sa < sb;
}

/* Every entry of block b: in bounds, of a known kind, after the one before
 * (prev_key, prev_seq); counts them and widens [*min, *max] by their seqs. */
static int verify_block(mt_run *r, uint32_t b, mt_slice *prev_key, uint64_t *prev_seq, uint64_t *count,
                        uint64_t *min, uint64_t *max) {
  const blockref *br = &r->blocks[b];
  const uint8_t *p = r->data + br->off, *end = p + br->len;
  ent e = {0};
  while (p < end) {
    uint64_t at = (uint64_t)(p - r->data);
    if ((size_t)(end - p) < MT_RUN_ENTRY_FIXED) return bad(r, at, "an entry header runs past its block");
    uint64_t kl = get_u32(p), vl = get_u32(p + 4), sk = get_u64(p + 8);
    if (kl + vl > (uint64_t)(end - p) - MT_RUN_ENTRY_FIXED) return bad(r, at, "an entry runs past its block");
    if ((sk & 0xff) > MT_PUT) return bad(r, at, "an entry's kind is neither put nor delete");
    if ((sk & 0xff) == MT_DELETE && vl) return bad(r, at, "a tombstone carries a value");
    e = decode(p);
    if (*count && icmp(r, *prev_key, *prev_seq, e.key, e.seq) >= 0)
      return bad(r, at, "entries are not in internal order (key ascending, seq descending)");
    *prev_key = e.key;
    *prev_seq = e.seq;
    (*count)++;
    if (e.seq < *min) *min = e.seq;
    if (e.seq > *max) *max = e.seq;
    p += e.size;
  }
  if (kcmp(r, e.key, br->last_key) || e.seq != br->last_seq)
    return bad(r, br->off, "a block's last entry differs from its index entry");
  if (e.key.len != br->last_key.len || (e.key.len && memcmp(e.key.data, br->last_key.data, e.key.len)))
    return bad(r, br->off, "a block's last key differs from its index entry");
  return MT_OK;
}

static int parse(mt_run *r) {
  const uint8_t *d = r->data;
  size_t n = r->len;
  if (n < MT_RUN_FOOTER) return bad(r, 0, "shorter than a footer");
  const uint8_t *f = d + n - MT_RUN_FOOTER;
  uint64_t foff = n - MT_RUN_FOOTER;
  if (get_u64(f + 56) != MT_RUN_MAGIC) return bad(r, foff + 56, "bad magic: not a run file");
  if (mt_run_cksum(f, 52) != get_u32(f + 52)) return bad(r, foff, "footer checksum mismatch");
  if (get_u32(f + 48) != MT_RUN_VERSION)
    return mt_set_error(MT_EINVAL, "run %s: format version %u; this library reads version %d", r->path,
                        get_u32(f + 48), MT_RUN_VERSION);
  uint64_t poff = get_u64(f), ioff = get_u64(f + 16), boff = get_u64(f + 32);
  uint32_t plen = get_u32(f + 8), ilen = get_u32(f + 24), blen = get_u32(f + 40);
  if (ioff > foff || ilen > foff - ioff || boff != ioff + ilen || blen > foff - boff || poff != boff + blen ||
      plen != foff - poff)
    return bad(r, foff, "sections are not laid out as data, index, bloom, props, footer");
  if (mt_run_cksum(d + ioff, ilen) != get_u32(f + 28)) return bad(r, ioff, "index checksum mismatch");
  if (mt_run_cksum(d + boff, blen) != get_u32(f + 44)) return bad(r, boff, "bloom checksum mismatch");
  if (mt_run_cksum(d + poff, plen) != get_u32(f + 12)) return bad(r, poff, "props checksum mismatch");
  /* props */
  const uint8_t *p = d + poff;
  if (plen < 2 || plen != 2u + get_u16(p) + 48u) return bad(r, poff, "props have the wrong length");
  uint16_t nl = get_u16(p);
  r->props.cmp_name = (mt_slice){p + 2, nl};
  p += 2 + nl;
  r->props.count = get_u64(p);
  r->props.min_seq = get_u64(p + 8);
  r->props.max_seq = get_u64(p + 16);
  r->props.number = get_u64(p + 24);
  r->props.first_input = get_u64(p + 32);
  r->props.last_input = get_u64(p + 40);
  if (r->props.max_seq > MT_SEQ_MAX || r->props.min_seq > r->props.max_seq)
    return bad(r, poff, "props hold an impossible seq range");
  /* bloom */
  if (blen < 8) return bad(r, boff, "bloom filter shorter than its header");
  r->bloom_k = get_u32(d + boff);
  r->bloom_bits = get_u32(d + boff + 4);
  if (!r->bloom_k || r->bloom_k > 30 || !r->bloom_bits || r->bloom_bits % 8 || r->bloom_bits / 8 != blen - 8)
    return bad(r, boff, "bloom filter header does not match its size");
  r->bloom = d + boff + 8;
  /* index */
  if (ilen < 4) return bad(r, ioff, "index shorter than its count");
  uint32_t nb = get_u32(d + ioff);
  if (nb > ilen / MT_RUN_INDEX_FIXED) return bad(r, ioff, "index count larger than the index");
  r->blocks = mt_calloc(nb ? nb : 1, sizeof *r->blocks);
  if (!r->blocks) return MT_ENOMEM;
  r->nblocks = nb;
  p = d + ioff + 4;
  const uint8_t *iend = d + ioff + ilen;
  uint64_t expect = 0;
  for (uint32_t b = 0; b < nb; b++) {
    uint64_t at = (uint64_t)(p - d);
    if ((size_t)(iend - p) < MT_RUN_INDEX_FIXED) return bad(r, at, "index entry runs past the index");
    blockref *br = &r->blocks[b];
    br->off = get_u64(p);
    br->len = get_u32(p + 8);
    uint32_t kl = get_u32(p + 16);
    br->last_seq = get_u64(p + 20);
    if (kl > (size_t)(iend - p) - MT_RUN_INDEX_FIXED) return bad(r, at, "index key runs past the index");
    br->last_key = (mt_slice){p + MT_RUN_INDEX_FIXED, kl};
    if (br->off != expect || !br->len || br->len > ioff - br->off)
      return bad(r, at, "index blocks do not tile the data area");
    if (mt_run_cksum(d + br->off, br->len) != get_u32(p + 12)) return bad(r, br->off, "data block checksum mismatch");
    expect = br->off + br->len;
    p += MT_RUN_INDEX_FIXED + kl;
  }
  if (p != iend) return bad(r, (uint64_t)(p - d), "bytes left over after the index");
  if (expect != ioff) return bad(r, expect, "data area not covered by the index");
  mt_slice prev = {0};
  uint64_t pseq = 0, count = 0, min = UINT64_MAX, max = 0;
  for (uint32_t b = 0; b < nb; b++) {
    int rc = verify_block(r, b, &prev, &pseq, &count, &min, &max);
    if (rc) return rc;
  }
  if (count != r->props.count) return bad(r, poff, "props count differs from the entries");
  if (count && (min != r->props.min_seq || max != r->props.max_seq))
    return bad(r, poff, "props seq range differs from the entries");
  return MT_OK;
}

static int run_new(mt_run **out, const void *data, size_t len, bool mapped, const char *name,
                   const mt_comparator *cmp) {
  *out = NULL;
  mt_run *r = mt_calloc(1, sizeof *r);
  if (!r) return MT_ENOMEM;
  atomic_init(&r->refs, 1);
  r->data = data;
  r->len = len;
  r->mapped = mapped;
  r->path = mt_strdup(name);
  r->bytewise = !cmp || !cmp->compare;
  if (cmp) r->cmp = *cmp;
  int rc = r->path ? parse(r) : MT_ENOMEM;
  if (rc) {
    r->mapped = false; /* the caller unmaps */
    mt_run_unref(r);
    return rc;
  }
  *out = r;
  return MT_OK;
}

int mt_run_open(mt_run **out, const char *path, const mt_comparator *cmp) {
  *out = NULL;
  const void *data;
  size_t len;
  int rc = mt_file_map(path, &data, &len);
  if (rc) return rc;
  rc = run_new(out, data, len, true, path, cmp);
  if (rc) mt_file_unmap(data, len);
  return rc;
}

int mt_run_open_buffer(mt_run **out, const void *data, size_t len, const char *name, const mt_comparator *cmp) {
  return run_new(out, data, len, false, name ? name : "(buffer)", cmp);
}

void mt_run_ref(mt_run *r) {
  if (r) atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void mt_run_unref(mt_run *r) {
  if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1) return;
  if (r->mapped) mt_file_unmap(r->data, r->len);
  mt_free(r->blocks);
  mt_free(r->path);
  mt_free(r);
}

const mt_run_props *mt_run_props_of(const mt_run *r) { return &r->props; }
uint64_t mt_run_file_bytes(const mt_run *r) { return r->len; }
const char *mt_run_path(const mt_run *r) { return r->path; }

bool mt_run_may_contain(const mt_run *r, mt_slice key) {
  if (!r->bytewise) return true; /* equal keys may differ in bytes */
  uint64_t h = XXH3_64bits(key.data, key.len);
  uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32);
  for (uint32_t k = 0; k < r->bloom_k; k++) {
    uint32_t bit = (uint32_t)(((uint64_t)h1 + (uint64_t)k * h2) % r->bloom_bits);
    if (!(r->bloom[bit / 8] & (1u << (bit % 8)))) return false;
  }
  return true;
}

/* First block whose last key is >= key (strictly > when after), or nblocks. */
static uint32_t find_block(const mt_run *r, mt_slice key, bool after) {
  uint32_t lo = 0, hi = r->nblocks;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = kcmp(r, r->blocks[mid].last_key, key);
    if (after ? c > 0 : c >= 0) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

int mt_run_get(mt_run *r, mt_slice key, uint64_t snapshot, mt_slice *value, uint64_t *seq) {
  if (!mt_run_may_contain(r, key)) return MT_NOTFOUND;
  for (uint32_t b = find_block(r, key, false); b < r->nblocks; b++) {
    const uint8_t *p = r->data + r->blocks[b].off, *end = p + r->blocks[b].len;
    for (; p < end;) {
      ent e = decode(p);
      p += e.size;
      int c = kcmp(r, e.key, key);
      if (c < 0) continue;
      if (c > 0) return MT_NOTFOUND;
      if (e.seq > snapshot) continue;
      if (value) *value = e.value;
      if (seq) *seq = e.seq;
      return e.kind == MT_PUT ? MT_OK : MT_DELETED;
    }
  }
  return MT_NOTFOUND;
}

/* ---- iterator ---------------------------------------------------------------- */

typedef struct run_iter {
  mt_iter base;
  mt_run *r;
  uint32_t b;    /* current block (nblocks: none loaded) */
  uint32_t *off; /* entry offsets within block b */
  uint32_t n, cap, pos;
} run_iter;

static bool load(run_iter *it, uint32_t b) {
  it->b = b;
  it->n = 0;
  if (b >= it->r->nblocks) return false;
  const blockref *br = &it->r->blocks[b];
  const uint8_t *p = it->r->data + br->off;
  for (uint32_t o = 0; o < br->len;) {
    if (it->n == it->cap) {
      uint32_t cap = it->cap ? it->cap * 2 : 64;
      uint32_t *x = mt_realloc(it->off, cap * sizeof *x);
      if (!x) {
        it->base.status = mt_set_error(MT_ENOMEM, "run iterator: out of memory");
        it->n = 0;
        return false;
      }
      it->off = x;
      it->cap = cap;
    }
    it->off[it->n++] = o;
    o += decode(p + o).size;
  }
  return true;
}

static void show(run_iter *it) {
  if (it->b >= it->r->nblocks || it->pos >= it->n) {
    it->base.valid = false;
    return;
  }
  ent e = decode(it->r->data + it->r->blocks[it->b].off + it->off[it->pos]);
  mt_iter_set_fields(&it->base, e.key, e.seq, e.kind, e.value);
}

static ent at(run_iter *it, uint32_t pos) { return decode(it->r->data + it->r->blocks[it->b].off + it->off[pos]); }

static void ri_free(mt_iter *base) {
  run_iter *it = (run_iter *)base;
  mt_run_unref(it->r);
  mt_free(it->off);
  mt_free(it);
}
static void ri_first(mt_iter *base) {
  run_iter *it = (run_iter *)base;
  it->pos = 0;
  load(it, 0);
  show(it);
}
static void ri_last(mt_iter *base) {
  run_iter *it = (run_iter *)base;
  if (load(it, it->r->nblocks ? it->r->nblocks - 1 : 0)) it->pos = it->n - 1;
  show(it);
}
static void ri_seek(mt_iter *base, mt_slice key) {
  run_iter *it = (run_iter *)base;
  it->pos = 0;
  if (load(it, find_block(it->r, key, false)))
    while (it->pos < it->n && kcmp(it->r, at(it, it->pos).key, key) < 0) it->pos++;
  show(it);
}
static void ri_seek_for_prev(mt_iter *base, mt_slice key) {
  run_iter *it = (run_iter *)base;
  uint32_t b = find_block(it->r, key, true);
  if (b == it->r->nblocks) {
    ri_last(base);
    return;
  }
  if (!load(it, b)) {
    show(it);
    return;
  }
  uint32_t pos = 0;
  while (pos < it->n && kcmp(it->r, at(it, pos).key, key) <= 0) pos++;
  if (pos) {
    it->pos = pos - 1;
  } else if (b > 0 && load(it, b - 1)) {
    it->pos = it->n - 1;
  } else {
    it->b = it->r->nblocks;
  }
  show(it);
}
static void ri_next(mt_iter *base) {
  run_iter *it = (run_iter *)base;
  if (++it->pos >= it->n) {
    it->pos = 0;
    load(it, it->b + 1);
  }
  show(it);
}
static void ri_prev(mt_iter *base) {
  run_iter *it = (run_iter *)base;
  if (it->pos > 0) {
    it->pos--;
  } else if (it->b > 0 && load(it, it->b - 1)) {
    it->pos = it->n - 1;
  } else {
    it->b = it->r->nblocks;
  }
  show(it);
}

static const mt_iter_vt run_vt = {ri_free, ri_first, ri_last, ri_seek, ri_seek_for_prev, ri_next, ri_prev};

int mt_run_iter_new(mt_iter **out, mt_run *r) {
  *out = NULL;
  run_iter *it = mt_calloc(1, sizeof *it);
  if (!it) return MT_ENOMEM;
  it->base.vt = &run_vt;
  it->r = r;
  it->b = r->nblocks;
  mt_run_ref(r);
  *out = &it->base;
  return MT_OK;
}
