/* store_fill_bench.c -- sustained random puts through the store against
 * the same rep's in-memory fill rate (issue 8's target: >= 70%).
 *
 *   store   mt_store_put of N entries (16-byte random keys, 100-byte
 *           values) into a store with a directory, MT_SYNC_NONE, 4 MiB
 *           memtables (--memtable-bytes) flushing to sorted runs in the
 *           background (runs merging past max_runs), timed from open to
 *           the last acknowledged put; the flush of what is left (a final
 *           mt_store_flush) is timed separately.
 *   memory  mt_memtable_add of the same N entries, with the same seqs,
 *           into memtables of the size the store's were (N / its
 *           flushes entries each, a new one after each, the old ones
 *           released): the rep's fill rate at the memtable size the store
 *           uses.  A single memtable holding all N is also measured
 *           (--no-single to skip).
 * Three interleaved rounds; the median of each side is reported.
 *
 * usage: store_fill_bench [--dir=PATH] [--num=N] [--rep=SPEC]
 *                         [--memtable-bytes=B] [--max-runs=N] [--no-single]
 */
#include <memtable/memtable.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *rep = "skiplist";
static size_t mem_bytes = 4u << 20;
static unsigned max_runs = 8;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void rm_files(const char *d) {
  DIR *dd = opendir(d);
  struct dirent *e;
  char p[4200];
  while (dd && (e = readdir(dd))) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", d, e->d_name);
    unlink(p);
  }
  if (dd) closedir(dd);
}

static void make_key(char *k, uint64_t i) {
  snprintf(k, 17, "%016llx", (unsigned long long)(i * 0x9E3779B97F4A7C15ull));
}

static void die(const char *what, int rc) {
  fprintf(stderr, "%s: %s (%s)\n", what, mt_strerror(rc), mt_last_error());
  exit(1);
}

typedef struct store_result {
  double rate, flush_s;
  struct mt_store_stats st;
} store_result;

static store_result store_fill(const char *dir, uint64_t n) {
  rm_files(dir);
  mt_store_options o;
  mt_store_options_init(&o);
  o.rep = rep;
  o.memtable_bytes = mem_bytes;
  o.max_runs = max_runs;
  o.sync = MT_SYNC_NONE;
  mt_store *s;
  int rc = mt_store_open(&s, dir, &o);
  if (rc) die("mt_store_open", rc);
  char k[17], v[100];
  memset(v, 'v', sizeof v);
  double t0 = now();
  for (uint64_t i = 0; i < n; i++) {
    make_key(k, i);
    rc = mt_store_put(s, (mt_slice){k, 16}, (mt_slice){v, sizeof v});
    if (rc) die("mt_store_put", rc);
  }
  double t1 = now();
  store_result r;
  mt_store_stats(s, &r.st);
  rc = mt_store_flush(s);
  if (rc) die("mt_store_flush", rc);
  r.flush_s = now() - t1;
  r.rate = (double)n / (t1 - t0);
  uint64_t stalls = r.st.stalls, stall_ns = r.st.stall_ns; /* during the puts */
  mt_store_stats(s, &r.st); /* after the flush: every flush and merge */
  r.st.stalls = stalls;
  r.st.stall_ns = stall_ns;
  mt_store_close(s);
  return r;
}

/* per: entries per memtable (a new one after each `per`), 0 for one
 * memtable holding everything. */
static double memory_fill(uint64_t n, uint64_t per) {
  mt_memtable *m;
  int rc = mt_memtable_new(&m, rep, NULL);
  if (rc) die("mt_memtable_new", rc);
  char k[17], v[100];
  memset(v, 'v', sizeof v);
  double t0 = now();
  for (uint64_t i = 0; i < n; i++) {
    make_key(k, i);
    rc = mt_memtable_add(m, i + 1, MT_PUT, (mt_slice){k, 16}, (mt_slice){v, sizeof v});
    if (rc) die("mt_memtable_add", rc);
    if (per && (i + 1) % per == 0) {
      mt_memtable_unref(m);
      rc = mt_memtable_new(&m, rep, NULL);
      if (rc) die("mt_memtable_new", rc);
    }
  }
  double dt = now() - t0;
  mt_memtable_unref(m);
  return (double)n / dt;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  char dir[4096] = "";
  uint64_t num = 1000000;
  bool single = true;
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "--dir=", 6)) snprintf(dir, sizeof dir, "%s", argv[i] + 6);
    else if (!strncmp(argv[i], "--num=", 6)) num = strtoull(argv[i] + 6, NULL, 10);
    else if (!strncmp(argv[i], "--rep=", 6)) rep = argv[i] + 6;
    else if (!strncmp(argv[i], "--memtable-bytes=", 17)) mem_bytes = strtoull(argv[i] + 17, NULL, 10);
    else if (!strncmp(argv[i], "--max-runs=", 11)) max_runs = (unsigned)strtoul(argv[i] + 11, NULL, 10);
    else if (!strcmp(argv[i], "--no-single")) single = false;
    else {
      fprintf(stderr,
              "usage: %s [--dir=PATH] [--num=N] [--rep=SPEC] [--memtable-bytes=B] [--max-runs=N] [--no-single]\n",
              argv[0]);
      return 2;
    }
  }
  if (!num) {
    fprintf(stderr, "--num must be at least 1\n");
    return 2;
  }
  bool own = !*dir;
  if (own) {
    snprintf(dir, sizeof dir, "/tmp/mt_fill_XXXXXX");
    if (!mkdtemp(dir)) die("mkdtemp", MT_EIO);
  }
  double st_rates[3], mem_rates[3], one_rates[3] = {0, 0, 0};
  store_result last = {0};
  double stall_s[3];
  uint64_t per = 0; /* entries per memtable in the store's first round */
  for (int r = 0; r < 3; r++) {
    last = store_fill(dir, num);
    st_rates[r] = last.rate;
    stall_s[r] = (double)last.st.stall_ns * 1e-9;
    if (!per) per = last.st.flushes ? (num + last.st.flushes - 1) / last.st.flushes : num;
    mem_rates[r] = memory_fill(num, per);
    if (single) one_rates[r] = memory_fill(num, 0);
  }
  double sr[3], mr[3], orr[3];
  memcpy(sr, st_rates, sizeof sr);
  memcpy(mr, mem_rates, sizeof mr);
  memcpy(orr, one_rates, sizeof orr);
  qsort(sr, 3, sizeof *sr, cmp_d);
  qsort(mr, 3, sizeof *mr, cmp_d);
  qsort(orr, 3, sizeof *orr, cmp_d);
  printf("store fill: %llu random puts, 16-byte keys, 100-byte values, rep %s, MT_SYNC_NONE,\n"
         "            %zu-byte memtables flushing to runs in the background, max_runs %u\n",
         (unsigned long long)num, rep, mem_bytes, max_runs);
  printf("  store puts          %10.0f /s  (rounds %.0f, %.0f, %.0f)\n", sr[1], st_rates[0], st_rates[1], st_rates[2]);
  printf("  memtable_add, memtables of %llu entries (the store's) %10.0f /s  (rounds %.0f, %.0f, %.0f)\n",
         (unsigned long long)per, mr[1],
         mem_rates[0], mem_rates[1], mem_rates[2]);
  if (single)
    printf("  memtable_add, one memtable %10.0f /s  (rounds %.0f, %.0f, %.0f)\n", orr[1], one_rates[0],
           one_rates[1], one_rates[2]);
  printf("  ratio vs same-size memtables %6.2f  (target >= 0.70)\n", sr[1] / mr[1]);
  if (single) printf("  ratio vs one memtable        %6.2f\n", sr[1] / orr[1]);
  printf("  stall time          %.3f s, %.3f s, %.3f s per round (%llu stalled writes in the last)\n", stall_s[0],
         stall_s[1], stall_s[2], (unsigned long long)last.st.stalls);
  printf("  last round: %llu flushes, %llu merges, %llu runs (%llu bytes), %llu flush errors, "
         "final flush %.3f s\n",
         (unsigned long long)last.st.flushes, (unsigned long long)last.st.merges, (unsigned long long)last.st.runs,
         (unsigned long long)last.st.run_bytes, (unsigned long long)last.st.flush_errors, last.flush_s);
  rm_files(dir);
  if (own) rmdir(dir);
  return 0;
}
