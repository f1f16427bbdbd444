/*
 * serve-keys.c — mas-serve's key file (see serve-keys.h).
 *
 * The digests are SHA-256 through llm.c's mas_sha256_hex, the one
 * SHA-256 the library has.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llm.h"
#include "mas.h"
#include "ratelimit.h"
#include "serve-keys.h"
#include "banned.h"

const char *const mas_serve_key_routes[] = {
	"tasks", "analysis", "chat", "research", "flows", "metrics", NULL
};

unsigned mas_serve_key_route_bit(const char *name)
{
	for (unsigned i = 0; mas_serve_key_routes[i]; i++)
		if (strcmp(name, mas_serve_key_routes[i]) == 0)
			return 1u << i;
	return 0;
}

static int name_valid(const char *name)
{
	size_t length = strlen(name);

	if (length == 0 || length > MAS_SERVE_KEY_NAME_MAX)
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
	              "TUVWXYZ0123456789._-") == length;
}

/* ROUTES as bits; -1 for an unknown name, whose position is in *BAD. */
static long parse_routes(const char *routes, const char **bad)
{
	unsigned bits = 0;
	const char *p = routes;

	if (strcmp(routes, "*") == 0)
		return (long)~0u;
	while (*p) {
		size_t length = strcspn(p, ",");
		char name[32];
		unsigned bit = 0;

		if (length > 0 && length < sizeof(name)) {
			memcpy(name, p, length);
			name[length] = '\0';
			bit = mas_serve_key_route_bit(name);
		}
		if (!bit) {
			*bad = p;
			return -1;
		}
		bits |= bit;
		p += length;
		if (*p == ',')
			p++;
	}
	if (!bits) {
		*bad = routes;
		return -1;
	}
	return (long)bits;
}

static int unhex_digest(const char *text, unsigned char digest[32])
{
	if (strncmp(text, "sha256:", 7) != 0 || strlen(text) != 7 + 64)
		return -1;
	text += 7;
	for (int i = 0; i < 32; i++) {
		unsigned value;
		if (sscanf(text + 2 * i, "%2x", &value) != 1 ||
		    !strchr("0123456789abcdef", text[2 * i]) ||
		    !strchr("0123456789abcdef", text[2 * i + 1]))
			return -1;
		digest[i] = (unsigned char)value;
	}
	return 0;
}

/* "rate=R" or "burst=B" into KEY; -1 when WORD is neither or bad. */
static int parse_limit(const char *word, struct mas_serve_key *key)
{
	char *end;

	if (strncmp(word, "rate=", 5) == 0)
		return mas_ratelimit_parse(word + 5, &key->rate);
	if (strncmp(word, "burst=", 6) != 0)
		return -1;
	key->burst = strtod(word + 6, &end);
	return end == word + 6 || *end || !(key->burst >= 1) ? -1 : 0;
}

/* One line's words into KEY; a message (static) when malformed. */
static const char *parse_line(char *line, struct mas_serve_key *key)
{
	char *save = NULL, *words[6];
	int count = 0;
	const char *bad = NULL;
	long routes;

	for (char *w = strtok_r(line, " \t\r\n", &save); w;
	     w = strtok_r(NULL, " \t\r\n", &save)) {
		if (count == 5)
			return "too many fields (NAME DIGEST ROUTES "
			       "[rate=R] [burst=B])";
		words[count++] = w;
	}
	if (count < 3)
		return "expected NAME DIGEST ROUTES [rate=R] [burst=B]";
	if (!name_valid(words[0]))
		return "the name is not 1 to 64 letters, digits, '.', '_' "
		       "or '-'";
	if (unhex_digest(words[1], key->digest))
		return "the digest is not sha256: and 64 lowercase hex digits";
	routes = parse_routes(words[2], &bad);
	if (routes < 0)
		return "unknown route (known: tasks, analysis, chat, research,"
		       " flows, metrics, or * for all)";
	for (int i = 3; i < count; i++)
		if (parse_limit(words[i], key))
			return "expected rate=N[/s|/m|/h] or burst=N";
	snprintf(key->name, sizeof(key->name), "%s", words[0]);
	key->routes = (unsigned)routes;
	return NULL;
}

/* The file PATH may hold keys only if no one but its owner reads it. */
static int check_private(int fd, const char *path, char **error)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return mas_error_set(error, "%s: %s", path, strerror(errno));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return mas_error_set(error, "%s: key file is readable by "
		                     "group or others (mode %03o); run chmod "
		                     "600 %s", path,
		                     (unsigned)(st.st_mode & 0777), path);
	return 0;
}

static int add_key(struct mas_serve_keys *keys,
                   const struct mas_serve_key *key)
{
	struct mas_serve_key *grown = realloc(keys->keys, (keys->count + 1) *
	                                      sizeof(*grown));

	if (!grown)
		return -1;
	keys->keys = grown;
	keys->keys[keys->count++] = *key;
	return 0;
}

static int has_name(const struct mas_serve_keys *keys, const char *name)
{
	for (size_t i = 0; i < keys->count; i++)
		if (strcmp(keys->keys[i].name, name) == 0)
			return 1;
	return 0;
}

static int read_lines(struct mas_serve_keys *keys, FILE *file,
                      const char *path, char **error)
{
	char *line = NULL;
	size_t size = 0;
	long number = 0;
	int rc = 0;

	while (rc == 0 && getline(&line, &size, file) >= 0) {
		struct mas_serve_key key = { .rate = 0 };
		char *text = line + strspn(line, " \t");
		const char *problem;

		number++;
		if (*text == '#' || strspn(text, " \t\r\n") == strlen(text))
			continue;
		problem = parse_line(text, &key);
		if (!problem && has_name(keys, key.name))
			problem = "this name is given on an earlier line";
		if (problem)
			rc = mas_error_set(error, "%s:%ld: %s", path, number,
			                   problem);
		else if (add_key(keys, &key))
			rc = mas_error_set(error, "out of memory");
	}
	if (rc == 0 && ferror(file))
		rc = mas_error_set(error, "%s: %s", path, strerror(errno));
	free(line);
	return rc;
}

int mas_serve_keys_load(struct mas_serve_keys *keys, const char *path,
                        char **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	FILE *file;
	int rc;

	memset(keys, 0, sizeof(*keys));
	if (fd < 0)
		return mas_error_set(error, "%s: %s", path, strerror(errno));
	if (check_private(fd, path, error)) {
		close(fd);
		return -1;
	}
	file = fdopen(fd, "r");
	if (!file) {
		close(fd);
		return mas_error_set(error, "%s: %s", path, strerror(errno));
	}
	rc = read_lines(keys, file, path, error);
	fclose(file);
	keys->path = strdup(path);
	if (rc == 0 && !keys->path)
		rc = mas_error_set(error, "out of memory");
	if (rc)
		mas_serve_keys_release(keys);
	return rc;
}

void mas_serve_keys_release(struct mas_serve_keys *keys)
{
	if (!keys)
		return;
	/* Digests are not keys, yet leave none behind in freed memory. */
	if (keys->keys)
		memset(keys->keys, 0, keys->count * sizeof(*keys->keys));
	free(keys->keys);
	free(keys->path);
	memset(keys, 0, sizeof(*keys));
}

static void digest_of(const char *key, size_t length, unsigned char out[32])
{
	char hex[65];

	mas_sha256_hex(key, length, hex);
	for (int i = 0; i < 32; i++) {
		unsigned value;
		sscanf(hex + 2 * i, "%2x", &value);
		out[i] = (unsigned char)value;
	}
}

const struct mas_serve_key *mas_serve_keys_find(
	const struct mas_serve_keys *keys, const char *key, size_t length)
{
	const struct mas_serve_key *found = NULL;
	unsigned char digest[32];

	if (!keys || !key)
		return NULL;
	digest_of(key, length, digest);
	for (size_t i = 0; i < keys->count; i++) {
		unsigned char differ = 0;
		for (int b = 0; b < 32; b++)
			differ |= (unsigned char)(digest[b] ^
			                          keys->keys[i].digest[b]);
		if (differ == 0 && !found)
			found = &keys->keys[i];
	}
	return found;
}

int mas_serve_key_allows(const struct mas_serve_key *key, unsigned route)
{
	return key && (key->routes & route) != 0;
}

/* ---- making keys ---- */

static void new_key(char key[MAS_SERVE_KEY_SIZE])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
	                               "klmnopqrstuvwxyz0123456789-_";
	unsigned char bytes[33] = { 0 };
	char *p = key;
	size_t got = 0;

	while (got < 32) {
		ssize_t n = getrandom(bytes + got, 32 - got, 0);
		if (n > 0)
			got += (size_t)n;
		else if (errno != EINTR)
			abort(); /* no randomness: no key, not a weak one */
	}
	memcpy(p, "mas_", 4);
	p += 4;
	/* base64url, no padding: 32 bytes are 43 characters. */
	for (int i = 0; i < 32; i += 3) {
		unsigned value = (unsigned)bytes[i] << 16 |
		                 (unsigned)bytes[i + 1] << 8 |
		                 (i + 2 < 33 ? bytes[i + 2] : 0);
		int chars = i + 3 <= 32 ? 4 : 3;
		for (int c = 0; c < chars; c++)
			*p++ = alphabet[value >> (18 - 6 * c) & 63];
	}
	*p = '\0';
	memset(bytes, 0, sizeof(bytes));
}

/* Open PATH to append, made 0600 when missing, and refuse one readable
 * by others (its keys would be). */
/* Whether the file FD is empty or ends with a newline. */
static int ends_with_newline(int fd)
{
	struct stat st;
	char last = '\n';

	if (fstat(fd, &st) == 0 && st.st_size > 0 &&
	    pread(fd, &last, 1, st.st_size - 1) != 1)
		last = '\n';
	return last == '\n';
}

static FILE *open_append(const char *path, char **error)
{
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	FILE *file;

	if (fd < 0) {
		mas_error_set(error, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (check_private(fd, path, error)) {
		close(fd);
		return NULL;
	}
	file = fdopen(fd, "a");
	if (!file) {
		mas_error_set(error, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	/* A last line without its newline (a file edited by hand) would
	 * run into the new key's. */
	if (!ends_with_newline(fd))
		fputc('\n', file);
	return file;
}

/* The names in PATH, to refuse a second key of one name; a missing file
 * has none. */
static int load_existing(struct mas_serve_keys *keys, const char *path,
                         char **error)
{
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		memset(keys, 0, sizeof(*keys));
		return 0;
	}
	return mas_serve_keys_load(keys, path, error);
}

static int check_new(const char *name, const char *routes, const char *rate,
                     const char *burst, char **error)
{
	const char *bad = NULL;
	struct mas_serve_key key = { .rate = 0 };
	char word[64];
	double value;

	if (!name_valid(name))
		return mas_error_set(error, "'%s' is not a name of 1 to 64 "
		                     "letters, digits, '.', '_' or '-'", name);
	if (parse_routes(routes, &bad) < 0)
		return mas_error_set(error, "--routes: '%s' names an unknown "
		                     "route (known: tasks, analysis, chat, "
		                     "research, flows, metrics, or * for all)",
		                     routes);
	if (rate && mas_ratelimit_parse(rate, &value))
		return mas_error_set(error, "--rate: '%s' is not N, N/s, N/m "
		                     "or N/h", rate);
	snprintf(word, sizeof(word), "burst=%s", burst ? burst : "1");
	if (parse_limit(word, &key))
		return mas_error_set(error, "--burst: '%s' is not a number "
		                     "of at least 1", burst);
	return 0;
}

int mas_serve_keys_add(const char *path, const char *name,
                       const char *routes, const char *rate,
                       const char *burst, char key[MAS_SERVE_KEY_SIZE],
                       char **error)
{
	struct mas_serve_keys keys;
	char hex[65];
	FILE *file;
	int rc;

	if (check_new(name, routes, rate, burst, error) ||
	    load_existing(&keys, path, error))
		return -1;
	rc = has_name(&keys, name);
	mas_serve_keys_release(&keys);
	if (rc)
		return mas_error_set(error, "%s: a key named '%s' is there "
		                     "already (remove it first)", path, name);
	file = open_append(path, error);
	if (!file)
		return -1;
	new_key(key);
	mas_sha256_hex(key, strlen(key), hex);
	fprintf(file, "%s sha256:%s %s", name, hex, routes);
	if (rate)
		fprintf(file, " rate=%s", rate);
	if (burst)
		fprintf(file, " burst=%s", burst);
	fputc('\n', file);
	if (fclose(file) != 0) {
		memset(key, 0, MAS_SERVE_KEY_SIZE);
		return mas_error_set(error, "%s: %s", path, strerror(errno));
	}
	return 0;
}

/* ---- removing and listing ---- */

/* Whether LINE is NAME's key line. */
static int line_names(const char *line, const char *name)
{
	size_t length = strlen(name);

	line += strspn(line, " \t");
	return strncmp(line, name, length) == 0 &&
	       (line[length] == ' ' || line[length] == '\t');
}

static int copy_without(FILE *in, FILE *out, const char *name, int *found)
{
	char *line = NULL;
	size_t size = 0;

	for (;;) {
		ssize_t length = getline(&line, &size, in);

		if (length < 0)
			break;
		if (line_names(line, name)) {
			*found = 1;
			continue;
		}
		/* the line as it was, even with a NUL in it (which fputs
		 * would end at, gluing the next line on) */
		fwrite(line, 1, (size_t)length, out);
	}
	free(line);
	return ferror(in) ? -1 : 0;
}

/* A new private file beside PATH to write the key file's next version
 * into; its name in *TEMPORARY (malloc'd). */
static FILE *open_temporary(const char *path, char **temporary)
{
	FILE *file;
	int fd;

	if (asprintf(temporary, "%s.%ld.tmp", path, (long)getpid()) < 0) {
		*temporary = NULL;
		return NULL;
	}
	fd = open(*temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	file = fdopen(fd, "w");
	if (!file)
		close(fd);
	return file;
}

int mas_serve_keys_remove(const char *path, const char *name, char **error)
{
	struct mas_serve_keys keys;
	char *temporary = NULL;
	FILE *in, *out;
	int found = 0, rc = -1;

	if (mas_serve_keys_load(&keys, path, error))
		return -1;
	mas_serve_keys_release(&keys);
	in = fopen(path, "r");
	out = in ? open_temporary(path, &temporary) : NULL;
	if (out) {
		rc = copy_without(in, out, name, &found);
		if (fclose(out) != 0)
			rc = -1;
		if (rc == 0)
			rc = rename(temporary, path);
	}
	if (rc != 0)
		mas_error_set(error, "%s: %s", path, strerror(errno));
	if (rc != 0 && temporary)
		unlink(temporary);
	if (in)
		fclose(in);
	free(temporary);
	return rc != 0 ? -1 : found;
}

jv mas_serve_keys_list(const char *path)
{
	struct mas_serve_keys keys;
	char *error = NULL;
	jv list = jv_array();

	if (mas_serve_keys_load(&keys, path, &error)) {
		jv failure = jv_invalid_with_msg(jv_string(error ? error :
		                                           "out of memory"));
		free(error);
		jv_free(list);
		return failure;
	}
	for (size_t i = 0; i < keys.count; i++) {
		const struct mas_serve_key *key = &keys.keys[i];
		jv routes = jv_array();

		for (int r = 0; mas_serve_key_routes[r]; r++)
			if (key->routes & (1u << r))
				routes = jv_array_append(routes, jv_string(
					mas_serve_key_routes[r]));
		list = jv_array_append(list, JV_OBJECT(
			jv_string("name"), jv_string(key->name),
			jv_string("routes"), key->routes == ~0u
			        ? jv_string("*") : routes,
			jv_string("rate"), key->rate > 0
			        ? jv_number(key->rate) : jv_null(),
			jv_string("burst"), key->burst > 0
			        ? jv_number(key->burst) : jv_null()));
		if (key->routes == ~0u)
			jv_free(routes);
	}
	mas_serve_keys_release(&keys);
	return list;
}
