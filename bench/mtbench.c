/* mtbench.c -- the researcher's command: every registered rep (or --reps) x
 * the standard workloads (or --workloads), one table, the files of --out and
 * a verdict; --fit ranks the reps on a read/write/scan mix, --trace replays
 * an operation log on every rep.  `mtbench --help` lists the flags;
 * docs/bench.md explains them.
 *
 * Isolation: each rep runs in a child process (fork) that registers that
 * rep's benchmarks with the Google Benchmark shim and reports every run
 * over a pipe, one text line each:
 *   B\t<workload>                                  a run begins
 *   T\t<workload>\t<t_ms>\t<op>\t<ops>\t<p50>\t<p99>\t<max>
 *                                                  a time series point of the run
 *   D\t<workload>\t<error|->\t<seconds>\t<ops>\t<want>\t<bytes/entry>\t<n>
 *     (\t<counter>\t<value>) x n \t<k>
 *     (\t<op|all>\t<count>\t<mean>\t<p50>\t<p90>\t<p99>\t<p99.9>\t<p99.99>\t<max>) x k
 *                                                  a run ended (latencies in ns)
 *   M\t<n>\t<lib B/e>\t<rss B/e>\t<budget>\t<entries>\t<error|->
 *                                                  a memory probe (its own child)
 * A rep that crashes (signal, abort) or hangs (no line for 4 x --cap + 120 s;
 * the child is killed) costs only the workload it was in: the parent
 * records it as that cell's error and starts a new child for the rep's
 * remaining workloads.  --no-fork runs everything in-process.
 * --repetitions=R runs R rounds, each over every rep in turn, so that a
 * noisy stretch of time on a shared machine hurts all reps alike; the
 * table shows each cell's median and CV.  Each round visits the reps in a
 * shuffled order and each child runs its workloads in a shuffled order,
 * both drawn from --seed (run_order; --no-shuffle: table order).  Before
 * the rounds, a memory probe per rep runs in a child of its own.
 * --sweep runs all of it once per value of a parameter (sweep.c).
 *
 * Thread safety: the parent is single-threaded; a child runs one benchmark
 * at a time on its main thread (workloads start their own threads).
 *
 * Invariants:
 *  1. The parent never runs rep code unless --no-fork is given.
 *  2. Every (rep, workload) cell ends either with its runs or with an error
 *     message; a run never aborts because one rep failed.
 *  3. The child writes its Google Benchmark JSON to a part file; the parent
 *     merges the parts of children that exited normally into results.json.
 *  4. A run's T lines come before its D line (hook_done sends them first),
 *     so a point stored with run = the cell's nruns at its arrival belongs
 *     to the run that D line adds.
 */
#define _POSIX_C_SOURCE 200809L
#include "mtbench.h"
#include "shim.h"

#include <errno.h>
#include <memtable/memtable.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_NUM 200000
#define MAX_GB_ARGS 64

enum { SHUFFLE_NONE, SHUFFLE_REPS, SHUFFLE_CELLS };

typedef struct options {
  const char *reps, *workloads, *out, *mix, *trace, *write_trace, *plot_script;
  const char *json_out; /* --benchmark_out given to mtbench: a merged copy */
  const char *sweep;    /* --sweep=PARAM=v1,v2,... */
  int repetitions;
  int shuffle; /* SHUFFLE_* */
  bool no_memory;
  uint64_t budget; /* --budget, bytes */
  double hang_s; /* 0: 4 x cap + 120 */
  bool fit, gbench, no_fork, list;
  char *gb_args[MAX_GB_ARGS];
  int ngb;
} options;

static void usage(FILE *f) {
  fprintf(f,
          "usage: mtbench [flags] [--benchmark_*=...]\n"
          "  --reps=SPEC[;SPEC...]   reps by spec string (default: every registered rep)\n"
          "  --workloads=LIST        names, or standard | extended | research | all (default standard)\n"
          "  --num=N                 entries per memtable (default %d)\n"
          "  --threads=T             writers of fillrandom_Nthreads (default 2)\n"
          "  --value-size=B          value bytes (default 100)\n"
          "  --key-size=B            key bytes, >= 16 (default 16)\n"
          "  --dist=uniform|zipf|seq key choice of reads, seeks and mixes (default uniform)\n"
          "  --theta=X               zipf skew (default 0.99)\n"
          "  --repetitions=R         rounds over all reps (default 3); the table shows medians\n"
          "  --seed=S                salts the non-standard workloads' random choices and\n"
          "                          the run order (default 0x6d7462656e6368)\n"
          "  --shuffle=reps|cells|none  run order of each round: reps shuffled and each\n"
          "                          rep's workloads shuffled (reps, default), every\n"
          "                          (rep, workload) cell shuffled (cells: a child per\n"
          "                          run of cells of one rep), or table order (none)\n"
          "  --no-shuffle            --shuffle=none\n"
          "  --sweep=PARAM=v1,v2,... rerun for each value of num, value-size, key-size,\n"
          "                          threads or REP.PARAM (e.g. hash_skiplist.buckets=...)\n"
          "  --budget=BYTES          memory probe: entries held by this memory_usage (64MiB)\n"
          "  --no-memory             skip the memory probe (RSS growth, budget entries)\n"
          "  --no-latency            no per-op latency recording (to measure its overhead)\n"
          "  --interval-ms=MS        time series step (default 10)\n"
          "  --out=DIR               write DIR/results.json (Google Benchmark), results.csv,\n"
          "                          summary.csv, latency.csv, timeseries.csv/.svg, plot.svg\n"
          "                          (with --sweep: sweep_<param>.csv/.svg)\n"
          "  --fit --mix=read:70,write:25,scan:5   rank every rep on this mix\n"
          "  --trace=FILE            replay an operation log on every rep\n"
          "  --write-trace=FILE      write a synthetic trace of --num ops of --mix, --dist\n"
          "  --scan-len=N --versions=N --prefixes=P --cap=SECONDS   workload knobs\n"
          "  --nearsort-k=PCT --nearsort-l=DIST   nearsorted: PCT%% of keys moved by <= DIST (10, 100)\n"
          "  --plot-script=FILE      gnuplot script (default: plot.gp beside mtbench)\n"
          "  --hang-timeout=S        kill a rep silent this long (default 4 x cap + 120)\n"
          "  --no-fork               run reps in this process (a crash stops the run)\n"
          "  --anchor-gen            fills make keys and values inside the timed loop,\n"
          "                          as shared/anchors does (to compare with its figures)\n"
          "  --gbench [GB flags]     plain Google Benchmark run of the selection\n"
          "  --list                  registered reps and workloads\n",
          DEFAULT_NUM);
}

/* ---- flags ------------------------------------------------------------------ */

static bool flag(const char *arg, const char *name, const char **val) {
  size_t n = strlen(name);
  if (strncmp(arg, name, n) || arg[n] != '=') return false;
  *val = arg + n + 1;
  return true;
}

static int num_flag(const char *v, const char *name, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if (errno || end == v || *end || d < lo || d > hi) {
    fprintf(stderr, "mtbench: bad %s=%s (want %g..%g)\n", name, v, lo, hi);
    return -1;
  }
  *out = d;
  return 0;
}

static int parse_args(int argc, char **argv, options *o, mtw_config *c) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    double d;
    if (o->gbench) {
      if (o->ngb < MAX_GB_ARGS) o->gb_args[o->ngb++] = argv[i];
      continue;
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--fit")) o->fit = true;
    else if (!strcmp(a, "--gbench")) o->gbench = true;
    else if (!strcmp(a, "--no-fork")) o->no_fork = true;
    else if (!strcmp(a, "--list")) o->list = true;
    else if (!strcmp(a, "--anchor-gen")) c->anchor_gen = 1;
    else if (!strcmp(a, "--no-latency")) c->no_latency = 1;
    else if (!strcmp(a, "--no-shuffle")) o->shuffle = SHUFFLE_NONE;
    else if (flag(a, "--shuffle", &v)) {
      if (!strcmp(v, "none")) o->shuffle = SHUFFLE_NONE;
      else if (!strcmp(v, "reps")) o->shuffle = SHUFFLE_REPS;
      else if (!strcmp(v, "cells")) o->shuffle = SHUFFLE_CELLS;
      else {
        fprintf(stderr, "mtbench: bad --shuffle=%s (reps, cells or none)\n", v);
        return -1;
      }
    }
    else if (!strcmp(a, "--no-memory")) o->no_memory = true;
    else if (flag(a, "--sweep", &v)) o->sweep = v;
    else if (flag(a, "--budget", &v)) {
      char *end;
      errno = 0;
      double b = strtod(v, &end);
      double mult = 1;
      if (!strcasecmp(end, "k") || !strcasecmp(end, "kib")) mult = 1024.0;
      else if (!strcasecmp(end, "m") || !strcasecmp(end, "mib")) mult = 1048576.0;
      else if (!strcasecmp(end, "g") || !strcasecmp(end, "gib")) mult = 1073741824.0;
      else if (*end) b = -1;
      if (errno || end == v || b <= 0 || b * mult > 1e12) {
        fprintf(stderr, "mtbench: bad --budget=%s (bytes, or with K, M, G / KiB, MiB, GiB)\n", v);
        return -1;
      }
      o->budget = (uint64_t)(b * mult);
    } else if (flag(a, "--interval-ms", &v)) {
      if (num_flag(v, "--interval-ms", 1, 60000, &d)) return -1;
      c->interval_ms = (int)d;
    }
    else if (flag(a, "--reps", &v)) o->reps = v;
    else if (flag(a, "--workloads", &v)) o->workloads = v;
    else if (flag(a, "--out", &v)) o->out = v;
    else if (flag(a, "--mix", &v)) o->mix = v;
    else if (flag(a, "--trace", &v)) o->trace = v;
    else if (flag(a, "--write-trace", &v)) o->write_trace = v;
    else if (flag(a, "--plot-script", &v)) o->plot_script = v;
    else if (flag(a, "--benchmark_out", &v)) o->json_out = v;
    else if (flag(a, "--seed", &v)) {
      char *end;
      errno = 0;
      unsigned long long sd = strtoull(v, &end, 0);
      if (errno || end == v || *end) {
        fprintf(stderr, "mtbench: bad --seed=%s (an unsigned integer)\n", v);
        return -1;
      }
      c->seed = sd;
    } else if (flag(a, "--num", &v)) {
      if (num_flag(v, "--num", 1, 4e9, &d)) return -1;
      c->num = (uint64_t)d;
    } else if (flag(a, "--threads", &v)) {
      if (num_flag(v, "--threads", 1, 256, &d)) return -1;
      c->threads = (int)d;
    } else if (flag(a, "--value-size", &v)) {
      if (num_flag(v, "--value-size", 0, 16 << 20, &d)) return -1;
      c->value_size = (size_t)d;
    } else if (flag(a, "--key-size", &v)) {
      if (num_flag(v, "--key-size", 16, 4096, &d)) return -1;
      c->key_size = (size_t)d;
    } else if (flag(a, "--theta", &v)) {
      if (num_flag(v, "--theta", 0.01, 0.9999, &d)) return -1;
      c->zipf_theta = d;
    } else if (flag(a, "--repetitions", &v)) {
      if (num_flag(v, "--repetitions", 1, MTB_MAX_RUNS, &d)) return -1;
      o->repetitions = (int)d;
    } else if (flag(a, "--scan-len", &v)) {
      if (num_flag(v, "--scan-len", 0, 1e6, &d)) return -1;
      c->scan_len = (int)d;
    } else if (flag(a, "--nearsort-k", &v)) {
      if (num_flag(v, "--nearsort-k", 0, 100, &d)) return -1;
      c->nearsort_k = d;
    } else if (flag(a, "--nearsort-l", &v)) {
      if (num_flag(v, "--nearsort-l", 1, 4e9, &d)) return -1;
      c->nearsort_l = (uint64_t)d;
    } else if (flag(a, "--versions", &v)) {
      if (num_flag(v, "--versions", 1, 1e6, &d)) return -1;
      c->versions = (int)d;
    } else if (flag(a, "--prefixes", &v)) {
      if (num_flag(v, "--prefixes", 1, 1e12, &d)) return -1;
      c->prefixes = (uint64_t)d;
    } else if (flag(a, "--cap", &v)) {
      if (num_flag(v, "--cap", 0.001, 1e6, &d)) return -1;
      c->cap_s = d;
    } else if (flag(a, "--hang-timeout", &v)) {
      if (num_flag(v, "--hang-timeout", 0.1, 1e6, &d)) return -1;
      o->hang_s = d;
    } else if (flag(a, "--dist", &v)) {
      if (!strcmp(v, "uniform")) c->dist = MTW_UNIFORM;
      else if (!strcmp(v, "zipf")) c->dist = MTW_ZIPF;
      else if (!strcmp(v, "seq")) c->dist = MTW_SEQ;
      else {
        fprintf(stderr, "mtbench: bad --dist=%s (uniform, zipf or seq)\n", v);
        return -1;
      }
    } else if (!strncmp(a, "--benchmark_", 12)) {
      if (o->ngb < MAX_GB_ARGS) o->gb_args[o->ngb++] = argv[i];
    } else {
      fprintf(stderr, "mtbench: unknown flag %s\n", a);
      usage(stderr);
      return -1;
    }
  }
  if (o->mix) {
    char err[256];
    if (mtw_parse_mix(o->mix, &c->mix, err, sizeof err)) {
      fprintf(stderr, "mtbench: %s\n", err);
      return -1;
    }
  }
  return 0;
}

/* Splits --reps: ';' or ',' separate specs, but a ','-token holding '=' and
 * no ':' continues the previous spec's parameters (hash_skiplist:a=1,b=2). */
static int parse_reps(const char *list, mtb_grid *g) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", list);
  char *save = NULL;
  for (char *t = strtok_r(buf, ";,", &save); t; t = strtok_r(NULL, ";,", &save)) {
    if (strchr(t, '=') && !strchr(t, ':') && g->nreps) {
      char *prev = g->specs[g->nreps - 1];
      size_t n = strlen(prev);
      snprintf(prev + n, sizeof g->specs[0] - n, ",%s", t);
      continue;
    }
    if (g->nreps == MTB_MAX_REPS) {
      fprintf(stderr, "mtbench: at most %d reps\n", MTB_MAX_REPS);
      return -1;
    }
    snprintf(g->specs[g->nreps++], sizeof g->specs[0], "%s", t);
  }
  return g->nreps ? 0 : -1;
}

static int add_wl(mtb_grid *g, const mtw_workload *w) {
  for (size_t i = 0; i < g->nwls; i++)
    if (g->wls[i] == w) return 0;
  if (g->nwls == MTB_MAX_WLS) return -1;
  mtw_display_name(w, &g->cfg, g->wl_names[g->nwls], sizeof g->wl_names[0]);
  g->wls[g->nwls++] = w;
  return 0;
}

static int parse_workloads(const char *list, mtb_grid *g) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", list);
  size_t n;
  const mtw_workload *all = mtw_workloads(&n);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",;", &save); t; t = strtok_r(NULL, ",;", &save)) {
    bool group = !strcmp(t, "all"); /* or any group's name (standard, extended, ...) */
    for (size_t i = 0; i < n && !group; i++) group = !strcmp(all[i].group, t);
    if (group) {
      for (size_t i = 0; i < n; i++)
        if ((!strcmp(t, "all") && strcmp(all[i].group, "trace")) || !strcmp(all[i].group, t))
          add_wl(g, &all[i]);
      continue;
    }
    const mtw_workload *w = mtw_find(t);
    unsigned nt;
    if (w && sscanf(t, "fillrandom_%uthreads", &nt) == 1 && nt > 0) g->cfg.threads = (int)nt;
    if (!w) {
      fprintf(stderr, "mtbench: unknown workload %s (mtbench --list)\n", t);
      return -1;
    }
    add_wl(g, w);
  }
  return g->nwls ? 0 : -1;
}

static void list_all(void) {
  const char *names[MTB_MAX_REPS];
  size_t n = mt_rep_names(names, MTB_MAX_REPS);
  printf("reps (mt_rep_names):");
  for (size_t i = 0; i < n && i < MTB_MAX_REPS; i++) printf(" %s", names[i]);
  size_t nw;
  const mtw_workload *w = mtw_workloads(&nw);
  printf("\nworkloads:\n");
  for (size_t i = 0; i < nw; i++) printf("  %-20s %-9s %s\n", w[i].name, w[i].group, w[i].what);
}

/* ---- the pipe protocol ---------------------------------------------------------- */

typedef struct child_state {
  int fd;
} child_state;

static void clean_field(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", *src ? src : "-");
  for (char *p = dst; *p; p++)
    if (*p == '\t' || *p == '\n' || *p == '\r') *p = ' ';
}

static void emit(child_state *cs, const char *line);

static void hook_begin(void *ctx, const char *spec, const char *workload) {
  char line[256];
  snprintf(line, sizeof line, "B\t%s\n", workload);
  emit(ctx, line);
}

static void hook_done(void *ctx, const char *spec, const char *workload, const mtw_result *r,
                      const mtw_lat_summary *lat) {
  char line[8192], err[256];
  for (size_t i = 0; lat && i < lat->npoints; i++) {
    const mtw_lat_point *p = &lat->points[i];
    snprintf(line, sizeof line, "T\t%s\t%u\t%s\t%llu\t%.0f\t%.0f\t%.0f\n", workload, p->t_ms,
             wl_op_name((wl_op)p->op), (unsigned long long)p->ops, p->p50, p->p99, p->max);
    emit(ctx, line);
  }
  clean_field(err, sizeof err, r->error);
  int n = snprintf(line, sizeof line, "D\t%s\t%s\t%.17g\t%llu\t%llu\t%.17g\t%d", workload, err,
                   r->seconds, (unsigned long long)r->ops, (unsigned long long)r->want,
                   r->bytes_per_entry, r->ncounters);
  for (int i = 0; i < r->ncounters && n > 0 && (size_t)n < sizeof line; i++)
    n += snprintf(line + n, sizeof line - (size_t)n, "\t%s\t%.17g", r->counters[i].name,
                  r->counters[i].value);
  /* latency: \t<k> then k x (\t<op>\t<count>\t<mean>\t<p50>...\t<max>); op "all" last */
  int nlat = 0;
  for (int op = 0; lat && op < WL_OP_KINDS; op++) nlat += lat->op[op].count > 0;
  if (lat && lat->all.count) nlat++;
  if (n > 0 && (size_t)n < sizeof line) n += snprintf(line + n, sizeof line - (size_t)n, "\t%d", nlat);
  for (int op = 0; lat && op <= WL_OP_KINDS; op++) {
    const mtw_lat_stats *st = op < WL_OP_KINDS ? &lat->op[op] : &lat->all;
    if (!st->count || n <= 0 || (size_t)n >= sizeof line) continue;
    n += snprintf(line + n, sizeof line - (size_t)n, "\t%s\t%llu\t%.6g",
                  op < WL_OP_KINDS ? wl_op_name((wl_op)op) : "all",
                  (unsigned long long)st->count, st->mean);
    for (int q = 0; q < MTW_LAT_NQ && n > 0 && (size_t)n < sizeof line; q++)
      n += snprintf(line + n, sizeof line - (size_t)n, "\t%.6g", st->q[q]);
  }
  if (n > 0 && (size_t)n < sizeof line - 1) strcat(line, "\n");
  emit(ctx, line);
}

typedef struct parent_state {
  mtb_grid *g;
  size_t rep;
  int current;   /* workload index in flight, -1 none */
  bool *pending; /* per workload: runs still expected */
  size_t *done, total;
} parent_state;

static parent_state *g_parent; /* where in-process lines go */

static int wl_index(const mtb_grid *g, const char *name) {
  for (size_t i = 0; i < g->nwls; i++)
    if (!strcmp(g->wl_names[i], name)) return (int)i;
  return -1;
}

static void progress(const parent_state *p, const char *wl) {
  bool tty = isatty(2);
  fprintf(stderr, "%s[%zu/%zu] %s/%s%s", tty ? "\r\033[K" : "", *p->done + 1, p->total,
          p->g->specs[p->rep], wl, tty ? "" : "\n");
  fflush(stderr);
}

/* The op type named in a protocol line; WL_OP_KINDS for "all", -1 if none. */
static int op_index(const char *name) {
  for (int op = 0; op < WL_OP_KINDS; op++)
    if (!strcmp(wl_op_name((wl_op)op), name)) return op;
  return !strcmp(name, "all") ? WL_OP_KINDS : -1;
}

/* "M\t<n>\t<lib>\t<rss>\t<budget>\t<entries>\t<error|->": a memory probe. */
static void take_mem(parent_state *p, char *save) {
  mtb_mem *m = &p->g->mem[p->rep];
  const char *f[6];
  for (int i = 0; i < 6; i++) f[i] = strtok_r(NULL, "\t\n", &save);
  m->done = true;
  if (!f[5]) {
    snprintf(m->error, sizeof m->error, "garbled memory report");
    return;
  }
  m->n = strtoull(f[0], NULL, 10);
  m->lib_bpe = strtod(f[1], NULL);
  m->rss_bpe = strtod(f[2], NULL);
  m->budget = strtoull(f[3], NULL, 10);
  m->budget_entries = strtoull(f[4], NULL, 10);
  if (strcmp(f[5], "-")) snprintf(m->error, sizeof m->error, "%s", f[5]);
}

/* "T\t<workload>\t<t_ms>\t<op>\t<ops>\t<p50>\t<p99>\t<max>": a time series point of
 * the run that the next D line of this workload reports. */
static void take_point(parent_state *p, int w, char *save) {
  mtb_grid *g = p->g;
  const char *f[6];
  for (int i = 0; i < 6; i++) f[i] = strtok_r(NULL, "\t\n", &save);
  int op = f[1] ? op_index(f[1]) : -1;
  if (!f[5] || op < 0 || op >= WL_OP_KINDS) return;
  if (g->nts == g->capts) {
    size_t cap = g->capts ? g->capts * 2 : 4096;
    mtb_ts_row *t = realloc(g->ts, cap * sizeof *t);
    if (!t) return;
    g->ts = t;
    g->capts = cap;
  }
  mtb_ts_row *r = &g->ts[g->nts++];
  r->rep = (uint16_t)p->rep;
  r->wl = (uint16_t)w;
  r->run = (uint16_t)g->cells[p->rep][w].nruns;
  r->p.t_ms = (uint32_t)strtoul(f[0], NULL, 10);
  r->p.op = (uint8_t)op;
  r->p.ops = strtoull(f[2], NULL, 10);
  r->p.p50 = strtod(f[3], NULL);
  r->p.p99 = strtod(f[4], NULL);
  r->p.max = strtod(f[5], NULL);
}

/* Applies one protocol line to the grid. */
static void take_line(parent_state *p, char *line) {
  char *save = NULL, *tag = strtok_r(line, "\t\n", &save);
  if (tag && !strcmp(tag, "M")) {
    take_mem(p, save);
    return;
  }
  char *name = strtok_r(NULL, "\t\n", &save);
  if (!tag || !name) return;
  int w = wl_index(p->g, name);
  if (w < 0) return;
  if (!strcmp(tag, "T")) {
    take_point(p, w, save);
    return;
  }
  if (!strcmp(tag, "B")) {
    p->current = w;
    progress(p, name);
    return;
  }
  mtb_cell *c = &p->g->cells[p->rep][w];
  const char *err = strtok_r(NULL, "\t\n", &save);
  const char *f[5];
  for (int i = 0; i < 5; i++) f[i] = strtok_r(NULL, "\t\n", &save);
  p->current = -1;
  (*p->done)++;
  if (!err || !f[4]) {
    snprintf(c->error, sizeof c->error, "garbled report from the child");
    p->pending[w] = false;
    return;
  }
  if (strcmp(err, "-")) {
    snprintf(c->error, sizeof c->error, "%s", err);
    p->pending[w] = false;
    return;
  }
  if (c->nruns < MTB_MAX_RUNS) {
    mtb_run_fig *r = &c->runs[c->nruns++];
    memset(r, 0, sizeof *r);
    r->seconds = strtod(f[0], NULL);
    r->ops = strtoull(f[1], NULL, 10);
    r->want = strtoull(f[2], NULL, 10);
    r->bytes_per_entry = strtod(f[3], NULL);
    int nc = atoi(f[4]);
    for (int i = 0; i < nc && i < MTW_MAX_COUNTERS; i++) {
      const char *cn = strtok_r(NULL, "\t\n", &save), *cv = strtok_r(NULL, "\t\n", &save);
      if (!cn || !cv) break;
      snprintf(r->cname[i], sizeof r->cname[i], "%s", cn);
      r->cvalue[i] = strtod(cv, NULL);
      r->ncounters = i + 1;
    }
    const char *nl = strtok_r(NULL, "\t\n", &save);
    for (int i = 0, k = nl ? atoi(nl) : 0; i < k; i++) {
      const char *on = strtok_r(NULL, "\t\n", &save), *v[2 + MTW_LAT_NQ];
      for (int j = 0; j < 2 + MTW_LAT_NQ; j++) v[j] = strtok_r(NULL, "\t\n", &save);
      int op = on ? op_index(on) : -1;
      if (op < 0 || !v[1 + MTW_LAT_NQ]) break;
      mtw_lat_stats *st = op < WL_OP_KINDS ? &r->lat[op] : &r->lat_all;
      st->count = strtoull(v[0], NULL, 10);
      st->mean = strtod(v[1], NULL);
      for (int q = 0; q < MTW_LAT_NQ; q++) st->q[q] = strtod(v[2 + q], NULL);
      if (op < WL_OP_KINDS) r->lat_mask |= 1u << op;
    }
    r->ns_per_op = r->ops ? r->seconds * 1e9 / (double)r->ops : 0;
    r->ops_per_s = r->seconds > 0 ? (double)r->ops / r->seconds : 0;
  }
  p->pending[w] = false;
}

static void emit(child_state *cs, const char *line) {
  if (cs) {
    size_t n = strlen(line);
    while (n) {
      ssize_t k = write(cs->fd, line, n);
      if (k <= 0) {
        if (k < 0 && errno == EINTR) continue;
        _exit(3); /* the parent is gone */
      }
      line += k;
      n -= (size_t)k;
    }
  } else if (g_parent) {
    char copy[8192];
    snprintf(copy, sizeof copy, "%s", line);
    take_line(g_parent, copy);
  }
}

/* ---- running one rep ----------------------------------------------------------- */

/* Registers spec x the pending workloads and runs them under the shim. */
static long run_benchmarks(const mtb_grid *g, size_t rep, const bool *pending,
                           const size_t *order, const options *o, const char *json_part,
                           child_state *cs) {
  const mtw_workload *wls[MTB_MAX_WLS];
  size_t n = 0;
  for (size_t i = 0; i < g->nwls; i++)
    if (pending[order[i]]) wls[n++] = g->wls[order[i]];
  const char *spec = g->specs[rep];
  mtb_hooks hooks = {hook_begin, hook_done, cs};
  mtb_register(&spec, 1, wls, n, &g->cfg, &hooks);
  char *args[MAX_GB_ARGS + 8];
  char out_arg[600];
  int na = 0;
  args[na++] = "mtbench";
  if (json_part) {
    snprintf(out_arg, sizeof out_arg, "--benchmark_out=%s", json_part);
    args[na++] = out_arg;
    args[na++] = "--benchmark_out_format=json";
  }
  for (int i = 0; i < o->ngb; i++) args[na++] = o->gb_args[i];
  args[na] = NULL;
  return mtb_run(na, args, true);
}

/* Feeds the child's lines to take_line until EOF.  A child silent for
 * `silence` seconds (a deadlocked rep: every timed phase is capped) is
 * killed; returns true then. */
static bool read_child(parent_state *ps, int fd, pid_t pid, double silence) {
  static char buf[1 << 16];
  size_t have = 0;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, (int)(silence * 1000));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      kill(pid, SIGKILL);
      return true;
    }
    ssize_t k = read(fd, buf + have, sizeof buf - 1 - have);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    have += (size_t)k;
    char *start = buf, *nl;
    while ((nl = memchr(start, '\n', (size_t)(buf + have - start)))) {
      *nl = 0;
      take_line(ps, start);
      start = nl + 1;
    }
    have -= (size_t)(start - buf);
    memmove(buf, start, have);
    if (have == sizeof buf - 1) have = 0; /* an overlong line: dropped */
  }
}

static void describe_status(int st, char *buf, size_t cap) {
  if (WIFSIGNALED(st))
    snprintf(buf, cap, "crashed with signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
  else
    snprintf(buf, cap, "child exited with status %d", WEXITSTATUS(st));
}

/* A seeded Fisher-Yates shuffle of 0..n-1 (identity with --no-shuffle). */
static void run_order(size_t *a, size_t n, uint64_t seed, uint64_t salt, bool shuffle) {
  for (size_t i = 0; i < n; i++) a[i] = i;
  uint64_t x = seed ^ (salt * 0x9e3779b97f4a7c15ULL);
  for (size_t i = n; i > 1 && shuffle; i--) {
    x += 0x9e3779b97f4a7c15ULL; /* splitmix64 */
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    size_t j = (size_t)(z % i), t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

/* One round of the workloads of rep in `subset` (NULL: all) in the order
 * `given` (NULL: run_order's), each once (or as often as
 * --benchmark_repetitions says) unless it failed before, in as many
 * children as crashes make necessary. */
static void run_rep(mtb_grid *g, size_t rep, int round, size_t block, const bool *subset,
                    const size_t *given, const options *o, const char *tmpdir,
                    char parts[][512], size_t *nparts, size_t *done, size_t total) {
  size_t order[MTB_MAX_WLS];
  if (given) memcpy(order, given, g->nwls * sizeof *order);
  else
    run_order(order, g->nwls, g->cfg.seed, 1000003u * (uint64_t)round + rep + 1,
              o->shuffle != SHUFFLE_NONE);
  bool pending[MTB_MAX_WLS];
  for (size_t i = 0; i < g->nwls; i++)
    pending[i] = (!subset || subset[i]) && !g->cells[rep][i].error[0];
  parent_state ps = {g, rep, -1, pending, done, total};
  for (int attempt = 0;; attempt++) {
    bool any = false;
    for (size_t i = 0; i < g->nwls; i++) any |= pending[i];
    if (!any) return;
    char part[512] = "";
    if (tmpdir)
      snprintf(part, sizeof part, "%s/part_%d_%zu_%zu_%d.json", tmpdir, round, rep, block,
               attempt);
    if (o->no_fork) {
      g_parent = &ps;
      run_benchmarks(g, rep, pending, order, o, tmpdir ? part : NULL, NULL);
      g_parent = NULL;
      if (tmpdir) snprintf(parts[(*nparts)++], 512, "%s", part);
      return;
    }
    int fds[2];
    if (pipe(fds)) {
      snprintf(g->cells[rep][0].error, sizeof g->cells[0][0].error, "pipe: %s", strerror(errno));
      return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
      snprintf(g->cells[rep][0].error, sizeof g->cells[0][0].error, "fork: %s", strerror(errno));
      close(fds[0]);
      close(fds[1]);
      return;
    }
    if (pid == 0) {
      close(fds[0]);
      child_state cs = {fds[1]};
      long ran = run_benchmarks(g, rep, pending, order, o, tmpdir ? part : NULL, &cs);
      _exit(ran < 0 ? 2 : 0);
    }
    close(fds[1]);
    ps.current = -1;
    double silence = o->hang_s > 0 ? o->hang_s : 4 * g->cfg.cap_s + 120;
    bool hung = read_child(&ps, fds[0], pid, silence);
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!hung && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
      if (tmpdir) snprintf(parts[(*nparts)++], 512, "%s", part);
      return; /* what is still pending was filtered out (--benchmark_filter) */
    }
    char why[160];
    if (hung) snprintf(why, sizeof why, "hung (no report for %.0f s; killed)", silence);
    else describe_status(st, why, sizeof why);
    if (ps.current >= 0) {
      mtb_cell *c = &g->cells[rep][ps.current];
      snprintf(c->error, sizeof c->error, "%s during this workload", why);
      pending[ps.current] = false;
      (*done)++;
      continue; /* a new child runs the rest */
    }
    for (size_t i = 0; i < g->nwls; i++)
      if (pending[i]) {
        snprintf(g->cells[rep][i].error, sizeof g->cells[0][0].error, "%s before this workload",
                 why);
        pending[i] = false;
      }
    return;
  }
}

/* ---- main ---------------------------------------------------------------------- */

static const char *dist_name(mtw_dist d) {
  return d == MTW_ZIPF ? "zipf" : d == MTW_SEQ ? "seq" : "uniform";
}

static int make_dir(const char *dir) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(buf, 0777);
      *p = '/';
    }
  if (mkdir(buf, 0777) && errno != EEXIST) {
    fprintf(stderr, "mtbench: mkdir %s: %s\n", dir, strerror(errno));
    return -1;
  }
  return 0;
}

static void remove_parts(const char *tmpdir) {
  if (!tmpdir) return;
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.') {
      char p[600];
      snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
      unlink(p);
    }
  if (d) closedir(d);
  rmdir(tmpdir);
}

static int setup_grid(mtb_grid *g, const options *o) {
  const char *names[MTB_MAX_REPS];
  size_t n = mt_rep_names(names, MTB_MAX_REPS);
  snprintf(g->default_rep, sizeof g->default_rep, "%s", n ? names[0] : "skiplist");
  if (o->reps) {
    if (parse_reps(o->reps, g)) {
      fprintf(stderr, "mtbench: bad --reps=%s\n", o->reps);
      return -1;
    }
  } else {
    for (size_t i = 0; i < n && i < MTB_MAX_REPS; i++)
      snprintf(g->specs[g->nreps++], sizeof g->specs[0], "%s", names[i]);
  }
  if (o->trace) {
    mtw_trace *t;
    char err[512];
    if (mtw_trace_load(&t, o->trace, err, sizeof err)) {
      fprintf(stderr, "mtbench: %s\n", err);
      return -1;
    }
    fprintf(stderr, "mtbench: trace %s: %llu operations\n", o->trace,
            (unsigned long long)mtw_trace_ops(t));
    mtw_trace_free(t);
    g->mode = MODE_TRACE;
    return add_wl(g, mtw_find("trace"));
  }
  if (o->fit) {
    g->mode = MODE_FIT;
    if (o->workloads) fprintf(stderr, "mtbench: --fit runs the mix only; --workloads ignored\n");
    return add_wl(g, mtw_find("mix"));
  }
  return parse_workloads(o->workloads ? o->workloads : "standard", g);
}

/* ---- the memory probe ------------------------------------------------------------ */

static void probe_line(const mtb_mem *m, char *line, size_t cap) {
  char err[200];
  clean_field(err, sizeof err, m->error);
  snprintf(line, cap, "M\t%llu\t%.17g\t%.17g\t%llu\t%llu\t%s\n", (unsigned long long)m->n,
           m->lib_bpe, m->rss_bpe, (unsigned long long)m->budget,
           (unsigned long long)m->budget_entries, err);
}

/* Runs the memory probe of rep in a fresh child (its heap holds nothing
 * else, so the resident-set growth is the memtable's). */
static void run_probe(mtb_grid *g, size_t rep, const options *o, size_t *done, size_t total) {
  bool pending[MTB_MAX_WLS] = {false};
  parent_state ps = {g, rep, -1, pending, done, total};
  char line[600];
  if (o->no_fork) {
    mtb_mem m = {0};
    mtb_memory_probe(g->specs[rep], &g->cfg, o->budget, &m);
    probe_line(&m, line, sizeof line);
    take_line(&ps, line);
    return;
  }
  int fds[2];
  if (pipe(fds)) return;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return;
  }
  if (pid == 0) {
    close(fds[0]);
    mtb_mem m = {0};
    mtb_memory_probe(g->specs[rep], &g->cfg, o->budget, &m);
    probe_line(&m, line, sizeof line);
    child_state cs = {fds[1]};
    emit(&cs, line);
    _exit(0);
  }
  close(fds[1]);
  double silence = o->hang_s > 0 ? o->hang_s : 4 * g->cfg.cap_s + 120;
  bool hung = read_child(&ps, fds[0], pid, silence);
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  mtb_mem *m = &g->mem[rep];
  if (!m->done) {
    m->done = true;
    if (hung) snprintf(m->error, sizeof m->error, "hung (killed)");
    else describe_status(st, m->error, sizeof m->error);
  }
}

/* --shuffle=cells: one round's (rep, workload) cells in a shuffled order;
 * each run of consecutive cells of one rep is one child. */
static void run_cells(mtb_grid *g, int round, const options *o, const char *tmpdir,
                      char parts[][512], size_t *nparts, size_t *done, size_t total) {
  static size_t perm[MTB_MAX_REPS * MTB_MAX_WLS];
  size_t n = g->nreps * g->nwls;
  run_order(perm, n, g->cfg.seed ^ 0xce11ULL, (uint64_t)round, true);
  for (size_t i = 0; i < n;) {
    size_t rep = perm[i] / g->nwls, order[MTB_MAX_WLS], k = 0, j = i;
    bool subset[MTB_MAX_WLS] = {false};
    for (; j < n && perm[j] / g->nwls == rep; j++) {
      subset[perm[j] % g->nwls] = true;
      order[k++] = perm[j] % g->nwls;
    }
    for (size_t w = 0; w < g->nwls; w++) /* the rest, not pending: a full order */
      if (!subset[w]) order[k++] = w;
    run_rep(g, rep, round, i, subset, order, o, tmpdir, parts, nparts, done, total);
    i = j;
  }
}

/* Every round of g: the memory probes first (one child per rep), then the
 * rounds, each over the reps in a shuffled order (workloads shuffled in
 * each child too; run_order). */
static void run_grid(mtb_grid *g, const options *o, const char *tmpdir, char parts[][512],
                     size_t *nparts) {
  size_t done = 0, total = g->nreps * g->nwls * (size_t)o->repetitions;
  if (!o->no_memory && g->mode == MODE_TABLE)
    for (size_t r = 0; r < g->nreps; r++) {
      if (isatty(2)) fprintf(stderr, "\r\033[K[memory] %s", g->specs[r]);
      run_probe(g, r, o, &done, total);
    }
  /* Rounds interleave the reps, so a noisy minute hurts every rep alike. */
  for (int round = 0; round < o->repetitions; round++) {
    if (o->shuffle == SHUFFLE_CELLS) {
      run_cells(g, round, o, tmpdir, parts, nparts, &done, total);
      continue;
    }
    size_t order[MTB_MAX_REPS];
    run_order(order, g->nreps, g->cfg.seed, (uint64_t)round, o->shuffle != SHUFFLE_NONE);
    for (size_t i = 0; i < g->nreps; i++)
      run_rep(g, order[i], round, 0, NULL, NULL, o, tmpdir, parts, nparts, &done, total);
  }
  if (isatty(2)) fprintf(stderr, "\r\033[K");
}

static bool any_figure(const mtb_grid *g) {
  for (size_t r = 0; r < g->nreps; r++)
    for (size_t w = 0; w < g->nwls; w++)
      if (g->cells[r][w].nruns > 0) return true;
  return false;
}

/* Says loudly when the figures come from an unoptimised or checked build. */
static bool build_warnings(void) {
  bool warned = false;
#ifndef __OPTIMIZE__
  printf("WARNING: mtbench was compiled without optimisation: its figures are not "
         "representative\n");
  warned = true;
#endif
#ifndef NDEBUG
  printf("WARNING: mtbench was compiled with assertions on (no -DNDEBUG)\n");
  warned = true;
#endif
#ifdef MTB_BUILD_TYPE
  if (!strcmp(MTB_BUILD_TYPE, "Debug") || !strcmp(MTB_BUILD_TYPE, "")) {
    printf("WARNING: the library was built with CMAKE_BUILD_TYPE=%s (no optimisation, "
           "assertions on): use the default RelWithDebInfo or Release\n",
           *MTB_BUILD_TYPE ? MTB_BUILD_TYPE : "(none)");
    warned = true;
  }
#endif
#ifdef MTB_SANITIZE
  if (*MTB_SANITIZE) {
    printf("WARNING: built with -fsanitize=%s: figures are slowed down\n", MTB_SANITIZE);
    warned = true;
  }
#endif
  return warned;
}

int main(int argc, char **argv) {
  options o = {0};
  o.repetitions = 3;
  o.budget = 64u << 20;
  o.shuffle = SHUFFLE_REPS;
  mtb_grid *g = calloc(1, sizeof *g);
  if (!g) return 1;
  mtw_config_default(&g->cfg);
  g->cfg.num = DEFAULT_NUM;
  if (parse_args(argc, argv, &o, &g->cfg)) return 2;
  g->mix_text = o.mix ? o.mix : "read:70,write:25,scan:5";
  if (o.list) {
    list_all();
    return 0;
  }
  if (o.write_trace) {
    char err[512];
    if (mtw_trace_write(o.write_trace, &g->cfg, err, sizeof err)) {
      fprintf(stderr, "mtbench: %s\n", err);
      return 1;
    }
    printf("wrote %llu operations (mix %s, dist %s) to %s\n", (unsigned long long)g->cfg.num,
           g->mix_text, dist_name(g->cfg.dist), o.write_trace);
    return 0;
  }
  g->cfg.trace = o.trace;
  if (setup_grid(g, &o)) return 2;
  mtb_sweep sweep;
  if (o.sweep && mtb_sweep_parse(o.sweep, &sweep)) return 2;

  if (o.gbench) { /* Google Benchmark owns the output; no isolation */
    const char *specs[MTB_MAX_REPS];
    for (size_t i = 0; i < g->nreps; i++) specs[i] = g->specs[i];
    mtb_register(specs, g->nreps, g->wls, g->nwls, &g->cfg, NULL);
    char *args[MAX_GB_ARGS + 2];
    int na = 0;
    args[na++] = argv[0];
    for (int i = 0; i < o.ngb; i++) args[na++] = o.gb_args[i];
    args[na] = NULL;
    return mtb_run(na, args, false) < 0 ? 2 : 0;
  }

  g->debug_build = build_warnings();
  if (g->mode == MODE_TRACE) /* the trace sets keys, values and ops */
    printf("mtbench: trace %s, ", o.trace);
  else
    printf("mtbench: N=%llu, key %zu B, value %zu B, dist %s, %d threads, ",
           (unsigned long long)g->cfg.num, g->cfg.key_size, g->cfg.value_size,
           dist_name(g->cfg.dist), g->cfg.threads);
  printf("%d repetition%s, cap %.0f s per phase, seed %llu (%s order)%s\n", o.repetitions,
         o.repetitions > 1 ? "s" : "", g->cfg.cap_s, (unsigned long long)g->cfg.seed,
         o.shuffle == SHUFFLE_NONE ? "table" : o.shuffle == SHUFFLE_CELLS ? "cells shuffled"
                                                                          : "shuffled",
         g->cfg.no_latency ? ", latency off" : "");
  if (o.out && make_dir(o.out)) return 1;
  char tmpl[] = "/tmp/mtbench.XXXXXX";
  const char *tmpdir = (o.out || o.json_out) && !o.sweep ? mkdtemp(tmpl) : NULL;
  char(*parts)[512] = calloc((size_t)o.repetitions * g->nreps * (g->nwls + 1), 512);
  if (!parts) return 1;
  size_t nparts = 0;
  int rc = 0;
  bool any = false;

  if (o.sweep) {
    mtb_grid **grids = calloc(sweep.nvalues, sizeof *grids);
    if (!grids) return 1;
    for (size_t k = 0; k < sweep.nvalues; k++) {
      grids[k] = calloc(1, sizeof *grids[k]);
      if (!grids[k] || mtb_sweep_apply(&sweep, k, g, grids[k])) return 2;
      fprintf(stderr, "mtbench: sweep %s=%s (%zu of %zu)\n", sweep.param, sweep.values[k], k + 1,
              sweep.nvalues);
      run_grid(grids[k], &o, NULL, parts, &nparts);
      any |= any_figure(grids[k]);
    }
    if (mtb_sweep_report(&sweep, grids, g, o.out)) rc = 1;
    for (size_t k = 0; k < sweep.nvalues; k++) {
      free(grids[k]->ts);
      free(grids[k]);
    }
    free(grids);
  } else {
    run_grid(g, &o, tmpdir, parts, &nparts);
    mtb_print_table(g);
    mtb_print_verdict(g);
    if (o.out) {
      char path[1100];
      snprintf(path, sizeof path, "%s/results.json", o.out);
      if (mtb_merge_json(g, path, parts, nparts)) rc = 1;
      if (mtb_write_files(g, o.out, o.plot_script)) rc = 1;
      snprintf(path, sizeof path, "%s/plot.svg", o.out);
      printf("files: %s/results.json, %s/results.csv, %s/summary.csv, %s/latency.csv, "
             "%s/timeseries.csv%s%s\n", o.out, o.out, o.out, o.out, o.out,
             access(path, R_OK) == 0 ? ", plots " : " (no plots)",
             access(path, R_OK) == 0 ? "plot.svg, timeseries.svg" : "");
    }
    if (o.json_out && mtb_merge_json(g, o.json_out, parts, nparts)) rc = 1;
    any = any_figure(g);
  }
  remove_parts(tmpdir);
  free(parts);
  free(g->ts);
  free(g);
  return any ? rc : 1;
}
