/* test_store_recovery.c -- the four recovery modes against damaged WALs
 * (RELIABILITY.md cases 2, 3, 7, and 14's missing segment): truncation at
 * every byte of the last record, bit flips in a middle record, a torn
 * tail in a segment that is not the last, appending after a torn tail, and
 * the tail of a segment a MT_SYNC_NONE freeze did not sync (store.c
 * invariant 7) lost while newer segments survived.
 *
 * A master directory is written once per test; every damaged variant is a
 * fresh copy of it under /tmp, removed afterwards. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include "../core/wal.h"
#include "support.h"

static const mt_recovery modes[] = {MT_RECOVER_TOLERATE_TAIL, MT_RECOVER_ABSOLUTE,
                                    MT_RECOVER_POINT_IN_TIME, MT_RECOVER_SKIP_CORRUPT};

static void key_of(char *k, int i) { snprintf(k, 16, "key%05d", i); }
static size_t value_of(char *v, int i, size_t n) {
  for (size_t j = 0; j < n; j++) v[j] = (char)('a' + (i + j) % 26);
  return n;
}

static size_t vsize = 100;

static void fill_store(const char *d, int from, int to) {
  mt_store *s;
  assert_int_equal(mt_store_open(&s, d, NULL), MT_OK);
  char k[16], v[4096];
  for (int i = from; i < to; i++) {
    key_of(k, i);
    mt_slice val = {v, value_of(v, i, vsize)};
    assert_int_equal(mt_store_put(s, S(k), val), MT_OK);
  }
  assert_int_equal(mt_store_close(s), MT_OK);
}

/* The keys in the store form 0..m-1 with correct values, except `hole`
 * (-1: none).  Returns m (counting the hole). */
static int check_keys(mt_store *s, int hole) {
  mt_iter *it;
  assert_int_equal(mt_store_iter(&it, s, MT_SEQ_MAX), MT_OK);
  int i = 0;
  char k[16], v[4096];
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), i++) {
    if (i == hole) i++;
    key_of(k, i);
    mt_slice key = mt_iter_key(it), val = mt_iter_value(it);
    assert_int_equal(key.len, strlen(k));
    assert_memory_equal(key.data, k, key.len);
    size_t n = value_of(v, i, vsize);
    assert_int_equal(val.len, n);
    assert_memory_equal(val.data, v, n);
  }
  mt_iter_free(it);
  if (hole >= 0) {
    void *val;
    key_of(k, hole);
    assert_int_equal(mt_store_get(s, S(k), MT_SEQ_MAX, &val, NULL), MT_NOTFOUND);
  }
  return i;
}

static void seg(char *p, const char *d, uint64_t n) {
  char name[MT_WAL_NAME_MAX];
  mt_wal_name(name, sizeof name, n);
  snprintf(p, 512, "%s/%s", d, name);
}

/* Offsets of the logical records in a segment (header first). */
static int record_offsets(const char *p, uint64_t number, uint64_t *offs, int cap) {
  mt_wal_reader *r;
  assert_int_equal(mt_wal_reader_open(&r, p, number), MT_OK);
  mt_slice pl;
  uint64_t off;
  int n = 0;
  while (mt_wal_reader_next(r, &pl, &off) == MT_OK && n < cap) offs[n++] = off;
  mt_wal_reader_free(r);
  return n;
}

static long fsize(const char *p) {
  struct stat st;
  assert_int_equal(stat(p, &st), 0);
  return (long)st.st_size;
}

static int open_mode(mt_store **s, const char *d, mt_recovery m) {
  mt_store_options o;
  mt_store_options_init(&o);
  o.recovery = m;
  return mt_store_open(s, d, &o);
}

/* Opens a copy of master cut at `cut` (or with `flip` toggled) in mode m
 * and checks the outcome. */
typedef struct expect {
  int ok;          /* open succeeds */
  int keys;        /* then: prefix length (hole counted) */
  int hole;        /* then: the key that must be missing, -1 none */
  uint64_t off;    /* else: the offset mt_last_error must name */
  uint64_t dropped;
} expect;

static void try_variant(const char *master, long cut, long flip_at, int flip_bit, mt_recovery m,
                        const expect *e) {
  char d[] = "/tmp/mt_rec_XXXXXX", p[512];
  assert_non_null(mkdtemp(d));
  assert_true(copy_dir(master, d));
  seg(p, d, 1);
  if (cut >= 0) assert_int_equal(truncate(p, cut), 0);
  if (flip_at >= 0) {
    int fd = open(p, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, flip_at), 1);
    b ^= (uint8_t)(1 << flip_bit);
    assert_int_equal(pwrite(fd, &b, 1, flip_at), 1);
    close(fd);
  }
  mt_store *s;
  int rc = open_mode(&s, d, m);
  if (!e->ok) {
    if (rc != MT_ECORRUPT)
      fail_msg("mode %d cut %ld flip %ld.%d: open returned %d (%s)", (int)m, cut, flip_at, flip_bit, rc,
               mt_last_error());
    char want[64];
    snprintf(want, sizeof want, "offset %llu", (unsigned long long)e->off);
    if (!strstr(mt_last_error(), want) || !strstr(mt_last_error(), "wal-000000000001.log"))
      fail_msg("error '%s' does not name the file and %s", mt_last_error(), want);
  } else {
    if (rc != MT_OK)
      fail_msg("mode %d cut %ld flip %ld.%d: open failed: %s", (int)m, cut, flip_at, flip_bit, mt_last_error());
    assert_int_equal(check_keys(s, e->hole), e->keys);
    struct mt_store_stats st;
    assert_int_equal(mt_store_stats(s, &st), MT_OK);
    assert_int_equal(st.dropped_records, e->dropped);
    assert_int_equal(mt_store_close(s), MT_OK);
    /* the damage is gone for good: even an absolute open is clean now */
    assert_int_equal(open_mode(&s, d, MT_RECOVER_ABSOLUTE), MT_OK);
    assert_int_equal(check_keys(s, e->hole), e->keys);
    assert_int_equal(mt_store_close(s), MT_OK);
  }
  rm_rf(d);
}

/* ---- case 2 ------------------------------------------------------------------ */

static void truncate_last_record_every_byte(void **state) {
  char master[] = "/tmp/mt_master_XXXXXX", p[512];
  assert_non_null(mkdtemp(master));
  vsize = 100;
  fill_store(master, 0, 20);
  seg(p, master, 1);
  uint64_t offs[32];
  assert_int_equal(record_offsets(p, 1, offs, 32), 21); /* header + 20 */
  long last = (long)offs[20], size = fsize(p);
  for (long cut = last; cut < size; cut++) {
    for (int mi = 0; mi < 4; mi++) {
      expect e = {1, 19, -1, 0, cut > last};
      if (modes[mi] == MT_RECOVER_ABSOLUTE && cut > last) e = (expect){0, 0, -1, (uint64_t)last, 0};
      try_variant(master, cut, -1, 0, modes[mi], &e);
    }
  }
  rm_rf(master);
}

static void truncate_record_across_blocks(void **state) {
  char master[] = "/tmp/mt_master_XXXXXX", p[512];
  assert_non_null(mkdtemp(master));
  vsize = 1000;
  fill_store(master, 0, 32);
  seg(p, master, 1);
  uint64_t offs[40];
  assert_int_equal(record_offsets(p, 1, offs, 40), 33);
  long last = (long)offs[32], size = fsize(p);
  assert_true(last < MT_WAL_BLOCK && size > MT_WAL_BLOCK); /* it straddles */
  for (long cut = last + 1; cut < size; cut++) {
    long rel = cut - last, to_block = cut - MT_WAL_BLOCK;
    bool dense = rel <= MT_WAL_HEADER + 1 || (to_block >= -16 && to_block <= MT_WAL_HEADER + 2) || cut > size - 4;
    if (!dense && rel % 61) continue;
    expect tt = {1, 31, -1, 0, 1}, abs = {0, 0, -1, (uint64_t)last, 0};
    try_variant(master, cut, -1, 0, MT_RECOVER_TOLERATE_TAIL, &tt);
    try_variant(master, cut, -1, 0, MT_RECOVER_ABSOLUTE, &abs);
  }
  vsize = 100;
  rm_rf(master);
}

/* ---- case 3 ------------------------------------------------------------------ */

static void flip_bits_in_middle_record(void **state) {
  char master[] = "/tmp/mt_master_XXXXXX", p[512];
  assert_non_null(mkdtemp(master));
  vsize = 100;
  fill_store(master, 0, 20);
  seg(p, master, 1);
  uint64_t offs[32];
  record_offsets(p, 1, offs, 32);
  const int victim = 10; /* key 10 is record 11 (after the header) */
  long start = (long)offs[victim + 1], end = (long)offs[victim + 2];
  for (long at = start; at < end; at += (at < start + MT_WAL_HEADER ? 1 : 13)) {
    int bit = (int)(at % 8);
    for (int mi = 0; mi < 4; mi++) {
      expect e;
      switch (modes[mi]) {
        case MT_RECOVER_TOLERATE_TAIL:
        case MT_RECOVER_ABSOLUTE: e = (expect){0, 0, -1, (uint64_t)start, 0}; break;
        case MT_RECOVER_POINT_IN_TIME: e = (expect){1, victim, -1, 0, 1}; break;
        default: e = (expect){1, 20, victim, 0, 1}; break;
      }
      try_variant(master, -1, at, bit, modes[mi], &e);
    }
  }
  rm_rf(master);
}

/* A torn tail in a segment that is not the last one is not "the tail". */
static void torn_tail_of_older_segment(void **state) {
  char d[] = "/tmp/mt_rec_XXXXXX", p[512];
  assert_non_null(mkdtemp(d));
  vsize = 100;
  fill_store(d, 0, 10);  /* segment 1 */
  fill_store(d, 10, 20); /* segment 2 (open made it) */
  seg(p, d, 1);
  assert_int_equal(truncate(p, fsize(p) - 5), 0);
  mt_store *s;
  assert_int_equal(open_mode(&s, d, MT_RECOVER_TOLERATE_TAIL), MT_ECORRUPT);
  assert_non_null(strstr(mt_last_error(), "wal-000000000001.log"));
  assert_int_equal(open_mode(&s, d, MT_RECOVER_ABSOLUTE), MT_ECORRUPT);
  /* point in time stops there: keys 0..8, nothing of segment 2 */
  assert_int_equal(open_mode(&s, d, MT_RECOVER_POINT_IN_TIME), MT_OK);
  assert_int_equal(check_keys(s, -1), 9);
  assert_int_equal(mt_store_close(s), MT_OK);
  rm_rf(d);
}

static void missing_middle_segment(void **state) {
  char d[] = "/tmp/mt_rec_XXXXXX", p[512];
  assert_non_null(mkdtemp(d));
  fill_store(d, 0, 10);
  fill_store(d, 10, 20);
  fill_store(d, 20, 30);
  seg(p, d, 2);
  assert_int_equal(unlink(p), 0);
  mt_store *s;
  assert_int_equal(open_mode(&s, d, MT_RECOVER_ABSOLUTE), MT_ECORRUPT);
  assert_non_null(strstr(mt_last_error(), "wal-000000000002.log is missing"));
  assert_int_equal(open_mode(&s, d, MT_RECOVER_POINT_IN_TIME), MT_OK);
  assert_int_equal(check_keys(s, -1), 10);
  assert_int_equal(mt_store_close(s), MT_OK);
  rm_rf(d);
}

/* ---- segments of MT_SYNC_NONE freezes (store.c invariant 7) ------------------ */

/* Flushes fail (no run file can be created), so every frozen memtable keeps
 * its segment; the sink error is retried in the background. */
static int no_runs(void *ctx, mt_file_op op, const char *path, size_t *len) {
  (void)ctx;
  (void)len;
  return op == MT_FOP_OPEN && strstr(path, "/run-") ? EIO : 0;
}

enum { LAZY_KEYS = 3000 };

/* A child writes keys 0..LAZY_KEYS-1 under MT_SYNC_NONE through 16 KiB
 * memtables, then dies without closing (a crash after the last put: all
 * in the page cache, nothing synced since the segments were made). */
static void lazy_master(const char *d) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    static const mt_file_fault hook = {no_runs, NULL, NULL};
    mt_file_set_fault(&hook);
    mt_store_options o;
    mt_store_options_init(&o);
    o.memtable_bytes = 16 << 10;
    o.max_immutable = 1000;
    mt_store *s;
    if (mt_store_open(&s, d, &o)) _exit(2);
    char k[16], v[128];
    for (int i = 0; i < LAZY_KEYS; i++) {
      key_of(k, i);
      if (mt_store_put(s, S(k), (mt_slice){v, value_of(v, i, 100)})) _exit(3);
    }
    _exit(0);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Keys whose records lie in segments 1..n (the first key of segment n+1). */
static int keys_before(const char *d, uint64_t n) {
  char p[512];
  int keys = 0;
  for (uint64_t i = 1; i <= n; i++) {
    seg(p, d, i);
    uint64_t offs[4096];
    keys += record_offsets(p, i, offs, 4096) - 1; /* one put each, after the header */
  }
  return keys;
}

/* What a power loss can do to a segment that was never synced while a
 * newer one was: lose its tail, whole records or a torn one.  The store
 * recovers the prefix up to there (tolerate-tail), never shows the newer
 * segments' keys, and keeps it that way after more writes and reopens;
 * absolute consistency refuses.  And the newest segment's header may never
 * have reached the disk (store.c invariant 8): a segment of zeros holds
 * nothing. */
static void power_loss_in_unsynced_older_segment(void **state) {
  (void)state;
  char master[] = "/tmp/mt_master_XXXXXX", d[] = "/tmp/mt_rec_XXXXXX", p[512];
  assert_non_null(mkdtemp(master));
  vsize = 100;
  lazy_master(master);
  seg(p, master, 5);
  assert_true(access(p, F_OK) == 0); /* at least 5 segments: freezes happened */
  int upto3 = keys_before(master, 3), upto4 = keys_before(master, 4);
  assert_true(upto3 > 0 && upto4 > upto3 + 2);
  uint64_t offs[4096];
  seg(p, master, 4);
  int nrec = record_offsets(p, 4, offs, 4096);
  for (int variant = 0; variant < 5; variant++) {
    assert_non_null(mkdtemp(d));
    assert_true(copy_dir(master, d));
    seg(p, d, 4);
    /* 0: cut at a record boundary (two whole records gone, a clean end);
     * 1: a torn last record; 2: segment 4 ends after its header;
     * 3: segment 4 is missing (its name never reached the disk);
     * 4: segment 4 is blank (its pages never did) */
    long cut = variant == 0 ? (long)offs[nrec - 2] : variant == 1 ? (long)offs[nrec - 1] + 5 : (long)offs[1];
    if (variant <= 2) assert_int_equal(truncate(p, cut), 0);
    if (variant == 3) assert_int_equal(unlink(p), 0);
    if (variant == 4) {
      long size = fsize(p);
      assert_int_equal(truncate(p, 0), 0);
      assert_int_equal(truncate(p, size), 0);
    }
    int want = variant == 0 ? upto4 - 2 : variant == 1 ? upto4 - 1 : upto3;
    mt_store *s;
    assert_int_equal(open_mode(&s, d, MT_RECOVER_ABSOLUTE), MT_ECORRUPT);
    assert_non_null(strstr(mt_last_error(), variant == 1 ? "wal-000000000004.log" : "wal-000000000005.log"));
    if (open_mode(&s, d, MT_RECOVER_TOLERATE_TAIL) != MT_OK)
      fail_msg("variant %d: tolerate-tail open failed: %s", variant, mt_last_error());
    assert_int_equal(check_keys(s, -1), want);
    struct mt_store_stats st;
    assert_int_equal(mt_store_stats(s, &st), MT_OK);
    assert_true(st.dropped_records >= 1);
    char k[16], v[128];
    key_of(k, want); /* the next key: writes go on after the prefix */
    assert_int_equal(mt_store_put(s, S(k), (mt_slice){v, value_of(v, want, 100)}), MT_OK);
    assert_int_equal(mt_store_close(s), MT_OK);
    assert_int_equal(open_mode(&s, d, MT_RECOVER_ABSOLUTE), MT_OK); /* the damage is gone for good */
    assert_int_equal(check_keys(s, -1), want + 1);
    assert_int_equal(mt_store_close(s), MT_OK);
    rm_rf(d);
    strcpy(d, "/tmp/mt_rec_XXXXXX");
  }
  /* the newest segment's header never reached the disk: all zeros (the
   * name is durable, its pages are not) -- it holds nothing and goes */
  uint64_t newest = 5;
  seg(p, master, newest + 1);
  while (access(p, F_OK) == 0) seg(p, master, ++newest + 1);
  assert_non_null(mkdtemp(d));
  assert_true(copy_dir(master, d));
  seg(p, d, newest);
  long size = fsize(p);
  assert_int_equal(truncate(p, 0), 0);
  assert_int_equal(truncate(p, size), 0); /* zeros, as long as it was */
  seg(p, d, newest - 1); /* and the one before lost its last record's end */
  int nlast = record_offsets(p, newest - 1, offs, 4096);
  assert_int_equal(truncate(p, (long)offs[nlast - 1] + 5), 0);
  {
    mt_store *s;
    if (open_mode(&s, d, MT_RECOVER_TOLERATE_TAIL) != MT_OK) fail_msg("blank newest segment: %s", mt_last_error());
    assert_int_equal(check_keys(s, -1), keys_before(master, newest - 1) - 1);
    assert_int_equal(mt_store_close(s), MT_OK);
  }
  rm_rf(d);
  strcpy(d, "/tmp/mt_rec_XXXXXX");

  /* untouched, the crashed store has every key, in every mode */
  assert_non_null(mkdtemp(d));
  assert_true(copy_dir(master, d));
  mt_store *s;
  assert_int_equal(open_mode(&s, d, MT_RECOVER_ABSOLUTE), MT_OK);
  assert_int_equal(check_keys(s, -1), LAZY_KEYS);
  assert_int_equal(mt_store_close(s), MT_OK);
  rm_rf(d);
  rm_rf(master);
}

/* Recycling (store.c invariant 9): under MT_SYNC_NONE the segments a
 * freeze makes are written over the files of obsolete ones.  A child
 * writes until the segment it writes into is such a file (its inode was
 * an older segment's), then crashes: that segment holds an older
 * segment's bytes after its data, and even an absolute-consistency open
 * recovers every key. */
/* True when the newest segment's file is one that was seen as the
 * recycled log (its inode is in seen[]); adds the recycled log's inode. */
static bool newest_reused(const char *d, uint64_t *seen, int *nseen) {
  DIR *dd = opendir(d);
  struct dirent *e;
  uint64_t newest = 0, n, ino = 0;
  struct stat st;
  char p[512];
  while (dd && (e = readdir(dd))) {
    snprintf(p, sizeof p, "%s/%s", d, e->d_name);
    if (!strncmp(e->d_name, "recycled-wal-", 13) && !stat(p, &st)) {
      bool known = false;
      for (int i = 0; i < *nseen; i++) known |= seen[i] == (uint64_t)st.st_ino;
      if (!known && *nseen < 64) seen[(*nseen)++] = st.st_ino;
    }
    if (mt_wal_parse_name(e->d_name, &n) && n > newest && !stat(p, &st)) newest = n, ino = st.st_ino;
  }
  if (dd) closedir(dd);
  for (int i = 0; i < *nseen; i++)
    if (newest && seen[i] == ino) return true;
  return false;
}

static void recycled_segments_recover_cleanly(void **state) {
  (void)state;
  char d[] = "/tmp/mt_rec_XXXXXX";
  assert_non_null(mkdtemp(d));
  vsize = 100;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    mt_store_options o;
    mt_store_options_init(&o);
    o.memtable_bytes = 16 << 10;
    mt_store *s;
    mt_batch *b;
    if (mt_store_open(&s, d, &o) || mt_batch_new(&b)) _exit(2);
    char k[16], v[128];
    uint64_t seen[64];
    int i = 0, nseen = 0;
    /* batches of 1..8 puts, at random: records of several sizes, so a new
     * segment's records do not line up with the old ones' */
    uint64_t x = 42;
    int stop = 99999; /* then a few batches into the first reused segment */
    while (i < stop) {
      if (stop == 99999 && newest_reused(d, seen, &nseen) && i > 1000) stop = i + 1 + i % 7 * 5;
      mt_batch_clear(b);
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      for (int j = 0, n = 1 + (int)(x >> 61); j < n && i < stop; j++, i++) {
        key_of(k, i);
        if (mt_batch_put(b, S(k), (mt_slice){v, value_of(v, i, 100)})) _exit(3);
      }
      if (mt_store_write(s, b)) _exit(3);
    }
    if (write(fds[1], &i, sizeof i) != sizeof i) _exit(4);
    _exit(0); /* the crash */
  }
  close(fds[1]);
  int keys = 0, st;
  assert_int_equal(read(fds[0], &keys, sizeof keys), sizeof keys);
  close(fds[0]);
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  if (keys >= 99990) fail_msg("no segment was written over an older one's file");
  for (int round = 0; round < 2; round++) {
    mt_store *s;
    if (open_mode(&s, d, MT_RECOVER_ABSOLUTE) != MT_OK) fail_msg("round %d: %s", round, mt_last_error());
    assert_int_equal(check_keys(s, -1), keys);
    assert_int_equal(mt_store_close(s), MT_OK);
  }
  rm_rf(d);
}

/* Skip-corrupt keeps both sides of a hole, however far apart the numbers. */
static void skip_over_missing_segments(void **state) {
  char d[] = "/tmp/mt_rec_XXXXXX", p[512], q[512];
  assert_non_null(mkdtemp(d));
  fill_store(d, 0, 10); /* segment 1; then a far one with keys 20..29 */
  uint64_t far = 999999999999ULL;
  seg(q, d, far);
  mt_wal_header h = {MT_WAL_VERSION, far, 20, 0, {"bytewise", 8}};
  mt_wal_writer *w;
  assert_int_equal(mt_wal_writer_open(&w, q, &h, true), MT_OK);
  static uint8_t rec[8192];
  uint8_t *e = rec + MT_WAL_BATCH_FIXED;
  rec[0] = MT_WAL_TAG_BATCH;
  uint64_t seq = 21;
  uint32_t count = 10;
  memcpy(rec + 1, &seq, 8);
  memcpy(rec + 9, &count, 4);
  char k[16], v[128];
  for (int i = 20; i < 30; i++) {
    key_of(k, i);
    e = mt_wal_entry_encode(e, MT_PUT, S(k), (mt_slice){v, value_of(v, i, vsize)});
  }
  assert_int_equal(mt_wal_writer_add(w, rec, (size_t)(e - rec)), MT_OK);
  assert_int_equal(mt_wal_writer_flush(w), MT_OK);
  assert_int_equal(mt_wal_writer_close(w), MT_OK);
  (void)p;
  mt_store *s;
  assert_int_equal(open_mode(&s, d, MT_RECOVER_SKIP_CORRUPT), MT_OK);
  struct mt_store_stats st;
  mt_store_stats(s, &st);
  assert_int_equal(st.dropped_records, 1);
  mt_iter *it;
  assert_int_equal(mt_store_iter(&it, s, MT_SEQ_MAX), MT_OK);
  int n = 0, i = 0;
  for (mt_iter_seek_to_first(it); mt_iter_valid(it); mt_iter_next(it), n++, i++) {
    if (i == 10) i = 20; /* segments 2 .. far-1 are missing */
    key_of(k, i);
    assert_memory_equal(mt_iter_key(it).data, k, strlen(k));
  }
  mt_iter_free(it);
  assert_int_equal(n, 20);
  assert_int_equal(mt_store_last_seq(s), 30);
  assert_int_equal(mt_store_close(s), MT_OK);
  assert_int_equal(open_mode(&s, d, MT_RECOVER_ABSOLUTE), MT_OK); /* rewritten whole */
  assert_int_equal(mt_store_close(s), MT_OK);
  rm_rf(d);
}

/* ---- case 7 ------------------------------------------------------------------ */

static void append_after_torn_tail(void **state) {
  char d[] = "/tmp/mt_rec_XXXXXX", p[512];
  assert_non_null(mkdtemp(d));
  vsize = 100;
  fill_store(d, 0, 20);
  seg(p, d, 1);
  assert_int_equal(truncate(p, fsize(p) - 40), 0);
  pid_t pid = fork();
  if (pid == 0) { /* reopen, append, crash without closing */
    mt_store *s;
    if (open_mode(&s, d, MT_RECOVER_TOLERATE_TAIL)) _exit(1);
    char k[16], v[128];
    for (int i = 19; i < 29; i++) {
      key_of(k, i);
      mt_slice val = {v, value_of(v, i, vsize)};
      if (mt_store_put(s, S(k), val)) _exit(2);
    }
    _exit(0);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  mt_store *s;
  assert_int_equal(open_mode(&s, d, MT_RECOVER_ABSOLUTE), MT_OK);
  assert_int_equal(check_keys(s, -1), 29);
  struct mt_store_stats st;
  mt_store_stats(s, &st);
  assert_int_equal(st.dropped_records, 0);
  assert_int_equal(mt_store_last_seq(s), 29); /* seqs continued after 19 */
  assert_int_equal(mt_store_close(s), MT_OK);
  rm_rf(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(truncate_last_record_every_byte),
      cmocka_unit_test(truncate_record_across_blocks),
      cmocka_unit_test(flip_bits_in_middle_record),
      cmocka_unit_test(torn_tail_of_older_segment),
      cmocka_unit_test(missing_middle_segment),
      cmocka_unit_test(power_loss_in_unsynced_older_segment),
      cmocka_unit_test(recycled_segments_recover_cleanly),
      cmocka_unit_test(skip_over_missing_segments),
      cmocka_unit_test(append_after_torn_tail),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
