/*
 * linear-lazy.h — LIBLINEAR, loaded when a model is first trained.
 *
 * liblinear brings libblas and libstdc++, and loading them took about
 * 4 ms of each start of mas-chat (issue 19), while a start that finds
 * its model in the cache (chat-cache.h) never trains: the answers come
 * from classify.c's own code over the weights it copied out of
 * LIBLINEAR's model.  So the programs are not linked with liblinear;
 * classify.c includes this header for <linear.h>'s types and calls
 * train(), free_and_destroy_model() and set_print_string_function()
 * through mas_linear_api, which mas_linear_load fills (lazy.h).  The
 * calls are written mas_linear_api.train(...) in full, not hidden
 * behind macros as curl-lazy.h does: "train" is too common a word to
 * define.
 */
#ifndef MAS_LINEAR_LAZY_H
#define MAS_LINEAR_LAZY_H

#include <linear.h>

/* The library's soname, as liblinear-dev links it (Debian's liblinear4
 * package; a dependency of the packages, as training loads it). */
#define MAS_LINEAR_SONAME "liblinear.so.4"

struct mas_linear_api {
	struct model *(*train)(const struct problem *prob,
	                       const struct parameter *param);
	void (*free_and_destroy_model)(struct model **model);
	void (*set_print_string_function)(void (*print)(const char *));
};

/* The functions, once mas_linear_load has returned 0. */
extern struct mas_linear_api mas_linear_api;

/*
 * Load liblinear and find its functions, once per process (the later
 * calls return at once).  Returns 0, or -1 with a malloc'd message in
 * *ERROR naming the library and what failed; the pointers stay NULL.
 */
int mas_linear_load(char **error);

#endif
