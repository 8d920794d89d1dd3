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
 *  3. rep_error[r][0] != 0 means the rep could not run at all (e.g. its
 *     spec is unknown); every cell of that rep carries the same error.
 */
#ifndef MTBENCH_MTBENCH_H
#define MTBENCH_MTBENCH_H

#include "workloads.h"

#include <stdbool.h>
#include <stddef.h>

#define MTB_MAX_REPS 32
#define MTB_MAX_WLS 32
#define MTB_MAX_RUNS 32

typedef struct mtb_run_fig {
  double ns_per_op, ops_per_s, bytes_per_entry, seconds;
  uint64_t ops, want;
  int ncounters;
  char cname[MTW_MAX_COUNTERS][24];
  double cvalue[MTW_MAX_COUNTERS];
} mtb_run_fig;

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
  char default_rep[64];              /* mt_rep_names()[0] */
  const char *mix_text;              /* --mix as given, for the fit verdict */
} mtb_grid;

/* Median of the cell's runs (ns/op, ops/s, bytes/entry); false if none. */
bool mtb_cell_median(const mtb_cell *c, double *ns, double *ops_s, double *bytes);

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

#endif /* MTBENCH_MTBENCH_H */
