/* support.c -- the failing allocator, the reference model and the
 * sorted-array rep behind the tests (support.h says what each is for). */
#include "support.h"
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. the failing allocator ------------------------------------------------ */

static _Atomic long countdown = -1, live, calls, failed;

static bool should_fail(void) {
  atomic_fetch_add(&calls, 1);
  if (atomic_load(&countdown) >= 0 && atomic_fetch_sub(&countdown, 1) == 0) {
    atomic_store(&failed, 1);
    return true;
  }
  return false;
}
static void *f_malloc(void *ctx, size_t n) {
  if (should_fail()) return NULL;
  void *p = malloc(n);
  if (p) atomic_fetch_add(&live, 1);
  return p;
}
static void *f_realloc(void *ctx, void *p, size_t n) {
  if (!p) return f_malloc(ctx, n);
  if (should_fail()) return NULL;
  return realloc(p, n);
}
static void f_free(void *ctx, void *p) {
  if (p) atomic_fetch_sub(&live, 1);
  free(p);
}

void fail_alloc_install(long fail_at) {
  atomic_store(&countdown, fail_at);
  atomic_store(&live, 0);
  atomic_store(&calls, 0);
  atomic_store(&failed, 0);
  mt_allocator a = {f_malloc, f_realloc, f_free, NULL};
  mt_set_allocator(&a);
}
void fail_alloc_arm(long fail_at) {
  atomic_store(&failed, 0);
  atomic_store(&countdown, fail_at);
}
void fail_alloc_uninstall(void) { mt_set_allocator(NULL); }
long fail_alloc_live(void) { return atomic_load(&live); }
long fail_alloc_calls(void) { return atomic_load(&calls); }
int fail_alloc_failed(void) { return (int)atomic_load(&failed); }

/* ---- 2. small helpers ------------------------------------------------------------- */

void clear_last_error(void) { mt_set_error(MT_OK, "%s", ""); }

/* Every registered rep, or with MT_TEST_REPS=a,b set only those. */
size_t rep_list(const char **names, size_t cap) {
  size_t n = mt_rep_names(names, cap);
  if (n > cap) n = cap;
  const char *only = getenv("MT_TEST_REPS");
  if (!only || !*only) return n;
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(names[i]);
    for (const char *p = only; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
      if (strcspn(p, ",") == len && !strncmp(p, names[i], len)) {
        names[kept++] = names[i];
        break;
      }
    }
  }
  return kept;
}

/* ---- 3. the reference model ----------------------------------------------------------- */

void model_init(model *m, const mt_comparator *cmp) {
  memset(m, 0, sizeof *m);
  if (cmp && cmp->compare) m->cmp = *cmp;
}

void model_free(model *m) {
  for (size_t i = 0; i < m->n; i++) {
    free(m->e[i].key);
    free(m->e[i].val);
  }
  free(m->e);
  memset(m, 0, sizeof *m);
}

int model_key_compare(const model *m, mt_slice a, mt_slice b) {
  if (m->cmp.compare) return m->cmp.compare(m->cmp.ctx, a, b);
  size_t n = a.len < b.len ? a.len : b.len;
  int c = n ? memcmp(a.data, b.data, n) : 0;
  if (c) return c < 0 ? -1 : 1;
  return a.len < b.len ? -1 : a.len > b.len;
}

static mt_slice ekey(const model_entry *e) { return SL(e->key, e->klen); }

/* entry against (key, seq) in internal-key order */
static int entry_cmp(const model *m, const model_entry *e, mt_slice key, uint64_t seq) {
  int c = model_key_compare(m, ekey(e), key);
  if (c) return c;
  return e->seq > seq ? -1 : e->seq < seq;
}

/* first index with entry >= (key, seq) */
static size_t lower(const model *m, mt_slice key, uint64_t seq) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (entry_cmp(m, &m->e[mid], key, seq) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static void *dup_bytes(const void *p, size_t n) {
  void *d = malloc(n ? n : 1);
  if (n) memcpy(d, p, n);
  return d;
}

int model_add(model *m, uint64_t seq, mt_kind kind, mt_slice key, mt_slice value) {
  size_t i = lower(m, key, seq);
  if (i < m->n && entry_cmp(m, &m->e[i], key, seq) == 0) return MT_EEXIST;
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 64;
    m->e = realloc(m->e, m->cap * sizeof *m->e);
  }
  memmove(&m->e[i + 1], &m->e[i], (m->n - i) * sizeof *m->e);
  size_t vlen = kind == MT_PUT ? value.len : 0;
  m->e[i] = (model_entry){dup_bytes(key.data, key.len), dup_bytes(value.data, vlen), key.len, vlen, seq, kind};
  m->n++;
  return MT_OK;
}

size_t model_lower_bound(const model *m, mt_slice key) { return lower(m, key, MT_SEQ_MAX); }

size_t model_upper_bound(const model *m, mt_slice key) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (model_key_compare(m, ekey(&m->e[mid]), key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

int model_get(const model *m, mt_slice key, uint64_t snapshot, size_t *idx) {
  size_t i = lower(m, key, snapshot);
  if (i == m->n || model_key_compare(m, ekey(&m->e[i]), key) != 0) return MT_NOTFOUND;
  if (idx) *idx = i;
  return m->e[i].kind == MT_DELETE ? MT_DELETED : MT_OK;
}

static bool same_bytes(mt_slice s, const void *p, size_t n) {
  return s.len == n && (n == 0 || memcmp(s.data, p, n) == 0);
}

bool model_iter_at(const model *m, const mt_iter *it, size_t idx) {
  if (idx >= m->n) return !mt_iter_valid(it);
  if (!mt_iter_valid(it)) return false;
  const model_entry *e = &m->e[idx];
  return same_bytes(mt_iter_key(it), e->key, e->klen) && mt_iter_seq(it) == e->seq &&
         mt_iter_kind(it) == e->kind && same_bytes(mt_iter_value(it), e->val, e->vlen);
}

static void describe(const model *m, size_t i, char *buf, size_t cap) {
  if (i >= m->n) {
    snprintf(buf, cap, "(end)");
    return;
  }
  snprintf(buf, cap, "key of %zu bytes '%.*s' seq %llu kind %d", m->e[i].klen,
           (int)(m->e[i].klen > 40 ? 40 : m->e[i].klen), (const char *)m->e[i].key,
           (unsigned long long)m->e[i].seq, (int)m->e[i].kind);
}

bool model_matches(const model *m, mt_memtable *t, char *why, size_t cap) {
  char d[160];
  if (mt_memtable_count(t) != m->n) {
    snprintf(why, cap, "count %llu, model has %zu", (unsigned long long)mt_memtable_count(t), m->n);
    return false;
  }
  mt_iter *it;
  if (mt_iter_new(&it, t) != MT_OK) {
    snprintf(why, cap, "mt_iter_new failed: %s", mt_last_error());
    return false;
  }
  bool ok = true;
  size_t i = 0;
  for (mt_iter_seek_to_first(it); ok && i <= m->n; i++) {
    if (!model_iter_at(m, it, i)) {
      describe(m, i, d, sizeof d);
      snprintf(why, cap, "forward: entry %zu differs; model has %s; iterator %s at seq %llu",
               i, d, mt_iter_valid(it) ? "valid" : "invalid", (unsigned long long)mt_iter_seq(it));
      ok = false;
    }
    if (i < m->n) mt_iter_next(it);
  }
  i = m->n;
  for (mt_iter_seek_to_last(it); ok && i > 0; i--) {
    if (!model_iter_at(m, it, i - 1)) {
      describe(m, i - 1, d, sizeof d);
      snprintf(why, cap, "backward: entry %zu differs; model has %s", i - 1, d);
      ok = false;
    }
    mt_iter_prev(it);
  }
  if (ok && mt_iter_valid(it)) {
    snprintf(why, cap, "backward: iterator still valid before the first entry");
    ok = false;
  }
  mt_iter_free(it);
  return ok;
}

/* ---- 4. the sorted-array rep --------------------------------------------------------- */

struct mt_rep_iter {
  mt_rep *r;
  size_t pos; /* == r->n: invalid */
};

int support_array_create(mt_rep **out, const mt_rep_init *init) {
  mt_rep *r = mt_calloc(1, sizeof *r);
  if (!r) return MT_ENOMEM;
  r->cmp = init->cmp;
  r->arena = init->arena;
  *out = r;
  return MT_OK;
}

void support_array_destroy(mt_rep *r) {
  mt_free(r->v);
  mt_free(r);
}

/* first index with entry >= (key, seq) */
static size_t arr_lower(const mt_rep *r, mt_slice key, uint64_t seq) {
  size_t lo = 0, hi = r->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (mt_entry_compare_key(r->cmp, r->v[mid], key, seq) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

int support_array_insert(mt_rep *r, const mt_new_entry *e) {
  size_t i = arr_lower(r, e->key, e->seq);
  if (i < r->n && mt_entry_compare_key(r->cmp, r->v[i], e->key, e->seq) == 0) return MT_EEXIST;
  if (r->n == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 16;
    const uint8_t **v = mt_realloc(r->v, cap * sizeof *v);
    if (!v) return MT_ENOMEM;
    r->v = v;
    r->cap = cap;
  }
  const uint8_t *ent = mt_arena_alloc_entry(r->arena, e, 0, 1);
  if (!ent) return MT_ENOMEM;
  memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof *r->v);
  r->v[i] = ent;
  r->n++;
  return MT_OK;
}

const uint8_t *support_array_get(mt_rep *r, mt_slice key, uint64_t snapshot) {
  size_t i = arr_lower(r, key, snapshot);
  if (i == r->n || mt_key_compare(r->cmp, mt_entry_key(r->v[i]), key) != 0) return NULL;
  return r->v[i];
}

int support_array_iter_new(mt_rep_iter **out, mt_rep *r) {
  mt_rep_iter *it = mt_malloc(sizeof *it);
  if (!it) return MT_ENOMEM;
  it->r = r;
  it->pos = SIZE_MAX;
  *out = it;
  return MT_OK;
}
void support_array_iter_free(mt_rep_iter *it) { mt_free(it); }
mt_rep *support_array_iter_rep(const mt_rep_iter *it) { return it->r; }
void support_array_iter_seek_to_first(mt_rep_iter *it) { it->pos = it->r->n ? 0 : SIZE_MAX; }
void support_array_iter_seek_to_last(mt_rep_iter *it) { it->pos = it->r->n ? it->r->n - 1 : SIZE_MAX; }
void support_array_iter_seek(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  size_t i = arr_lower(it->r, key, seq);
  it->pos = i < it->r->n ? i : SIZE_MAX;
}
void support_array_iter_seek_for_prev(mt_rep_iter *it, mt_slice key, uint64_t seq) {
  size_t i = arr_lower(it->r, key, seq);
  if (i < it->r->n && mt_entry_compare_key(it->r->cmp, it->r->v[i], key, seq) == 0) {
    it->pos = i;
    return;
  }
  it->pos = i ? i - 1 : SIZE_MAX;
}
void support_array_iter_next(mt_rep_iter *it) { it->pos = it->pos + 1 < it->r->n ? it->pos + 1 : SIZE_MAX; }
void support_array_iter_prev(mt_rep_iter *it) { it->pos = it->pos ? it->pos - 1 : SIZE_MAX; }
const uint8_t *support_array_iter_entry(const mt_rep_iter *it) {
  return it->pos < it->r->n ? it->r->v[it->pos] : NULL;
}
size_t support_array_memory_outside_arena(const mt_rep *r) {
  return sizeof *r + r->cap * sizeof *r->v;
}
int support_array_check(const mt_rep *r) {
  for (size_t i = 1; i < r->n; i++)
    if (mt_entry_compare(r->cmp, r->v[i - 1], r->v[i]) >= 0)
      return mt_set_error(MT_ECORRUPT, "array rep: entries %zu and %zu are out of order", i - 1, i);
  return MT_OK;
}

mt_rep_ops support_array_ops(const char *name) {
  mt_rep_ops o = {
      .version = MT_REP_OPS_VERSION,
      .name = name,
      .caps = 0,
      .params = NULL,
      .nparams = 0,
      .help = "sorted array (tests only)",
      .create = support_array_create,
      .destroy = support_array_destroy,
      .insert = support_array_insert,
      .insert_concurrent = NULL,
      .get = support_array_get,
      .iter_new = support_array_iter_new,
      .iter_free = support_array_iter_free,
      .iter_seek_to_first = support_array_iter_seek_to_first,
      .iter_seek_to_last = support_array_iter_seek_to_last,
      .iter_seek = support_array_iter_seek,
      .iter_seek_for_prev = support_array_iter_seek_for_prev,
      .iter_next = support_array_iter_next,
      .iter_prev = support_array_iter_prev,
      .iter_entry = support_array_iter_entry,
      .freeze = NULL,
      .memory_outside_arena = support_array_memory_outside_arena,
      .check = support_array_check,
  };
  return o;
}

/* ---- 5. scratch directories ------------------------------------------------------- */

/* Removes a flat directory (the store keeps no subdirectories) and its files. */
void rm_rf(const char *d) {
  DIR *dd = opendir(d);
  struct dirent *e;
  char p[512];
  while (dd && (e = readdir(dd))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", d, e->d_name);
    unlink(p);
  }
  if (dd) closedir(dd);
  rmdir(d);
}

/* Makes `to` a copy of the flat directory `from`: removed, made again, then
 * every file copied.  False if any step fails. */
bool copy_dir(const char *from, const char *to) {
  rm_rf(to);
  if (mkdir(to, 0700) != 0) return false;
  DIR *dd = opendir(from);
  if (!dd) return false;
  struct dirent *e;
  char a[512], b[512];
  static char buf[1 << 16];
  bool ok = true;
  while (ok && (e = readdir(dd))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(a, sizeof a, "%s/%s", from, e->d_name);
    snprintf(b, sizeof b, "%s/%s", to, e->d_name);
    FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
    ok = in && out;
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = false;
  }
  closedir(dd);
  return ok;
}

/* ---- 6. running a command --------------------------------------------------------- */

/* Runs cmd through the shell with stderr joined to stdout; up to cap - 1
 * bytes of its output land in out (NUL-terminated).  Returns its exit
 * status, or -1 if it did not exit normally or could not start. */
int run_capture(const char *cmd, char *out, size_t cap) {
  char full[2048];
  snprintf(full, sizeof full, "%s 2>&1", cmd);
  FILE *f = popen(full, "r");
  if (!f) return -1;
  size_t n = fread(out, 1, cap - 1, f);
  out[n] = '\0';
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
