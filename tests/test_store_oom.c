/* test_store_oom.c -- out of memory at every allocation while a store with
 * data recovers (runs opened, WAL tail replayed) and while it flushes: each
 * failure is MT_ENOMEM (or, for a failed background flush, MT_EIO from
 * mt_store_flush), nothing leaks, and the next open sees every
 * acknowledged write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support.h"

#define KEYS 300

static char pristine[64], work[64];

/* key i: present with value "v<i>" unless i % 7 == 3 (deleted after the flush) */
static int key_of(char *buf, int i) { return snprintf(buf, 32, "key%05d", i); }

static void expect_all(mt_store *s) {
  char k[32], want[32];
  for (int i = 0; i < KEYS; i++) {
    int kn = key_of(k, i);
    void *v = NULL;
    size_t vn = 0;
    int rc = mt_store_get(s, (mt_slice){k, (size_t)kn}, MT_SEQ_MAX, &v, &vn);
    if (i % 7 == 3) {
      assert_int_equal(rc, MT_NOTFOUND);
    } else {
      assert_int_equal(rc, MT_OK);
      int wn = snprintf(want, sizeof want, "v%d", i);
      assert_int_equal(vn, (size_t)wn);
      assert_memory_equal(v, want, vn);
    }
    mt_free(v);
  }
}

static int setup(void **state) {
  strcpy(pristine, "/tmp/mt_oom_src_XXXXXX");
  strcpy(work, "/tmp/mt_oom_dst_XXXXXX");
  if (!mkdtemp(pristine) || !mkdtemp(work)) return -1;
  mt_store *s;
  if (mt_store_open(&s, pristine, NULL)) return -1;
  char k[32], v[32];
  for (int i = 0; i < KEYS; i++) { /* the first half goes to a run, the rest stays in the WAL */
    int kn = key_of(k, i), vn = snprintf(v, sizeof v, "v%d", i);
    if (mt_store_put(s, (mt_slice){k, (size_t)kn}, (mt_slice){v, (size_t)vn})) return -1;
    if (i == KEYS / 2 && mt_store_flush(s)) return -1;
  }
  for (int i = 3; i < KEYS; i += 7) {
    int kn = key_of(k, i);
    if (mt_store_delete(s, (mt_slice){k, (size_t)kn})) return -1;
  }
  return mt_store_close(s) ? -1 : 0;
}
static int teardown(void **state) {
  rm_rf(pristine);
  rm_rf(work);
  return 0;
}

static void oom_during_recovery(void **state) {
  long at = 0;
  for (;; at++) {
    assert_true(copy_dir(pristine, work));
    fail_alloc_install(at);
    mt_store *s;
    int rc = mt_store_open(&s, work, NULL);
    int failed = fail_alloc_failed();
    fail_alloc_arm(-1); /* only open is under test: nothing fails after it */
    if (rc == MT_OK) { /* the failure, if any, was absorbed: the data is all there */
      expect_all(s);
      mt_store_close(s);
    } else {
      assert_int_equal(rc, MT_ENOMEM);
      assert_true(*mt_last_error());
    }
    fail_alloc_uninstall();
    assert_int_equal(fail_alloc_live(), 0);
    assert_int_equal(mt_store_open(&s, work, NULL), MT_OK); /* the next call works */
    expect_all(s);
    assert_int_equal(mt_store_close(s), MT_OK);
    if (!failed) break;
  }
  print_message("recovery: a failure injected at each of %ld allocations\n", at);
  assert_true(at > 10); /* recovery allocates: the loop really injected failures */
}

static void oom_during_flush(void **state) {
  long at = 0;
  for (;; at++) {
    assert_true(copy_dir(pristine, work));
    mt_store *s;
    fail_alloc_install(-1); /* counts from open on, fails nothing yet */
    assert_int_equal(mt_store_open(&s, work, NULL), MT_OK);
    fail_alloc_arm(at);
    int rc = mt_store_flush(s); /* freeze + background flush to a run */
    int failed = fail_alloc_failed();
    fail_alloc_arm(-1); /* only the flush is under test */
    assert_true(rc == MT_OK || rc == MT_ENOMEM || rc == MT_EIO);
    expect_all(s); /* whatever failed, reads see everything */
    assert_int_equal(mt_store_close(s), MT_OK);
    fail_alloc_uninstall();
    assert_int_equal(fail_alloc_live(), 0);
    assert_int_equal(mt_store_open(&s, work, NULL), MT_OK);
    expect_all(s);
    assert_int_equal(mt_store_close(s), MT_OK);
    if (!failed) break;
  }
  print_message("flush: a failure injected at each of %ld allocations\n", at);
  assert_true(at > 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(oom_during_recovery, setup, teardown),
      cmocka_unit_test_setup_teardown(oom_during_flush, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
