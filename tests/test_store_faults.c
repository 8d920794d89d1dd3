/* test_store_faults.c -- I/O faults through the file layer (RELIABILITY.md
 * cases 9, 10, 11): ENOSPC after a partial write, short writes, a failing
 * fdatasync, failing close and directory fsync, and a crash before every
 * single file operation of open + writes + close (fork, then _exit from
 * the fault hook), each followed by a reopen that must see every
 * acknowledged write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/file.h"
#include "support.h"

static char dir[64];

static int setup(void **state) {
  strcpy(dir, "/tmp/mt_fault_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}
static int teardown(void **state) {
  mt_file_set_fault(NULL);
  rm_rf(dir);
  return 0;
}

/* A fault plan: the nth operation of kind `op` (0: every one) fails with
 * err after writing at most short_len bytes (0: no limit). */
typedef struct plan {
  mt_file_op op;
  int nth;
  int err;
  size_t short_len;
  int seen, fired;
} plan;

static int plan_before(void *ctx, mt_file_op op, const char *path, size_t *len) {
  plan *p = ctx;
  if (op != p->op) return 0;
  p->seen++;
  if (p->nth && p->seen != p->nth) return 0;
  p->fired++;
  if (op == MT_FOP_WRITE && p->short_len && *len > p->short_len) *len = p->short_len;
  return p->err;
}

static mt_file_fault hook;
static void arm(plan *p) {
  hook = (mt_file_fault){plan_before, NULL, p};
  mt_file_set_fault(&hook);
}
static void disarm(void) { mt_file_set_fault(NULL); }

static void key_of(char *k, int i) { snprintf(k, 16, "key%05d", i); }

static mt_store *open_with(mt_sync sync, mt_recovery rec) {
  mt_store_options o;
  mt_store_options_init(&o);
  o.sync = sync;
  o.recovery = rec;
  mt_store *s;
  int rc = mt_store_open(&s, dir, &o);
  if (rc) fail_msg("open: %s", mt_last_error());
  return s;
}

static void put_range(mt_store *s, int from, int to) {
  char k[16];
  for (int i = from; i < to; i++) {
    key_of(k, i);
    assert_int_equal(mt_store_put(s, S(k), S(k)), MT_OK);
  }
}

static int count_keys(mt_store *s) {
  mt_iter *it;
  assert_int_equal(mt_store_iter(&it, s, MT_SEQ_MAX), MT_OK);
  int n = 0;
  char k[16];
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), n++) {
    key_of(k, n);
    assert_int_equal(mt_iter_key(it).len, strlen(k));
    assert_memory_equal(mt_iter_key(it).data, k, strlen(k)); /* a prefix, no holes */
  }
  mt_iter_free(it);
  return n;
}

/* ---- case 10 ------------------------------------------------------------------ */

static void enospc_fails_store_for_good(void) {
  mt_store *s = open_with(MT_SYNC_NONE, MT_RECOVER_TOLERATE_TAIL);
  put_range(s, 0, 10);
  plan p = {MT_FOP_WRITE, 1, ENOSPC, 20, 0, 0};
  arm(&p);
  char k[16];
  key_of(k, 10);
  assert_int_equal(mt_store_put(s, S(k), S(k)), MT_EIO);
  assert_non_null(strstr(mt_last_error(), "No space"));
  assert_int_equal(p.fired, 1);
  disarm();
  void *v;
  assert_int_equal(mt_store_get(s, S(k), MT_SEQ_MAX, &v, NULL), MT_NOTFOUND); /* nothing partial */
  assert_int_equal(count_keys(s), 10);
  /* failed for good, even though space came back */
  assert_int_equal(mt_store_put(s, S("other"), S("x")), MT_EIO);
  assert_non_null(strstr(mt_last_error(), "failed earlier"));
  assert_int_equal(mt_store_delete(s, S("key00001")), MT_EIO);
  mt_batch *b;
  mt_batch_new(&b);
  mt_batch_put(b, S("bb"), S("x"));
  assert_int_equal(mt_store_write(s, b), MT_EIO);
  mt_batch_free(b);
  /* reads still work */
  assert_int_equal(mt_store_get(s, S("key00005"), MT_SEQ_MAX, &v, NULL), MT_OK);
  mt_free(v);
  struct mt_store_stats st;
  mt_store_stats(s, &st);
  assert_int_equal(st.failed, MT_EIO);
  assert_int_equal(mt_store_last_seq(s), 10);
  assert_int_equal(mt_store_close(s), MT_OK);
}

static void enospc_on_append(void **state) {
  enospc_fails_store_for_good();
  /* the torn group was cut off: even an absolute open is clean */
  mt_store *s = open_with(MT_SYNC_NONE, MT_RECOVER_ABSOLUTE);
  assert_int_equal(count_keys(s), 10);
  struct mt_store_stats st;
  mt_store_stats(s, &st);
  assert_int_equal(st.dropped_records, 0);
  put_range(s, 10, 20);
  assert_int_equal(mt_store_close(s), MT_OK);
  s = open_with(MT_SYNC_NONE, MT_RECOVER_ABSOLUTE);
  assert_int_equal(count_keys(s), 20);
  assert_int_equal(mt_store_close(s), MT_OK);
}

/* ENOSPC and then the truncation back fails too: the torn tail stays, and
 * tolerate-tail recovery handles it. */
static plan wplan, tplan;
static int two_plans(void *ctx, mt_file_op op, const char *path, size_t *len) {
  int e = plan_before(&wplan, op, path, len);
  return e ? e : plan_before(&tplan, op, path, len);
}

static void enospc_and_truncate_fails(void **state) {
  mt_store *s = open_with(MT_SYNC_NONE, MT_RECOVER_TOLERATE_TAIL);
  put_range(s, 0, 10);
  wplan = (plan){MT_FOP_WRITE, 1, ENOSPC, 20, 0, 0};
  tplan = (plan){MT_FOP_TRUNCATE, 1, EIO, 0, 0, 0};
  hook = (mt_file_fault){two_plans, NULL, NULL};
  mt_file_set_fault(&hook);
  assert_int_equal(mt_store_put(s, S("key00010"), S("x")), MT_EIO);
  assert_int_equal(tplan.fired, 1);
  disarm();
  assert_int_equal(mt_store_close(s), MT_OK);
  mt_store *s2;
  mt_store_options o;
  mt_store_options_init(&o);
  o.recovery = MT_RECOVER_ABSOLUTE;
  assert_int_equal(mt_store_open(&s2, dir, &o), MT_ECORRUPT); /* 20 torn bytes at the tail */
  s = open_with(MT_SYNC_NONE, MT_RECOVER_TOLERATE_TAIL);
  assert_int_equal(count_keys(s), 10);
  assert_int_equal(mt_store_close(s), MT_OK);
  s = open_with(MT_SYNC_NONE, MT_RECOVER_ABSOLUTE); /* the tail was rewritten away */
  assert_int_equal(count_keys(s), 10);
  assert_int_equal(mt_store_close(s), MT_OK);
}

static void short_writes_are_retried(void **state) {
  mt_store *s = open_with(MT_SYNC_ALWAYS, MT_RECOVER_ABSOLUTE);
  plan p = {MT_FOP_WRITE, 0, 0, 3, 0, 0}; /* every write(2) takes 3 bytes at most */
  arm(&p);
  put_range(s, 0, 20);
  disarm();
  assert_true(p.fired > 20 * 10);
  assert_int_equal(mt_store_close(s), MT_OK);
  s = open_with(MT_SYNC_NONE, MT_RECOVER_ABSOLUTE);
  assert_int_equal(count_keys(s), 20);
  assert_int_equal(mt_store_close(s), MT_OK);
}

/* ---- case 11 ------------------------------------------------------------------ */

static void fsync_fails_once(void **state) {
  mt_store *s = open_with(MT_SYNC_ALWAYS, MT_RECOVER_TOLERATE_TAIL);
  put_range(s, 0, 5);
  plan p = {MT_FOP_SYNC, 1, EIO, 0, 0, 0};
  arm(&p);
  assert_int_equal(mt_store_put(s, S("key00005"), S("x")), MT_EIO);
  assert_non_null(strstr(mt_last_error(), "fdatasync"));
  disarm();
  void *v;
  assert_int_equal(mt_store_get(s, S("key00005"), MT_SEQ_MAX, &v, NULL), MT_NOTFOUND);
  /* no retry: a second fdatasync could report success for lost pages */
  assert_int_equal(mt_store_put(s, S("key00006"), S("x")), MT_EIO);
  assert_int_equal(p.fired, 1);
  assert_int_equal(count_keys(s), 5);
  assert_int_equal(mt_store_close(s), MT_OK);
  s = open_with(MT_SYNC_ALWAYS, MT_RECOVER_TOLERATE_TAIL);
  assert_true(count_keys(s) >= 5); /* the failed write may or may not be there */
  assert_int_equal(mt_store_close(s), MT_OK);
}

static void close_and_dirsync_errors_are_checked(void **state) {
  mt_store *s = open_with(MT_SYNC_NONE, MT_RECOVER_TOLERATE_TAIL);
  put_range(s, 0, 3);
  plan c = {MT_FOP_CLOSE, 1, EIO, 0, 0, 0};
  arm(&c);
  assert_int_equal(mt_store_close(s), MT_EIO);
  assert_non_null(strstr(mt_last_error(), "close"));
  disarm();
  /* the directory fsync after creating a segment fails: open fails */
  plan d = {MT_FOP_DIRSYNC, 1, EIO, 0, 0, 0};
  arm(&d);
  mt_store *s2;
  assert_int_equal(mt_store_open(&s2, dir, NULL), MT_EIO);
  assert_non_null(strstr(mt_last_error(), "fsync directory"));
  disarm();
  /* the last close's sync failing is reported too */
  s = open_with(MT_SYNC_NONE, MT_RECOVER_TOLERATE_TAIL);
  assert_int_equal(count_keys(s), 3);
  plan y = {MT_FOP_SYNC, 1, EIO, 0, 0, 0};
  arm(&y);
  assert_int_equal(mt_store_close(s), MT_EIO);
  disarm();
}

/* ---- case 9 and crashes at every step ----------------------------------------- */

static long *shared;
static int crash_at;
static int crash_count;
static int crash_before(void *ctx, mt_file_op op, const char *path, size_t *len) {
  if (op == MT_FOP_READ) return 0;
  if (++crash_count == crash_at) _exit(0); /* the process dies before the operation */
  return 0;
}

/* Child: open (tolerate tail), add 5 keys, close.  shared[0] counts acked
 * keys, shared[1] says the run finished. */
static void child_run(int first) {
  static mt_file_fault f = {crash_before, NULL, NULL};
  mt_file_set_fault(&f);
  mt_store_options o;
  mt_store_options_init(&o);
  o.sync = MT_SYNC_ALWAYS;
  mt_store *s;
  if (mt_store_open(&s, dir, &o)) _exit(3); /* only a crash may stop it */
  char k[16];
  for (int i = first; i < first + 5; i++) {
    key_of(k, i);
    if (mt_store_put(s, S(k), S(k))) _exit(4);
    shared[0] = i + 1;
  }
  mt_store_close(s);
  shared[1] = 1;
  _exit(0);
}

static void crash_before_every_file_operation(void **state) {
  shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(shared != MAP_FAILED);
  /* start from a torn tail, so the open takes the rewrite path too */
  mt_store *s = open_with(MT_SYNC_ALWAYS, MT_RECOVER_TOLERATE_TAIL);
  put_range(s, 0, 10);
  assert_int_equal(mt_store_close(s), MT_OK);
  char p[512];
  snprintf(p, sizeof p, "%s/wal-000000000001.log", dir);
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(truncate(p, st.st_size - 3), 0);
  char master[] = "/tmp/mt_fault_master_XXXXXX";
  assert_non_null(mkdtemp(master));
  assert_true(copy_dir(dir, master));
  int steps = 0;
  for (crash_at = 1;; crash_at++) {
    assert_true(copy_dir(master, dir)); /* every round starts from the same torn directory */
    shared[0] = 9;
    shared[1] = 0;
    crash_count = 0;
    pid_t pid = fork();
    if (pid == 0) child_run(9);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) fail_msg("child status %d at step %d", status, crash_at);
    long acked = shared[0];
    s = open_with(MT_SYNC_ALWAYS, MT_RECOVER_TOLERATE_TAIL);
    int n = count_keys(s);
    if (n < acked) fail_msg("crash before step %d: %d keys, %ld acknowledged", crash_at, n, acked);
    assert_int_equal(mt_store_close(s), MT_OK);
    /* and it stays that way: a second open finds no damage left */
    s = open_with(MT_SYNC_ALWAYS, MT_RECOVER_ABSOLUTE);
    assert_int_equal(count_keys(s), n);
    assert_int_equal(mt_store_close(s), MT_OK);
    steps++;
    if (shared[1]) break; /* the child got through every step */
    assert_true(crash_at < 1000);
  }
  rm_rf(master);
  assert_true(steps > 10);
  munmap(shared, 4096);
}

/* A segment created but whose directory entry never reached the disk:
 * losing it must not stop the next open. */
static int dirsync_seen;
static int crash_on_dirsync(void *ctx, mt_file_op op, const char *path, size_t *len) {
  if (op == MT_FOP_DIRSYNC && ++dirsync_seen == 1) _exit(0);
  return 0;
}

static void segment_lost_with_its_directory_entry(void **state) {
  mt_store *s = open_with(MT_SYNC_ALWAYS, MT_RECOVER_TOLERATE_TAIL);
  put_range(s, 0, 10);
  assert_int_equal(mt_store_close(s), MT_OK);
  pid_t pid = fork();
  if (pid == 0) {
    static mt_file_fault f = {crash_on_dirsync, NULL, NULL};
    mt_file_set_fault(&f);
    mt_store *c;
    mt_store_open(&c, dir, NULL); /* creates wal-2, dies before the dir fsync */
    _exit(5);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_int_equal(WEXITSTATUS(status), 0);
  char p[512];
  snprintf(p, sizeof p, "%s/wal-000000000002.log", dir);
  assert_int_equal(access(p, F_OK), 0);
  assert_int_equal(unlink(p), 0); /* the power loss took the new name */
  s = open_with(MT_SYNC_ALWAYS, MT_RECOVER_ABSOLUTE);
  assert_int_equal(count_keys(s), 10);
  put_range(s, 10, 12);
  assert_int_equal(mt_store_close(s), MT_OK);
  s = open_with(MT_SYNC_ALWAYS, MT_RECOVER_ABSOLUTE);
  assert_int_equal(count_keys(s), 12);
  assert_int_equal(mt_store_close(s), MT_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(enospc_on_append, setup, teardown),
      cmocka_unit_test_setup_teardown(enospc_and_truncate_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(short_writes_are_retried, setup, teardown),
      cmocka_unit_test_setup_teardown(fsync_fails_once, setup, teardown),
      cmocka_unit_test_setup_teardown(close_and_dirsync_errors_are_checked, setup, teardown),
      cmocka_unit_test_setup_teardown(crash_before_every_file_operation, setup, teardown),
      cmocka_unit_test_setup_teardown(segment_lost_with_its_directory_entry, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
