/* test_conc_store.c -- the store under concurrent writers, readers and
 * flushes (group commit), also run under TSan.
 *
 * Writers t = 0..W-1 each put "t<t>:<i>" for i = 0, 1, ... in order, every
 * fifth one as a batch with its twin "p<t>:<i>".  Readers take a snapshot
 * (mt_store_last_seq) and check through an iterator and point reads that
 *  - each writer's keys visible at the snapshot are a prefix 0..n-1
 *    (seqs follow commit order),
 *  - a batch is visible whole or not at all,
 *  - reading the same snapshot again gives the same answer.
 * Afterwards the WAL must replay to exactly what was written.  A second
 * test flushes a memory-only store into a counting sink while writers run:
 * nothing is lost or duplicated across the switch of memtables.  Others
 * cover group commit's hand-over with writes bigger than a group, and more
 * writers than the store has condition variables to wait on.  Every test
 * runs under an alarm: a lost wake-up hangs a writer, and the alarm turns
 * that into a failure instead of a wait for ctest's timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/store_int.h"
#include "support.h"

enum { W = 3 };

static char dir[64];
static mt_store *store;
static int per_writer;
static atomic_int writers_done;
static atomic_long failures;

static int setup(void **state) {
  strcpy(dir, "/tmp/mt_conc_XXXXXX");
  alarm(300); /* each test takes seconds, under TSan too */
  return mkdtemp(dir) ? 0 : -1;
}
static int teardown(void **state) {
  alarm(0);
  rm_rf(dir);
  return 0;
}

static atomic_long flushes_done; /* memtables flushed, as flush_while_writing's flush thread saw */
static bool wait_mid_flush;      /* writers wait halfway for one of them */

static void *writer(void *arg) {
  int t = (int)(intptr_t)arg;
  char k[32], p[32];
  mt_batch *b;
  if (mt_batch_new(&b)) return NULL;
  for (int i = 0; i < per_writer; i++) {
    while (wait_mid_flush && i == per_writer / 2 && atomic_load(&flushes_done) == 0) usleep(100);
    snprintf(k, sizeof k, "t%d:%06d", t, i);
    int rc;
    if (i % 5 == 4) {
      snprintf(p, sizeof p, "p%d:%06d", t, i);
      mt_batch_clear(b);
      mt_batch_put(b, S(k), S(k));
      mt_batch_put(b, S(p), S(p));
      rc = mt_store_write(store, b);
    } else {
      rc = mt_store_put(store, S(k), S(k));
    }
    if (rc) atomic_fetch_add(&failures, 1);
  }
  mt_batch_free(b);
  atomic_fetch_add(&writers_done, 1);
  return NULL;
}

/* Counts at a snapshot; returns the total number of keys seen. */
static long scan(uint64_t snap, int prefix[W], int twins[W]) {
  mt_iter *it;
  if (mt_store_iter(&it, store, snap)) {
    atomic_fetch_add(&failures, 1);
    return -1;
  }
  long total = 0;
  for (int t = 0; t < W; t++) prefix[t] = twins[t] = 0;
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), total++) {
    mt_slice k = mt_iter_key(it), v = mt_iter_value(it);
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)k.len, (const char *)k.data);
    int t, i;
    if (sscanf(buf + 1, "%d:%d", &t, &i) != 2 || t < 0 || t >= W || k.len != v.len ||
        memcmp(k.data, v.data, k.len)) {
      atomic_fetch_add(&failures, 1);
      continue;
    }
    if (buf[0] == 'p') {
      twins[t]++;
      continue;
    }
    if (i != prefix[t]) atomic_fetch_add(&failures, 1); /* a hole: not a prefix */
    prefix[t]++;
  }
  mt_iter_free(it);
  for (int t = 0; t < W; t++) /* batches whole: twins of i%5==4 among the prefix */
    if (twins[t] != prefix[t] / 5) atomic_fetch_add(&failures, 1);
  return total;
}

static void *reader(void *arg) {
  long rounds = 0;
  while (atomic_load(&writers_done) < W || rounds < 3) {
    uint64_t snap = mt_store_last_seq(store);
    int a[W], ta[W], b[W], tb[W];
    long n1 = scan(snap, a, ta);
    /* point reads agree with the scan */
    for (int t = 0; t < W; t++) {
      char k[32];
      void *v;
      if (a[t] > 0) {
        snprintf(k, sizeof k, "t%d:%06d", t, a[t] - 1);
        if (mt_store_get(store, S(k), snap, &v, NULL) != MT_OK) atomic_fetch_add(&failures, 1);
        mt_free(v);
      }
      snprintf(k, sizeof k, "t%d:%06d", t, a[t]);
      if (mt_store_get(store, S(k), snap, &v, NULL) != MT_NOTFOUND) atomic_fetch_add(&failures, 1);
    }
    long n2 = scan(snap, b, tb); /* the snapshot stays fixed */
    if (n1 != n2) atomic_fetch_add(&failures, 1);
    rounds++;
  }
  return NULL;
}

static void run(mt_sync sync, int n) {
  mt_store_options o;
  mt_store_options_init(&o);
  o.sync = sync;
  assert_int_equal(mt_store_open(&store, dir, &o), MT_OK);
  per_writer = n;
  atomic_store(&writers_done, 0);
  atomic_store(&failures, 0);
  pthread_t w[W], r;
  pthread_create(&r, NULL, reader, NULL);
  for (int t = 0; t < W; t++) pthread_create(&w[t], NULL, writer, (void *)(intptr_t)t);
  for (int t = 0; t < W; t++) pthread_join(w[t], NULL);
  pthread_join(r, NULL);
  assert_int_equal(atomic_load(&failures), 0);
  struct mt_store_stats st;
  mt_store_stats(store, &st);
  assert_int_equal(st.writes, (uint64_t)W * (uint64_t)n);
  assert_int_equal(mt_store_last_seq(store), (uint64_t)W * (uint64_t)(n + n / 5));
  if (sync == MT_SYNC_ALWAYS) assert_true(st.wal_syncs <= st.writes);
  assert_int_equal(mt_store_close(store), MT_OK);
  /* the WAL replays to the same state */
  assert_int_equal(mt_store_open(&store, dir, &o), MT_OK);
  int a[W], ta[W];
  assert_int_equal(scan(MT_SEQ_MAX, a, ta), W * (n + n / 5));
  for (int t = 0; t < W; t++) assert_int_equal(a[t], n);
  assert_int_equal(atomic_load(&failures), 0);
  assert_int_equal(mt_store_close(store), MT_OK);
}

static void writers_and_readers_sync_none(void **state) { run(MT_SYNC_NONE, 3000); }
static void writers_and_readers_sync_always(void **state) { run(MT_SYNC_ALWAYS, 60); }

/* ---- group hand-over -------------------------------------------------------- */

/* Under MT_SYNC_ALWAYS a leader gathering its group hands it to the writer
 * that completes it (store.c).  That writer leads the group even when its
 * own write is bigger than a group may hold: two writers, small puts and
 * every tenth op a 1.1 MiB one; every acknowledged write is there, before
 * and after a reopen, and some groups held two writes. */
enum { HO_OPS = 120, HO_BIG = 1100 << 10 };
static char *big_value;

static void *handover_writer(void *arg) {
  int t = (int)(intptr_t)arg;
  char k[32];
  for (int i = 0; i < HO_OPS; i++) {
    snprintf(k, sizeof k, "h%d:%06d", t, i);
    mt_slice v = i % 10 == 9 ? SL(big_value, HO_BIG) : S(k);
    if (mt_store_put(store, S(k), v)) atomic_fetch_add(&failures, 1);
  }
  return NULL;
}

static void check_handover(void) {
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < HO_OPS; i++) {
      char k[32];
      snprintf(k, sizeof k, "h%d:%06d", t, i);
      void *v;
      size_t n;
      if (mt_store_get(store, S(k), MT_SEQ_MAX, &v, &n) != MT_OK) fail_msg("%s was acknowledged but is missing", k);
      size_t want = i % 10 == 9 ? HO_BIG : strlen(k);
      if (n != want) fail_msg("%s: %zu bytes, want %zu", k, n, want);
      mt_free(v);
    }
}

static void big_write_completing_a_group_is_written(void **state) {
  big_value = malloc(HO_BIG);
  memset(big_value, 'b', HO_BIG);
  mt_store_options o;
  mt_store_options_init(&o);
  o.sync = MT_SYNC_ALWAYS;
  assert_int_equal(mt_store_open(&store, dir, &o), MT_OK);
  atomic_store(&failures, 0);
  pthread_t w[2];
  for (int t = 0; t < 2; t++) pthread_create(&w[t], NULL, handover_writer, (void *)(intptr_t)t);
  for (int t = 0; t < 2; t++) pthread_join(w[t], NULL);
  assert_int_equal(atomic_load(&failures), 0);
  check_handover();
  struct mt_store_stats st;
  mt_store_stats(store, &st);
  assert_int_equal(st.writes, 2 * HO_OPS);
  assert_true(st.write_groups < st.writes);
  assert_int_equal(mt_store_close(store), MT_OK);
  assert_int_equal(mt_store_open(&store, dir, &o), MT_OK);
  check_handover();
  assert_int_equal(mt_store_close(store), MT_OK);
  free(big_value);
}

/* ---- more writers than wait slots --------------------------------------------- */

/* Waiting writers share the store's MT_STORE_WAIT_SLOTS condition variables
 * (store.c), so a wake-up must reach the waiter it is for whichever other
 * waiters share its slot.  Over twice as many writers as slots put under
 * MT_SYNC_ALWAYS (groups gather while a leader syncs), with barriers
 * (mt_store_flush) waiting among them: every write is acknowledged and
 * there (a lost wake-up hangs a writer: see setup's alarm). */
enum { MS_WRITERS = 2 * MT_STORE_WAIT_SLOTS + 7, MS_OPS = 25 };

static void *slot_writer(void *arg) {
  int t = (int)(intptr_t)arg;
  for (int i = 0; i < MS_OPS; i++) {
    char k[32];
    snprintf(k, sizeof k, "m%03d:%03d", t, i);
    if (mt_store_put(store, S(k), S(k))) atomic_fetch_add(&failures, 1);
    if (t % 16 == 0 && i % 8 == 0 && mt_store_flush(store)) atomic_fetch_add(&failures, 1);
  }
  return NULL;
}

static void more_writers_than_wait_slots(void **state) {
  mt_store_options o;
  mt_store_options_init(&o);
  o.sync = MT_SYNC_ALWAYS;
  assert_int_equal(mt_store_open(&store, dir, &o), MT_OK);
  atomic_store(&failures, 0);
  pthread_t w[MS_WRITERS];
  for (int t = 0; t < MS_WRITERS; t++) pthread_create(&w[t], NULL, slot_writer, (void *)(intptr_t)t);
  for (int t = 0; t < MS_WRITERS; t++) pthread_join(w[t], NULL);
  assert_int_equal(atomic_load(&failures), 0);
  struct mt_store_stats st;
  mt_store_stats(store, &st);
  assert_int_equal(st.writes, MS_WRITERS * MS_OPS);
  for (int t = 0; t < MS_WRITERS; t++)
    for (int i = 0; i < MS_OPS; i++) {
      char k[32];
      snprintf(k, sizeof k, "m%03d:%03d", t, i);
      void *v;
      if (mt_store_get(store, S(k), MT_SEQ_MAX, &v, NULL) != MT_OK) fail_msg("%s was acknowledged but is missing", k);
      mt_free(v);
    }
  assert_int_equal(mt_store_close(store), MT_OK);
}

/* ---- flush while writing ----------------------------------------------------- */

static atomic_long flushed;
static int c_begin(void *ctx, uint64_t id, uint64_t count) { return MT_OK; }
static int c_add(void *ctx, mt_slice key, uint64_t seq, mt_kind kind, mt_slice value) {
  atomic_fetch_add(&flushed, 1);
  return MT_OK;
}
static int c_finish(void *ctx, int status) { return MT_OK; }
static const mt_flush_sink counting = {c_begin, c_add, c_finish};

static void *flusher(void *arg) {
  while (atomic_load(&writers_done) < W) {
    if (mt_store_flush(store)) atomic_fetch_add(&failures, 1);
    struct mt_store_stats st;
    if (mt_store_stats(store, &st) == MT_OK) atomic_store(&flushes_done, (long)st.flushes);
    usleep(2000);
  }
  return NULL;
}

static void flush_while_writing(void **state) {
  mt_store_options o;
  mt_store_options_init(&o);
  o.sink = &counting;
  assert_int_equal(mt_store_open(&store, dir, &o), MT_OK);
  per_writer = 3000;
  atomic_store(&writers_done, 0);
  atomic_store(&failures, 0);
  atomic_store(&flushed, 0);
  atomic_store(&flushes_done, 0);
  wait_mid_flush = true; /* so at least one flush falls between writes */
  pthread_t w[W], f;
  for (int t = 0; t < W; t++) pthread_create(&w[t], NULL, writer, (void *)(intptr_t)t);
  pthread_create(&f, NULL, flusher, NULL);
  for (int t = 0; t < W; t++) pthread_join(w[t], NULL);
  pthread_join(f, NULL);
  wait_mid_flush = false;
  assert_int_equal(mt_store_flush(store), MT_OK);
  assert_int_equal(atomic_load(&failures), 0);
  long want = W * (per_writer + per_writer / 5);
  assert_int_equal(atomic_load(&flushed), want);
  struct mt_store_stats st;
  mt_store_stats(store, &st);
  assert_true(st.flushes >= 2);
  assert_int_equal(mt_store_close(store), MT_OK);
  /* everything went to the sink: only the live segment is left, empty */
  assert_int_equal(mt_store_open(&store, dir, &o), MT_OK);
  int a[W], ta[W];
  assert_int_equal(scan(MT_SEQ_MAX, a, ta), 0);
  assert_int_equal(mt_store_last_seq(store), (uint64_t)want);
  assert_int_equal(mt_store_close(store), MT_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(writers_and_readers_sync_none, setup, teardown),
      cmocka_unit_test_setup_teardown(writers_and_readers_sync_always, setup, teardown),
      cmocka_unit_test_setup_teardown(flush_while_writing, setup, teardown),
      cmocka_unit_test_setup_teardown(big_write_completing_a_group_is_written, setup, teardown),
      cmocka_unit_test_setup_teardown(more_writers_than_wait_slots, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
