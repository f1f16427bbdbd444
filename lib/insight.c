/*
 * insight.c — the analysis agent's sentences, in English or Chinese,
 * built only from numbers the plans computed (see analyze-beliefs.h).
 * Each sentence says one thing a reader would act on; none invents a
 * figure.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analyze-beliefs.h"
#include "banned.h"

/* Words per language: [0] English, [1] Chinese. */
struct phrasebook {
	const char *trend_up, *trend_down, *stable;
	const char *forecast, *season, *anomalies, *no_anomalies;
	const char *together, *opposite, *missing, *short_data;
};

static const struct phrasebook books[2] = {
	{
		"%s is increasing by %.2f%% per %s (p %s).",
		"%s is decreasing by %.2f%% per %s (p %s).",
		"%s shows no significant trend (p = %.2f).",
		"%s is forecast to change by %s over %s (confidence %.0f%%, %s).",
		"%s repeats every %zu %ss.",
		"%s has %zu anomalies; the largest, on %s, is %s against %s expected.",
		"%s has no anomalies.",
		"%s and %s move together (Pearson r = %.2f).",
		"%s and %s move in opposite directions (Pearson r = %.2f).",
		"%s has %zu missing value%s (interpolated for the models).",
		"%s: %s.",
	},
	{
		"%s呈上升趋势，每%s增长 %.2f%%（p %s）。",
		"%s呈下降趋势，每%s下降 %.2f%%（p %s）。",
		"%s没有显著趋势（p = %.2f）。",
		"预计%s在%s内变化 %s（置信度 %.0f%%，%s）。",
		"%s以 %zu %s为周期重复。",
		"%s有 %zu 个异常值；最大的在 %s，为 %s，预期为 %s。",
		"%s没有异常值。",
		"%s与%s同向变化（Pearson r = %.2f）。",
		"%s与%s反向变化（Pearson r = %.2f）。",
		"%s有 %zu 个缺失值%s，建模时已插值。",
		"%s：%s。",
	},
};

static const char *unit_zh(const char *unit)
{
	static const char *const pairs[][2] = {
		{ "minute", "分钟" }, { "hour", "小时" }, { "day", "天" },
		{ "week", "周" }, { "month", "月" }, { "quarter", "季度" },
		{ "year", "年" }, { "period", "期" },
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		if (strcmp(unit, pairs[i][0]) == 0)
			return pairs[i][1];
	return unit;
}

static int chinese(const struct analyze_beliefs *beliefs)
{
	return strcmp(beliefs->lang, "zh") == 0;
}

static const char *unit_word(const struct analyze_beliefs *beliefs)
{
	const char *unit = beliefs->timing.unit;

	return chinese(beliefs) ? unit_zh(unit) : unit;
}

static jv add(jv sentences, const char *text)
{
	return jv_array_append(sentences, jv_string(text));
}

static void format_p(double p, char *buf, size_t size)
{
	if (p < 0.001)
		snprintf(buf, size, "< 0.001");
	else
		snprintf(buf, size, "= %.3f", p);
}

static void format_value(double x, char *buf, size_t size)
{
	snprintf(buf, size, "%.4g", x);
}

static jv trend_sentence(const struct analyze_beliefs *beliefs,
                         const struct analyze_metric *metric, jv out)
{
	const struct phrasebook *words = &books[chinese(beliefs)];
	char text[512], p[32];

	format_p(metric->trend.p_value, p, sizeof(p));
	if (strcmp(metric->direction, "stable") == 0)
		snprintf(text, sizeof(text), words->stable, metric->name,
		         metric->trend.p_value);
	else if (chinese(beliefs))
		snprintf(text, sizeof(text),
		         metric->trend.slope > 0 ? words->trend_up
		                                 : words->trend_down,
		         metric->name, unit_word(beliefs), fabs(metric->rate), p);
	else
		snprintf(text, sizeof(text),
		         metric->trend.slope > 0 ? words->trend_up
		                                 : words->trend_down,
		         metric->name, fabs(metric->rate), unit_word(beliefs), p);
	return add(out, text);
}

static jv forecast_sentence(const struct analyze_beliefs *beliefs,
                            const struct analyze_metric *metric, jv out)
{
	const struct phrasebook *words = &books[chinese(beliefs)];
	char text[512], change[32], span[64];

	if (!isfinite(metric->change_pct))
		return out;
	snprintf(change, sizeof(change), "%+.1f%%", metric->change_pct);
	if (chinese(beliefs))
		snprintf(span, sizeof(span), "未来 %zu %s", metric->horizon,
		         unit_word(beliefs));
	else
		snprintf(span, sizeof(span), "the next %zu %s%s",
		         metric->horizon, unit_word(beliefs),
		         metric->horizon == 1 ? "" : "s");
	if (chinese(beliefs))
		snprintf(text, sizeof(text), words->forecast, metric->name,
		         span, change, 100 * metric->confidence,
		         mas_forecast_name(&metric->forecast));
	else
		snprintf(text, sizeof(text), words->forecast, metric->name,
		         change, span, 100 * metric->confidence,
		         mas_forecast_name(&metric->forecast));
	return add(out, text);
}

static jv season_sentence(const struct analyze_beliefs *beliefs,
                          const struct analyze_metric *metric, jv out)
{
	char text[256];

	if (metric->period < 2 || !metric->has_fit ||
	    !mas_forecast_seasonal(&metric->forecast))
		return out;
	if (chinese(beliefs))
		snprintf(text, sizeof(text), books[1].season, metric->name,
		         metric->period, unit_word(beliefs));
	else
		snprintf(text, sizeof(text), books[0].season, metric->name,
		         metric->period, unit_word(beliefs));
	return add(out, text);
}

static jv anomaly_sentence(const struct analyze_beliefs *beliefs,
                           const struct analyze_metric *metric, jv out)
{
	const struct phrasebook *words = &books[chinese(beliefs)];
	const struct mas_stats_anomalies *found = &metric->anomalies;
	char text[512], when[64], value[32], expected[32];
	size_t worst = 0;

	if (found->count == 0) {
		snprintf(text, sizeof(text), words->no_anomalies, metric->name);
		return add(out, text);
	}
	for (size_t k = 1; k < found->count; k++)
		if (fabs(found->score[k]) > fabs(found->score[worst]))
			worst = k;
	mas_analyze_time_label(beliefs, (double)found->index[worst], when,
	                       sizeof(when));
	format_value(metric->y[found->index[worst]], value, sizeof(value));
	format_value(metric->expected ? metric->expected[found->index[worst]]
	                              : NAN,
	             expected, sizeof(expected));
	snprintf(text, sizeof(text), words->anomalies, metric->name,
	         found->count, when, value, expected);
	return add(out, text);
}

static jv correlation_sentences(const struct analyze_beliefs *beliefs,
                                jv out)
{
	const struct phrasebook *words = &books[chinese(beliefs)];
	int count = jv_array_length(jv_copy(beliefs->correlations));

	for (int i = 0; i < count; i++) {
		jv pair = jv_array_get(jv_copy(beliefs->correlations), i);
		jv names = jv_object_get(jv_copy(pair), jv_string("metrics"));
		jv r = jv_object_get(jv_copy(pair), jv_string("pearson"));
		jv p = jv_object_get(pair, jv_string("pearson_p"));
		jv a = jv_array_get(jv_copy(names), 0);
		jv b = jv_array_get(names, 1);

		/* Only what a reader should act on: strong and significant. */
		if (jv_get_kind(r) == JV_KIND_NUMBER &&
		    jv_get_kind(p) == JV_KIND_NUMBER &&
		    fabs(jv_number_value(r)) >= 0.7 &&
		    jv_number_value(p) < 0.05) {
			char text[512];
			snprintf(text, sizeof(text),
			         jv_number_value(r) > 0 ? words->together
			                                : words->opposite,
			         jv_string_value(a), jv_string_value(b),
			         jv_number_value(r));
			out = add(out, text);
		}
		jv_free(a);
		jv_free(b);
		jv_free(r);
		jv_free(p);
	}
	return out;
}

static jv data_sentences(const struct analyze_beliefs *beliefs,
                         const struct analyze_metric *metric, jv out)
{
	const struct phrasebook *words = &books[chinese(beliefs)];
	char text[512];

	if (metric->has_summary && metric->summary.missing > 0) {
		size_t missing = metric->summary.missing;
		snprintf(text, sizeof(text), words->missing, metric->name,
		         missing, missing == 1 || chinese(beliefs) ? "" : "s");
		out = add(out, text);
	}
	/* foreach borrows: its object is evaluated more than once. */
	jv_object_foreach(metric->omitted, part, reason) {
		snprintf(text, sizeof(text), words->short_data, metric->name,
		         jv_string_value(reason));
		out = add(out, text);
		jv_free(part);
		jv_free(reason);
	}
	return out;
}

jv mas_insight_sentences(const struct analyze_beliefs *beliefs)
{
	jv out = jv_array();

	for (size_t i = 0; i < beliefs->metric_count; i++) {
		const struct analyze_metric *metric = &beliefs->metrics[i];
		if (metric->has_trend)
			out = trend_sentence(beliefs, metric, out);
		out = season_sentence(beliefs, metric, out);
		if (metric->horizon)
			out = forecast_sentence(beliefs, metric, out);
		if (metric->has_anomalies)
			out = anomaly_sentence(beliefs, metric, out);
		out = data_sentences(beliefs, metric, out);
	}
	return correlation_sentences(beliefs, out);
}
