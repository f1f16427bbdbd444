/*
 * config.c — configuration (see config.h).
 */
#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"
#include "mas.h"
#include "banned.h"

/* Where `make install` puts examples/, baked in by the Makefile. */
#ifndef MAS_EXAMPLES_DIR
#define MAS_EXAMPLES_DIR "/usr/local/share/mas/examples"
#endif

/*
 * Every setting mas reads.  Appending a row here is all a new setting
 * needs; mas(7) lists them.
 */
static const struct mas_config_key keys[] = {
	{ "log.level", "MAS_LOG_LEVEL", "warn", 0 },
	{ "log.format", "MAS_LOG_FORMAT", "text", 0 },
	{ "state.dir", "MAS_STATE_DIR", NULL, 0 },
	{ "state.busy_timeout", "MAS_STATE_BUSY_TIMEOUT", "10", 0 },
	{ "llm.base_url", "OPENAI_BASE_URL", NULL, 0 },
	{ "llm.api_key", "OPENAI_API_KEY", NULL, 1 },
	{ "llm.model", "MAS_MODEL", NULL, 0 },
	{ "llm.timeout", "MAS_LLM_TIMEOUT", NULL, 0 },
	{ "llm.jobs", "MAS_LLM_JOBS", NULL, 0 },
	{ "llm.cache_ttl", "MAS_LLM_CACHE_TTL", NULL, 0 },
	{ "analyze.data_dir", "MAS_DATA_DIR", ".", 0 },
	{ "analyze.lang", "MAS_LANG", NULL, 0 },
	{ "research.corpus", "MAS_CORPUS", NULL, 0 },
	{ "research.include", "MAS_RESEARCH_INCLUDE", NULL, 0 },
	{ "research.exclude", "MAS_RESEARCH_EXCLUDE", NULL, 0 },
	{ "research.id_field", "MAS_RESEARCH_ID_FIELD", NULL, 0 },
	{ "research.depth", "MAS_RESEARCH_DEPTH", NULL, 0 },
	{ "research.bm25_k1", "MAS_RESEARCH_BM25_K1", "1.2", 0 },
	{ "research.bm25_b", "MAS_RESEARCH_BM25_B", "0.75", 0 },
	{ "research.title_weight", "MAS_RESEARCH_TITLE_WEIGHT", "1", 0 },
	{ "research.index_memory", "MAS_RESEARCH_INDEX_MEMORY", "64", 0 },
	{ "trace.file", "MAS_TRACE", NULL, 0 },
	{ "metrics.file", "MAS_METRICS_FILE", NULL, 0 },
	{ "chat.kb", "MAS_KB", NULL, 0 },
	{ "examples.dir", "MAS_EXAMPLES_DIR", MAS_EXAMPLES_DIR, 0 },
	{ "chat.session_ttl", "MAS_CHAT_SESSION_TTL", "86400", 0 },
	{ "bus.url", "MAS_BUS_URL", NULL, 0 },
	{ "serve.listen", "MAS_SERVE_LISTEN", "127.0.0.1:8000", 0 },
	{ "serve.keys", "MAS_SERVE_KEYS", NULL, 0 },
	{ "serve.flows_dir", "MAS_FLOWS_DIR", NULL, 0 },
	{ "serve.www", "MAS_SERVE_WWW", NULL, 0 },
	{ "serve.threads", "MAS_SERVE_THREADS", NULL, 0 },
	{ "serve.workers", "MAS_SERVE_WORKERS", NULL, 0 },
	{ "serve.task_workers", "MAS_SERVE_TASK_WORKERS", "2", 0 },
	{ "serve.queue", "MAS_SERVE_QUEUE", "256", 0 },
	{ "serve.timeout", "MAS_SERVE_TIMEOUT", "30", 0 },
	{ "serve.task_timeout", "MAS_SERVE_TASK_TIMEOUT", "300", 0 },
	{ "serve.max_body", "MAS_SERVE_MAX_BODY", "1048576", 0 },
	{ "serve.header_timeout", "MAS_SERVE_HEADER_TIMEOUT", "10", 0 },
	{ "serve.idle_timeout", "MAS_SERVE_IDLE_TIMEOUT", "60", 0 },
	{ "serve.connections", "MAS_SERVE_CONNECTIONS", "1024", 0 },
	{ "serve.rate", "MAS_SERVE_RATE", NULL, 0 },
	{ "serve.burst", "MAS_SERVE_BURST", NULL, 0 },
	{ "serve.shutdown_timeout", "MAS_SERVE_SHUTDOWN_TIMEOUT", "10", 0 },
	{ "serve.access_log", "MAS_SERVE_ACCESS_LOG", "-", 0 },
	{ NULL, NULL, NULL, 0 },
};

#define KEY_COUNT (sizeof(keys) / sizeof(keys[0]) - 1)

char *mas_config_example(const struct mas_config *config, const char *name,
                         int *found)
{
	const char *dir = mas_config_get(config, "examples.dir");
	struct stat st;
	char *path;

	*found = 0;
	if (asprintf(&path, "%s/%s", dir ? dir : "", name) < 0)
		return NULL;
	*found = stat(path, &st) == 0;
	return path;
}

const struct mas_config_key *mas_config_keys(void)
{
	return keys;
}

static int key_index(const char *name)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

void mas_config_init(struct mas_config *config)
{
	config->values = calloc(KEY_COUNT, sizeof(*config->values));
	if (!config->values)
		mas_die(2, "out of memory");
	config->file = NULL;
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (keys[i].fallback)
			config->values[i][MAS_CONFIG_DEFAULT] =
				strdup(keys[i].fallback);
}

void mas_config_release(struct mas_config *config)
{
	if (!config->values)
		return;
	for (size_t i = 0; i < KEY_COUNT; i++)
		for (int s = 0; s < MAS_CONFIG_SOURCES; s++)
			free(config->values[i][s]);
	free(config->values);
	free(config->file);
	config->values = NULL;
	config->file = NULL;
}

void mas_config_set(struct mas_config *config, const char *name,
                    const char *value, enum mas_config_source source)
{
	int i = key_index(name);

	assert(i >= 0 && "mas_config_set: unknown key");
	free(config->values[i][source]);
	config->values[i][source] = value ? strdup(value) : NULL;
}

void mas_config_load_env(struct mas_config *config)
{
	for (size_t i = 0; i < KEY_COUNT; i++) {
		const char *value = keys[i].env ? getenv(keys[i].env) : NULL;
		if (value && *value)
			mas_config_set(config, keys[i].name, value,
			               MAS_CONFIG_ENV);
	}
}

const char *mas_config_get(const struct mas_config *config, const char *name)
{
	int i = key_index(name);

	assert(i >= 0 && "mas_config_get: unknown key");
	for (int s = MAS_CONFIG_SOURCES - 1; s >= 0; s--)
		if (config->values[i][s])
			return config->values[i][s];
	return NULL;
}

enum mas_config_source mas_config_source_of(const struct mas_config *config,
                                            const char *name)
{
	int i = key_index(name);

	assert(i >= 0 && "mas_config_source_of: unknown key");
	for (int s = MAS_CONFIG_SOURCES - 1; s >= 0; s--)
		if (config->values[i][s])
			return (enum mas_config_source)s;
	return MAS_CONFIG_DEFAULT;
}

static char *default_path(void)
{
	const char *base = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *path = NULL;

	if (base && *base) {
		if (asprintf(&path, "%s/mas/config", base) < 0)
			path = NULL;
	} else if (home && *home) {
		if (asprintf(&path, "%s/.config/mas/config", home) < 0)
			path = NULL;
	}
	return path;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Parses one line into KEY and VALUE, updating SECTION; 0 blank, 1 pair,
 * -1 syntax error. */
static int parse_line(char *line, char *section, size_t section_size,
                      char **key, char **value)
{
	char *s = trim(line), *equals;
	size_t length;

	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		char *close = strchr(s, ']');
		if (!close || close[1] != '\0')
			return -1;
		*close = '\0';
		snprintf(section, section_size, "%s", trim(s + 1));
		return 0;
	}
	equals = strchr(s, '=');
	if (!equals)
		return -1;
	*equals = '\0';
	*key = trim(s);
	*value = trim(equals + 1);
	length = strlen(*value);
	if (length >= 2 && (*value)[0] == '"' && (*value)[length - 1] == '"') {
		(*value)[length - 1] = '\0';
		(*value)++;
	}
	return **key ? 1 : -1;
}

static int set_from_file(struct mas_config *config, const char *path,
                         unsigned lineno, const char *section,
                         const char *key, const char *value, int *secret)
{
	char name[256];
	int i;

	if (*section)
		snprintf(name, sizeof(name), "%s.%s", section, key);
	else
		snprintf(name, sizeof(name), "%s", key);
	i = key_index(name);
	if (i < 0) {
		mas_warn("%s:%u: unknown key '%s', ignored", path, lineno,
		         name);
		return 0;
	}
	*secret |= keys[i].secret;
	mas_config_set(config, name, value, MAS_CONFIG_FILE);
	return 0;
}

static int read_file(struct mas_config *config, FILE *file, const char *path,
                     int *secret, char **error)
{
	char section[128] = "";
	char *line = NULL;
	size_t capacity = 0;
	unsigned lineno = 0;
	int status = 0;

	while (getline(&line, &capacity, file) >= 0) {
		char *key, *value;
		int kind;

		lineno++;
		kind = parse_line(line, section, sizeof(section), &key,
		                  &value);
		if (kind < 0) {
			status = mas_error_set(error,
			                       "%s:%u: expected 'key = value' "
			                       "or '[section]'", path, lineno);
			break;
		}
		if (kind > 0)
			set_from_file(config, path, lineno, section, key,
			              value, secret);
	}
	if (status == 0 && ferror(file)) /* a folder, an I/O error */
		status = mas_error_set(error, "%s: %s", path, strerror(errno));
	free(line);
	return status;
}

int mas_config_load_file(struct mas_config *config, const char *path,
                         char **error)
{
	char *owned = path ? NULL : default_path();
	const char *name = path ? path : owned;
	struct stat st;
	int secret = 0, status;
	FILE *file;

	*error = NULL;
	if (!name)
		return 0;
	file = fopen(name, "r");
	if (!file) {
		status = 0;
		if (path || errno != ENOENT)
			status = mas_error_set(error, "%s: %s", name,
			                       strerror(errno));
		free(owned);
		return status;
	}
	status = read_file(config, file, name, &secret, error);
	if (status == 0 && secret && fstat(fileno(file), &st) == 0 &&
	    (st.st_mode & 077))
		status = mas_error_set(error,
		                       "%s: holds a secret but group or "
		                       "others have access to it (mode %03o); "
		                       "fix it with: chmod 600 %s", name,
		                       (unsigned)(st.st_mode & 0777), name);
	fclose(file);
	if (status == 0) {
		free(config->file);
		config->file = strdup(name);
	}
	free(owned);
	return status;
}
