/* test_spec.c -- the spec parser and the registry, through the public API.
 *
 * Spec strings (DESIGN.md "Spec strings"): every error case is MT_EINVAL,
 * leaves *out NULL, and mt_last_error() names the bad token and lists what
 * would be valid; NULL is the default rep; the canonical form prints every
 * parameter and parses back to itself.
 *
 * Registry (rep.h, SQLite's manners): bad tables are MT_EINVAL with the
 * reason, the same table twice is harmless, another table under a taken
 * name is refused, find(NULL) is the default, a new rep is listed and works
 * through a spec.  Test reps here are support.h's sorted array. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "support.h"

/* ---- test reps ---------------------------------------------------------------- */

static const mt_rep_param probe_params[] = {
    {"depth", MT_PARAM_INT, 10, -5, 100, "an integer"},
    {"flag", MT_PARAM_BOOL, 0, 0, 1, "a switch"},
};
static mt_rep_ops noparams_ops, probe_ops; /* filled before registration */

static void register_test_reps(void) {
  noparams_ops = support_array_ops("noparams");
  probe_ops = support_array_ops("probe");
  probe_ops.params = probe_params;
  probe_ops.nparams = 2;
  if (mt_rep_register(&noparams_ops) != MT_OK || mt_rep_register(&probe_ops) != MT_OK)
    fail_msg("registering the test reps: %s", mt_last_error());
}

/* ---- helpers ---------------------------------------------------------------------- */

/* spec must be refused; the message must contain every string of `want`
 * (NULL-terminated) */
static void refused(const char *spec, const char *const *want) {
  mt_memtable *m = (mt_memtable *)&m;
  clear_last_error();
  int rc = mt_memtable_new(&m, spec, NULL);
  if (rc != MT_EINVAL) fail_msg("'%s': returned %d, expected MT_EINVAL", spec, rc);
  if (m != NULL) fail_msg("'%s': *out not cleared", spec);
  const char *msg = mt_last_error();
  for (size_t i = 0; want[i]; i++)
    if (!strstr(msg, want[i])) fail_msg("'%s': message \"%s\" lacks \"%s\"", spec, msg, want[i]);
}
#define REFUSED(spec, ...)                                 \
  do {                                                     \
    static const char *const want_[] = {__VA_ARGS__, NULL}; \
    refused(spec, want_);                                  \
  } while (0)

static char rep_names_buf[8][64];
/* the registered rep names, as a NULL-terminated list for refused() */
static const char *const *all_rep_names(void) {
  static const char *list[9];
  const char *names[8];
  size_t n = rep_list(names, 8);
  for (size_t i = 0; i < n; i++) {
    snprintf(rep_names_buf[i], sizeof rep_names_buf[i], "%s", names[i]);
    list[i] = rep_names_buf[i];
  }
  list[n] = NULL;
  return list;
}

static void canonical_is(const char *spec, const char *want) {
  mt_memtable *m;
  if (mt_memtable_new(&m, spec, NULL) != MT_OK) fail_msg("'%s' refused: %s", spec, mt_last_error());
  if (strcmp(mt_memtable_spec(m), want) != 0)
    fail_msg("'%s' printed as '%s', expected '%s'", spec, mt_memtable_spec(m), want);
  mt_memtable_unref(m);
}

/* ---- spec errors --------------------------------------------------------------------- */

static void spec_rep_name_errors(void **state) {
  const char *const *reps = all_rep_names();
  refused("", reps); /* the empty string: lists the reps */
  refused("nosuch", reps);
  REFUSED("nosuch", "nosuch");
  refused("SKIPLIST", reps);
  REFUSED("SKIPLIST", "SKIPLIST");
  refused(":max_height=4", reps);
  REFUSED(":max_height=4", ":max_height=4");
  refused(" skiplist", reps);
  REFUSED("skip list", "' list'", "':'");
  REFUSED("skiplist!", "!", "':'"); /* trailing garbage after the name */
  REFUSED("skiplist ", "' '", "':'");
  REFUSED("nosuch:max_height=4", "nosuch", "skiplist");
}

static void spec_param_errors(void **state) {
  /* unknown key: named, with the rep's parameters */
  REFUSED("skiplist:nokey=1", "nokey", "max_height", "branching");
  REFUSED("skiplist:max_height=4,Branching=4", "Branching", "max_height", "branching");
  REFUSED("skiplist: max_height=4", " max_height", "max_height", "branching");
  REFUSED("skiplist:max_heights=4", "max_heights", "branching");
  /* out of range: the key, the value, the range */
  REFUSED("skiplist:max_height=33", "max_height", "33", "1..32");
  REFUSED("skiplist:max_height=0", "max_height", "0", "1..32");
  REFUSED("skiplist:max_height=-1", "max_height", "-1", "1..32");
  REFUSED("skiplist:branching=1", "branching", "2..16");
  REFUSED("skiplist:max_height=99999999999999999999", "99999999999999999999", "1..32");
  REFUSED("skiplist:max_height=-99999999999999999999", "-99999999999999999999", "1..32");
  /* missing '=' */
  REFUSED("skiplist:max_height", "max_height", "=", "1..32");
  REFUSED("skiplist:max_height,branching=4", "max_height", "=", "1..32");
  REFUSED("skiplist:max_height:4", "max_height:4", "max_height", "branching");
  /* missing value */
  REFUSED("skiplist:max_height=", "max_height", "1..32");
  REFUSED("skiplist:max_height=,branching=4", "max_height", "1..32");
  /* non-integers and trailing garbage in a value */
  REFUSED("skiplist:max_height=abc", "abc", "max_height", "1..32");
  REFUSED("skiplist:max_height=1.5", "1.5", "1..32");
  REFUSED("skiplist:max_height=12x", "12x", "1..32");
  REFUSED("skiplist:max_height=0x10", "0x10", "1..32");
  REFUSED("skiplist:max_height=-", "'-'", "1..32");
  REFUSED("skiplist:max_height=+", "'+'", "1..32");
  REFUSED("skiplist:max_height= 4", "' 4'", "1..32");
  REFUSED("skiplist:max_height=4 ", "'4 '", "1..32");
  REFUSED("skiplist:max_height=4;branching=4", "4;branching=4", "1..32");
  /* "name:" with nothing, and a trailing comma: the parameters are listed */
  REFUSED("skiplist:", "max_height", "branching");
  REFUSED("skiplist:max_height=4,", "max_height", "branching");
  REFUSED("skiplist:,max_height=4", "max_height", "branching");
  REFUSED("skiplist:max_height=4,,branching=4", "max_height", "branching");
  REFUSED("skiplist:=4", "max_height", "branching");
}

/* repeated key: named, with the parameters one may still give */
static void spec_repeated_key(void **state) {
  REFUSED("skiplist:max_height=4,max_height=5", "max_height", "branching");
  REFUSED("skiplist:branching=4,max_height=5,branching=4", "branching", "max_height");
  REFUSED("probe:flag=true,flag=true", "flag", "depth");
}

static void spec_rep_without_params(void **state) {
  REFUSED("noparams:x=1", "noparams", "'x'", "no parameters");
  REFUSED("noparams:", "noparams", "no parameters");
  REFUSED("noparams:,", "noparams", "no parameters");
  canonical_is("noparams", "noparams");
}

static void spec_bool_and_signed_params(void **state) {
  canonical_is("probe", "probe:depth=10,flag=false");
  canonical_is("probe:flag=true", "probe:depth=10,flag=true");
  canonical_is("probe:flag=1", "probe:depth=10,flag=true");
  canonical_is("probe:flag=0,depth=-5", "probe:depth=-5,flag=false");
  canonical_is("probe:depth=+7", "probe:depth=7,flag=false");
  canonical_is("probe:depth=007", "probe:depth=7,flag=false");
  canonical_is("probe:depth=100", "probe:depth=100,flag=false");
  REFUSED("probe:flag=maybe", "maybe", "flag", "true", "false");
  REFUSED("probe:flag=2", "'2'", "flag", "true", "false");
  REFUSED("probe:flag=TRUE", "TRUE", "true", "false");
  REFUSED("probe:flag=", "flag", "true", "false");
  REFUSED("probe:depth=-6", "depth", "-6", "-5..100");
  REFUSED("probe:depth=101", "depth", "101", "-5..100");
  REFUSED("probe:bogus=1", "bogus", "depth", "flag");
}

/* ---- defaults and canonical printing ------------------------------------------------------ */

static void spec_null_is_default(void **state) {
  const char *names[8];
  assert_true(rep_list(names, 8) >= 1);
  assert_string_equal(names[0], "skiplist");
  assert_ptr_equal(mt_rep_find(NULL), mt_rep_find("skiplist"));
  assert_non_null(mt_rep_find(NULL));
  mt_memtable *m, *m2;
  assert_int_equal(mt_memtable_new(&m, NULL, NULL), MT_OK);
  assert_int_equal(mt_memtable_new(&m2, "skiplist", NULL), MT_OK);
  assert_string_equal(mt_memtable_spec(m), mt_memtable_spec(m2));
  assert_string_equal(mt_memtable_spec(m), "skiplist:max_height=12,branching=4");
  mt_memtable_unref(m);
  mt_memtable_unref(m2);
}

static void spec_canonical_round_trip(void **state) {
  /* order of keys does not matter; the canonical order is the declared one */
  canonical_is("skiplist:branching=8,max_height=5", "skiplist:max_height=5,branching=8");
  canonical_is("skiplist:max_height=32", "skiplist:max_height=32,branching=4");
  canonical_is("skiplist:branching=16", "skiplist:max_height=12,branching=16");
  /* every rep: default spec, then every parameter at min, max and default */
  const char *names[64];
  size_t n = rep_list(names, 64);
  for (size_t i = 0; i < n; i++) {
    const mt_rep_ops *o = mt_rep_find(names[i]);
    assert_non_null(o);
    mt_memtable *m;
    assert_int_equal(mt_memtable_new(&m, names[i], NULL), MT_OK);
    char spec[512];
    snprintf(spec, sizeof spec, "%s", mt_memtable_spec(m));
    mt_memtable_unref(m);
    canonical_is(spec, spec);
    /* the canonical text names every parameter with its default */
    for (size_t j = 0; j < o->nparams; j++) {
      char want[128];
      if (o->params[j].type == MT_PARAM_BOOL)
        snprintf(want, sizeof want, "%s=%s", o->params[j].name, o->params[j].def ? "true" : "false");
      else
        snprintf(want, sizeof want, "%s=%lld", o->params[j].name, (long long)o->params[j].def);
      if (!strstr(spec, want)) fail_msg("%s: canonical '%s' lacks '%s'", names[i], spec, want);
    }
    /* one parameter off its default, re-parsed from the canonical text */
    for (size_t j = 0; j < o->nparams; j++) {
      const mt_rep_param *p = &o->params[j];
      int64_t v = p->def != p->min ? p->min : p->max;
      if (v > 1000000) continue; /* sizes memory up front */
      char s1[256];
      if (p->type == MT_PARAM_BOOL) snprintf(s1, sizeof s1, "%s:%s=%s", names[i], p->name, v ? "true" : "false");
      else snprintf(s1, sizeof s1, "%s:%s=%lld", names[i], p->name, (long long)v);
      if (mt_memtable_new(&m, s1, NULL) != MT_OK) fail_msg("'%s' refused: %s", s1, mt_last_error());
      snprintf(spec, sizeof spec, "%s", mt_memtable_spec(m));
      mt_memtable_unref(m);
      canonical_is(spec, spec);
    }
  }
}

/* ---- the registry ---------------------------------------------------------------------------- */

static void expect_register_refused(const mt_rep_ops *o, const char *why, const char *const *want) {
  clear_last_error();
  int rc = mt_rep_register(o);
  if (rc != MT_EINVAL) fail_msg("%s: mt_rep_register returned %d, expected MT_EINVAL", why, rc);
  const char *msg = mt_last_error();
  for (size_t i = 0; want[i]; i++)
    if (!strstr(msg, want[i])) fail_msg("%s: message \"%s\" lacks \"%s\"", why, msg, want[i]);
  if (o && o->name && mt_rep_find(o->name) == o) fail_msg("%s: the refused table was registered", why);
}
#define REG_REFUSED(o, why, ...)                            \
  do {                                                     \
    static const char *const want_[] = {__VA_ARGS__, NULL}; \
    expect_register_refused(o, why, want_);                \
  } while (0)

static mt_rep_ops bad[40];

static void registry_rules(void **state) {
  size_t before = mt_rep_names(NULL, 0);
  REG_REFUSED(NULL, "NULL ops", "NULL");
  int b = 0;

  bad[b] = support_array_ops("bad_version0");
  bad[b].version = 0;
  REG_REFUSED(&bad[b], "version 0", "bad_version0", "0");
  b++;
  bad[b] = support_array_ops("bad_version_new");
  bad[b].version = MT_REP_OPS_VERSION + 1;
  char newer[16];
  snprintf(newer, sizeof newer, "%d", MT_REP_OPS_VERSION + 1);
  {
    const char *const want[] = {"bad_version_new", newer, NULL};
    expect_register_refused(&bad[b], "version MT_REP_OPS_VERSION + 1", want);
  }
  b++;
  bad[b] = support_array_ops("bad_version_neg");
  bad[b].version = -1;
  REG_REFUSED(&bad[b], "version -1", "bad_version_neg");
  b++;

  /* every required slot, missing in turn: the message names it */
  static const char *slot_names[] = {"create", "destroy", "insert", "iter_new", "iter_free",
                                     "iter_seek_to_first", "iter_seek_to_last", "iter_seek",
                                     "iter_seek_for_prev", "iter_next", "iter_prev", "iter_entry"};
  for (size_t i = 0; i < sizeof slot_names / sizeof slot_names[0]; i++, b++) {
    bad[b] = support_array_ops("bad_missing_slot");
    mt_rep_ops *o = &bad[b];
    switch (i) {
      case 0: o->create = NULL; break;
      case 1: o->destroy = NULL; break;
      case 2: o->insert = NULL; break;
      case 3: o->iter_new = NULL; break;
      case 4: o->iter_free = NULL; break;
      case 5: o->iter_seek_to_first = NULL; break;
      case 6: o->iter_seek_to_last = NULL; break;
      case 7: o->iter_seek = NULL; break;
      case 8: o->iter_seek_for_prev = NULL; break;
      case 9: o->iter_next = NULL; break;
      case 10: o->iter_prev = NULL; break;
      default: o->iter_entry = NULL; break;
    }
    const char *const want[] = {"bad_missing_slot", slot_names[i], NULL};
    expect_register_refused(o, slot_names[i], want);
  }
  bad[b] = support_array_ops("bad_cap");
  bad[b].caps = MT_CAP_CONCURRENT_INSERT; /* without insert_concurrent */
  REG_REFUSED(&bad[b], "cap without insert_concurrent", "bad_cap", "insert_concurrent");
  b++;

  /* rep names */
  bad[b] = support_array_ops(NULL);
  REG_REFUSED(&bad[b], "NULL name", "name");
  b++;
  bad[b] = support_array_ops("");
  REG_REFUSED(&bad[b], "empty name", "name");
  b++;
  bad[b] = support_array_ops("Bad-Name");
  REG_REFUSED(&bad[b], "name with bad characters", "Bad-Name");
  b++;

  /* parameter declarations */
  static const mt_rep_param p_badname[] = {{"Depth", MT_PARAM_INT, 1, 0, 2, ""}};
  static const mt_rep_param p_nullname[] = {{NULL, MT_PARAM_INT, 1, 0, 2, ""}};
  static const mt_rep_param p_type[] = {{"depth", (mt_param_type)7, 1, 0, 2, ""}};
  static const mt_rep_param p_minmax[] = {{"depth", MT_PARAM_INT, 1, 3, 2, ""}};
  static const mt_rep_param p_def[] = {{"depth", MT_PARAM_INT, 9, 0, 2, ""}};
  static const mt_rep_param p_bool[] = {{"flag", MT_PARAM_BOOL, 0, 0, 2, ""}};
  static const mt_rep_param p_twice[] = {{"depth", MT_PARAM_INT, 1, 0, 2, ""},
                                         {"depth", MT_PARAM_INT, 1, 0, 2, ""}};
  static const mt_rep_param p_many[17] = {
      {"p0", MT_PARAM_INT, 0, 0, 1, ""},  {"p1", MT_PARAM_INT, 0, 0, 1, ""},
      {"p2", MT_PARAM_INT, 0, 0, 1, ""},  {"p3", MT_PARAM_INT, 0, 0, 1, ""},
      {"p4", MT_PARAM_INT, 0, 0, 1, ""},  {"p5", MT_PARAM_INT, 0, 0, 1, ""},
      {"p6", MT_PARAM_INT, 0, 0, 1, ""},  {"p7", MT_PARAM_INT, 0, 0, 1, ""},
      {"p8", MT_PARAM_INT, 0, 0, 1, ""},  {"p9", MT_PARAM_INT, 0, 0, 1, ""},
      {"p10", MT_PARAM_INT, 0, 0, 1, ""}, {"p11", MT_PARAM_INT, 0, 0, 1, ""},
      {"p12", MT_PARAM_INT, 0, 0, 1, ""}, {"p13", MT_PARAM_INT, 0, 0, 1, ""},
      {"p14", MT_PARAM_INT, 0, 0, 1, ""}, {"p15", MT_PARAM_INT, 0, 0, 1, ""},
      {"p16", MT_PARAM_INT, 0, 0, 1, ""}};
  struct {
    const mt_rep_param *p;
    size_t n;
    const char *why, *token;
  } pcases[] = {
      {p_badname, 1, "parameter name with capitals", "Depth"},
      {p_nullname, 1, "NULL parameter name", "parameter"},
      {p_type, 1, "unknown parameter type", "depth"},
      {p_minmax, 1, "min above max", "depth"},
      {p_def, 1, "default out of range", "depth"},
      {p_bool, 1, "bool with max 2", "flag"},
      {p_twice, 2, "parameter declared twice", "depth"},
      {p_many, 17, "17 parameters", "17"},
      {NULL, 1, "nparams with NULL params", "bad_params"},
  };
  for (size_t i = 0; i < sizeof pcases / sizeof pcases[0]; i++, b++) {
    bad[b] = support_array_ops("bad_params");
    bad[b].params = pcases[i].p;
    bad[b].nparams = pcases[i].n;
    const char *const want[] = {"bad_params", pcases[i].token, NULL};
    expect_register_refused(&bad[b], pcases[i].why, want);
  }
  assert_true(b <= (int)(sizeof bad / sizeof bad[0]));

  /* another table under a taken name */
  bad[b] = *mt_rep_find("skiplist");
  REG_REFUSED(&bad[b], "a copy of skiplist's table", "skiplist");
  assert_ptr_not_equal(mt_rep_find("skiplist"), &bad[b]);
  b++;
  bad[b] = support_array_ops("noparams");
  REG_REFUSED(&bad[b], "another table named noparams", "noparams");
  assert_ptr_equal(mt_rep_find("noparams"), &noparams_ops);
  b++;

  /* nothing refused was added */
  assert_int_equal(mt_rep_names(NULL, 0), before);
  /* the same table twice is harmless */
  assert_int_equal(mt_rep_register(&noparams_ops), MT_OK);
  assert_int_equal(mt_rep_register(mt_rep_find("skiplist")), MT_OK);
  assert_int_equal(mt_rep_names(NULL, 0), before);
  /* find */
  assert_null(mt_rep_find("nosuch"));
  assert_null(mt_rep_find(""));
  assert_ptr_equal(mt_rep_find(NULL), mt_rep_find("skiplist"));
}

static mt_rep_ops fresh_ops;

static void registry_new_rep_works(void **state) {
  size_t before = mt_rep_names(NULL, 0);
  const char *names[64];
  assert_null(mt_rep_find("fresh"));
  fresh_ops = support_array_ops("fresh");
  assert_int_equal(mt_rep_register(&fresh_ops), MT_OK);
  size_t n = mt_rep_names(names, 64);
  assert_int_equal(n, before + 1);
  bool listed = false;
  for (size_t i = 0; i < n; i++) listed |= strcmp(names[i], "fresh") == 0;
  assert_true(listed);
  assert_string_equal(names[0], "skiplist"); /* still the default */
  assert_ptr_equal(mt_rep_find("fresh"), &fresh_ops);
  /* mt_rep_names honours cap and still returns the count */
  const char *two[2] = {NULL, NULL};
  assert_int_equal(mt_rep_names(two, 1), n);
  assert_null(two[1]);
  /* and works through a spec */
  mt_memtable *m;
  assert_int_equal(mt_memtable_new(&m, "fresh", NULL), MT_OK);
  assert_string_equal(mt_memtable_spec(m), "fresh");
  assert_int_equal(mt_memtable_add(m, 1, MT_PUT, S("k"), S("v")), MT_OK);
  mt_slice v;
  assert_int_equal(mt_memtable_get(m, S("k"), MT_SEQ_MAX, &v, NULL), MT_OK);
  assert_memory_equal(v.data, "v", 1);
  assert_int_equal(mt_memtable_check(m), MT_OK);
  mt_memtable_unref(m);
  /* the error list of an unknown rep now names it too */
  REFUSED("nosuch", "fresh", "skiplist");
}

int main(void) {
  register_test_reps();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(spec_rep_name_errors),
      cmocka_unit_test(spec_param_errors),
      cmocka_unit_test(spec_repeated_key),
      cmocka_unit_test(spec_rep_without_params),
      cmocka_unit_test(spec_bool_and_signed_params),
      cmocka_unit_test(spec_null_is_default),
      cmocka_unit_test(spec_canonical_round_trip),
      cmocka_unit_test(registry_rules),
      cmocka_unit_test(registry_new_rep_works),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
