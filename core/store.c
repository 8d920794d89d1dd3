/* store.c -- mt_store: open (recovery over runs and the WAL), the write
 * path with group commit, freezing the active memtable, close and stats.
 * store_flush.c has the background flush, sync and merge threads and
 * mt_store_flush,
 * store_iter.c the reads; docs/store.md and docs/lifecycle.md tell the
 * user's side; wal_format.h and run_format.h the bytes.
 *
 * Write path (group commit).  Every write enqueues a waiter under `mu`.
 * The waiter at the head is the leader: it takes the queue's next waiters
 * (up to GROUP_BYTES besides its own, never past a barrier; a writer that
 * took a group over takes it at least up to itself), gives them consecutive
 * sequence numbers in queue order, drops `mu`, frames their records into
 * the WAL with one append (and one fdatasync under MT_SYNC_ALWAYS),
 * applies them to the active memtable in order, publishes the group's last
 * seq, then retakes `mu`, marks them done and wakes them and the next
 * head (once it releases `mu`: see wait_cv).
 * Under MT_SYNC_ALWAYS a leader whose last group had n > 1 writers waits
 * (at most 1.5 times the recent fdatasync time, capped at GATHER_MAX_NS)
 * until n writers are queued: writers that were just acknowledged come
 * back within microseconds, and one fdatasync then covers all of them
 * instead of each paying for its own (PostgreSQL's commit_delay, made
 * adaptive: a lone writer never waits).  The writer whose arrival
 * completes the group leads it at once (a hand-over: the gathering head
 * is marked `led` and waits to be done like a follower), so no sleeping
 * leader has to be woken first: a wake-up costs 15-40 us on the VM we
 * measure on, a tenth of an fdatasync.  The wait is long enough that the
 * gathering head sleeps through the group's fdatasync rather than waking
 * in the middle of it.  Before it sleeps, the head yields its CPU for a
 * twelfth of its wait (at most YIELD_MAX_NS): the writer it waits for was
 * just woken, most often onto this very CPU, where a yield runs it at
 * once, while a sleep on a timer puts the timer's arming and cancelling
 * (microseconds on a VM) between two fdatasyncs.  RocksDB's write thread
 * yields the same way before it blocks.
 *
 * Freeze.  A leader, before framing its group, freezes the active
 * memtable once its memory usage reached memtable_bytes (and it holds an
 * entry): it first waits on room_cv while max_immutable frozen memtables
 * are unflushed (a stall, counted), then syncs the old segment, starts a
 * new one, and moves the old memtable to the frozen list (newest last in
 * the array; readers walk it backwards) with the segment number below
 * which its data lives.  mt_store_flush does the same as a barrier.
 *
 * Thread safety:
 *  - mu guards the queue, next_seq and the failed state.  The WAL writer,
 *    `active` (for writing) and the segment bookkeeping belong to whoever
 *    is at the head of the queue: a leader, or a barrier (mt_store_flush),
 *    which holds the head for an exclusive section.
 *  - view_mu guards `active`, the frozen list and the run list for
 *    readers, who take refs under it, plus the background threads' counters and
 *    conditions (store_int.h).  `active` is replaced only by the head of
 *    the queue; the lists change under it in single steps (store_flush.c).
 *  - flush_mu serialises mt_store_flush and close.
 *  - Any number of readers run beside writers: the memtable makes that
 *    safe.
 *
 * Invariants:
 *  1. Sequence numbers are assigned in WAL order: a group's records are
 *     framed in the order their seqs were given.
 *  2. visible_seq is the last seq whose whole batch is in the memtable;
 *     reads clamp their snapshot to it, so a batch being applied is never
 *     partly visible.  It is stored with release after the batch's adds and
 *     loaded with acquire by readers, so a reader that sees the number sees
 *     the entries.
 *  3. A write is acknowledged only after its group's append (and
 *     fdatasync under MT_SYNC_ALWAYS) succeeded and its entries are in the
 *     memtable.  A failed write, sync, close or apply sets `failed`: every
 *     later write is MT_EIO; nothing of the failed group is published.
 *     Only running out of memory before the group's first byte reached the
 *     WAL fails the group alone (its seqs stay unused).
 *  4. Live segments are numbered first_segment .. wal's number without
 *     gaps; segments below a frozen memtable's seg_limit hold data of it
 *     and older memtables only.  A segment is deleted only after every
 *     memtable with data in it is durably flushed (store_flush.c).
 *  5. A segment becomes live only whole: it is written under a .tmp name
 *     (header, and for a rewrite all its entries), synced, renamed and the
 *     directory synced; leftover .tmp files are removed at open.  After
 *     recovery tolerated any damage, the recovered memtable is rewritten
 *     into such a segment flagged SUPERSEDES before the damaged segments
 *     are removed, so a later open never meets that damage again.
 *  6. Every seq <= covered_seq is held by the runs (or was taken by a user
 *     sink, per FLUSHED): memtables flush oldest first.  Recovery replays
 *     only records above it and never sets next_seq at or below it.
 *  7. A segment flagged PREV_UNSYNCED (made by a freeze under MT_SYNC_NONE)
 *     starts right after the previous segment's last record: its header's
 *     base_seq is that record's seq.  A torn tail of the previous segment
 *     is tolerated as a tail; if its records (and the runs) then stop
 *     short of base_seq -- a power loss kept this segment's pages but not
 *     all of the previous one's -- the log ends there: recovery keeps the
 *     prefix before it, drops the later segments (as a torn tail:
 *     tolerated except in absolute mode) and rewrites the result
 *     (invariant 5), so it is never met again.
 *  8. Under MT_SYNC_NONE a freeze makes the new segment under its .tmp
 *     name, writes its header and renames it, with no sync of the file or
 *     the directory; the sync thread closes the old segment.  After a
 *     power loss any such segment may be missing, or blank (its header
 *     never reached the disk): recovery drops blank segments, and a gap in
 *     the numbers before a PREV_UNSYNCED segment is judged by its base_seq
 *     as in invariant 7 rather than failing the open.
 *  9. Recycling (MT_SYNC_NONE): the sync thread keeps retired segments'
 *     logs open (parked, up to MT_STORE_PARK_MAX); once a segment is
 *     obsolete its file is renamed to recycled-wal-<number>.tmp instead of
 *     unlinked (an open removes it; up to MT_STORE_RECYCLE_MAX wait), and the next freeze
 *     writes the new segment over it from offset 0 through the same
 *     mapping, so its pages are written without first-touch faults.  The
 *     old bytes past the new data are records of another segment number:
 *     the reader never takes them for this segment's (wal_format.h).
 */
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
  GROUP_BYTES = 1 << 20, /* a leader commits at most this much besides its own (a taker's: up to itself) */
  GATHER_MAX_NS = 2000000, /* longest wait of a sync leader for its group */
  YIELD_MAX_NS = 50000,    /* longest part of that wait spent yielding the CPU */
  PATH_CAP = MT_STORE_PATH_CAP,
  REWRITE_CHUNK = 1 << 16, /* bytes per ENTRIES record when rewriting */
};

static int maybe_freeze(mt_store *s, unsigned writers);

/* ---- helpers ------------------------------------------------------------------- */

static int check_slice(const char *fn, const char *what, mt_slice s) {
  if (!s.data && s.len) return mt_set_error(MT_EINVAL, "%s: %s.data is NULL with len %zu", fn, what, s.len);
  if (s.len > UINT32_MAX)
    return mt_set_error(MT_EINVAL, "%s: %s is %zu bytes; the limit is %u", fn, what, s.len, UINT32_MAX);
  return MT_OK;
}

/* The log of an obsolete segment kept for the next one (invariant 9). */
#define RECYCLED_PREFIX "recycled-wal-"

static void seg_path(const mt_store *s, char *buf, uint64_t number, const char *suffix) {
  char name[MT_WAL_NAME_MAX];
  mt_wal_name(name, sizeof name, number);
  snprintf(buf, PATH_CAP, "%s/%s%s", s->dir, name, suffix);
}

static uint64_t load_visible(mt_store *s) {
  return atomic_load_explicit(&s->visible_seq, memory_order_acquire);
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Keeps the message of rc while cleanup code runs. */
typedef struct saved_error {
  char msg[512];
} saved_error;
static void save_error(saved_error *e) { snprintf(e->msg, sizeof e->msg, "%s", mt_last_error()); }
static int restore_error(const saved_error *e, int rc) { return mt_set_error(rc, "%s", e->msg); }

/* ---- segments ----------------------------------------------------------------- */

/* Makes the segment being written at its .tmp name live: sync it, rename
 * it to its final name, sync the directory.  On failure w is closed and
 * the file removed (it holds nothing acknowledged). */
static int publish_segment(mt_store *s, mt_wal_writer *w, uint64_t number) {
  char path[PATH_CAP];
  seg_path(s, path, number, "");
  int rc = mt_wal_writer_sync(w);
  if (!rc) rc = mt_wal_writer_rename(w, path);
  if (!rc) rc = mt_dir_sync(s->dir);
  if (rc) {
    saved_error e;
    save_error(&e);
    snprintf(path, sizeof path, "%s", mt_wal_writer_path(w));
    mt_wal_writer_close(w);
    mt_path_remove(path);
    return restore_error(&e, rc);
  }
  return MT_OK;
}

/* Creates segment `number` with its header record under its .tmp name, so
 * a crash never leaves a live segment with a torn header; publish makes it
 * live right away (a rewrite publishes after writing its entries). */
static int new_segment(mt_store *s, uint64_t number, uint8_t flags, bool publish, mt_wal_writer **out) {
  char path[PATH_CAP];
  seg_path(s, path, number, ".tmp");
  mt_wal_header h = {MT_WAL_VERSION, number, load_visible(s), flags,
                     {s->cmp_name, strlen(s->cmp_name)}};
  int rc = mt_wal_writer_open(out, path, &h, s->sync == MT_SYNC_NONE);
  if (rc || !publish) return rc;
  rc = publish_segment(s, *out, number);
  if (rc) *out = NULL;
  return rc;
}

/* Removes segments [from, to) oldest first (invariant 4).  No directory
 * sync: the runs hold all their data, so a removal a crash undoes only
 * brings back segments that recovery skips and removes (invariant 6), and
 * a recycled file that comes back under its old name holds records of
 * another segment number, which read as a blank segment (invariant 8). */
static int remove_segments(mt_store *s, uint64_t from, uint64_t to) {
  char path[PATH_CAP];
  for (uint64_t n = from; n < to; n++) {
    seg_path(s, path, n, "");
    int rc = mt_path_remove(path);
    if (rc) return rc;
  }
  return MT_OK;
}

/* ---- recovery ----------------------------------------------------------------- */

typedef struct numlist {
  uint64_t *n;
  size_t len, cap;
} numlist;

typedef struct seglist {
  numlist wal, runs;
  mt_store *s;
} seglist;

static int push_num(numlist *l, uint64_t n) {
  if (l->len == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    uint64_t *p = mt_realloc(l->n, cap * sizeof *p);
    if (!p) return MT_ENOMEM;
    l->n = p;
    l->cap = cap;
  }
  l->n[l->len++] = n;
  return MT_OK;
}

static bool ends_with(const char *name, const char *prefix, const char *suffix) {
  size_t len = strlen(name), pl = strlen(prefix), sl = strlen(suffix);
  return len > pl + sl && !strncmp(name, prefix, pl) && !strcmp(name + len - sl, suffix);
}

static int collect(void *ctx, const char *name) {
  seglist *l = ctx;
  uint64_t n;
  if (ends_with(name, "wal-", ".log.tmp") || ends_with(name, "run-", ".sst.tmp") ||
      !strcmp(name, "FLUSHED.tmp") || ends_with(name, RECYCLED_PREFIX, ".tmp") ||
      !strcmp(name, "recycled-wal.tmp") /* the name before 2026-12 */) {
    char path[PATH_CAP]; /* an unfinished rewrite, run or record, a log to reuse: never live */
    snprintf(path, sizeof path, "%s/%s", l->s->dir, name);
    return mt_path_remove(path);
  }
  if (mt_run_parse_name(name, &n)) return push_num(&l->runs, n);
  if (!mt_wal_parse_name(name, &n)) return MT_OK;
  return push_num(&l->wal, n);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

typedef struct replay {
  mt_store *s;
  uint64_t last_seq;
  uint64_t records, dropped;
  bool damaged; /* some damage was tolerated */
  bool stop;    /* point in time: nothing more is replayed */
  bool needed;  /* this segment held a record the runs do not */
  bool read;    /* a segment was replayed before this one */
} replay;

static const char *mode_name(mt_recovery m) {
  static const char *names[] = {"tolerate-tail", "absolute", "point-in-time", "skip-corrupt"};
  return names[m];
}

/* Damage found at the current point: MT_OK to go on (tolerated; *end_seg
 * says whether the rest of this segment is skipped), else fails open. */
static int on_damage(replay *rp, bool last_segment, bool tail, bool *end_seg) {
  mt_recovery m = rp->s->recovery;
  bool ok = m == MT_RECOVER_POINT_IN_TIME || m == MT_RECOVER_SKIP_CORRUPT ||
            (m == MT_RECOVER_TOLERATE_TAIL && tail && last_segment);
  if (!ok) {
    saved_error e;
    save_error(&e);
    return mt_set_error(MT_ECORRUPT, "%s (recovery mode %s)", e.msg, mode_name(m));
  }
  rp->dropped++;
  rp->damaged = true;
  if (m == MT_RECOVER_POINT_IN_TIME) rp->stop = true;
  *end_seg = tail || rp->stop;
  return MT_OK;
}

static int apply_entry(void *ctx, const mt_wal_entry *e) {
  int rc = mt_memtable_add(ctx, e->seq, e->kind, e->key, e->value);
  return rc == MT_EEXIST ? MT_OK : rc; /* already there: the same version */
}

/* Replay: a record the runs (or a user sink) already hold is skipped. */
static int replay_entry(void *ctx, const mt_wal_entry *e) {
  mt_store *s = ctx;
  return e->seq <= s->covered_seq ? MT_OK : apply_entry(s->active, e);
}

/* Reads the first record of a segment: MT_OK (with *good set when it is
 * the segment's header, then in *h), MT_NOTFOUND when the segment holds no
 * record and no damage (empty or all zeros), else the reader's status. */
static int first_record(mt_store *s, uint64_t number, mt_wal_header *h, bool *good) {
  char path[PATH_CAP];
  seg_path(s, path, number, "");
  mt_wal_reader *r;
  *good = false;
  int rc = mt_wal_reader_open(&r, path, number);
  if (rc) return rc;
  mt_slice p;
  uint64_t off;
  rc = mt_wal_reader_next(r, &p, &off);
  *good = !rc && mt_wal_decode_header(p, h) == MT_OK && h->number == number;
  mt_wal_reader_free(r);
  return rc;
}

/* The first record of a segment, when it is a good header. */
static bool read_header(mt_store *s, uint64_t number, mt_wal_header *h) {
  bool good;
  first_record(s, number, h, &good);
  return good;
}

/* The log ended inside the previous segment (invariant 7): tail damage,
 * after which nothing more is replayed -- except by skip-corrupt, which
 * keeps what follows a hole. */
static int end_of_log(replay *rp, bool *end_seg) {
  int rc = on_damage(rp, true, true, end_seg);
  bool skip = rp->s->recovery == MT_RECOVER_SKIP_CORRUPT;
  rp->stop = !skip;
  *end_seg = !skip;
  return rc;
}

/* Replays one segment.  `last`: no segment follows it; `lazy_next`: the
 * next one is flagged PREV_UNSYNCED, so a torn tail here may be a power
 * loss's (invariant 7). */
static int replay_segment(replay *rp, uint64_t number, bool last, bool lazy_next) {
  mt_store *s = rp->s;
  char path[PATH_CAP];
  seg_path(s, path, number, "");
  mt_wal_reader *r;
  int rc = mt_wal_reader_open(&r, path, number);
  if (rc) return rc == MT_NOTFOUND ? mt_set_error(MT_EIO, "%s vanished during recovery", path) : rc;
  bool first = true, end_seg = false;
  while (!end_seg) {
    mt_slice p;
    uint64_t off;
    rc = mt_wal_reader_next(r, &p, &off);
    if (rc == MT_NOTFOUND) {
      rc = MT_OK;
      break;
    }
    if (rc == MT_ECORRUPT) {
      first = false;
      /* before a PREV_UNSYNCED segment a torn tail ends this segment; the
       * next one's base_seq then says whether anything is missing */
      rc = on_damage(rp, last || lazy_next, mt_wal_reader_damage(r)->tail, &end_seg);
      if (rc) break;
      continue;
    }
    if (rc) break;
    mt_wal_header h;
    if (first) {
      first = false;
      if (mt_wal_decode_header(p, &h) == MT_OK && h.number == number) {
        if (h.version != MT_WAL_VERSION) {
          rc = mt_set_error(MT_EINVAL, "%s: format version %u; this library reads version %d", path,
                            h.version, MT_WAL_VERSION);
          break;
        }
        if (h.cmp_name.len != strlen(s->cmp_name) || memcmp(h.cmp_name.data, s->cmp_name, h.cmp_name.len)) {
          rc = mt_set_error(MT_EINVAL, "%s was written with comparator '%.*s'; this store uses '%s'", path,
                            (int)h.cmp_name.len, (const char *)h.cmp_name.data, s->cmp_name);
          break;
        }
        if ((h.flags & MT_WAL_FLAG_PREV_UNSYNCED) && rp->read && h.base_seq > rp->last_seq) {
          mt_set_error(MT_ECORRUPT,
                       "%s starts after seq %" PRIu64 " but the segment before it ends at seq %" PRIu64
                       " (its tail was lost before it was synced): the log ends there",
                       path, h.base_seq, rp->last_seq);
          rc = end_of_log(rp, &end_seg);
          if (rc) break;
          continue;
        }
        if (h.base_seq > rp->last_seq) rp->last_seq = h.base_seq;
        continue;
      }
      mt_set_error(MT_ECORRUPT, "%s: offset %" PRIu64 ": the first record is not this segment's header",
                   path, off);
      rc = on_damage(rp, last, false, &end_seg);
      if (rc) break;
      continue;
    }
    uint32_t count;
    uint64_t last_seq;
    rc = mt_wal_decode_entries(p, replay_entry, s, &count, &last_seq);
    if (rc == MT_ECORRUPT) {
      mt_set_error(MT_ECORRUPT, "%s: offset %" PRIu64 ": %s", path, off,
                   mt_wal_damage_text(MT_WAL_DMG_PAYLOAD));
      rc = on_damage(rp, last, false, &end_seg);
      if (rc) break;
      continue;
    }
    if (rc) break;
    if (last_seq > s->covered_seq) rp->records++, rp->needed = true; /* else the runs held all of it */
    if (last_seq > rp->last_seq) rp->last_seq = last_seq;
  }
  mt_wal_reader_free(r);
  return rc;
}

/* fdatasync of a segment another process wrote: its page-cache bytes
 * become durable before a newer segment exists. */
static int sync_segment(mt_store *s, uint64_t number) {
  char path[PATH_CAP];
  seg_path(s, path, number, "");
  mt_file *f;
  int rc = mt_file_open_read(&f, path);
  if (rc) return rc == MT_NOTFOUND ? MT_OK : rc;
  rc = mt_file_sync(f);
  int crc = mt_file_close(f);
  return rc ? rc : crc;
}

/* Writes the recovered memtable into a fresh SUPERSEDES segment (invariant
 * 5) and makes it the live one. */
static int rewrite(mt_store *s, uint64_t number) {
  mt_wal_writer *w;
  int rc = new_segment(s, number, MT_WAL_FLAG_SUPERSEDES, false, &w);
  if (rc) return rc;
  mt_iter *it = NULL;
  uint8_t *chunk = mt_malloc(REWRITE_CHUNK);
  rc = chunk ? mt_iter_new(&it, s->active) : MT_ENOMEM;
  size_t len = 0;
  uint32_t count = 0;
  for (mt_iter_seek_to_first(it); !rc; mt_iter_next(it)) {
    bool valid = mt_iter_valid(it);
    mt_slice k = mt_iter_key(it), v = mt_iter_value(it);
    mt_kind kind = mt_iter_kind(it);
    size_t need = valid ? 8 + mt_wal_entry_size(kind, k, v) : 0;
    if (count && (!valid || len + need > REWRITE_CHUNK)) {
      uint8_t pre[5] = {MT_WAL_TAG_ENTRIES};
      memcpy(pre + 1, &count, 4);
      mt_slice parts[2] = {{pre, 5}, {chunk, len}};
      rc = mt_wal_writer_addv(w, parts, 2);
      if (!rc) rc = mt_wal_writer_flush(w);
      len = count = 0;
    }
    if (rc || !valid) break;
    if (need > REWRITE_CHUNK - len) { /* one big entry: a chunk of its own */
      uint8_t *p = mt_realloc(chunk, need);
      if (!p) {
        rc = MT_ENOMEM;
        break;
      }
      chunk = p;
    }
    uint64_t seq = mt_iter_seq(it);
    memcpy(chunk + len, &seq, 8);
    len = (size_t)(mt_wal_entry_encode(chunk + len + 8, kind, k, v) - chunk);
    count++;
  }
  mt_iter_free(it);
  mt_free(chunk);
  if (!rc) {
    rc = publish_segment(s, w, number);
  } else {
    saved_error e;
    save_error(&e);
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s", mt_wal_writer_path(w));
    mt_wal_writer_close(w);
    mt_path_remove(path);
    restore_error(&e, rc);
  }
  if (rc) return rc;
  s->wal = w;
  atomic_store_explicit(&s->segment, number, memory_order_relaxed);
  return MT_OK;
}

/* Removes the listed segments n[0..count) oldest first, then syncs the
 * directory. */
static int remove_listed(mt_store *s, const uint64_t *n, size_t count) {
  char path[PATH_CAP];
  for (size_t i = 0; i < count; i++) {
    seg_path(s, path, n[i], "");
    int rc = mt_path_remove(path);
    if (rc) return rc;
  }
  return count ? mt_dir_sync(s->dir) : MT_OK;
}

static int cmp_run_seq(const void *a, const void *b) {
  uint64_t x = mt_run_props_of(*(mt_run *const *)a)->max_seq, y = mt_run_props_of(*(mt_run *const *)b)->max_seq;
  return x < y ? -1 : x > y;
}

/* Opens and verifies every run (oldest first); a merged run's inputs left
 * behind by a crash are removed.  covered_seq becomes the highest seq the
 * runs (or a user sink, per the FLUSHED record) hold: flushes go oldest
 * memtable first, so the runs hold every seq up to it (invariant 6). */
static int open_runs(mt_store *s, numlist *runs) {
  if (runs->len) qsort(runs->n, runs->len, sizeof *runs->n, cmp_u64);
  char path[PATH_CAP];
  int rc = MT_OK;
  bool removed = false;
  s->runs = mt_calloc(runs->len ? runs->len : 1, sizeof *s->runs);
  if (!s->runs) return MT_ENOMEM;
  s->runs_cap = runs->len ? runs->len : 1;
  for (size_t i = 0; i < runs->len && !rc; i++) {
    mt_store_run_path_(s, path, runs->n[i], "");
    mt_run *r;
    rc = mt_run_open(&r, path, s->cmp.compare ? &s->cmp : NULL);
    if (rc == MT_NOTFOUND) rc = mt_set_error(MT_EIO, "%s vanished during recovery", path);
    if (rc) break;
    const mt_run_props *p = mt_run_props_of(r);
    if (p->cmp_name.len != strlen(s->cmp_name) || memcmp(p->cmp_name.data, s->cmp_name, p->cmp_name.len)) {
      rc = mt_set_error(MT_EINVAL, "%s was written with comparator '%.*s'; this store uses '%s'", path,
                        (int)p->cmp_name.len, (const char *)p->cmp_name.data, s->cmp_name);
      mt_run_unref(r);
      break;
    }
    if (p->number != runs->n[i]) {
      rc = mt_set_error(MT_ECORRUPT, "%s records run number %" PRIu64, path, p->number);
      mt_run_unref(r);
      break;
    }
    if (p->last_input) { /* a merge: its inputs are obsolete */
      size_t keep = 0;
      for (size_t j = 0; j < s->nruns; j++) {
        const mt_run_props *q = mt_run_props_of(s->runs[j]);
        uint64_t n = q->number;
        if (n >= p->first_input && n <= p->last_input && q->min_seq >= p->min_seq && q->max_seq <= p->max_seq) {
          mt_store_run_path_(s, path, n, "");
          mt_run_unref(s->runs[j]);
          if (!rc) rc = mt_path_remove(path);
          removed = true;
        } else {
          s->runs[keep++] = s->runs[j];
        }
      }
      s->nruns = keep;
    }
    s->runs[s->nruns++] = r;
    if (p->max_seq > s->covered_seq) s->covered_seq = p->max_seq;
    if (runs->n[i] >= s->next_run) s->next_run = runs->n[i] + 1;
  }
  /* oldest first by seqs: a flush numbered below a merge that ran beside
   * it holds newer seqs (the ranges of live runs are disjoint) */
  if (s->nruns > 1) qsort(s->runs, s->nruns, sizeof *s->runs, cmp_run_seq);
  s->ndurable = s->nruns;
  if (!rc && removed) rc = mt_dir_sync(s->dir);
  uint64_t flushed = 0;
  if (!rc) rc = mt_store_read_flushed_(s, &flushed);
  if (flushed > s->covered_seq) s->covered_seq = flushed;
  return rc;
}

/* True when the segment is empty or all zeros: not one record, not even
 * damage, in it. */
static bool segment_blank(mt_store *s, uint64_t number) {
  mt_wal_header h;
  bool good;
  return first_record(s, number, &h, &good) == MT_NOTFOUND;
}

static int recover(mt_store *s) {
  int rc = mt_dir_create(s->dir);
  if (rc) return rc;
  seglist sl = {{NULL, 0, 0}, {NULL, 0, 0}, s};
  numlist l = {NULL, 0, 0};
  rc = mt_dir_list(s->dir, collect, &sl);
  l = sl.wal;
  if (!rc) rc = open_runs(s, &sl.runs);
  if (rc) goto out;
  if (l.len) qsort(l.n, l.len, sizeof *l.n, cmp_u64);

  /* A segment with nothing but zeros in it (its header never reached the
   * disk: invariant 8) holds nothing; it goes. */
  size_t kept = 0;
  for (size_t i = 0; i < l.len; i++) {
    if (!segment_blank(s, l.n[i])) {
      l.n[kept++] = l.n[i];
      continue;
    }
    char path[PATH_CAP];
    seg_path(s, path, l.n[i], "");
    rc = mt_path_remove(path);
    if (rc) goto out;
  }
  l.len = kept;

  /* The newest segment flagged SUPERSEDES makes every older one obsolete. */
  size_t base = 0;
  for (size_t i = l.len; i-- > 0;) {
    mt_wal_header h;
    if (read_header(s, l.n[i], &h) && (h.flags & MT_WAL_FLAG_SUPERSEDES)) {
      base = i;
      break;
    }
  }
  replay rp = {s, s->covered_seq, 0, 0, false, false, false, false};
  size_t done = base; /* segments base..done-1 hold only what the runs hold */
  for (size_t i = base; i < l.len && !rp.stop; i++) {
    mt_wal_header h;
    bool lazy = read_header(s, l.n[i], &h) && (h.flags & MT_WAL_FLAG_PREV_UNSYNCED);
    if (i > base && l.n[i] != l.n[i - 1] + 1 && !lazy) { /* lazy: its base_seq judges the gap */
      char path[PATH_CAP];
      seg_path(s, path, l.n[i - 1] + 1, "");
      mt_set_error(MT_ECORRUPT, "%s is missing (segments %" PRIu64 " and %" PRIu64 " exist)", path,
                   l.n[i - 1], l.n[i]);
      bool end_seg;
      rc = on_damage(&rp, false, false, &end_seg);
      if (rc || rp.stop) break;
    }
    rp.needed = false;
    mt_wal_header next_h;
    bool lazy_next = i + 1 < l.len && read_header(s, l.n[i + 1], &next_h) &&
                     (next_h.flags & MT_WAL_FLAG_PREV_UNSYNCED);
    rc = replay_segment(&rp, l.n[i], i + 1 == l.len, lazy_next);
    rp.read = true;
    if (rc) goto out;
    if (done == i && !rp.needed && !rp.damaged) done = i + 1;
  }
  if (rc) goto out;
  s->recovered = rp.records;
  s->dropped = rp.dropped;
  s->next_seq = rp.last_seq + 1;
  atomic_store(&s->visible_seq, rp.last_seq);

  uint64_t next = l.len ? l.n[l.len - 1] + 1 : 1;
  if (rp.damaged) {
    rc = rewrite(s, next);
    if (!rc) rc = remove_listed(s, l.n, l.len);
    s->first_segment = next;
  } else {
    if (l.len) rc = sync_segment(s, l.n[l.len - 1]); /* see switch_memtable */
    if (!rc) rc = new_segment(s, next, 0, true, &s->wal);
    if (!rc) atomic_store_explicit(&s->segment, next, memory_order_relaxed);
    if (!rc && !mt_memtable_count(s->active)) {
      /* the runs hold everything: the old segments are done with (a crash
       * between a flush and its segments' removal leaves them) */
      rc = remove_listed(s, l.n, l.len);
      s->first_segment = next;
    } else {
      /* superseded leftovers of an interrupted cleanup, and segments the
       * runs hold whole (a crash between a flush and their removal) */
      if (!rc) rc = remove_listed(s, l.n, done);
      s->first_segment = done < l.len ? l.n[done] : next;
    }
  }
out:
  mt_free(sl.wal.n);
  mt_free(sl.runs.n);
  return rc;
}

/* ---- open / close ------------------------------------------------------------- */

void mt_store_options_init(mt_store_options *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->rep = "skiplist";
  o->memtable_bytes = (size_t)64 << 20;
  o->max_immutable = 2;
  o->sync = MT_SYNC_NONE;
  o->recovery = MT_RECOVER_TOLERATE_TAIL;
  o->max_runs = 8;
}

static int check_options(const char *dir, const mt_store_options *o) {
  static const char fn[] = "mt_store_open";
  if (dir && (!*dir || strlen(dir) > PATH_CAP - 64))
    return mt_set_error(MT_EINVAL, "%s: dir must be a non-empty path shorter than %d bytes", fn, PATH_CAP - 64);
  if (!o->memtable_bytes)
    return mt_set_error(MT_EINVAL, "%s: memtable_bytes is 0 (start from mt_store_options_init)", fn);
  if (o->memtable_bytes < 4096)
    return mt_set_error(MT_EINVAL, "%s: memtable_bytes is %zu; the least is 4096", fn, o->memtable_bytes);
  if (!o->max_immutable)
    return mt_set_error(MT_EINVAL, "%s: max_immutable is 0; at least 1 frozen memtable must fit", fn);
  if (o->max_immutable > 1024)
    return mt_set_error(MT_EINVAL, "%s: max_immutable is %u; the most is 1024", fn, o->max_immutable);
  if (o->max_runs < 2 || o->max_runs > 1024)
    return mt_set_error(MT_EINVAL, "%s: max_runs is %u; it must be 2..1024 (start from mt_store_options_init)", fn,
                        o->max_runs);
  if ((unsigned)o->sync > MT_SYNC_ALWAYS)
    return mt_set_error(MT_EINVAL, "%s: sync %d is neither MT_SYNC_NONE nor MT_SYNC_ALWAYS", fn, (int)o->sync);
  if ((unsigned)o->recovery > MT_RECOVER_SKIP_CORRUPT)
    return mt_set_error(MT_EINVAL, "%s: recovery %d is not an mt_recovery mode", fn, (int)o->recovery);
  if (o->sink && (!o->sink->begin || !o->sink->add || !o->sink->finish))
    return mt_set_error(MT_EINVAL, "%s: the sink needs begin, add and finish", fn);
  if (o->cmp && o->cmp->compare && o->cmp->name && strlen(o->cmp->name) > UINT16_MAX)
    return mt_set_error(MT_EINVAL, "%s: the comparator's name is longer than %u bytes", fn, UINT16_MAX);
  return MT_OK;
}

/* A memtable of the store's rep, told the budget it is frozen at, on the
 * arena of a flushed one when the pool kept one. */
static int new_memtable(mt_store *s, mt_memtable **out) {
  return mt_memtable_new_pooled(out, s->rep, s->cmp.compare ? &s->cmp : NULL, s->arenas, s->memtable_bytes);
}

static void store_free(mt_store *s) {
  mt_memtable_unref(s->active);
  for (size_t i = 0; i < s->nimm; i++) mt_memtable_unref(s->imm[i].m);
  mt_free(s->imm);
  mt_arena_pool_unref(s->arenas); /* a memtable still referenced keeps the pool */
  for (size_t i = 0; i < s->nruns; i++) mt_run_unref(s->runs[i]);
  mt_free(s->runs);
  pthread_cond_destroy(&s->work_cv);
  pthread_cond_destroy(&s->room_cv);
  pthread_cond_destroy(&s->merge_cv);
  pthread_cond_destroy(&s->sync_cv);
  for (int i = 0; i < MT_STORE_WAIT_SLOTS; i++) pthread_cond_destroy(&s->wait_cv[i]);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->view_mu);
  pthread_mutex_destroy(&s->flush_mu);
  pthread_condattr_destroy(&s->cv_attr);
  mt_free(s->dir);
  mt_free(s->rep);
  mt_free(s);
}

int mt_store_open(mt_store **out, const char *dir, const mt_store_options *o) {
  if (!out) return mt_set_error(MT_EINVAL, "mt_store_open: out is NULL");
  *out = NULL;
  mt_store_options defaults;
  mt_store_options_init(&defaults);
  if (!o) o = &defaults;
  int rc = check_options(dir, o);
  if (rc) return rc;
  mt_store *s = mt_calloc(1, sizeof *s);
  if (!s) return MT_ENOMEM;
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->view_mu, NULL);
  pthread_mutex_init(&s->flush_mu, NULL);
  pthread_condattr_init(&s->cv_attr);
  pthread_condattr_setclock(&s->cv_attr, CLOCK_MONOTONIC);
  pthread_cond_init(&s->work_cv, &s->cv_attr);
  pthread_cond_init(&s->room_cv, NULL);
  pthread_cond_init(&s->merge_cv, NULL);
  pthread_cond_init(&s->sync_cv, &s->cv_attr);
  for (int i = 0; i < MT_STORE_WAIT_SLOTS; i++) pthread_cond_init(&s->wait_cv[i], &s->cv_attr);
  s->rep = mt_strdup(o->rep ? o->rep : "skiplist");
  s->dir = dir ? mt_strdup(dir) : NULL;
  if (!s->rep || (dir && !s->dir)) {
    store_free(s);
    return MT_ENOMEM;
  }
  if (o->cmp && o->cmp->compare) {
    s->cmp = *o->cmp;
    s->cmp_name = s->cmp.name ? s->cmp.name : "";
  } else {
    s->cmp_name = "bytewise";
  }
  s->sync = o->sync;
  s->recovery = o->recovery;
  s->sink = o->sink;
  s->sink_ctx = o->sink_ctx;
  s->memtable_bytes = o->memtable_bytes;
  s->max_immutable = o->max_immutable;
  s->max_runs = o->max_runs;
  s->next_seq = 1;
  s->next_run = 1;
  /* a frozen memtable passes its budget by a commit step (budget / 8) and
   * the last group's entries: arenas bigger than this are not kept */
  size_t keep = o->memtable_bytes + o->memtable_bytes / 4;
  s->arenas = mt_arena_pool_new(keep < o->memtable_bytes ? SIZE_MAX : keep);
  rc = s->arenas ? new_memtable(s, &s->active) : MT_ENOMEM;
  if (!rc && s->dir) rc = recover(s);
  if (!rc) rc = mt_store_start_flusher_(s);
  if (rc) {
    saved_error e;
    save_error(&e);
    mt_wal_writer_close(s->wal);
    store_free(s);
    return restore_error(&e, rc);
  }
  *out = s;
  return MT_OK;
}

int mt_store_close(mt_store *s) {
  if (!s) return MT_OK;
  pthread_mutex_lock(&s->flush_mu);
  mt_store_stop_flusher_(s); /* flushes what it can, then exits */
  int rc = MT_OK;
  if (s->retired) { /* the sync thread did not get to it */
    rc = mt_wal_writer_close(s->retired);
    s->retired = NULL;
  }
  for (size_t i = 0; i < s->nparked; i++) {
    int prc = mt_file_close(s->parked[i]); /* its segment is live: cut to its data */
    if (!rc) rc = prc;
  }
  s->nparked = 0;
  for (size_t i = 0; i < s->nrecycled; i++) {
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s", mt_file_path(s->recycled[i]));
    mt_file_close(s->recycled[i]);
    mt_path_remove(path);
  }
  s->nrecycled = 0;
  if (s->wal) {
    int src = s->failed ? MT_OK : mt_wal_writer_sync(s->wal);
    if (!rc) rc = src;
    saved_error e;
    save_error(&e);
    int crc = mt_wal_writer_close(s->wal);
    if (rc) restore_error(&e, rc);
    else rc = crc;
  }
  pthread_mutex_unlock(&s->flush_mu);
  store_free(s);
  return rc;
}

/* ---- the write queue ------------------------------------------------------------ */

/* Writers wait on the store's condition variables, wait_cv[slot], a slot
 * given round robin at enqueue; waiters that share one tell themselves
 * apart by their own flags, so a wake-up is a broadcast.  Wake-ups are
 * noted in to_wake and sent once `mu` is released (unlock_mu; the next
 * group's head first): a writer woken while the waker holds `mu` most
 * often runs at once on the waker's CPU, only to block on `mu` and hand
 * the CPU back (two more context switches between fdatasyncs).  The store
 * owns the condition variables, so a broadcast never reaches one freed
 * with a waiter that has already gone.  The write queue releases `mu`
 * only through unlock_mu and wait_cv, and both send what is noted, so
 * to_wake is empty whenever `mu` is free.  REQUIRES: mu (but unlock_mu
 * releases it). */
_Static_assert(MT_STORE_WAIT_SLOTS <= 32, "to_wake holds a bit per slot");
static void send_wakes(mt_store *s, uint32_t slots, unsigned first) {
  if (first < MT_STORE_WAIT_SLOTS) {
    pthread_cond_broadcast(&s->wait_cv[first]);
    slots &= ~(1u << first);
  }
  for (; slots; slots &= slots - 1) pthread_cond_broadcast(&s->wait_cv[__builtin_ctz(slots)]);
}
static int wait_cv(mt_store *s, waiter *w, const struct timespec *deadline) {
  if (s->to_wake) { /* never left pending while mu is free (sent under it here) */
    send_wakes(s, s->to_wake, MT_STORE_WAIT_SLOTS);
    s->to_wake = 0;
  }
  pthread_cond_t *cv = &s->wait_cv[w->slot];
  return deadline ? pthread_cond_timedwait(cv, &s->mu, deadline) : pthread_cond_wait(cv, &s->mu);
}
static void wake(mt_store *s, const waiter *w) { s->to_wake |= 1u << w->slot; }
static void unlock_mu(mt_store *s) {
  uint32_t slots = s->to_wake;
  unsigned first = s->head && (slots >> s->head->slot & 1) ? s->head->slot : MT_STORE_WAIT_SLOTS;
  s->to_wake = 0;
  pthread_mutex_unlock(&s->mu);
  send_wakes(s, slots, first);
}

static void pop_head(mt_store *s, waiter *last) { /* REQUIRES: mu */
  s->head = last->next;
  if (!s->head) s->tail = NULL;
  else wake(s, s->head);
}

static int failed_error(mt_store *s) { /* REQUIRES: mu */
  return mt_set_error(MT_EIO, "the store failed earlier and refuses writes: %s", s->fail_msg);
}

static unsigned queued_from(const waiter *w) { /* REQUIRES: mu */
  unsigned n = 0;
  for (; w && !w->barrier; w = w->next) n++;
  return n;
}

/* Enqueues w.  Returns w once it is the head; the gathering head whose
 * group w completes, which w then leads (a hand-over: see the top of the
 * file); or NULL once a leader finished w. */
static waiter *enqueue(mt_store *s, waiter *w) { /* REQUIRES: mu */
  w->next = NULL;
  w->done = false;
  w->led = false;
  w->slot = s->next_slot++ % MT_STORE_WAIT_SLOTS;
  if (s->tail) s->tail->next = w;
  else s->head = w;
  s->tail = w;
  if (s->gathering && !w->barrier && !s->failed && queued_from(s->head) >= s->last_group) {
    waiter *head = s->gathering;
    head->led = true;
    s->gathering = NULL;
    return head;
  }
  while (!w->done && s->head != w) wait_cv(s, w, NULL);
  return w->done ? NULL : w;
}

static void set_failed(mt_store *s, int rc) { /* REQUIRES: mu */
  if (s->failed) return;
  s->failed = rc;
  snprintf(s->fail_msg, sizeof s->fail_msg, "%s", mt_last_error());
}

static int apply_group(mt_store *s, waiter *w, waiter *last) {
  for (waiter *x = w;; x = x->next) {
    int rc = mt_wal_decode_body(x->body, x->seq, x->count, apply_entry, s->active);
    if (rc) return rc;
    if (x == last) return MT_OK;
  }
}

/* *fatal false: the group failed before anything reached the WAL. */
static int log_group(mt_store *s, waiter *w, waiter *last, bool *fatal) {
  uint64_t before = mt_wal_writer_offset(s->wal);
  size_t bytes = 0, records = 0;
  for (waiter *x = w;; x = x->next) {
    bytes += MT_WAL_BATCH_FIXED + x->body.len;
    records++;
    if (x == last) break;
  }
  int rc = mt_wal_writer_reserve(s->wal, bytes, records);
  if (rc == MT_ENOMEM) {
    *fatal = false;
    return rc;
  }
  for (waiter *x = w;; x = x->next) {
    uint8_t pre[MT_WAL_BATCH_FIXED] = {MT_WAL_TAG_BATCH};
    memcpy(pre + 1, &x->seq, 8);
    memcpy(pre + 9, &x->count, 4);
    mt_slice parts[2] = {{pre, sizeof pre}, x->body};
    rc = mt_wal_writer_addv(s->wal, parts, 2);
    if (rc) return rc;
    if (x == last) break;
  }
  rc = mt_wal_writer_flush(s->wal);
  if (rc) return rc;
  atomic_fetch_add_explicit(&s->wal_bytes, mt_wal_writer_offset(s->wal) - before, memory_order_relaxed);
  if (s->sync == MT_SYNC_ALWAYS) {
    uint64_t t0 = mono_ns();
    rc = mt_wal_writer_sync(s->wal);
    uint64_t took = mono_ns() - t0;
    atomic_fetch_add_explicit(&s->wal_syncs, 1, memory_order_relaxed);
    pthread_mutex_lock(&s->mu);
    s->sync_ns = s->sync_ns ? (s->sync_ns * 7 + took) / 8 : took;
    unlock_mu(s);
  }
  return rc;
}

/* The leader w waits, bounded, for as many writers as its last group had
 * (see the top of the file): first yielding its CPU (for a twelfth of the
 * wait, at most YIELD_MAX_NS), then asleep.  True when the writer that
 * completed the group took it over: w is then done, led by it. */
static bool gather(mt_store *s, waiter *w) { /* REQUIRES: mu */
  if (s->sync != MT_SYNC_ALWAYS || !s->wal || s->last_group < 2 || queued_from(w) >= s->last_group) return false;
  uint64_t wait = s->sync_ns * 3 / 2 < GATHER_MAX_NS ? s->sync_ns * 3 / 2 : GATHER_MAX_NS;
  uint64_t start = mono_ns(), deadline = start + wait;
  uint64_t yield_end = start + (wait / 12 < YIELD_MAX_NS ? wait / 12 : YIELD_MAX_NS);
  struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
  s->gathering = w;
  while (!w->led && mono_ns() < yield_end) {
    unlock_mu(s);
    sched_yield();
    pthread_mutex_lock(&s->mu);
  }
  while (!w->led && wait_cv(s, w, &ts) != ETIMEDOUT) {
  }
  if (!w->led) {
    s->gathering = NULL;
    return false;
  }
  while (!w->done) wait_cv(s, w, NULL);
  return true;
}

static int lead(mt_store *s, waiter *head, waiter *self);

static int commit(mt_store *s, waiter *w) {
  pthread_mutex_lock(&s->mu);
  int rc = MT_OK;
  waiter *head = NULL; /* of the group w leads */
  if (s->failed) rc = failed_error(s);
  else head = enqueue(s, w);
  if (head == w && !s->failed && gather(s, w)) head = NULL;
  if (head == w && s->failed) { /* the head: fail if the store failed meanwhile (queued or gathering) */
    rc = failed_error(s);
    pop_head(s, w);
    head = NULL;
  }
  if (!head) { /* failed, or done by a leader */
    if (!rc) {
      rc = w->status;
      if (rc == MT_EIO) failed_error(s);
      else if (rc) mt_set_error(rc, "the leader could not frame this write group: %s", mt_strerror(rc));
    }
    unlock_mu(s);
    return rc;
  }
  rc = lead(s, head, w);
  unlock_mu(s);
  return rc;
}

/* Leads the group from head (w, or a gathering head w took over): seqs,
 * one WAL append (and sync), the memtable, then everyone is told.
 * REQUIRES: mu, head at the head of the queue; returns with mu. */
static int lead(mt_store *s, waiter *head, waiter *self) {
  int rc = MT_OK;
  waiter *w = head, *last = head;
  size_t bytes = w->body.len;
  bool has_self = last == self; /* a taker's group reaches it, whatever its bytes */
  while (last->next && !last->next->barrier && (!has_self || bytes + last->next->body.len <= GROUP_BYTES)) {
    last = last->next;
    bytes += last->body.len;
    has_self |= last == self;
  }
  uint64_t seq = s->next_seq;
  unsigned members = 0;
  for (waiter *x = w;; x = x->next) {
    x->seq = seq;
    seq += x->count;
    members++;
    if (x == last) break;
  }
  s->last_group = members;
  bool fatal = true;
  if (seq - 1 > MT_SEQ_MAX) {
    rc = mt_set_error(MT_EIO, "sequence numbers are exhausted (MT_SEQ_MAX reached)");
  } else {
    s->next_seq = seq; /* a group that fails leaves a gap: harmless */
    unlock_mu(s);
    maybe_freeze(s, members); /* a failure leaves the active one growing; a failed WAL fails below */
    rc = s->wal ? log_group(s, w, last, &fatal) : MT_OK;
    if (!rc) rc = apply_group(s, w, last);
    if (!rc) atomic_store_explicit(&s->visible_seq, seq - 1, memory_order_release);
    pthread_mutex_lock(&s->mu);
  }
  if (rc && fatal) set_failed(s, rc);
  else if (!rc) atomic_fetch_add_explicit(&s->groups, 1, memory_order_relaxed);
  for (waiter *x = w;; x = x->next) {
    x->status = !rc ? MT_OK : fatal ? MT_EIO : rc;
    x->done = true;
    if (x != self) wake(s, x);
    if (x == last) break;
  }
  pop_head(s, last);
  return rc;
}

/* An exclusive section: no write runs until exclusive_end. */
static int exclusive_begin(mt_store *s, waiter *w) {
  memset(w, 0, sizeof *w);
  w->barrier = true;
  pthread_mutex_lock(&s->mu);
  enqueue(s, w);
  int rc = s->failed ? failed_error(s) : MT_OK;
  unlock_mu(s);
  return rc;
}

static void exclusive_end(mt_store *s, waiter *w) {
  pthread_mutex_lock(&s->mu);
  pop_head(s, w);
  unlock_mu(s);
}

static int write_entries(mt_store *s, mt_slice body, uint32_t count) {
  waiter w;
  memset(&w, 0, sizeof w);
  w.body = body;
  w.count = count;
  int rc = commit(s, &w);
  if (!rc) atomic_fetch_add_explicit(&s->writes, 1, memory_order_relaxed);
  return rc;
}

static int write_one(mt_store *s, const char *fn, mt_kind kind, mt_slice key, mt_slice value) {
  if (!s) return mt_set_error(MT_EINVAL, "%s: store is NULL", fn);
  int rc = check_slice(fn, "key", key);
  if (!rc && kind == MT_PUT) rc = check_slice(fn, "value", value);
  if (rc) return rc;
  uint8_t stack[512];
  size_t n = mt_wal_entry_size(kind, key, value);
  uint8_t *buf = n <= sizeof stack ? stack : mt_malloc(n);
  if (!buf) return MT_ENOMEM;
  mt_wal_entry_encode(buf, kind, key, value);
  rc = write_entries(s, (mt_slice){buf, n}, 1);
  if (buf != stack) mt_free(buf);
  return rc;
}

int mt_store_put(mt_store *s, mt_slice key, mt_slice value) {
  return write_one(s, "mt_store_put", MT_PUT, key, value);
}

int mt_store_delete(mt_store *s, mt_slice key) {
  return write_one(s, "mt_store_delete", MT_DELETE, key, (mt_slice){NULL, 0});
}

int mt_store_write(mt_store *s, const mt_batch *b) {
  if (!s) return mt_set_error(MT_EINVAL, "mt_store_write: store is NULL");
  if (!b) return mt_set_error(MT_EINVAL, "mt_store_write: batch is NULL");
  if (!mt_batch_count(b)) return MT_OK;
  return write_entries(s, mt_batch_body(b), mt_batch_count(b));
}

/* ---- freeze ------------------------------------------------------------------------ */

uint64_t mt_store_mono_ns_(void) { return mono_ns(); }

void mt_store_seg_path_(const mt_store *s, char *buf, uint64_t number, const char *suffix) {
  seg_path(s, buf, number, suffix);
}

void mt_store_run_path_(const mt_store *s, char *buf, uint64_t number, const char *suffix) {
  char name[MT_RUN_NAME_MAX];
  mt_run_name(name, sizeof name, number);
  snprintf(buf, PATH_CAP, "%s/%s%s", s->dir, name, suffix);
}

static void recycle_parked(mt_store *s, size_t i);
int mt_store_remove_segments_(mt_store *s, uint64_t from, uint64_t to) {
  for (size_t i = s->nparked; i-- > 0;)
    if (s->parked_n[i] >= from && s->parked_n[i] < to) recycle_parked(s, i);
  return remove_segments(s, from, to);
}
int mt_store_exclusive_begin_(mt_store *s, waiter *w) { return exclusive_begin(s, w); }
void mt_store_exclusive_end_(mt_store *s, waiter *w) { exclusive_end(s, w); }

static const mt_comparator bytewise_cmp = {"bytewise", NULL, NULL};
const mt_comparator *mt_store_cmp_(const mt_store *s) { return s->cmp.compare ? &s->cmp : &bytewise_cmp; }

static void fail_locked(mt_store *s, int rc) {
  pthread_mutex_lock(&s->mu);
  set_failed(s, rc);
  pthread_mutex_unlock(&s->mu);
}

void mt_store_fail_(mt_store *s, int rc) { fail_locked(s, rc); }

static void close_retired(mt_store *s, mt_wal_writer *retired) {
  int rc = mt_wal_writer_close(retired);
  if (rc) fail_locked(s, rc);
}

void mt_store_park_retired_(mt_store *s, mt_wal_writer *retired) {
  if (s->nparked == MT_STORE_PARK_MAX) {
    close_retired(s, retired);
    return;
  }
  s->parked_n[s->nparked] = mt_wal_writer_number(retired);
  s->parked[s->nparked++] = mt_wal_writer_release(retired);
}

/* parked[i]'s segment is obsolete: its log becomes a recycled one (under a
 * .tmp name, so an open removes it), or is closed when enough wait. */
static void recycle_parked(mt_store *s, size_t i) {
  mt_file *f = s->parked[i];
  uint64_t number = s->parked_n[i];
  s->nparked--;
  memmove(s->parked + i, s->parked + i + 1, (s->nparked - i) * sizeof *s->parked);
  memmove(s->parked_n + i, s->parked_n + i + 1, (s->nparked - i) * sizeof *s->parked_n);
  char path[PATH_CAP];
  snprintf(path, sizeof path, "%s/" RECYCLED_PREFIX "%012" PRIu64 ".tmp", s->dir, number);
  pthread_mutex_lock(&s->view_mu);
  bool room = s->nrecycled < MT_STORE_RECYCLE_MAX; /* only this thread adds */
  pthread_mutex_unlock(&s->view_mu);
  if (room && mt_file_rename(f, path) == MT_OK) {
    pthread_mutex_lock(&s->view_mu);
    s->recycled[s->nrecycled++] = f;
    pthread_mutex_unlock(&s->view_mu);
    return;
  }
  mt_file_close(f); /* its name goes with the segment's */
}

/* A segment for a MT_SYNC_NONE freeze (invariant 8): written over the
 * recycled log when there is one (invariant 9), else a new file; no sync.
 * On failure nothing is left behind. */
static int lazy_segment(mt_store *s, uint64_t number, mt_wal_writer **out) {
  pthread_mutex_lock(&s->view_mu);
  mt_file *log = s->nrecycled ? s->recycled[--s->nrecycled] : NULL;
  pthread_mutex_unlock(&s->view_mu);
  char path[PATH_CAP];
  seg_path(s, path, number, "");
  if (log) {
    mt_wal_header h = {MT_WAL_VERSION, number, load_visible(s), MT_WAL_FLAG_PREV_UNSYNCED,
                       {s->cmp_name, strlen(s->cmp_name)}};
    if (mt_wal_writer_reuse(out, log, path, &h) == MT_OK) return MT_OK;
    char old[PATH_CAP]; /* a new file instead */
    snprintf(old, sizeof old, "%s", mt_file_path(log));
    mt_file_close(log);
    mt_path_remove(old);
  }
  int rc = new_segment(s, number, MT_WAL_FLAG_PREV_UNSYNCED, false, out);
  if (!rc) rc = mt_wal_writer_rename(*out, path);
  if (rc && *out) {
    saved_error e;
    save_error(&e);
    snprintf(path, sizeof path, "%s", mt_wal_writer_path(*out));
    mt_wal_writer_close(*out);
    mt_path_remove(path);
    *out = NULL;
    restore_error(&e, rc);
  }
  return rc;
}

/* The segment the last MT_SYNC_NONE freeze retired, if the sync thread
 * has not closed it yet (busy with a flush): the caller closes it. */
static mt_wal_writer *take_retired(mt_store *s) {
  pthread_mutex_lock(&s->view_mu);
  mt_wal_writer *w = s->retired;
  s->retired = NULL;
  pthread_mutex_unlock(&s->view_mu);
  return w;
}

int mt_store_switch_memtable_(mt_store *s) {
  mt_memtable *m;
  int rc = new_memtable(s, &m);
  if (rc) return rc;
  pthread_mutex_lock(&s->view_mu);
  if (s->nimm == s->imm_cap) {
    size_t cap = s->imm_cap ? s->imm_cap * 2 : 4;
    frozen *p = mt_realloc(s->imm, cap * sizeof *p);
    if (p) {
      s->imm = p;
      s->imm_cap = cap;
    }
  }
  bool room = s->nimm < s->imm_cap;
  pthread_mutex_unlock(&s->view_mu);
  if (!room) {
    mt_memtable_unref(m);
    return mt_set_error(MT_ENOMEM, "freeze: out of memory for the frozen list");
  }
  mt_wal_writer *w = NULL;
  /* Under MT_SYNC_ALWAYS the old segment is durable before a newer one
   * exists (a cheap sync: every acknowledged group was synced), so only
   * the last segment can ever have a torn tail, and the new one is live
   * and durable before a write goes into it.  Under MT_SYNC_NONE no sync is
   * on the writers' path (invariant 8): neither segment is synced -- the
   * new one's header says so, and recovery ends the log where the data
   * stops (invariant 7) -- and the sync thread closes the old one. */
  bool lazy = s->sync == MT_SYNC_NONE && s->dir;
  if (lazy) {
    mt_wal_writer *left = take_retired(s);
    if (left) close_retired(s, left);
  }
  if (s->dir && !lazy) rc = mt_wal_writer_sync(s->wal);
  if (rc) fail_locked(s, rc);
  uint64_t number = s->dir ? mt_wal_writer_number(s->wal) + 1 : 0;
  if (s->dir && !rc) rc = lazy ? lazy_segment(s, number, &w) : new_segment(s, number, 0, true, &w);
  if (!rc) rc = mt_memtable_freeze(s->active);
  if (rc) {
    saved_error e;
    save_error(&e);
    if (w) {
      char path[PATH_CAP];
      snprintf(path, sizeof path, "%s", mt_wal_writer_path(w));
      mt_wal_writer_close(w);
      mt_path_remove(path);
    }
    mt_memtable_unref(m);
    return restore_error(&e, rc);
  }
  uint64_t limit = 0;
  mt_wal_writer *old = NULL;
  if (w) {
    old = s->wal; /* its bytes are in the OS (or on disk) */
    s->wal = w;
    limit = mt_wal_writer_number(w);
    atomic_store_explicit(&s->segment, limit, memory_order_relaxed);
    if (!lazy) {
      rc = mt_wal_writer_close(old);
      if (rc) fail_locked(s, rc);
    }
  }
  pthread_mutex_lock(&s->view_mu);
  if (lazy && w) {
    s->retired = old;
    pthread_cond_signal(&s->sync_cv);
  }
  s->imm[s->nimm++] = (frozen){s->active, limit, atomic_load_explicit(&s->visible_seq, memory_order_relaxed)};
  s->active = m;
  pthread_cond_signal(&s->work_cv);
  pthread_mutex_unlock(&s->view_mu);
  return rc;
}

/* REQUIRES: the head of the queue, mu not held.  Freezes the active
 * memtable once it reached memtable_bytes, first waiting (a stall) while
 * max_immutable frozen ones are unflushed.  MT_ENOMEM leaves the active
 * one growing (tried again at the next group); other errors failed the
 * store. */
static int maybe_freeze(mt_store *s, unsigned writers) {
  if (mt_memtable_memory_usage(s->active) < s->memtable_bytes || !mt_memtable_count(s->active)) return MT_OK;
  pthread_mutex_lock(&s->view_mu);
  if (s->nimm >= s->max_immutable) {
    uint64_t t0 = mono_ns();
    while (s->nimm >= s->max_immutable && !s->stop) pthread_cond_wait(&s->room_cv, &s->view_mu);
    s->stalls += writers;
    s->stall_ns += mono_ns() - t0;
  }
  pthread_mutex_unlock(&s->view_mu);
  int rc = mt_store_switch_memtable_(s);
  return rc == MT_ENOMEM ? MT_OK : rc;
}

/* ---- stats ------------------------------------------------------------------------- */

uint64_t mt_store_last_seq(mt_store *s) { return s ? load_visible(s) : 0; }

int mt_store_stats(mt_store *s, struct mt_store_stats *out) {
  if (!s || !out) return mt_set_error(MT_EINVAL, "mt_store_stats: %s is NULL", s ? "out" : "store");
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&s->view_mu);
  out->memtables = 1 + s->nimm;
  out->frozen = s->nimm;
  out->bytes = mt_memtable_memory_held(s->active);
  for (size_t i = 0; i < s->nimm; i++) out->bytes += mt_memtable_memory_held(s->imm[i].m);
  out->bytes += mt_arena_pool_memory(s->arenas);
  out->runs = s->nruns;
  for (size_t i = 0; i < s->nruns; i++) out->run_bytes += mt_run_file_bytes(s->runs[i]);
  out->stalls = s->stalls;
  out->stall_ns = s->stall_ns;
  out->flush_errors = s->flush_errors;
  out->merges = s->merges;
  pthread_mutex_unlock(&s->view_mu);
  out->flushes = atomic_load_explicit(&s->flushes, memory_order_relaxed);
  out->wal_bytes = atomic_load_explicit(&s->wal_bytes, memory_order_relaxed);
  out->wal_syncs = atomic_load_explicit(&s->wal_syncs, memory_order_relaxed);
  out->write_groups = atomic_load_explicit(&s->groups, memory_order_relaxed);
  out->writes = atomic_load_explicit(&s->writes, memory_order_relaxed);
  out->recovered_records = s->recovered;
  out->dropped_records = s->dropped;
  out->last_seq = atomic_load_explicit(&s->visible_seq, memory_order_acquire);
  out->wal_segment = atomic_load_explicit(&s->segment, memory_order_relaxed);
  pthread_mutex_lock(&s->mu);
  out->failed = s->failed;
  pthread_mutex_unlock(&s->mu);
  return MT_OK;
}
