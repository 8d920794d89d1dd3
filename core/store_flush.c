/* store_flush.c -- the store's background threads: the flush thread
 * flushes frozen memtables oldest first (IMMUTABLE -> FLUSHING -> FLUSHED)
 * through the sink and retries failures with a backoff; the sync thread
 * makes the flushed runs durable, oldest first, and removes the WAL
 * segments they release; the merge thread (default sink only) folds the
 * newest durable runs into one once there are more than max_runs, beside
 * the flushes, so writers never wait for a merge; plus mt_store_flush.
 *
 * The default sink (no options.sink, a dir) writes one sorted run per
 * memtable: run-<n>.sst.tmp is written (its writeback started as it goes),
 * read back and verified (mt_run_open checks every checksum and the order
 * of every entry).  Then the run is published to readers and the memtable
 * retired, in one view_mu section, so writers get their room back without
 * waiting for the disk, and the run joins `pend`.  The sync thread
 * fdatasyncs it, renames it to run-<n>.sst and fsyncs the directory; only
 * then does it count as durable (ndurable) and are the memtable's WAL
 * segments removed.  Meanwhile the flush thread writes the next run: the
 * disk and the CPU work at once.  A failed fdatasync may have marked pages
 * clean that never reached the disk, so such a run is written again from
 * its own verified mapping, under a new number, before the next try.
 *
 * The sync thread also takes the segment a MT_SYNC_NONE freeze left behind
 * before it removes any (store.c invariants 8 and 9).
 *
 * What recovery knows: every run's footer records the highest seq it
 * holds; runs become durable oldest memtable first, so the runs hold every
 * seq up to the highest of those (covered_seq) and replay skips records at
 * or below it.  A run not yet durable is a .tmp file (removed at open),
 * or, between its rename and the directory sync, a synced run: either way
 * its segments are still there.  A merged run records the numbers of the runs
 * it replaces; recovery removes any it finds still there.  A user sink is
 * told nothing the store can read back, so after each of its flushes the
 * store writes FLUSHED (the memtable's last seq + a checksum, via .tmp +
 * rename + dir sync) before removing segments: a crash in between replays
 * nothing twice.
 *
 * Thread safety: one flush, one sync and one merge thread per store (no
 * sync thread without a dir).  The flush thread alone appends runs and pend
 * entries; the sync thread alone touches first_segment and parked (after
 * open), works on pend[0], replaces runs that are not durable and removes
 * pend entries; the merge thread alone removes runs, durable ones only.
 * view_mu guards the lists, npend and pend's entries (each thread copies
 * the entry it works on), ndurable, next_run and the counters; the threads
 * hold it only to take work and to publish results, never across I/O.
 * `closing` is a relaxed hint for a long merge to give up at close
 * (view_mu's stop is the real signal).
 *
 * Invariants:
 *  1. Frozen memtables leave the list oldest first, once their run is
 *     written, verified and published (or the user sink returned success
 *     and FLUSHED is durable); a memtable leaving joins pend.
 *  2. A segment is removed only when every memtable with data in it is
 *     durably flushed: pend is worked on oldest first, and a memtable's
 *     segments (below its seg_limit) go only when its run is durable.
 *  3. runs[0 .. ndurable) are durable; runs[ndurable ..) are the runs of
 *     pend's entries, in the same order.  At most MT_STORE_PEND_MAX
 *     entries wait: the flush thread waits for room.
 *  4. A failed attempt leaves the memtable IMMUTABLE in the list (a failed
 *     sync leaves the entry in pend); the next try waits a backoff
 *     (BACKOFF_MIN doubling to BACKOFF_MAX), cut short by mt_store_flush.
 *     The store keeps accepting writes (until back-pressure holds them).
 *  5. A merge takes the newest durable runs (merge_start says how many: a
 *     tiered policy that leaves at most max_runs / 2), writes a new run
 *     holding every version of them, makes it durable, then replaces them
 *     in the list in one view_mu section (they are still in the same
 *     places: flushes only append, the sync thread only replaces runs that
 *     are not durable, and only the merge thread removes runs).  Readers
 *     holding old runs keep them (refs); the files are unlinked at once
 *     (the mappings stay valid).  Its number may exceed a flush's that
 *     holds newer seqs, so the list (and recovery's order) is by seqs,
 *     never by number; it names the range of numbers it replaces, and
 *     recovery removes only runs in that range whose seqs it contains.
 */
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

enum {
  BACKOFF_MIN_NS = 10 * 1000 * 1000,  /* first retry after 10 ms */
  BACKOFF_MAX_NS = 500 * 1000 * 1000, /* at most every 0.5 s */
};

/* ---- the FLUSHED record (user sinks only) ----------------------------------------- */

static void flushed_path(const mt_store *s, char *buf, const char *suffix) {
  snprintf(buf, MT_STORE_PATH_CAP, "%s/FLUSHED%s", s->dir, suffix);
}

int mt_store_read_flushed_(mt_store *s, uint64_t *seq) {
  *seq = 0;
  char path[MT_STORE_PATH_CAP];
  flushed_path(s, path, "");
  mt_file *f;
  int rc = mt_file_open_read(&f, path);
  if (rc == MT_NOTFOUND) return MT_OK;
  if (rc) return rc;
  uint8_t b[17];
  size_t got = 0, n;
  while (!rc && got < sizeof b) {
    rc = mt_file_read(f, b + got, sizeof b - got, &n);
    if (!n) break;
    got += n;
  }
  mt_file_close(f);
  if (rc) return rc;
  uint32_t ck;
  memcpy(&ck, b + 8, 4);
  if (got != 12 || (uint32_t)XXH3_64bits(b, 8) != ck)
    return mt_set_error(MT_ECORRUPT, "%s: offset 0: damaged (%zu bytes, checksum %s)", path, got,
                        got == 12 ? "mismatch" : "missing");
  memcpy(seq, b, 8);
  return MT_OK;
}

static int write_flushed(mt_store *s, uint64_t seq) {
  char tmp[MT_STORE_PATH_CAP], path[MT_STORE_PATH_CAP];
  flushed_path(s, tmp, ".tmp");
  flushed_path(s, path, "");
  uint8_t b[12];
  memcpy(b, &seq, 8);
  uint32_t ck = (uint32_t)XXH3_64bits(b, 8);
  memcpy(b + 8, &ck, 4);
  mt_file *f;
  int rc = mt_file_create(&f, tmp);
  if (rc) return rc;
  rc = mt_file_append(f, b, sizeof b);
  if (!rc) rc = mt_file_sync(f);
  int crc = mt_file_close(f);
  if (!rc) rc = crc;
  if (!rc) rc = mt_path_rename(tmp, path);
  if (!rc) rc = mt_dir_sync(s->dir);
  if (rc) mt_path_remove(tmp);
  return rc;
}

/* ---- writing runs ------------------------------------------------------------------- */

/* Writes every entry of `it` into run info->number's .tmp file, finishes
 * it and reads it back (verified): *out is the run, *w stays open for the
 * sync.  On failure the file is gone.  A merge gives up when the store
 * closes (give_up). */
static int write_run(mt_store *s, mt_iter *it, const mt_run_info *info, bool give_up, mt_run_writer **w,
                     mt_run **out) {
  char tmp[MT_STORE_PATH_CAP];
  mt_store_run_path_(s, tmp, info->number, ".tmp");
  *out = NULL;
  int rc = mt_run_writer_open(w, tmp, info);
  if (rc) return rc;
  uint64_t k = 0;
  for (mt_iter_seek_to_first(it); !rc && mt_iter_valid(it); mt_iter_next(it)) {
    rc = mt_run_writer_add(*w, mt_iter_key(it), mt_iter_seq(it), mt_iter_kind(it), mt_iter_value(it));
    if (!rc && give_up && !(++k & 4095) && atomic_load_explicit(&s->closing, memory_order_relaxed))
      rc = mt_set_error(MT_EIO, "merge: abandoned, the store is closing");
  }
  if (!rc) rc = mt_iter_status(it);
  if (!rc) rc = mt_run_writer_finish(*w);
  if (!rc) rc = mt_run_open(out, tmp, s->cmp.compare ? &s->cmp : NULL);
  if (rc) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", mt_last_error());
    mt_run_writer_close(*w, true);
    *w = NULL;
    mt_set_error(rc, "%s", msg);
  }
  return rc;
}

/* ---- the sorted-run sink ----------------------------------------------------------- */

typedef struct run_sink {
  mt_store *s;
  mt_run_info info;
  mt_run_writer *w; /* after finish succeeded: open, for the sync thread */
  mt_run *out;      /* the verified run, after finish succeeded */
} run_sink;

static int rs_begin(void *ctx, uint64_t memtable_id, uint64_t count) {
  (void)memtable_id;
  (void)count;
  run_sink *rs = ctx;
  char path[MT_STORE_PATH_CAP];
  mt_store_run_path_(rs->s, path, rs->info.number, ".tmp");
  return mt_run_writer_open(&rs->w, path, &rs->info);
}

static int rs_add(void *ctx, mt_slice key, uint64_t seq, mt_kind kind, mt_slice value) {
  run_sink *rs = ctx;
  return mt_run_writer_add(rs->w, key, seq, kind, value);
}

/* write the tail, read back and verify; the sync thread does the rest */
static int rs_finish(void *ctx, int status) {
  run_sink *rs = ctx;
  mt_store *s = rs->s;
  if (!rs->w) return status;
  int rc = status < 0 ? status : mt_run_writer_finish(rs->w);
  if (!rc) rc = mt_run_open(&rs->out, mt_run_writer_path(rs->w), s->cmp.compare ? &s->cmp : NULL);
  if (rc) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", mt_last_error());
    mt_run_writer_close(rs->w, true);
    rs->w = NULL;
    mt_set_error(rc, "%s", msg);
  }
  return rc;
}

static const mt_flush_sink run_sink_ops = {rs_begin, rs_add, rs_finish};

/* ---- one flush ----------------------------------------------------------------------- */

/* Room for one more run, made before the flush so publishing cannot fail,
 * and the run's number. */
static int reserve_run(mt_store *s, uint64_t *number) {
  int rc = MT_OK;
  pthread_mutex_lock(&s->view_mu);
  *number = s->next_run++;
  if (s->nruns == s->runs_cap) {
    size_t cap = s->runs_cap ? s->runs_cap * 2 : 8;
    mt_run **p = mt_realloc(s->runs, cap * sizeof *p);
    if (!p) {
      rc = mt_set_error(MT_ENOMEM, "flush: out of memory for the run list");
    } else {
      s->runs = p;
      s->runs_cap = cap;
    }
  }
  pthread_mutex_unlock(&s->view_mu);
  return rc;
}

/* Flushes f (the oldest frozen memtable); on success it has left the list
 * and (with a dir) joined pend.  REQUIRES: room in pend. */
static int flush_one(mt_store *s, frozen f) {
  pending_run p = {NULL, NULL, 0, f.seg_limit, PEND_WRITTEN};
  int rc = MT_OK;
  if (s->sink) {
    /* FLUSHED already: the sink took it, only the record failed last time */
    if (mt_memtable_state(f.m) != MT_FLUSHED) rc = mt_memtable_flush(f.m, s->sink, s->sink_ctx);
    if (!rc && s->dir) rc = write_flushed(s, f.max_seq);
  } else if (s->dir && mt_memtable_count(f.m)) {
    run_sink rs = {s, {s->cmp_name, 0, 0, 0}, NULL, NULL};
    rc = reserve_run(s, &rs.info.number);
    if (!rc) rc = mt_memtable_flush(f.m, &run_sink_ops, &rs);
    p.run = rs.out;
    p.w = rs.w;
    p.number = rs.info.number;
  }
  if (rc) return rc;
  pthread_mutex_lock(&s->view_mu);
  if (p.run) s->runs[s->nruns++] = p.run; /* reserved above */
  memmove(s->imm, s->imm + 1, (s->nimm - 1) * sizeof *s->imm);
  s->nimm--;
  if (s->dir) {
    s->pend[s->npend++] = p;
    pthread_cond_signal(&s->sync_cv);
  }
  pthread_mutex_unlock(&s->view_mu);
  mt_memtable_unref(f.m);
  atomic_fetch_add_explicit(&s->flushes, 1, memory_order_relaxed);
  return MT_OK;
}

/* ---- making runs durable ---------------------------------------------------------------- */

/* p's fdatasync (or close) failed: its run is written again under a new
 * number and takes the old one's place in the list (it is not durable, so
 * no merge has it).  The source is the old file opened afresh, so every
 * checksum is checked again: pages the failed sync marked clean may have
 * been dropped since and read back from the disk.  If they no longer
 * verify, the store fails (writes refused, MT_EIO): the WAL still holds
 * the data, and a reopen replays it. */
static int rewrite_run(mt_store *s, pending_run *p) {
  char old[MT_STORE_PATH_CAP];
  mt_store_run_path_(s, old, p->number, ".tmp");
  mt_run *src = NULL;
  int rc = mt_run_open(&src, old, s->cmp.compare ? &s->cmp : NULL);
  if (rc == MT_ECORRUPT) {
    rc = mt_set_error(MT_EIO, "%s: its fdatasync failed and it no longer verifies (%s); reopen the store to "
                      "replay the WAL", old, mt_last_error());
    mt_store_fail_(s, rc);
  }
  if (rc) return rc;
  mt_run_info info = {s->cmp_name, 0, 0, 0};
  pthread_mutex_lock(&s->view_mu);
  info.number = s->next_run++; /* it takes the old one's place: no room needed */
  pthread_mutex_unlock(&s->view_mu);
  mt_iter *it = NULL;
  rc = mt_run_iter_new(&it, src);
  mt_run_unref(src); /* the iterator holds its own ref */
  mt_run_writer *w = NULL;
  mt_run *out = NULL;
  if (!rc) rc = write_run(s, it, &info, false, &w, &out);
  mt_iter_free(it);
  if (rc) return rc;
  pthread_mutex_lock(&s->view_mu);
  for (size_t i = s->ndurable; i < s->nruns; i++)
    if (s->runs[i] == p->run) s->runs[i] = out;
  pthread_mutex_unlock(&s->view_mu);
  mt_run_unref(p->run); /* the list's ref; readers may hold theirs */
  mt_path_remove(old);
  *p = (pending_run){out, w, info.number, p->seg_limit, PEND_WRITTEN};
  return MT_OK;
}

/* fdatasync, close, rename, directory sync: p's run becomes durable.  Each
 * step done is kept in p->stage, so a retry goes on from the failed one. */
static int make_durable(mt_store *s, pending_run *p) {
  if (!p->run) return MT_OK;
  int rc = MT_OK;
  if (p->stage == PEND_BAD) rc = rewrite_run(s, p);
  if (!rc && p->stage == PEND_WRITTEN) {
    rc = mt_run_writer_sync(p->w);
    int crc = mt_run_writer_close(p->w, false);
    p->w = NULL;
    if (!rc) rc = crc;
    p->stage = rc ? PEND_BAD : PEND_SYNCED;
  }
  if (!rc && p->stage == PEND_SYNCED) {
    char tmp[MT_STORE_PATH_CAP], path[MT_STORE_PATH_CAP];
    mt_store_run_path_(s, tmp, p->number, ".tmp");
    mt_store_run_path_(s, path, p->number, "");
    rc = mt_path_rename(tmp, path);
    if (!rc) p->stage = PEND_RENAMED;
  }
  if (!rc) rc = mt_dir_sync(s->dir);
  return rc;
}

/* After an attempt that failed: the error is what mt_store_flush reports;
 * the next try is at *retry_at, a backoff later (doubling).
 * REQUIRES: view_mu. */
static void note_failure(mt_store *s, int rc, uint64_t *backoff, uint64_t *retry_at) {
  s->flush_errors++;
  s->err_gen++;
  s->flush_rc = rc;
  snprintf(s->flush_msg, sizeof s->flush_msg, "%s", mt_last_error());
  *backoff = *backoff ? *backoff * 2 : BACKOFF_MIN_NS;
  if (*backoff > BACKOFF_MAX_NS) *backoff = BACKOFF_MAX_NS;
  *retry_at = mt_store_mono_ns_() + *backoff;
}

/* ---- merge ---------------------------------------------------------------------------- */

/* The first of the runs a merge folds: the newest durable ones, enough of
 * them to leave at most max_runs / 2 runs, and then every older run no
 * bigger than what is folded so far.  So the runs left are each bigger
 * than all newer ones together (sizes grow geometrically towards the
 * oldest) and a byte is rewritten about log2(data / flush) times, not once
 * per merge.  The merge ends at ndurable.
 * REQUIRES: view_mu, ndurable >= 2. */
static size_t merge_start(const mt_store *s) {
  size_t keep = s->max_runs / 2, first = keep - 1; /* leaves keep - 1 + the merged one */
  if (first > s->ndurable - 2) first = s->ndurable - 2;
  uint64_t bytes = 0;
  for (size_t i = first; i < s->ndurable; i++) bytes += mt_run_file_bytes(s->runs[i]);
  while (first > 0 && mt_run_file_bytes(s->runs[first - 1]) <= bytes) bytes += mt_run_file_bytes(s->runs[--first]);
  return first;
}

static int merge_runs(mt_store *s) {
  pthread_mutex_lock(&s->view_mu);
  size_t first = merge_start(s), n = s->ndurable - first;
  mt_run **in = mt_malloc(n * sizeof *in);
  uint64_t number = s->next_run++;
  if (in) {
    memcpy(in, s->runs + first, n * sizeof *in);
    for (size_t i = 0; i < n; i++) mt_run_ref(in[i]);
  }
  pthread_mutex_unlock(&s->view_mu);
  if (!in) return mt_set_error(MT_ENOMEM, "merge: out of memory");
  uint64_t lo = UINT64_MAX, hi = 0; /* merged runs may carry numbers above later flushes' */
  for (size_t i = 0; i < n; i++) {
    uint64_t x = mt_run_props_of(in[i])->number;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  mt_run_info info = {s->cmp_name, number, lo, hi};
  char tmp[MT_STORE_PATH_CAP], path[MT_STORE_PATH_CAP];
  mt_store_run_path_(s, tmp, info.number, ".tmp");
  mt_store_run_path_(s, path, info.number, "");
  mt_iter *it = NULL;
  mt_run_writer *w = NULL;
  mt_run *out = NULL;
  int rc = mt_store_merge_runs_iter_(&it, mt_store_cmp_(s), in, n);
  if (!rc) rc = write_run(s, it, &info, true, &w, &out);
  mt_iter_free(it);
  if (!rc) rc = mt_run_writer_sync(w);
  if (w) {
    int crc = mt_run_writer_close(w, false);
    if (!rc) rc = crc;
  }
  if (!rc) rc = mt_path_rename(tmp, path);
  if (!rc) rc = mt_dir_sync(s->dir);
  if (!rc) {
    pthread_mutex_lock(&s->view_mu);
    /* the inputs are still at first .. first + n - 1 (invariant 5) */
    s->runs[first] = out;
    memmove(s->runs + first + 1, s->runs + first + n, (s->nruns - first - n) * sizeof *s->runs);
    s->nruns -= n - 1;
    s->ndurable -= n - 1;
    s->merges++;
    pthread_mutex_unlock(&s->view_mu);
    for (size_t i = 0; i < n; i++) {
      mt_store_run_path_(s, path, mt_run_props_of(in[i])->number, "");
      mt_path_remove(path);
      mt_run_unref(in[i]); /* the list's ref */
    }
    mt_dir_sync(s->dir); /* a leftover input is removed at the next open */
  } else {
    mt_run_unref(out);
    mt_path_remove(tmp);
  }
  for (size_t i = 0; i < n; i++) mt_run_unref(in[i]);
  mt_free(in);
  return rc;
}

/* ---- the threads ------------------------------------------------------------------------ */

/* Waits on cv (with view_mu) until `at` at most: true once `at` is past
 * (time for the retry), false when woken before (the caller looks again;
 * `at` stays, so wake-ups never postpone the retry). */
static bool wait_until(mt_store *s, pthread_cond_t *cv, uint64_t at) {
  if (mt_store_mono_ns_() >= at) return true;
  struct timespec ts = {(time_t)(at / 1000000000u), (long)(at % 1000000000u)};
  return pthread_cond_timedwait(cv, &s->view_mu, &ts) == ETIMEDOUT;
}

/* True while a flush must wait for a merge: 2 x max_runs runs are live and
 * the merge thread is at work (not stopped, its last try did not fail).
 * Writers then stall as frozen memtables pile up (max_immutable), as
 * RocksDB stops writes at level0_stop_writes_trigger. REQUIRES: view_mu. */
static bool runs_full(const mt_store *s) {
  return !s->sink && s->dir && !s->stop && !s->merge_failed && s->nruns >= 2 * (size_t)s->max_runs;
}

static void *flusher(void *arg) {
  mt_store *s = arg;
  uint64_t backoff = 0, retry_at = 0;
  pthread_mutex_lock(&s->view_mu);
  for (;;) {
    if (!s->nimm) {
      if (s->stop) break;
      pthread_cond_wait(&s->work_cv, &s->view_mu);
      continue;
    }
    if (s->nimm && backoff && !s->kick) {
      if (s->stop) break; /* closing after a failure: the WAL keeps the rest */
      if (!wait_until(s, &s->work_cv, retry_at)) continue;
    }
    if (s->dir && s->npend == MT_STORE_PEND_MAX) { /* the sync thread catches up first */
      /* closing, and the sync thread's try since the stop failed too: the
       * WAL keeps the rest */
      if (s->stop && s->sync_failed && !s->kick_sync && !s->syncing) break;
      pthread_cond_wait(&s->work_cv, &s->view_mu);
      continue;
    }
    if (runs_full(s)) { /* reads stay bounded: the merge thread catches up first */
      pthread_cond_wait(&s->work_cv, &s->view_mu);
      continue;
    }
    s->kick = false;
    frozen f = s->imm[0];
    s->flushing = true;
    pthread_mutex_unlock(&s->view_mu);
    int rc = flush_one(s, f);
    mt_arena_pool_clean(s->arenas); /* the flushed memtable's arena, zeroed here rather than by a writer */
    pthread_mutex_lock(&s->view_mu);
    s->flushing = false;
    if (rc) note_failure(s, rc, &backoff, &retry_at);
    else backoff = 0;
    pthread_cond_broadcast(&s->room_cv);
  }
  s->flusher_done = true;
  pthread_cond_signal(&s->sync_cv);
  pthread_mutex_unlock(&s->view_mu);
  return NULL;
}

/* The sync thread: parks the segment a MT_SYNC_NONE freeze retired, makes
 * pend's runs durable oldest first and removes the segments they release;
 * once the flush thread is done, it drains pend (or gives up after a
 * failure: the WAL keeps the data) and exits. */
static void *syncer(void *arg) {
  mt_store *s = arg;
  uint64_t backoff = 0, retry_at = 0;
  pthread_mutex_lock(&s->view_mu);
  for (;;) {
    if (s->retired) { /* before any segment goes */
      mt_wal_writer *retired = s->retired;
      s->retired = NULL;
      pthread_mutex_unlock(&s->view_mu);
      mt_store_park_retired_(s, retired);
      pthread_mutex_lock(&s->view_mu);
      continue;
    }
    if (!s->npend) {
      if (s->flusher_done) break;
      pthread_cond_wait(&s->sync_cv, &s->view_mu);
      continue;
    }
    if (backoff && !s->kick_sync) {
      if (s->stop && s->flusher_done) break;
      if (!wait_until(s, &s->sync_cv, retry_at)) continue;
    }
    s->kick_sync = false;
    pending_run p = s->pend[0];
    s->syncing = true;
    pthread_mutex_unlock(&s->view_mu);
    int rc = make_durable(s, &p);
    pthread_mutex_lock(&s->view_mu);
    if (rc) {
      s->pend[0] = p; /* the stage reached, for the retry */
      s->sync_failed = true;
      note_failure(s, rc, &backoff, &retry_at);
      s->syncing = false;
      pthread_cond_broadcast(&s->room_cv);
      pthread_cond_broadcast(&s->work_cv);
      continue;
    }
    backoff = 0;
    s->sync_failed = false;
    memmove(s->pend, s->pend + 1, (s->npend - 1) * sizeof *s->pend);
    s->npend--;
    if (p.run) {
      s->ndurable++;
      pthread_cond_signal(&s->merge_cv);
    }
    pthread_cond_signal(&s->work_cv); /* room in pend */
    pthread_mutex_unlock(&s->view_mu);
    if (p.seg_limit > s->first_segment) {
      /* the data is durable: a failed removal is retried after the next flush */
      if (!mt_store_remove_segments_(s, s->first_segment, p.seg_limit)) s->first_segment = p.seg_limit;
    }
    pthread_mutex_lock(&s->view_mu);
    s->syncing = false;
    pthread_cond_broadcast(&s->room_cv);
  }
  mt_run_writer *open[MT_STORE_PEND_MAX]; /* given up: .tmp runs are removed at the next open */
  size_t nopen = 0;
  for (size_t i = 0; i < s->npend; i++) {
    if (s->pend[i].w) open[nopen++] = s->pend[i].w;
    s->pend[i].w = NULL;
  }
  pthread_mutex_unlock(&s->view_mu);
  for (size_t i = 0; i < nopen; i++) mt_run_writer_close(open[i], false);
  return NULL;
}

/* The merge thread: past max_runs, folds the newest durable runs into one;
 * after a failure it waits for a new run before trying again. */
static void *merger(void *arg) {
  mt_store *s = arg;
  size_t failed_at = 0; /* nruns when the last merge failed */
  pthread_mutex_lock(&s->view_mu);
  while (!s->stop) {
    if (s->nruns <= s->max_runs || s->ndurable < 2 || s->nruns == failed_at) {
      pthread_cond_wait(&s->merge_cv, &s->view_mu);
      continue;
    }
    pthread_mutex_unlock(&s->view_mu);
    int rc = merge_runs(s);
    pthread_mutex_lock(&s->view_mu);
    failed_at = 0;
    if (rc && !s->stop) {
      s->flush_errors++;
      failed_at = s->nruns;
    }
    s->merge_failed = rc != 0;
    pthread_cond_broadcast(&s->work_cv); /* a flush waiting for room in the runs */
  }
  pthread_mutex_unlock(&s->view_mu);
  return NULL;
}

int mt_store_start_flusher_(mt_store *s) {
  int err = pthread_create(&s->thread, NULL, flusher, s);
  if (err) return mt_set_error(MT_ENOMEM, "mt_store_open: cannot start the flush thread: %s", strerror(err));
  s->thread_started = true;
  if (s->dir) {
    err = pthread_create(&s->syncer, NULL, syncer, s);
    if (err) {
      mt_store_stop_flusher_(s);
      return mt_set_error(MT_ENOMEM, "mt_store_open: cannot start the sync thread: %s", strerror(err));
    }
    s->syncer_started = true;
  }
  if (s->dir && !s->sink) {
    err = pthread_create(&s->merger, NULL, merger, s);
    if (err) {
      mt_store_stop_flusher_(s);
      return mt_set_error(MT_ENOMEM, "mt_store_open: cannot start the merge thread: %s", strerror(err));
    }
    s->merger_started = true;
  }
  return MT_OK;
}

void mt_store_stop_flusher_(mt_store *s) {
  if (!s->thread_started && !s->merger_started && !s->syncer_started) return;
  atomic_store_explicit(&s->closing, true, memory_order_relaxed);
  pthread_mutex_lock(&s->view_mu);
  s->stop = true;
  s->kick = s->kick_sync = true; /* one more try of anything pending */
  pthread_cond_broadcast(&s->work_cv);
  pthread_cond_broadcast(&s->room_cv);
  pthread_cond_broadcast(&s->merge_cv);
  pthread_cond_broadcast(&s->sync_cv);
  pthread_mutex_unlock(&s->view_mu);
  if (s->merger_started) pthread_join(s->merger, NULL);
  if (s->thread_started) pthread_join(s->thread, NULL);
  if (!s->thread_started) { /* the sync thread waits for the flush thread's end */
    pthread_mutex_lock(&s->view_mu);
    s->flusher_done = true;
    pthread_cond_signal(&s->sync_cv);
    pthread_mutex_unlock(&s->view_mu);
  }
  if (s->syncer_started) pthread_join(s->syncer, NULL);
  s->thread_started = s->merger_started = s->syncer_started = false;
}

/* ---- mt_store_flush ------------------------------------------------------------------------ */

int mt_store_flush(mt_store *s) {
  if (!s) return mt_set_error(MT_EINVAL, "mt_store_flush: store is NULL");
  pthread_mutex_lock(&s->flush_mu);
  pthread_mutex_lock(&s->view_mu);
  uint64_t gen = s->err_gen;
  s->kick = s->kick_sync = true; /* a frozen one or a sync left by a failure is retried now */
  pthread_cond_signal(&s->work_cv);
  pthread_cond_signal(&s->sync_cv);
  pthread_mutex_unlock(&s->view_mu);
  waiter w;
  int rc = mt_store_exclusive_begin_(s, &w);
  if (!rc && mt_memtable_count(s->active)) rc = mt_store_switch_memtable_(s);
  mt_store_exclusive_end_(s, &w);
  if (!rc) {
    pthread_mutex_lock(&s->view_mu);
    /* until the last flush is durable and its segments are gone */
    while ((s->nimm || s->flushing || s->npend || s->syncing) && s->err_gen == gen)
      pthread_cond_wait(&s->room_cv, &s->view_mu);
    if (s->nimm || s->npend) rc = mt_set_error(s->flush_rc, "mt_store_flush: %s", s->flush_msg);
    pthread_mutex_unlock(&s->view_mu);
  }
  pthread_mutex_unlock(&s->flush_mu);
  return rc;
}
