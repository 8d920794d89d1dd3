/* registry.c -- the table of reps: the built-in ones (generated list, the
 * default first) and those registered at run time.
 *
 * Thread safety: lookups and registration may race; a mutex guards the
 * table.  Ops tables are const and outlive the process, so a pointer handed
 * out stays valid. */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_REPS 64

extern const mt_rep_ops *const mt_builtin_reps[];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const mt_rep_ops *reps[MAX_REPS];
static size_t nreps;
static bool loaded;

/* REQUIRES: lock held */
static void load_builtins(void) {
  if (loaded) return;
  loaded = true;
  for (size_t i = 0; mt_builtin_reps[i] && nreps < MAX_REPS; i++) reps[nreps++] = mt_builtin_reps[i];
}

/* REQUIRES: lock held */
static const mt_rep_ops *lookup(const char *name) {
  load_builtins();
  for (size_t i = 0; i < nreps; i++)
    if (strcmp(reps[i]->name, name) == 0) return reps[i];
  return NULL;
}

static bool valid_name(const char *s) {
  if (!s || !*s) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return false;
  return true;
}

static int validate(const mt_rep_ops *o) {
  if (!o) return mt_set_error(MT_EINVAL, "mt_rep_register: ops is NULL");
  const char *n = o->name ? o->name : "(null)";
  if (o->version <= 0 || o->version > MT_REP_OPS_VERSION)
    return mt_set_error(MT_EINVAL,
                        "mt_rep_register: rep '%s' has ops version %d; this library "
                        "understands versions 1..%d",
                        n, o->version, MT_REP_OPS_VERSION);
  if (!valid_name(o->name))
    return mt_set_error(MT_EINVAL, "mt_rep_register: rep name '%s' is not [a-z0-9_]+", n);
  const char *missing = !o->create ? "create" : !o->destroy ? "destroy"
                      : !o->insert ? "insert" : !o->iter_new ? "iter_new"
                      : !o->iter_free ? "iter_free" : !o->iter_seek_to_first ? "iter_seek_to_first"
                      : !o->iter_seek_to_last ? "iter_seek_to_last" : !o->iter_seek ? "iter_seek"
                      : !o->iter_seek_for_prev ? "iter_seek_for_prev" : !o->iter_next ? "iter_next"
                      : !o->iter_prev ? "iter_prev" : !o->iter_entry ? "iter_entry"
                      : ((o->caps & MT_CAP_CONCURRENT_INSERT) && !o->insert_concurrent)
                          ? "insert_concurrent (the rep claims MT_CAP_CONCURRENT_INSERT)"
                          : NULL;
  if (missing)
    return mt_set_error(MT_EINVAL, "mt_rep_register: rep '%s' lacks the required slot %s", n,
                        missing);
  if (o->nparams > MT_MAX_PARAMS || (o->nparams && !o->params))
    return mt_set_error(MT_EINVAL, "mt_rep_register: rep '%s' declares %zu parameters (at most %d)",
                        n, o->nparams, MT_MAX_PARAMS);
  for (size_t i = 0; i < o->nparams; i++) {
    const mt_rep_param *p = &o->params[i];
    const char *pn = p->name ? p->name : "(null)";
    if (!valid_name(p->name))
      return mt_set_error(MT_EINVAL, "mt_rep_register: rep '%s' parameter '%s' is not [a-z0-9_]+",
                          n, pn);
    if (p->type != MT_PARAM_INT && p->type != MT_PARAM_BOOL)
      return mt_set_error(MT_EINVAL, "mt_rep_register: rep '%s' parameter '%s' has unknown type %d",
                          n, pn, (int)p->type);
    if (p->min > p->max || p->def < p->min || p->def > p->max ||
        (p->type == MT_PARAM_BOOL && (p->min < 0 || p->max > 1)))
      return mt_set_error(MT_EINVAL,
                          "mt_rep_register: rep '%s' parameter '%s': default %lld outside "
                          "[%lld, %lld]",
                          n, pn, (long long)p->def, (long long)p->min, (long long)p->max);
    for (size_t j = 0; j < i; j++)
      if (strcmp(o->params[j].name, p->name) == 0)
        return mt_set_error(MT_EINVAL, "mt_rep_register: rep '%s' declares parameter '%s' twice",
                            n, pn);
  }
  return MT_OK;
}

int mt_rep_register(const mt_rep_ops *ops) {
  int rc = validate(ops);
  if (rc) return rc;
  pthread_mutex_lock(&lock);
  const mt_rep_ops *have = lookup(ops->name);
  if (have && have != ops)
    rc = mt_set_error(MT_EINVAL, "mt_rep_register: another rep is registered as '%s'", ops->name);
  else if (!have && nreps == MAX_REPS)
    rc = mt_set_error(MT_ENOMEM, "mt_rep_register: the registry holds %d reps at most", MAX_REPS);
  else if (!have)
    reps[nreps++] = ops;
  pthread_mutex_unlock(&lock);
  return rc;
}

const mt_rep_ops *mt_rep_find(const char *name) {
  pthread_mutex_lock(&lock);
  load_builtins();
  const mt_rep_ops *o = name ? lookup(name) : (nreps ? reps[0] : NULL);
  pthread_mutex_unlock(&lock);
  return o;
}

size_t mt_registry_list(const mt_rep_ops **out, size_t cap) {
  pthread_mutex_lock(&lock);
  load_builtins();
  for (size_t i = 0; i < nreps && i < cap; i++) out[i] = reps[i];
  size_t n = nreps;
  pthread_mutex_unlock(&lock);
  return n;
}

size_t mt_rep_names(const char **names, size_t cap) {
  const mt_rep_ops *all[MAX_REPS];
  size_t n = mt_registry_list(all, MAX_REPS);
  for (size_t i = 0; i < n && i < cap && names; i++) names[i] = all[i]->name;
  return n;
}
