/* wal_reader.c -- reads a WAL segment back, one logical record at a time,
 * and names every kind of damage with its offset (wal_format.h).
 *
 * Thread safety: a reader is used by one thread at a time.
 *
 * Invariants:
 *  1. The reader holds exactly one block in memory.  A header is trusted
 *     only after its length fits the block and the bytes actually read, and
 *     its checksum (which covers the segment number) matches: a length
 *     field never drives a read or an allocation past its block.
 *  2. Fragments are joined only FIRST, MIDDLE..., LAST with nothing damaged
 *     in between; any damage drops the record being assembled, so halves
 *     of two records are never joined.
 *  3. After damage the reader resynchronises on the next valid record of
 *     this segment (scanning byte by byte, the segment number filtering
 *     candidates); `tail` says none was found.  Orphan MIDDLE/LAST
 *     fragments right after damage belong to that damage and are dropped
 *     without a second report.
 *  4. Zeroed bytes (preallocation) and valid records of another segment
 *     (a reused file) end the segment cleanly when nothing of this
 *     segment follows them; otherwise they are damage.
 */
#include "wal.h"

#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

struct mt_wal_reader {
  mt_file *file;
  uint32_t number; /* low 32 bits, as records carry it */
  uint8_t *block;
  size_t blen;     /* valid bytes in block */
  size_t pos;      /* parse position in block */
  uint64_t bstart; /* file offset of block[0] */
  bool done;       /* the segment ended (clean or damaged tail) */
  bool resyncing;  /* drop orphan fragments silently (invariant 3) */
  bool in_frag;    /* a FIRST was seen; rec holds the pieces so far */
  uint64_t rec_off;
  uint8_t *rec;
  size_t rec_len, rec_cap;
  mt_wal_damage dmg;
};

static uint16_t get_u16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}
static uint32_t get_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

bool mt_wal_parse_name(const char *name, uint64_t *number) {
  if (strncmp(name, "wal-", 4)) return false;
  const char *p = name + 4;
  uint64_t n = 0;
  int digits = 0;
  for (; *p >= '0' && *p <= '9'; p++, digits++) {
    if (n > (UINT64_MAX - 9) / 10) return false;
    n = n * 10 + (uint64_t)(*p - '0');
  }
  if (digits < 12 || strcmp(p, ".log")) return false;
  *number = n;
  return true;
}

const char *mt_wal_damage_text(mt_wal_damage_kind k) {
  switch (k) {
    case MT_WAL_DMG_NONE: return "no damage";
    case MT_WAL_DMG_TORN: return "record cut short by the end of the file";
    case MT_WAL_DMG_CHECKSUM: return "checksum mismatch";
    case MT_WAL_DMG_LENGTH: return "bad length (runs past the end of its block)";
    case MT_WAL_DMG_TYPE: return "bad record type or zeroed bytes";
    case MT_WAL_DMG_STALE: return "record of another segment (stale bytes)";
    case MT_WAL_DMG_FRAGMENT: return "fragments out of order";
    case MT_WAL_DMG_PAYLOAD: return "record payload does not parse";
  }
  return "unknown damage";
}

/* ---- blocks ------------------------------------------------------------------- */

/* Loads the block after the current one; blen 0 at end of file. */
static int load_next_block(mt_wal_reader *r) {
  r->bstart += r->blen;
  r->blen = 0;
  r->pos = 0;
  while (r->blen < MT_WAL_BLOCK) {
    size_t got;
    int rc = mt_file_read(r->file, r->block + r->blen, MT_WAL_BLOCK - r->blen, &got);
    if (rc) return rc;
    if (!got) break;
    r->blen += got;
  }
  return MT_OK;
}

static bool at_eof_block(const mt_wal_reader *r) { return r->blen < MT_WAL_BLOCK; }

/* ---- physical records ------------------------------------------------------- */

typedef enum { PH_OK, PH_EOF, PH_BAD, PH_ZERO, PH_STALE } phys;

typedef struct {
  mt_wal_type type;
  const uint8_t *data;
  size_t len;
  uint64_t off;
  mt_wal_damage_kind bad;
} precord;

static bool checksum_ok(const uint8_t *h, size_t len) {
  return (uint32_t)XXH3_64bits(h + 4, MT_WAL_HEADER - 4 + len) == get_u32(h);
}

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

/* Looks at the physical record at the parse position, loading blocks as
 * needed; does not consume it. */
static int peek(mt_wal_reader *r, precord *pr, phys *out) {
  for (;;) {
    if (r->pos >= r->blen) {
      if (r->blen && at_eof_block(r)) {
        *out = PH_EOF;
        return MT_OK;
      }
      int rc = load_next_block(r);
      if (rc) return rc;
      if (!r->blen) {
        *out = PH_EOF;
        return MT_OK;
      }
      continue;
    }
    size_t block_left = MT_WAL_BLOCK - r->pos, left = r->blen - r->pos;
    if (block_left < MT_WAL_HEADER) { /* zero padding at the block's end */
      r->pos = r->blen;
      continue;
    }
    const uint8_t *h = r->block + r->pos;
    pr->off = r->bstart + r->pos;
    if (left < MT_WAL_HEADER) {
      pr->bad = MT_WAL_DMG_TORN;
      *out = PH_BAD;
      return MT_OK;
    }
    size_t len = get_u16(h + 4);
    unsigned type = h[6];
    if (all_zero(h, MT_WAL_HEADER)) {
      *out = PH_ZERO;
      return MT_OK;
    }
    pr->bad = MT_WAL_DMG_NONE;
    if (type < MT_WAL_FULL || type > MT_WAL_LAST) pr->bad = MT_WAL_DMG_TYPE;
    else if (MT_WAL_HEADER + len > block_left) pr->bad = MT_WAL_DMG_LENGTH;
    else if (MT_WAL_HEADER + len > left) pr->bad = MT_WAL_DMG_TORN;
    else if (!checksum_ok(h, len)) pr->bad = MT_WAL_DMG_CHECKSUM;
    if (pr->bad) {
      *out = PH_BAD;
      return MT_OK;
    }
    pr->type = (mt_wal_type)type;
    pr->data = h + MT_WAL_HEADER;
    pr->len = len;
    *out = get_u32(h + 7) == r->number ? PH_OK : PH_STALE;
    return MT_OK;
  }
}

static void consume(mt_wal_reader *r, const precord *pr) { r->pos += MT_WAL_HEADER + pr->len; }

/* Scans from file offset `from` (inside or after the current block) for the
 * next valid record of this segment; positions the reader on it.
 * *found false: none before the end of the file. */
static int resync(mt_wal_reader *r, uint64_t from, bool *found) {
  *found = false;
  size_t q = (size_t)(from - r->bstart);
  for (;;) {
    size_t limit = r->blen < MT_WAL_BLOCK - MT_WAL_HEADER ? r->blen : MT_WAL_BLOCK - MT_WAL_HEADER;
    for (; q + MT_WAL_HEADER <= r->blen && q <= limit; q++) {
      const uint8_t *h = r->block + q;
      if (get_u32(h + 7) != r->number || h[6] < MT_WAL_FULL || h[6] > MT_WAL_LAST) continue;
      size_t len = get_u16(h + 4);
      if (q + MT_WAL_HEADER + len > r->blen || q + MT_WAL_HEADER + len > MT_WAL_BLOCK) continue;
      if (!checksum_ok(h, len)) continue;
      r->pos = q;
      *found = true;
      return MT_OK;
    }
    if (!r->blen || at_eof_block(r)) {
      r->pos = r->blen;
      return MT_OK;
    }
    int rc = load_next_block(r);
    if (rc) return rc;
    q = 0;
  }
}

static int report(mt_wal_reader *r, mt_wal_damage_kind kind, uint64_t off, bool tail, uint64_t resume) {
  r->dmg = (mt_wal_damage){kind, off, resume, tail};
  r->in_frag = false;
  r->resyncing = true;
  if (tail) r->done = true;
  return mt_set_error(MT_ECORRUPT, "%s: offset %" PRIu64 ": %s%s", mt_file_path(r->file), off,
                      mt_wal_damage_text(kind), tail ? " (at the tail)" : "");
}

static uint64_t here(const mt_wal_reader *r) { return r->bstart + r->pos; }

/* Damage at pr->off: find where valid records resume and report. */
static int damaged(mt_wal_reader *r, mt_wal_damage_kind kind, uint64_t off) {
  uint64_t start = r->in_frag ? r->rec_off : off;
  bool found;
  int rc = resync(r, off + 1, &found);
  if (rc) return rc;
  return report(r, kind, start, !found, here(r));
}

static int append_frag(mt_wal_reader *r, const precord *pr) {
  if (r->rec_cap - r->rec_len < pr->len) {
    size_t cap = r->rec_cap ? r->rec_cap : MT_WAL_BLOCK;
    while (cap - r->rec_len < pr->len) cap *= 2;
    uint8_t *p = mt_realloc(r->rec, cap);
    if (!p) return MT_ENOMEM;
    r->rec = p;
    r->rec_cap = cap;
  }
  if (pr->len) memcpy(r->rec + r->rec_len, pr->data, pr->len);
  r->rec_len += pr->len;
  return MT_OK;
}

int mt_wal_reader_next(mt_wal_reader *r, mt_slice *payload, uint64_t *offset) {
  if (r->done) return MT_NOTFOUND;
  for (;;) {
    precord pr;
    phys ph;
    int rc = peek(r, &pr, &ph);
    if (rc) return rc;
    switch (ph) {
      case PH_EOF:
        if (r->in_frag) return report(r, MT_WAL_DMG_TORN, r->rec_off, true, here(r));
        r->done = true;
        return MT_NOTFOUND;
      case PH_ZERO:
      case PH_STALE: {
        bool frag = r->in_frag;
        uint64_t start = frag ? r->rec_off : pr.off;
        bool found;
        rc = resync(r, pr.off + 1, &found);
        if (rc) return rc;
        if (found || frag)
          return report(r, ph == PH_ZERO ? MT_WAL_DMG_TYPE : MT_WAL_DMG_STALE, start, !found, here(r));
        r->done = true; /* a clean end: preallocated or reused space */
        return MT_NOTFOUND;
      }
      case PH_BAD:
        return damaged(r, pr.bad, pr.off);
      case PH_OK:
        break;
    }
    if (pr.type == MT_WAL_FULL || pr.type == MT_WAL_FIRST) {
      if (r->in_frag) /* a new record inside a fragmented one: drop the old */
        return report(r, MT_WAL_DMG_FRAGMENT, r->rec_off, false, pr.off);
      r->resyncing = false;
      consume(r, &pr);
      if (pr.type == MT_WAL_FULL) {
        *payload = (mt_slice){pr.data, pr.len};
        *offset = pr.off;
        return MT_OK;
      }
      r->in_frag = true;
      r->rec_off = pr.off;
      r->rec_len = 0;
      rc = append_frag(r, &pr);
      if (rc) return rc;
      continue;
    }
    /* MIDDLE or LAST */
    consume(r, &pr);
    if (!r->in_frag) {
      if (r->resyncing) continue;
      return report(r, MT_WAL_DMG_FRAGMENT, pr.off, false, here(r));
    }
    rc = append_frag(r, &pr);
    if (rc) return rc;
    if (pr.type == MT_WAL_LAST) {
      r->in_frag = false;
      *payload = (mt_slice){r->rec, r->rec_len};
      *offset = r->rec_off;
      return MT_OK;
    }
  }
}

const mt_wal_damage *mt_wal_reader_damage(const mt_wal_reader *r) { return &r->dmg; }
uint64_t mt_wal_reader_size(const mt_wal_reader *r) { return r->bstart + r->blen; }

int mt_wal_reader_open(mt_wal_reader **out, const char *path, uint64_t number) {
  *out = NULL;
  mt_wal_reader *r = mt_calloc(1, sizeof *r);
  if (!r) return MT_ENOMEM;
  r->number = (uint32_t)number;
  r->block = mt_malloc(MT_WAL_BLOCK);
  int rc = r->block ? mt_file_open_read(&r->file, path) : MT_ENOMEM;
  if (rc) {
    mt_free(r->block);
    mt_free(r);
    return rc;
  }
  *out = r;
  return MT_OK;
}

void mt_wal_reader_free(mt_wal_reader *r) {
  if (!r) return;
  mt_file_close(r->file);
  mt_free(r->block);
  mt_free(r->rec);
  mt_free(r);
}

/* ---- logical records ------------------------------------------------------------ */

int mt_wal_decode_header(mt_slice payload, mt_wal_header *out) {
  const uint8_t *p = payload.data;
  if (payload.len < MT_WAL_HEADER_FIXED || p[0] != MT_WAL_TAG_HEADER)
    return mt_set_error(MT_ECORRUPT, "the first record is not a segment header");
  out->version = get_u32(p + 1);
  out->number = get_u64(p + 5);
  out->base_seq = get_u64(p + 13);
  out->flags = p[21];
  size_t n = get_u16(p + 22);
  if (MT_WAL_HEADER_FIXED + n != payload.len)
    return mt_set_error(MT_ECORRUPT, "segment header of %zu bytes names a %zu-byte comparator",
                        payload.len, n);
  out->cmp_name = (mt_slice){p + MT_WAL_HEADER_FIXED, n};
  return MT_OK;
}

static const uint8_t *get_varint32(const uint8_t *p, const uint8_t *end, uint32_t *v) {
  uint32_t r = 0;
  for (int shift = 0; shift <= 28 && p < end; shift += 7) {
    uint32_t b = *p++;
    r |= (b & 127) << shift;
    if (b < 128) {
      *v = r;
      return p;
    }
  }
  return NULL;
}

/* Parses one entry at p; NULL if it runs past end. */
static const uint8_t *parse_entry(const uint8_t *p, const uint8_t *end, mt_wal_entry *e) {
  if (p >= end || *p > MT_PUT) return NULL;
  e->kind = (mt_kind)*p++;
  uint32_t n;
  if (!(p = get_varint32(p, end, &n)) || (size_t)(end - p) < n) return NULL;
  e->key = (mt_slice){p, n};
  p += n;
  e->value = (mt_slice){p, 0};
  if (e->kind == MT_PUT) {
    if (!(p = get_varint32(p, end, &n)) || (size_t)(end - p) < n) return NULL;
    e->value = (mt_slice){p, n};
    p += n;
  }
  return p;
}

/* One pass over n entries in [p, end): validates (fn NULL) or calls fn for
 * each.  explicit: every entry is preceded by its u64 seq; otherwise entry
 * i has seq + i. */
static int walk_body(const uint8_t *p, const uint8_t *end, bool explicit, uint64_t seq, uint32_t n,
                     int (*fn)(void *, const mt_wal_entry *), void *ctx, uint64_t *last_seq) {
  if (!explicit && n && (!seq || seq > MT_SEQ_MAX || n - 1 > MT_SEQ_MAX - seq)) return MT_ECORRUPT;
  uint64_t last = 0;
  for (uint32_t i = 0; i < n; i++) {
    mt_wal_entry e;
    if (explicit) {
      if (end - p < 8) return MT_ECORRUPT;
      e.seq = get_u64(p);
      p += 8;
      if (!e.seq || e.seq > MT_SEQ_MAX) return MT_ECORRUPT;
    } else {
      e.seq = seq + i;
    }
    if (!(p = parse_entry(p, end, &e))) return MT_ECORRUPT;
    if (e.seq > last) last = e.seq;
    if (fn) {
      int rc = fn(ctx, &e);
      if (rc < 0) return rc;
    }
  }
  if (p != end) return MT_ECORRUPT;
  if (last_seq) *last_seq = last;
  return MT_OK;
}

int mt_wal_decode_body(mt_slice body, uint64_t seq, uint32_t count,
                       int (*fn)(void *ctx, const mt_wal_entry *e), void *ctx) {
  const uint8_t *p = body.data;
  return walk_body(p, p + body.len, false, seq, count, fn, ctx, NULL);
}

int mt_wal_decode_entries(mt_slice payload, int (*fn)(void *ctx, const mt_wal_entry *e), void *ctx,
                          uint32_t *count, uint64_t *last_seq) {
  const uint8_t *p = payload.data, *end = p + payload.len;
  uint64_t seq = 0;
  uint32_t n = 0;
  bool explicit = false, ok = payload.len >= 1;
  if (ok && p[0] == MT_WAL_TAG_BATCH && payload.len >= MT_WAL_BATCH_FIXED) {
    seq = get_u64(p + 1);
    n = get_u32(p + 9);
    p += MT_WAL_BATCH_FIXED;
  } else if (ok && p[0] == MT_WAL_TAG_ENTRIES && payload.len >= 5) {
    n = get_u32(p + 1);
    p += 5;
    explicit = true;
  } else {
    ok = false;
  }
  uint64_t last = 0;
  if (!ok || walk_body(p, end, explicit, seq, n, NULL, NULL, &last))
    return mt_set_error(MT_ECORRUPT, "WAL record of %zu bytes does not parse", payload.len);
  if (count) *count = n;
  if (last_seq) *last_seq = last;
  return fn ? walk_body(p, end, explicit, seq, n, fn, ctx, NULL) : MT_OK;
}
