/* test_store_soak.c -- a bounded soak test for every registered rep:
 * random puts, deletes, batches and flushes against a mdl (a plain
 * array), with crash-and-reopen cycles.
 *
 * Each cycle a child process opens the store (memtables 16 KiB above their
 * empty size, so freezes,
 * background flushes and run merges happen all the time), logs each
 * operation to shared memory before doing it and counts it once
 * acknowledged, and dies abruptly: at a random operation, or from a
 * file-layer hook at a random file operation (often inside a flush).  The
 * parent reopens and requires the store to equal the mdl after the
 * acknowledged operations, or after one more (the one in flight), through
 * point reads and full walks both ways; that state carries into the next
 * cycle.  Sequence numbers must never go back. */
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

enum { NK = 150, MAXOPS = 700, CYCLES = 5, BATCH = 3 };

typedef struct op {
  int kind; /* 0 put, 1 delete, 2 batch, 3 flush */
  int key[BATCH], gen[BATCH]; /* gen < 0: delete */
} op;

typedef struct shm {
  volatile long acked;
  op ops[MAXOPS];
} shm;

static shm *sh;
static char dir[64];
static int mdl[NK];

static void key_of(char *b, int k) { snprintf(b, 16, "s%04d", k); }
static mt_slice val_of(char *b, int k, int gen) {
  int n = snprintf(b, 96, "%d/%d/", k, gen);
  for (int i = 0; i < (k * 7 + gen) % 60; i++) b[n++] = (char)('A' + i % 26);
  return (mt_slice){b, (size_t)n};
}

static void apply_model(int *m, const op *o) {
  int n = o->kind == 2 ? BATCH : o->kind == 3 ? 0 : 1;
  for (int i = 0; i < n; i++) m[o->key[i]] = o->gen[i];
}

static mt_store *open_store(const char *rep) {
  mt_store_options o;
  mt_store_options_init(&o);
  o.rep = rep;
  mt_memtable *m; /* a memtable holds a rep-sized floor even empty */
  if (mt_memtable_new(&m, rep, NULL)) return NULL;
  o.memtable_bytes = mt_memtable_memory_usage(m) + (16 << 10);
  mt_memtable_unref(m);
  o.max_runs = 3;
  mt_store *s;
  if (mt_store_open(&s, dir, &o)) return NULL;
  return s;
}

static long kill_at, seen;
static int kill_nth(void *ctx, mt_file_op fop, const char *path, size_t *len) {
  (void)fop, (void)path, (void)len;
  if (__atomic_add_fetch(&seen, 1, __ATOMIC_SEQ_CST) == kill_at) _exit(0);
  return 0;
}

static void child(const char *rep, unsigned seed, int nops) {
  static const mt_file_fault f = {kill_nth, NULL, NULL};
  mt_store *s = open_store(rep);
  if (!s) _exit(2);
  if (rand_r(&seed) % 2) {
    kill_at = 20 + rand_r(&seed) % 400;
    mt_file_set_fault(&f);
  }
  mt_batch *b;
  if (mt_batch_new(&b)) _exit(2);
  for (int i = 0; i < nops; i++) {
    op o;
    memset(&o, 0, sizeof o);
    int r = rand_r(&seed) % 100;
    o.kind = r < 60 ? 0 : r < 85 ? 1 : r < 97 ? 2 : 3;
    for (int j = 0; j < BATCH; j++) {
      o.key[j] = rand_r(&seed) % NK;
      o.gen[j] = (o.kind == 1 || (o.kind == 2 && j == 1)) ? -1 : rand_r(&seed) % 100000;
    }
    sh->ops[i] = o;
    char kb[16], vb[96];
    int rc = MT_OK;
    if (o.kind == 0 || o.kind == 1) {
      key_of(kb, o.key[0]);
      rc = o.kind == 0 ? mt_store_put(s, S(kb), val_of(vb, o.key[0], o.gen[0])) : mt_store_delete(s, S(kb));
    } else if (o.kind == 2) {
      mt_batch_clear(b);
      for (int j = 0; j < BATCH; j++) {
        key_of(kb, o.key[j]);
        if (o.gen[j] < 0) mt_batch_delete(b, S(kb));
        else mt_batch_put(b, S(kb), val_of(vb, o.key[j], o.gen[j]));
      }
      rc = mt_store_write(s, b);
    } else {
      rc = mt_store_flush(s);
    }
    if (rc) _exit(3);
    sh->acked = i + 1;
  }
  _exit(0); /* the crash: no close */
}

static bool equals(mt_store *s, const int *m) {
  char kb[16], vb[96];
  int live = 0;
  for (int k = 0; k < NK; k++) {
    key_of(kb, k);
    void *v;
    size_t n;
    int rc = mt_store_get(s, S(kb), MT_SEQ_MAX, &v, &n);
    bool ok;
    if (m[k] < 0) {
      ok = rc == MT_NOTFOUND;
    } else {
      mt_slice e = val_of(vb, k, m[k]);
      ok = rc == MT_OK && n == e.len && !memcmp(v, e.data, n);
      live++;
    }
    mt_free(v);
    if (!ok) return false;
  }
  mt_iter *it;
  if (mt_store_iter(&it, s, MT_SEQ_MAX)) return false;
  int fwd = 0, back = 0;
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it)) fwd++;
  for (mt_iter_seek_to_last(it); mt_iter_valid(it); mt_iter_prev(it)) back++;
  mt_iter_free(it);
  return fwd == live && back == live;
}

static void soak_rep(const char *rep, unsigned seed) {
  rm_rf(dir);
  for (int k = 0; k < NK; k++) mdl[k] = -1;
  uint64_t last = 0;
  for (int cycle = 0; cycle < CYCLES; cycle++) {
    sh->acked = 0;
    seen = 0;
    unsigned cs = seed * 1000 + (unsigned)cycle;
    int nops = 200 + (int)(rand_r(&cs) % (MAXOPS - 200));
    pid_t pid = fork();
    if (pid == 0) child(rep, cs, nops);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status))
      fail_msg("%s cycle %d: child status %d: %s", rep, cycle, status, mt_last_error());
    mt_store *s = open_store(rep);
    if (!s) fail_msg("%s cycle %d: reopen failed: %s", rep, cycle, mt_last_error());
    int a[NK], b[NK];
    memcpy(a, mdl, sizeof a);
    for (long i = 0; i < sh->acked; i++) apply_model(a, &sh->ops[i]);
    memcpy(b, a, sizeof b);
    if (sh->acked < nops) apply_model(b, &sh->ops[sh->acked]);
    if (equals(s, a)) memcpy(mdl, a, sizeof mdl);
    else if (equals(s, b)) memcpy(mdl, b, sizeof mdl);
    else fail_msg("%s cycle %d: the store is not the acknowledged state (%ld ops acked)", rep, cycle, sh->acked);
    uint64_t now = mt_store_last_seq(s);
    if (now < last) fail_msg("%s cycle %d: last seq went back from %llu to %llu", rep, cycle,
                             (unsigned long long)last, (unsigned long long)now);
    last = now;
    assert_int_equal(mt_store_close(s), MT_OK);
  }
  rm_rf(dir);
}

static void soak_every_rep(void **state) {
  sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(sh != MAP_FAILED);
  snprintf(dir, sizeof dir, "/tmp/mt_soak_%d", (int)getpid());
  const char *names[16];
  size_t n = mt_rep_names(names, 16);
  assert_true(n >= 1 && n <= 16);
  for (size_t i = 0; i < n; i++) soak_rep(names[i], (unsigned)i + 1);
  munmap(sh, sizeof *sh);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(soak_every_rep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
