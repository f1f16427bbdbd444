/*
 * curl-lazy.c — libcurl loaded with dlopen(3) (see curl-lazy.h).
 */
#include "curl-lazy.h"
#include "lazy.h"
#include "banned.h"

struct mas_curl_api mas_curl_api;

static struct mas_lazy_library libcurl = MAS_LAZY_LIBRARY(MAS_CURL_SONAME);

/* Each field of mas_curl_api and the symbol that fills it. */
#define SYMBOL(field, name) { #name, (void **)&mas_curl_api.field }

int mas_curl_load(char **error)
{
	static const struct mas_lazy_symbol symbols[] = {
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

	return mas_lazy_load(&libcurl, symbols,
	                     sizeof(symbols) / sizeof(symbols[0]), error);
}
