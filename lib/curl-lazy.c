/*
 * curl-lazy.c — libcurl loaded with dlopen(3) (see curl-lazy.h).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl-lazy.h"
#include "banned.h"

struct mas_curl_api mas_curl_api;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;

/* Each field of mas_curl_api and the symbol that fills it. */
#define SYMBOL(field, name) { #name, (void **)&mas_curl_api.field }

static int find_all(void *library, char **error)
{
	struct { const char *name; void **at; } symbols[] = {
		SYMBOL(global_init, curl_global_init),
		SYMBOL(global_cleanup, curl_global_cleanup),
		SYMBOL(easy_init, curl_easy_init),
		SYMBOL(easy_cleanup, curl_easy_cleanup),
		SYMBOL(easy_reset, curl_easy_reset),
		SYMBOL(easy_setopt, curl_easy_setopt),
		SYMBOL(easy_getinfo, curl_easy_getinfo),
		SYMBOL(easy_perform, curl_easy_perform),
		SYMBOL(easy_strerror, curl_easy_strerror),
		SYMBOL(getdate, curl_getdate),
		SYMBOL(multi_init, curl_multi_init),
		SYMBOL(multi_cleanup, curl_multi_cleanup),
		SYMBOL(multi_add_handle, curl_multi_add_handle),
		SYMBOL(multi_remove_handle, curl_multi_remove_handle),
		SYMBOL(multi_perform, curl_multi_perform),
		SYMBOL(multi_poll, curl_multi_poll),
		SYMBOL(multi_info_read, curl_multi_info_read),
		SYMBOL(slist_append, curl_slist_append),
		SYMBOL(slist_free_all, curl_slist_free_all),
	};

	for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		*symbols[i].at = dlsym(library, symbols[i].name);
		if (!*symbols[i].at) {
			if (asprintf(error, "%s: no %s", MAS_CURL_SONAME,
			             symbols[i].name) < 0)
				*error = NULL;
			memset(&mas_curl_api, 0, sizeof(mas_curl_api));
			return -1;
		}
	}
	return 0;
}

int mas_curl_load(char **error)
{
	void *library;
	int status = 0;

	pthread_mutex_lock(&load_lock);
	if (!loaded) {
		library = dlopen(MAS_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
		if (!library) {
			if (asprintf(error, "cannot load %s: %s",
			             MAS_CURL_SONAME, dlerror()) < 0)
				*error = NULL;
			status = -1;
		} else if (find_all(library, error)) {
			dlclose(library);
			status = -1;
		} else {
			loaded = 1; /* kept loaded until the process ends */
		}
	}
	pthread_mutex_unlock(&load_lock);
	return status;
}
