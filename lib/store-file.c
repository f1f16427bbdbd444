/*
 * store-file.c — files kept beside the state store (see store-file.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mas.h"
#include "store-file.h"
#include "banned.h"

char *mas_store_file_dir(const struct mas_store *store, const char *name)
{
	const char *slash = strrchr(store->path, '/');
	int n = slash ? (int)(slash - store->path) : 1;
	const char *dir = slash ? store->path : ".";
	char *path;

	if (asprintf(&path, "%.*s/%s", n, dir, name) < 0)
		mas_die(MAS_EXIT_IO, "out of memory");
	return path;
}

char *mas_store_file_join(const char *dir, const char *name)
{
	char *path;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		mas_die(MAS_EXIT_IO, "out of memory");
	return path;
}

/*
 * A fresh name: 16 random bytes in hex.  Not a record id (id.h): with
 * the clock pinned (SOURCE_DATE_EPOCH, MAS_NOW) ids are the same in
 * every process, so two processes would pick one name, and a file named
 * from the id sequence would shift the ids of the records after it.
 */
static void fresh_name(char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char bytes[16];
	size_t got = 0;

	while (got < sizeof(bytes)) {
		ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			mas_die(MAS_EXIT_IO, "getrandom: %s", strerror(errno));
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(bytes); i++) {
		out[2 * i] = hex[bytes[i] >> 4];
		out[2 * i + 1] = hex[bytes[i] & 15];
	}
	out[32] = '\0';
}

int mas_store_file_create(const char *dir, const char *suffix, char **name,
                          char **error)
{
	char random[33], *path;
	int fd;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return mas_error_set(error, "%s: cannot create folder: %s",
		                     dir, strerror(errno));
	fresh_name(random);
	if (asprintf(name, "%s%s", random, suffix) < 0)
		mas_die(MAS_EXIT_IO, "out of memory");
	path = mas_store_file_join(dir, *name);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		mas_error_set(error, "%s: %s", path, strerror(errno));
		free(*name);
		*name = NULL;
	}
	free(path);
	return fd;
}

/* Writes SIZE bytes of DATA to FD and syncs it: 0 or an errno. */
static int write_all(int fd, const char *data, size_t size)
{
	while (size > 0) {
		ssize_t n = write(fd, data, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		data += n;
		size -= (size_t)n;
	}
	return fsync(fd) != 0 ? errno : 0;
}

int mas_store_file_write(const char *dir, const char *suffix,
                         const void *data, size_t size, char **name,
                         char **error)
{
	int fd = mas_store_file_create(dir, suffix, name, error);
	int failure;

	if (fd < 0)
		return -1;
	failure = write_all(fd, data, size);
	if (close(fd) != 0 && !failure)
		failure = errno;
	if (!failure)
		return 0;
	mas_error_set(error, "%s/%s: %s", dir, *name, strerror(failure));
	mas_store_file_remove(dir, *name);
	free(*name);
	*name = NULL;
	return -1;
}

void *mas_store_file_map(const char *dir, const char *name, size_t *size,
                         char **error)
{
	char *path = mas_store_file_join(dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *block = NULL;

	if (fd < 0) {
		/* gone: replaced under us, or removed by hand */
		if (errno != ENOENT)
			mas_error_set(error, "%s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		block = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED,
		             fd, 0);
		if (block == MAP_FAILED) {
			mas_error_set(error, "%s: %s", path, strerror(errno));
			block = NULL;
		}
		*size = (size_t)st.st_size;
	}
	close(fd);
	free(path);
	return block;
}

void mas_store_file_remove(const char *dir, const char *name)
{
	char *path;

	if (!name)
		return;
	path = mas_store_file_join(dir, name);
	unlink(path);
	free(path);
}

/* Whether the query NAMED gives a row for FILE: when in doubt, yes. */
static int referenced(struct mas_store *store, const char *named,
                      const char *file)
{
	sqlite3_stmt *st;
	int found;

	if (sqlite3_prepare_v2(store->db, named, -1, &st, NULL) != SQLITE_OK)
		return 1;
	sqlite3_bind_text(st, 1, file, -1, SQLITE_STATIC);
	found = sqlite3_step(st) != SQLITE_DONE;
	sqlite3_finalize(st);
	return found;
}

/* Whether NAME ends in SUFFIX after at least one character. */
static int has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && strcmp(name + n - s, suffix) == 0;
}

void mas_store_file_prune(struct mas_store *store, const char *dir,
                          const char *suffix, const char *named,
                          const char *what)
{
	DIR *d = opendir(dir);
	time_t now = time(NULL);

	for (;;) {
		struct dirent *e = d ? readdir(d) : NULL;
		struct stat st;
		char *path;
		if (!e)
			break;
		if (!has_suffix(e->d_name, suffix))
			continue;
		path = mas_store_file_join(dir, e->d_name);
		if (stat(path, &st) == 0 &&
		    now - st.st_mtime > MAS_STORE_FILE_ORPHAN_AGE &&
		    !referenced(store, named, e->d_name)) {
			mas_info("%s: %s no run uses, removed", path, what);
			unlink(path);
		}
		free(path);
	}
	if (d)
		closedir(d);
}
