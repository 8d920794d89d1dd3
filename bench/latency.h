/* latency.h -- per-operation latency recording for the workloads: one
 * log-linear histogram per operation type (HdrHistogram-like) and a time
 * series of 10 ms intervals, per thread, merged by the harness after the
 * workload returns.
 *
 * Histogram: values in ns; 0..63 exact, above that every power of two
 * [2^k, 2^(k+1)) is split into 32 linear sub-buckets (width 2^(k-5)).  A
 * percentile is reported as its bucket's midpoint, clamped to the exact min
 * and max seen: at most 1/64 (1.6%) from the true order statistic.  Values
 * of 2^40 ns (18 minutes) and above land in the last bucket (max stays
 * exact).
 *
 * Workload side (see the contract in /work/notes/issue11.md):
 *   wl_lat *lat = wl_lat_open(out);           before the timed loop, per thread
 *   uint64_t t = wl_ns();                     then, per op:
 *   <op>; uint64_t e = wl_ns(); wl_lat_record(lat, WL_OP_READ, t, e); t = e;
 * Harness side: mtw_run gives out a recorder set (unless cfg.no_latency);
 * after the run, mtw_lat_summarize merges every recorder of out into
 * per-op percentiles and a time series; mtw_result_free releases them.
 *
 * Thread safety: wl_lat_open may be called from several threads of one
 * workload at once (the set's mutex guards its list of recorders).  A
 * recorder is written only by the thread that opened it.  The harness reads
 * recorders only after the workload's run returned, i.e. after it joined
 * its threads (pthread_join orders every recorder write before the read).
 *
 * Invariants:
 *  1. A recorder's count[op] equals the sum of its hist[op] buckets: every
 *     recorded value lands in exactly one total bucket, and in one bucket of
 *     the interval in which it ended.
 *  2. Flushed intervals of one recorder are in increasing interval order;
 *     the current interval is flushed by the harness (mtw_lat_summarize).
 *  3. wl_lat_record(NULL, ...) and wl_lat_open on a result without a set are
 *     no-ops / NULL, so a workload never checks whether latency is on.
 */
#ifndef MTBENCH_LATENCY_H
#define MTBENCH_LATENCY_H

#include "workloads.h"

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wl_op {
  WL_OP_INSERT,
  WL_OP_READ,
  WL_OP_UPDATE,
  WL_OP_DELETE,
  WL_OP_SCAN,
  WL_OP_RMW,
  WL_OP_KINDS
} wl_op;

typedef struct wl_lat wl_lat; /* one thread's recorder */

/* CLOCK_MONOTONIC in ns (~26 ns a call on this project's VM, kvm-clock). */
static inline uint64_t wl_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A recorder for the calling thread, owned by `out` (freed/merged by the
 * harness after run returns); safe to call from several threads of one
 * workload.  NULL on ENOMEM or when latency recording is off --
 * wl_lat_record(NULL, ...) is a no-op. */
wl_lat *wl_lat_open(mtw_result *out);
/* Records one op of kind op that took end_ns - start_ns. */
void wl_lat_record(wl_lat *l, wl_op op, uint64_t start_ns, uint64_t end_ns);
/* Records n ops of kind op that together took end_ns - start_ns, each as
 * the mean (for ops too short to time one by one: scan's entries). */
void wl_lat_record_n(wl_lat *l, wl_op op, uint64_t start_ns, uint64_t end_ns, uint64_t n);
/* wl_ns() when l records, else 0 (a loop's clock reads cost nothing when
 * latency is off: --no-latency measures the overhead). */
static inline uint64_t wl_lat_now(const wl_lat *l) { return l ? wl_ns() : 0; }
/* Records an op of type op that ran from *t until now, and moves *t to now:
 * where the next op starts, so a loop reads the clock once per op. */
static inline void wl_lat_lap(wl_lat *l, wl_op op, uint64_t *t) {
  uint64_t e = wl_lat_now(l);
  wl_lat_record(l, op, *t, e);
  *t = e;
}

/* ---- harness side ----------------------------------------------------------- */

const char *wl_op_name(wl_op op); /* "insert", "read", ... */

/* Gives out an empty recorder set with time series intervals of
 * interval_ms (mtw_run calls it); 0 or -1 on ENOMEM (latency then off). */
int mtw_lat_begin(mtw_result *out, uint32_t interval_ms);
/* Frees out's recorders (out->lat = NULL).  Safe on a result without any. */
void mtw_result_free(mtw_result *out);

#define MTW_LAT_NQ 6 /* p50, p90, p99, p99.9, p99.99, max */
extern const double mtw_lat_q[MTW_LAT_NQ];     /* 0.5 ... 1.0 */
extern const char *const mtw_lat_qname[MTW_LAT_NQ]; /* "p50" ... "max" */

typedef struct mtw_lat_stats {
  uint64_t count;
  double q[MTW_LAT_NQ]; /* ns, by mtw_lat_q */
  double mean;          /* ns */
} mtw_lat_stats;

typedef struct mtw_lat_point { /* one op type in one interval */
  uint32_t t_ms;               /* interval start, from the first wl_lat_open */
  uint8_t op;
  uint64_t ops;
  double p50, p99, max; /* ns */
} mtw_lat_point;

typedef struct mtw_lat_summary {
  mtw_lat_stats op[WL_OP_KINDS]; /* count 0: op not seen */
  mtw_lat_stats all;             /* every op merged */
  mtw_lat_point *points;         /* by (t_ms, op) */
  size_t npoints;
  uint32_t interval_ms;
} mtw_lat_summary;

/* Merges every recorder of r into s (s->points malloc'd; free with
 * mtw_lat_summary_free).  0; -1, with nothing to free, on ENOMEM or when r
 * recorded nothing. */
int mtw_lat_summarize(mtw_result *r, mtw_lat_summary *s);
void mtw_lat_summary_free(mtw_lat_summary *s);

/* The histogram's bucket of v and a bucket's [low, low + width) (tests). */
unsigned wl_lat_bucket(uint64_t v);
uint64_t wl_lat_bucket_low(unsigned b, uint64_t *width);

#ifdef __cplusplus
}
#endif

#endif /* MTBENCH_LATENCY_H */
