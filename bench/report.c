/* report.c -- mtbench's outputs from the result grid: the table (reps as
 * rows, workloads as columns, '*' on each column's winner, each cell's CV,
 * the memory probe's columns), the throughput-and-p99 table, the per-op
 * latency listing, the ranking of --fit and --trace, the verdict,
 * results.csv, summary.csv, latency.csv, timeseries.csv (+ its plot), the
 * merged Google Benchmark JSON (with the percentile entries) and the bar
 * plot.
 *
 * Thread safety: single-threaded (the parent process).
 *
 * Invariants:
 *  1. Figures are medians over a cell's successful runs; a cell with an
 *     error shows ERR and takes no part in winners, ranks or plots.
 *  2. The verdict ranks first the reps that have a figure in every column;
 *     a rep with an error anywhere is never called the best fit.
 *  3. A missing gnuplot or plot script is reported and costs only plot.svg
 *     (mtbench still exits 0).
 */
#define _POSIX_C_SOURCE 200809L
#include "mtbench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool mtb_cell_median(const mtb_cell *c, double *ns, double *ops_s, double *bytes) {
  if (c->error[0] || c->nruns == 0) return false;
  double a[MTB_MAX_RUNS], b[MTB_MAX_RUNS], m[MTB_MAX_RUNS];
  for (int i = 0; i < c->nruns; i++) {
    a[i] = c->runs[i].ns_per_op;
    b[i] = c->runs[i].ops_per_s;
    m[i] = c->runs[i].bytes_per_entry;
  }
  if (ns) *ns = median(a, c->nruns);
  if (ops_s) *ops_s = median(b, c->nruns);
  if (bytes) *bytes = median(m, c->nruns);
  return true;
}

bool mtb_cell_cv(const mtb_cell *c, double *median_ops_s, double *cv) {
  if (c->error[0] || c->nruns == 0) return false;
  double v[MTB_MAX_RUNS], mean = 0, ss = 0;
  for (int i = 0; i < c->nruns; i++) mean += v[i] = c->runs[i].ops_per_s;
  mean /= c->nruns;
  for (int i = 0; i < c->nruns; i++) ss += (v[i] - mean) * (v[i] - mean);
  /* sample standard deviation (n - 1) over the mean */
  if (cv) *cv = c->nruns > 1 && mean > 0 ? sqrt(ss / (c->nruns - 1)) / mean : 0;
  if (median_ops_s) *median_ops_s = median(v, c->nruns);
  return true;
}

bool mtb_cell_lat(const mtb_cell *c, int op, int q, double *ns) {
  if (c->error[0] || c->nruns == 0) return false;
  double v[MTB_MAX_RUNS];
  int n = 0;
  for (int i = 0; i < c->nruns; i++) {
    const mtw_lat_stats *st = op < WL_OP_KINDS ? &c->runs[i].lat[op] : &c->runs[i].lat_all;
    if (st->count) v[n++] = st->q[q];
  }
  if (!n) return false;
  *ns = median(v, n);
  return true;
}

static bool capped(const mtb_cell *c) {
  for (int i = 0; i < c->nruns; i++)
    if (c->runs[i].ops < c->runs[i].want) return true;
  return false;
}

static void fmt_ns(char *buf, size_t cap, double v) {
  if (v < 10) snprintf(buf, cap, "%.2f", v);
  else if (v < 1000) snprintf(buf, cap, "%.1f", v);
  else snprintf(buf, cap, "%.0f", v);
}

static void fmt_rate(char *buf, size_t cap, double v) {
  if (v >= 1e9) snprintf(buf, cap, "%.2fG", v / 1e9);
  else if (v >= 1e6) snprintf(buf, cap, "%.2fM", v / 1e6);
  else if (v >= 1e3) snprintf(buf, cap, "%.1fk", v / 1e3);
  else snprintf(buf, cap, "%.1f", v);
}

/* The rep's memory figure: fillrandom's bytes/entry if it ran, else the
 * first workload that measured one (its name in *from, when from is set). */
static bool rep_bytes(const mtb_grid *g, size_t r, double *out, const char **from) {
  for (int pass = 0; pass < 2; pass++)
    for (size_t w = 0; w < g->nwls; w++) {
      double b;
      if (pass == 0 && strcmp(g->wls[w]->name, "fillrandom")) continue;
      if (mtb_cell_median(&g->cells[r][w], NULL, NULL, &b) && b > 0) {
        *out = b;
        if (from) *from = g->wl_names[w];
        return true;
      }
    }
  return false;
}

static size_t rep_width(const mtb_grid *g) {
  size_t w = 4;
  for (size_t r = 0; r < g->nreps; r++)
    if (strlen(g->specs[r]) > w) w = strlen(g->specs[r]);
  return w;
}

static void print_errors(const mtb_grid *g) {
  bool header = false;
  for (size_t r = 0; r < g->nreps; r++) {
    bool same = g->nwls > 1;
    for (size_t w = 0; w < g->nwls; w++)
      same &= !strcmp(g->cells[r][w].error, g->cells[r][0].error) && g->cells[r][w].error[0];
    for (size_t w = 0; w < g->nwls; w++) {
      const char *e = g->cells[r][w].error;
      if (!e[0]) continue;
      if (!header) printf("errors (the run went on without these cells):\n");
      header = true;
      if (same) {
        printf("  %s (every workload): %s\n", g->specs[r], e);
        break;
      }
      printf("  %s/%s: %s\n", g->specs[r], g->wl_names[w], e);
    }
  }
}

static void fmt_counter(char *buf, size_t cap, double v) {
  if (v < 1000) snprintf(buf, cap, "%.3g", v);
  else fmt_rate(buf, cap, v);
}

/* Workload-specific figures of each cell's last run; a figure that every
 * rep shares (e.g. a mix's read count) is printed once per workload. */
static void print_counters(const mtb_grid *g) {
  bool header = false;
  for (size_t w = 0; w < g->nwls; w++) {
    const mtb_run_fig *first = NULL;
    bool same[MTW_MAX_COUNTERS];
    for (int i = 0; i < MTW_MAX_COUNTERS; i++) same[i] = true;
    for (size_t r = 0; r < g->nreps; r++) {
      const mtb_cell *c = &g->cells[r][w];
      if (c->error[0] || !c->nruns) continue;
      const mtb_run_fig *f = &c->runs[c->nruns - 1];
      if (!first) first = f;
      for (int i = 0; i < f->ncounters; i++)
        same[i] &= i < first->ncounters && f->cvalue[i] == first->cvalue[i];
    }
    if (!first || !first->ncounters) continue;
    if (!header) printf("workload figures (last run):\n");
    header = true;
    bool any_same = false, any_diff = false;
    for (int i = 0; i < first->ncounters; i++) {
      any_same |= same[i];
      any_diff |= !same[i];
    }
    char v[32];
    if (any_same) {
      printf("  %s, every rep:", g->wl_names[w]);
      for (int i = 0; i < first->ncounters; i++)
        if (same[i]) {
          fmt_counter(v, sizeof v, first->cvalue[i]);
          printf(" %s=%s", first->cname[i], v);
        }
      printf("\n");
    }
    for (size_t r = 0; r < g->nreps && any_diff; r++) {
      const mtb_cell *c = &g->cells[r][w];
      if (c->error[0] || !c->nruns) continue;
      const mtb_run_fig *f = &c->runs[c->nruns - 1];
      printf("  %s/%s:", g->specs[r], g->wl_names[w]);
      for (int i = 0; i < f->ncounters; i++)
        if (!same[i]) {
          fmt_counter(v, sizeof v, f->cvalue[i]);
          printf(" %s=%s", f->cname[i], v);
        }
      printf("\n");
    }
  }
}

/* One figure of a cell for a table: false when it has none. */
typedef bool (*cell_fig)(const mtb_cell *c, double *v);

static bool fig_ns(const mtb_cell *c, double *v) { return mtb_cell_median(c, v, NULL, NULL); }
static bool fig_p99(const mtb_cell *c, double *v) { return mtb_cell_lat(c, WL_OP_KINDS, 2, v); }

static bool any_cv(const mtb_grid *g) {
  for (size_t r = 0; r < g->nreps; r++)
    for (size_t w = 0; w < g->nwls; w++)
      if (g->cells[r][w].nruns > 1) return true;
  return false;
}

static bool any_mem(const mtb_grid *g) {
  for (size_t r = 0; r < g->nreps; r++)
    if (g->mem[r].done) return true;
  return false;
}

/* Reps x workloads of fig (lower is better; '*' the column's best), with
 * each cell's CV when with_cv, then the memory columns when with_mem. */
static void print_matrix(const mtb_grid *g, cell_fig fig, bool with_cv, bool with_mem) {
  size_t rw = rep_width(g);
  bool cv = with_cv && any_cv(g), mem = with_mem && any_mem(g);
  printf("%-*s", (int)rw, "rep");
  for (size_t w = 0; w < g->nwls; w++) {
    size_t width = strlen(g->wl_names[w]) > 9 ? strlen(g->wl_names[w]) : 9;
    printf("  %*s", (int)width + 1 + (cv ? 5 : 0), g->wl_names[w]);
  }
  if (with_mem) printf("  %9s", "B/entry");
  if (mem) printf("  %9s  %11s", "RSS B/e", "in budget");
  printf("\n");
  double best[MTB_MAX_WLS], best_b = INFINITY, v, b;
  for (size_t w = 0; w < g->nwls; w++) {
    best[w] = INFINITY;
    for (size_t r = 0; r < g->nreps; r++)
      if (fig(&g->cells[r][w], &v) && v < best[w]) best[w] = v;
  }
  for (size_t r = 0; r < g->nreps; r++)
    if (rep_bytes(g, r, &b, NULL) && b < best_b) best_b = b;
  for (size_t r = 0; r < g->nreps; r++) {
    printf("%-*s", (int)rw, g->specs[r]);
    for (size_t w = 0; w < g->nwls; w++) {
      int width = (int)(strlen(g->wl_names[w]) > 9 ? strlen(g->wl_names[w]) : 9);
      const mtb_cell *c = &g->cells[r][w];
      char cell[64], num[32], cvs[16] = "";
      if (fig(c, &v)) {
        fmt_ns(num, sizeof num, v);
        if (cv && c->nruns > 1) {
          double x;
          mtb_cell_cv(c, NULL, &x);
          snprintf(cvs, sizeof cvs, " %3.0f%%", x * 100 > 999 ? 999 : x * 100);
        } else if (cv) {
          snprintf(cvs, sizeof cvs, "     ");
        }
        snprintf(cell, sizeof cell, "%s%s%s%s", num, capped(c) ? "~" : "", v == best[w] ? "*" : " ",
                 cvs);
      } else {
        snprintf(cell, sizeof cell, "%s %s", c->error[0] ? "ERR" : "-", cv ? "     " : "");
      }
      printf("  %*s", width + 1 + (cv ? 5 : 0), cell);
    }
    if (with_mem) {
      char num[32] = "- ";
      if (rep_bytes(g, r, &b, NULL)) snprintf(num, sizeof num, "%.1f%s", b, b == best_b ? "*" : " ");
      printf(" %10s", num);
    }
    if (mem) {
      const mtb_mem *m = &g->mem[r];
      if (m->done && !m->error[0])
        printf("  %9.1f  %11llu", m->rss_bpe, (unsigned long long)m->budget_entries);
      else
        printf("  %9s  %11s", "ERR", "ERR");
    }
    printf("\n");
  }
}

/* Reps x workloads: median ops/s and the p99 of one op (every op type of
 * the workload merged), side by side. */
static void print_throughput_p99(const mtb_grid *g) {
  size_t rw = rep_width(g);
  printf("\nthroughput and p99 per rep: ops/s and the p99 latency of one op in ns (every op "
         "type of the workload merged), medians of the runs\n");
  printf("%-*s", (int)rw, "rep");
  for (size_t w = 0; w < g->nwls; w++) {
    size_t width = strlen(g->wl_names[w]) > 16 ? strlen(g->wl_names[w]) : 16;
    printf("  %*s", (int)width, g->wl_names[w]);
  }
  printf("\n%-*s", (int)rw, "");
  for (size_t w = 0; w < g->nwls; w++) {
    size_t width = strlen(g->wl_names[w]) > 16 ? strlen(g->wl_names[w]) : 16;
    printf("  %*s %7s", (int)width - 8, "ops/s", "p99");
  }
  printf("\n");
  for (size_t r = 0; r < g->nreps; r++) {
    printf("%-*s", (int)rw, g->specs[r]);
    for (size_t w = 0; w < g->nwls; w++) {
      size_t width = strlen(g->wl_names[w]) > 16 ? strlen(g->wl_names[w]) : 16;
      const mtb_cell *c = &g->cells[r][w];
      char ops[32] = "-", p99[32] = "-";
      double v;
      if (mtb_cell_median(c, NULL, &v, NULL)) fmt_rate(ops, sizeof ops, v);
      else if (c->error[0]) snprintf(ops, sizeof ops, "ERR");
      if (fig_p99(c, &v)) fmt_ns(p99, sizeof p99, v);
      printf("  %*s %7s", (int)width - 8, ops, p99);
    }
    printf("\n");
  }
}

static void print_grid(const mtb_grid *g) {
  bool cv = any_cv(g);
  const char *from = "fillrandom";
  double b;
  for (size_t r = 0; r < g->nreps && !rep_bytes(g, r, &b, &from); r++) {
  }
  printf("\nns/op, median of each cell's runs (lower is better; * best in column, "
         "~ capped by --cap)%s; B/entry after %s (raw data is %zu B)\n",
         cv ? ", then the coefficient of variation of its ops/s" : "", from,
         g->cfg.key_size + g->cfg.value_size + 8);
  print_matrix(g, fig_ns, true, true);
  if (any_mem(g)) {
    const mtb_mem *m = NULL;
    for (size_t r = 0; r < g->nreps && !m; r++)
      if (g->mem[r].done && !g->mem[r].error[0]) m = &g->mem[r];
    if (m)
      printf("RSS B/e: the process's resident-set growth over a fill of %llu keys, per entry "
             "(its own child); in budget: entries added while memory_usage <= %.0f MiB\n",
             (unsigned long long)m->n, (double)m->budget / 1048576.0);
  }
  bool lat = false;
  for (size_t r = 0; r < g->nreps; r++)
    for (size_t w = 0; w < g->nwls; w++) {
      double v;
      lat |= fig_p99(&g->cells[r][w], &v);
    }
  if (lat) print_throughput_p99(g);
  printf("\n");
}

/* Op types with figures in a cell's runs. */
static int cell_ops(const mtb_cell *c) {
  unsigned mask = 0;
  for (int i = 0; i < c->nruns; i++) mask |= c->runs[i].lat_mask;
  return __builtin_popcount(mask);
}

/* Per rep, workload and op type: the latency percentiles (median of runs).
 * A long listing (more than 80 rows, e.g. --workloads=all) keeps only the
 * workloads with several op types; the p99 table has the others. */
static void print_latency(const mtb_grid *g) {
  bool header = false;
  size_t rows = 0, skipped = 0;
  for (size_t w = 0; w < g->nwls; w++)
    for (size_t r = 0; r < g->nreps; r++)
      if (!g->cells[r][w].error[0]) rows += (size_t)cell_ops(&g->cells[r][w]);
  bool only_multi = rows > 80;
  size_t rw = rep_width(g), ww = 8;
  for (size_t w = 0; w < g->nwls; w++)
    if (strlen(g->wl_names[w]) > ww) ww = strlen(g->wl_names[w]);
  for (size_t w = 0; w < g->nwls; w++)
    for (size_t r = 0; r < g->nreps; r++) {
      const mtb_cell *c = &g->cells[r][w];
      if (c->error[0] || !c->nruns) continue;
      if (only_multi && cell_ops(c) < 2) {
        skipped += (size_t)cell_ops(c);
        continue;
      }
      for (int op = 0; op < WL_OP_KINDS; op++) {
        double v;
        if (!mtb_cell_lat(c, op, 0, &v)) continue;
        if (!header) {
          printf("latency per op in ns (median of runs; log-linear histogram, within 1.6%%):\n");
          printf("%-*s  %-*s  %-6s %10s", (int)rw, "rep", (int)ww, "workload", "op", "ops");
          for (int q = 0; q < MTW_LAT_NQ; q++) printf(" %9s", mtw_lat_qname[q]);
          printf("\n");
          header = true;
        }
        printf("%-*s  %-*s  %-6s %10llu", (int)rw, g->specs[r], (int)ww, g->wl_names[w],
               wl_op_name((wl_op)op), (unsigned long long)c->runs[c->nruns - 1].lat[op].count);
        for (int q = 0; q < MTW_LAT_NQ; q++) {
          char num[32];
          mtb_cell_lat(c, op, q, &v);
          fmt_ns(num, sizeof num, v);
          printf(" %9s", num);
        }
        printf("\n");
      }
    }
  if (skipped)
    printf("(%zu rows of single-op workloads left out: their p99 is in the table above, every "
           "percentile in DIR/latency.csv)\n", skipped);
  if (header || skipped) printf("\n");
}

/* --fit / --trace: one workload; reps ranked by ops/s. */
typedef struct ranked {
  size_t rep;
  double ops_s, ns, bytes;
  bool has_bytes;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  return x->ops_s > y->ops_s ? -1 : x->ops_s < y->ops_s;
}

static size_t rank_single(const mtb_grid *g, ranked *out) {
  size_t n = 0;
  for (size_t r = 0; r < g->nreps; r++) {
    ranked k = {r, 0, 0, 0, false};
    if (!mtb_cell_median(&g->cells[r][0], &k.ns, &k.ops_s, &k.bytes)) continue;
    k.has_bytes = k.bytes > 0;
    out[n++] = k;
  }
  qsort(out, n, sizeof *out, cmp_ranked);
  return n;
}

static const char *what_single(const mtb_grid *g, char *buf, size_t cap) {
  if (g->mode == MODE_TRACE) snprintf(buf, cap, "this trace");
  else
    snprintf(buf, cap, "this mix (%s, dist %s)", g->mix_text,
             g->cfg.dist == MTW_ZIPF ? "zipf" : g->cfg.dist == MTW_SEQ ? "seq" : "uniform");
  return buf;
}

static void print_ranking(const mtb_grid *g) {
  ranked k[MTB_MAX_REPS];
  size_t n = rank_single(g, k), rw = rep_width(g);
  char what[160];
  uint64_t nops = g->cfg.num;
  for (size_t r = 0; r < g->nreps && g->mode == MODE_TRACE; r++)
    if (g->cells[r][0].nruns) {
      nops = g->cells[r][0].runs[0].want;
      break;
    }
  printf("\n%s on %s, %llu ops:\n", g->mode == MODE_TRACE ? "replay" : "fit",
         what_single(g, what, sizeof what), (unsigned long long)nops);
  printf("%-4s  %-*s  %10s  %9s  %9s  %5s  %9s\n", "rank", (int)rw, "rep", "ops/s", "ns/op",
         "p99 ns", "CV", "B/entry");
  for (size_t i = 0; i < n; i++) {
    const mtb_cell *c = &g->cells[k[i].rep][0];
    char ops[32], ns[32], p99[32] = "-", cvs[16] = "-";
    double v;
    fmt_rate(ops, sizeof ops, k[i].ops_s);
    fmt_ns(ns, sizeof ns, k[i].ns);
    if (fig_p99(c, &v)) fmt_ns(p99, sizeof p99, v);
    if (c->nruns > 1 && mtb_cell_cv(c, NULL, &v)) snprintf(cvs, sizeof cvs, "%.0f%%", v * 100);
    printf("%-4zu  %-*s  %10s  %9s  %9s  %5s  %9.1f%s\n", i + 1, (int)rw, g->specs[k[i].rep], ops,
           ns, p99, cvs, k[i].bytes, capped(c) ? "  (capped)" : "");
  }
  printf("\n");
}

void mtb_print_table(const mtb_grid *g) {
  if (g->mode == MODE_TABLE) print_grid(g);
  else print_ranking(g);
  print_latency(g);
  print_counters(g);
  print_errors(g);
}

/* The rep to compare the winner with: the default rep, or the runner-up
 * when the winner is the default. */
static size_t compare_with(const mtb_grid *g, const size_t *order, size_t n) {
  if (strcmp(g->specs[order[0]], g->default_rep))
    for (size_t i = 1; i < n; i++)
      if (!strcmp(g->specs[order[i]], g->default_rep)) return i;
  return 1;
}

static void verdict_single(const mtb_grid *g) {
  ranked k[MTB_MAX_REPS];
  size_t n = rank_single(g, k);
  char what[160];
  what_single(g, what, sizeof what);
  if (n == 0) {
    printf("verdict: no rep completed %s\n", what);
    return;
  }
  if (n == 1) {
    printf("verdict: %s is the only rep that completed %s (%.0f ops/s)\n", g->specs[k[0].rep],
           what, k[0].ops_s);
    return;
  }
  size_t order[MTB_MAX_REPS];
  for (size_t i = 0; i < n; i++) order[i] = k[i].rep;
  size_t j = compare_with(g, order, n);
  const char *win = g->specs[k[0].rep], *kind = g->mode == MODE_TRACE ? "trace" : "mix";
  printf("verdict: %s fits %s best of %zu reps -- %s: %.2fx the ops/s of %s on this %s", win,
         what, n, win, k[0].ops_s / k[j].ops_s, g->specs[k[j].rep], kind);
  if (k[0].has_bytes && k[j].has_bytes)
    printf(", %.2fx its memory (%.1f vs %.1f B/entry)", k[0].bytes / k[j].bytes, k[0].bytes,
           k[j].bytes);
  if (j != 1)
    printf("; runner-up %s at %.2fx %s's ops/s", g->specs[k[1].rep], k[1].ops_s / k[0].ops_s,
           win);
  printf("\n");
}

static void verdict_table(const mtb_grid *g) {
  /* complete reps: a figure in every column */
  size_t cand[MTB_MAX_REPS], nc = 0, incomplete = 0;
  for (size_t r = 0; r < g->nreps; r++) {
    bool all = true;
    for (size_t w = 0; w < g->nwls; w++) all &= mtb_cell_median(&g->cells[r][w], NULL, NULL, NULL);
    if (all) cand[nc++] = r;
    else incomplete++;
  }
  if (nc == 0) {
    printf("verdict: no rep completed every workload; see the errors above\n");
    return;
  }
  double score[MTB_MAX_REPS], best[MTB_MAX_WLS], best_all[MTB_MAX_WLS];
  size_t best_rep[MTB_MAX_WLS];
  int wins[MTB_MAX_REPS] = {0};
  for (size_t w = 0; w < g->nwls; w++) {
    best[w] = best_all[w] = INFINITY;
    best_rep[w] = 0;
    for (size_t r = 0; r < g->nreps; r++) {
      double v;
      if (mtb_cell_median(&g->cells[r][w], &v, NULL, NULL) && v < best_all[w]) {
        best_all[w] = v;
        best_rep[w] = r;
      }
    }
    for (size_t i = 0; i < nc; i++) {
      double v;
      mtb_cell_median(&g->cells[cand[i]][w], &v, NULL, NULL);
      if (v < best[w]) best[w] = v;
    }
  }
  for (size_t i = 0; i < nc; i++) {
    double s = 0, v;
    for (size_t w = 0; w < g->nwls; w++) {
      mtb_cell_median(&g->cells[cand[i]][w], &v, NULL, NULL);
      s += log(v / best[w]);
      wins[i] += v == best_all[w]; /* the table's '*' */
    }
    score[i] = exp(s / (double)g->nwls);
  }
  for (size_t i = 1; i < nc; i++) /* insertion sort by score */
    for (size_t j = i; j > 0 && score[j] < score[j - 1]; j--) {
      double ts = score[j];
      score[j] = score[j - 1];
      score[j - 1] = ts;
      size_t tc = cand[j];
      cand[j] = cand[j - 1];
      cand[j - 1] = tc;
      int tw = wins[j];
      wins[j] = wins[j - 1];
      wins[j - 1] = tw;
    }
  const char *win = g->specs[cand[0]];
  if (nc == 1) {
    printf("verdict: %s is the only rep that completed every workload%s\n", win,
           incomplete ? " (the others did not)" : "");
    return;
  }
  size_t j = compare_with(g, cand, nc);
  printf("verdict: %s fits these workloads best: %.2fx the speed of %s (geometric mean of "
         "ns/op over %zu workloads)",
         win, score[j] / score[0], g->specs[cand[j]], g->nwls);
  double b0, bj;
  if (rep_bytes(g, cand[0], &b0, NULL) && rep_bytes(g, cand[j], &bj, NULL))
    printf(", %.2fx its memory (%.1f vs %.1f B/entry)", b0 / bj, b0, bj);
  printf("; it wins %d of %zu columns", wins[0], g->nwls);
  if (j != 1) printf("; runner-up %s is %.2fx slower", g->specs[cand[1]], score[1] / score[0]);
  printf(".\n");
  /* per-column leaders other than the winner: where to look instead */
  for (size_t w = 0; w < g->nwls; w++) {
    double v0;
    mtb_cell_median(&g->cells[cand[0]][w], &v0, NULL, NULL);
    if (best_rep[w] != cand[0] && v0 / best_all[w] < 1.005)
      printf("  and %s: %s is as fast as %s (within 0.5%%)\n", g->wl_names[w],
             g->specs[best_rep[w]], win);
    else if (best_rep[w] != cand[0])
      printf("  but %s: %s is %.2fx faster than %s\n", g->wl_names[w], g->specs[best_rep[w]],
             v0 / best_all[w], win);
  }
  if (incomplete) printf("  (%zu rep%s with errors not ranked)\n", incomplete, incomplete > 1 ? "s" : "");
}

void mtb_print_verdict(const mtb_grid *g) {
  if (g->mode == MODE_TABLE) verdict_table(g);
  else verdict_single(g);
}

/* ---- files ----------------------------------------------------------------- */

static FILE *open_out(const char *dir, const char *name, char *path, size_t cap) {
  snprintf(path, cap, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) fprintf(stderr, "mtbench: %s: %s\n", path, strerror(errno));
  return f;
}

static int write_csv(const mtb_grid *g, const char *dir) {
  char path[1200];
  FILE *f = open_out(dir, "results.csv", path, sizeof path);
  if (!f) return -1;
  fprintf(f, "rep,workload,run,ns_per_op,ops_per_s,bytes_per_entry,ops,want,seconds,"
             "p50_ns,p90_ns,p99_ns,p99.9_ns,p99.99_ns,max_ns,counters,error\n");
  for (size_t r = 0; r < g->nreps; r++)
    for (size_t w = 0; w < g->nwls; w++) {
      const mtb_cell *c = &g->cells[r][w];
      for (int i = 0; i < c->nruns; i++) {
        const mtb_run_fig *x = &c->runs[i];
        fprintf(f, "\"%s\",%s,%d,%.3f,%.1f,%.2f,%llu,%llu,%.6f,", g->specs[r], g->wl_names[w],
                i + 1, x->ns_per_op, x->ops_per_s, x->bytes_per_entry,
                (unsigned long long)x->ops, (unsigned long long)x->want, x->seconds);
        for (int q = 0; q < MTW_LAT_NQ; q++)
          if (x->lat_all.count) fprintf(f, "%.0f,", x->lat_all.q[q]);
          else fprintf(f, ",");
        fprintf(f, "\"");
        for (int k = 0; k < x->ncounters; k++)
          fprintf(f, "%s%s=%.6g", k ? ";" : "", x->cname[k], x->cvalue[k]);
        fprintf(f, "\",\n");
      }
      if (c->error[0]) {
        fprintf(f, "\"%s\",%s,0,,,,,,,,,,,,,,\"", g->specs[r], g->wl_names[w]);
        for (const char *p = c->error; *p; p++) fputs(*p == '"' ? "\"\"" : (char[2]){*p, 0}, f);
        fprintf(f, "\"\n");
      }
    }
  return fclose(f) ? -1 : 0;
}

/* summary.csv: one row per cell, medians and the CV of ops/s, with the
 * rep's memory probe. */
static int write_summary(const mtb_grid *g, const char *dir) {
  char path[1200];
  FILE *f = open_out(dir, "summary.csv", path, sizeof path);
  if (!f) return -1;
  fprintf(f, "rep,workload,runs,median_ns_per_op,median_ops_per_s,cv_ops_per_s,median_p50_ns,"
             "median_p99_ns,median_p99.9_ns,median_max_ns,bytes_per_entry,rss_bytes_per_entry,"
             "budget_bytes,budget_entries,error\n");
  for (size_t r = 0; r < g->nreps; r++)
    for (size_t w = 0; w < g->nwls; w++) {
      const mtb_cell *c = &g->cells[r][w];
      const mtb_mem *m = &g->mem[r];
      double ns, ops, b, cv, q[4];
      fprintf(f, "\"%s\",%s,%d,", g->specs[r], g->wl_names[w], c->nruns);
      if (mtb_cell_median(c, &ns, &ops, &b) && mtb_cell_cv(c, NULL, &cv)) {
        fprintf(f, "%.3f,%.1f,%.4f,", ns, ops, cv);
        static const int qi[4] = {0, 2, 3, 5};
        for (int k = 0; k < 4; k++)
          if (mtb_cell_lat(c, WL_OP_KINDS, qi[k], &q[k])) fprintf(f, "%.0f,", q[k]);
          else fprintf(f, ",");
        if (b > 0) fprintf(f, "%.2f,", b);
        else fprintf(f, ",");
      } else {
        fprintf(f, ",,,,,,,,");
      }
      if (m->done && !m->error[0])
        fprintf(f, "%.2f,%llu,%llu,", m->rss_bpe, (unsigned long long)m->budget,
                (unsigned long long)m->budget_entries);
      else
        fprintf(f, ",,,");
      fprintf(f, "\"");
      for (const char *p = c->error; *p; p++) fputs(*p == '"' ? "\"\"" : (char[2]){*p, 0}, f);
      fprintf(f, "\"\n");
    }
  return fclose(f) ? -1 : 0;
}

/* latency.csv: every run's percentiles per op type (and "all"). */
static int write_latency(const mtb_grid *g, const char *dir) {
  char path[1200];
  FILE *f = open_out(dir, "latency.csv", path, sizeof path);
  if (!f) return -1;
  fprintf(f, "rep,workload,run,op,count,mean_ns");
  for (int q = 0; q < MTW_LAT_NQ; q++) fprintf(f, ",%s_ns", mtw_lat_qname[q]);
  fprintf(f, "\n");
  for (size_t r = 0; r < g->nreps; r++)
    for (size_t w = 0; w < g->nwls; w++) {
      const mtb_cell *c = &g->cells[r][w];
      for (int i = 0; i < c->nruns; i++)
        for (int op = 0; op <= WL_OP_KINDS; op++) {
          const mtw_lat_stats *st = op < WL_OP_KINDS ? &c->runs[i].lat[op] : &c->runs[i].lat_all;
          if (!st->count) continue;
          fprintf(f, "\"%s\",%s,%d,%s,%llu,%.1f", g->specs[r], g->wl_names[w], i + 1,
                  op < WL_OP_KINDS ? wl_op_name((wl_op)op) : "all",
                  (unsigned long long)st->count, st->mean);
          for (int q = 0; q < MTW_LAT_NQ; q++) fprintf(f, ",%.0f", st->q[q]);
          fprintf(f, "\n");
        }
    }
  return fclose(f) ? -1 : 0;
}

/* timeseries.csv (every run), and timeseries.dat for the plot: run 1 of
 * each cell, one gnuplot block (index) per (workload, rep, op), its first
 * line a header naming it; blocks of one workload are consecutive. */
static int write_timeseries(const mtb_grid *g, const char *dir, size_t *nblocks,
                            char *blocks_per_wl, size_t cap) {
  char path[1200];
  FILE *f = open_out(dir, "timeseries.csv", path, sizeof path);
  if (!f) return -1;
  fprintf(f, "rep,workload,run,t_ms,op,ops,p50_ns,p99_ns,max_ns\n");
  for (size_t i = 0; i < g->nts; i++) {
    const mtb_ts_row *t = &g->ts[i];
    fprintf(f, "\"%s\",%s,%u,%u,%s,%llu,%.0f,%.0f,%.0f\n", g->specs[t->rep], g->wl_names[t->wl],
            t->run + 1u, t->p.t_ms, wl_op_name((wl_op)t->p.op), (unsigned long long)t->p.ops,
            t->p.p50, t->p.p99, t->p.max);
  }
  if (fclose(f)) return -1;
  f = open_out(dir, "timeseries.dat", path, sizeof path);
  if (!f) return -1;
  *nblocks = 0;
  size_t used = 0;
  blocks_per_wl[0] = 0;
  for (size_t w = 0; w < g->nwls; w++) {
    size_t first = *nblocks;
    for (size_t r = 0; r < g->nreps; r++)
      for (int op = 0; op < WL_OP_KINDS; op++) {
        bool head = false;
        for (size_t i = 0; i < g->nts; i++) {
          const mtb_ts_row *t = &g->ts[i];
          if (t->wl != w || t->rep != r || t->run != 0 || t->p.op != op) continue;
          if (!head) {
            fprintf(f, "%s\"t_ms\" \"%s %s\" p50 max ops\n", *nblocks ? "\n\n" : "",
                    g->specs[r], wl_op_name((wl_op)op));
            head = true;
            (*nblocks)++;
          }
          fprintf(f, "%u %.0f %.0f %.0f %llu\n", t->p.t_ms, t->p.p99, t->p.p50, t->p.max,
                  (unsigned long long)t->p.ops);
        }
      }
    /* "first:count:name " per workload with points, for the script */
    if (*nblocks > first && used < cap)
      used += (size_t)snprintf(blocks_per_wl + used, cap - used, "%s%zu:%zu:%s",
                               used ? " " : "", first, *nblocks - first, g->wl_names[w]);
  }
  return fclose(f) ? -1 : 0;
}

static int write_plot_data(const mtb_grid *g, const char *dir) {
  char path[1200];
  FILE *f = open_out(dir, "plot.dat", path, sizeof path);
  if (!f) return -1;
  fprintf(f, "workload");
  for (size_t r = 0; r < g->nreps; r++) fprintf(f, " %s", g->specs[r]);
  fprintf(f, "\n");
  for (size_t w = 0; w < g->nwls; w++) {
    fprintf(f, "%s", g->wl_names[w]);
    for (size_t r = 0; r < g->nreps; r++) {
      double v;
      if (mtb_cell_median(&g->cells[r][w], &v, NULL, NULL)) fprintf(f, " %.3f", v);
      else fprintf(f, " -");
    }
    fprintf(f, "\n");
  }
  if (fclose(f)) return -1;
  f = open_out(dir, "plot_mem.dat", path, sizeof path);
  if (!f) return -1;
  fprintf(f, "rep B/entry\n");
  for (size_t r = 0; r < g->nreps; r++) {
    double b;
    if (rep_bytes(g, r, &b, NULL)) fprintf(f, "%s %.2f\n", g->specs[r], b);
    else fprintf(f, "%s -\n", g->specs[r]);
  }
  return fclose(f) ? -1 : 0;
}

const char *mtb_find_script(const char *given, const char *name, char *buf, size_t cap) {
  if (given) return access(given, R_OK) == 0 ? given : NULL;
  char exe[1024];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      snprintf(buf, cap, "%s/%s", exe, name);
      if (access(buf, R_OK) == 0) return buf;
    }
  }
#ifdef MTB_SCRIPT_DIR
  snprintf(buf, cap, "%s/%s", MTB_SCRIPT_DIR, name);
  if (access(buf, R_OK) == 0) return buf;
#endif
  return NULL;
}

int mtb_gnuplot(const char *script, const char *expr, const char *svg, const char *data) {
  unlink(svg); /* never leave an earlier run's plot beside these results */
  if (!script) {
    fprintf(stderr, "mtbench: no gnuplot script found; %s not drawn\n", svg);
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execlp("gnuplot", "gnuplot", "-e", expr, script, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
    fprintf(stderr, "mtbench: gnuplot not found (apt-get install gnuplot-nox): %s "
                    "not drawn; %s and the script %s are there to draw it\n",
            svg, data, script);
    return -1;
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st)) {
    fprintf(stderr, "mtbench: gnuplot failed; %s may be missing\n", svg);
    return -1;
  }
  return 0;
}

static int draw_plot(const mtb_grid *g, const char *dir, const char *script_flag) {
  char sbuf[1100], svg[1100], data[1100];
  const char *script = mtb_find_script(script_flag, "plot.gp", sbuf, sizeof sbuf);
  if (!script && script_flag) fprintf(stderr, "mtbench: no script at --plot-script\n");
  char expr[4096];
  snprintf(expr, sizeof expr,
           "datafile='%s/plot.dat'; memfile='%s/plot_mem.dat'; outfile='%s/plot.svg'; "
           "nreps=%zu; ttl='mtbench: ns/op per workload, N=%llu (lower is better)'",
           dir, dir, dir, g->nreps, (unsigned long long)g->cfg.num);
  snprintf(svg, sizeof svg, "%s/plot.svg", dir);
  snprintf(data, sizeof data, "%s/plot.dat", dir);
  return mtb_gnuplot(script, expr, svg, data);
}

static int draw_timeseries(const mtb_grid *g, const char *dir, const char *blocks) {
  char sbuf[1100], svg[1100], data[1100], expr[8192];
  const char *script = mtb_find_script(NULL, "timeseries.gp", sbuf, sizeof sbuf);
  snprintf(svg, sizeof svg, "%s/timeseries.svg", dir);
  snprintf(data, sizeof data, "%s/timeseries.dat", dir);
  snprintf(expr, sizeof expr,
           "datafile='%s'; outfile='%s'; blocks='%s'; interval=%d; "
           "ttl='mtbench: p99 latency per %d ms interval (run 1), N=%llu'",
           data, svg, blocks, g->cfg.interval_ms, g->cfg.interval_ms,
           (unsigned long long)g->cfg.num);
  return mtb_gnuplot(script, expr, svg, data);
}

int mtb_write_files(const mtb_grid *g, const char *dir, const char *plot_script) {
  int rc = 0;
  if (write_csv(g, dir)) rc = -1;
  if (write_summary(g, dir)) rc = -1;
  if (write_latency(g, dir)) rc = -1;
  size_t nblocks = 0;
  char blocks[4096];
  if (write_timeseries(g, dir, &nblocks, blocks, sizeof blocks)) rc = -1;
  else if (nblocks) draw_timeseries(g, dir, blocks);
  if (write_plot_data(g, dir)) rc = -1;
  else draw_plot(g, dir, plot_script); /* a missing plot is said, not fatal */
  return rc;
}

/* ---- merged JSON -------------------------------------------------------------- */

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap);
  size_t k;
  while (buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += k;
    if (cap - n - 1 == 0) {
      char *b = realloc(buf, cap * 2);
      if (!b) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = b;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf) buf[n] = 0;
  return buf;
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", (unsigned char)*s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

/* mtbench's own context entries, after "context": { -- what a run needs to
 * be repeated (Google Benchmark's library_build_type is its own library's,
 * not mtbench's). */
static void mtbench_context(FILE *out, const mtb_grid *g) {
  fprintf(out, "\n    \"mtbench_seed\": \"%llu\",\n    \"mtbench_num\": \"%llu\",\n"
               "    \"mtbench_key_size\": \"%zu\",\n    \"mtbench_value_size\": \"%zu\",\n"
               "    \"mtbench_build\": \"%s\",",
          (unsigned long long)g->cfg.seed, (unsigned long long)g->cfg.num, g->cfg.key_size,
          g->cfg.value_size,
          g->debug_build ? "unoptimised or with assertions (see its WARNING lines)"
                         : "optimised, NDEBUG");
}

int mtb_merge_json(const mtb_grid *g, const char *path, char parts[][512], size_t nparts) {
  FILE *out = fopen(path, "w");
  if (!out) {
    fprintf(stderr, "mtbench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  bool head = false, first = true;
  for (size_t i = 0; i < nparts; i++) {
    char *text = slurp(parts[i]);
    char *open = text ? strstr(text, "\"benchmarks\": [") : NULL;
    char *close = text ? strrchr(text, ']') : NULL;
    if (!open || !close || close < open) {
      free(text);
      continue;
    }
    open += strlen("\"benchmarks\": [");
    if (!head) {
      const char *ctx = strstr(text, "\"context\": {");
      const char *after = ctx && ctx < open ? ctx + strlen("\"context\": {") : text;
      fwrite(text, 1, (size_t)(after - text), out);
      if (after != text) mtbench_context(out, g);
      fwrite(after, 1, (size_t)(open - after), out);
      head = true;
    }
    *close = 0;
    char *body = open;
    while (*body == '\n') body++;
    size_t len = strlen(body);
    while (len && (body[len - 1] == '\n' || body[len - 1] == ' ')) body[--len] = 0;
    if (len) {
      fprintf(out, "%s\n%s", first ? "" : ",", body);
      first = false;
    }
    free(text);
  }
  if (!head) {
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", localtime(&now));
    fprintf(out, "{\n  \"context\": {");
    mtbench_context(out, g);
    fprintf(out, "\n    \"date\": \"%s\",\n    \"executable\": \"mtbench\"\n"
                 "  },\n  \"benchmarks\": [",
            date);
  }
  /* latency percentiles as benchmarks of their own, so that compare.py
   * (which compares real_time/cpu_time by name) compares them too:
   * "<spec>/<workload>/p99" over every op, "<spec>/<workload>/<op>/p99"
   * per op type when the workload has several; time in ns. */
  for (size_t r = 0; r < g->nreps; r++)
    for (size_t w = 0; w < g->nwls; w++) {
      const mtb_cell *c = &g->cells[r][w];
      for (int i = 0; i < c->nruns; i++) {
        const mtb_run_fig *x = &c->runs[i];
        bool several = (x->lat_mask & (x->lat_mask - 1)) != 0;
        for (int op = WL_OP_KINDS; op >= 0; op--) {
          const mtw_lat_stats *st = op < WL_OP_KINDS ? &x->lat[op] : &x->lat_all;
          if (!st->count || (op < WL_OP_KINDS && !several)) continue;
          for (int q = 0; q < MTW_LAT_NQ; q++) {
            char name[400];
            if (op < WL_OP_KINDS)
              snprintf(name, sizeof name, "%s/%s/%s/%s", g->specs[r], g->wl_names[w],
                       wl_op_name((wl_op)op), mtw_lat_qname[q]);
            else
              snprintf(name, sizeof name, "%s/%s/%s", g->specs[r], g->wl_names[w],
                       mtw_lat_qname[q]);
            fprintf(out, "%s\n    {\n      \"name\": ", first ? "" : ",");
            json_string(out, name);
            fprintf(out, ",\n      \"run_name\": ");
            json_string(out, name);
            fprintf(out, ",\n      \"run_type\": \"iteration\",\n      \"repetitions\": %d,\n"
                         "      \"repetition_index\": %d,\n      \"threads\": 1,\n"
                         "      \"iterations\": %llu,\n      \"real_time\": %.1f,\n"
                         "      \"cpu_time\": %.1f,\n      \"time_unit\": \"ns\"\n    }",
                    c->nruns, i, (unsigned long long)st->count, st->q[q], st->q[q]);
            first = false;
          }
        }
      }
    }
  /* cells whose child died could not report: add them as errored runs */
  for (size_t r = 0; r < g->nreps; r++)
    for (size_t w = 0; w < g->nwls; w++) {
      const char *e = g->cells[r][w].error;
      if (!strstr(e, "crashed with signal") && !strstr(e, "child exited") &&
          strncmp(e, "hung (", 6))
        continue;
      char name[400];
      snprintf(name, sizeof name, "%s/%s", g->specs[r], g->wl_names[w]);
      fprintf(out, "%s\n    {\n      \"name\": ", first ? "" : ",");
      json_string(out, name);
      fprintf(out, ",\n      \"run_name\": ");
      json_string(out, name);
      fprintf(out, ",\n      \"run_type\": \"iteration\",\n      \"repetitions\": 1,\n"
                   "      \"repetition_index\": 0,\n      \"threads\": 1,\n"
                   "      \"iterations\": 0,\n      \"real_time\": 0,\n      \"cpu_time\": 0,\n"
                   "      \"time_unit\": \"ms\",\n      \"error_occurred\": true,\n"
                   "      \"error_message\": ");
      json_string(out, e);
      fprintf(out, "\n    }");
      first = false;
    }
  fprintf(out, "\n  ]\n}\n");
  return fclose(out) ? -1 : 0;
}
