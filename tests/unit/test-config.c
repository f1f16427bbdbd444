/*
 * test-config.c — lib/config.c against config.h: flags > environment >
 * file > defaults, the file's syntax, unknown keys, secrets in readable
 * files, and missing files.
 *
 * Every test starts from a clean environment: the variables of every key
 * unset and XDG_CONFIG_HOME pointing into a fresh temporary folder.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

static char tmp[256];
static char saved_home[1024];

static void clear_env(void)
{
	for (const struct mas_config_key *k = mas_config_keys(); k->name; k++)
		if (k->env)
			unsetenv(k->env);
}

static void setup(void)
{
	const char *base = getenv("TMPDIR");
	char config_home[300];

	snprintf(tmp, sizeof(tmp), "%s/mas-config-XXXXXX",
	         base && *base ? base : "/tmp");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		exit(99);
	}
	snprintf(config_home, sizeof(config_home), "%s/xdg", tmp);
	clear_env();
	setenv("XDG_CONFIG_HOME", config_home, 1);
}

static void teardown(void)
{
	char command[512];

	snprintf(command, sizeof(command), "rm -rf '%s'", tmp);
	if (system(command) != 0)
		fprintf(stderr, "could not remove %s\n", tmp);
	clear_env();
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", saved_home, 1);
}

/* Writes TEXT to NAME under the temporary folder with MODE; the path,
 * in a static buffer. */
static const char *write_file(const char *name, const char *text,
                              mode_t mode)
{
	static char path[512];
	FILE *file;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	unlink(path);
	file = fopen(path, "w");
	if (!file) {
		perror(path);
		exit(99);
	}
	fputs(text, file);
	fclose(file);
	chmod(path, mode);
	return path;
}

/* Loads PATH into CONFIG with stderr captured into WARNINGS. */
static int load_quietly(struct mas_config *config, const char *path,
                        char **error, char *warnings, size_t size)
{
	char log[300];
	int saved = dup(2), fd, status;
	ssize_t got;

	fflush(stderr);
	snprintf(log, sizeof(log), "%s/stderr", tmp);
	fd = open(log, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	status = mas_config_load_file(config, path, error);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	got = read(fd, warnings, size - 1);
	warnings[got > 0 ? got : 0] = '\0';
	close(fd);
	return status;
}

static int contains(const char *text, const char *part)
{
	return text && strstr(text, part) != NULL;
}

static void test_keys_table(void)
{
	const struct mas_config_key *k = mas_config_keys();
	int count = 0, secrets = 0, api_key = 0;

	for (; k->name; k++, count++) {
		CHECK(strchr(k->name, '.') != NULL);
		secrets += k->secret;
		if (strcmp(k->name, "llm.api_key") == 0)
			api_key = k->secret;
		for (const struct mas_config_key *j = k + 1; j->name; j++)
			if (strcmp(k->name, j->name) == 0)
				UNIT_FAIL("key %s listed twice", k->name);
	}
	CHECK(count > 0);
	CHECK_INT(api_key, 1);
	CHECK(secrets >= 1);
}

static void test_defaults(void)
{
	struct mas_config config;

	mas_config_init(&config);
	for (const struct mas_config_key *k = mas_config_keys(); k->name;
	     k++) {
		const char *value = mas_config_get(&config, k->name);
		if (k->fallback)
			CHECK_STR(value, k->fallback);
		else
			CHECK(value == NULL);
		CHECK_INT(mas_config_source_of(&config, k->name),
		          MAS_CONFIG_DEFAULT);
	}
	CHECK(config.file == NULL);
	mas_config_release(&config);
}

static void test_release_twice(void)
{
	struct mas_config config;

	mas_config_init(&config);
	mas_config_release(&config);
	mas_config_release(&config);
}

/* log.level has all four sources: default, file, MAS_LOG_LEVEL, flag. */
static void test_precedence_all_sources(void)
{
	struct mas_config config;
	const char *path = write_file("config", "[log]\nlevel = info\n",
	                              0600);
	char *error = NULL;

	mas_config_init(&config);
	CHECK_STR(mas_config_get(&config, "log.level"), "warn");
	CHECK_INT(mas_config_source_of(&config, "log.level"),
	          MAS_CONFIG_DEFAULT);

	CHECK_INT(mas_config_load_file(&config, path, &error), 0);
	CHECK(error == NULL);
	CHECK_STR(mas_config_get(&config, "log.level"), "info");
	CHECK_INT(mas_config_source_of(&config, "log.level"),
	          MAS_CONFIG_FILE);

	setenv("MAS_LOG_LEVEL", "error", 1);
	mas_config_load_env(&config);
	CHECK_STR(mas_config_get(&config, "log.level"), "error");
	CHECK_INT(mas_config_source_of(&config, "log.level"),
	          MAS_CONFIG_ENV);

	mas_config_set(&config, "log.level", "debug", MAS_CONFIG_FLAG);
	CHECK_STR(mas_config_get(&config, "log.level"), "debug");
	CHECK_INT(mas_config_source_of(&config, "log.level"),
	          MAS_CONFIG_FLAG);
	free(error);
	mas_config_release(&config);
}

/* The order sources are loaded in does not matter, only their rank. */
static void test_precedence_independent_of_order(void)
{
	struct mas_config config;
	const char *path = write_file("config", "log.level = info\n"
	                              "log.format = json\n", 0600);
	char *error = NULL;

	mas_config_init(&config);
	mas_config_set(&config, "log.level", "debug", MAS_CONFIG_FLAG);
	setenv("MAS_LOG_LEVEL", "error", 1);
	setenv("MAS_LOG_FORMAT", "text", 1);
	mas_config_load_env(&config);
	CHECK_INT(mas_config_load_file(&config, path, &error), 0);
	free(error);
	CHECK_STR(mas_config_get(&config, "log.level"), "debug");
	CHECK_INT(mas_config_source_of(&config, "log.level"),
	          MAS_CONFIG_FLAG);
	CHECK_STR(mas_config_get(&config, "log.format"), "text");
	CHECK_INT(mas_config_source_of(&config, "log.format"),
	          MAS_CONFIG_ENV);
	free(error);
	mas_config_release(&config);
}

static void test_file_beats_default_only(void)
{
	struct mas_config config;
	const char *path = write_file("config", "[analyze]\n"
	                              "data_dir = /srv/data\n", 0600);
	char *error = NULL;

	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, path, &error), 0);
	CHECK_STR(mas_config_get(&config, "analyze.data_dir"), "/srv/data");
	CHECK_INT(mas_config_source_of(&config, "analyze.data_dir"),
	          MAS_CONFIG_FILE);
	/* Keys the file does not name keep their defaults. */
	CHECK_STR(mas_config_get(&config, "log.level"), "warn");
	CHECK_INT(mas_config_source_of(&config, "log.level"),
	          MAS_CONFIG_DEFAULT);
	free(error);
	mas_config_release(&config);
}

static void test_env_without_default(void)
{
	struct mas_config config;

	setenv("MAS_MODEL", "qwen2.5:7b", 1);
	mas_config_init(&config);
	CHECK(mas_config_get(&config, "llm.model") == NULL);
	mas_config_load_env(&config);
	CHECK_STR(mas_config_get(&config, "llm.model"), "qwen2.5:7b");
	CHECK_INT(mas_config_source_of(&config, "llm.model"),
	          MAS_CONFIG_ENV);
	mas_config_release(&config);
}

static void test_empty_env_is_unset(void)
{
	struct mas_config config;

	setenv("MAS_LOG_LEVEL", "", 1);
	setenv("MAS_MODEL", "", 1);
	mas_config_init(&config);
	mas_config_load_env(&config);
	CHECK_STR(mas_config_get(&config, "log.level"), "warn");
	CHECK_INT(mas_config_source_of(&config, "log.level"),
	          MAS_CONFIG_DEFAULT);
	CHECK(mas_config_get(&config, "llm.model") == NULL);
	mas_config_release(&config);
}

static void test_every_env_variable(void)
{
	struct mas_config config;

	for (const struct mas_config_key *k = mas_config_keys(); k->name;
	     k++)
		if (k->env)
			setenv(k->env, k->name, 1);
	mas_config_init(&config);
	mas_config_load_env(&config);
	for (const struct mas_config_key *k = mas_config_keys(); k->name;
	     k++) {
		if (!k->env)
			continue;
		CHECK_STR(mas_config_get(&config, k->name), k->name);
		CHECK_INT(mas_config_source_of(&config, k->name),
		          MAS_CONFIG_ENV);
	}
	mas_config_release(&config);
}

static void test_flag_value_is_copied(void)
{
	struct mas_config config;
	char value[] = "json";

	mas_config_init(&config);
	mas_config_set(&config, "log.format", value, MAS_CONFIG_FLAG);
	value[0] = 'X';
	CHECK_STR(mas_config_get(&config, "log.format"), "json");
	/* Setting a source again replaces its value. */
	mas_config_set(&config, "log.format", "text", MAS_CONFIG_FLAG);
	CHECK_STR(mas_config_get(&config, "log.format"), "text");
	mas_config_release(&config);
}

static void test_file_syntax(void)
{
	struct mas_config config;
	const char *path = write_file("config",
		"# a comment\n"
		"; another comment\n"
		"\n"
		"   \t\n"
		"log.level=debug\n"
		"  [ llm ]  \n"
		"  model   =   llama3  \n"
		"base_url = http://localhost:11434/v1?a=b\n"
		"\t# indented comment\n"
		"[analyze]\n"
		"lang = \"zh\"\n"
		"data_dir = \"/path with spaces/ # not a comment\"\n",
		0600);
	char *error = NULL;

	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, path, &error), 0);
	CHECK(error == NULL);
	CHECK_STR(mas_config_get(&config, "log.level"), "debug");
	CHECK_STR(mas_config_get(&config, "llm.model"), "llama3");
	CHECK_STR(mas_config_get(&config, "llm.base_url"),
	          "http://localhost:11434/v1?a=b");
	CHECK_STR(mas_config_get(&config, "analyze.lang"), "zh");
	CHECK_STR(mas_config_get(&config, "analyze.data_dir"),
	          "/path with spaces/ # not a comment");
	CHECK_STR(config.file, path);
	free(error);
	mas_config_release(&config);
}

static void test_file_crlf_and_no_final_newline(void)
{
	struct mas_config config;
	const char *path = write_file("config", "[llm]\r\nmodel = a\r\n"
	                              "base_url = b", 0600);
	char *error = NULL;

	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, path, &error), 0);
	CHECK_STR(mas_config_get(&config, "llm.model"), "a");
	CHECK_STR(mas_config_get(&config, "llm.base_url"), "b");
	free(error);
	mas_config_release(&config);
}

static void test_quoted_empty_value(void)
{
	struct mas_config config;
	const char *path = write_file("config", "llm.model = \"\"\n", 0600);
	char *error = NULL;

	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, path, &error), 0);
	CHECK_STR(mas_config_get(&config, "llm.model"), "");
	free(error);
	mas_config_release(&config);
}

/* Loads TEXT, which must be refused naming the file and LINE. */
static void check_syntax_error(const char *text, int line)
{
	struct mas_config config;
	const char *path = write_file("bad", text, 0600);
	char *error = NULL, where[600];

	snprintf(where, sizeof(where), "%s:%d:", path, line);
	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, path, &error), -1);
	if (!contains(error, where))
		UNIT_FAIL("error \"%s\" does not name %s",
		          error ? error : "(null)", where);
	free(error);
	mas_config_release(&config);
}

static void test_syntax_errors(void)
{
	check_syntax_error("log.level = warn\njust words\n", 2);
	check_syntax_error("# comment\n\n[log\nlevel = warn\n", 3);
	check_syntax_error("[log] level = warn\n", 1);
	check_syntax_error("= value\n", 1);
	check_syntax_error("[llm]\nmodel = a\n\n\n   = b\n", 5);
}

static void test_unknown_key_warned(void)
{
	struct mas_config config;
	const char *path = write_file("config", "[log]\nlevel = info\n"
	                              "colour = always\n"
	                              "[future]\nthing = 1\n", 0600);
	char *error = NULL, warnings[2048], where[600];

	snprintf(where, sizeof(where), "%s:3:", path);
	mas_config_init(&config);
	CHECK_INT(load_quietly(&config, path, &error, warnings,
	                       sizeof(warnings)), 0);
	CHECK(error == NULL);
	CHECK(contains(warnings, "log.colour"));
	CHECK(contains(warnings, where));
	CHECK(contains(warnings, "future.thing"));
	/* The known key on the line before is still read. */
	CHECK_STR(mas_config_get(&config, "log.level"), "info");
	free(error);
	mas_config_release(&config);
}

static void test_secret_in_private_file(void)
{
	struct mas_config config;
	const char *path = write_file("config", "[llm]\napi_key = sk-test\n",
	                              0600);
	char *error = NULL;

	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, path, &error), 0);
	CHECK(error == NULL);
	CHECK_STR(mas_config_get(&config, "llm.api_key"), "sk-test");
	CHECK_INT(mas_config_source_of(&config, "llm.api_key"),
	          MAS_CONFIG_FILE);
	free(error);
	mas_config_release(&config);
}

static void check_secret_refused(mode_t mode)
{
	struct mas_config config;
	const char *path = write_file("config", "llm.api_key = sk-test\n",
	                              mode);
	char *error = NULL, hint[600];

	snprintf(hint, sizeof(hint), "chmod 600 %s", path);
	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, path, &error), -1);
	if (!contains(error, hint))
		UNIT_FAIL("mode %03o: error \"%s\" lacks \"%s\"",
		          (unsigned)mode, error ? error : "(null)", hint);
	CHECK(!contains(error, "sk-test"));
	free(error);
	mas_config_release(&config);
}

static void test_secret_in_readable_file_refused(void)
{
	check_secret_refused(0644);
	check_secret_refused(0640);
	check_secret_refused(0604);
	check_secret_refused(0444);
}

static void test_no_secret_in_readable_file(void)
{
	struct mas_config config;
	const char *path = write_file("config", "llm.model = llama3\n", 0644);
	char *error = NULL;

	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, path, &error), 0);
	CHECK(error == NULL);
	CHECK_STR(mas_config_get(&config, "llm.model"), "llama3");
	free(error);
	mas_config_release(&config);
}

static void test_explicit_missing_file(void)
{
	struct mas_config config;
	char path[300], *error = NULL;

	snprintf(path, sizeof(path), "%s/no-such-config", tmp);
	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, path, &error), -1);
	CHECK(contains(error, path));
	CHECK(config.file == NULL);
	free(error);
	mas_config_release(&config);
}

static void test_explicit_folder_is_an_error(void)
{
	struct mas_config config;
	char *error = NULL;

	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, tmp, &error), -1);
	CHECK(contains(error, tmp));
	free(error);
	mas_config_release(&config);
}

static void test_default_missing_file_is_fine(void)
{
	struct mas_config config;
	char *error = NULL;

	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, NULL, &error), 0);
	CHECK(error == NULL);
	CHECK(config.file == NULL);
	CHECK_STR(mas_config_get(&config, "log.level"), "warn");
	free(error);
	mas_config_release(&config);
}

static void test_default_file_under_xdg(void)
{
	struct mas_config config;
	char dir[300], want[320], *error = NULL;

	snprintf(dir, sizeof(dir), "%s/xdg", tmp);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/xdg/mas", tmp);
	mkdir(dir, 0700);
	write_file("xdg/mas/config", "llm.model = from-xdg\n", 0600);
	snprintf(want, sizeof(want), "%s/config", dir);
	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, NULL, &error), 0);
	CHECK_STR(mas_config_get(&config, "llm.model"), "from-xdg");
	CHECK_STR(config.file, want);
	free(error);
	mas_config_release(&config);
}

static void test_default_file_under_home(void)
{
	struct mas_config config;
	char dir[300], *error = NULL;

	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", tmp, 1);
	snprintf(dir, sizeof(dir), "%s/.config", tmp);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/.config/mas", tmp);
	mkdir(dir, 0700);
	write_file(".config/mas/config", "llm.model = from-home\n", 0600);
	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, NULL, &error), 0);
	CHECK_STR(mas_config_get(&config, "llm.model"), "from-home");
	free(error);
	mas_config_release(&config);
}

static void test_unreadable_file(void)
{
	struct mas_config config;
	const char *path;
	char *error = NULL;

	if (geteuid() == 0)
		return; /* root reads anything */
	path = write_file("config", "llm.model = x\n", 0000);
	mas_config_init(&config);
	CHECK_INT(mas_config_load_file(&config, path, &error), -1);
	CHECK(contains(error, path));
	free(error);
	mas_config_release(&config);
}

#define RUN(fn)                                                               \
	do {                                                                  \
		setup();                                                      \
		UNIT_RUN(fn);                                                 \
		teardown();                                                   \
	} while (0)

int main(void)
{
	const char *home = getenv("HOME");

	snprintf(saved_home, sizeof(saved_home), "%s", home ? home : "/");
	RUN(test_keys_table);
	RUN(test_defaults);
	RUN(test_release_twice);
	RUN(test_precedence_all_sources);
	RUN(test_precedence_independent_of_order);
	RUN(test_file_beats_default_only);
	RUN(test_env_without_default);
	RUN(test_empty_env_is_unset);
	RUN(test_every_env_variable);
	RUN(test_flag_value_is_copied);
	RUN(test_file_syntax);
	RUN(test_file_crlf_and_no_final_newline);
	RUN(test_quoted_empty_value);
	RUN(test_syntax_errors);
	RUN(test_unknown_key_warned);
	RUN(test_secret_in_private_file);
	RUN(test_secret_in_readable_file_refused);
	RUN(test_no_secret_in_readable_file);
	RUN(test_explicit_missing_file);
	RUN(test_explicit_folder_is_an_error);
	RUN(test_default_missing_file_is_fine);
	RUN(test_default_file_under_xdg);
	RUN(test_default_file_under_home);
	RUN(test_unreadable_file);
	return unit_done();
}
