/*
 * fuzz-kb.c — mas-chat's knowledge base (lib/kb.c, mas-chat(5)): any
 * file loads, or fails with one message "FILE:LINE: ..." and leaves the
 * knowledge base empty; one that loads has every reference resolved.
 */
#include <string.h>

#include "fuzz.h"
#include "kb.h"

static void check_kb(const struct mas_kb *kb)
{
	for (size_t i = 0; i < kb->intent_count; i++) {
		FUZZ_ASSERT(kb->intents[i].name);
		FUZZ_ASSERT(mas_kb_intent_index(kb, kb->intents[i].name) ==
		            (long)i);
		for (size_t s = 0; s < kb->intents[i].slot_count; s++)
			FUZZ_ASSERT(mas_kb_slot(kb, kb->intents[i].slots[s]));
		mas_kb_pick(&kb->intents[i].responses, "zh", i);
		mas_kb_pick(&kb->intents[i].label, "en", 0);
	}
	for (size_t i = 0; i < kb->faq_count; i++)
		FUZZ_ASSERT(kb->faqs[i].intent < kb->intent_count);
	for (size_t i = 0; i < kb->escalation_count; i++)
		for (size_t j = 0; j < kb->escalations[i].intent_count; j++)
			FUZZ_ASSERT(kb->escalations[i].intents[j] <
			            kb->intent_count);
	for (size_t i = 0; i < kb->message_count; i++)
		FUZZ_ASSERT(mas_kb_message(kb, kb->messages[i].name));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file("kb.jsonl", data, size);
	struct mas_kb kb;
	char *error = NULL;

	if (mas_kb_load(&kb, path, &error) != 0) {
		FUZZ_ASSERT(error);
		FUZZ_ASSERT(strncmp(error, path, strlen(path)) == 0);
		FUZZ_ASSERT(kb.intent_count == 0 && kb.faq_count == 0);
		free(error);
		mas_kb_release(&kb);
		return 0;
	}
	FUZZ_ASSERT(!error);
	check_kb(&kb);
	mas_kb_release(&kb);
	return 0;
}
