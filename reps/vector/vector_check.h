/* vector_check.h -- the vector rep's check slot: verifies invariants 1-6 of
 * vector.c.  vector.c includes it once (everything static).  Runs with no
 * writer active (rep contract 11); takes merge_mu so no reader merges
 * meanwhile.  O(n log n): it sorts a copy of every handle to prove there is
 * no duplicate. */

static int check_runs(struct mt_rep *r, uint32_t nr, uint64_t covered) {
  uint64_t at = 0;
  for (uint32_t j = 0; j < nr; j++) {
    runv v = run_load(r, j);
    if (v.n == 0 || v.start < at || v.start + v.n > covered)
      return mt_set_error(MT_ECORRUPT, "vector: run %u [%llu, +%llu) is out of place", j,
                          (unsigned long long)v.start, (unsigned long long)v.n);
    for (uint64_t i = at; i < v.start; i++)
      if (slot_get(r, i) != H_HOLE)
        return mt_set_error(MT_ECORRUPT, "vector: slot %llu before run %u is not a hole", (unsigned long long)i, j);
    if (slot_get(r, v.start) != v.first)
      return mt_set_error(MT_ECORRUPT, "vector: run %u records a wrong first entry", j);
    mt_slice fk = mt_entry_key(ent(r, v.first));
    if (r->bytewise && (v.L > 8 || fk.len < v.L))
      return mt_set_error(MT_ECORRUPT, "vector: run %u has a bad prefix length %u", j, v.L);
    const uint8_t *prev = NULL;
    for (uint64_t i = 0; i < v.n; i++) {
      uint32_t h = slot_get(r, v.start + i);
      if (!real(h))
        return mt_set_error(MT_ECORRUPT, "vector: run %u slot %llu is not an entry", j, (unsigned long long)i);
      const uint8_t *e = ent(r, h);
      if (prev && mt_entry_compare(r->cmp, prev, e) >= 0)
        return mt_set_error(MT_ECORRUPT, "vector: run %u is out of order at %llu", j, (unsigned long long)i);
      prev = e;
      if (!r->bytewise) continue;
      mt_slice k = mt_entry_key(e);
      if (k.len < v.L || memcmp(k.data, fk.data, v.L) != 0)
        return mt_set_error(MT_ECORRUPT, "vector: run %u entry %llu lacks the run's prefix", j,
                            (unsigned long long)i);
      if (((v.start + i) & (FENCE_EVERY - 1)) == 0 && fence_get(r, v.start + i) != window(k.data, k.len, v.L))
        return mt_set_error(MT_ECORRUPT, "vector: run %u fence at %llu is wrong", j, (unsigned long long)i);
    }
    at = v.start + v.n;
  }
  for (uint64_t i = at; i < covered; i++)
    if (slot_get(r, i) != H_HOLE)
      return mt_set_error(MT_ECORRUPT, "vector: slot %llu after the runs is not a hole", (unsigned long long)i);
  return MT_OK;
}

/* Every handle in [0, c): none equal (3), and the seq bitmap covers each (4). */
static int check_entries(struct mt_rep *r, uint64_t c, bool frozen) {
  uint32_t *h = mt_malloc((size_t)(c ? c : 1) * 2 * sizeof *h);
  if (!h) return MT_ENOMEM;
  size_t n = 0;
  int rc = MT_OK;
  uint64_t base = atomic_load_explicit(&r->seq_base, memory_order_relaxed);
  for (uint64_t i = 0; i < c && rc == MT_OK; i++) {
    uint32_t x = slot_get(r, i);
    if (x == H_HOLE) continue;
    if (!real(x)) {
      rc = mt_set_error(MT_ECORRUPT, "vector: slot %llu is incomplete with no writer running",
                        (unsigned long long)i);
      break;
    }
    h[n++] = x;
    seqbit b;
    if (frozen || !seq_map(base, mt_entry_seq(ent(r, x)), &b)) continue;
    page *pg = atomic_load_explicit(&r->pages[b.page], memory_order_relaxed);
    if (pg == PAGE_REFUSED) continue;
    if (!pg || !(atomic_load_explicit(&pg->w[b.word], memory_order_relaxed) & b.bit))
      rc = mt_set_error(MT_ECORRUPT, "vector: seq %llu of slot %llu is missing from the seq bitmap",
                        (unsigned long long)mt_entry_seq(ent(r, x)), (unsigned long long)i);
  }
  if (rc == MT_OK) {
    vs_msort(h, h + n, n, cmp_handles, r);
    for (size_t i = 1; i < n && rc == MT_OK; i++)
      if (cmp_handles(r, h[i - 1], h[i]) == 0)
        rc = mt_set_error(MT_ECORRUPT, "vector: an entry is present twice");
  }
  mt_free(h);
  return rc;
}

static int vec_check(const mt_rep *cr) {
  struct mt_rep *r = (struct mt_rep *)cr;
  pthread_mutex_lock(&r->merge_mu);
  uint64_t c = atomic_load_explicit(&r->claimed, memory_order_acquire);
  uint64_t covered = atomic_load_explicit(&r->covered, memory_order_relaxed);
  uint32_t nr = atomic_load_explicit(&r->nruns, memory_order_relaxed);
  bool frozen = atomic_load_explicit(&r->frozen, memory_order_relaxed);
  int rc = MT_OK;
  if (covered > c || nr > MAX_RUNS)
    rc = mt_set_error(MT_ECORRUPT, "vector: covered %llu past claimed %llu or %u runs",
                      (unsigned long long)covered, (unsigned long long)c, nr);
  else if (frozen && (nr > 1 || covered != c))
    rc = mt_set_error(MT_ECORRUPT, "vector: frozen with %u runs and %llu unsorted slots", nr,
                      (unsigned long long)(c - covered));
  if (rc == MT_OK) rc = check_runs(r, nr, covered);
  if (rc == MT_OK) rc = check_entries(r, c, frozen);
  pthread_mutex_unlock(&r->merge_mu);
  return rc;
}
