/*
 * serve-keys.h — mas-serve's API keys (mas-serve(1), KEY FILE).
 *
 * A key file holds no key, only each key's SHA-256 digest, a name for
 * the logs and metrics, the routes the key may call and, optionally, a
 * rate limit of its own; one key a line, "#" starting a comment:
 *
 *	# NAME  DIGEST          ROUTES          [rate=R] [burst=B]
 *	alice   sha256:9f86d0…  chat,tasks      rate=5/s burst=10
 *	ops     sha256:2c26b4…  *
 *
 * NAME is 1 to 64 letters, digits, '.', '_' or '-'; ROUTES is "*" or a
 * comma-separated list of route names (mas_serve_key_routes below); R
 * is N, N/s, N/m or N/h.  Like a configuration file holding a secret,
 * a key file readable by group or others is refused: the digests are
 * not the keys, but a short key's digest can be searched for.
 *
 * A key is "mas_" and 43 characters of base64url: 32 random bytes from
 * getrandom(2), shown once when it is made.  Clients send it as
 * "Authorization: Bearer KEY" or "X-API-Key: KEY".
 */
#ifndef MAS_SERVE_KEYS_H
#define MAS_SERVE_KEYS_H

#include <stddef.h>

#include <jv.h>

#define MAS_SERVE_KEY_SIZE 48   /* "mas_", 43 characters and a NUL */
#define MAS_SERVE_KEY_NAME_MAX 64

struct mas_serve_key {
	char name[MAS_SERVE_KEY_NAME_MAX + 1];
	unsigned char digest[32];
	unsigned routes;        /* bits of mas_serve_key_routes; all: ~0u */
	double rate, burst;     /* 0: the server's default */
};

struct mas_serve_keys {
	struct mas_serve_key *keys;
	size_t count;
	char *path;
};

/* The route names a key may be given, NULL-terminated; bit I of
 * mas_serve_key.routes stands for name I. */
extern const char *const mas_serve_key_routes[];

/* The bit of route NAME, or 0 for an unknown name. */
unsigned mas_serve_key_route_bit(const char *name);

/*
 * Read the key file PATH into KEYS.  Returns 0, or -1 with a malloc'd
 * message in *ERROR naming the file (and line): unreadable, readable by
 * group or others, a malformed line, a name given twice.
 */
int mas_serve_keys_load(struct mas_serve_keys *keys, const char *path,
                        char **error);

void mas_serve_keys_release(struct mas_serve_keys *keys);

/* The key whose digest is KEY's (LENGTH bytes), or NULL.  Every stored
 * digest is compared in full, so the time taken tells nothing. */
const struct mas_serve_key *mas_serve_keys_find(
	const struct mas_serve_keys *keys, const char *key, size_t length);

/* Whether KEY may call the route whose bit is ROUTE. */
int mas_serve_key_allows(const struct mas_serve_key *key, unsigned route);

/*
 * Make a new key for NAME allowed ROUTES ("chat,tasks" or "*"), with
 * RATE and BURST (NULL: the server's), append its line to PATH (made
 * with mode 0600 when missing) and write the key to KEY.  Returns 0, or
 * -1 with *ERROR: a bad name, route or rate, a name already there, a
 * file that cannot be written or is readable by others.
 */
int mas_serve_keys_add(const char *path, const char *name,
                       const char *routes, const char *rate,
                       const char *burst, char key[MAS_SERVE_KEY_SIZE],
                       char **error);

/*
 * Remove NAME's line from PATH (rewritten whole, then renamed).
 * Returns 1 when removed, 0 when NAME is not there, -1 with *ERROR.
 */
int mas_serve_keys_remove(const char *path, const char *name, char **error);

/* The keys of PATH as {"name","routes":[...],"rate","burst"} objects,
 * never their digests; jv_invalid_with_msg(message) when unreadable. */
jv mas_serve_keys_list(const char *path);

#endif
