// shim.cc -- the only C++ in the project: registers every (rep x workload)
// pair of the C workloads with benchmark::RegisterBenchmark and runs them
// under Google Benchmark, so all of its flags (filter, repetitions, JSON
// out, ...) work.  See shim.h for the contract.
//
// Thread safety: one thread registers and runs.  The single live workload
// context (g_ctx) belongs to that thread; it is replaced when a benchmark
// of another rep starts, so at most one rep's keys and fixture are in memory.
//
// Invariants:
//  1. Each benchmark runs Iterations(1) with UseManualTime: the time Google
//     Benchmark reports is exactly the workload's timed region (key
//     generation and fixture building are outside it).
//  2. ops/s is a kIsRate counter over that manual time, so it equals
//     ops / timed seconds; ns/op is its inverse times 1e9.
//  3. A failing workload calls SkipWithError: it appears in every report as
//     an error and never stops the run.
#include "shim.h"
#include "latency.h"

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

namespace {

struct Shared {
  mtw_config cfg;
  mtb_hooks hooks{};
  bool has_hooks = false;
};

struct Live {  // the context of the rep whose benchmarks are running
  std::string spec;
  mtw_ctx *ctx = nullptr;
  std::string error;
};

Shared g_shared;
Live g_live;

void drop_live() {
  mtw_ctx_free(g_live.ctx);
  g_live = Live{};
}

mtw_ctx *live_ctx(const std::string &spec, std::string *error) {
  if (g_live.spec != spec || (!g_live.ctx && g_live.error.empty())) {
    drop_live();
    g_live.spec = spec;
    char err[256] = "";
    if (mtw_ctx_new(&g_live.ctx, spec.c_str(), &g_shared.cfg, err, sizeof err) != 0)
      g_live.error = err;
  }
  *error = g_live.error;
  return g_live.ctx;
}

void run_one(benchmark::State &state, std::string spec, const mtw_workload *w,
             std::string name) {
  std::string error;
  mtw_ctx *ctx = live_ctx(spec, &error);
  if (!ctx) {
    mtw_result r{};
    snprintf(r.error, sizeof r.error, "%s", error.c_str());
    if (g_shared.has_hooks)
      g_shared.hooks.done(g_shared.hooks.ctx, spec.c_str(), name.c_str(), &r, nullptr);
    state.SkipWithError(error.c_str());
    return;
  }
  double seconds = 0, ops = 0, want = 0;
  mtw_result last{};
  mtw_lat_summary lat{};
  bool has_lat = false;
  for (auto _ : state) {
    if (g_shared.has_hooks) g_shared.hooks.begin(g_shared.hooks.ctx, spec.c_str(), name.c_str());
    mtw_result_free(&last);
    int rc = mtw_run(ctx, w, &last);
    if (has_lat) mtw_lat_summary_free(&lat);
    has_lat = mtw_lat_summarize(&last, &lat) == 0;
    if (g_shared.has_hooks)
      g_shared.hooks.done(g_shared.hooks.ctx, spec.c_str(), name.c_str(), &last,
                          has_lat ? &lat : nullptr);
    if (rc != 0) {
      state.SkipWithError(last.error);
      break;
    }
    state.SetIterationTime(last.seconds);
    seconds += last.seconds;
    ops += (double)last.ops;
    want += (double)last.want;
  }
  mtw_result_free(&last);
  if (has_lat) {
    for (int op = 0; op < WL_OP_KINDS && !state.error_occurred(); op++) {
      if (!lat.op[op].count) continue;
      for (int q = 0; q < MTW_LAT_NQ; q++)
        state.counters[std::string(wl_op_name((wl_op)op)) + "_" + mtw_lat_qname[q] + "_ns"] =
            lat.op[op].q[q];
    }
    mtw_lat_summary_free(&lat);
  }
  if (state.error_occurred() || ops <= 0) return;
  state.counters["ns/op"] = benchmark::Counter(seconds * 1e9 / ops);
  state.counters["ops/s"] = benchmark::Counter(ops, benchmark::Counter::kIsRate);
  if (last.bytes_per_entry > 0) state.counters["bytes/entry"] = last.bytes_per_entry;
  for (int i = 0; i < last.ncounters; i++)
    state.counters[last.counters[i].name] = last.counters[i].value;
  if (ops < want) state.SetLabel("capped at " + std::to_string((long long)ops) + " of " +
                                 std::to_string((long long)want) + " ops");
}

class QuietReporter : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context &) override { return true; }
  void ReportRuns(const std::vector<Run> &) override {}
};

}  // namespace

extern "C" size_t mtb_register(const char *const *specs, size_t nspecs,
                               const mtw_workload *const *wls, size_t nwl,
                               const mtw_config *cfg, const mtb_hooks *hooks) {
  g_shared.cfg = *cfg;
  g_shared.has_hooks = hooks != nullptr;
  if (hooks) g_shared.hooks = *hooks;
  size_t n = 0;
  for (size_t r = 0; r < nspecs; r++) {
    for (size_t k = 0; k < nwl; k++) {
      char buf[64];
      std::string wname = mtw_display_name(wls[k], cfg, buf, sizeof buf);
      std::string spec = specs[r];
      std::string name = spec + "/" + wname;
      benchmark::RegisterBenchmark(name.c_str(), run_one, spec, wls[k], wname)
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
      n++;
    }
  }
  return n;
}

extern "C" long mtb_run(int argc, char **argv, bool quiet) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return -1;
  size_t ran;
  if (quiet) {
    QuietReporter q;
    ran = benchmark::RunSpecifiedBenchmarks(&q);
  } else {
    ran = benchmark::RunSpecifiedBenchmarks();
  }
  drop_live();
  benchmark::ClearRegisteredBenchmarks();
  benchmark::Shutdown();
  return (long)ran;
}
