/* test_store_crash.c -- kill -9 while writing, for both sync modes
 * (RELIABILITY.md case 8), in bounded rounds.
 *
 * A child process opens the store, continues the key sequence where the
 * store ends and writes until the parent kills it with SIGKILL at a random
 * moment; it counts acknowledged puts in shared memory.  Under
 * MT_SYNC_ALWAYS the parent then simulates a power loss: through the file
 * layer's synced() hook the child recorded how much of each file was
 * durable, and the parent cuts every file back to that length plus a
 * random part of the unsynced bytes, some of them zeroed (pages that never
 * reached the disk).  After each round the store must reopen and hold a
 * prefix of the key sequence no shorter than what was acknowledged (under
 * MT_SYNC_NONE with a power loss: still a prefix, and the open works). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/file.h"
#include "support.h"

enum { ROUNDS = 12, MAXFILES = 64 };

typedef struct shm {
  volatile long acked;
  volatile int nfiles;
  struct {
    char path[256];
    volatile uint64_t synced;
  } files[MAXFILES];
} shm;

static shm *sh;
static char dir[64];

static int setup(void **state) {
  strcpy(dir, "/tmp/mt_crash_XXXXXX");
  if (!mkdtemp(dir)) return -1;
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return sh == MAP_FAILED ? -1 : 0;
}
static int teardown(void **state) {
  rm_rf(dir);
  munmap(sh, sizeof *sh);
  return 0;
}

static void key_of(char *k, long i) { snprintf(k, 24, "key%08ld", i); }
static size_t value_of(char *v, long i) {
  size_t n = 20 + (size_t)(i % 200);
  for (size_t j = 0; j < n; j++) v[j] = (char)('a' + (i + (long)j) % 26);
  return n;
}

static void on_synced(void *ctx, const char *path, uint64_t size) {
  int n = sh->nfiles;
  for (int i = 0; i < n; i++)
    if (!strcmp(sh->files[i].path, path)) {
      sh->files[i].synced = size;
      return;
    }
  if (n == MAXFILES) return;
  snprintf(sh->files[n].path, sizeof sh->files[n].path, "%s", path);
  sh->files[n].synced = size;
  sh->nfiles = n + 1;
}

/* The store holds key 0..n-1 with their values, nothing else; returns n. */
static long check_prefix(mt_store *s) {
  mt_iter *it;
  if (mt_store_iter(&it, s, MT_SEQ_MAX)) return -1;
  long n = 0;
  char k[24], v[256];
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), n++) {
    key_of(k, n);
    size_t vn = value_of(v, n);
    mt_slice key = mt_iter_key(it), val = mt_iter_value(it);
    if (key.len != strlen(k) || memcmp(key.data, k, key.len) || val.len != vn || memcmp(val.data, v, vn)) {
      mt_iter_free(it);
      return -1 - n; /* a hole or a wrong value */
    }
  }
  mt_iter_free(it);
  return n;
}

static void child(mt_sync sync) {
  static mt_file_fault f = {NULL, on_synced, NULL};
  mt_file_set_fault(&f);
  mt_store_options o;
  mt_store_options_init(&o);
  o.sync = sync;
  mt_store *s;
  if (mt_store_open(&s, dir, &o)) _exit(2);
  long n = check_prefix(s);
  if (n < 0) _exit(3);
  sh->acked = n;
  char k[24], v[256];
  mt_batch *b;
  if (mt_batch_new(&b)) _exit(4);
  for (long i = n; i < n + 1000000; i++) {
    key_of(k, i);
    int rc;
    if (i % 7 == 3) { /* now and then a batch of two */
      mt_batch_clear(b);
      mt_batch_put(b, S(k), (mt_slice){v, value_of(v, i)});
      key_of(k, i + 1);
      mt_batch_put(b, S(k), (mt_slice){v, value_of(v, i + 1)});
      rc = mt_store_write(s, b);
      i++;
    } else {
      rc = mt_store_put(s, S(k), (mt_slice){v, value_of(v, i)});
    }
    if (rc) _exit(5);
    sh->acked = i + 1;
  }
  _exit(0);
}

/* Drops what was never synced: each recorded file keeps its synced length
 * plus a random part of the rest, of which a random stretch is zeroed. */
static void power_loss(unsigned *seed) {
  for (int i = 0; i < sh->nfiles; i++) {
    struct stat st;
    if (stat(sh->files[i].path, &st) != 0) continue; /* renamed or removed */
    uint64_t synced = sh->files[i].synced, size = (uint64_t)st.st_size;
    if (size <= synced) continue;
    uint64_t keep = synced + (uint64_t)rand_r(seed) % (size - synced + 1);
    assert_int_equal(truncate(sh->files[i].path, (off_t)keep), 0);
    if (keep > synced && rand_r(seed) % 2) {
      uint64_t from = synced + (uint64_t)rand_r(seed) % (keep - synced);
      int fd = open(sh->files[i].path, O_WRONLY);
      static const char zeros[4096];
      for (uint64_t at = from; at < keep; at += sizeof zeros) {
        size_t n = keep - at < sizeof zeros ? (size_t)(keep - at) : sizeof zeros;
        assert_int_equal(pwrite(fd, zeros, n, (off_t)at), (ssize_t)n);
      }
      close(fd);
    }
  }
}

static void kill_loop(mt_sync sync, bool lose_power) {
  /* the kills land where the scheduler puts them; the seed picks their
   * delays and the power-loss cuts: MT_TEST_SEED=N replays those */
  const char *env = getenv("MT_TEST_SEED");
  unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
  print_message("seed %u (MT_TEST_SEED)\n", seed);
  long total = 0;
  for (int round = 0; round < ROUNDS; round++) {
    sh->acked = -1;
    sh->nfiles = 0;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) child(sync);
    struct timespec t = {0, (long)(20 + rand_r(&seed) % 60) * 1000000L};
    nanosleep(&t, NULL);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status)) fail_msg("round %d: the child exited with %d", round, WEXITSTATUS(status));
    long acked = sh->acked;
    if (lose_power) power_loss(&seed);
    mt_store *s;
    int rc = mt_store_open(&s, dir, NULL);
    if (rc) fail_msg("round %d: reopen failed: %s", round, mt_last_error());
    long n = check_prefix(s);
    if (n < 0) fail_msg("round %d: not a prefix (bad key %ld)", round, -1 - n);
    if (n < acked && (sync == MT_SYNC_ALWAYS || !lose_power))
      fail_msg("round %d: %ld keys but %ld were acknowledged", round, n, acked);
    assert_int_equal(mt_store_close(s), MT_OK);
    total = n;
  }
  assert_true(total > 0);
  print_message("%s%s: %ld keys after %d kills\n", sync == MT_SYNC_ALWAYS ? "MT_SYNC_ALWAYS" : "MT_SYNC_NONE",
                lose_power ? " + power loss" : "", total, ROUNDS);
}

static void kill9_sync_none(void **state) { kill_loop(MT_SYNC_NONE, false); }
static void kill9_sync_always_power_loss(void **state) { kill_loop(MT_SYNC_ALWAYS, true); }
/* no promise about acknowledged writes, but still a prefix and an open */
static void kill9_sync_none_power_loss(void **state) { kill_loop(MT_SYNC_NONE, true); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(kill9_sync_none, setup, teardown),
      cmocka_unit_test_setup_teardown(kill9_sync_always_power_loss, setup, teardown),
      cmocka_unit_test_setup_teardown(kill9_sync_none_power_loss, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
