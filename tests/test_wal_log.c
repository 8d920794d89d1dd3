/* test_wal_log.c -- the WAL's log file (file.h mt_file_create_log): appends
 * are copies into a mapped window of space written ahead, so the file on
 * disk runs ahead of the data until it is closed.  Checked here:
 *  - a segment read while its writer is still open (what a crash leaves:
 *    data, then the zeros of the window) gives every record and a clean
 *    end, with no damage reported;
 *  - records across several growths of the mapping read back byte for byte;
 *  - close cuts the file to exactly the bytes written;
 *  - a torn group cut back by the writer (a short write then ENOSPC from
 *    the file layer's hook) leaves zeros, not the torn bytes, so the
 *    reader ends cleanly before it;
 *  - a child killed with SIGKILL after its appends returned: every
 *    appended record is in the file (the bytes were in the OS);
 *  - a log reused for a newer segment reads as that segment's records
 *    only, its older bytes after them ending it cleanly.
 * Files live in a mkdtemp directory removed at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/wal.h"
#include "support.h"

static char dir[64];
static char path[128];

static int setup(void **state) {
  (void)state;
  strcpy(dir, "/tmp/mt_wallog_XXXXXX");
  if (!mkdtemp(dir)) return -1;
  snprintf(path, sizeof path, "%s/seg.log", dir);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  mt_file_set_fault(NULL);
  rm_rf(dir);
  return 0;
}

static const mt_wal_header hdr9 = {MT_WAL_VERSION, 9, 0, 0, {"bytewise", 8}};

static size_t record_size(unsigned i) { return 1 + (i * 37) % 700; }

static void fill(uint8_t *p, size_t n, unsigned i) {
  for (size_t k = 0; k < n; k++) p[k] = (uint8_t)(i * 131 + k * 7);
}

/* Appends records 0..n-1, each flushed on its own (one append each). */
static void append_records(mt_wal_writer *w, unsigned n) {
  uint8_t buf[800];
  for (unsigned i = 0; i < n; i++) {
    fill(buf, record_size(i), i);
    assert_int_equal(mt_wal_writer_add(w, buf, record_size(i)), MT_OK);
    assert_int_equal(mt_wal_writer_flush(w), MT_OK);
  }
}

/* Reads the segment: the header, then records 0..n-1 exactly, then a
 * clean end (MT_NOTFOUND with no damage). */
static void expect_records(unsigned n) {
  mt_wal_reader *r;
  assert_int_equal(mt_wal_reader_open(&r, path, 9), MT_OK);
  mt_slice pl;
  uint64_t off;
  assert_int_equal(mt_wal_reader_next(r, &pl, &off), MT_OK); /* the header */
  uint8_t want[800];
  for (unsigned i = 0; i < n; i++) {
    int rc = mt_wal_reader_next(r, &pl, &off);
    if (rc) fail_msg("record %u of %u: %s (%s)", i, n, mt_strerror(rc), mt_last_error());
    fill(want, record_size(i), i);
    assert_int_equal(pl.len, record_size(i));
    assert_memory_equal(pl.data, want, pl.len);
  }
  assert_int_equal(mt_wal_reader_next(r, &pl, &off), MT_NOTFOUND);
  assert_int_equal(mt_wal_reader_damage(r)->kind, MT_WAL_DMG_NONE);
  mt_wal_reader_free(r);
}

static uint64_t disk_size(void) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return (uint64_t)st.st_size;
}

/* Appends n records, reads them while the writer is open (the data, then
 * the zeros of space taken ahead: what a crash leaves) and after close
 * (cut to the data); returns the bytes written. */
static uint64_t append_then_read_open_and_closed(unsigned n) {
  mt_wal_writer *w;
  assert_int_equal(mt_wal_writer_open(&w, path, &hdr9, true), MT_OK);
  append_records(w, n);
  uint64_t written = mt_wal_writer_offset(w);
  assert_true(disk_size() > written);
  expect_records(n);
  assert_int_equal(mt_wal_writer_close(w), MT_OK);
  assert_int_equal(disk_size(), written);
  expect_records(n);
  return written;
}

static void open_segment_unclosed_reads_clean(void **state) {
  (void)state;
  append_then_read_open_and_closed(500);
}

static void records_across_windows(void **state) {
  (void)state; /* about 3.2 MB: the mapping grows three times */
  assert_true(append_then_read_open_and_closed(9000) > 3u << 20);
}

/* The file layer's hook: the next append writes `short_len` bytes, then
 * fails with ENOSPC. */
static size_t short_len;
static int short_then_enospc(void *ctx, mt_file_op op, const char *p, size_t *len) {
  (void)ctx;
  (void)p;
  if (op != MT_FOP_WRITE || !short_len) return 0;
  if (*len > short_len) *len = short_len;
  short_len = 0;
  return ENOSPC;
}

static void torn_group_is_cut_back_to_zeros(void **state) {
  (void)state;
  mt_wal_writer *w;
  assert_int_equal(mt_wal_writer_open(&w, path, &hdr9, true), MT_OK);
  append_records(w, 40);
  uint64_t good = mt_wal_writer_offset(w);
  static const mt_file_fault hook = {short_then_enospc, NULL, NULL};
  mt_file_set_fault(&hook);
  short_len = 25;
  uint8_t buf[600];
  fill(buf, sizeof buf, 40);
  assert_int_equal(mt_wal_writer_add(w, buf, sizeof buf), MT_OK);
  assert_int_equal(mt_wal_writer_flush(w), MT_EIO);
  assert_non_null(strstr(mt_last_error(), "No space left"));
  mt_file_set_fault(NULL);
  expect_records(40); /* the 25 torn bytes are zeros again: a clean end */
  assert_int_equal(mt_wal_writer_add(w, buf, 10), MT_EIO); /* failed for good */
  assert_int_equal(mt_wal_writer_close(w), MT_OK);
  assert_int_equal(disk_size(), good);
  expect_records(40);
}

static void killed_writer_keeps_every_append(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    mt_wal_writer *w;
    if (mt_wal_writer_open(&w, path, &hdr9, true)) _exit(2);
    append_records(w, 3000);
    char done = 1;
    if (write(fds[1], &done, 1) != 1) _exit(3);
    pause(); /* killed here, the writer never closed */
    _exit(4);
  }
  close(fds[1]);
  char done = 0;
  assert_int_equal(read(fds[0], &done, 1), 1);
  close(fds[0]);
  kill(pid, SIGKILL);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFSIGNALED(st));
  assert_true(disk_size() % (1u << 20) == 0); /* whole steps of space: never cut */
  expect_records(3000);
}

/* A released log written again for another segment: the new records read
 * back, then a clean end where the old segment's records begin (they carry
 * its number); the mapping is kept, so the file stays as long until close
 * cuts it to the new data. */
static void reused_log_reads_only_its_own_records(void **state) {
  (void)state;
  mt_wal_writer *w;
  assert_int_equal(mt_wal_writer_open(&w, path, &hdr9, true), MT_OK);
  append_records(w, 4000); /* about 1.4 MB */
  uint64_t old_size = disk_size();
  mt_file *log = mt_wal_writer_release(w);
  char path2[160];
  snprintf(path2, sizeof path2, "%s/seg10.log", dir);
  static const mt_wal_header hdr10 = {MT_WAL_VERSION, 10, 0, 0, {"bytewise", 8}};
  assert_int_equal(mt_wal_writer_reuse(&w, log, path2, &hdr10), MT_OK);
  assert_int_equal(access(path, F_OK), -1); /* renamed */
  uint8_t buf[800];
  for (unsigned i = 0; i < 30; i++) {
    fill(buf, record_size(i + 7), i + 7);
    assert_int_equal(mt_wal_writer_add(w, buf, record_size(i + 7)), MT_OK);
    assert_int_equal(mt_wal_writer_flush(w), MT_OK);
  }
  uint64_t written = mt_wal_writer_offset(w);
  for (int pass = 0; pass < 2; pass++) { /* open (a crash's view), then closed */
    mt_wal_reader *r;
    assert_int_equal(mt_wal_reader_open(&r, path2, 10), MT_OK);
    mt_slice pl;
    uint64_t off;
    assert_int_equal(mt_wal_reader_next(r, &pl, &off), MT_OK);
    mt_wal_header h;
    assert_int_equal(mt_wal_decode_header(pl, &h), MT_OK);
    assert_int_equal(h.number, 10);
    for (unsigned i = 0; i < 30; i++) {
      assert_int_equal(mt_wal_reader_next(r, &pl, &off), MT_OK);
      fill(buf, record_size(i + 7), i + 7);
      assert_int_equal(pl.len, record_size(i + 7));
      assert_memory_equal(pl.data, buf, pl.len);
    }
    assert_int_equal(mt_wal_reader_next(r, &pl, &off), MT_NOTFOUND);
    assert_int_equal(mt_wal_reader_damage(r)->kind, MT_WAL_DMG_NONE);
    mt_wal_reader_free(r);
    if (pass == 0) {
      struct stat st;
      assert_int_equal(stat(path2, &st), 0);
      assert_true((uint64_t)st.st_size >= old_size); /* the old bytes are still there */
      assert_int_equal(mt_wal_writer_close(w), MT_OK);
      assert_int_equal(stat(path2, &st), 0);
      assert_int_equal((uint64_t)st.st_size, written);
    }
  }
}

/* The new data of a reused log ending 0..12 bytes before a block's end
 * (where a reader skips the block's tail as padding and reads the next
 * block's first header): still a clean end after it. */
static void reused_log_ends_at_block_boundaries(void **state) {
  (void)state;
  mt_wal_writer *w;
  assert_int_equal(mt_wal_writer_open(&w, path, &hdr9, true), MT_OK);
  append_records(w, 2000); /* old records over the first blocks */
  static const size_t gaps[] = {0, 1, 5, 10, 11, 12};
  static uint8_t big[MT_WAL_BLOCK];
  memset(big, 0x5a, sizeof big);
  for (unsigned g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
    mt_file *log = mt_wal_writer_release(w);
    mt_wal_header h = {MT_WAL_VERSION, 20 + g, 0, 0, {"bytewise", 8}};
    assert_int_equal(mt_wal_writer_reuse(&w, log, path, &h), MT_OK);
    size_t fill_len = MT_WAL_BLOCK - (size_t)mt_wal_writer_offset(w) - MT_WAL_HEADER - gaps[g];
    assert_int_equal(mt_wal_writer_add(w, big, fill_len), MT_OK);
    assert_int_equal(mt_wal_writer_flush(w), MT_OK);
    assert_int_equal(mt_wal_writer_offset(w), MT_WAL_BLOCK - gaps[g]);
    mt_wal_reader *r;
    assert_int_equal(mt_wal_reader_open(&r, path, 20 + g), MT_OK);
    mt_slice pl;
    uint64_t off;
    assert_int_equal(mt_wal_reader_next(r, &pl, &off), MT_OK); /* header */
    assert_int_equal(mt_wal_reader_next(r, &pl, &off), MT_OK);
    assert_int_equal(pl.len, fill_len);
    int rc = mt_wal_reader_next(r, &pl, &off);
    if (rc != MT_NOTFOUND) fail_msg("gap %zu: %s (%s)", gaps[g], mt_strerror(rc), mt_last_error());
    mt_wal_reader_free(r);
  }
  assert_int_equal(mt_wal_writer_close(w), MT_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(open_segment_unclosed_reads_clean, setup, teardown),
      cmocka_unit_test_setup_teardown(records_across_windows, setup, teardown),
      cmocka_unit_test_setup_teardown(torn_group_is_cut_back_to_zeros, setup, teardown),
      cmocka_unit_test_setup_teardown(killed_writer_keeps_every_append, setup, teardown),
      cmocka_unit_test_setup_teardown(reused_log_reads_only_its_own_records, setup, teardown),
      cmocka_unit_test_setup_teardown(reused_log_ends_at_block_boundaries, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
