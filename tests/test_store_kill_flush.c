/* test_store_kill_flush.c -- RELIABILITY.md case 12: a kill at every step
 * of a flush (freeze: new segment created, written, synced, renamed, dir
 * synced; the run written, read back, synced, renamed, dir synced; the
 * WAL segment removed, dir synced).
 *
 * A child process writes a known sequence, then installs a file-layer hook
 * that calls _exit at the k-th file operation other than a WAL append
 * (those are test_store_crash's), in whichever thread does it (a
 * writer, mt_store_flush or the flush thread), and goes on: a flush, more
 * writes counted in shared memory as they are acknowledged, another flush.
 * For k = 1, 2, ... until the child gets through, the parent reopens the
 * store and requires: every acknowledged write is there (the one write in
 * flight at the kill may be there or not), no deleted key is back, the
 * sequence keeps increasing, and a second open (absolute mode) finds no
 * damage.  MT_SYNC_NONE: a process kill keeps what write(2) accepted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/file.h"
#include "support.h"

enum { NK = 300, FIRST = 220, LATER = 40 };

typedef struct op {
  int key, gen; /* gen < 0: delete */
} op;

static op ops[FIRST + LATER];
static char dir[64];
static volatile long *shared; /* [0] later ops acknowledged, [1] child got through */

static void make_ops(void) {
  int n = 0;
  for (int k = 0; k < 200; k++) ops[n++] = (op){k, 1};
  for (int k = 0; k < 20; k++) ops[n++] = (op){k, -1};
  for (int k = 200; k < 230; k++) ops[n++] = (op){k, 2};
  for (int k = 20; k < 30; k++) ops[n++] = (op){k, -1};
}

static void key_of(char *b, int k) { snprintf(b, 16, "k%05d", k); }

static int apply(mt_store *s, const op *o) {
  char kb[16], vb[32];
  key_of(kb, o->key);
  snprintf(vb, sizeof vb, "v%d.%d", o->key, o->gen);
  return o->gen < 0 ? mt_store_delete(s, S(kb)) : mt_store_put(s, S(kb), S(vb));
}

static long kill_at, seen;
static int kill_nth(void *ctx, mt_file_op fop, const char *path, size_t *len) {
  size_t n = strlen(path);
  if (fop == MT_FOP_WRITE && n > 4 && !strcmp(path + n - 4, ".log")) return 0; /* WAL appends: test_store_crash */
  (void)len;
  if (__atomic_add_fetch(&seen, 1, __ATOMIC_SEQ_CST) == kill_at) _exit(0);
  return 0;
}

static void child(void) {
  static const mt_file_fault f = {kill_nth, NULL, NULL};
  mt_store *s;
  if (mt_store_open(&s, dir, NULL)) _exit(2);
  for (int i = 0; i < FIRST; i++)
    if (apply(s, &ops[i])) _exit(2);
  mt_file_set_fault(&f);
  if (mt_store_flush(s)) _exit(2);
  for (int i = FIRST; i < FIRST + LATER; i++) {
    if (apply(s, &ops[i])) _exit(2);
    shared[0]++;
    if (i == FIRST + LATER / 2 && mt_store_flush(s)) _exit(2);
  }
  if (mt_store_flush(s)) _exit(2);
  shared[1] = 1;
  _exit(0); /* no close: a crash right after the last flush too */
}

/* Whether the store holds exactly the state after n ops. */
static bool equals_after(mt_store *s, int n) {
  int gen[NK];
  for (int k = 0; k < NK; k++) gen[k] = -1;
  for (int i = 0; i < n; i++) gen[ops[i].key] = ops[i].gen;
  for (int k = 0; k < NK; k++) {
    char kb[16], vb[32];
    key_of(kb, k);
    void *v;
    size_t len;
    int rc = mt_store_get(s, S(kb), MT_SEQ_MAX, &v, &len);
    bool ok = gen[k] < 0 ? rc == MT_NOTFOUND
                         : rc == MT_OK && len == (size_t)snprintf(vb, sizeof vb, "v%d.%d", k, gen[k]) &&
                               !memcmp(v, vb, len);
    mt_free(v);
    if (!ok) return false;
  }
  mt_iter *it; /* and the iterator agrees on the count */
  if (mt_store_iter(&it, s, MT_SEQ_MAX)) return false;
  int live = 0, want = 0;
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it)) live++;
  mt_iter_free(it);
  for (int k = 0; k < NK; k++) want += gen[k] >= 0;
  return live == want;
}

static void kill_at_every_step_of_a_flush(void **state) {
  make_ops();
  snprintf(dir, sizeof dir, "/tmp/mt_kill_%d", (int)getpid());
  shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(shared != MAP_FAILED);
  int steps = 0;
  for (kill_at = 1;; kill_at++) {
    rm_rf(dir);
    shared[0] = shared[1] = 0;
    seen = 0;
    pid_t pid = fork();
    if (pid == 0) child();
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status)) fail_msg("child status %d at step %ld", status, kill_at);
    long acked = shared[0];
    mt_store *s;
    if (mt_store_open(&s, dir, NULL)) fail_msg("kill at op %ld: reopen failed: %s", kill_at, mt_last_error());
    int n = FIRST + (int)acked;
    bool ok = equals_after(s, n) || (n < FIRST + LATER && equals_after(s, n + 1));
    if (!ok) fail_msg("kill at op %ld: the store is not the acknowledged state (%ld later writes acked)", kill_at, acked);
    uint64_t last = mt_store_last_seq(s);
    if (last < (uint64_t)n) fail_msg("kill at op %ld: last seq %llu below %d writes", kill_at, (unsigned long long)last, n);
    assert_int_equal(mt_store_put(s, S("zz"), S("after")), MT_OK);
    assert_int_equal(mt_store_last_seq(s), last + 1);
    assert_int_equal(mt_store_close(s), MT_OK);
    mt_store_options o;
    mt_store_options_init(&o);
    o.recovery = MT_RECOVER_ABSOLUTE;
    if (mt_store_open(&s, dir, &o)) fail_msg("kill at op %ld: second open: %s", kill_at, mt_last_error());
    assert_int_equal(mt_store_last_seq(s), last + 1);
    assert_int_equal(mt_store_close(s), MT_OK);
    steps++;
    if (shared[1]) break;
    assert_true(kill_at < 2000);
  }
  rm_rf(dir);
  munmap((void *)shared, 4096);
  print_message("%d kill points\n", steps);
  assert_true(steps > 20); /* three flushes' worth of file operations */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(kill_at_every_step_of_a_flush),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
