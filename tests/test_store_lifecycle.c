/* test_store_lifecycle.c -- freeze, background flush to sorted runs, reads
 * over everything, merges, back-pressure and recovery over runs
 * (RELIABILITY.md case 13: several memtables over one WAL; case 12's
 * failures injected at every file operation of a flush). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/file.h"
#include "../core/run.h"
#include "support.h"

enum { NK = 3000 };

static char dir[64];
static int mdl[NK]; /* -1 absent, else the value's generation */

static int count_files(const char *prefix) {
  DIR *dd = opendir(dir);
  struct dirent *e;
  int n = 0;
  while (dd && (e = readdir(dd))) n += !strncmp(e->d_name, prefix, strlen(prefix));
  if (dd) closedir(dd);
  return n;
}

/* Files named prefix...suffix. */
static int count_named(const char *prefix, const char *suffix) {
  DIR *dd = opendir(dir);
  struct dirent *e;
  int n = 0;
  size_t pl = strlen(prefix), sl = strlen(suffix);
  while (dd && (e = readdir(dd))) {
    size_t l = strlen(e->d_name);
    n += l > pl + sl && !strncmp(e->d_name, prefix, pl) && !strcmp(e->d_name + l - sl, suffix);
  }
  if (dd) closedir(dd);
  return n;
}

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/mt_life_%d", (int)getpid());
  rm_rf(dir);
  for (int i = 0; i < NK; i++) mdl[i] = -1;
  return 0;
}
static int teardown(void **state) {
  mt_file_set_fault(NULL);
  rm_rf(dir);
  return 0;
}

static void key_of(char *b, int k) { snprintf(b, 16, "key%06d", k); }
static mt_slice val_of(char *b, int k, int gen) {
  int n = snprintf(b, 128, "%d:%d:", k, gen);
  for (; n < 100; n++) b[n] = (char)('a' + (k + gen + n) % 26);
  return (mt_slice){b, (size_t)n};
}

/* s NULL: the model only */
static void put(mt_store *s, int k, int gen) {
  char kb[16], vb[128];
  key_of(kb, k);
  if (s) assert_int_equal(mt_store_put(s, S(kb), val_of(vb, k, gen)), MT_OK);
  mdl[k] = gen;
}
static void del(mt_store *s, int k) {
  char kb[16];
  key_of(kb, k);
  if (s) assert_int_equal(mt_store_delete(s, S(kb)), MT_OK);
  mdl[k] = -1;
}

/* Point reads and a forward and a backward walk equal the mdl. */
static void check(mt_store *s) {
  char kb[16], vb[128];
  for (int k = 0; k < NK; k++) {
    key_of(kb, k);
    void *v;
    size_t n;
    int rc = mt_store_get(s, S(kb), MT_SEQ_MAX, &v, &n);
    if (mdl[k] < 0) {
      if (rc != MT_NOTFOUND) fail_msg("key %d: deleted or never written, yet get says %d", k, rc);
    } else {
      if (rc != MT_OK) fail_msg("key %d: want gen %d, get says %d", k, mdl[k], rc);
      mt_slice e = val_of(vb, k, mdl[k]);
      assert_int_equal(n, e.len);
      assert_memory_equal(v, e.data, e.len);
    }
    mt_free(v);
  }
  mt_iter *it;
  assert_int_equal(mt_store_iter(&it, s, MT_SEQ_MAX), MT_OK);
  int k = 0;
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), k++) {
    while (k < NK && mdl[k] < 0) k++;
    assert_true(k < NK);
    key_of(kb, k);
    assert_int_equal(mt_iter_key(it).len, strlen(kb));
    assert_memory_equal(mt_iter_key(it).data, kb, strlen(kb));
  }
  while (k < NK && mdl[k] < 0) k++;
  assert_int_equal(k, NK);
  assert_int_equal(mt_iter_status(it), MT_OK);
  k = NK - 1;
  for (mt_iter_seek_to_last(it); mt_iter_valid(it); mt_iter_prev(it), k--) {
    while (k >= 0 && mdl[k] < 0) k--;
    assert_true(k >= 0);
    key_of(kb, k);
    assert_memory_equal(mt_iter_key(it).data, kb, strlen(kb));
  }
  while (k >= 0 && mdl[k] < 0) k--;
  assert_int_equal(k, -1);
  /* direction changes: from a seek, next then prev comes back, and
   * seek_for_prev then next lands on the first live key after */
  for (int t = 0; t < NK; t += 37) {
    key_of(kb, t);
    int at = t;
    while (at < NK && mdl[at] < 0) at++;
    mt_iter_seek(it, S(kb));
    if (at == NK) {
      assert_false(mt_iter_valid(it));
      continue;
    }
    int nx = at + 1;
    while (nx < NK && mdl[nx] < 0) nx++;
    mt_iter_next(it);
    if (nx < NK) {
      char nb[16];
      key_of(nb, nx);
      assert_memory_equal(mt_iter_key(it).data, nb, strlen(nb));
      mt_iter_prev(it);
    } else {
      assert_false(mt_iter_valid(it));
      mt_iter_seek_to_last(it);
    }
    char ab[16];
    key_of(ab, at);
    assert_true(mt_iter_valid(it));
    assert_memory_equal(mt_iter_key(it).data, ab, strlen(ab));
    mt_iter_seek_for_prev(it, S(kb));
    int pv = t;
    while (pv >= 0 && mdl[pv] < 0) pv--;
    if (pv >= 0) { /* on pv; next: the first live key after it */
      char pb[16];
      key_of(pb, pv);
      assert_true(mt_iter_valid(it));
      assert_memory_equal(mt_iter_key(it).data, pb, strlen(pb));
      mt_iter_next(it);
      int want = pv == at ? nx : at;
      if (want < NK) {
        char wb[16];
        key_of(wb, want);
        assert_true(mt_iter_valid(it));
        assert_memory_equal(mt_iter_key(it).data, wb, strlen(wb));
      } else {
        assert_false(mt_iter_valid(it));
      }
    }
  }
  mt_iter_free(it);
}

static mt_store *open_small(size_t bytes, unsigned max_runs) {
  mt_store_options o;
  mt_store_options_init(&o);
  o.memtable_bytes = bytes;
  o.max_runs = max_runs;
  mt_store *s;
  assert_int_equal(mt_store_open(&s, dir, &o), MT_OK);
  return s;
}

/* s equals the model, and so does the store reopened after its close. */
static void check_reopen_check(mt_store *s, size_t bytes, unsigned max_runs) {
  check(s);
  assert_int_equal(mt_store_close(s), MT_OK);
  s = open_small(bytes, max_runs);
  check(s);
  assert_int_equal(mt_store_close(s), MT_OK);
}

static void options_are_checked(void **state) {
  mt_store_options o;
  mt_store_options_init(&o);
  assert_int_equal(o.max_runs, 8);
  assert_int_equal(o.memtable_bytes, 64u << 20);
  mt_store *s;
  o.max_runs = 1;
  assert_int_equal(mt_store_open(&s, dir, &o), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "max_runs"));
  o.max_runs = 8;
  o.memtable_bytes = 100;
  assert_int_equal(mt_store_open(&s, dir, &o), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "memtable_bytes"));
  o.memtable_bytes = 1 << 20;
  o.max_immutable = 5000;
  assert_int_equal(mt_store_open(&s, dir, &o), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "max_immutable"));
}

/* Memtables freeze at their size and flush to runs in the background;
 * runs merge past max_runs; reads see everything, and so does a reopen. */
static void freeze_flush_merge_reopen(void **state) {
  mt_store *s = open_small(64 << 10, 3);
  unsigned seed = 5;
  uint64_t snap = 0;
  int at_snap[NK];
  for (int i = 0; i < 12000; i++) {
    int k = rand_r(&seed) % NK;
    if (rand_r(&seed) % 6) put(s, k, i);
    else del(s, k);
    if (i == 4000) {
      snap = mt_store_last_seq(s);
      memcpy(at_snap, mdl, sizeof mdl);
    }
  }
  struct mt_store_stats st;
  assert_int_equal(mt_store_stats(s, &st), MT_OK);
  assert_true(st.flushes >= 10);
  assert_true(st.runs >= 1); /* merges run beside flushes: the count moves */
  assert_true(st.merges >= 1);
  assert_int_equal(st.flush_errors, 0);
  assert_true(st.frozen <= 2);
  assert_true(st.bytes < 5 * (64 << 10));
  check(s);
  /* the old snapshot still reads its versions: merges keep every version */
  char kb[16], vb[128];
  for (int k = 0; k < NK; k += 7) {
    key_of(kb, k);
    void *v;
    size_t n;
    int rc = mt_store_get(s, S(kb), snap, &v, &n);
    assert_int_equal(rc, at_snap[k] < 0 ? MT_NOTFOUND : MT_OK);
    if (!rc) assert_memory_equal(v, val_of(vb, k, at_snap[k]).data, n);
    mt_free(v);
  }
  assert_int_equal(mt_store_flush(s), MT_OK);
  assert_int_equal(mt_store_stats(s, &st), MT_OK);
  assert_int_equal(st.frozen, 0);
  assert_int_equal(count_files("wal-"), 1);
  uint64_t last = mt_store_last_seq(s);
  assert_int_equal(mt_store_close(s), MT_OK);
  s = open_small(64 << 10, 3);
  assert_int_equal(mt_store_stats(s, &st), MT_OK);
  assert_int_equal(st.recovered_records, 0); /* everything was in the runs */
  assert_int_equal(mt_store_last_seq(s), last);
  check(s);
  put(s, 1, 99999);
  assert_int_equal(mt_store_last_seq(s), last + 1);
  assert_int_equal(mt_store_close(s), MT_OK);
}

/* The name of the run holding the lowest seqs; returns its file's bytes
 * and adds those of every other run to *newer. */
static uint64_t oldest_run(char *name, size_t cap, uint64_t *newer) {
  DIR *dd = opendir(dir);
  struct dirent *e;
  uint64_t oldest = UINT64_MAX, bytes = 0, total = 0;
  while ((e = readdir(dd))) {
    uint64_t n;
    if (!mt_run_parse_name(e->d_name, &n)) continue;
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    mt_run *r;
    assert_int_equal(mt_run_open(&r, p, NULL), MT_OK);
    uint64_t size = mt_run_file_bytes(r);
    total += size;
    if (mt_run_props_of(r)->min_seq < oldest) {
      oldest = mt_run_props_of(r)->min_seq;
      bytes = size;
      snprintf(name, cap, "%s", e->d_name);
    }
    mt_run_unref(r);
  }
  closedir(dd);
  *newer = total - bytes;
  return bytes;
}

/* Waits until the merge thread brought the runs down to at most max, and
 * removed the files of the runs it folded. */
static void settle(mt_store *s, uint64_t max, struct mt_store_stats *st) {
  for (int t = 0; t < 3000; t++) {
    assert_int_equal(mt_store_stats(s, st), MT_OK);
    if (st->runs <= max && count_named("run-", ".sst") == (int)st->runs) return;
    usleep(10000);
  }
  fail_msg("%llu runs after 30 s (max_runs %llu)", (unsigned long long)st->runs, (unsigned long long)max);
}

/* Tiered merges (store_flush.c invariant 5): past max_runs the newest runs
 * are folded, leaving at most max_runs / 2; once the writes stop the run
 * count settles at max_runs or fewer.  Then five small flushes make a merge
 * that leaves the big oldest run alone: it is not rewritten each time. */
static void tiered_merges_keep_runs_bounded(void **state) {
  mt_store *s = open_small(16 << 10, 4);
  unsigned seed = 11;
  for (int i = 0; i < 20000; i++) put(s, rand_r(&seed) % NK, i);
  assert_int_equal(mt_store_flush(s), MT_OK);
  struct mt_store_stats st;
  settle(s, 4, &st);
  assert_true(st.merges >= 3);
  assert_true(st.flushes >= 40);
  check(s);
  char before[256] = "", after[256] = "";
  uint64_t newer = 0, oldest = oldest_run(before, sizeof before, &newer);
  uint64_t merges = st.merges;
  for (int f = 0; f < 5; f++) {
    for (int k = 0; k < 3; k++) put(s, rand_r(&seed) % NK, 30000 + f);
    assert_int_equal(mt_store_flush(s), MT_OK);
  }
  for (int t = 0; t < 1000 && st.merges == merges; t++) {
    usleep(10000);
    assert_int_equal(mt_store_stats(s, &st), MT_OK);
  }
  settle(s, 4, &st);
  assert_true(st.merges > merges);
  oldest_run(after, sizeof after, &(uint64_t){0});
  /* The merge folds the oldest run too once it is no bigger than the newer
   * ones together.  How much bigger it is depends on when the merges ran
   * (16 KiB to 2.3 MB in 80 runs); the five runs add about 2.8 KiB. */
  if (oldest > newer + 8192) assert_string_equal(before, after);
  else print_message("the oldest run (%llu bytes) is too close to the newer ones (%llu) to check it stays\n",
                     (unsigned long long)oldest, (unsigned long long)newer);
  check_reopen_check(s, 16 << 10, 4);
}

/* Reads stay bounded under a merge slower than the flushes: a flush waits
 * while 2 x max_runs runs are live (store_flush.c runs_full), and the
 * writers stall behind the frozen memtables. */
static int slow_run_writes(void *ctx, mt_file_op op, const char *path, size_t *len) {
  if (op == MT_FOP_WRITE && strstr(path, "/run-")) usleep((useconds_t)(*len / 16)); /* 64 us per KiB */
  return 0;
}

static void runs_stay_bounded_under_slow_merges(void **state) {
  static const mt_file_fault f = {slow_run_writes, NULL, NULL};
  mt_file_set_fault(&f);
  mt_store *s = open_small(16 << 10, 4);
  unsigned seed = 3;
  uint64_t most = 0;
  struct mt_store_stats st;
  for (int i = 0; i < 12000; i++) {
    put(s, rand_r(&seed) % NK, i);
    if (i % 100 == 0) {
      assert_int_equal(mt_store_stats(s, &st), MT_OK);
      if (st.runs > most) most = st.runs;
    }
  }
  mt_file_set_fault(NULL);
  assert_int_equal(mt_store_stats(s, &st), MT_OK);
  print_message("runs at most %llu (max_runs 4), %llu merges, %llu stalls\n", (unsigned long long)most,
                (unsigned long long)st.merges, (unsigned long long)st.stalls);
  assert_true(most <= 2 * 4);
  assert_true(st.merges >= 2);
  check(s);
  assert_int_equal(mt_store_close(s), MT_OK);
}

/* An iterator keeps its view while writes, flushes and merges go on. */
static void iterator_is_stable(void **state) {
  mt_store *s = open_small(32 << 10, 2);
  for (int k = 0; k < NK; k++) put(s, k, 1);
  mt_iter *it;
  assert_int_equal(mt_store_iter(&it, s, MT_SEQ_MAX), MT_OK);
  for (int k = 0; k < NK; k++) del(s, k);
  assert_int_equal(mt_store_flush(s), MT_OK);
  int n = 0;
  char vb[128];
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), n++) {
    mt_slice e = val_of(vb, n, 1);
    assert_memory_equal(mt_iter_value(it).data, e.data, e.len);
  }
  assert_int_equal(n, NK);
  mt_iter_free(it);
  check(s); /* all deleted now */
  assert_int_equal(mt_store_close(s), MT_OK);
}

/* Case 13: two memtables over the WAL; the first is flushed but its
 * segment cannot be removed; a crash (no close) leaves both.  Reopen
 * replays only the second's records, and a key the second deleted stays
 * deleted. */
static int refuse_wal_remove(void *ctx, mt_file_op op, const char *path, size_t *len) {
  size_t n = strlen(path); /* a live segment goes by unlink, or by rename when its file is recycled */
  bool live = strstr(path, "/wal-") && n > 4 && !strcmp(path + n - 4, ".log");
  return (op == MT_FOP_REMOVE || op == MT_FOP_RENAME) && live ? EIO : 0;
}

static void two_memtables(mt_store *s) {
  static const mt_file_fault f = {refuse_wal_remove, NULL, NULL};
  for (int k = 0; k < 100; k++) put(s, k, 1);
  if (s) {
    mt_file_set_fault(&f);
    if (mt_store_flush(s)) _exit(2); /* durable in a run; the segment stays */
    mt_file_set_fault(NULL);
  }
  for (int k = 50; k < 150; k++) put(s, k, 2);
  for (int k = 0; k < 10; k++) del(s, k);
}

static void several_memtables_over_one_wal(void **state) {
  pid_t pid = fork();
  if (pid == 0) {
    mt_store *s = open_small(1 << 20, 8);
    two_memtables(s);
    _exit(0); /* the crash: no close */
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_int_equal(WEXITSTATUS(status), 0);
  two_memtables(NULL);
  assert_int_equal(count_files("run-"), 1);
  assert_int_equal(count_files("wal-"), 2);
  mt_store *s = open_small(1 << 20, 8);
  struct mt_store_stats st;
  assert_int_equal(mt_store_stats(s, &st), MT_OK);
  assert_int_equal(st.recovered_records, 110); /* the second memtable's only */
  assert_int_equal(mt_store_last_seq(s), 210);
  check(s);
  assert_int_equal(mt_store_close(s), MT_OK);
  assert_int_equal(count_files("wal-"), 2); /* the first one went at open: the second + the new */
}

/* A user sink: after it took a memtable, FLUSHED records the seq, so a
 * crash before the segments go replays none of it again. */
static long sunk;
static int us_begin(void *ctx, uint64_t id, uint64_t count) { return 0; }
static int us_add(void *ctx, mt_slice k, uint64_t seq, mt_kind kind, mt_slice v) {
  sunk++;
  return 0;
}
static int us_finish(void *ctx, int status) { return status; }
static const mt_flush_sink user_sink = {us_begin, us_add, us_finish};

static void user_sink_flush_is_recorded(void **state) {
  pid_t pid = fork();
  if (pid == 0) {
    static const mt_file_fault f = {refuse_wal_remove, NULL, NULL};
    mt_store_options o;
    mt_store_options_init(&o);
    o.sink = &user_sink;
    mt_store *s;
    if (mt_store_open(&s, dir, &o)) _exit(2);
    for (int k = 0; k < 50; k++) put(s, k, 1);
    mt_file_set_fault(&f);
    if (mt_store_flush(s) || sunk != 50) _exit(3);
    mt_file_set_fault(NULL);
    for (int k = 50; k < 60; k++) put(s, k, 1);
    _exit(0); /* the crash */
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_true(count_files("wal-") >= 2);
  assert_int_equal(count_files("FLUSHED"), 1);
  mt_store_options o;
  mt_store_options_init(&o);
  o.sink = &user_sink;
  mt_store *s;
  assert_int_equal(mt_store_open(&s, dir, &o), MT_OK);
  struct mt_store_stats st;
  assert_int_equal(mt_store_stats(s, &st), MT_OK);
  assert_int_equal(st.recovered_records, 10); /* not the 50 the sink took */
  assert_int_equal(mt_store_last_seq(s), 60);
  for (int k = 50; k < 60; k++) put(NULL, k, 1); /* the model: only these are in the store */
  check(s);
  sunk = 0;
  assert_int_equal(mt_store_flush(s), MT_OK);
  assert_int_equal(sunk, 10);
  assert_int_equal(mt_store_close(s), MT_OK);
}

/* A memtable is frozen full: its arena commits in steps of at most an
 * eighth of memtable_bytes, so the data it holds reaches most of the budget
 * (with 2 MiB steps a 4 MiB memtable froze holding 2 MiB). */
enum { COUNTS = 16 };
static uint64_t counts[COUNTS];
static int ncounts;
static int cs_begin(void *ctx, uint64_t id, uint64_t count) {
  if (ncounts < COUNTS) counts[ncounts++] = count;
  return 0;
}
static int cs_add(void *ctx, mt_slice k, uint64_t seq, mt_kind kind, mt_slice v) { return 0; }
static const mt_flush_sink count_sink = {cs_begin, cs_add, us_finish};

static void memtables_freeze_full(void **state) {
  mt_store_options o;
  mt_store_options_init(&o);
  o.memtable_bytes = 4 << 20;
  o.sink = &count_sink;
  mt_store *s;
  assert_int_equal(mt_store_open(&s, NULL, &o), MT_OK);
  char kb[16], vb[1000];
  memset(vb, 'v', sizeof vb);
  ncounts = 0;
  for (int i = 0; i < 16000; i++) { /* 16 MB of data: 4 memtables and a bit */
    snprintf(kb, sizeof kb, "%015d", i * 7919 % 16000);
    assert_int_equal(mt_store_put(s, SL(kb, 15), SL(vb, sizeof vb)), MT_OK);
  }
  assert_int_equal(mt_store_flush(s), MT_OK);
  assert_int_equal(mt_store_close(s), MT_OK);
  assert_in_range(ncounts, 4, 5);
  for (int i = 0; i < ncounts - 1; i++) /* the last was frozen by the flush */
    if (counts[i] * (15 + 1000) < (4u << 20) * 8 / 10)
      fail_msg("memtable %d was frozen holding %llu entries of 1015 bytes: under 80%% of 4 MiB", i,
               (unsigned long long)counts[i]);
}

/* Pipelined flushes (store_flush.c): a run is published and its memtable
 * retired before the run is durable, and its WAL segments stay until it
 * is.  A child's run syncs hang; it sees every memtable flushed, every key
 * readable, the runs still .tmp files and the segments still there, then
 * crashes: the reopen has every key (from the WAL). */
static int hang_run_syncs(void *ctx, mt_file_op op, const char *path, size_t *len) {
  if (op == MT_FOP_SYNC && strstr(path, "/run-"))
    for (;;) pause();
  return 0;
}

static void runs_are_read_before_they_are_durable(void **state) {
  pid_t pid = fork();
  if (pid == 0) {
    static const mt_file_fault f = {hang_run_syncs, NULL, NULL};
    alarm(60); /* 300 puts fill 3 memtables, pend holds MT_STORE_PEND_MAX (4): a stall would hang */
    mt_file_set_fault(&f);
    mt_store *s;
    mt_store_options o;
    mt_store_options_init(&o);
    o.memtable_bytes = 16 << 10;
    if (mt_store_open(&s, dir, &o)) _exit(2);
    char kb[16], vb[128];
    for (int k = 0; k < 300; k++) {
      key_of(kb, k);
      if (mt_store_put(s, S(kb), val_of(vb, k, 1))) _exit(3);
    }
    struct mt_store_stats st = {0};
    for (int t = 0; t < 500 && (st.frozen || st.runs < 3); t++) {
      usleep(10000);
      mt_store_stats(s, &st);
    }
    if (st.frozen || st.runs < 3) _exit(4); /* flushed, though no run is durable */
    for (int k = 0; k < 300; k++) {
      void *v;
      size_t n;
      key_of(kb, k);
      mt_slice e = val_of(vb, k, 1);
      if (mt_store_get(s, S(kb), MT_SEQ_MAX, &v, &n) || n != e.len || memcmp(v, e.data, n)) _exit(5);
      mt_free(v);
    }
    if (count_named("run-", ".sst") != 0 || count_named("run-", ".sst.tmp") < 3) _exit(6);
    if (count_named("wal-", ".log") < 4) _exit(7); /* the segments wait for the runs */
    _exit(0); /* the crash */
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  for (int k = 0; k < 300; k++) put(NULL, k, 1);
  mt_store *s = open_small(16 << 10, 8);
  check(s);
  assert_int_equal(count_named("run-", ".sst.tmp"), 0);
  assert_int_equal(mt_store_close(s), MT_OK);
}

/* A run whose fdatasync failed is not trusted again (the failed sync may
 * have marked pages clean that never reached the disk): it is written
 * anew under another number, and that one is made durable. */
static char failed_sync[512];
static int fail_first_run_sync(void *ctx, mt_file_op op, const char *path, size_t *len) {
  if (op != MT_FOP_SYNC || !strstr(path, "/run-") || failed_sync[0]) return 0;
  snprintf(failed_sync, sizeof failed_sync, "%s", path);
  return EIO;
}

static void failed_run_sync_writes_the_run_again(void **state) {
  static const mt_file_fault f = {fail_first_run_sync, NULL, NULL};
  failed_sync[0] = 0;
  mt_file_set_fault(&f);
  mt_store *s = open_small(1 << 20, 8);
  for (int k = 0; k < 200; k++) put(s, k, 1);
  assert_int_equal(mt_store_flush(s), MT_EIO);
  assert_true(strstr(mt_last_error(), failed_sync) != NULL);
  check(s); /* the run still serves reads */
  assert_int_equal(mt_store_flush(s), MT_OK);
  mt_file_set_fault(NULL);
  struct mt_store_stats st;
  assert_int_equal(mt_store_stats(s, &st), MT_OK);
  assert_int_equal(st.flush_errors, 1);
  assert_int_equal(st.runs, 1);
  char final[512];
  size_t n = strlen(failed_sync) - strlen(".tmp");
  snprintf(final, sizeof final, "%.*s", (int)n, failed_sync);
  assert_int_equal(access(failed_sync, F_OK), -1);
  assert_int_equal(access(final, F_OK), -1); /* that number never became durable */
  assert_int_equal(count_named("run-", ".sst"), 1);
  assert_int_equal(count_files("wal-"), 1);
  check_reopen_check(s, 1 << 20, 8);
}

/* The same, but the run's bytes changed after the failed sync (its pages
 * dropped and read back stale, here overwritten): the rewrite checks the
 * checksums again, refuses, and fails the store; the WAL still holds the
 * data, and a reopen has every key. */
static int fail_first_run_sync_and_damage(void *ctx, mt_file_op op, const char *path, size_t *len) {
  int err = fail_first_run_sync(ctx, op, path, len);
  if (err) { /* before the flush thread can retry, which it does on its own after 10 ms */
    int fd = open(path, O_WRONLY);
    if (fd < 0 || pwrite(fd, "XXXXXXXX", 8, 100) != 8) err = EBADF; /* the test then fails */
    if (fd >= 0) close(fd);
  }
  return err;
}

static void failed_run_sync_then_damage_fails_the_store(void **state) {
  static const mt_file_fault f = {fail_first_run_sync_and_damage, NULL, NULL};
  failed_sync[0] = 0;
  mt_file_set_fault(&f);
  mt_store *s = open_small(1 << 20, 8);
  for (int k = 0; k < 200; k++) put(s, k, 1);
  assert_int_equal(mt_store_flush(s), MT_EIO);
  assert_non_null(strstr(mt_last_error(), strerror(EIO)));
  assert_int_equal(mt_store_flush(s), MT_EIO);
  assert_non_null(strstr(mt_last_error(), "no longer verifies"));
  char kb[16], vb[128];
  key_of(kb, 0);
  assert_int_equal(mt_store_put(s, S(kb), val_of(vb, 0, 2)), MT_EIO);
  mt_file_set_fault(NULL);
  mt_store_close(s);
  s = open_small(1 << 20, 8);
  check(s);
  assert_int_equal(mt_store_close(s), MT_OK);
}

/* Merges take durable runs only: with slow run syncs and merges going
 * on, the run files on disk are the runs the store lists, none left .tmp. */
static int slow_run_syncs(void *ctx, mt_file_op op, const char *path, size_t *len) {
  if (op == MT_FOP_SYNC && strstr(path, "/run-")) usleep(3000);
  return 0;
}

static void merges_leave_unsynced_runs_alone(void **state) {
  static const mt_file_fault f = {slow_run_syncs, NULL, NULL};
  mt_file_set_fault(&f);
  mt_store *s = open_small(16 << 10, 4);
  unsigned seed = 5;
  for (int i = 0; i < 12000; i++) put(s, rand_r(&seed) % NK, i);
  assert_int_equal(mt_store_flush(s), MT_OK);
  struct mt_store_stats st;
  settle(s, 4, &st);
  assert_true(st.merges >= 2);
  mt_file_set_fault(NULL);
  assert_int_equal(count_named("run-", ".sst"), (int)st.runs);
  assert_int_equal(count_named("run-", ".sst.tmp"), 0);
  check_reopen_check(s, 16 << 10, 4);
}

/* Case 12 with failures instead of kills: every file operation of a
 * flush fails once in turn; the flush reports it, nothing is lost, the
 * retry succeeds, and a reopen equals the mdl. */
static int fail_at, seen;
static int fail_nth(void *ctx, mt_file_op op, const char *path, size_t *len) {
  return ++seen == fail_at ? (op == MT_FOP_WRITE ? ENOSPC : EIO) : 0;
}

static void failure_at_every_step_of_a_flush(void **state) {
  static const mt_file_fault f = {fail_nth, NULL, NULL};
  int steps = 0;
  for (fail_at = 1;; fail_at++) {
    rm_rf(dir);
    for (int k = 0; k < NK; k++) mdl[k] = -1;
    mt_store *s = open_small(1 << 20, 8);
    for (int k = 0; k < 300; k++) put(s, k, 1);
    for (int k = 0; k < 30; k++) del(s, k * 3);
    seen = 0;
    mt_file_set_fault(&f);
    int rc = mt_store_flush(s);
    mt_file_set_fault(NULL);
    bool hit = seen >= fail_at;
    if (!hit) {
      assert_int_equal(rc, MT_OK);
      assert_int_equal(mt_store_close(s), MT_OK);
      break;
    }
    steps++;
    struct mt_store_stats st;
    mt_store_stats(s, &st);
    if (rc) {
      assert_true(rc == MT_EIO);
      assert_true(*mt_last_error());
    }
    if (!st.failed) { /* a WAL failure fails the store: reopen instead */
      check(s);
      for (int k = 300; k < 320; k++) put(s, k, 2);
      assert_int_equal(mt_store_flush(s), MT_OK);
      check(s);
    }
    mt_store_close(s);
    s = open_small(1 << 20, 8);
    check(s);
    assert_int_equal(mt_store_close(s), MT_OK);
    assert_true(fail_at < 500);
  }
  assert_true(steps >= 8); /* freeze (create, write, sync, rename, dir sync), run, remove */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(options_are_checked, setup, teardown),
      cmocka_unit_test_setup_teardown(freeze_flush_merge_reopen, setup, teardown),
      cmocka_unit_test_setup_teardown(tiered_merges_keep_runs_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(runs_stay_bounded_under_slow_merges, setup, teardown),
      cmocka_unit_test_setup_teardown(iterator_is_stable, setup, teardown),
      cmocka_unit_test_setup_teardown(several_memtables_over_one_wal, setup, teardown),
      cmocka_unit_test_setup_teardown(failure_at_every_step_of_a_flush, setup, teardown),
      cmocka_unit_test_setup_teardown(user_sink_flush_is_recorded, setup, teardown),
      cmocka_unit_test_setup_teardown(memtables_freeze_full, setup, teardown),
      cmocka_unit_test_setup_teardown(runs_are_read_before_they_are_durable, setup, teardown),
      cmocka_unit_test_setup_teardown(failed_run_sync_writes_the_run_again, setup, teardown),
      cmocka_unit_test_setup_teardown(failed_run_sync_then_damage_fails_the_store, setup, teardown),
      cmocka_unit_test_setup_teardown(merges_leave_unsynced_runs_alone, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
