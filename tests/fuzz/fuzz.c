/*
 * fuzz.c — the helpers of fuzz.h, linked into every target.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <pthread.h>
#include <unistd.h>

#include <jv.h>

#include "fuzz.h"
#include "log.h"

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#ifdef FUZZ_ASAN
/* The sanitizers' interface (sanitizer/allocator_interface.h and
 * lsan_interface.h), declared here since gcc does not install those
 * headers. */
int __sanitizer_install_malloc_and_free_hooks(
	void (*on_malloc)(const volatile void *, size_t),
	void (*on_free)(const volatile void *));
int __sanitizer_get_ownership(const volatile void *block);
size_t __sanitizer_get_allocated_size(const volatile void *block);
void __lsan_ignore_object(const void *block);
#endif

static char dir[64];
static FILE *report;

/* Before libFuzzer closes stderr (it dups its own first too). */
__attribute__((constructor)) static void keep_stderr(void)
{
	int fd = dup(STDERR_FILENO);

	report = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!report)
		report = stderr;
	setvbuf(report, NULL, _IONBF, 0);
}

void fuzz_say(const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	vfprintf(report, format, ap);
	va_end(ap);
}

void fuzz_fail(const char *file, int line, const char *what)
{
	fuzz_say("%s:%d: fuzz check failed: %s\n", file, line, what);
	abort();
}

static int remove_one(const char *path, const struct stat *st, int type,
                      struct FTW *walk)
{
	(void)st;
	(void)type;
	(void)walk;
	remove(path);
	return 0;
}

static void remove_dir(void)
{
	nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Memory, not disk: rewriting a file on ext4 forces it out to disk at
 * each close (auto_da_alloc), which made the targets wait on I/O. */
static const char *tmp_base(void)
{
	const char *tmp = getenv("TMPDIR");

	if (tmp && *tmp && strlen(tmp) < 40)
		return tmp;
	if (access("/dev/shm", W_OK | X_OK) == 0)
		return "/dev/shm";
	return "/tmp";
}

const char *fuzz_dir(void)
{
	if (dir[0])
		return dir;
	snprintf(dir, sizeof(dir), "%s/mas-fuzz.XXXXXX", tmp_base());
	if (!mkdtemp(dir)) {
		perror("fuzz: mkdtemp");
		exit(2);
	}
	atexit(remove_dir);
	return dir;
}

const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
	static char path[128];
	FILE *file;

	snprintf(path, sizeof(path), "%s/%s", fuzz_dir(), name);
	file = fopen(path, "w");
	if (!file || (size && fwrite(data, 1, size, file) != size) ||
	    fclose(file) != 0) {
		fprintf(stderr, "fuzz: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return path;
}

void fuzz_quiet(void)
{
	mas_log_init("fuzz");
	mas_log_set_level(MAS_LOG_ERROR);
}

/*
 * libjq 1.6's own leak, and only it, kept from LeakSanitizer.
 *
 * jv_parse.c's value() returns "Expected separator between values"
 * without freeing the string it was handed (fixed in jq 1.7), so a text
 * such as `"a" "b"` leaks one string per parse.  A suppression cannot
 * tell that string from one mas leaks, since every parsed string is
 * allocated at the same place in jv_parser_next.  So the targets are
 * linked with -Wl,--wrap for jv_parse and jv_parse_sized: when a parse
 * fails, every block it allocated that is still live and is not the
 * error it returns (an invalid value and its message) can only be
 * libjq's: a block laid out as the fresh string value() dropped is
 * freed (so libFuzzer's count of mallocs and frees balances, and it does
 * not run a leak check after every such input, nor give up checking
 * after a thousand), any other (the number parser's cache) is ignored.
 * A parse that succeeds is left alone, so a parsed record mas forgets
 * to free is still reported.
 */
jv __real_jv_parse_sized(const char *text, int length);
jv __real_jv_parse(const char *text);
jv __wrap_jv_parse_sized(const char *text, int length);
jv __wrap_jv_parse(const char *text);

#ifdef FUZZ_ASAN
/* A target with threads (serve-http: the server's) parses on several
 * at once: one parse is tracked at a time, under PARSE_LOCK, and only
 * the blocks its own thread allocates are seen, never another
 * thread's. */
enum { MAX_SEEN = 1 << 20 };
static const volatile void *seen[MAX_SEEN];
static size_t seen_count;
static __thread int tracking;
static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_malloc(const volatile void *block, size_t size)
{
	(void)size;
	if (tracking && seen_count < MAX_SEEN)
		seen[seen_count++] = block;
}

static void on_free(const volatile void *block)
{
	(void)block;
}

static void track(void)
{
	static int installed;

	pthread_mutex_lock(&parse_lock);
	if (!installed)
		__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
	installed = 1;
	seen_count = 0;
	tracking = 1;
}

/* The heap block behind V, if it has one. */
static const void *block_of(jv v)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_INVALID:
	case JV_KIND_STRING:
	case JV_KIND_ARRAY:
	case JV_KIND_OBJECT:
		return v.u.ptr;
	default:
		return NULL;
	}
}

/* libjq 1.6's string block (jv.c's jvp_string), as jv_string_sized
 * makes it: one reference, length not hashed, NUL-terminated, room for
 * at least its length (more when bad UTF-8 was replaced). */
struct jq_string {
	int count;
	uint32_t hash, length_hashed, alloc_length;
	char data[];
};

static int is_fresh_string(const void *block)
{
	const struct jq_string *s = block;
	size_t size = __sanitizer_get_allocated_size(block);
	uint32_t length;

	if (size < sizeof(*s) + 1 || s->count != 1 || s->length_hashed & 1 ||
	    size != sizeof(*s) + s->alloc_length + 1)
		return 0;
	length = s->length_hashed >> 1;
	return length <= s->alloc_length && s->data[length] == '\0';
}

static jv forgive(jv result)
{
	const void *keep[2] = { NULL, NULL };

	tracking = 0;
	if (jv_is_valid(result))
		return result;
	keep[0] = block_of(result);
	if (jv_invalid_has_msg(jv_copy(result))) {
		jv message = jv_invalid_get_msg(jv_copy(result));

		keep[1] = block_of(message);
		jv_free(message);
	}
	for (size_t i = 0; i < seen_count && seen_count < MAX_SEEN; i++) {
		const void *block = (const void *)seen[i];

		if (block == keep[0] || block == keep[1] ||
		    !__sanitizer_get_ownership(block))
			continue;
		if (is_fresh_string(block))
			free((void *)block);
		else
			__lsan_ignore_object(block);
	}
	return result;
}

static jv untrack(jv result)
{
	result = forgive(result);
	pthread_mutex_unlock(&parse_lock);
	return result;
}
#else
static void track(void)
{
}

static jv untrack(jv result)
{
	return result;
}
#endif

jv __wrap_jv_parse_sized(const char *text, int length)
{
	track();
	return untrack(__real_jv_parse_sized(text, length));
}

jv __wrap_jv_parse(const char *text)
{
	track();
	return untrack(__real_jv_parse(text));
}
