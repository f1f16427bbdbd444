/*
 * lazy.c — shared libraries loaded with dlopen(3) (see lazy.h).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "lazy.h"
#include "banned.h"

static void clear(const struct mas_lazy_symbol *symbols, size_t count)
{
	for (size_t i = 0; i < count; i++)
		*symbols[i].at = NULL;
}

static int find_all(void *handle, const char *soname,
                    const struct mas_lazy_symbol *symbols, size_t count,
                    char **error)
{
	for (size_t i = 0; i < count; i++) {
		*symbols[i].at = dlsym(handle, symbols[i].name);
		if (!*symbols[i].at) {
			if (asprintf(error, "%s: no %s", soname,
			             symbols[i].name) < 0)
				*error = NULL;
			clear(symbols, count);
			return -1;
		}
	}
	return 0;
}

int mas_lazy_load(struct mas_lazy_library *library,
                  const struct mas_lazy_symbol *symbols, size_t count,
                  char **error)
{
	void *handle;
	int status = 0;

	pthread_mutex_lock(&library->lock);
	if (!library->loaded) {
		handle = dlopen(library->soname, RTLD_NOW | RTLD_LOCAL);
		if (!handle) {
			if (asprintf(error, "cannot load %s: %s",
			             library->soname, dlerror()) < 0)
				*error = NULL;
			clear(symbols, count);
			status = -1;
		} else if (find_all(handle, library->soname, symbols, count,
		                    error)) {
			dlclose(handle);
			status = -1;
		} else {
			library->loaded = 1;
		}
	}
	pthread_mutex_unlock(&library->lock);
	return status;
}
