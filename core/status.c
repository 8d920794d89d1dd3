/* status.c -- status text and the thread-local error detail.
 *
 * mt_last_error() is per thread: a call that fails writes its message here
 * and the caller reads it on the same thread.  Successful calls do not clear
 * it (like errno), except the calls that start a new operation. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

const char *mt_strerror(int status) {
  switch (status) {
#define MT_STATUS_CASE_(name, value, text) \
  case value:                              \
    return text;
    MT_STATUS_MAP(MT_STATUS_CASE_)
#undef MT_STATUS_CASE_
  }
  return "unknown status";
}

const char *mt_last_error(void) { return last_error; }

void mt_clear_error(void) { last_error[0] = '\0'; }

int mt_set_error(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return status;
}
