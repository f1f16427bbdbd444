/*
 * config.h — configuration: flags > environment > file > defaults.
 *
 * Every setting mas knows is one row of a table in config.c: its name in
 * the file ("llm.model"), the environment variable that sets it
 * (MAS_MODEL), its default, and whether it is a secret.  Programs set
 * flags with mas_config_set(..., MAS_CONFIG_FLAG) and read with
 * mas_config_get(), which answers from the strongest source that has it.
 *
 * The file ($XDG_CONFIG_HOME/mas/config, else ~/.config/mas/config, or
 * --config FILE) holds lines "key = value"; "[section]" prefixes the keys
 * that follow with "section."; "#" and ";" start comments; a value may be
 * double-quoted.  A file that sets a secret (llm.api_key) must not be
 * readable by group or others.  The full list is in mas(7).
 */
#ifndef MAS_CONFIG_H
#define MAS_CONFIG_H

enum mas_config_source {
	MAS_CONFIG_DEFAULT,
	MAS_CONFIG_FILE,
	MAS_CONFIG_ENV,
	MAS_CONFIG_FLAG,
	MAS_CONFIG_SOURCES
};

struct mas_config_key {
	const char *name;     /* "llm.model" */
	const char *env;      /* "MAS_MODEL", or NULL */
	const char *fallback; /* built-in default, or NULL */
	int secret;           /* never logged; file must be private */
};

struct mas_config {
	/* values[key][source], malloc'd or NULL */
	char *(*values)[MAS_CONFIG_SOURCES];
	char *file;  /* the file read, if any */
};

void mas_config_init(struct mas_config *config);
void mas_config_release(struct mas_config *config);

/* Set NAME from SOURCE (the value is copied).  NAME must be a known key. */
void mas_config_set(struct mas_config *config, const char *name,
                    const char *value, enum mas_config_source source);

/*
 * Read the environment variables of every key.  Empty variables count as
 * unset, as most tools treat them.
 */
void mas_config_load_env(struct mas_config *config);

/*
 * Read a configuration file.  PATH NULL means the default location, where
 * a missing file is fine; a PATH given by the user must exist.  Returns 0,
 * or -1 with a one-line message in *ERROR (malloc'd) naming the file and
 * line: a syntax error, a missing or unreadable file, or a secret in a
 * file readable by group or others.  Unknown keys are warned about, not
 * refused, so an older mas can read a newer file.
 */
int mas_config_load_file(struct mas_config *config, const char *path,
                         char **error);

/* The value of NAME from its strongest source, or NULL (borrowed). */
const char *mas_config_get(const struct mas_config *config, const char *name);

/* Where NAME's value came from. */
enum mas_config_source mas_config_source_of(const struct mas_config *config,
                                            const char *name);

/*
 * For a program given nothing else: the installed example NAME
 * ("kb.jsonl", "corpus", "data") under examples.dir (MAS_EXAMPLES_DIR;
 * by default the share folder baked in at build time,
 * PREFIX/share/mas/examples), as a new string the caller frees, or NULL
 * when out of memory.  *FOUND says whether it exists, so a caller can
 * use it or name it in its error.
 */
char *mas_config_example(const struct mas_config *config, const char *name,
                         int *found);

/* The table of known keys, NULL-name terminated (for docs and tests). */
const struct mas_config_key *mas_config_keys(void);

#endif
