/* workloads.h -- the benchmark workloads, defined once in C and driven by
 * both front ends (the Google Benchmark shim and mtbench).
 *
 * A workload runs against one rep (a spec string) through the public API
 * only (mt_memtable_*, mt_iter_*).  Keys, values and operation sequences are
 * generated before the timed region; the timed region holds only calls into
 * the memtable (and, for scans, one byte read per entry).
 *
 * The standard workload is ../shared/WORKLOAD.md: the same keys, values,
 * sequence numbers and operation order as shared/anchors/workload.h, so our
 * figures line up with the anchors.  Key i (random order) is
 *   be64(mix(i) % P) || be64(mix(i ^ 0x5bd1e995)) [|| tail up to key_size]
 * with mix = splitmix64's finaliser, P = prefixes; the sequential key i is
 * be64(0) || be64(i); the missing key i uses salt 0xdeadbeefcafe.  Value i is
 * value_size bytes 'a' + (mix(i) + k) % 26.  Entry i has seq i + 1, kind PUT.
 *
 * Thread safety: an mtw_ctx is used by one thread at a time (workloads start
 * their own threads inside run and join them before returning).
 *
 * Invariants:
 *  1. A workload never aborts the process on a rep's failure: every error
 *     (a failing add, a missing key, a short scan) lands in result->error
 *     and run returns a negative status.
 *  2. result->ops <= result->want; ops < want only when the time cap
 *     (config.cap_s per timed phase) stopped the loop.
 *  3. The fixture (a filled, frozen memtable) shared by the read workloads
 *     is built by fillrandom, or by an untimed fill when fillrandom did not
 *     run first, and is never written after its freeze.
 */
#ifndef MTBENCH_WORKLOADS_H
#define MTBENCH_WORKLOADS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mtw_dist { MTW_UNIFORM, MTW_ZIPF, MTW_SEQ } mtw_dist;

typedef struct mtw_mix { /* percents of operations; sum 100 */
  int read, write, scan;
} mtw_mix;

typedef struct mtw_config {
  uint64_t num;       /* N: entries per memtable (standard: 1,000,000) */
  uint64_t prefixes;  /* P: distinct 8-byte key prefixes (10,000) */
  size_t key_size;    /* bytes, 16..4096 (16) */
  size_t value_size;  /* bytes (100) */
  int threads;        /* writer threads of fillrandom_Nthreads (2) */
  mtw_dist dist;      /* key choice of reads, seeks and mixes (uniform) */
  double zipf_theta;  /* skew of MTW_ZIPF and zipfread (0.99) */
  double cap_s;       /* seconds one timed phase may take (20) */
  mtw_mix mix;        /* the `mix` workload (read:70,write:25,scan:5) */
  int scan_len;       /* entries read by one scan of a mix (10) */
  int versions;       /* versions per key in updateheavy (16) */
  const char *trace;  /* operation log replayed by `trace` (NULL: none) */
  int anchor_gen;     /* fills generate each key and value inside the timed
                         loop, as shared/anchors does (0: before it) */
  uint64_t seed;      /* salts every random choice except the standard
                         workloads' (which keep the anchors' sequences) */
  int no_latency;     /* 1: no per-op latency recording (latency.h) */
  int interval_ms;    /* time series step of the latency recorders (10) */
  double nearsort_k;  /* nearsorted: percent of keys displaced (10) */
  uint64_t nearsort_l; /* nearsorted: most positions a key moves (100) */
} mtw_config;

void mtw_config_default(mtw_config *c);

#define MTW_MAX_COUNTERS 6
typedef struct mtw_result {
  double seconds;         /* length of the timed region */
  uint64_t ops;           /* operations done in it */
  uint64_t want;          /* operations asked for */
  double bytes_per_entry; /* memory_usage / entries after the fill; 0: n/a */
  int ncounters;          /* workload-specific figures, e.g. a reader's rate */
  struct {
    const char *name;
    double value;
  } counters[MTW_MAX_COUNTERS];
  char error[256]; /* "" on success */
  struct wl_lat_set *lat; /* per-op latency recorders (latency.h), set by
                             mtw_run; the caller frees them: mtw_result_free */
} mtw_result;

typedef struct mtw_ctx mtw_ctx; /* one rep's keys, fixtures and parsed trace */

typedef struct mtw_workload {
  const char *name;  /* fillrandom_Nthreads is shown with N = threads */
  const char *group; /* "standard", "extended", "research" or "trace" */
  const char *what;  /* one line: what one op is and what is timed */
  int (*run)(mtw_ctx *ctx, const struct mtw_workload *w, mtw_result *out);
  size_t key_size;   /* 0: config's */
  size_t value_size; /* 0: config's */
  mtw_mix mix;       /* all 0: config's */
} mtw_workload;

/* Every workload, standard ones first, in table order. */
const mtw_workload *mtw_workloads(size_t *count);
const mtw_workload *mtw_find(const char *name); /* display or template name */
/* The name shown for w under c (fillrandom_Nthreads -> fillrandom_2threads). */
const char *mtw_display_name(const mtw_workload *w, const mtw_config *c, char *buf,
                             size_t cap);

/* A context for one rep (spec NULL: the default rep).  MT_OK, or an error
 * with a message in err. */
int mtw_ctx_new(mtw_ctx **out, const char *spec, const mtw_config *c, char *err, size_t cap);
void mtw_ctx_free(mtw_ctx *ctx);
const char *mtw_ctx_spec(const mtw_ctx *ctx); /* canonical spec of the rep */

/* Runs w once.  0, or a negative status with out->error set.  out gets a
 * latency recorder set unless cfg.no_latency: release it with
 * mtw_result_free (latency.h) after reading it (mtw_lat_summarize). */
int mtw_run(mtw_ctx *ctx, const mtw_workload *w, mtw_result *out);

/* Parses "read:70,write:25,scan:5" (missing kinds are 0, sum must be 100). */
int mtw_parse_mix(const char *s, mtw_mix *out, char *err, size_t cap);

/* A trace: one op per line (see docs/bench.md).  Loads and validates it;
 * 0, or -1 with "file:line: what" in err. */
typedef struct mtw_trace mtw_trace;
int mtw_trace_load(mtw_trace **out, const char *path, char *err, size_t cap);
void mtw_trace_free(mtw_trace *t);
uint64_t mtw_trace_ops(const mtw_trace *t);
/* Writes `n` ops of mix m (keys by dist) as a trace file; 0 or -1. */
int mtw_trace_write(const char *path, const mtw_config *c, char *err, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* MTBENCH_WORKLOADS_H */
