/* mtbench.h -- what mtbench.c (flags, runs each rep in a child process) and
 * report.c (table, verdict, CSV, merged JSON, plot) share: the grid of
 * results, one cell per (rep, workload).
 *
 * Thread safety: single-threaded (the parent process).
 *
 * Invariants:
 *  1. cell.nruns <= MTB_MAX_RUNS; runs[0..nruns) are successful repetitions.
 *  2. cell.error[0] != 0 means the workload failed or crashed for that rep;
 *     such a cell counts as no figure anywhere (table, verdict, plot).
 *  3. A rep that cannot run at all (e.g. its spec is unknown) has the
 *     same error in every one of its cells.
 *  4. runs[i].lat_mask has bit op exactly when runs[i].lat[op].count > 0;
 *     ts[0..nts) rows name a rep < nreps, a workload < nwls and the run
 *     index their cell's D line gave (a failed run's points may remain).
 *  5. mem[r].done once rep r's probe reported (or its child died: error).
 */
#ifndef MTBENCH_MTBENCH_H
#define MTBENCH_MTBENCH_H

#include "latency.h"
#include "workloads.h"

#include <stdbool.h>
#include <stddef.h>

#define MTB_MAX_REPS 32
#define MTB_MAX_WLS 64
#define MTB_MAX_RUNS 32

typedef struct mtb_run_fig {
  double ns_per_op, ops_per_s, bytes_per_entry, seconds;
  uint64_t ops, want;
  int ncounters;
  char cname[MTW_MAX_COUNTERS][24];
  double cvalue[MTW_MAX_COUNTERS];
  unsigned lat_mask;              /* bit op: lat[op] holds figures */
  mtw_lat_stats lat[WL_OP_KINDS]; /* per op type */
  mtw_lat_stats lat_all;          /* every op merged (count 0: none) */
} mtb_run_fig;

typedef struct mtb_ts_row { /* one time series point of one run */
  uint16_t rep, wl, run;    /* run: index into the cell's runs */
  mtw_lat_point p;
} mtb_ts_row;

typedef struct mtb_mem { /* the memory probe of one rep (in its own child) */
  bool done;
  char error[200];
  uint64_t n;               /* entries of the fill */
  double lib_bpe, rss_bpe;  /* bytes/entry: memory_usage, resident-set growth */
  uint64_t budget;          /* bytes */
  uint64_t budget_entries;  /* entries added while memory_usage <= budget */
} mtb_mem;

/* Fills a fresh memtable of spec with n random keys (untimed) and measures
 * its memory two ways, then fills another until memory_usage would pass
 * budget.  Runs in a child of its own (a clean heap).  0, or -1 with
 * out->error set (memprobe.c). */
int mtb_memory_probe(const char *spec, const mtw_config *c, uint64_t budget, mtb_mem *out);

typedef struct mtb_cell {
  int nruns;
  mtb_run_fig runs[MTB_MAX_RUNS];
  char error[256];
} mtb_cell;

typedef enum mtb_mode { MODE_TABLE, MODE_FIT, MODE_TRACE } mtb_mode;

typedef struct mtb_grid {
  mtb_mode mode;
  mtw_config cfg;
  size_t nreps, nwls;
  char specs[MTB_MAX_REPS][256];     /* as given (--reps or mt_rep_names) */
  const mtw_workload *wls[MTB_MAX_WLS];
  char wl_names[MTB_MAX_WLS][64];    /* display names */
  mtb_cell cells[MTB_MAX_REPS][MTB_MAX_WLS];
  mtb_mem mem[MTB_MAX_REPS];         /* memory probes (when run) */
  mtb_ts_row *ts;                    /* time series of every run, malloc'd */
  size_t nts, capts;
  bool debug_build;                  /* a build warning was printed at start
                                        (results.json's mtbench_build says so) */
  char default_rep[64];              /* mt_rep_names()[0] */
  const char *mix_text;              /* --mix as given, for the fit verdict */
} mtb_grid;

/* Median of the cell's runs (ns/op, ops/s, bytes/entry); false if none. */
bool mtb_cell_median(const mtb_cell *c, double *ns, double *ops_s, double *bytes);
/* Median and coefficient of variation (stddev / mean, 0 for one run) of
 * the cell's ops/s; false if none. */
bool mtb_cell_cv(const mtb_cell *c, double *median_ops_s, double *cv);
/* Median over the cell's runs of latency quantile q (index into
 * mtw_lat_q) of op (WL_OP_KINDS: every op merged); false if none. */
bool mtb_cell_lat(const mtb_cell *c, int op, int q, double *ns);

void mtb_print_table(const mtb_grid *g);    /* stdout */
void mtb_print_verdict(const mtb_grid *g);  /* stdout; every mode */
/* Writes dir/results.csv, dir/plot.dat, dir/plot_mem.dat and draws
 * dir/plot.svg with gnuplot (script: plot_script); 0, or -1 after saying
 * on stderr what could not be written (the rest is still written).  A plot
 * that could not be drawn (no gnuplot) is said on stderr and returns 0. */
int mtb_write_files(const mtb_grid *g, const char *dir, const char *plot_script);
/* Merges Google Benchmark JSON parts into `path`, adding an error entry for
 * every failed cell no part reported; 0 or -1. */
int mtb_merge_json(const mtb_grid *g, const char *path, char parts[][512], size_t nparts);
/* The gnuplot script `name`: `given` if set, else beside mtbench, else in
 * the source tree (MTB_SCRIPT_DIR); NULL if none is readable. */
const char *mtb_find_script(const char *given, const char *name, char *buf, size_t cap);
/* Runs gnuplot -e expr script, which draws svg from data; 0, or -1 after
 * saying on stderr why svg is missing (no script, no gnuplot, an error). */
int mtb_gnuplot(const char *script, const char *expr, const char *svg, const char *data);

/* ---- sweeps (sweep.c) ---- */
#define MTB_MAX_SWEEP 16
typedef struct mtb_sweep {
  char param[96];       /* num, value-size, key-size, threads, or rep.param */
  char rep[64];         /* rep name of a rep.param sweep, else "" */
  char values[MTB_MAX_SWEEP][64];
  size_t nvalues;
} mtb_sweep;
/* Parses "PARAM=v1,v2,..."; 0, or -1 after saying why on stderr. */
int mtb_sweep_parse(const char *text, mtb_sweep *s);
/* Sets up grid g (a copy of base: reps, workloads, config) for value k:
 * a config field, or the rep parameter in every spec of that rep (other
 * reps are dropped from g).  0, or -1 after saying why on stderr. */
int mtb_sweep_apply(const mtb_sweep *s, size_t k, const mtb_grid *base, mtb_grid *g);
/* Prints the sweep's tables and writes dir/sweep_<param>.csv, .dat and
 * .svg (dir NULL: tables only; the script is sweep.gp, found as
 * mtb_find_script finds it).  grids[k] is value k's grid. */
int mtb_sweep_report(const mtb_sweep *s, mtb_grid *const *grids, const mtb_grid *base,
                     const char *dir);

#endif /* MTBENCH_MTBENCH_H */
