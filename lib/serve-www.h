/*
 * serve-www.h — the web console mas-serve answers at / (mas-serve(1),
 * CONSOLE): the files of the tree's www/ folder, built into the program
 * (lib/serve-www.inc, made by the Makefile), or those of a folder given
 * with --www, read at each request so that a page being edited is
 * served as it is saved.
 *
 * A request path names a file under the folder: "/" and any path ending
 * in "/" mean its index.html.  A path with an empty segment, or a
 * segment that starts with "." (".", "..", hidden files), or a
 * backslash, names nothing; nor does a file whose real path (symbolic
 * links followed) is outside the folder.  So no request reaches a file
 * the folder does not hold.
 */
#ifndef MAS_SERVE_WWW_H
#define MAS_SERVE_WWW_H

#include <stddef.h>

/* A file found: DATA is LENGTH bytes of content type TYPE (a constant).
 * DATA is malloc'd, or a constant of the program when IS_STATIC. */
struct mas_serve_www_file {
	char *data;
	size_t length;
	const char *type;
	int is_static;
};

/*
 * Find PATH (a request's path, already percent-decoded) in DIR, or
 * among the built-in files when DIR is NULL.  Returns 0 with *FILE
 * filled (the caller frees DATA unless IS_STATIC); 1 when there is no
 * such file (or PATH names none, as said above); -1 when the file is
 * there but could not be read (errno says why).
 */
int mas_serve_www_find(const char *dir, const char *path,
                       struct mas_serve_www_file *file);

/* The content type of a file NAME by its extension (a constant);
 * application/octet-stream for one not known. */
const char *mas_serve_www_type(const char *name);

/* Whether DIR is a folder that can be read: 0, or -1 with a malloc'd
 * message in *ERROR naming it and what is wrong. */
int mas_serve_www_check(const char *dir, char **error);

#endif
