/* alloc.c -- the library's one door to the heap.
 *
 * Every allocation (arena blocks, rep structures, iterators, values handed
 * to users) goes through mt_malloc & co., so mt_set_allocator() can swap
 * the allocator: tests inject failures at every allocation with it.  The
 * allocator is read without a lock; set it before other calls. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static void *libc_malloc(void *ctx, size_t n) { return malloc(n); }
static void *libc_realloc(void *ctx, void *p, size_t n) { return realloc(p, n); }
static void libc_free(void *ctx, void *p) { free(p); }

static const mt_allocator libc_allocator = {libc_malloc, libc_realloc, libc_free, NULL};
static mt_allocator current = {libc_malloc, libc_realloc, libc_free, NULL};

void mt_set_allocator(const mt_allocator *a) {
  current = (a && a->malloc && a->realloc && a->free) ? *a : libc_allocator;
}

void *mt_malloc(size_t size) {
  void *p = current.malloc(current.ctx, size ? size : 1);
  if (!p) mt_set_error(MT_ENOMEM, "out of memory allocating %zu bytes", size);
  return p;
}

void *mt_calloc(size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) {
    mt_set_error(MT_ENOMEM, "allocation of %zu x %zu bytes overflows", n, size);
    return NULL;
  }
  void *p = mt_malloc(n * size);
  if (p) memset(p, 0, n * size);
  return p;
}

void *mt_realloc(void *p, size_t size) {
  void *q = current.realloc(current.ctx, p, size ? size : 1);
  if (!q) mt_set_error(MT_ENOMEM, "out of memory growing to %zu bytes", size);
  return q;
}

void mt_free(void *p) {
  if (p) current.free(current.ctx, p);
}

char *mt_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = mt_malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* An arena maps its own pages; a custom allocator still gets to refuse them
 * (a memory budget, or a test failing the n-th allocation): it is asked for
 * the bytes, which are handed straight back. */
bool mt_alloc_permit(size_t size) {
  if (current.malloc == libc_malloc) return true;
  void *p = current.malloc(current.ctx, size);
  if (!p) return false;
  current.free(current.ctx, p);
  return true;
}
