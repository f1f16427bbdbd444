/*
 * fuzz-config.c — the configuration file (lib/config.c, mas(7)): any
 * file loads or fails with one message naming it; what loads is read
 * back key by key and handed to the model client's option reader, which
 * takes the numbers or names the key whose value is bad.
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "llm.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file("config", data, size);
	const struct mas_config_key *keys = mas_config_keys();
	struct mas_config config;
	struct mas_llm_options options;
	char *error = NULL;

	mas_config_init(&config);
	if (mas_config_load_file(&config, path, &error) != 0) {
		FUZZ_ASSERT(error && strncmp(error, path, strlen(path)) == 0);
		free(error);
		mas_config_release(&config);
		return 0;
	}
	FUZZ_ASSERT(!error);
	for (size_t i = 0; keys[i].name; i++) {
		const char *value = mas_config_get(&config, keys[i].name);

		/* what the file set is there, a string within the file */
		if (mas_config_source_of(&config, keys[i].name) ==
		    MAS_CONFIG_FILE)
			FUZZ_ASSERT(value && strlen(value) < size);
	}
	if (mas_llm_options_from_config(&options, &config, &error) != 0) {
		FUZZ_ASSERT(error && strstr(error, "llm."));
		free(error);
	}
	mas_config_release(&config);
	return 0;
}
