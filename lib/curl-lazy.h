/*
 * curl-lazy.h — libcurl, loaded when a program first needs it.
 *
 * libcurl brings some 30 shared libraries of its own (TLS, Kerberos,
 * LDAP, SSH, ...), and loading them took about 25 ms of CPU at every
 * start (make bench: a program linked with libjq, SQLite and LIBLINEAR
 * starts in 11 ms of user and system time, 35 ms with libcurl too),
 * while most runs never speak HTTP: mas-chat without a model endpoint,
 * every mas-analyze run without --engine.  So the programs are not
 * linked with libcurl; llm.c and trace.c include this header in place
 * of <curl/curl.h>, which makes their curl_* calls go through pointers
 * that mas_curl_load fills with dlopen(3) and dlsym(3) before the first
 * one.  curl.h's type-checking macros for curl_easy_setopt and
 * curl_easy_getinfo are off (CURL_DISABLE_TYPECHECK): the calls go to
 * the same variadic functions.
 */
#ifndef MAS_CURL_LAZY_H
#define MAS_CURL_LAZY_H

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

/* The library's soname, as libcurl4-openssl-dev links it. */
#define MAS_CURL_SONAME "libcurl.so.4"

struct mas_curl_api {
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *curl);
	void (*easy_reset)(CURL *curl);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	CURLcode (*easy_perform)(CURL *curl);
	const char *(*easy_strerror)(CURLcode code);
	time_t (*getdate)(const char *text, const time_t *unused);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *multi);
	CURLMcode (*multi_add_handle)(CURLM *multi, CURL *curl);
	CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *curl);
	CURLMcode (*multi_perform)(CURLM *multi, int *running);
	CURLMcode (*multi_poll)(CURLM *multi, struct curl_waitfd extra[],
	                        unsigned int extra_count, int timeout_ms,
	                        int *fds);
	CURLMsg *(*multi_info_read)(CURLM *multi, int *queued);
	struct curl_slist *(*slist_append)(struct curl_slist *list,
	                                   const char *text);
	void (*slist_free_all)(struct curl_slist *list);
};

/* The functions, once mas_curl_load has returned 0. */
extern struct mas_curl_api mas_curl_api;

/*
 * Load libcurl and find its functions, once per process (the later
 * calls return at once).  Returns 0, or -1 with a malloc'd message in
 * *ERROR naming the library and what failed; the pointers stay NULL.
 */
int mas_curl_load(char **error);

#define curl_global_init mas_curl_api.global_init
#define curl_global_cleanup mas_curl_api.global_cleanup
#define curl_easy_init mas_curl_api.easy_init
#define curl_easy_cleanup mas_curl_api.easy_cleanup
#define curl_easy_reset mas_curl_api.easy_reset
/* curl.h defines these two as macros that check the argument count */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_setopt mas_curl_api.easy_setopt
#define curl_easy_getinfo mas_curl_api.easy_getinfo
#define curl_easy_perform mas_curl_api.easy_perform
#define curl_easy_strerror mas_curl_api.easy_strerror
#define curl_getdate mas_curl_api.getdate
#define curl_multi_init mas_curl_api.multi_init
#define curl_multi_cleanup mas_curl_api.multi_cleanup
#define curl_multi_add_handle mas_curl_api.multi_add_handle
#define curl_multi_remove_handle mas_curl_api.multi_remove_handle
#define curl_multi_perform mas_curl_api.multi_perform
#define curl_multi_poll mas_curl_api.multi_poll
#define curl_multi_info_read mas_curl_api.multi_info_read
#define curl_slist_append mas_curl_api.slist_append
#define curl_slist_free_all mas_curl_api.slist_free_all

#endif
