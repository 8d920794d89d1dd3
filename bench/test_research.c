/* test_research.c -- checks of the research workloads' generators and of the
 * lab trace format: the scrambled zipfian's skew and YCSB's zeta constant,
 * the latest generator's preference for recent keys, near-sorted orders'
 * displacement count and distance, the LSMMemoryProfiling parser on good
 * and bad lines (a bad line is "file:line: what") and its replay's checked
 * answers, a small run of every research workload on every registered rep,
 * and the replay on every rep of each trace file named on the command line.
 * Prints "N passed, N failed"; exits 1 on any failure.
 *
 * Thread safety: single-threaded.
 */
#define _POSIX_C_SOURCE 200809L
#include "test_check.h"
#include "wl_internal.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>


static double unit(uint64_t i) { return (double)(wl_mix(i) >> 11) * 0x1.0p-53; }

static void test_zeta(void) {
  /* Growing a zipfian to 10^10 items takes the integral tail: it must give
   * YCSB's ScrambledZipfianGenerator.ZETAN. */
  wl_zipfian z;
  wl_zipfian_init(&z, 2, 0.99);
  wl_zipfian_next(&z, WL_YCSB_ITEMS, 0.5);
  CHECK(fabs(z.zetan - 26.46902820178302) < 1e-7, "zeta(10^10, 0.99) = %.12f", z.zetan);
  /* ... and the exact sum where both can be computed. */
  double exact = 0;
  for (uint64_t i = 1; i <= 3000000; i++) exact += pow((double)i, -0.8);
  wl_zipfian_init(&z, 3000000, 0.8);
  CHECK(fabs(z.zetan - exact) < 1e-9 * exact, "zeta(3e6, 0.8) = %.12f, exact %.12f", z.zetan,
        exact);
  /* FNV-1a of eight zero bytes, by hand: offset basis then 8 x (xor 0, * prime). */
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int i = 0; i < 8; i++) h *= 1099511628211ULL;
  CHECK(wl_fnv64(0) == (h >> 63 ? ~h + 1 : h), "fnv64(0) is FNV-1a of 8 zero bytes");
}

static void test_scrambled(void) {
  enum { RANGE = 10000, N = 400000 };
  static uint32_t count[RANGE];
  wl_zipfian z;
  wl_zipfian_init(&z, WL_YCSB_ITEMS, 0.99);
  memset(count, 0, sizeof count);
  bool in_range = true;
  for (uint64_t i = 0; i < N; i++) {
    uint64_t k = wl_scrambled_next(&z, RANGE, unit(i));
    if (k >= RANGE) in_range = false;
    else count[k]++;
  }
  CHECK(in_range, "every pick in [0, %d)", RANGE);
  uint32_t top = 0, topk = 0;
  for (int k = 0; k < RANGE; k++)
    if (count[k] > top) top = count[k], topk = (uint32_t)k;
  /* Rank 0 has probability 1 / zeta = 3.78%; uniform would give 0.01%. */
  double f = (double)top / N;
  CHECK(f > 0.033 && f < 0.043, "top key frequency %.4f, want about 0.0378", f);
  CHECK(topk == wl_fnv64(0) % RANGE, "the top key is rank 0 scrambled: %u vs %llu", topk,
        (unsigned long long)(wl_fnv64(0) % RANGE));
  CHECK(topk != 0, "scrambling moved the top key away from key 0");
}

static void test_latest(void) {
  enum { N = 200000 };
  uint64_t last = 99999, recent = 0, at_last = 0;
  bool in_range = true;
  wl_zipfian z;
  wl_zipfian_init(&z, last + 1, 0.99);
  for (uint64_t i = 0; i < N; i++) {
    uint64_t k = wl_latest_next(&z, last, unit(i + 77));
    if (k > last) in_range = false;
    recent += k + 100 > last;
    at_last += k == last;
  }
  CHECK(in_range, "latest picks stay in [0, last]");
  /* The 100 newest of 100000 keys: 0.1% under uniform, ~43% here. */
  CHECK(recent > N * 3 / 10, "%llu of %d picks among the 100 newest keys",
        (unsigned long long)recent, N);
  CHECK(at_last > N / 20, "the newest key is picked %llu times", (unsigned long long)at_last);
  /* Inserting more moves the hot spot with the newest key. */
  uint64_t moved = 0;
  for (uint64_t i = 0; i < 1000; i++) moved += wl_latest_next(&z, last + 50000, unit(i)) > last;
  CHECK(moved > 900, "after 50000 more inserts %llu of 1000 picks are new keys",
        (unsigned long long)moved);
}

static void test_nearsorted(void) {
  enum { N = 100000 };
  uint64_t displaced;
  uint32_t *o = wl_nearsorted(N, 10, 100, 5, &displaced);
  CHECK(o != NULL, "allocated");
  if (!o) return;
  static uint8_t seen[N];
  memset(seen, 0, sizeof seen);
  uint64_t moved = 0, maxd = 0;
  bool perm = true;
  for (uint64_t p = 0; p < N; p++) {
    if (o[p] >= N || seen[o[p]]) perm = false;
    else seen[o[p]] = 1;
    uint64_t d = o[p] > p ? o[p] - p : p - o[p];
    moved += d != 0;
    if (d > maxd) maxd = d;
  }
  CHECK(perm, "a permutation of 0..n-1");
  CHECK(moved == displaced, "displaced %llu, counted %llu", (unsigned long long)displaced,
        (unsigned long long)moved);
  CHECK(displaced >= N / 10 - 2 && displaced <= N / 10, "10%% of %d: %llu displaced", N,
        (unsigned long long)displaced);
  CHECK(maxd <= 100 && maxd > 50, "largest displacement %llu (L = 100)",
        (unsigned long long)maxd);
  free(o);
  o = wl_nearsorted(1000, 0, 100, 5, &displaced);
  bool identity = o != NULL;
  for (uint32_t p = 0; o && p < 1000; p++) identity &= o[p] == p;
  CHECK(identity && displaced == 0, "K = 0 leaves the order sorted");
  free(o);
  o = wl_nearsorted(1000, 40, 1, 5, &displaced);
  bool adjacent = o != NULL;
  for (uint32_t p = 0; o && p < 1000; p++) adjacent &= o[p] == p || o[p] + 1 == p || o[p] == p + 1;
  CHECK(adjacent && displaced > 300 && displaced <= 400,
        "K = 40, L = 1: %llu displaced, all by one position", (unsigned long long)displaced);
  free(o);
}

/* Writes text to a temporary file; its path in path. */
static void write_tmp(char *path, size_t cap, const char *text) {
  snprintf(path, cap, "/tmp/test_research_%d_XXXXXX", (int)getpid());
  int fd = mkstemp(path);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* Loads text as a trace: 0 with the trace in *t, or -1 with err filled. */
static int load_text(const char *text, mtw_trace **t, char *err, size_t cap, char *path,
                     size_t pcap) {
  write_tmp(path, pcap, text);
  return mtw_trace_load(t, path, err, cap);
}

static void check_bad(const char *text, int line, const char *what) {
  char path[128], err[512], want[160];
  mtw_trace *t = NULL;
  int rc = load_text(text, &t, err, sizeof err, path, sizeof path);
  snprintf(want, sizeof want, "%s:%d: ", path, line);
  CHECK(rc != 0 && t == NULL && strstr(err, want) && strstr(err, what),
        "bad trace %s: rc %d err \"%s\", want \"%s...%s\"", text, rc, rc ? err : "", want, what);
  mtw_trace_free(t);
  unlink(path);
}

static const char *k_good_lab =
    "# a comment\n"
    "I key1 value1\n"
    "I key2 value2\n"
    "\n"
    "U key1 value1b\n"
    "Q key1\n"
    "D key2 \n"
    "Q key2\n"
    "P nokey\n"
    "S key0 key9\n"
    "SC key1 5\n"
    "I key2 again\n"
    "Q key2\n";

/* Replays the trace at path on rep: mtw_run's answer, or -1 when rep's
 * context cannot be made (res->error says why).  The caller frees res. */
static int replay(const char *path, const char *rep, mtw_result *res) {
  mtw_config c;
  mtw_config_default(&c);
  c.trace = path;
  memset(res, 0, sizeof *res);
  mtw_ctx *ctx;
  if (mtw_ctx_new(&ctx, rep, &c, res->error, sizeof res->error)) return -1;
  int rc = mtw_run(ctx, mtw_find("trace"), res);
  mtw_ctx_free(ctx);
  return rc;
}

static void test_lab_parser(void) {
  char path[128], err[512];
  mtw_trace *t = NULL;
  int rc = load_text(k_good_lab, &t, err, sizeof err, path, sizeof path);
  CHECK(rc == 0 && t && mtw_trace_ops(t) == 11, "good lab trace: rc %d ops %llu %s", rc,
        t ? (unsigned long long)mtw_trace_ops(t) : 0ULL, rc ? err : "");
  mtw_trace_free(t);
  /* Replayed on every rep: the gets' answers are checked against the
   * trace (key1 found, key2 deleted, nokey absent, key2 found again). */
  const char *names[16];
  size_t nreps = mt_rep_names(names, 16);
  for (size_t r = 0; r < nreps && r < 16; r++) {
    mtw_result res;
    rc = replay(path, names[r], &res);
    CHECK(rc == 0 && res.ops == 11, "%s replays the lab trace: %s", names[r], res.error);
    double hit = -1, scanned = -1;
    for (int i = 0; i < res.ncounters; i++) {
      if (!strcmp(res.counters[i].name, "get_hit_ratio")) hit = res.counters[i].value;
      if (!strcmp(res.counters[i].name, "scanned")) scanned = res.counters[i].value;
    }
    CHECK(fabs(hit - 0.5) < 1e-9, "%s: 2 of 4 gets hit (%.3f)", names[r], hit);
    /* scanned counts nexts.  S key0 key9 passes all 4 entries (key1 x2,
     * key2 x2): 4 nexts; SC key1 5 stops at the end after 4 nexts. */
    CHECK(scanned == 4 + 4, "%s: %.0f nexts, want 8", names[r], scanned);
    mtw_result_free(&res);
  }
  unlink(path);

  check_bad("I key1\n", 1, "want <key> <value>");
  check_bad("I a b\nQ\n", 2, "want one <key>");
  check_bad("I a b\nD a b\n", 2, "want one <key>");
  check_bad("I a b\nS a\n", 2, "want <start> <end>");
  check_bad("I a b\nSC a x\n", 2, "bad count");
  check_bad("I a b\nSC a -1\n", 2, "bad count");
  check_bad("# c\nI a b\nR a b\n", 3, "range delete");
  check_bad("I a b\nM a b\n", 2, "merge");
  check_bad("I a b\nX a\n", 2, "unknown operation");
  check_bad("I a b\nput 00 1\n", 2, "unknown operation"); /* no mixing formats */
  check_bad("hello world\n", 1, "unknown operation");
  check_bad("put 0011 3\nI a b\n", 2, "unknown operation");
  check_bad("I a b c\n", 1, "want <key> <value>");
}

/* Every research workload on every registered rep at a small N: each must
 * finish every op with its checks passing. */
static void test_smoke(void) {
  const char *names[16];
  size_t nreps = mt_rep_names(names, 16), nw;
  const mtw_workload *w = mtw_workloads(&nw);
  mtw_config c;
  mtw_config_default(&c);
  c.num = 3000;
  int ran = 0;
  for (size_t r = 0; r < nreps && r < 16; r++) {
    char err[256];
    mtw_ctx *ctx;
    CHECK(mtw_ctx_new(&ctx, names[r], &c, err, sizeof err) == 0, "%s: %s", names[r], err);
    if (!ctx) continue;
    for (size_t i = 0; i < nw; i++) {
      if (strcmp(w[i].group, "research")) continue;
      mtw_result res;
      int rc = mtw_run(ctx, &w[i], &res);
      CHECK(rc == 0 && res.ops == res.want && res.ops > 0 && res.seconds > 0,
            "%s/%s: rc %d ops %llu of %llu: %s", names[r], w[i].name, rc,
            (unsigned long long)res.ops, (unsigned long long)res.want, res.error);
      mtw_result_free(&res);
      ran++;
    }
    mtw_ctx_free(ctx);
  }
  CHECK(ran >= 14, "ran %d research cells", ran);
  /* The insertread shares and the YCSB op mixes come out as named. */
  mtw_ctx *ctx;
  char err[256];
  if (mtw_ctx_new(&ctx, NULL, &c, err, sizeof err) == 0) {
    mtw_result res;
    mtw_run(ctx, mtw_find("insertread-10"), &res);
    double reads = 0, inserts = 0;
    for (int i = 0; i < res.ncounters; i++) {
      if (!strcmp(res.counters[i].name, "reads")) reads = res.counters[i].value;
      if (!strcmp(res.counters[i].name, "inserts")) inserts = res.counters[i].value;
    }
    CHECK(inserts == 3000 && fabs(reads / (reads + inserts) - 0.10) < 0.001,
          "insertread-10: %.0f inserts, %.0f reads", inserts, reads);
    mtw_result_free(&res);
    mtw_run(ctx, mtw_find("ycsb-b"), &res);
    double upd = 0;
    for (int i = 0; i < res.ncounters; i++)
      if (!strcmp(res.counters[i].name, "updates")) upd = res.counters[i].value;
    CHECK(upd > 3000 * 0.03 && upd < 3000 * 0.07, "ycsb-b: %.0f updates of 3000 ops", upd);
    mtw_result_free(&res);
    /* deleteheavy's gets do meet tombstones; every phase runs. */
    mtw_run(ctx, mtw_find("deleteheavy"), &res);
    double dels = 0, gone = 0;
    for (int i = 0; i < res.ncounters; i++) {
      if (!strcmp(res.counters[i].name, "deletes")) dels = res.counters[i].value;
      if (!strcmp(res.counters[i].name, "reads_of_deleted")) gone = res.counters[i].value;
    }
    CHECK(dels > 1300 && dels < 1700 && gone > 200, "deleteheavy: %.0f deletes, %.0f gets of "
          "deleted keys", dels, gone);
    mtw_result_free(&res);
    mtw_run(ctx, mtw_find("phases"), &res);
    int phases = 0;
    for (int i = 0; i < res.ncounters; i++)
      phases += strstr(res.counters[i].name, "_ops/s") && res.counters[i].value > 0;
    CHECK(phases == 4, "phases: %d of 4 phase rates", phases);
    mtw_result_free(&res);
    mtw_ctx_free(ctx);
  }
}

/* The trace file at path (bench/traces/lab_sample.txt from ctest) replays
 * on every registered rep with every get's answer as the trace implies. */
static void test_replay_file(const char *path) {
  char err[512];
  mtw_trace *t;
  CHECK(mtw_trace_load(&t, path, err, sizeof err) == 0, "%s", err);
  uint64_t ops = t ? mtw_trace_ops(t) : 0;
  mtw_trace_free(t);
  const char *names[16];
  size_t nreps = mt_rep_names(names, 16);
  for (size_t r = 0; r < nreps && r < 16; r++) {
    mtw_result res;
    int rc = replay(path, names[r], &res);
    CHECK(rc == 0 && ops > 0 && res.ops == ops, "%s replays %s: %llu of %llu ops: %s",
          names[r], path, (unsigned long long)res.ops, (unsigned long long)ops, res.error);
    mtw_result_free(&res);
  }
}

int main(int argc, char **argv) {
  test_zeta();
  test_scrambled();
  test_latest();
  test_nearsorted();
  test_lab_parser();
  test_smoke();
  for (int i = 1; i < argc; i++) test_replay_file(argv[i]);
  return test_check_report();
}
