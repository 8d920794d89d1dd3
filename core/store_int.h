/* store_int.h -- what the store's files share: the struct and the calls
 * between store.c (open, recovery, write path, freeze, stats),
 * store_flush.c (the background flush and merge thread, the sorted-run
 * sink, mt_store_flush) and store_iter.c (point reads and the merged user
 * view).  The locking rules and invariants are at the top of store.c.
 */
#ifndef MT_CORE_STORE_INT_H
#define MT_CORE_STORE_INT_H

#include "internal.h"
#include "run.h"
#include "wal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum {
  MT_STORE_PATH_CAP = 4096,
  MT_STORE_PEND_MAX = 4,    /* flushed memtables waiting for the sync thread */
  MT_STORE_PARK_MAX = 8,    /* retired segments' logs kept open for recycling */
  MT_STORE_RECYCLE_MAX = 2, /* obsolete segments' logs ready for the next freezes */
  MT_STORE_WAIT_SLOTS = 32, /* condition variables the writers wait on (store.c) */
};

typedef struct waiter {
  mt_slice body; /* encoded entries (a BATCH record's body) */
  uint32_t count;
  bool barrier; /* an exclusive section, not a write */
  bool done;
  bool led;     /* its group was taken over by the writer that completed it */
  unsigned slot; /* it waits on the store's wait_cv[slot] */
  int status;
  uint64_t seq; /* first seq of the batch, given by the leader */
  struct waiter *next;
} waiter;

/* A flushed memtable whose run is published but not yet durable (or that
 * had no run: its segments still wait for the ones before it). */
typedef enum pend_stage {
  PEND_WRITTEN, /* written and verified, w open */
  PEND_BAD,     /* its fdatasync or close failed: to be written again */
  PEND_SYNCED,  /* synced and closed, under its .tmp name */
  PEND_RENAMED, /* under its final name; the directory sync is left */
} pend_stage;
typedef struct pending_run {
  mt_run *run;         /* in the run list (its ref); NULL: no run */
  mt_run_writer *w;    /* PEND_WRITTEN only */
  uint64_t number;     /* the run's number */
  uint64_t seg_limit;  /* the flushed memtable's */
  pend_stage stage;
} pending_run;

/* A frozen memtable and where its data lives in the WAL. */
typedef struct frozen {
  mt_memtable *m;
  uint64_t seg_limit; /* segments below it hold only data of this and older memtables */
  uint64_t max_seq;   /* the last seq it holds */
} frozen;

struct mt_store {
  char *dir; /* NULL: memory only */
  char *rep;
  mt_comparator cmp;
  const char *cmp_name;
  mt_sync sync;
  mt_recovery recovery;
  const mt_flush_sink *sink; /* NULL: sorted runs in dir (or dropped without a dir) */
  void *sink_ctx;
  size_t memtable_bytes;
  unsigned max_immutable, max_runs;

  pthread_mutex_t mu;
  waiter *head, *tail;
  uint64_t next_seq;
  int failed;
  char fail_msg[256];

  mt_wal_writer *wal;     /* owned by the head of the queue */
  uint64_t first_segment; /* oldest live segment (sync thread after open) */

  /* view_mu guards everything down to `recycled` */
  pthread_mutex_t view_mu;
  pthread_cond_t work_cv; /* to the flush thread: a frozen memtable, room in pend or the runs, a kick, stop */
  pthread_cond_t room_cv; /* from the flush and sync threads: progress, or a failed attempt */
  pthread_cond_t merge_cv; /* to the merge thread: a run became durable, stop */
  pthread_cond_t sync_cv;  /* to the sync thread: a flushed memtable, a retired segment, stop */
  mt_memtable *active;
  mt_arena_pool *arenas; /* a flushed memtable's arena for the next (thread-safe) */
  frozen *imm; /* oldest first */
  size_t nimm, imm_cap;
  mt_run **runs; /* oldest first */
  size_t nruns, runs_cap;
  size_t ndurable; /* runs[0 .. ndurable) are durable; the rest are pend's, in its order */
  pending_run pend[MT_STORE_PEND_MAX]; /* oldest first: appended by the flush thread, */
  size_t npend;                        /* worked on and removed by the sync thread */
  bool syncing;       /* the sync thread is at work on pend[0] (through its segments) */
  bool flusher_done;  /* the flush thread has exited: the sync thread drains and exits */
  bool stop;                /* close: drain what flushes, then exit */
  bool kick;                /* mt_store_flush: retry now, skip the backoff */
  bool kick_sync;           /* the same for the sync thread */
  bool sync_failed;         /* the sync thread's last try failed */
  bool flushing;            /* the flush thread is in a flush */
  bool merge_failed;        /* the merge thread's last try failed */
  uint64_t err_gen;         /* failed flush and sync attempts so far */
  int flush_rc;             /* status of the last failed attempt */
  char flush_msg[256];      /* and its message */
  uint64_t stalls, stall_ns, flush_errors, merges;
  uint64_t next_run;        /* number of the next run file */
  mt_wal_writer *retired;   /* a segment a MT_SYNC_NONE freeze left, to close */
  mt_file *recycled[MT_STORE_RECYCLE_MAX]; /* obsolete segments' logs, to write the next ones over */
  size_t nrecycled;

  pthread_mutex_t flush_mu; /* serialises mt_store_flush and close */
  _Atomic bool closing; /* a merge in progress gives up (relaxed: only a hint) */
  pthread_t thread, merger, syncer;
  bool thread_started, merger_started, syncer_started;
  uint64_t covered_seq; /* every seq <= it is in the runs (or the user sink) */
  mt_file *parked[MT_STORE_PARK_MAX]; /* the sync thread's: retired segments' logs, kept open */
  uint64_t parked_n[MT_STORE_PARK_MAX]; /* and their segment numbers */
  size_t nparked;

  _Atomic uint64_t visible_seq;
  _Atomic uint64_t segment; /* number of the segment written now (stats) */
  _Atomic uint64_t wal_bytes, wal_syncs, groups, writes, flushes;
  uint64_t recovered, dropped;

  pthread_condattr_t cv_attr; /* CLOCK_MONOTONIC for timed waits */
  waiter *gathering;          /* a leader waiting for its group (under mu) */
  pthread_cond_t wait_cv[MT_STORE_WAIT_SLOTS]; /* writers wait here (store.c) */
  unsigned next_slot;         /* the next waiter's slot (under mu) */
  uint32_t to_wake;           /* slots to broadcast once mu is released (under mu) */
  unsigned last_group;        /* writers in the last group (under mu) */
  uint64_t sync_ns;           /* moving average of one fdatasync (under mu) */
};

/* store.c */
uint64_t mt_store_mono_ns_(void);
void mt_store_seg_path_(const mt_store *s, char *buf, uint64_t number, const char *suffix);
void mt_store_run_path_(const mt_store *s, char *buf, uint64_t number, const char *suffix);
int mt_store_remove_segments_(mt_store *s, uint64_t from, uint64_t to);
int mt_store_exclusive_begin_(mt_store *s, waiter *w);
void mt_store_exclusive_end_(mt_store *s, waiter *w);
/* REQUIRES: the head of the queue.  The active memtable joins the frozen
 * list (newest), a new memtable and a new segment take its place. */
int mt_store_switch_memtable_(mt_store *s);
/* The sync thread's part of a MT_SYNC_NONE freeze: keeps the retired
 * segment's log open for reuse once the segment is obsolete (store.c
 * invariant 9), or closes it; a failure fails the store for good. */
void mt_store_park_retired_(mt_store *s, mt_wal_writer *retired);
const mt_comparator *mt_store_cmp_(const mt_store *s);
/* Puts the store in its failed state (store.c invariant 3) with rc and
 * mt_last_error(); takes mu. */
void mt_store_fail_(mt_store *s, int rc);

/* store_flush.c */
int mt_store_start_flusher_(mt_store *s);
void mt_store_stop_flusher_(mt_store *s);
/* The sequence number a user sink's flushes reached (the FLUSHED file in
 * dir), 0 without one; MT_ECORRUPT if it is damaged. */
int mt_store_read_flushed_(mt_store *s, uint64_t *seq);

/* store_iter.c: a raw merge (every version, internal order) over runs. */
int mt_store_merge_runs_iter_(mt_iter **out, const mt_comparator *cmp, mt_run **runs, size_t n);

#endif
