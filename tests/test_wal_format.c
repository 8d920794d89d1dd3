/* test_wal_format.c -- the WAL segment format through the writer and the
 * reader (RELIABILITY.md cases 1, 3 at the reader, 4, 5 and 6):
 * block boundaries, bit flips, bad lengths, fragments out of order, stale
 * tails.  Files live in a mkdtemp directory removed at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../core/wal.h"
#include "support.h"

static char dir[64];
static char path[128];

static int setup(void **state) {
  strcpy(dir, "/tmp/mt_walfmt_XXXXXX");
  if (!mkdtemp(dir)) return -1;
  snprintf(path, sizeof path, "%s/seg.log", dir);
  return 0;
}

static int teardown(void **state) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[512];
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
  return 0;
}

/* Deterministic payload bytes of record i with n bytes. */
static void fill(uint8_t *p, size_t n, unsigned i) {
  for (size_t k = 0; k < n; k++) p[k] = (uint8_t)(i * 131 + k * 7 + (k >> 8));
}

static const mt_wal_header hdr7 = {MT_WAL_VERSION, 7, 0, 0, {"bytewise", 8}};

/* Writes a segment (number 7) holding the header then records of sizes[];
 * offs[i] gets where record i starts. */
static void write_segment(const size_t *sizes, int n, uint64_t *offs) {
  mt_wal_writer *w;
  assert_int_equal(mt_wal_writer_open(&w, path, &hdr7, false), MT_OK);
  for (int i = 0; i < n; i++) {
    uint8_t *p = malloc(sizes[i] + 1);
    fill(p, sizes[i], (unsigned)i);
    uint64_t at = mt_wal_writer_offset(w);
    if (MT_WAL_BLOCK - at % MT_WAL_BLOCK < MT_WAL_HEADER) at += MT_WAL_BLOCK - at % MT_WAL_BLOCK;
    if (offs) offs[i] = at;
    assert_int_equal(mt_wal_writer_add(w, p, sizes[i]), MT_OK);
    assert_int_equal(mt_wal_writer_flush(w), MT_OK);
    free(p);
  }
  assert_int_equal(mt_wal_writer_sync(w), MT_OK);
  assert_int_equal(mt_wal_writer_close(w), MT_OK);
}

typedef struct readout {
  int n;                 /* records returned (header excluded) */
  int ids[64];           /* which original record each one is (-1: none) */
  uint64_t offs[64];
  int damage;            /* damage reports */
  mt_wal_damage dmg[16];
  int end;               /* MT_NOTFOUND */
} readout;

/* Reads the segment back and matches every record against the originals. */
static void read_segment(uint64_t number, const size_t *sizes, int n, readout *out) {
  memset(out, 0, sizeof *out);
  mt_wal_reader *r;
  assert_int_equal(mt_wal_reader_open(&r, path, number), MT_OK);
  mt_slice p;
  uint64_t off;
  bool header = true;
  for (int guard = 0; guard < 200; guard++) {
    int rc = mt_wal_reader_next(r, &p, &off);
    if (rc == MT_NOTFOUND) {
      out->end = 1;
      break;
    }
    if (rc == MT_ECORRUPT) {
      assert_true(strstr(mt_last_error(), path) != NULL);
      if (out->damage < 16) out->dmg[out->damage] = *mt_wal_reader_damage(r);
      out->damage++;
      continue;
    }
    assert_int_equal(rc, MT_OK);
    if (header && off == 0) {
      mt_wal_header h;
      assert_int_equal(mt_wal_decode_header(p, &h), MT_OK);
      header = false;
      continue;
    }
    int id = -1;
    for (int i = 0; i < n && id < 0; i++) {
      if (p.len != sizes[i]) continue;
      uint8_t *want = malloc(sizes[i] + 1);
      fill(want, sizes[i], (unsigned)i);
      if (!memcmp(want, p.data, p.len)) id = i;
      free(want);
    }
    out->ids[out->n] = id;
    out->offs[out->n] = off;
    out->n++;
  }
  mt_wal_reader_free(r);
}

static long file_size(void) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return (long)st.st_size;
}

static void patch(long off, const void *bytes, size_t n) {
  int fd = open(path, O_WRONLY);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
  close(fd);
}

static void append_bytes(const void *bytes, size_t n) {
  int fd = open(path, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, bytes, n), (ssize_t)n);
  close(fd);
}

/* A physical record framed by hand, per wal_format.h (an independent
 * reading of the format). */
static size_t frame(uint8_t *out, uint8_t type, uint32_t number, const void *data, uint16_t n) {
  memcpy(out + 4, &n, 2);
  out[6] = type;
  memcpy(out + 7, &number, 4);
  memcpy(out + MT_WAL_HEADER, data, n);
  uint32_t c = (uint32_t)XXH3_64bits(out + 4, MT_WAL_HEADER - 4 + n);
  memcpy(out, &c, 4);
  return MT_WAL_HEADER + n;
}

/* ---- case 1: boundaries ------------------------------------------------------ */

static void small_records(void **state) {
  size_t sizes[] = {0, 1, 0, 2, 1, 0};
  write_segment(sizes, 6, NULL);
  readout o;
  read_segment(7, sizes, 6, &o);
  assert_int_equal(o.n, 6);
  assert_int_equal(o.damage, 0);
  assert_int_equal(o.end, 1);
  /* equal sizes and contents: the order decides */
  for (int i = 0; i < 6; i++) assert_int_equal(sizes[o.ids[i]], sizes[i]);
}

static void block_boundaries(void **state) {
  /* The second record ends at delta bytes from the first block's end:
   * exactly at it, just before (leaving < header bytes of padding, or
   * exactly a header), and just after (fragmenting). */
  size_t hdr_rec = MT_WAL_HEADER + MT_WAL_HEADER_FIXED + 8; /* header record */
  for (long delta = -(long)MT_WAL_HEADER - 2; delta <= 3; delta++) {
    size_t first = 1000;
    size_t used = hdr_rec + MT_WAL_HEADER + first + MT_WAL_HEADER;
    size_t second = (size_t)((long)MT_WAL_BLOCK - (long)used + delta);
    size_t sizes[] = {first, second, 5, 0};
    uint64_t offs[4];
    write_segment(sizes, 4, offs);
    readout o;
    read_segment(7, sizes, 4, &o);
    assert_int_equal(o.damage, 0);
    assert_int_equal(o.n, 4);
    for (int i = 0; i < 4; i++) {
      assert_int_equal(o.ids[i], i);
      assert_int_equal(o.offs[i], offs[i]);
    }
  }
}

static void multi_block_records(void **state) {
  size_t sizes[] = {3 * MT_WAL_BLOCK + 17, 10, MT_WAL_BLOCK - MT_WAL_HEADER, 2 * MT_WAL_BLOCK, 1};
  write_segment(sizes, 5, NULL);
  readout o;
  read_segment(7, sizes, 5, &o);
  assert_int_equal(o.damage, 0);
  assert_int_equal(o.n, 5);
  for (int i = 0; i < 5; i++) assert_int_equal(o.ids[i], i);
  /* the file is whole blocks plus the tail, fragments never cross blocks */
  assert_true(file_size() > 6 * MT_WAL_BLOCK);
}

/* ---- case 3 at the reader: every bit of a middle record ---------------------- */

static void bit_flips_in_middle_record(void **state) {
  size_t sizes[] = {50, 40, 60};
  uint64_t offs[3];
  write_segment(sizes, 3, offs);
  long start = (long)offs[1], end = start + MT_WAL_HEADER + (long)sizes[1];
  int fd = open(path, O_RDONLY);
  uint8_t orig[MT_WAL_HEADER + 40];
  assert_int_equal(pread(fd, orig, sizeof orig, start), (ssize_t)sizeof orig);
  close(fd);
  for (long at = start; at < end; at++) {
    for (int bit = 0; bit < 8; bit++) {
      uint8_t b = orig[at - start] ^ (uint8_t)(1 << bit);
      patch(at, &b, 1);
      readout o;
      read_segment(7, sizes, 3, &o);
      /* the damaged record never comes back; its neighbours always do */
      assert_int_equal(o.damage, 1);
      assert_int_equal(o.dmg[0].offset, offs[1]);
      assert_false(o.dmg[0].tail);
      assert_int_equal(o.n, 2);
      assert_int_equal(o.ids[0], 0);
      assert_int_equal(o.ids[1], 2);
      patch(at, &orig[at - start], 1);
    }
  }
}

/* ---- case 4: a corrupt length -------------------------------------------------- */

static size_t max_alloc;
static void *track_malloc(void *ctx, size_t n) {
  if (n > max_alloc) max_alloc = n;
  return malloc(n);
}
static void *track_realloc(void *ctx, void *p, size_t n) {
  if (n > max_alloc) max_alloc = n;
  return realloc(p, n);
}
static void track_free(void *ctx, void *p) { free(p); }
static size_t max_read;
static int track_io(void *ctx, mt_file_op op, const char *p, size_t *len) {
  if (op == MT_FOP_READ && *len > max_read) max_read = *len;
  return 0;
}

static void bad_length(void **state) {
  size_t sizes[] = {100, 100, 100};
  uint64_t offs[3];
  write_segment(sizes, 3, offs);
  uint16_t lens[] = {0xffff, MT_WAL_BLOCK - MT_WAL_HEADER, 101, 99, 0};
  for (int i = 0; i < 5; i++) {
    patch((long)offs[1] + 4, &lens[i], 2);
    max_alloc = max_read = 0;
    mt_allocator a = {track_malloc, track_realloc, track_free, NULL};
    mt_set_allocator(&a);
    mt_file_fault hook = {track_io, NULL, NULL};
    mt_file_set_fault(&hook);
    readout o;
    read_segment(7, sizes, 3, &o);
    mt_file_set_fault(NULL);
    mt_set_allocator(NULL);
    assert_true(max_alloc <= MT_WAL_BLOCK);
    assert_true(max_read <= MT_WAL_BLOCK);
    assert_int_equal(o.damage, 1);
    assert_int_equal(o.dmg[0].offset, offs[1]);
    assert_int_equal(o.dmg[0].kind, lens[i] > MT_WAL_BLOCK - offs[1] % MT_WAL_BLOCK - MT_WAL_HEADER
                                        ? MT_WAL_DMG_LENGTH
                                        : MT_WAL_DMG_CHECKSUM);
    assert_int_equal(o.n, 2);
    assert_int_equal(o.ids[1], 2);
    uint16_t good = 100;
    patch((long)offs[1] + 4, &good, 2);
  }
  /* a bad length reported by name */
  uint16_t bad = 0xffff;
  patch((long)offs[1] + 4, &bad, 2);
  mt_wal_reader *r;
  assert_int_equal(mt_wal_reader_open(&r, path, 7), MT_OK);
  mt_slice p;
  uint64_t off;
  int rc;
  while ((rc = mt_wal_reader_next(r, &p, &off)) == MT_OK) {
  }
  assert_int_equal(rc, MT_ECORRUPT);
  char want[64];
  snprintf(want, sizeof want, "offset %llu: bad length", (unsigned long long)offs[1]);
  assert_non_null(strstr(mt_last_error(), want));
  mt_wal_reader_free(r);
}

/* ---- case 5: fragments out of order ------------------------------------------------ */

static void fragments_out_of_order(void **state) {
  uint8_t buf[4096];
  size_t n = 0;
  const char *A = "AAAA", *B = "BBBB";
  /* A | MIDDLE x | LAST y | FIRST p1 | FIRST q1 | LAST q2 | B | FIRST r1 <eof> */
  n += frame(buf + n, MT_WAL_FULL, 9, A, 4);
  uint64_t off_mid = n;
  n += frame(buf + n, MT_WAL_MIDDLE, 9, "xx", 2);
  n += frame(buf + n, MT_WAL_LAST, 9, "yy", 2);
  uint64_t off_p = n;
  n += frame(buf + n, MT_WAL_FIRST, 9, "p1", 2);
  uint64_t off_q = n;
  n += frame(buf + n, MT_WAL_FIRST, 9, "q1", 2);
  n += frame(buf + n, MT_WAL_LAST, 9, "q2", 2);
  n += frame(buf + n, MT_WAL_FULL, 9, B, 4);
  uint64_t off_r = n;
  n += frame(buf + n, MT_WAL_FIRST, 9, "r1", 2);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_int_equal(write(fd, buf, n), (ssize_t)n);
  close(fd);

  mt_wal_reader *r;
  assert_int_equal(mt_wal_reader_open(&r, path, 9), MT_OK);
  mt_slice p;
  uint64_t off;
  assert_int_equal(mt_wal_reader_next(r, &p, &off), MT_OK);
  assert_memory_equal(p.data, A, 4);
  assert_int_equal(mt_wal_reader_next(r, &p, &off), MT_ECORRUPT); /* middle without first */
  assert_int_equal(mt_wal_reader_damage(r)->kind, MT_WAL_DMG_FRAGMENT);
  assert_int_equal(mt_wal_reader_damage(r)->offset, off_mid);
  assert_int_equal(mt_wal_reader_next(r, &p, &off), MT_ECORRUPT); /* p1 cut by q1 */
  assert_int_equal(mt_wal_reader_damage(r)->offset, off_p);
  assert_int_equal(mt_wal_reader_next(r, &p, &off), MT_OK);
  assert_int_equal(p.len, 4);
  assert_memory_equal(p.data, "q1q2", 4); /* never p1q2 */
  assert_int_equal(off, off_q);
  assert_int_equal(mt_wal_reader_next(r, &p, &off), MT_OK);
  assert_memory_equal(p.data, B, 4);
  assert_int_equal(mt_wal_reader_next(r, &p, &off), MT_ECORRUPT); /* r1 torn at the end */
  assert_int_equal(mt_wal_reader_damage(r)->kind, MT_WAL_DMG_TORN);
  assert_int_equal(mt_wal_reader_damage(r)->offset, off_r);
  assert_true(mt_wal_reader_damage(r)->tail);
  assert_int_equal(mt_wal_reader_next(r, &p, &off), MT_NOTFOUND);
  mt_wal_reader_free(r);
}

/* ---- case 6: stale tails ------------------------------------------------------------- */

static void stale_tail_of_older_segment(void **state) {
  size_t sizes[] = {30, 30};
  write_segment(sizes, 2, NULL);
  /* valid records of segment 5 past the end, as a reused file would hold */
  uint8_t buf[512];
  size_t n = 0;
  uint8_t old[30];
  fill(old, 30, 0);
  n += frame(buf + n, MT_WAL_FULL, 5, old, 30);
  n += frame(buf + n, MT_WAL_FULL, 5, old, 30);
  append_bytes(buf, n);
  readout o;
  read_segment(7, sizes, 2, &o);
  assert_int_equal(o.damage, 0);
  assert_int_equal(o.n, 2);
  assert_int_equal(o.end, 1);
}

static void zero_filled_tail(void **state) {
  size_t sizes[] = {30, 30};
  write_segment(sizes, 2, NULL);
  static uint8_t zeros[3 * MT_WAL_BLOCK];
  append_bytes(zeros, sizeof zeros); /* preallocated space */
  readout o;
  read_segment(7, sizes, 2, &o);
  assert_int_equal(o.damage, 0);
  assert_int_equal(o.n, 2);
  /* but zeros with a record of this segment after them are damage */
  uint8_t buf[64], rec[30];
  fill(rec, 30, 1);
  append_bytes(buf, frame(buf, MT_WAL_FULL, 7, rec, 30));
  read_segment(7, sizes, 2, &o);
  assert_int_equal(o.damage, 1);
  assert_false(o.dmg[0].tail);
  assert_int_equal(o.n, 3);
}

static void wrong_segment_number(void **state) {
  size_t sizes[] = {30};
  write_segment(sizes, 1, NULL);
  readout o;
  read_segment(8, sizes, 1, &o); /* read as another segment: nothing is ours */
  assert_int_equal(o.n, 0);
  assert_int_equal(o.damage, 0);
}

static void names(void **state) {
  char b[MT_WAL_NAME_MAX];
  uint64_t n;
  mt_wal_name(b, sizeof b, 42);
  assert_string_equal(b, "wal-000000000042.log");
  assert_true(mt_wal_parse_name(b, &n));
  assert_int_equal(n, 42);
  assert_false(mt_wal_parse_name("wal-42.log", &n));
  assert_false(mt_wal_parse_name("wal-000000000042.log.tmp", &n));
  assert_false(mt_wal_parse_name("run-000000000042.log", &n));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(small_records, setup, teardown),
      cmocka_unit_test_setup_teardown(block_boundaries, setup, teardown),
      cmocka_unit_test_setup_teardown(multi_block_records, setup, teardown),
      cmocka_unit_test_setup_teardown(bit_flips_in_middle_record, setup, teardown),
      cmocka_unit_test_setup_teardown(bad_length, setup, teardown),
      cmocka_unit_test_setup_teardown(fragments_out_of_order, setup, teardown),
      cmocka_unit_test_setup_teardown(stale_tail_of_older_segment, setup, teardown),
      cmocka_unit_test_setup_teardown(zero_filled_tail, setup, teardown),
      cmocka_unit_test_setup_teardown(wrong_segment_number, setup, teardown),
      cmocka_unit_test(names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
