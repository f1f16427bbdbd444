/*
 * research-analyze.c — libmas's example (libmas(3)): research a question
 * in a corpus, then hand the findings to the analysis agent, as the
 * original system's SDK example did with its two agents.
 *
 *	research-analyze CORPUS QUESTION
 *
 * The embedded analysis agent computes over numbers, so what it is
 * handed of the findings is their evidence: one row per source, its
 * rank and retrieval score.  Prints the answer, its sources and how
 * strong the evidence is; exits as a mas program does (0, 1 when an
 * agent answered with an error, 2 for a bad setting, 75 to retry).
 */
#include <stdio.h>
#include <stdlib.h>

#include <mas/mas.h>

static int give_up(const char *what, char *error, int status)
{
	fprintf(stderr, "research-analyze: %s: %s\n", what,
	        error ? error : "failed");
	free(error);
	return status;
}

/* The sources' ranks and scores, as rows for the analysis agent. */
static jv evidence_rows(jv research)
{
	jv sources = jv_object_get(research, jv_string("sources"));
	jv rows = jv_array();

	if (jv_get_kind(sources) != JV_KIND_ARRAY) {
		jv_free(sources);
		return rows;
	}
	jv_array_foreach(sources, i, source) {
		rows = jv_array_append(rows, JV_OBJECT(
			jv_string("rank"),
			jv_object_get(jv_copy(source), jv_string("rank")),
			jv_string("score"),
			jv_object_get(source, jv_string("score"))));
	}
	jv_free(sources);
	return rows;
}

static void print_research(jv research)
{
	jv summary = jv_object_get(jv_copy(research), jv_string("summary"));
	jv sources = jv_object_get(research, jv_string("sources"));

	printf("answer: %s\n", jv_get_kind(summary) == JV_KIND_STRING
	       ? jv_string_value(summary) : "(none)");
	if (jv_get_kind(sources) == JV_KIND_ARRAY) {
		jv_array_foreach(sources, i, source) {
			jv title = jv_object_get(source, jv_string("title"));
			printf("source %d: %s\n", i + 1,
			       jv_get_kind(title) == JV_KIND_STRING
			       ? jv_string_value(title) : "(untitled)");
			jv_free(title);
		}
	}
	jv_free(summary);
	jv_free(sources);
}

static void print_evidence(jv analysis)
{
	jv score = jv_getpath(analysis, JV_ARRAY(jv_string("summary"),
	                                         jv_string("score")));
	jv n = jv_object_get(jv_copy(score), jv_string("n"));
	jv best = jv_object_get(jv_copy(score), jv_string("max"));
	jv median = jv_object_get(score, jv_string("median"));

	if (jv_get_kind(n) == JV_KIND_NUMBER &&
	    jv_get_kind(best) == JV_KIND_NUMBER &&
	    jv_get_kind(median) == JV_KIND_NUMBER)
		printf("evidence: %g sources, best score %.2f, median %.2f\n",
		       jv_number_value(n), jv_number_value(best),
		       jv_number_value(median));
	jv_free(n);
	jv_free(best);
	jv_free(median);
}

/* Print the error RECORD (consumed) carries; returns its status. */
static int record_failed(const char *agent, jv record)
{
	int status = mas_record_status(record);
	jv message = jv_getpath(record, JV_ARRAY(jv_string("error"),
	                                         jv_string("message")));

	fprintf(stderr, "research-analyze: %s: %s\n", agent,
	        jv_get_kind(message) == JV_KIND_STRING
	        ? jv_string_value(message) : "failed");
	jv_free(message);
	return status;
}

/* Research QUESTION, then analyse the evidence found; prints as it
 * goes and returns the exit status. */
static int research_then_analyze(mas_agent *research, mas_agent *analysis,
                                 const char *question)
{
	jv record, research_result;
	int status;

	printf("question: %s\n", question);
	record = mas_agent_run(research, JV_OBJECT(jv_string("query"),
	                                           jv_string(question)));
	if (mas_record_status(record) != MAS_EXIT_OK)
		return record_failed("research", record);
	research_result = jv_object_get(jv_copy(record),
	                                jv_string("research"));
	print_research(jv_copy(research_result));
	/* the same record goes on, its findings as the data */
	record = jv_object_set(record, jv_string("analysis_type"),
	                       jv_string("describe"));
	record = jv_object_set(record, jv_string("data"),
	                       evidence_rows(research_result));
	record = mas_agent_run(analysis, record);
	status = mas_record_status(record);
	if (status != MAS_EXIT_OK)
		return record_failed("analyze", record);
	print_evidence(jv_object_get(record, jv_string("analysis")));
	return status;
}

int main(int argc, char **argv)
{
	mas_settings *settings;
	mas_agent *research = NULL, *analysis = NULL;
	char *error = NULL;
	int status = MAS_EXIT_USAGE;

	if (argc != 3) {
		fprintf(stderr, "usage: research-analyze CORPUS QUESTION\n");
		return MAS_EXIT_USAGE;
	}
	settings = mas_settings_new(NULL, &error);
	if (!settings)
		return give_up("settings", error, MAS_EXIT_USAGE);
	mas_settings_set(settings, "research.corpus", argv[1], NULL);
	research = mas_agent_open(settings, "research", &error);
	if (!research)
		status = give_up("research", error, MAS_EXIT_USAGE);
	else
		analysis = mas_agent_open(settings, "analyze", &error);
	if (research && !analysis)
		status = give_up("analyze", error, MAS_EXIT_USAGE);
	/* the agents keep what they need of the settings */
	mas_settings_free(settings);
	if (research && analysis)
		status = research_then_analyze(research, analysis, argv[2]);
	mas_agent_close(research);
	mas_agent_close(analysis);
	return status;
}
