//go:build pyembed

// The C side of package pyembed: start CPython once, and run calls through
// npshm._worker's call_embedded on the thread that started it. All of it
// runs on one OS thread, the Go side's locked interpreter goroutine, which
// holds the GIL only inside these functions.
#ifndef NPSHM_PYEMBED_H
#define NPSHM_PYEMBED_H

#include <stddef.h>

// npe_start initialises the interpreter and runs bootstrap (Python source
// that defines _npshm_call(bytes) -> bytes and _npshm_flush() in __main__).
// It returns 0, or -1 with *err a malloc'd message.
int npe_start(const char *bootstrap, char **err);

// npe_call runs _npshm_call(req) and returns 0 with *out (malloc'd, *outn
// bytes) the reply, or -1 with *out a malloc'd message.
int npe_call(const char *req, size_t n, char **out, size_t *outn);

// npe_flush runs _npshm_flush(); 0, or -1 with *err a malloc'd message.
int npe_flush(char **err);

// npe_version is the interpreter's "major.minor.micro".
const char *npe_version(void);

#endif
