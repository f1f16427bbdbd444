/*
 * narrate.c — model-written sentences over computed figures (narrate.h).
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "narrate.h"
#include "banned.h"

static const char *const instructions_en =
	"You write the insights of %s for a business reader, in English. "
	"The figures are given as JSON. Use only numbers that appear in it, "
	"written as they appear or rounded; never compute, estimate or "
	"invent a number, and never extrapolate beyond the forecasts given. "
	"Write 3 to 8 short sentences, the most important first. Reply "
	"with JSON: {\"insights\": [\"sentence\", ...]}.";

static const char *const instructions_zh =
	"你为业务读者撰写%s的结论，使用简体中文。数据以 JSON 给出。只能使用"
	"其中出现的数字（原样或四舍五入），不得计算、估计或编造任何数字，也不得"
	"超出给定的预测进行外推。写 3 到 8 个简短的句子，最重要的放在最前面。"
	"以 JSON 回复：{\"insights\": [\"句子\", ...]}。";

static jv insights_schema(void)
{
	jv items = JV_OBJECT(jv_string("type"), jv_string("string"));
	jv array = JV_OBJECT(jv_string("type"), jv_string("array"),
	                     jv_string("items"), items);

	return JV_OBJECT(jv_string("type"), jv_string("object"),
	                 jv_string("properties"),
	                 JV_OBJECT(jv_string("insights"), array),
	                 jv_string("required"), JV_ARRAY(jv_string("insights")),
	                 jv_string("additionalProperties"), jv_false());
}

jv mas_narrate_request(jv facts, const char *lang, const char *subject)
{
	int chinese = strcmp(lang, "zh") == 0;
	jv system = jv_string_fmt(chinese ? instructions_zh : instructions_en,
	                          subject);
	jv messages = JV_ARRAY(
		JV_OBJECT(jv_string("role"), jv_string("system"),
		          jv_string("content"), system),
		JV_OBJECT(jv_string("role"), jv_string("user"),
		          jv_string("content"),
		          jv_dump_string(jv_copy(facts), 0)));

	return JV_OBJECT(jv_string("messages"), messages,
	                 jv_string("temperature"), jv_number(0.2),
	                 jv_string("max_tokens"), jv_number(800),
	                 jv_string("response_format"), insights_schema(),
	                 jv_string("required"),
	                 JV_ARRAY(jv_string("insights")));
}

/* ---- the figure check ---- */

struct figures {
	double *values;
	size_t count, capacity;
};

static void add_figure(struct figures *figures, double value)
{
	if (figures->count == figures->capacity) {
		size_t capacity = figures->capacity ? figures->capacity * 2 : 64;
		double *grown = realloc(figures->values,
		                        capacity * sizeof(double));
		if (!grown)
			return; /* a missing figure only makes the check stricter */
		figures->values = grown;
		figures->capacity = capacity;
	}
	figures->values[figures->count++] = fabs(value);
}

/* The numbers written in TEXT: digit runs with an optional fraction. */
static void scan_numbers(const char *text, void (*found)(void *, double,
                                                        int, const char *,
                                                        size_t),
                         void *user)
{
	const char *p = text;

	while (*p) {
		const char *start = p;
		char number[64];
		size_t length = 0;
		int decimals = 0;

		if (!isdigit((unsigned char)*p)) {
			p++;
			continue;
		}
		while (isdigit((unsigned char)*p) || *p == ',')
			p++;
		if (*p == '.' && isdigit((unsigned char)p[1])) {
			p++;
			while (isdigit((unsigned char)*p)) {
				p++;
				decimals++;
			}
		}
		/* "1,234.5" is 1234.5: thousands separators dropped. */
		for (const char *q = start; q < p && length < sizeof(number) - 1;
		     q++)
			if (*q != ',')
				number[length++] = *q;
		number[length] = '\0';
		found(user, strtod(number, NULL), decimals, start,
		      (size_t)(p - start));
	}
}

static void collect(void *user, double value, int decimals,
                    const char *text, size_t length)
{
	add_figure(user, value);
}

static void gather(struct figures *figures, jv value)
{
	switch (jv_get_kind(value)) {
	case JV_KIND_NUMBER:
		add_figure(figures, jv_number_value(value));
		add_figure(figures, 100 * jv_number_value(value));
		break;
	case JV_KIND_STRING:
		scan_numbers(jv_string_value(value), collect, figures);
		break;
	case JV_KIND_ARRAY:
		jv_array_foreach(value, i, item)
			gather(figures, item);
		break;
	case JV_KIND_OBJECT:
		jv_object_foreach(value, key, item) {
			gather(figures, item);
			jv_free(key);
		}
		break;
	default:
		break;
	}
	jv_free(value);
}

/* Whether WRITTEN (with DECIMALS decimals) is some figure, rounded. */
static int accounted(const struct figures *figures, double written,
                     int decimals)
{
	double half = 0.5 * pow(10, -decimals) * (1 + 1e-9);

	if (decimals == 0 && written <= 12)
		return 1;
	for (size_t i = 0; i < figures->count; i++)
		if (fabs(figures->values[i] - written) <= half)
			return 1;
	return 0;
}

struct check {
	const struct figures *figures;
	jv invented;
};

static void check_one(void *user, double value, int decimals,
                      const char *text, size_t length)
{
	struct check *check = user;

	if (!accounted(check->figures, value, decimals))
		check->invented = jv_array_append(
			check->invented, jv_string_sized(text, (int)length));
}

jv mas_narrate_invented(jv sentences, jv facts)
{
	struct figures figures = { 0 };
	struct check check = { &figures, jv_array() };

	gather(&figures, jv_copy(facts));
	jv_array_foreach(sentences, i, sentence) {
		if (jv_get_kind(sentence) == JV_KIND_STRING)
			scan_numbers(jv_string_value(sentence), check_one,
			             &check);
		jv_free(sentence);
	}
	free(figures.values);
	return check.invented;
}
