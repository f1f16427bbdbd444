/*
 * mas-research — the research agent: a question in, a summary, findings
 * and recommendations with cited sources out.  See mas-research(1).
 */
#include <argp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "cli.h"
#include "clock.h"
#include "corpus.h"
#include "engine.h"
#include "index.h"
#include "llm.h"
#include "log.h"
#include "mas.h"
#include "record.h"
#include "research.h"
#include "store.h"

enum {
	OPT_CORPUS = 'c',
	OPT_SOURCES = 0x200,
	OPT_DEPTH,
	OPT_RETRIEVE_ONLY,
	OPT_BM25_K1,
	OPT_BM25_B,
	OPT_TITLE_WEIGHT,
	OPT_FEEDBACK,
	OPT_INCLUDE,
	OPT_EXCLUDE,
	OPT_ID_FIELD,
	OPT_RANK,
	OPT_INDEX_MEMORY,
};

struct research_command {
	struct mas_cli cli;
	struct mas_engine engine;
	struct mas_research_options options;
	char **roots;
	size_t root_count;
	char *roots_text;        /* research.corpus split in place */
	int index_mode;
	int arguments;
};

static const struct argp_option options[] = {
	{ "corpus", OPT_CORPUS, "PATH", 0,
	  "Answer from the .txt, .md and .jsonl files of PATH, a file or a "
	  "folder (repeatable; default: research.corpus, MAS_CORPUS)", 0 },
	{ "include", OPT_INCLUDE, "GLOB", 0,
	  "In folders, take only the files GLOB matches (repeatable; "
	  "default: research.include, MAS_RESEARCH_INCLUDE, or .txt, .text, "
	  ".md, .markdown and .jsonl files)", 0 },
	{ "exclude", OPT_EXCLUDE, "GLOB", 0,
	  "In folders, skip the files and folders GLOB matches (repeatable; "
	  "default: research.exclude, MAS_RESEARCH_EXCLUDE)", 0 },
	{ "id-field", OPT_ID_FIELD, "NAME", 0,
	  "The field of a JSON line that is its document's id (default: "
	  "research.id_field, MAS_RESEARCH_ID_FIELD, or id, else _id)", 0 },
	{ "sources", OPT_SOURCES, "N", 0,
	  "Return N sources, 1 to 20, or to 1000 with --retrieve-only "
	  "(default: by depth, 3, 5 or 10)", 0 },
	{ "rank", OPT_RANK, "WHAT", 0,
	  "With --retrieve-only: rank passages (the default) or documents, "
	  "each by its best passage", 0 },
	{ "depth", OPT_DEPTH, "DEPTH", 0,
	  "brief, standard or comprehensive, for tasks that give no "
	  "context.depth (default: standard)", 0 },
	{ "retrieve-only", OPT_RETRIEVE_ONLY, NULL, 0,
	  "Only rank the sources: no summary, findings or recommendations",
	  0 },
	{ "feedback", OPT_FEEDBACK, NULL, 0,
	  "With --retrieve-only: widen a query whose evidence is thin by "
	  "pseudo-relevance feedback (the answer does it always)", 0 },
	{ "bm25-k1", OPT_BM25_K1, "K1", 0,
	  "BM25's k1, 0 to 100 (default: research.bm25_k1, "
	  "MAS_RESEARCH_BM25_K1, 1.2)", 0 },
	{ "bm25-b", OPT_BM25_B, "B", 0,
	  "BM25's b, 0 to 1 (default: research.bm25_b, MAS_RESEARCH_BM25_B, "
	  "0.75)", 0 },
	{ "title-weight", OPT_TITLE_WEIGHT, "W", 0,
	  "What a title word counts, in text words, 0 to 100 (default: "
	  "research.title_weight, MAS_RESEARCH_TITLE_WEIGHT, 1)", 0 },
	{ "index-memory", OPT_INDEX_MEMORY, "MIB", 0,
	  "With index: build in segments of about MIB MiB of memory, 0 to "
	  "65536 "
	  "(default: research.index_memory, MAS_RESEARCH_INDEX_MEMORY, 64)",
	  0 },
	{ 0 }
};

static void add_root(struct research_command *command, char *path)
{
	char **roots = realloc(command->roots,
	                       (command->root_count + 1) * sizeof(char *));

	if (!roots)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	roots[command->root_count++] = path;
	command->roots = roots;
}

/* A repeated option adds a glob to the setting KEY (':' between). */
static void add_pattern(struct mas_config *config, const char *key,
                        const char *glob)
{
	const char *was = mas_config_get(config, key);
	char *value;

	if (mas_config_source_of(config, key) != MAS_CONFIG_FLAG || !was) {
		mas_config_set(config, key, glob, MAS_CONFIG_FLAG);
		return;
	}
	if (asprintf(&value, "%s:%s", was, glob) < 0)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	mas_config_set(config, key, value, MAS_CONFIG_FLAG);
	free(value);
}

static error_t parse_option(int key, char *arg, struct argp_state *state)
{
	struct research_command *command = state->input;
	struct mas_research_options *o = &command->options;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &command->cli;
		state->child_inputs[1] = &command->engine;
		break;
	case OPT_CORPUS: add_root(command, arg); break;
	case OPT_SOURCES:
		o->sources = (size_t)mas_cli_parse_count(
			"--sources", arg, 1, MAS_RESEARCH_RANKED_MAX);
		break;
	case OPT_RANK:
		if (strcmp(arg, "documents") != 0 &&
		    strcmp(arg, "passages") != 0)
			mas_die(MAS_EXIT_USAGE, "--rank: '%s' is not passages "
			        "or documents", arg);
		o->rank_documents = strcmp(arg, "documents") == 0;
		break;
	case OPT_DEPTH:
		mas_config_set(&command->cli.config, "research.depth", arg,
		               MAS_CONFIG_FLAG);
		break;
	case OPT_RETRIEVE_ONLY: o->retrieve_only = 1; break;
	case OPT_FEEDBACK: o->feedback = 1; break;
	case OPT_INCLUDE:
		add_pattern(&command->cli.config, "research.include", arg);
		break;
	case OPT_EXCLUDE:
		add_pattern(&command->cli.config, "research.exclude", arg);
		break;
	case OPT_ID_FIELD:
		mas_config_set(&command->cli.config, "research.id_field", arg,
		               MAS_CONFIG_FLAG);
		break;
	case OPT_BM25_K1:
		mas_config_set(&command->cli.config, "research.bm25_k1", arg,
		               MAS_CONFIG_FLAG);
		break;
	case OPT_BM25_B:
		mas_config_set(&command->cli.config, "research.bm25_b", arg,
		               MAS_CONFIG_FLAG);
		break;
	case OPT_TITLE_WEIGHT:
		mas_config_set(&command->cli.config, "research.title_weight",
		               arg, MAS_CONFIG_FLAG);
		break;
	case OPT_INDEX_MEMORY:
		mas_config_set(&command->cli.config, "research.index_memory",
		               arg, MAS_CONFIG_FLAG);
		break;
	case ARGP_KEY_ARG:
		/* "index" first is the command; ./index is a file */
		if (command->arguments++ == 0 && strcmp(arg, "index") == 0)
			command->index_mode = 1;
		else
			mas_cli_add_file(&command->cli, arg);
		break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/*
 * With no corpus and no model configured, the installed example corpus
 * answers, and stderr says so once; when it is not installed, the run
 * goes on and each record says there is no corpus.
 */
static void example_corpus(struct research_command *command)
{
	int found;
	char *path;

	if (mas_llm_configured(&command->cli.config))
		return;
	path = mas_config_example(&command->cli.config, "corpus", &found);
	if (!path)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	if (!found) {
		free(path);
		return;
	}
	mas_warn("no corpus configured (--corpus, MAS_CORPUS, "
	         "research.corpus): answering from the example one, %s",
	         path);
	command->roots_text = path;
	add_root(command, path);
}

/* Without --corpus, research.corpus: paths separated by ':'. */
static void configured_roots(struct research_command *command)
{
	const char *setting = mas_config_get(&command->cli.config,
	                                     "research.corpus");
	char *save = NULL;

	if (command->root_count)
		return;
	if (!setting || !*setting) {
		example_corpus(command);
		return;
	}
	command->roots_text = strdup(setting);
	if (!command->roots_text)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	for (char *path = strtok_r(command->roots_text, ":", &save); path;
	     path = strtok_r(NULL, ":", &save))
		add_root(command, path);
}

static void open_store(struct research_command *command,
                       struct mas_store *store)
{
	char *error = NULL;

	if (mas_store_open_configured(store, &command->cli.config,
	                              &error) != 0)
		mas_die(MAS_EXIT_USAGE, "state store: %s",
		        error ? error : "cannot open");
}

static void scan(struct research_command *command, struct mas_corpus *corpus)
{
	struct mas_corpus_rules rules;
	char *error = NULL;

	mas_research_rules(&command->cli.config, &rules);
	if (mas_corpus_scan(corpus, command->roots, command->root_count,
	                    &rules, &error) != 0)
		mas_die(MAS_EXIT_USAGE, "%s", error);
}

/* `mas-research index`: build and store, unless the stored index is
 * fresh, reading only the files changed when it can; one JSON line
 * says what was done. */
static int index_corpus(struct research_command *command)
{
	struct mas_corpus corpus;
	struct mas_research_indexed done;
	struct mas_store store;
	double start = mas_clock_monotonic();
	char *signature, *error = NULL;
	jv report, roots = jv_array();
	size_t budget;

	if (command->root_count == 0)
		mas_die(MAS_EXIT_USAGE, "index: no corpus (give --corpus "
		        "PATH)");
	if (mas_research_index_memory(&command->cli.config, &budget,
	                              &error) != 0)
		mas_die(MAS_EXIT_USAGE, "%s", error);
	scan(command, &corpus);
	signature = mas_corpus_signature(&corpus);
	open_store(command, &store);
	if (mas_research_store_index(&store, &corpus, signature, budget,
	                             &done, &error) != 0)
		mas_die(MAS_EXIT_USAGE, "--corpus: %s", error);
	for (size_t i = 0; i < command->root_count; i++)
		roots = jv_array_append(roots, jv_string(command->roots[i]));
	report = JV_OBJECT(jv_string("corpus"), roots,
	                   jv_string("files"), jv_number(corpus.count),
	                   jv_string("skipped"),
	                   jv_number(done.stats.skipped),
	                   jv_string("documents"),
	                   jv_number(mas_index_documents(done.index)),
	                   jv_string("passages"),
	                   jv_number(mas_index_passages(done.index)),
	                   jv_string("terms"),
	                   jv_number(mas_index_terms(done.index)));
	report = jv_object_set(report, jv_string("duplicate_ids"),
	                       jv_number(done.stats.duplicate_ids));
	report = jv_object_set(report, jv_string("corpus_bytes"),
	                       jv_number((double)corpus.bytes));
	report = jv_object_set(report, jv_string("index_bytes"),
	                       jv_number((double)mas_index_bytes(done.index)));
	report = jv_object_set(report, jv_string("reused"),
	                       jv_bool(done.reused));
	report = jv_object_set(report, jv_string("incremental"),
	                       jv_bool(done.incremental));
	report = jv_object_set(report, jv_string("files_read"),
	                       jv_number(done.files_read));
	report = jv_object_set(report, jv_string("files_kept"),
	                       jv_number(done.files_kept));
	report = jv_object_set(report, jv_string("segments"),
	                       jv_number(done.segments));
	report = jv_object_set(report, jv_string("seconds"), jv_number(
		round((mas_clock_monotonic() - start) * 1000) / 1000));
	report = jv_dump_string(JV_OBJECT(jv_string("index"), report), 0);
	mas_output_init();
	printf("%s\n", jv_string_value(report));
	jv_free(report);
	mas_index_free(done.index);
	free(signature);
	mas_store_close(&store);
	mas_corpus_release(&corpus);
	return mas_output_close();
}

/* The index for a run: the stored one when it matches the files, else
 * one built now when the corpus is small. */
static struct mas_index *load_corpus(struct research_command *command)
{
	char *error = NULL;
	struct mas_index *index = mas_research_open_corpus(
		command->roots, command->root_count, &command->cli.config,
		&error);

	if (!index)
		mas_die(MAS_EXIT_USAGE, "%s", error);
	return index;
}

/* The engine comes first: mas_engine_wait finds it there. */
struct loop_context {
	struct mas_engine *engine;
	struct research_command *command;
	struct mas_researcher *researcher;
};

static void each_task(struct mas_run *run, jv record, void *data)
{
	struct loop_context *context = data;

	mas_agent_start(&context->command->cli, run, record,
	                mas_research_start, context->researcher);
}

static void check_depth(const char *depth)
{
	if (depth && !mas_research_depth_valid(depth))
		mas_die(MAS_EXIT_USAGE, "research.depth (--depth, "
		        "MAS_RESEARCH_DEPTH): '%s' is not brief, standard or "
		        "comprehensive", depth);
}

static void check_params(const struct mas_config *config)
{
	struct mas_index_params params;
	char *error = NULL;

	if (mas_research_params(config, &params, &error) != 0)
		mas_die(MAS_EXIT_USAGE, "%s", error);
}

/* What only a first stage (--retrieve-only) may ask for. */
static void check_first_stage(const struct mas_research_options *o,
                              size_t roots)
{
	if (o->retrieve_only && roots == 0)
		mas_die(MAS_EXIT_USAGE, "--retrieve-only: no corpus (give "
		        "--corpus PATH)");
	if (!o->retrieve_only && o->sources > MAS_RESEARCH_SOURCES_MAX)
		mas_die(MAS_EXIT_USAGE, "--sources: %zu is more than the %d "
		        "an answer cites (up to %d with --retrieve-only)",
		        o->sources, MAS_RESEARCH_SOURCES_MAX,
		        MAS_RESEARCH_RANKED_MAX);
	if (!o->retrieve_only && o->rank_documents)
		mas_die(MAS_EXIT_USAGE, "--rank documents: only with "
		        "--retrieve-only (an answer cites passages)");
}

int main(int argc, char **argv)
{
	static const char doc[] =
		"Answer research questions from a corpus of documents: a "
		"summary, key findings and recommendations with cited "
		"sources, one JSON record in, one out.  `mas-research index "
		"--corpus PATH` stores the corpus's index for later runs.\v"
		"Reads JSON Lines from the FILEs (or stdin) and writes JSON "
		"Lines to stdout.  See mas-research(1).";
	struct argp_child children[] = {
		{ &mas_cli_argp, 0, "Options every mas program takes:", 0 },
		{ &mas_engine_argp, 0, "Options for a model endpoint "
		  "(OPENAI_BASE_URL, OPENAI_API_KEY):", 0 },
		{ 0 }
	};
	struct argp argp = { options, parse_option, "[index] [FILE...]", doc,
		             children, NULL, NULL };
	struct research_command command = { 0 };
	struct loop_context context = { &command.engine, &command, NULL };
	struct mas_run_options run = { 0 };
	int status;

	mas_cli_init(&command.cli, "mas-research", "research");
	mas_engine_init(&command.engine, &command.cli);
	mas_cli_parse(&command.cli, &argp, argc, argv, &command);
	mas_cli_setup(&command.cli);
	configured_roots(&command);
	command.options.depth = mas_config_get(&command.cli.config,
	                                       "research.depth");
	check_depth(command.options.depth);
	check_params(&command.cli.config);
	if (command.index_mode) {
		status = index_corpus(&command);
		goto done;
	}
	check_first_stage(&command.options, command.root_count);
	if (command.root_count)
		command.options.index = load_corpus(&command);
	mas_engine_setup(&command.engine);
	command.options.engine = &command.engine;
	context.researcher = mas_researcher_new(&command.options);
	run.files = command.cli.files;
	run.file_count = command.cli.file_count;
	run.data = &context;
	run.each = each_task;
	run.jobs = mas_engine_jobs(&command.engine);
	run.wait = mas_engine_wait;
	status = mas_run_records(&run);
	mas_researcher_free(context.researcher);
	mas_engine_release(&command.engine);
	mas_index_free(command.options.index);
	mas_output_close();
done:
	free(command.roots);
	free(command.roots_text);
	mas_cli_release(&command.cli);
	return status;
}
