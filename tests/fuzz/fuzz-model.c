/*
 * fuzz-model.c — a trained model as bytes (lib/classify.c,
 * mas_classify_attach), as mas-chat maps it from its cache: any bytes
 * are a model or not; a model answers every text with one of its
 * classes, its probabilities summing to 1 or NaN (damaged weights),
 * without reading outside the bytes or looping for ever.
 */
#include <math.h>
#include <string.h>

#include "classify.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const probes[] = {
		"how much is the pro plan", "我要退款", "hi", "",
	};
	void *block = aligned_alloc(64, size ? (size + 63) / 64 * 64 : 64);
	struct mas_classifier *model;
	size_t classes, extra_size;
	double *p;

	FUZZ_ASSERT(block);
	memcpy(block, data, size);
	model = mas_classify_attach(block, size, 0);
	if (!model)
		return 0;
	classes = mas_classify_classes(model);
	FUZZ_ASSERT(classes > 0);
	FUZZ_ASSERT(mas_classify_extra(model, &extra_size) != NULL);
	FUZZ_ASSERT(extra_size <= size);
	p = malloc(classes * sizeof(*p));
	FUZZ_ASSERT(p);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		double sum = 0;
		FUZZ_ASSERT(mas_classify_predict(model, probes[i], p) <
		            classes);
		for (size_t k = 0; k < classes; k++)
			sum += p[k];
		FUZZ_ASSERT(isnan(sum) || fabs(sum - 1) < 1e-6);
	}
	free(p);
	mas_classify_free(model);
	return 0;
}
