/* sweep.c -- `mtbench --sweep=PARAM=v1,v2,...`: one grid per value of a
 * config parameter (num, value-size, key-size, threads, prefixes) or of one
 * rep's parameter (`rep.param`, e.g. hash_skiplist.buckets), then one table
 * per workload (rows = values, columns = reps: ops/s, p99, bytes/entry),
 * a memory table (library and resident bytes/entry, entries in the budget),
 * DIR/sweep_<param>.csv and a plot DIR/sweep_<param>.svg (sweep.gp).
 *
 * A rep.param sweep runs only the specs of that rep (the others are said
 * to be skipped); its value replaces the parameter in each such spec, or is
 * appended to it.
 *
 * Thread safety: single-threaded (the parent process).
 *
 * Invariants:
 *  1. Every grid of one sweep has the same reps in the same order (the
 *     base's, filtered by rep for a rep.param sweep) and the same
 *     workloads, so column r / workload w mean the same thing in every grid.
 *  2. A cell without a figure prints '-' (ERR with an error) and is left
 *     out of the CSV's figures and of the plot (gnuplot's missing '-').
 */
#define _POSIX_C_SOURCE 200809L
#include "mtbench.h"

#include <errno.h>
#include <memtable/memtable.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const g_cfg_params[] = {"num", "value-size", "key-size", "threads",
                                           "prefixes"};
#define NCFG (sizeof g_cfg_params / sizeof g_cfg_params[0])

static bool is_cfg_param(const char *p) {
  for (size_t i = 0; i < NCFG; i++)
    if (!strcmp(p, g_cfg_params[i])) return true;
  return false;
}

int mtb_sweep_parse(const char *text, mtb_sweep *s) {
  memset(s, 0, sizeof *s);
  const char *eq = strchr(text, '=');
  if (!eq || eq == text || (size_t)(eq - text) >= sizeof s->param || !eq[1]) {
    fprintf(stderr, "mtbench: bad --sweep=%s (want PARAM=v1,v2,...)\n", text);
    return -1;
  }
  memcpy(s->param, text, (size_t)(eq - text));
  if (!strcmp(s->param, "N")) snprintf(s->param, sizeof s->param, "num");
  const char *dot = strchr(s->param, '.');
  if (dot) {
    snprintf(s->rep, sizeof s->rep, "%.*s", (int)(dot - s->param), s->param);
    const char *names[MTB_MAX_REPS];
    size_t n = mt_rep_names(names, MTB_MAX_REPS);
    bool known = false;
    for (size_t i = 0; i < n && i < MTB_MAX_REPS; i++) known |= !strcmp(names[i], s->rep);
    if (!known || !dot[1]) {
      fprintf(stderr, "mtbench: --sweep=%s: no registered rep \"%s\" (mtbench --list)\n", text,
              s->rep);
      return -1;
    }
  } else if (!is_cfg_param(s->param)) {
    fprintf(stderr, "mtbench: --sweep: unknown parameter \"%s\" (num, value-size, key-size, "
                    "threads, prefixes, or REP.PARAM)\n", s->param);
    return -1;
  }
  char buf[2048];
  snprintf(buf, sizeof buf, "%s", eq + 1);
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (s->nvalues == MTB_MAX_SWEEP) {
      fprintf(stderr, "mtbench: --sweep: at most %d values\n", MTB_MAX_SWEEP);
      return -1;
    }
    if (!dot) {
      char *end;
      errno = 0;
      double d = strtod(t, &end);
      if (errno || end == t || *end || d < 0) {
        fprintf(stderr, "mtbench: --sweep: bad value \"%s\" of %s (a number)\n", t, s->param);
        return -1;
      }
    }
    snprintf(s->values[s->nvalues++], sizeof s->values[0], "%s", t);
  }
  return s->nvalues ? 0 : -1;
}

/* spec with param set to value: replaced where the spec names it, else
 * appended (after ':' or ','). */
static int set_rep_param(char *spec, size_t cap, const char *param, const char *value) {
  char out[256], name[96];
  const char *colon = strchr(spec, ':');
  snprintf(out, sizeof out, "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
  bool set = false;
  if (colon) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", colon + 1);
    char *save = NULL;
    int k = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save), k++) {
      const char *eq = strchr(t, '=');
      snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - t) : (int)strlen(t), t);
      size_t n = strlen(out);
      if (!strcmp(name, param)) {
        snprintf(out + n, sizeof out - n, "%s%s=%s", k ? "," : ":", param, value);
        set = true;
      } else {
        snprintf(out + n, sizeof out - n, "%s%s", k ? "," : ":", t);
      }
    }
  }
  if (!set) {
    size_t n = strlen(out);
    snprintf(out + n, sizeof out - n, "%s%s=%s", colon ? "," : ":", param, value);
  }
  if (strlen(out) >= cap) return -1;
  snprintf(spec, cap, "%s", out);
  return 0;
}

static bool spec_is_rep(const char *spec, const char *rep) {
  size_t n = strlen(rep);
  return !strncmp(spec, rep, n) && (spec[n] == 0 || spec[n] == ':');
}

int mtb_sweep_apply(const mtb_sweep *s, size_t k, const mtb_grid *base, mtb_grid *g) {
  g->mode = base->mode;
  g->cfg = base->cfg;
  g->nwls = base->nwls;
  memcpy(g->wls, base->wls, sizeof g->wls);
  snprintf(g->default_rep, sizeof g->default_rep, "%s", base->default_rep);
  g->mix_text = base->mix_text;
  const char *v = s->values[k];
  g->nreps = 0;
  for (size_t r = 0; r < base->nreps; r++) {
    if (s->rep[0] && !spec_is_rep(base->specs[r], s->rep)) {
      if (k == 0)
        printf("sweep %s: %s skipped (the parameter is %s's)\n", s->param, base->specs[r],
               s->rep);
      continue;
    }
    snprintf(g->specs[g->nreps], sizeof g->specs[0], "%s", base->specs[r]);
    if (s->rep[0] &&
        set_rep_param(g->specs[g->nreps], sizeof g->specs[0], strchr(s->param, '.') + 1, v)) {
      fprintf(stderr, "mtbench: sweep: spec too long: %s\n", base->specs[r]);
      return -1;
    }
    g->nreps++;
  }
  if (!g->nreps) {
    fprintf(stderr, "mtbench: sweep %s: no rep in --reps is a %s\n", s->param, s->rep);
    return -1;
  }
  double d = strtod(v, NULL);
  if (!strcmp(s->param, "num")) {
    if (d < 1 || d > 4e9) goto bad;
    g->cfg.num = (uint64_t)d;
  } else if (!strcmp(s->param, "value-size")) {
    if (d > 16 << 20) goto bad;
    g->cfg.value_size = (size_t)d;
  } else if (!strcmp(s->param, "key-size")) {
    if (d < 16 || d > 4096) goto bad;
    g->cfg.key_size = (size_t)d;
  } else if (!strcmp(s->param, "threads")) {
    if (d < 1 || d > 256) goto bad;
    g->cfg.threads = (int)d;
  } else if (!strcmp(s->param, "prefixes")) {
    if (d < 1) goto bad;
    g->cfg.prefixes = (uint64_t)d;
  }
  for (size_t w = 0; w < g->nwls; w++) /* fillrandom_Nthreads follows threads */
    mtw_display_name(g->wls[w], &g->cfg, g->wl_names[w], sizeof g->wl_names[0]);
  return 0;
bad:
  fprintf(stderr, "mtbench: sweep: %s=%s is out of range\n", s->param, v);
  return -1;
}

/* ---- report ---------------------------------------------------------------------- */

static void fmt_num(char *buf, size_t cap, double v) {
  if (v >= 1e9) snprintf(buf, cap, "%.2fG", v / 1e9);
  else if (v >= 1e6) snprintf(buf, cap, "%.2fM", v / 1e6);
  else if (v >= 1e4) snprintf(buf, cap, "%.1fk", v / 1e3);
  else if (v >= 100) snprintf(buf, cap, "%.0f", v);
  else snprintf(buf, cap, "%.1f", v);
}

static void file_param(const mtb_sweep *s, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", s->param);
  for (char *p = buf; *p; p++)
    if (*p == '/' || *p == ' ' || *p == ':' || *p == '\'') *p = '_';
}

/* A column's name: the spec without the swept parameter (it is the row). */
static const char *label(const mtb_sweep *s, const char *spec, char *buf, size_t cap) {
  if (!s->rep[0]) return spec;
  const char *param = strchr(s->param, '.') + 1, *colon = strchr(spec, ':');
  snprintf(buf, cap, "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
  if (!colon) return buf;
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s", colon + 1);
  char *save = NULL;
  int k = 0;
  size_t plen = strlen(param);
  for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (!strncmp(t, param, plen) && t[plen] == '=') continue;
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", k++ ? "," : ":", t);
  }
  return buf;
}

/* Workload w's name in a title: fillrandom_Nthreads when threads is swept
 * (each row has its own T), else the name its cells carry. */
static const char *wl_title(const mtb_sweep *s, const mtb_grid *g0, size_t w) {
  return strcmp(s->param, "threads") ? g0->wl_names[w] : g0->wls[w]->name;
}

static void print_tables(const mtb_sweep *s, mtb_grid *const *grids) {
  char lb[256];
  const mtb_grid *g0 = grids[0];
  size_t vw = strlen(s->param);
  for (size_t k = 0; k < s->nvalues; k++)
    if (strlen(s->values[k]) > vw) vw = strlen(s->values[k]);
  size_t cw = 31; /* "ops/s  CV  p99  B/e" per rep */
  for (size_t r = 0; r < g0->nreps; r++)
    if (strlen(label(s, g0->specs[r], lb, sizeof lb)) > cw) cw = strlen(lb);
  for (size_t w = 0; w < g0->nwls; w++) {
    printf("\nsweep %s, %s: ops/s (median) and its CV, p99 ns (every op), B/entry (library)\n",
           s->param, wl_title(s, g0, w));
    printf("%-*s", (int)vw, s->param);
    for (size_t r = 0; r < g0->nreps; r++) {
      printf("  %-*.*s", (int)cw, (int)cw, label(s, g0->specs[r], lb, sizeof lb));
    }
    printf("\n%-*s", (int)vw, "");
    for (size_t r = 0; r < g0->nreps; r++)
      printf("  %*s %4s %8s %7s", (int)cw - 22, "ops/s", "CV", "p99", "B/e");
    printf("\n");
    for (size_t k = 0; k < s->nvalues; k++) {
      const mtb_grid *g = grids[k];
      printf("%-*s", (int)vw, s->values[k]);
      for (size_t r = 0; r < g->nreps; r++) {
        const mtb_cell *c = &g->cells[r][w];
        double ops, p99, b, cv;
        char a[32] = "-", v[16] = "-", p[32] = "-", m[32] = "-";
        if (mtb_cell_median(c, NULL, &ops, &b)) {
          fmt_num(a, sizeof a, ops);
          if (c->nruns > 1 && mtb_cell_cv(c, NULL, &cv))
            snprintf(v, sizeof v, "%.0f%%", cv * 100 > 999 ? 999 : cv * 100);
          if (mtb_cell_lat(c, WL_OP_KINDS, 2, &p99)) fmt_num(p, sizeof p, p99);
          if (b > 0) snprintf(m, sizeof m, "%.1f", b);
        } else if (c->error[0]) {
          snprintf(a, sizeof a, "ERR");
        }
        printf("  %*s %4s %8s %7s", (int)cw - 22, a, v, p, m);
      }
      printf("\n");
    }
  }
  bool mem = false;
  for (size_t k = 0; k < s->nvalues; k++)
    for (size_t r = 0; r < grids[k]->nreps; r++) mem |= grids[k]->mem[r].done;
  if (!mem) return;
  printf("\nsweep %s, memory probe: library B/entry, resident-set growth B/entry, entries "
         "held by a %.0f MiB memory_usage budget\n", s->param,
         (double)grids[0]->mem[0].budget / 1048576.0);
  printf("%-*s", (int)vw, s->param);
  for (size_t r = 0; r < g0->nreps; r++)
    printf("  %-*.*s", 26, 26, label(s, g0->specs[r], lb, sizeof lb));
  printf("\n%-*s", (int)vw, "");
  for (size_t r = 0; r < g0->nreps; r++) printf("  %7s %7s %10s", "lib B/e", "RSS B/e", "in budget");
  printf("\n");
  for (size_t k = 0; k < s->nvalues; k++) {
    printf("%-*s", (int)vw, s->values[k]);
    for (size_t r = 0; r < grids[k]->nreps; r++) {
      const mtb_mem *m = &grids[k]->mem[r];
      if (m->done && !m->error[0])
        printf("  %7.1f %7.1f %10llu", m->lib_bpe, m->rss_bpe,
               (unsigned long long)m->budget_entries);
      else
        printf("  %7s %7s %10s", "ERR", "ERR", "ERR");
    }
    printf("\n");
  }
}

static int write_csv(const mtb_sweep *s, mtb_grid *const *grids, const char *dir,
                     const char *fp) {
  char path[1200];
  snprintf(path, sizeof path, "%s/sweep_%s.csv", dir, fp);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "mtbench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  fprintf(f, "param,value,rep,workload,runs,median_ops_per_s,cv_ops_per_s,median_ns_per_op,"
             "median_p50_ns,median_p99_ns,bytes_per_entry,lib_bytes_per_entry_probe,"
             "rss_bytes_per_entry,budget_bytes,budget_entries,error\n");
  for (size_t k = 0; k < s->nvalues; k++) {
    const mtb_grid *g = grids[k];
    for (size_t r = 0; r < g->nreps; r++)
      for (size_t w = 0; w < g->nwls; w++) {
        const mtb_cell *c = &g->cells[r][w];
        const mtb_mem *m = &g->mem[r];
        double ops, cv, ns, b, p50, p99;
        fprintf(f, "%s,%s,\"%s\",%s,%d,", s->param, s->values[k], g->specs[r], g->wl_names[w],
                c->nruns);
        if (mtb_cell_median(c, &ns, &ops, &b) && mtb_cell_cv(c, NULL, &cv)) {
          fprintf(f, "%.1f,%.4f,%.3f,", ops, cv, ns);
          if (mtb_cell_lat(c, WL_OP_KINDS, 0, &p50) && mtb_cell_lat(c, WL_OP_KINDS, 2, &p99))
            fprintf(f, "%.0f,%.0f,", p50, p99);
          else
            fprintf(f, ",,");
          if (b > 0) fprintf(f, "%.2f,", b);
          else fprintf(f, ",");
        } else {
          fprintf(f, ",,,,,,");
        }
        if (m->done && !m->error[0])
          fprintf(f, "%.2f,%.2f,%llu,%llu,", m->lib_bpe, m->rss_bpe,
                  (unsigned long long)m->budget, (unsigned long long)m->budget_entries);
        else
          fprintf(f, ",,,,");
        fprintf(f, "\"");
        for (const char *p = c->error[0] ? c->error : m->error; *p; p++)
          fputc(*p == '"' ? '\'' : *p, f);
        fprintf(f, "\"\n");
      }
  }
  return fclose(f) ? -1 : 0;
}

/* sweep_<param>.dat: gnuplot blocks (index i), first line a header; per
 * workload one block per rep ("k value ops/s p99 B/entry"), then, when the
 * memory probe ran (not --no-memory), one block per rep of it ("k value
 * lib_bpe rss_bpe budget_entries").
 * blocks: "first:count:title ..." per panel, for sweep.gp. */
static int write_dat(const mtb_sweep *s, mtb_grid *const *grids, const char *dir,
                     const char *fp, char *blocks, size_t cap, char *datpath, size_t pcap) {
  snprintf(datpath, pcap, "%s/sweep_%s.dat", dir, fp);
  FILE *f = fopen(datpath, "w");
  if (!f) {
    fprintf(stderr, "mtbench: %s: %s\n", datpath, strerror(errno));
    return -1;
  }
  const mtb_grid *g0 = grids[0];
  size_t nb = 0, used = 0;
  bool mem = false;
  for (size_t k = 0; k < s->nvalues; k++)
    for (size_t r = 0; r < grids[k]->nreps; r++) mem |= grids[k]->mem[r].done;
  blocks[0] = 0;
  for (size_t w = 0; w < g0->nwls + mem; w++) {
    size_t first = nb;
    for (size_t r = 0; r < g0->nreps; r++) {
      char lb[256];
      fprintf(f, "%s\"k\" \"value\" \"%s\" p99 bpe\n", nb ? "\n\n" : "",
              label(s, g0->specs[r], lb, sizeof lb));
      nb++;
      for (size_t k = 0; k < s->nvalues; k++) {
        const mtb_grid *g = grids[k];
        if (w < g0->nwls) {
          const mtb_cell *c = &g->cells[r][w];
          double ops, p99, b;
          if (!mtb_cell_median(c, NULL, &ops, &b)) {
            fprintf(f, "%zu %s - - -\n", k, s->values[k]);
            continue;
          }
          fprintf(f, "%zu %s %.1f ", k, s->values[k], ops);
          if (mtb_cell_lat(c, WL_OP_KINDS, 2, &p99)) fprintf(f, "%.0f ", p99);
          else fprintf(f, "- ");
          if (b > 0) fprintf(f, "%.2f\n", b);
          else fprintf(f, "-\n");
        } else {
          const mtb_mem *m = &g->mem[r];
          if (m->done && !m->error[0])
            fprintf(f, "%zu %s %.2f %.2f %llu\n", k, s->values[k], m->lib_bpe, m->rss_bpe,
                    (unsigned long long)m->budget_entries);
          else
            fprintf(f, "%zu %s - - -\n", k, s->values[k]);
        }
      }
    }
    if (used < cap)
      used += (size_t)snprintf(blocks + used, cap - used, "%s%zu:%zu:%s", used ? " " : "", first,
                               nb - first, w < g0->nwls ? wl_title(s, g0, w) : "memory");
  }
  return fclose(f) ? -1 : 0;
}

int mtb_sweep_report(const mtb_sweep *s, mtb_grid *const *grids, const mtb_grid *base,
                     const char *dir) {
  print_tables(s, grids);
  for (size_t k = 0; k < s->nvalues; k++)
    for (size_t r = 0; r < grids[k]->nreps; r++)
      for (size_t w = 0; w < grids[k]->nwls; w++)
        if (grids[k]->cells[r][w].error[0])
          printf("  error at %s=%s, %s/%s: %s\n", s->param, s->values[k], grids[k]->specs[r],
                 grids[k]->wl_names[w], grids[k]->cells[r][w].error);
  if (!dir) return 0;
  char fp[128], path[1200], blocks[4096], sbuf[1100], svg[1200], expr[8192];
  file_param(s, fp, sizeof fp);
  int rc = write_csv(s, grids, dir, fp);
  if (write_dat(s, grids, dir, fp, blocks, sizeof blocks, path, sizeof path)) return -1;
  snprintf(svg, sizeof svg, "%s/sweep_%s.svg", dir, fp);
  snprintf(expr, sizeof expr,
           "datafile='%s'; outfile='%s'; blocks='%s'; param='%s'; "
           "ttl='mtbench sweep over %s (N=%llu unless swept)'",
           path, svg, blocks, s->param, s->param, (unsigned long long)base->cfg.num);
  mtb_gnuplot(mtb_find_script(NULL, "sweep.gp", sbuf, sizeof sbuf), expr, svg, path);
  printf("\nfiles: %s/sweep_%s.csv, %s/sweep_%s.dat%s%s\n", dir, fp, dir, fp,
         access(svg, 0) == 0 ? ", " : " (no plot)", access(svg, 0) == 0 ? svg : "");
  return rc;
}
