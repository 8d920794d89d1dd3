/* test_wal_mtdump.c -- mtdump on a real store directory: it prints every
 * entry (file, offset, seq, kind, key, value size), and --check exits 0 on
 * a sound WAL and 1 on a damaged one, naming the file and offset.  The
 * tool's path comes from tools/CMakeLists.txt (MTDUMP); without it the
 * test is skipped. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

static char dir[64];

#ifdef MTDUMP
/* Runs mtdump with args; returns its exit status, output in out. */
static int run(const char *args, char *out, size_t cap) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s %s", MTDUMP, args);
  return run_capture(cmd, out, cap);
}
#endif

static void dump_and_check(void **state) {
#ifndef MTDUMP
  skip();
#else
  strcpy(dir, "/tmp/mt_dump_XXXXXX");
  assert_non_null(mkdtemp(dir));
  mt_store *s;
  assert_int_equal(mt_store_open(&s, dir, NULL), MT_OK);
  char k[16], v[64];
  memset(v, 'v', sizeof v);
  for (int i = 0; i < 20; i++) {
    snprintf(k, sizeof k, "key%02d", i);
    assert_int_equal(mt_store_put(s, S(k), (mt_slice){v, (size_t)i}), MT_OK);
  }
  assert_int_equal(mt_store_delete(s, S("key07")), MT_OK);
  assert_int_equal(mt_store_close(s), MT_OK);

  static char out[1 << 16];
  assert_int_equal(run(dir, out, sizeof out), 0);
  assert_non_null(strstr(out, "wal-000000000001.log"));
  assert_non_null(strstr(out, " 3 PUT key02 2\n")); /* seq 3, value of 2 bytes */
  assert_non_null(strstr(out, " 21 DEL key07 0\n"));
  assert_non_null(strstr(out, "header number=1"));
  assert_non_null(strstr(out, "21 entries, 0 damaged"));
  assert_int_equal(run("--check", out, sizeof out), 2); /* usage: no path */
  char args[256];
  snprintf(args, sizeof args, "--check %s", dir);
  assert_int_equal(run(args, out, sizeof out), 0);
  assert_null(strstr(out, "PUT")); /* --check prints only damage and the summary */

  /* flip a byte in the middle of the first segment */
  char p[512];
  snprintf(p, sizeof p, "%s/wal-000000000001.log", dir);
  int fd = open(p, O_RDWR);
  uint8_t b;
  assert_int_equal(pread(fd, &b, 1, 200), 1);
  b ^= 0x10;
  assert_int_equal(pwrite(fd, &b, 1, 200), 1);
  close(fd);
  assert_int_equal(run(args, out, sizeof out), 1);
  assert_non_null(strstr(out, "DAMAGE"));
  assert_non_null(strstr(out, "wal-000000000001.log: offset "));
  assert_non_null(strstr(out, "1 damaged"));
  rm_rf(dir);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(dump_and_check)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
