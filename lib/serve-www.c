/*
 * serve-www.c — the console's files, built in or from a folder (see
 * serve-www.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mas.h"
#include "serve-www.h"
#include "banned.h"

/* The files of www/, each a C string (they are text), made by the
 * Makefile from the tree: { "/index.html", "<!doctype html>\n" ... }. */
static const struct { const char *name; const char *data; } builtin[] = {
#include "serve-www.inc"
	{ NULL, NULL },
};

/* The largest file a folder may hand out: the console is a few pages,
 * and a request must not make the server read a disk image. */
#define MAX_FILE (16L << 20)

const char *mas_serve_www_type(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".jpg", "image/jpeg" },
		{ ".ico", "image/vnd.microsoft.icon" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".woff2", "font/woff2" },
	};
	const char *dot = strrchr(name, '.');

	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

/* PATH as a name under the folder, "/index.html" for a folder's path,
 * into NAME; 0, or 1 when PATH names nothing (serve-www.h). */
static int name_of(const char *path, char *name, size_t size)
{
	size_t length = strlen(path);
	const char *segment = path + 1;

	if (path[0] != '/' || strchr(path, '\\'))
		return 1;
	for (const char *p = segment; *p; p++) {
		if (*p != '/')
			continue;
		if (p == segment || segment[0] == '.')
			return 1;
		segment = p + 1;
	}
	if (*segment == '.')
		return 1;
	if (snprintf(name, size, "%s%s", path, path[length - 1] == '/' ?
	             "index.html" : "") >= (int)size)
		return 1;
	return 0;
}

static int find_builtin(const char *name, struct mas_serve_www_file *file)
{
	for (size_t i = 0; builtin[i].name; i++) {
		if (strcmp(builtin[i].name, name) != 0)
			continue;
		file->data = (char *)builtin[i].data;
		file->length = strlen(builtin[i].data);
		file->type = mas_serve_www_type(name);
		file->is_static = 1;
		return 0;
	}
	return 1;
}

/* Whether the real path of FULL is inside the real folder ROOT. */
static int inside(const char *root, const char *full)
{
	char *real = realpath(full, NULL);
	size_t length = strlen(root);
	int ok;

	if (!real)
		return 0;
	ok = strncmp(real, root, length) == 0 && real[length] == '/';
	free(real);
	return ok;
}

/* Read the regular file FD whole into FILE; 0, 1 (not a regular file)
 * or -1. */
static int read_whole(int fd, struct mas_serve_www_file *file)
{
	struct stat st;
	size_t got = 0;

	if (fstat(fd, &st))
		return -1;
	if (!S_ISREG(st.st_mode))
		return 1;
	if (st.st_size > MAX_FILE) {
		errno = EFBIG;
		return -1;
	}
	file->data = malloc((size_t)st.st_size + 1);
	if (!file->data)
		return -1;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, file->data + got,
		                 (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;  /* shrank meanwhile: serve what is there */
		got += (size_t)n;
	}
	file->length = got;
	file->is_static = 0;
	return 0;
}

static int find_in(const char *dir, const char *name,
                   struct mas_serve_www_file *file)
{
	char *root = realpath(dir, NULL), full[PATH_MAX];
	int fd, found;

	if (!root)
		return -1;
	if (snprintf(full, sizeof(full), "%s%s", root, name) >=
	    (int)sizeof(full) || !inside(root, full)) {
		free(root);
		return 1;
	}
	free(root);
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 1 : -1;
	found = read_whole(fd, file);
	close(fd);
	if (found == 0)
		file->type = mas_serve_www_type(name);
	return found;
}

int mas_serve_www_find(const char *dir, const char *path,
                       struct mas_serve_www_file *file)
{
	char name[PATH_MAX];

	memset(file, 0, sizeof(*file));
	if (name_of(path, name, sizeof(name)))
		return 1;
	return dir ? find_in(dir, name, file) : find_builtin(name, file);
}

int mas_serve_www_check(const char *dir, char **error)
{
	struct stat st;

	if (stat(dir, &st))
		return mas_error_set(error, "serve.www (--www): %s: %s", dir,
		                     strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return mas_error_set(error, "serve.www (--www): %s: not a "
		                     "folder", dir);
	if (access(dir, R_OK | X_OK))
		return mas_error_set(error, "serve.www (--www): %s: %s", dir,
		                     strerror(errno));
	return 0;
}
