/*
 * lazy.h — a shared library loaded with dlopen(3) when a program first
 * needs it, its functions found with dlsym(3).
 *
 * Some libraries cost every start while few runs use them: libcurl (some
 * 30 libraries of its own; curl-lazy.h) and LIBLINEAR (libblas and
 * libstdc++, about 4 ms of a 30 ms start of mas-chat with a cached model,
 * which only training needs; linear-lazy.h).  Their modules fill a table
 * of function pointers through this one loader instead of linking them.
 */
#ifndef MAS_LAZY_H
#define MAS_LAZY_H

#include <pthread.h>
#include <stddef.h>

/* A symbol to find and where its address goes. */
struct mas_lazy_symbol {
	const char *name;
	void **at;
};

/* A library to load: its soname (what a -l link would record), and
 * whether it is loaded, under LOCK.  Define one per library with
 * MAS_LAZY_LIBRARY. */
struct mas_lazy_library {
	const char *soname;
	pthread_mutex_t lock;
	int loaded;
};

#define MAS_LAZY_LIBRARY(soname) \
	{ (soname), PTHREAD_MUTEX_INITIALIZER, 0 }

/*
 * Load LIBRARY and fill the COUNT SYMBOLS, once per process (the later
 * calls return at once; the library stays loaded until the process
 * ends).  Returns 0, or -1 with a malloc'd message in *ERROR naming the
 * library and what failed (NULL when out of memory); every pointer of
 * SYMBOLS is then NULL.
 */
int mas_lazy_load(struct mas_lazy_library *library,
                  const struct mas_lazy_symbol *symbols, size_t count,
                  char **error);

#endif
