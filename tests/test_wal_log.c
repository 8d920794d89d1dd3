/* test_wal_log.c -- the WAL's log file (file.h mt_file_create_log): appends
 * are copies into a mapped window of space written ahead, so the file on
 * disk runs ahead of the data until it is closed.  Checked here:
 *  - a segment read while its writer is still open (what a crash leaves:
 *    data, then the zeros of the window) gives every record and a clean
 *    end, with no damage reported;
 *  - records across several windows (1 MiB each) read back byte for byte;
 *  - close cuts the file to exactly the bytes written;
 *  - a torn group cut back by the writer (a short write then ENOSPC from
 *    the file layer's hook) leaves zeros, not the torn bytes, so the
 *    reader ends cleanly before it;
 *  - a child killed with SIGKILL after its appends returned: every
 *    appended record is in the file (the bytes were in the OS).
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

static void open_segment_unclosed_reads_clean(void **state) {
  (void)state;
  mt_wal_writer *w;
  assert_int_equal(mt_wal_writer_open(&w, path, &hdr9), MT_OK);
  append_records(w, 500);
  uint64_t written = mt_wal_writer_offset(w);
  assert_true(disk_size() > written); /* the window's zeros follow the data */
  expect_records(500);
  assert_int_equal(mt_wal_writer_close(w), MT_OK);
  assert_int_equal(disk_size(), written);
  expect_records(500);
}

static void records_across_windows(void **state) {
  (void)state;
  mt_wal_writer *w;
  assert_int_equal(mt_wal_writer_open(&w, path, &hdr9), MT_OK);
  append_records(w, 9000); /* about 3.2 MB: four windows */
  uint64_t written = mt_wal_writer_offset(w);
  assert_true(written > 3u << 20);
  expect_records(9000); /* while open: the last window's zeros end it */
  assert_int_equal(mt_wal_writer_close(w), MT_OK);
  assert_int_equal(disk_size(), written);
  expect_records(9000);
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
  assert_int_equal(mt_wal_writer_open(&w, path, &hdr9), MT_OK);
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
    if (mt_wal_writer_open(&w, path, &hdr9)) _exit(2);
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
  assert_true(disk_size() % (1u << 20) == 0); /* whole windows: never cut */
  expect_records(3000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(open_segment_unclosed_reads_clean, setup, teardown),
      cmocka_unit_test_setup_teardown(records_across_windows, setup, teardown),
      cmocka_unit_test_setup_teardown(torn_group_is_cut_back_to_zeros, setup, teardown),
      cmocka_unit_test_setup_teardown(killed_writer_keeps_every_append, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
