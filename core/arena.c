/* arena.c -- bump allocation in blocks, with exact accounting.
 *
 * Thread safety: mt_arena_alloc may be called by any number of threads.
 * The current block is claimed by CAS on its `used` offset; only adding a
 * block takes the mutex.
 *
 * Invariants:
 *  1. memory == sizeof(mt_arena) + the size of every block held, big ones
 *     included: what the arena holds, byte for byte.
 *  2. Blocks grow geometrically from MIN_BLOCK to MAX_BLOCK, so a small
 *     memtable holds little and a big one few blocks.  Blocks of MAX_BLOCK
 *     come from mt_alloc_pages (huge-page advised).
 *  3. An allocation bigger than MAX_BLOCK / 4 gets a block of its own, kept
 *     off the current block so nothing of the current block is wasted.
 *
 * Memory orders: `head` is published with release after its block header is
 * written and read with acquire; `used` needs only relaxed CAS because the
 * bytes it hands out are written by the claiming thread, and are published
 * to readers by the rep's own release store of the node.  `memory` is a
 * relaxed counter: a statistic, exact once writers are quiet. */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

#define MIN_BLOCK ((size_t)4 << 10)
#define MAX_BLOCK ((size_t)2 << 20)
#define BLOCK_ALIGN 64

typedef struct block {
  struct block *prev;
  size_t size; /* bytes allocated for the block, header included */
  bool mapped;
  _Atomic size_t used; /* offset into data[] of the first free byte */
  _Alignas(BLOCK_ALIGN) uint8_t data[];
} block;

struct mt_arena {
  _Atomic(block *) head; /* current block; older ones behind it */
  block *big;            /* dedicated blocks of big allocations */
  _Atomic size_t memory;
  size_t next_size;
  pthread_mutex_t grow;
};

static block *block_new(size_t size) {
  bool mapped = false;
  block *b = size >= MAX_BLOCK ? mt_alloc_pages(size, &mapped) : mt_malloc(size);
  if (!b) return NULL;
  b->prev = NULL;
  b->size = size;
  b->mapped = mapped;
  atomic_init(&b->used, 0);
  return b;
}

static void block_free_chain(block *b) {
  while (b) {
    block *prev = b->prev;
    if (b->size >= MAX_BLOCK) mt_free_pages(b, b->size, b->mapped);
    else mt_free(b);
    b = prev;
  }
}

static size_t capacity(const block *b) { return b->size - offsetof(block, data); }

mt_arena *mt_arena_new(void) {
  mt_arena *a = mt_malloc(sizeof *a);
  if (!a) return NULL;
  atomic_init(&a->head, NULL);
  a->big = NULL;
  atomic_init(&a->memory, sizeof *a);
  a->next_size = MIN_BLOCK;
  pthread_mutex_init(&a->grow, NULL);
  return a;
}

void mt_arena_free(mt_arena *a) {
  if (!a) return;
  block_free_chain(atomic_load_explicit(&a->head, memory_order_relaxed));
  block_free_chain(a->big);
  pthread_mutex_destroy(&a->grow);
  mt_free(a);
}

size_t mt_arena_memory(const mt_arena *a) {
  return atomic_load_explicit(&((mt_arena *)a)->memory, memory_order_relaxed);
}

/* Claims size bytes aligned to align in b, or returns NULL if they don't fit. */
static void *claim(block *b, size_t size, size_t align) {
  size_t used = atomic_load_explicit(&b->used, memory_order_relaxed);
  for (;;) {
    size_t start = (used + align - 1) & ~(align - 1);
    if (start > capacity(b) || size > capacity(b) - start) return NULL;
    if (atomic_compare_exchange_weak_explicit(&b->used, &used, start + size,
                                              memory_order_relaxed, memory_order_relaxed))
      return b->data + start;
  }
}

static void *alloc_slow(mt_arena *a, size_t size, size_t align) {
  void *p = NULL;
  pthread_mutex_lock(&a->grow);
  if (size > MAX_BLOCK / 4) { /* invariant 3 */
    size_t need = offsetof(block, data) + size;
    block *b = need >= MAX_BLOCK ? block_new((need + 4095) & ~(size_t)4095) : block_new(need);
    if (b) {
      b->prev = a->big;
      a->big = b;
      atomic_fetch_add_explicit(&a->memory, b->size, memory_order_relaxed);
      p = claim(b, size, align);
    }
  } else {
    block *head = atomic_load_explicit(&a->head, memory_order_acquire);
    if (head) p = claim(head, size, align); /* another thread may have grown it */
    if (!p) {
      block *b = block_new(a->next_size);
      if (b) {
        if (a->next_size < MAX_BLOCK) a->next_size *= 2;
        b->prev = head;
        p = claim(b, size, align);
        atomic_fetch_add_explicit(&a->memory, b->size, memory_order_relaxed);
        atomic_store_explicit(&a->head, b, memory_order_release);
      }
    }
  }
  pthread_mutex_unlock(&a->grow);
  return p;
}

void *mt_arena_alloc(mt_arena *a, size_t size, size_t align) {
  block *head = atomic_load_explicit(&a->head, memory_order_acquire);
  void *p = head ? claim(head, size, align) : NULL;
  return p ? p : alloc_slow(a, size, align);
}

void *mt_arena_alloc_entry(mt_arena *a, const mt_new_entry *e, size_t header_bytes,
                           size_t align) {
  size_t n = mt_entry_encoded_size(e);
  uint8_t *h = mt_arena_alloc(a, header_bytes + n, align);
  if (h) mt_entry_encode(h + header_bytes, e);
  return h;
}
