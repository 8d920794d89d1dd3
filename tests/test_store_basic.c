/* test_store_basic.c -- the store's API: argument checks, put/get/delete
 * with snapshots, batches, the user-view iterator against a model
 * (next/prev/seek/seek_for_prev in random walks, also over a frozen
 * memtable kept by a failed flush), flush into a sink, the comparator
 * recorded in the WAL, sequence numbers across reopen, stats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

static char dir[64];

static int setup(void **state) {
  strcpy(dir, "/tmp/mt_store_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}
static int teardown(void **state) {
  rm_rf(dir);
  return 0;
}

static int count_files(const char *d, const char *prefix) {
  DIR *dd = opendir(d);
  struct dirent *e;
  int n = 0;
  while (dd && (e = readdir(dd)))
    if (!strncmp(e->d_name, prefix, strlen(prefix))) n++;
  if (dd) closedir(dd);
  return n;
}

/* ---- arguments ---------------------------------------------------------------- */

static void bad_arguments(void **state) {
  mt_store *s;
  mt_store_options o;
  assert_int_equal(mt_store_open(NULL, NULL, NULL), MT_EINVAL);
  mt_store_options_init(&o);
  o.memtable_bytes = 0;
  assert_int_equal(mt_store_open(&s, NULL, &o), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "memtable_bytes"));
  mt_store_options_init(&o);
  o.max_immutable = 0;
  assert_int_equal(mt_store_open(&s, NULL, &o), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "max_immutable"));
  mt_store_options_init(&o);
  o.sync = (mt_sync)7;
  assert_int_equal(mt_store_open(&s, NULL, &o), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "sync"));
  mt_store_options_init(&o);
  o.recovery = (mt_recovery)9;
  assert_int_equal(mt_store_open(&s, NULL, &o), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "recovery"));
  mt_store_options_init(&o);
  o.rep = "nosuchrep";
  assert_int_equal(mt_store_open(&s, NULL, &o), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "nosuchrep"));
  mt_store_options_init(&o);
  mt_flush_sink half = {NULL, NULL, NULL};
  o.sink = &half;
  assert_int_equal(mt_store_open(&s, NULL, &o), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "sink"));
  assert_int_equal(mt_store_open(&s, "", NULL), MT_EINVAL);
  assert_int_equal(mt_store_open(&s, "/proc/no/such/dir", NULL), MT_EIO);
  assert_non_null(strstr(mt_last_error(), "/proc/no/such/dir"));

  assert_int_equal(mt_store_open(&s, NULL, NULL), MT_OK);
  assert_int_equal(mt_store_put(NULL, S("a"), S("b")), MT_EINVAL);
  assert_int_equal(mt_store_put(s, (mt_slice){NULL, 3}, S("b")), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "key"));
  assert_int_equal(mt_store_put(s, S("a"), (mt_slice){NULL, 3}), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "value"));
  assert_int_equal(mt_store_delete(s, (mt_slice){NULL, 1}), MT_EINVAL);
  assert_int_equal(mt_store_write(s, NULL), MT_EINVAL);
  void *v;
  assert_int_equal(mt_store_get(s, S("a"), MT_SEQ_MAX, NULL, NULL), MT_EINVAL);
  assert_int_equal(mt_store_get(NULL, S("a"), MT_SEQ_MAX, &v, NULL), MT_EINVAL);
  assert_int_equal(mt_store_iter(NULL, s, 0), MT_EINVAL);
  mt_iter *it;
  assert_int_equal(mt_store_iter(&it, NULL, 0), MT_EINVAL);
  assert_int_equal(mt_store_flush(NULL), MT_EINVAL);
  assert_int_equal(mt_store_stats(s, NULL), MT_EINVAL);
  assert_int_equal(mt_batch_put(NULL, S("a"), S("b")), MT_EINVAL);
  assert_int_equal(mt_batch_new(NULL), MT_EINVAL);
  assert_int_equal(mt_store_last_seq(s), 0); /* nothing consumed a seq */
  assert_int_equal(mt_store_close(s), MT_OK);
  assert_int_equal(mt_store_close(NULL), MT_OK);
}

/* ---- point operations ------------------------------------------------------------ */

static void put_get_delete_snapshots(void **state) {
  mt_store *s;
  assert_int_equal(mt_store_open(&s, dir, NULL), MT_OK);
  assert_int_equal(mt_store_put(s, S("k"), S("v1")), MT_OK);
  uint64_t snap1 = mt_store_last_seq(s);
  assert_int_equal(mt_store_put(s, S("k"), S("v2")), MT_OK);
  uint64_t snap2 = mt_store_last_seq(s);
  assert_int_equal(mt_store_delete(s, S("k")), MT_OK);
  assert_int_equal(mt_store_put(s, S(""), S("empty key")), MT_OK);
  assert_int_equal(mt_store_put(s, S("e"), S("")), MT_OK);
  void *v;
  size_t n;
  assert_int_equal(mt_store_get(s, S("k"), MT_SEQ_MAX, &v, &n), MT_NOTFOUND);
  assert_null(v);
  assert_int_equal(mt_store_get(s, S("k"), snap1, &v, &n), MT_OK);
  assert_int_equal(n, 2);
  assert_memory_equal(v, "v1", 2);
  mt_free(v);
  assert_int_equal(mt_store_get(s, S("k"), snap2, &v, &n), MT_OK);
  assert_memory_equal(v, "v2", 2);
  mt_free(v);
  assert_int_equal(mt_store_get(s, S(""), MT_SEQ_MAX, &v, &n), MT_OK);
  assert_int_equal(n, 9);
  mt_free(v);
  assert_int_equal(mt_store_get(s, S("e"), MT_SEQ_MAX, &v, &n), MT_OK);
  assert_int_equal(n, 0);
  mt_free(v);
  assert_int_equal(mt_store_get(s, S("nokey"), MT_SEQ_MAX, &v, NULL), MT_NOTFOUND);
  assert_int_equal(mt_store_last_seq(s), 5);
  assert_int_equal(mt_store_close(s), MT_OK);

  /* reopen: the same state and seqs continue */
  assert_int_equal(mt_store_open(&s, dir, NULL), MT_OK);
  assert_int_equal(mt_store_last_seq(s), 5);
  assert_int_equal(mt_store_get(s, S("k"), snap2, &v, &n), MT_OK);
  assert_memory_equal(v, "v2", 2);
  mt_free(v);
  assert_int_equal(mt_store_get(s, S("k"), MT_SEQ_MAX, &v, &n), MT_NOTFOUND);
  assert_int_equal(mt_store_put(s, S("z"), S("after")), MT_OK);
  assert_int_equal(mt_store_last_seq(s), 6);
  struct mt_store_stats st;
  assert_int_equal(mt_store_stats(s, &st), MT_OK);
  assert_int_equal(st.recovered_records, 5);
  assert_int_equal(st.dropped_records, 0);
  assert_int_equal(st.writes, 1);
  assert_int_equal(st.memtables, 1);
  assert_true(st.wal_bytes > 0);
  assert_true(st.wal_segment >= 2);
  assert_true(st.bytes > 0);
  assert_int_equal(mt_store_close(s), MT_OK);
}

static void batches_all_or_nothing(void **state) {
  mt_store *s;
  assert_int_equal(mt_store_open(&s, dir, NULL), MT_OK);
  mt_batch *b;
  assert_int_equal(mt_batch_new(&b), MT_OK);
  assert_int_equal(mt_store_write(s, b), MT_OK); /* empty: nothing */
  assert_int_equal(mt_store_last_seq(s), 0);
  char k[16];
  for (int i = 0; i < 100; i++) {
    snprintf(k, sizeof k, "b%03d", i);
    assert_int_equal(mt_batch_put(b, S(k), S(k)), MT_OK);
  }
  assert_int_equal(mt_batch_delete(b, S("b050")), MT_OK);
  assert_int_equal(mt_batch_count(b), 101);
  assert_int_equal(mt_store_write(s, b), MT_OK);
  assert_int_equal(mt_store_last_seq(s), 101);
  mt_batch_clear(b);
  assert_int_equal(mt_batch_count(b), 0);
  /* a batch bigger than a block: fragmented, still one record */
  static char big[100000];
  memset(big, 'x', sizeof big);
  assert_int_equal(mt_batch_put(b, S("small"), S("s")), MT_OK);
  assert_int_equal(mt_batch_put(b, S("big"), (mt_slice){big, sizeof big}), MT_OK);
  assert_int_equal(mt_store_write(s, b), MT_OK);
  mt_batch_free(b);
  assert_int_equal(mt_store_close(s), MT_OK);

  assert_int_equal(mt_store_open(&s, dir, NULL), MT_OK);
  struct mt_store_stats st;
  mt_store_stats(s, &st);
  assert_int_equal(st.recovered_records, 2);
  void *v;
  size_t n;
  assert_int_equal(mt_store_get(s, S("b050"), MT_SEQ_MAX, &v, &n), MT_NOTFOUND);
  assert_int_equal(mt_store_get(s, S("b051"), MT_SEQ_MAX, &v, &n), MT_OK);
  mt_free(v);
  assert_int_equal(mt_store_get(s, S("big"), MT_SEQ_MAX, &v, &n), MT_OK);
  assert_int_equal(n, sizeof big);
  assert_memory_equal(v, big, n);
  mt_free(v);
  assert_int_equal(mt_store_get(s, S("b050"), 100, &v, &n), MT_OK); /* before the delete */
  mt_free(v);
  assert_int_equal(mt_store_close(s), MT_OK);
}

static int rev_compare(void *ctx, mt_slice a, mt_slice b) {
  size_t n = a.len < b.len ? a.len : b.len;
  int c = memcmp(b.data, a.data, n);
  return c ? c : (a.len > b.len) - (a.len < b.len);
}

static void comparator_is_recorded(void **state) {
  mt_comparator rev = {"reverse", rev_compare, NULL};
  mt_store_options o;
  mt_store_options_init(&o);
  o.cmp = &rev;
  mt_store *s;
  assert_int_equal(mt_store_open(&s, dir, &o), MT_OK);
  assert_int_equal(mt_store_put(s, S("a"), S("1")), MT_OK);
  assert_int_equal(mt_store_put(s, S("b"), S("2")), MT_OK);
  mt_iter *it;
  assert_int_equal(mt_store_iter(&it, s, MT_SEQ_MAX), MT_OK);
  mt_iter_seek_to_first(it);
  assert_memory_equal(mt_iter_key(it).data, "b", 1); /* reverse order */
  mt_iter_free(it);
  assert_int_equal(mt_store_close(s), MT_OK);
  assert_int_equal(mt_store_open(&s, dir, NULL), MT_EINVAL);
  assert_non_null(strstr(mt_last_error(), "reverse"));
  assert_non_null(strstr(mt_last_error(), "bytewise"));
  assert_int_equal(mt_store_open(&s, dir, &o), MT_OK);
  assert_int_equal(mt_store_close(s), MT_OK);
}

/* ---- the user view against a model ------------------------------------------------ */

enum { NKEYS = 40, MAXOPS = 600 };
typedef struct op {
  int key;
  uint64_t seq;
  bool put;
  int val;
} op;
static op ops[MAXOPS];
static int nops;

static void keyname(char *b, int k) { snprintf(b, 16, "k%03d", k * 2); } /* odd names fall between */

/* Visible value of key k at snap: -1 none. */
static int vis_get(int k, uint64_t snap) {
  int v = -1;
  uint64_t best = 0;
  for (int i = 0; i < nops; i++)
    if (ops[i].key == k && ops[i].seq <= snap && ops[i].seq >= best) {
      best = ops[i].seq;
      v = ops[i].put ? ops[i].val : -1;
    }
  return v;
}

static void expect_at(mt_iter *it, const int *vis, int pos) {
  if (pos < 0 || pos >= NKEYS || vis[pos] < 0) {
    assert_false(mt_iter_valid(it));
    return;
  }
  assert_true(mt_iter_valid(it));
  char k[16], v[16];
  keyname(k, pos);
  snprintf(v, sizeof v, "v%d", vis[pos]);
  assert_int_equal(mt_iter_key(it).len, strlen(k));
  assert_memory_equal(mt_iter_key(it).data, k, strlen(k));
  assert_int_equal(mt_iter_value(it).len, strlen(v));
  assert_memory_equal(mt_iter_value(it).data, v, strlen(v));
  assert_int_equal(mt_iter_kind(it), MT_PUT);
}

static int step(const int *vis, int pos, int d) {
  for (pos += d; pos >= 0 && pos < NKEYS; pos += d)
    if (vis[pos] >= 0) return pos;
  return -1;
}

static void walk_and_check(mt_store *s, uint64_t snap, unsigned *seed) {
  int vis[NKEYS];
  for (int k = 0; k < NKEYS; k++) vis[k] = vis_get(k, snap);
  mt_iter *it;
  assert_int_equal(mt_store_iter(&it, s, snap), MT_OK);
  /* full scans both ways */
  int pos = step(vis, -1, 1);
  for (mt_iter_seek_to_first(it); pos >= 0; mt_iter_next(it), pos = step(vis, pos, 1)) expect_at(it, vis, pos);
  assert_false(mt_iter_valid(it));
  pos = step(vis, NKEYS, -1);
  for (mt_iter_seek_to_last(it); pos >= 0; mt_iter_prev(it), pos = step(vis, pos, -1)) expect_at(it, vis, pos);
  assert_false(mt_iter_valid(it));
  /* random walks */
  for (int w = 0; w < 60; w++) {
    int target = rand_r(seed) % (2 * NKEYS + 2) - 1; /* half-keys, out of range too */
    char k[16];
    snprintf(k, sizeof k, "k%03d", target < 0 ? 0 : target);
    mt_slice key = target < 0 ? S("a") : S(k);
    int choice = rand_r(seed) % 4;
    if (choice == 0) {
      mt_iter_seek_to_first(it);
      pos = step(vis, -1, 1);
    } else if (choice == 1) {
      mt_iter_seek_to_last(it);
      pos = step(vis, NKEYS, -1);
    } else if (choice == 2) {
      mt_iter_seek(it, key);
      int first = target < 0 ? 0 : (target + 1) / 2; /* first key >= */
      pos = first < NKEYS && vis[first] >= 0 ? first : step(vis, first, 1);
    } else {
      mt_iter_seek_for_prev(it, key);
      int last = target < 0 ? -1 : target / 2; /* last key <= */
      if (last >= NKEYS) last = NKEYS - 1;
      pos = last >= 0 && vis[last] >= 0 ? last : (last < 0 ? -1 : step(vis, last, -1));
    }
    expect_at(it, vis, pos);
    for (int m = 0; m < 12 && pos >= 0; m++) {
      int d = rand_r(seed) % 2 ? 1 : -1;
      if (d > 0) mt_iter_next(it);
      else mt_iter_prev(it);
      pos = step(vis, pos, d);
      expect_at(it, vis, pos);
    }
  }
  mt_iter_free(it);
}

/* A sink that fails while sink_fail is set, and counts the entries of the
 * flushes it completed.  The store calls it from its flush thread, which
 * retries a failed flush on its own after 10 ms: a test keeps sink_fail set
 * for as long as it needs the frozen memtable to stay. */
static atomic_int sink_fail;
static _Atomic uint64_t sink_entries;
static uint64_t sink_pending; /* of the flush in progress; the flush thread's */
static int s_begin(void *ctx, uint64_t id, uint64_t count) {
  sink_pending = 0;
  return MT_OK;
}
static int s_add(void *ctx, mt_slice key, uint64_t seq, mt_kind kind, mt_slice value) {
  sink_pending++;
  return MT_OK;
}
static int s_finish(void *ctx, int status) {
  if (atomic_load(&sink_fail)) return MT_EIO;
  if (status == MT_OK) atomic_fetch_add(&sink_entries, sink_pending);
  return MT_OK;
}
static const mt_flush_sink sink = {s_begin, s_add, s_finish};

static void iterator_matches_model(void **state) {
  unsigned seed = 12345;
  for (int round = 0; round < 2; round++) {
    mt_store_options o;
    mt_store_options_init(&o);
    o.sink = &sink;
    mt_store *s;
    assert_int_equal(mt_store_open(&s, round ? dir : NULL, &o), MT_OK);
    nops = 0;
    bool failed_once = false;
    uint64_t seq = 0, snaps[16];
    int nsnaps = 0;
    mt_batch *b;
    mt_batch_new(&b);
    while (nops < MAXOPS - 10) {
      int r = rand_r(&seed) % 10;
      char k[16], v[16];
      if (r < 7) {
        op o1 = {rand_r(&seed) % NKEYS, ++seq, r < 5, (int)seq};
        keyname(k, o1.key);
        snprintf(v, sizeof v, "v%d", o1.val);
        assert_int_equal(o1.put ? mt_store_put(s, S(k), S(v)) : mt_store_delete(s, S(k)), MT_OK);
        ops[nops++] = o1;
      } else if (r < 9) {
        mt_batch_clear(b);
        for (int j = 0; j < 5; j++) {
          op o1 = {rand_r(&seed) % NKEYS, ++seq, j != 3, (int)seq};
          keyname(k, o1.key);
          snprintf(v, sizeof v, "v%d", o1.val);
          if (o1.put) mt_batch_put(b, S(k), S(v));
          else mt_batch_delete(b, S(k));
          ops[nops++] = o1;
        }
        assert_int_equal(mt_store_write(s, b), MT_OK);
      } else if (nsnaps < 16) {
        snaps[nsnaps++] = mt_store_last_seq(s);
      }
      assert_int_equal(mt_store_last_seq(s), seq);
      if (!failed_once && nops >= MAXOPS / 2) { /* a failed flush keeps a frozen memtable */
        failed_once = true;
        atomic_store(&sink_fail, 1); /* until the checks end: no retry may succeed */
        assert_int_equal(mt_store_flush(s), MT_EIO);
        struct mt_store_stats st;
        mt_store_stats(s, &st);
        assert_int_equal(st.frozen, 1);
      }
    }
    mt_batch_free(b);
    assert_true(failed_once);
    struct mt_store_stats st;
    mt_store_stats(s, &st);
    assert_int_equal(st.frozen, 1); /* so the walks below merge it with the active one */
    for (int i = 0; i < nsnaps; i++) walk_and_check(s, snaps[i], &seed);
    walk_and_check(s, MT_SEQ_MAX, &seed);
    walk_and_check(s, 0, &seed);
    /* point reads agree too */
    for (int k = 0; k < NKEYS; k++) {
      char kk[16];
      keyname(kk, k);
      void *v;
      size_t n;
      int want = vis_get(k, MT_SEQ_MAX);
      assert_int_equal(mt_store_get(s, S(kk), MT_SEQ_MAX, &v, &n), want < 0 ? MT_NOTFOUND : MT_OK);
      mt_free(v);
    }
    atomic_store(&sink_fail, 0);
    assert_int_equal(mt_store_close(s), MT_OK);
  }
}

/* ---- flush ------------------------------------------------------------------------- */

static void flush_into_sink(void **state) {
  mt_store *s;
  assert_int_equal(mt_store_open(&s, dir, NULL), MT_OK);
  assert_int_equal(mt_store_put(s, S("a"), S("1")), MT_OK);
  assert_int_equal(mt_store_flush(s), MT_OK); /* the default sink: a sorted run */
  assert_int_equal(count_files(dir, "run-"), 1);
  assert_int_equal(count_files(dir, "wal-"), 1);
  assert_int_equal(mt_store_close(s), MT_OK);
  rm_rf(dir);

  mt_store_options o;
  mt_store_options_init(&o);
  o.sink = &sink;
  atomic_store(&sink_entries, 0);
  assert_int_equal(mt_store_open(&s, dir, &o), MT_OK);
  for (int i = 0; i < 100; i++) {
    char k[16];
    snprintf(k, sizeof k, "f%03d", i);
    assert_int_equal(mt_store_put(s, S(k), S("v")), MT_OK);
  }
  int before = count_files(dir, "wal-");
  assert_true(before >= 1);
  /* a failing sink keeps everything: the memtable and its segments, through
   * the background retries too */
  atomic_store(&sink_fail, 1);
  assert_int_equal(mt_store_flush(s), MT_EIO);
  void *v;
  assert_int_equal(mt_store_get(s, S("f010"), MT_SEQ_MAX, &v, NULL), MT_OK);
  mt_free(v);
  assert_int_equal(mt_store_put(s, S("g"), S("new")), MT_OK);
  assert_int_equal(count_files(dir, "wal-"), before + 1);
  /* the retry flushes the frozen one, then the active one */
  atomic_store(&sink_fail, 0);
  assert_int_equal(mt_store_flush(s), MT_OK);
  assert_int_equal(count_files(dir, "wal-"), 1);
  assert_int_equal(atomic_load(&sink_entries), 100 + 1); /* each entry once, "g" too */
  struct mt_store_stats st;
  mt_store_stats(s, &st);
  assert_int_equal(st.flushes, 2);
  assert_int_equal(st.frozen, 0);
  assert_true(st.flush_errors >= 1); /* the failed try, and any background retry meanwhile */
  uint64_t last = mt_store_last_seq(s);
  assert_int_equal(mt_store_flush(s), MT_OK); /* nothing to do */
  assert_int_equal(mt_store_close(s), MT_OK);
  /* reopen: the flushed data is gone from the WAL, seqs keep increasing */
  assert_int_equal(mt_store_open(&s, dir, &o), MT_OK);
  assert_int_equal(mt_store_get(s, S("f010"), MT_SEQ_MAX, &v, NULL), MT_NOTFOUND);
  assert_int_equal(mt_store_last_seq(s), last);
  assert_int_equal(mt_store_put(s, S("h"), S("x")), MT_OK);
  assert_int_equal(mt_store_last_seq(s), last + 1);
  assert_int_equal(mt_store_close(s), MT_OK);
}

static void memory_only_flush_drops(void **state) {
  mt_store *s;
  assert_int_equal(mt_store_open(&s, NULL, NULL), MT_OK);
  assert_int_equal(mt_store_put(s, S("a"), S("1")), MT_OK);
  assert_int_equal(mt_store_flush(s), MT_OK);
  void *v;
  assert_int_equal(mt_store_get(s, S("a"), MT_SEQ_MAX, &v, NULL), MT_NOTFOUND);
  assert_int_equal(mt_store_put(s, S("b"), S("2")), MT_OK);
  assert_int_equal(mt_store_last_seq(s), 2);
  struct mt_store_stats st;
  mt_store_stats(s, &st);
  assert_int_equal(st.wal_segment, 0);
  assert_int_equal(st.wal_bytes, 0);
  assert_int_equal(mt_store_close(s), MT_OK);
}

static void out_of_memory_everywhere(void **state) {
  /* every allocation of open + a few writes + reads + close fails once */
  for (long at = 0;; at++) {
    rm_rf(dir); /* every try starts from the same empty directory */
    assert_non_null(mkdtemp(strcpy(dir, "/tmp/mt_store_XXXXXX")));
    fail_alloc_install(at);
    mt_store *s;
    int rc = mt_store_open(&s, dir, NULL);
    if (rc == MT_OK) {
      int w = mt_store_put(s, S("a"), S("1"));
      if (w == MT_OK) {
        void *v = NULL;
        int g = mt_store_get(s, S("a"), MT_SEQ_MAX, &v, NULL);
        assert_true(g == MT_OK || g == MT_ENOMEM);
        mt_free(v);
        mt_iter *it;
        if (mt_store_iter(&it, s, MT_SEQ_MAX) == MT_OK) mt_iter_free(it);
      } else {
        assert_true(w == MT_ENOMEM || w == MT_EIO);
      }
      mt_store_close(s);
    } else {
      assert_int_equal(rc, MT_ENOMEM);
    }
    int failed = fail_alloc_failed();
    fail_alloc_uninstall();
    assert_int_equal(fail_alloc_live(), 0);
    if (!failed) break;
    /* and the directory still opens */
    assert_int_equal(mt_store_open(&s, dir, NULL), MT_OK);
    assert_int_equal(mt_store_close(s), MT_OK);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bad_arguments),
      cmocka_unit_test_setup_teardown(put_get_delete_snapshots, setup, teardown),
      cmocka_unit_test_setup_teardown(batches_all_or_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(comparator_is_recorded, setup, teardown),
      cmocka_unit_test_setup_teardown(iterator_matches_model, setup, teardown),
      cmocka_unit_test_setup_teardown(flush_into_sink, setup, teardown),
      cmocka_unit_test(memory_only_flush_drops),
      cmocka_unit_test_setup_teardown(out_of_memory_everywhere, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
