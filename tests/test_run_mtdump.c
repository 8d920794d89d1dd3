/* test_run_mtdump.c -- mtdump reads sorted runs: a flushed store's run is
 * listed with its properties and entries, --check passes it, and a run
 * with one flipped byte is reported as damage with exit status 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
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

static void dump_runs(void **state) {
#ifndef MTDUMP
  skip();
#else
  strcpy(dir, "/tmp/mt_rdump_XXXXXX");
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
  assert_int_equal(mt_store_flush(s), MT_OK);
  assert_int_equal(mt_store_close(s), MT_OK);
  static char out[1 << 16];
  assert_int_equal(run(dir, out, sizeof out), 0);
  assert_non_null(strstr(out, "run-000000000001.sst run number=1 entries=21 seqs=1..21 comparator='bytewise'"));
  assert_non_null(strstr(out, " 3 PUT key02 2\n"));
  assert_non_null(strstr(out, " 21 DEL key07 0\n"));
  assert_non_null(strstr(out, " 8 PUT key07 7\n")); /* every version */
  assert_non_null(strstr(out, "1 runs, "));
  char args[256], path[256];
  snprintf(args, sizeof args, "--check %s", dir);
  assert_int_equal(run(args, out, sizeof out), 0);
  /* one flipped byte in the run */
  snprintf(path, sizeof path, "%s/run-000000000001.sst", dir);
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  fseek(f, 20, SEEK_SET);
  int c = fgetc(f);
  fseek(f, 20, SEEK_SET);
  fputc(c ^ 1, f);
  fclose(f);
  assert_int_equal(run(args, out, sizeof out), 1);
  assert_non_null(strstr(out, "DAMAGE run "));
  assert_non_null(strstr(out, "checksum mismatch"));
  snprintf(args, sizeof args, "rm -rf %s", dir);
  assert_int_equal(system(args), 0);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(dump_runs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
