/*
 * linear-lazy.c — LIBLINEAR loaded with dlopen(3) (see linear-lazy.h).
 */
#include "linear-lazy.h"
#include "lazy.h"
#include "banned.h"

struct mas_linear_api mas_linear_api;

static struct mas_lazy_library liblinear =
	MAS_LAZY_LIBRARY(MAS_LINEAR_SONAME);

#define SYMBOL(field) { #field, (void **)&mas_linear_api.field }

int mas_linear_load(char **error)
{
	static const struct mas_lazy_symbol symbols[] = {
		SYMBOL(train),
		SYMBOL(free_and_destroy_model),
		SYMBOL(set_print_string_function),
	};

	return mas_lazy_load(&liblinear, symbols,
	                     sizeof(symbols) / sizeof(symbols[0]), error);
}
