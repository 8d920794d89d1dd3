/* spec.c -- the spec string grammar, shared by every rep:
 *
 *   spec   := name [ ':' param { ',' param } ]
 *   name   := [a-z0-9_]+            a registered rep
 *   param  := key '=' value         key declared by the rep, at most once
 *   value  := ['-'|'+'] digits      MT_PARAM_INT, within [min, max]
 *           | true | false | 1 | 0  MT_PARAM_BOOL
 *
 * NULL means the default rep with default parameters; "" is an error.  Every
 * error is MT_EINVAL with mt_last_error() naming the bad token and listing
 * what would be valid.  mt_spec_format() prints the canonical form, every
 * parameter in declared order, which parses back to the same rep. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_MAX 256

static void list_reps(char *buf, size_t cap) {
  const mt_rep_ops *all[64];
  size_t n = mt_registry_list(all, 64), used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && i < 64 && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", all[i]->name);
}

static void list_params(const mt_rep_ops *o, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < o->nparams && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", o->params[i].name);
}

static void describe_range(const mt_rep_param *p, char *buf, size_t cap) {
  if (p->type == MT_PARAM_BOOL) snprintf(buf, cap, "true or false");
  else snprintf(buf, cap, "an integer in %lld..%lld", (long long)p->min, (long long)p->max);
}

static int parse_value(const mt_rep_param *p, const char *v, size_t n, int64_t *out) {
  char tok[64], range[96];
  describe_range(p, range, sizeof range);
  if (n == 0)
    return mt_set_error(MT_EINVAL, "spec: parameter '%s' has no value; expected %s", p->name, range);
  if (n >= sizeof tok)
    return mt_set_error(MT_EINVAL, "spec: value of '%s' is %zu characters long; expected %s",
                        p->name, n, range);
  memcpy(tok, v, n);
  tok[n] = '\0';
  if (p->type == MT_PARAM_BOOL) {
    if (!strcmp(tok, "true") || !strcmp(tok, "1")) *out = 1;
    else if (!strcmp(tok, "false") || !strcmp(tok, "0")) *out = 0;
    else return mt_set_error(MT_EINVAL, "spec: '%s' is not a value of %s; expected %s", tok, p->name, range);
    return MT_OK;
  }
  size_t i = (tok[0] == '-' || tok[0] == '+') ? 1 : 0;
  if (!tok[i]) return mt_set_error(MT_EINVAL, "spec: '%s' is not an integer for %s; expected %s", tok, p->name, range);
  for (size_t k = i; tok[k]; k++)
    if (tok[k] < '0' || tok[k] > '9')
      return mt_set_error(MT_EINVAL, "spec: '%s' is not an integer for %s; expected %s", tok,
                          p->name, range);
  errno = 0;
  long long x = strtoll(tok, NULL, 10);
  if (errno == ERANGE || x < p->min || x > p->max)
    return mt_set_error(MT_EINVAL, "spec: %s=%s is out of range; expected %s", p->name, tok, range);
  *out = x;
  return MT_OK;
}

static bool name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

int mt_spec_parse(const char *spec, const mt_rep_ops **ops, int64_t params[MT_MAX_PARAMS]) {
  char list[LIST_MAX];
  const mt_rep_ops *o;
  const char *s = spec;
  if (!spec) {
    o = mt_rep_find(NULL);
    if (!o) return mt_set_error(MT_EINVAL, "spec: no rep is registered");
  } else {
    size_t n = 0;
    while (name_char(s[n])) n++;
    if (n == 0) {
      list_reps(list, sizeof list);
      if (!*s) return mt_set_error(MT_EINVAL, "spec: empty spec; expected a rep name: %s", list);
      return mt_set_error(MT_EINVAL, "spec: unexpected '%.32s' where a rep name was expected: %s", s, list);
    }
    char name[64];
    if (n >= sizeof name) return mt_set_error(MT_EINVAL, "spec: rep name '%.32s...' is too long", s);
    memcpy(name, s, n);
    name[n] = '\0';
    if (s[n] != '\0' && s[n] != ':') {
      return mt_set_error(MT_EINVAL, "spec: unexpected '%.32s' after rep name '%s'; expected ':' or the end",
                          s + n, name);
    }
    o = mt_rep_find(name);
    if (!o) {
      list_reps(list, sizeof list);
      return mt_set_error(MT_EINVAL, "spec: unknown rep '%s'; registered reps: %s", name, list);
    }
    s += n;
  }
  for (size_t i = 0; i < o->nparams; i++) params[i] = o->params[i].def;
  *ops = o;
  if (!spec || *s == '\0') return MT_OK;

  /* s points at ':' */
  bool seen[MT_MAX_PARAMS] = {false};
  list_params(o, list, sizeof list);
  do {
    s++; /* skip ':' or ',' */
    const char *key = s;
    size_t kn = 0;
    while (key[kn] && key[kn] != '=' && key[kn] != ',') kn++;
    if (kn == 0) {
      if (!o->nparams) return mt_set_error(MT_EINVAL, "spec: rep '%s' takes no parameters", o->name);
      return mt_set_error(MT_EINVAL, "spec: expected key=value at '%.32s'; parameters of %s: %s",
                          key, o->name, list);
    }
    size_t idx = o->nparams;
    for (size_t i = 0; i < o->nparams; i++)
      if (strlen(o->params[i].name) == kn && !memcmp(o->params[i].name, key, kn)) idx = i;
    if (idx == o->nparams) {
      if (!o->nparams)
        return mt_set_error(MT_EINVAL, "spec: rep '%s' takes no parameters, got '%.*s'", o->name,
                            (int)(kn > 32 ? 32 : kn), key);
      return mt_set_error(MT_EINVAL, "spec: rep '%s' has no parameter '%.*s'; its parameters: %s",
                          o->name, (int)(kn > 32 ? 32 : kn), key, list);
    }
    const mt_rep_param *p = &o->params[idx];
    if (key[kn] != '=') {
      char range[96];
      describe_range(p, range, sizeof range);
      return mt_set_error(MT_EINVAL, "spec: expected '=' after '%s'; expected %s=<%s>", p->name,
                          p->name, range);
    }
    if (seen[idx])
      return mt_set_error(MT_EINVAL, "spec: parameter '%s' given twice; parameters of %s: %s", p->name,
                          o->name, list);
    seen[idx] = true;
    const char *v = key + kn + 1;
    size_t vn = strcspn(v, ",");
    int rc = parse_value(p, v, vn, &params[idx]);
    if (rc) return rc;
    s = v + vn;
  } while (*s == ',');
  return MT_OK;
}

void mt_spec_format(const mt_rep_ops *o, const int64_t *params, char *buf, size_t cap) {
  size_t used = (size_t)snprintf(buf, cap, "%s", o->name);
  for (size_t i = 0; i < o->nparams && used < cap; i++) {
    const mt_rep_param *p = &o->params[i];
    if (p->type == MT_PARAM_BOOL)
      used += (size_t)snprintf(buf + used, cap - used, "%c%s=%s", i ? ',' : ':', p->name,
                               params[i] ? "true" : "false");
    else
      used += (size_t)snprintf(buf + used, cap - used, "%c%s=%lld", i ? ',' : ':', p->name,
                               (long long)params[i]);
  }
}
