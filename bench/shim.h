/* shim.h -- the C face of the Google Benchmark shim (shim.cc).
 *
 * mtb_register makes every (rep x workload) pair a Google Benchmark named
 * "<rep spec>/<workload>", run once per repetition (Iterations(1), manual
 * time = the workload's timed region) with counters ns/op, ops/s (a rate
 * counter), bytes/entry, the workload's own figures and, per op type seen,
 * "<op>_p50_ns" ... "<op>_max_ns" (last repetition's latency percentiles).  mtb_run parses the
 * Google Benchmark flags (--benchmark_filter, --benchmark_repetitions,
 * --benchmark_out, ...) and runs what is registered.
 *
 * Thread safety: call from one thread; benchmarks run on that thread (the
 * workloads start their own threads).  Hooks are called on that thread.
 */
#ifndef MTBENCH_SHIM_H
#define MTBENCH_SHIM_H

#include "latency.h"
#include "workloads.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mtb_hooks {
  /* Before each run of a workload (once per repetition). */
  void (*begin)(void *ctx, const char *spec, const char *workload);
  /* After it, with its figures or its error, and its merged latencies
   * (NULL when none were recorded). */
  void (*done)(void *ctx, const char *spec, const char *workload, const mtw_result *r,
               const mtw_lat_summary *lat);
  void *ctx;
} mtb_hooks;

/* Registers spec x workload for every pair, rep-major; the arrays and the
 * config are copied.  hooks may be NULL.  Returns the number registered. */
size_t mtb_register(const char *const *specs, size_t nspecs, const mtw_workload *const *wls,
                    size_t nwl, const mtw_config *cfg, const mtb_hooks *hooks);

/* Parses Google Benchmark's flags out of argv (argv[0] is the program) and
 * runs the registered benchmarks.  quiet: no console report (files named by
 * --benchmark_out are still written).  Returns the number of benchmarks run,
 * or -1 after printing what was wrong with a flag. */
long mtb_run(int argc, char **argv, bool quiet);

#ifdef __cplusplus
}
#endif

#endif /* MTBENCH_SHIM_H */
