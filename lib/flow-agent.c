/*
 * flow-agent.c — mas-flow's agent and llm nodes (flow-agent.h).
 *
 * An agent node is made with the library calls its program makes, from
 * the options its program takes: a flow file is a script of commands,
 * and a path in it means what it would mean on the command line, so
 * --data-dir, --corpus, --kb and --sentiment-train are taken relative to
 * the current directory, as the programs take them.  A prompt template,
 * part of the flow rather than of its input, is named relative to the
 * flow file, as an included flow is.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyze.h"
#include "chat.h"
#include "config.h"
#include "engine.h"
#include "expr.h"
#include "flow-agent.h"
#include "index.h"
#include "llm.h"
#include "log.h"
#include "mas.h"
#include "research.h"
#include "banned.h"

static void *zalloc(size_t size)
{
	void *p = calloc(1, size);

	if (!p)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	return p;
}

static char *copy(const char *text)
{
	char *p = strdup(text);

	if (!p)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	return p;
}

/* ---- options ---- */

/* One option an agent takes in a flow: "--name VALUE", "--name=VALUE"
 * or, for a switch (no VALUE), "--name". */
struct agent_option {
	const char *name;
	int is_switch;
};

/*
 * Settings a node's options leave out come from the configuration
 * mas-flow was started with (its file and environment, through the
 * engine's command line), as they would for the agent's program; without
 * an engine, from the environment and the defaults only, read into OWN.
 * Either outlives the agent, which borrows its values.
 */
struct settings {
	struct mas_config own;
	const struct mas_config *config;
};

static void settings_init(struct settings *s, const struct mas_flow *flow)
{
	mas_config_init(&s->own);
	if (flow->engine && flow->engine->cli) {
		s->config = &flow->engine->cli->config;
		return;
	}
	mas_config_load_env(&s->own);
	s->config = &s->own;
}

static const char *setting(const struct settings *s, const char *key)
{
	return mas_config_get(s->config, key);
}

/* Report a problem of NODE as "node 'NAME': WHAT: message". */
static void node_problem(struct mas_flow *flow,
                         const struct mas_flow_node *node, const char *what,
                         const char *format, ...)
	__attribute__((format(printf, 4, 5)));

static void node_problem(struct mas_flow *flow,
                         const struct mas_flow_node *node, const char *what,
                         const char *format, ...)
{
	va_list ap;
	char *message;

	va_start(ap, format);
	if (vasprintf(&message, format, ap) < 0)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	va_end(ap);
	mas_flow_problem(flow, node->line, "node '%s': %s: %s", node->name,
	                 what, message);
	free(message);
}

/* The known options' names, "--a, --b", for a message (malloc'd). */
static char *known_names(const struct agent_option *options)
{
	jv names = jv_string("");
	char *text;

	for (int i = 0; options[i].name; i++)
		names = jv_string_append_str(jv_string_append_str(
			names, i > 0 ? ", --" : "--"), options[i].name);
	text = copy(jv_string_value(names));
	jv_free(names);
	return text;
}

/* Which of OPTIONS WORD names, with its value in *VALUE (NULL for a
 * switch, or when the value is missing); -1 for none.  *I moves past a
 * separate value. */
static int match_option(const struct agent_option *options, char **argv,
                        int *i, const char **value)
{
	const char *word = argv[*i];

	*value = NULL;
	if (strncmp(word, "--", 2) != 0)
		return -1;
	for (int o = 0; options[o].name; o++) {
		size_t length = strlen(options[o].name);
		if (strncmp(word + 2, options[o].name, length) != 0)
			continue;
		if (word[2 + length] == '=' && !options[o].is_switch)
			*value = word + 2 + length + 1;
		else if (word[2 + length] != '\0')
			continue;
		else if (!options[o].is_switch && argv[*i + 1])
			*value = argv[++*i];
		return o;
	}
	return -1;
}

/*
 * Walk NODE's words after the agent's name (or, for an llm node, after
 * its template) against OPTIONS, calling SET with each option's index and
 * value; an unknown word or a missing value is reported.  WHAT names the
 * kind in messages ("agent analyze", "llm").
 */
static void parse_options(struct mas_flow *flow, struct mas_flow_node *node,
                          int first, const char *what,
                          const struct agent_option *options,
                          void (*set)(void *, int, const char *),
                          void *data)
{
	for (int i = first; node->argv[i]; i++) {
		const char *value;
		int o = match_option(options, node->argv, &i, &value);
		if (o < 0) {
			char *names = known_names(options);
			node_problem(flow, node, what, "unknown argument '%s' "
			             "(known: %s)", node->argv[i], names);
			free(names);
		} else if (!options[o].is_switch && !value) {
			node_problem(flow, node, what, "--%s needs a value",
			             options[o].name);
		} else {
			set(data, o, value);
		}
	}
}

/* Option values are checked after the walk, where the flow and node are
 * at hand; the setters only keep them. */
static int parse_count(const char *text, long low, long high, long *out)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (end == text || *end != '\0' || errno || value < low ||
	    value > high)
		return -1;
	*out = value;
	return 0;
}

static int parse_number(const char *text, double *out)
{
	char *end;
	double value = strtod(text, &end);

	if (end == text || *end != '\0' || !isfinite(value))
		return -1;
	*out = value;
	return 0;
}

static int is_directory(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- agent analyze ---- */

struct analyze_node {
	struct settings settings;
	struct mas_analyze_options options;
	const char **metrics;
	const char *data_dir, *lang, *type, *horizon, *period, *coverage;
	struct mas_analyzer *analyzer;
};

enum {
	ANALYZE_DATA_DIR, ANALYZE_TYPE, ANALYZE_METRIC, ANALYZE_TIME_FIELD,
	ANALYZE_HORIZON, ANALYZE_PERIOD, ANALYZE_LANG, ANALYZE_COVERAGE,
};

static const struct agent_option analyze_options[] = {
	[ANALYZE_DATA_DIR] = { "data-dir", 0 },
	[ANALYZE_TYPE] = { "type", 0 },
	[ANALYZE_METRIC] = { "metric", 0 },
	[ANALYZE_TIME_FIELD] = { "time-field", 0 },
	[ANALYZE_HORIZON] = { "horizon", 0 },
	[ANALYZE_PERIOD] = { "period", 0 },
	[ANALYZE_LANG] = { "lang", 0 },
	[ANALYZE_COVERAGE] = { "coverage", 0 },
	{ NULL, 0 }
};

static void analyze_set(void *data, int option, const char *value)
{
	struct analyze_node *a = data;
	size_t count = a->options.metric_count;

	switch (option) {
	case ANALYZE_DATA_DIR: a->data_dir = value; break;
	case ANALYZE_TYPE: a->type = value; break;
	case ANALYZE_METRIC:
		a->metrics = realloc(a->metrics, (count + 1) *
		                                 sizeof(*a->metrics));
		if (!a->metrics)
			mas_die(MAS_EXIT_USAGE, "out of memory");
		a->metrics[count] = value;
		a->options.metrics = a->metrics;
		a->options.metric_count = count + 1;
		break;
	case ANALYZE_TIME_FIELD: a->options.time_field = value; break;
	case ANALYZE_HORIZON: a->horizon = value; break;
	case ANALYZE_PERIOD: a->period = value; break;
	case ANALYZE_LANG: a->lang = value; break;
	case ANALYZE_COVERAGE: a->coverage = value; break;
	}
}

/* The node's agent is the wrapper, which owns what the analyzer
 * borrows; the start functions hand on the agent proper. */
static void analyze_start(void *agent, jv input, mas_agent_reply_fn reply,
                          void *context)
{
	struct analyze_node *a = agent;

	mas_analyze_start(a->analyzer, input, reply, context);
}

static void analyze_release(void *agent)
{
	struct analyze_node *a = agent;

	if (!a)
		return;
	mas_analyzer_free(a->analyzer);
	free(a->metrics);
	mas_config_release(&a->settings.own);
	free(a);
}

/* The values as mas-analyze checks them. */
static void analyze_check(struct mas_flow *flow, struct mas_flow_node *node,
                          struct analyze_node *a)
{
	static const char *const what = "agent analyze";
	struct mas_analyze_options *o = &a->options;
	long count;

	if (a->type && mas_analyze_type_valid(a->type))
		o->type = a->type;
	else if (a->type)
		node_problem(flow, node, what, "--type: '%s' is not one of "
		             "describe, trend, trend_prediction, anomaly, "
		             "correlation, comprehensive", a->type);
	if (a->horizon && parse_count(a->horizon, 1, 10000, &count) == 0)
		o->horizon = (size_t)count;
	else if (a->horizon)
		node_problem(flow, node, what, "--horizon: '%s' is not a "
		             "count from 1 to 10000", a->horizon);
	if (a->period && parse_count(a->period, 2, 10000, &count) == 0)
		o->period = (size_t)count;
	else if (a->period)
		node_problem(flow, node, what, "--period: '%s' is not a count "
		             "from 2 to 10000", a->period);
	if (a->coverage && (parse_number(a->coverage, &o->coverage) != 0 ||
	                    !(o->coverage > 0 && o->coverage < 1)))
		node_problem(flow, node, what, "--coverage: '%s' is not a "
		             "number between 0 and 1", a->coverage);
	o->lang = a->lang ? mas_analyze_language(a->lang) : NULL;
	if (a->lang && !o->lang)
		node_problem(flow, node, what, "--lang: '%s' is not en or zh",
		             a->lang);
}

static void setup_analyze(struct mas_flow *flow, struct mas_flow_node *node)
{
	struct analyze_node *a = zalloc(sizeof(*a));

	settings_init(&a->settings, flow);
	a->options.coverage = 0.95;
	a->options.type = "comprehensive";
	a->options.engine = flow->engine;
	parse_options(flow, node, 1, "agent analyze", analyze_options,
	              analyze_set, a);
	if (!a->lang)
		a->lang = setting(&a->settings, "analyze.lang");
	analyze_check(flow, node, a);
	a->options.data_dir = a->data_dir ? a->data_dir
	                      : setting(&a->settings, "analyze.data_dir");
	if (!a->options.data_dir)
		a->options.data_dir = ".";
	if (!is_directory(a->options.data_dir))
		node_problem(flow, node, "agent analyze", "--data-dir: %s: "
		             "not a folder", a->options.data_dir);
	a->analyzer = mas_analyzer_new(&a->options);
	node->start = analyze_start;
	node->agent = a;
	node->release = analyze_release;
	node->default_output = "analysis";
}

/* ---- agent research ---- */

struct research_node {
	struct settings settings;
	struct mas_research_options options;
	char **roots;
	size_t root_count;
	char *roots_text;        /* research.corpus, split in place */
	const char *sources;
	struct mas_researcher *researcher;
};

enum {
	RESEARCH_CORPUS, RESEARCH_DEPTH, RESEARCH_SOURCES,
	RESEARCH_RETRIEVE_ONLY,
};

static const struct agent_option research_options[] = {
	[RESEARCH_CORPUS] = { "corpus", 0 },
	[RESEARCH_DEPTH] = { "depth", 0 },
	[RESEARCH_SOURCES] = { "sources", 0 },
	[RESEARCH_RETRIEVE_ONLY] = { "retrieve-only", 1 },
	{ NULL, 0 }
};

static void add_root(struct research_node *r, char *path)
{
	char **roots = realloc(r->roots, (r->root_count + 1) * sizeof(*roots));

	if (!roots)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	roots[r->root_count++] = path;
	r->roots = roots;
}

static void research_set(void *data, int option, const char *value)
{
	struct research_node *r = data;

	switch (option) {
	case RESEARCH_CORPUS: add_root(r, (char *)value); break;
	case RESEARCH_DEPTH: r->options.depth = value; break;
	case RESEARCH_SOURCES: r->sources = value; break;
	case RESEARCH_RETRIEVE_ONLY: r->options.retrieve_only = 1; break;
	}
}

/* Without --corpus, research.corpus (MAS_CORPUS): paths separated by
 * ':', as mas-research takes it. */
static void configured_roots(struct research_node *r)
{
	const char *value = setting(&r->settings, "research.corpus");
	char *save = NULL;

	if (r->root_count || !value || !*value)
		return;
	r->roots_text = copy(value);
	for (char *path = strtok_r(r->roots_text, ":", &save); path;
	     path = strtok_r(NULL, ":", &save))
		add_root(r, path);
}

static void research_start(void *agent, jv input, mas_agent_reply_fn reply,
                           void *context)
{
	struct research_node *r = agent;

	mas_research_start(r->researcher, input, reply, context);
}

static void research_release(void *agent)
{
	struct research_node *r = agent;

	if (!r)
		return;
	mas_researcher_free(r->researcher);
	mas_index_free(r->options.index);
	free(r->roots);
	free(r->roots_text);
	mas_config_release(&r->settings.own);
	free(r);
}

static void research_check(struct mas_flow *flow, struct mas_flow_node *node,
                           struct research_node *r)
{
	long count;

	if (!r->options.depth)
		r->options.depth = setting(&r->settings, "research.depth");
	if (r->options.depth && !mas_research_depth_valid(r->options.depth))
		node_problem(flow, node, "agent research", "--depth: '%s' is "
		             "not brief, standard or comprehensive",
		             r->options.depth);
	if (r->sources && parse_count(r->sources, 1, 20, &count) == 0)
		r->options.sources = (size_t)count;
	else if (r->sources)
		node_problem(flow, node, "agent research", "--sources: '%s' "
		             "is not a count from 1 to 20", r->sources);
	if (r->options.retrieve_only && r->root_count == 0)
		node_problem(flow, node, "agent research", "--retrieve-only: "
		             "no corpus (give --corpus PATH)");
}

/* The corpus is indexed now, so that `check` finds a missing folder and
 * records never wait for the index. */
static void research_index(struct mas_flow *flow, struct mas_flow_node *node,
                           struct research_node *r)
{
	char *error = NULL;

	if (r->root_count == 0)
		return;
	r->options.index = mas_research_open_corpus(
		r->roots, r->root_count, r->settings.config, &error);
	if (!r->options.index)
		node_problem(flow, node, "agent research", "%s",
		             error ? error : "no index");
	free(error);
}

static void setup_research(struct mas_flow *flow, struct mas_flow_node *node)
{
	struct research_node *r = zalloc(sizeof(*r));
	int problems = flow->problems;

	settings_init(&r->settings, flow);
	r->options.engine = flow->engine;
	parse_options(flow, node, 1, "agent research", research_options,
	              research_set, r);
	configured_roots(r);
	research_check(flow, node, r);
	if (flow->problems == problems)
		research_index(flow, node, r);
	r->researcher = mas_researcher_new(&r->options);
	node->start = research_start;
	node->agent = r;
	node->release = research_release;
	node->default_output = "research";
}

/* ---- agent chat ---- */

struct chat_node {
	struct settings settings;
	struct mas_chat_options options;
	const char *threshold;
	struct mas_chat *chat;
};

enum {
	CHAT_KB, CHAT_SENTIMENT_TRAIN, CHAT_LANG, CHAT_THRESHOLD,
	CHAT_SESSION, CHAT_NO_SESSIONS,
};

static const struct agent_option chat_options[] = {
	[CHAT_KB] = { "kb", 0 },
	[CHAT_SENTIMENT_TRAIN] = { "sentiment-train", 0 },
	[CHAT_LANG] = { "lang", 0 },
	[CHAT_THRESHOLD] = { "threshold", 0 },
	[CHAT_SESSION] = { "session", 0 },
	[CHAT_NO_SESSIONS] = { "no-sessions", 1 },
	{ NULL, 0 }
};

static void chat_set(void *data, int option, const char *value)
{
	struct chat_node *c = data;

	switch (option) {
	case CHAT_KB: c->options.kb_path = value; break;
	case CHAT_SENTIMENT_TRAIN: c->options.sentiment_train = value; break;
	case CHAT_LANG: c->options.lang = value; break;
	case CHAT_THRESHOLD: c->threshold = value; break;
	case CHAT_SESSION: c->options.session = value; break;
	case CHAT_NO_SESSIONS: break; /* always so in a flow */
	}
}

static void chat_start(void *agent, jv input, mas_agent_reply_fn reply,
                       void *context)
{
	struct chat_node *c = agent;

	if (!c->chat) { /* set-up failed: `check` said so */
		jv_free(input);
		reply(context, mas_fail(MAS_ERR_INTERNAL, "no knowledge base "
		                        "loaded"));
		return;
	}
	mas_chat_start(c->chat, input, reply, context);
}

static void chat_release(void *agent)
{
	struct chat_node *c = agent;

	if (!c)
		return;
	mas_chat_free(c->chat);
	mas_config_release(&c->settings.own);
	free(c);
}

/* "en", "zh" or a locale name starting with either, as mas-chat takes
 * it (the name is passed on whole). */
static int chat_lang_valid(const char *text)
{
	return (strncmp(text, "en", 2) == 0 || strncmp(text, "zh", 2) == 0) &&
	       strchr("_-.", text[2]);
}

static void chat_check(struct mas_flow *flow, struct mas_flow_node *node,
                       struct chat_node *c)
{
	struct mas_chat_options *o = &c->options;

	if (o->lang && !chat_lang_valid(o->lang))
		node_problem(flow, node, "agent chat", "--lang: '%s' is not "
		             "en or zh", o->lang);
	if (c->threshold && (parse_number(c->threshold, &o->threshold) != 0 ||
	                     !(o->threshold >= 0 && o->threshold < 1)))
		node_problem(flow, node, "agent chat", "--threshold: '%s' is "
		             "not a number from 0 up to 1", c->threshold);
	if (o->session && !*o->session)
		node_problem(flow, node, "agent chat", "--session: must not "
		             "be empty");
	if (!o->kb_path)
		o->kb_path = setting(&c->settings, "chat.kb");
	if (!o->kb_path)
		node_problem(flow, node, "agent chat", "no knowledge base: "
		             "give --kb FILE or set MAS_KB");
}

/*
 * Sessions are not kept in a flow: the state store is the flow's own
 * checkpoint store, whose open transaction would make the sessions'
 * writes wait; a flow carries a conversation in its state instead.
 */
static void setup_chat(struct mas_flow *flow, struct mas_flow_node *node)
{
	struct chat_node *c = zalloc(sizeof(*c));
	int problems = flow->problems;
	char *error = NULL;

	settings_init(&c->settings, flow);
	c->options.threshold = -1;
	c->options.engine = flow->engine;
	parse_options(flow, node, 1, "agent chat", chat_options, chat_set, c);
	chat_check(flow, node, c);
	if (flow->problems == problems) {
		c->chat = mas_chat_new(&c->options, &error);
		if (!c->chat)
			node_problem(flow, node, "agent chat", "%s",
			             error ? error : "cannot load the "
			             "knowledge base");
		free(error);
	}
	node->start = chat_start;
	node->agent = c;
	node->release = chat_release;
	node->default_output = "chat";
}

struct mas_chat_options *mas_flow_agent_chat_options(
	struct mas_flow_node *node)
{
	struct chat_node *c = node->agent;

	if (node->release != chat_release || !c || !c->chat)
		return NULL;
	return &c->options;
}

/* ---- the agents ---- */

void mas_flow_agent_setup(struct mas_flow *flow, struct mas_flow_node *node)
{
	static const struct {
		const char *name;
		void (*setup)(struct mas_flow *, struct mas_flow_node *);
	} agents[] = {
		{ "analyze", setup_analyze },
		{ "research", setup_research },
		{ "chat", setup_chat },
	};
	const char *name = node->argv ? node->argv[0] : NULL;

	if (!name) {
		mas_flow_problem(flow, node->line, "node '%s': agent needs a "
		                 "name: analyze, research or chat",
		                 node->name);
		return;
	}
	for (size_t i = 0; i < sizeof(agents) / sizeof(agents[0]); i++)
		if (strcmp(name, agents[i].name) == 0) {
			agents[i].setup(flow, node);
			return;
		}
	mas_flow_problem(flow, node->line, "node '%s': unknown agent '%s' "
	                 "(known: analyze, research, chat)", node->name, name);
}

/* ---- llm nodes ---- */

/* A template is text with holes: PIECES[0] HOLE[0] PIECES[1] ... HOLE[n-1]
 * PIECES[n]. */
struct hole {
	struct mas_expr *expr;
	int line;                /* in the template */
};

struct llm_node {
	char *name;              /* the node's, for messages */
	char *path;              /* the template, as reached from here */
	const struct mas_engine *engine;
	char **pieces;
	struct hole *holes;
	size_t hole_count;
	char *system;            /* --system FILE's text, or NULL */
	const char *model;       /* --model, or NULL: the engine's */
	double temperature;      /* < 0: the server's default */
	long max_tokens;         /* 0: the server's default */
};

/* One request in flight: where its answer goes. */
struct llm_call {
	mas_agent_reply_fn reply;
	void *context;
};

enum { LLM_SYSTEM, LLM_MODEL, LLM_TEMPERATURE, LLM_MAX_TOKENS };

static const struct agent_option llm_options[] = {
	[LLM_SYSTEM] = { "system", 0 },
	[LLM_MODEL] = { "model", 0 },
	[LLM_TEMPERATURE] = { "temperature", 0 },
	[LLM_MAX_TOKENS] = { "max-tokens", 0 },
	{ NULL, 0 }
};

/* The options' raw values, checked once the walk is done. */
struct llm_words {
	const char *value[LLM_MAX_TOKENS + 1];
};

static void llm_set(void *data, int option, const char *value)
{
	struct llm_words *words = data;

	words->value[option] = value;
}

/* FILE named relative to the flow file's folder (malloc'd). */
static char *beside_flow(const struct mas_flow *flow, const char *file)
{
	const char *slash = strrchr(flow->path, '/');
	char *path;

	if (file[0] == '/' || !slash)
		return copy(file);
	if (asprintf(&path, "%.*s/%s", (int)(slash - flow->path), flow->path,
	             file) < 0)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	return path;
}

/* The whole of PATH (malloc'd), or NULL with errno set. */
static char *read_text(const char *path)
{
	FILE *file = fopen(path, "r");
	char *text = NULL;
	size_t size = 0;
	ssize_t length;

	if (!file)
		return NULL;
	length = getdelim(&text, &size, '\0', file);
	if (length < 0 && !ferror(file)) {
		free(text);
		text = copy(""); /* an empty file */
	} else if (length < 0 || ferror(file)) {
		free(text);
		text = NULL;
	}
	fclose(file);
	return text;
}

/* Where the hole opened at TEXT ("{{" skipped) closes: the first "}}"
 * outside a jq string and outside braces the expression opened itself
 * ("{{ {a: .b} }}"); NULL when it never does. */
static const char *hole_end(const char *text)
{
	int depth = 0;

	for (const char *p = text; *p; p++) {
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (!*p)
				return NULL;
		} else if (*p == '{') {
			depth++;
		} else if (*p == '}' && depth > 0) {
			depth--;
		} else if (*p == '}' && p[1] == '}') {
			return p;
		}
	}
	return NULL;
}

static int lines_to(const char *text, const char *at)
{
	int line = 1;

	for (const char *p = text; p < at; p++)
		line += *p == '\n';
	return line;
}

static void add_piece(struct llm_node *l, const char *text, size_t length)
{
	char **pieces = realloc(l->pieces, (l->hole_count + 1) *
	                                   sizeof(*pieces));

	if (!pieces)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	l->pieces = pieces;
	l->pieces[l->hole_count] = strndup(text, length);
	if (!l->pieces[l->hole_count])
		mas_die(MAS_EXIT_USAGE, "out of memory");
}

static void add_hole(struct llm_node *l, struct mas_expr *expr, int line)
{
	struct hole *holes = realloc(l->holes, (l->hole_count + 1) *
	                                       sizeof(*holes));

	if (!holes)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	l->holes = holes;
	l->holes[l->hole_count].expr = expr;
	l->holes[l->hole_count].line = line;
	l->hole_count++;
}

/* Compile the hole TEXT[0..LENGTH) at template line LINE; NULL after a
 * problem reported. */
static struct mas_expr *compile_hole(struct mas_flow *flow,
                                     struct mas_flow_node *node,
                                     struct llm_node *l, const char *text,
                                     size_t length, int line)
{
	char *source = strndup(text, length), *error = NULL;
	struct mas_expr *expr = NULL;
	size_t start = 0, end = length;

	if (!source)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	while (start < end && strchr(" \t\n", source[start]))
		start++;
	while (end > start && strchr(" \t\n", source[end - 1]))
		end--;
	source[end] = '\0';
	if (start == end)
		node_problem(flow, node, "llm", "template %s:%d: empty {{ }}",
		             l->path, line);
	else
		expr = mas_expr_compile(source + start, &error);
	if (!expr && start < end)
		node_problem(flow, node, "llm", "template %s:%d: jq "
		             "expression '%s' does not compile: %s", l->path,
		             line, source + start,
		             error ? error : "unknown error");
	free(error);
	free(source);
	return expr;
}

/* Cut TEXT into pieces and holes, compiling each hole; problems are
 * reported and parsing goes on, so that every bad hole is listed. */
static void parse_template(struct mas_flow *flow, struct mas_flow_node *node,
                           struct llm_node *l, const char *text)
{
	const char *p = text, *open = strstr(p, "{{"), *close;

	for (; open; open = strstr(p, "{{")) {
		int line = lines_to(text, open);
		close = hole_end(open + 2);
		if (!close) {
			node_problem(flow, node, "llm", "template %s:%d: '{{' "
			             "without its '}}'", l->path, line);
			break;
		}
		add_piece(l, p, (size_t)(open - p));
		add_hole(l, compile_hole(flow, node, l, open + 2,
		                         (size_t)(close - open - 2), line),
		         line);
		p = close + 2;
	}
	add_piece(l, p, strlen(p));
}

static void llm_release(void *agent)
{
	struct llm_node *l = agent;

	if (!l)
		return;
	for (size_t i = 0; i < l->hole_count; i++)
		mas_expr_free(l->holes[i].expr);
	for (size_t i = 0; l->pieces && i <= l->hole_count; i++)
		free(l->pieces[i]);
	free(l->pieces);
	free(l->holes);
	free(l->system);
	free(l->path);
	free(l->name);
	free(l);
}

/* What a hole's value puts in the prompt: a string as it is, anything
 * else as compact JSON. */
static jv hole_text(jv value)
{
	if (jv_get_kind(value) == JV_KIND_STRING)
		return value;
	return jv_dump_string(value, 0);
}

/* The prompt for STATE (borrowed), or jv_invalid_with_msg(error) naming
 * the hole whose expression failed.  A hole with no output is left
 * empty. */
static jv fill(const struct llm_node *l, jv state)
{
	jv text = jv_string(l->pieces[0]);

	for (size_t i = 0; i < l->hole_count; i++) {
		const struct hole *h = &l->holes[i];
		jv value = mas_expr_first(h->expr, jv_copy(state));
		if (!jv_is_valid(value) &&
		    jv_invalid_has_msg(jv_copy(value))) {
			jv message = jv_invalid_get_msg(value);
			jv failure = mas_fail(
				MAS_ERR_INVALID_REQUEST, "node '%s': template "
				"%s:%d: {{ %s }}: %s", l->name, l->path,
				h->line, mas_expr_text(h->expr),
				jv_get_kind(message) == JV_KIND_STRING
				        ? jv_string_value(message) : "error");
			jv_free(message);
			jv_free(text);
			return failure;
		}
		if (jv_is_valid(value))
			text = jv_string_concat(text, hole_text(value));
		else
			jv_free(value);
		text = jv_string_append_str(text, l->pieces[i + 1]);
	}
	return text;
}

static jv llm_request(const struct llm_node *l, jv prompt)
{
	jv messages = jv_array();
	jv request;

	if (l->system)
		messages = jv_array_append(messages, JV_OBJECT(
			jv_string("role"), jv_string("system"),
			jv_string("content"), jv_string(l->system)));
	messages = jv_array_append(messages, JV_OBJECT(
		jv_string("role"), jv_string("user"),
		jv_string("content"), prompt));
	request = JV_OBJECT(jv_string("messages"), messages);
	if (l->model)
		request = jv_object_set(request, jv_string("model"),
		                        jv_string(l->model));
	if (l->temperature >= 0)
		request = jv_object_set(request, jv_string("temperature"),
		                        jv_number(l->temperature));
	if (l->max_tokens > 0)
		request = jv_object_set(request, jv_string("max_tokens"),
		                        jv_number((double)l->max_tokens));
	return request;
}

/* The reply's content as JSON when it is JSON (a ```json fence
 * allowed, as the client allows for structured replies); else the
 * content as a string.  CONTENT is consumed. */
static jv reply_value(jv content)
{
	jv parsed;

	if (jv_get_kind(content) != JV_KIND_STRING) {
		jv_free(content);
		return jv_string("");
	}
	parsed = mas_llm_parse_content(jv_string_value(content));
	if (jv_is_valid(parsed)) {
		jv_free(content);
		return parsed;
	}
	jv_free(parsed);
	return content;
}

/* The client's answer (consumed): the reply, or its failure as it came,
 * "transient" flag and all. */
static void llm_done(void *user, jv result)
{
	struct llm_call *call = user;

	if (jv_is_valid(result))
		result = reply_value(jv_object_get(result,
		                                   jv_string("content")));
	call->reply(call->context, result);
	free(call);
}

static void llm_start(void *agent, jv state, mas_agent_reply_fn reply,
                      void *context)
{
	struct llm_node *l = agent;
	struct llm_call *call;
	jv prompt;

	if (!l->engine || !l->engine->llm) {
		jv_free(state);
		reply(context, mas_fail(MAS_ERR_INVALID_REQUEST, "node '%s': "
		                        "llm needs a model: set "
		                        "OPENAI_BASE_URL or OPENAI_API_KEY",
		                        l->name));
		return;
	}
	prompt = fill(l, state);
	jv_free(state);
	if (!jv_is_valid(prompt)) {
		reply(context, prompt);
		return;
	}
	call = zalloc(sizeof(*call));
	call->reply = reply;
	call->context = context;
	mas_llm_submit(l->engine->llm, llm_request(l, prompt), llm_done,
	               NULL, call);
}

/* The options after the template, checked. */
static void llm_check(struct mas_flow *flow, struct mas_flow_node *node,
                      struct llm_node *l, const struct llm_words *words)
{
	const char *system = words->value[LLM_SYSTEM];
	const char *temperature = words->value[LLM_TEMPERATURE];
	const char *max_tokens = words->value[LLM_MAX_TOKENS];

	l->model = words->value[LLM_MODEL];
	if (temperature && (parse_number(temperature, &l->temperature) != 0 ||
	                    !(l->temperature >= 0 && l->temperature <= 2)))
		node_problem(flow, node, "llm", "--temperature: '%s' is not a "
		             "number from 0 to 2", temperature);
	if (max_tokens && parse_count(max_tokens, 1, 1L << 30,
	                              &l->max_tokens) != 0)
		node_problem(flow, node, "llm", "--max-tokens: '%s' is not a "
		             "positive count", max_tokens);
	if (system) {
		char *path = beside_flow(flow, system);
		l->system = read_text(path);
		if (!l->system)
			node_problem(flow, node, "llm", "--system: %s: %s",
			             path, strerror(errno));
		free(path);
	}
}

void mas_flow_llm_setup(struct mas_flow *flow, struct mas_flow_node *node)
{
	struct llm_node *l;
	struct llm_words words = { { NULL } };
	char *text;

	node->default_output = node->name;
	if (!node->argv || !node->argv[0]) {
		mas_flow_problem(flow, node->line, "node '%s': llm needs a "
		                 "TEMPLATE file", node->name);
		return;
	}
	l = zalloc(sizeof(*l));
	l->name = copy(node->name);
	l->path = beside_flow(flow, node->argv[0]);
	l->engine = flow->engine;
	l->temperature = -1;
	node->start = llm_start;
	node->agent = l;
	node->release = llm_release;
	parse_options(flow, node, 1, "llm", llm_options, llm_set, &words);
	llm_check(flow, node, l, &words);
	text = read_text(l->path);
	if (!text) {
		node_problem(flow, node, "llm", "template %s: %s", l->path,
		             strerror(errno));
		add_piece(l, "", 0);
		return;
	}
	parse_template(flow, node, l, text);
	free(text);
}
