/*
 * flow.c — the flow file: parsing, checking and drawing (mas-flow(5)).
 * Running it is flow-run.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expr.h"
#include "flow-agent.h"
#include "flow.h"
#include "log.h"
#include "mas.h"

#include "banned.h"

/* The default recursion limit, LangGraph's. */
enum { DEFAULT_RECURSION_LIMIT = 25 };

static void *grow(void *items, size_t count, size_t size)
{
	void *more = realloc(items, (count + 1) * size);

	if (!more)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	return more;
}

static char *copy(const char *text, size_t length)
{
	char *result = strndup(text, length);

	if (!result)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	return result;
}

/* compiler style, so editors jump to the line */
void mas_flow_problem(struct mas_flow *flow, int line, const char *format,
                      ...)
{
	FILE *out = flow->problem_log ? flow->problem_log : stderr;
	va_list ap;

	if (line > 0)
		fprintf(out, "%s:%d: ", flow->path, line);
	else
		fprintf(out, "%s: ", flow->path);
	va_start(ap, format);
	vfprintf(out, format, ap);
	va_end(ap);
	fputc('\n', out);
	flow->problems++;
}

static const char *skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* The next bare word (up to white space), advancing *P; NULL at the end
 * of the line or at a comment. */
static char *next_word(const char **p)
{
	const char *start = skip_space(*p);
	const char *end = start;

	if (*start == '\0' || *start == '#')
		return NULL;
	while (*end && *end != ' ' && *end != '\t')
		end++;
	*p = end;
	return copy(start, (size_t)(end - start));
}

/*
 * One shell-like word: quotes '...' and "..." (with \" and \\ inside),
 * backslash outside quotes.  Returns -1 on an unclosed quote.
 */
static int shell_word(const char **p, char **word)
{
	const char *s = *p;
	size_t length = 0;
	char *out = malloc(strlen(s) + 1);
	char quote = 0;

	if (!out)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	for (; *s && (quote || (*s != ' ' && *s != '\t')); s++) {
		if (quote == *s) {
			quote = 0;
		} else if (!quote && (*s == '\'' || *s == '"')) {
			quote = *s;
		} else if (*s == '\\' && quote != '\'' && s[1] &&
		           (!quote || s[1] == '"' || s[1] == '\\')) {
			out[length++] = *++s;
		} else {
			out[length++] = *s;
		}
	}
	out[length] = '\0';
	*p = s;
	*word = out;
	if (quote) {
		free(out);
		return -1;
	}
	return 0;
}

/* Split the rest of a line into an argv, shell-like; NULL with a problem
 * reported on an unclosed quote. */
static char **shell_split(struct mas_flow *flow, int line, const char *p)
{
	char **argv = NULL;
	size_t count = 0;

	for (p = skip_space(p); *p && *p != '#'; p = skip_space(p)) {
		char *word;

		if (shell_word(&p, &word) != 0) {
			mas_flow_problem(flow, line, "unclosed quote");
			break;
		}
		argv = grow(argv, count, sizeof(*argv));
		argv[count++] = word;
	}
	argv = grow(argv, count, sizeof(*argv));
	argv[count] = NULL;
	return argv;
}

static void free_argv(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/*
 * A jq expression written to the end of the line, as is (jq's own
 * comments end it), or wrapped in single quotes, which are removed,
 * and then optionally followed by a comment.
 */
static char *raw_expression(const char *p)
{
	size_t length;

	p = skip_space(p);
	if (*p == '\'') {
		const char *close = strchr(p + 1, '\'');
		const char *after = close ? skip_space(close + 1) : NULL;

		if (after && (*after == '\0' || *after == '#'))
			return copy(p + 1, (size_t)(close - p - 1));
	}
	length = strlen(p);
	while (length > 0 && isspace((unsigned char)p[length - 1]))
		length--;
	return copy(p, length);
}

static int find_node(const struct mas_flow *flow, const char *name)
{
	if (strcmp(name, "start") == 0)
		return MAS_FLOW_START;
	if (strcmp(name, "end") == 0)
		return MAS_FLOW_END;
	for (size_t i = 0; i < flow->node_count; i++)
		if (strcmp(flow->nodes[i].name, name) == 0)
			return (int)i;
	return MAS_FLOW_UNKNOWN;
}

static int valid_name(const char *name)
{
	if (!isalpha((unsigned char)*name) && *name != '_')
		return 0;
	for (; *name; name++)
		if (!isalnum((unsigned char)*name) && !strchr("_-", *name))
			return 0;
	return 1;
}

static struct mas_expr *compile(struct mas_flow *flow, int line,
                                const char *what, const char *text)
{
	char *error = NULL;
	struct mas_expr *expr = mas_expr_compile(text, &error);

	if (!expr) {
		mas_flow_problem(flow, line, "%s: jq expression '%s' does not compile: "
		        "%s", what, text, error ? error : "unknown error");
		free(error);
	}
	return expr;
}

/* Whether COMMAND can be executed: a path, or found on PATH. */
static int on_path(const char *command)
{
	const char *path = getenv("PATH");
	char candidate[4096];

	if (strchr(command, '/'))
		return access(command, X_OK) == 0;
	while (path && *path) {
		const char *colon = strchr(path, ':');
		size_t length = colon ? (size_t)(colon - path) : strlen(path);
		int n = snprintf(candidate, sizeof(candidate), "%.*s/%s",
		                 (int)length, length ? path : ".", command);

		if (n > 0 && (size_t)n < sizeof(candidate) &&
		    access(candidate, X_OK) == 0)
			return 1;
		path = colon ? colon + 1 : NULL;
	}
	return 0;
}

static double parse_number(struct mas_flow *flow, int line,
                           const char *option, const char *text, double max)
{
	char *end;
	double value = strtod(text, &end);

	if (end == text || *end != '\0' || !(value >= 0 && value <= max)) {
		mas_flow_problem(flow, line, "%s: '%s' is not a number from 0 to %g",
		        option, text, max);
		return 0;
	}
	return value;
}

/* One NAME=VALUE option of a node (WORD is consumed). */
static void parse_option(struct mas_flow *flow, int line,
                         struct mas_flow_node *node, char *word)
{
	char *value = strchr(word, '=');

	*value++ = '\0';
	if (strcmp(word, "timeout") == 0) {
		node->timeout = parse_number(flow, line, word, value, 86400);
	} else if (strcmp(word, "retries") == 0) {
		node->retries = (int)parse_number(flow, line, word, value, 10);
	} else if (strcmp(word, "on_error") == 0) {
		free(node->on_error_name);
		node->on_error_name = copy(value, strlen(value));
	} else if (strcmp(word, "jobs") == 0) {
		node->replicas = (int)parse_number(flow, line, word, value,
		                                   64);
		if (node->replicas < 1) {
			mas_flow_problem(flow, line, "jobs: '%s' is not a "
			                 "count from 1 to 64", value);
			node->replicas = 1;
		}
	} else if (strcmp(word, "output") == 0) {
		free(node->output);
		node->output = *value ? copy(value, strlen(value)) : NULL;
	} else {
		mas_flow_problem(flow, line, "node '%s': unknown option '%s' "
		                 "(known: timeout, retries, on_error, output, "
		                 "jobs)", node->name, word);
	}
	free(word);
}

/* How deep subgraphs may nest: enough for any design, and a stop for
 * a file that includes itself. */
enum { MAX_DEPTH = 8 };
static int load_depth;

/* A flow node's file, named relative to the including file. */
static void load_subgraph(struct mas_flow *flow, struct mas_flow_node *node)
{
	const char *slash = strrchr(flow->path, '/');
	char *path;

	if (!node->argv[0] || node->argv[1]) {
		mas_flow_problem(flow, node->line, "node '%s': flow needs one FILE",
		        node->name);
		return;
	}
	if (node->argv[0][0] == '/' || !slash)
		path = copy(node->argv[0], strlen(node->argv[0]));
	else if (asprintf(&path, "%.*s/%s", (int)(slash - flow->path),
	                  flow->path, node->argv[0]) < 0)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	node->sub = calloc(1, sizeof(*node->sub));
	if (!node->sub)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	if (load_depth >= MAX_DEPTH) {
		mas_flow_problem(flow, node->line, "node '%s': flows nested more than "
		        "%d deep (does one include itself?)", node->name,
		        MAX_DEPTH);
		free(path);
		return;
	}
	load_depth++;
	if (mas_flow_load_to(node->sub, path, flow->engine,
	                     flow->problem_log) != 0)
		mas_flow_problem(flow, node->line, "node '%s': flow '%s' has "
		                 "problems", node->name, path);
	load_depth--;
	for (size_t i = 0; i < node->sub->node_count; i++)
		if (node->sub->nodes[i].kind == MAS_FLOW_INTERRUPT)
			mas_flow_problem(flow, node->line, "node '%s': flow "
			                 "'%s' has an interrupt node, which only "
			                 "a top-level flow may have", node->name,
			                 path);
	free(path);
}

static void check_words(struct mas_flow *flow, struct mas_flow_node *node);

/* A jq node's program is compiled with the file's other expressions
 * once the whole file is read (compile_expressions). */
static void setup_jq(struct mas_flow *flow, struct mas_flow_node *node)
{
	if (!*node->text)
		check_words(flow, node);
}

static void setup_run(struct mas_flow *flow, struct mas_flow_node *node)
{
	if (!node->argv[0])
		check_words(flow, node);
	else if (!on_path(node->argv[0]))
		mas_flow_problem(flow, node->line, "node '%s': command '%s' "
		                 "not found on PATH", node->name,
		                 node->argv[0]);
}

static void setup_parallel(struct mas_flow *flow, struct mas_flow_node *node)
{
	if (!node->argv[0] || !node->argv[1])
		mas_flow_problem(flow, node->line, "node '%s': parallel needs "
		                 "two or more branch nodes", node->name);
}

static void setup_interrupt(struct mas_flow *flow,
                            struct mas_flow_node *node)
{
	if (node->argv[0])
		mas_flow_problem(flow, node->line, "node '%s': interrupt takes "
		                 "no arguments", node->name);
}

/* What mas_flow_parse checks of a node's words: their number, where
 * that needs nothing outside the file. */
static void check_words(struct mas_flow *flow, struct mas_flow_node *node)
{
	switch (node->kind) {
	case MAS_FLOW_JQ:
		if (!*node->text)
			mas_flow_problem(flow, node->line, "node '%s': jq "
			                 "needs an expression", node->name);
		break;
	case MAS_FLOW_RUN:
		if (!node->argv[0])
			mas_flow_problem(flow, node->line, "node '%s': run "
			                 "needs a command", node->name);
		break;
	case MAS_FLOW_PARALLEL: setup_parallel(flow, node); break;
	case MAS_FLOW_INTERRUPT: setup_interrupt(flow, node); break;
	default: break;
	}
}

/* The node kinds, in the order of enum mas_flow_kind; every kind but jq
 * takes shell-like words after it. */
static const struct {
	const char *name;
	void (*setup)(struct mas_flow *flow, struct mas_flow_node *node);
} kinds[] = {
	{ "jq", setup_jq },
	{ "run", setup_run },
	{ "flow", load_subgraph },
	{ "agent", mas_flow_agent_setup },
	{ "llm", mas_flow_llm_setup },
	{ "parallel", setup_parallel },
	{ "interrupt", setup_interrupt },
};

static void set_up_kind(struct mas_flow *flow, struct mas_flow_node *node,
                        const char *kind, const char *words)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kind, kinds[i].name) != 0)
			continue;
		node->kind = (enum mas_flow_kind)i;
		if (node->kind != MAS_FLOW_JQ)
			node->argv = shell_split(flow, node->line, words);
		if (flow->syntax_only)
			check_words(flow, node);
		else
			kinds[i].setup(flow, node);
		return;
	}
	mas_flow_problem(flow, node->line, "node '%s': unknown kind '%s' "
	                 "(known: jq, run, flow, agent, llm, parallel, "
	                 "interrupt)", node->name, kind);
}

static void parse_node(struct mas_flow *flow, int line, const char *p)
{
	char *name = next_word(&p);
	char *kind = name ? next_word(&p) : NULL;
	struct mas_flow_node node = { 0 };
	int first;

	node.name = name;
	node.on_error = MAS_FLOW_UNKNOWN;
	node.replicas = 1;
	while (kind && strchr(kind, '=')) {
		parse_option(flow, line, &node, kind);
		kind = next_word(&p);
	}

	if (!kind) {
		mas_flow_problem(flow, line, "node: expected 'node NAME [OPTION=VALUE "
		        "...] KIND ...'");
		free(name);
		free(node.on_error_name);
		free(node.output);
		return;
	}
	first = find_node(flow, name);
	node.line = line;
	node.text = raw_expression(p);
	if (!valid_name(name) || first == MAS_FLOW_START ||
	    first == MAS_FLOW_END)
		mas_flow_problem(flow, line, "'%s' is not a valid node name", name);
	else if (first >= 0)
		mas_flow_problem(flow, line, "duplicate node '%s' (first at line %d)",
		        name, flow->nodes[first].line);
	set_up_kind(flow, &node, kind, p);
	free(kind);
	flow->nodes = grow(flow->nodes, flow->node_count,
	                   sizeof(*flow->nodes));
	flow->nodes[flow->node_count++] = node;
}

/* A trailing "max N" of an edge: its value, cutting it off TEXT;
 * 0 when there is none. */
static long cut_max(struct mas_flow *flow, int line, char *text)
{
	char *at = strstr(text, "max ");
	char *end;
	long value;

	/* the last "max " that stands as a word */
	for (char *next = at; next; next = strstr(next + 1, "max "))
		at = next;
	if (!at || (at != text && at[-1] != ' ' && at[-1] != '\t'))
		return 0;
	value = strtol(at + 4, &end, 10);
	end = (char *)skip_space(end);
	if (end == at + 4 || (*end != '\0' && *end != '#'))
		return 0;
	if (value < 1) {
		mas_flow_problem(flow, line, "max: '%s' is not a count of at least 1",
		        at + 4);
		value = 0;
	}
	*at = '\0';
	return value;
}

static int edge_end(struct mas_flow *flow, int line, const char *name)
{
	int index = find_node(flow, name);

	if (index == MAS_FLOW_UNKNOWN)
		mas_flow_problem(flow, line, "unknown node '%s'", name);
	return index;
}

/* "A -> B [if EXPR] [max N]"; unknown names are looked up after the
 * whole file is read, since edges may come before their nodes. */
static void parse_edge(struct mas_flow *flow, int line, const char *p,
                       char ***names)
{
	char *from = next_word(&p);
	char *arrow = next_word(&p);
	char *to = next_word(&p);
	char *rest = raw_expression(p);
	struct mas_flow_edge edge = { 0 };
	const char *condition;

	edge.line = line;
	edge.max = cut_max(flow, line, rest);
	condition = skip_space(rest);
	if (*condition == '#')
		condition = ""; /* a comment */
	if (!from || !arrow || !to || strcmp(arrow, "->") != 0) {
		mas_flow_problem(flow, line, "expected 'node NAME ...' or "
		        "'FROM -> TO [if EXPR] [max N]'");
	} else if (*condition && strncmp(condition, "if", 2) == 0 &&
	           isspace((unsigned char)condition[2])) {
		edge.condition_text = raw_expression(condition + 3);
	} else if (*condition) {
		mas_flow_problem(flow, line, "expected 'if EXPR' or 'max N' after "
		        "'%s -> %s', not '%s'", from, to, condition);
	}
	free(arrow);
	free(rest);
	*names = grow(*names, 2 * flow->edge_count + 1, sizeof(**names));
	(*names)[2 * flow->edge_count] = from;
	(*names)[2 * flow->edge_count + 1] = to;
	flow->edges = grow(flow->edges, flow->edge_count,
	                   sizeof(*flow->edges));
	flow->edges[flow->edge_count++] = edge;
}

static void resolve_on_error(struct mas_flow *flow)
{
	for (size_t i = 0; i < flow->node_count; i++) {
		struct mas_flow_node *node = &flow->nodes[i];

		if (!node->on_error_name ||
		    strcmp(node->on_error_name, "emit") == 0)
			continue;
		node->on_error = find_node(flow, node->on_error_name);
		if (node->on_error == MAS_FLOW_UNKNOWN ||
		    node->on_error == MAS_FLOW_START) {
			mas_flow_problem(flow, node->line, "node '%s': on_error: "
			        "unknown node '%s'", node->name,
			        node->on_error_name);
			node->on_error = MAS_FLOW_UNKNOWN;
		}
	}
}

/* A parallel node's branches: nodes run as one step each, so neither
 * the graph's ends, nor parallel or interrupt nodes, nor nodes that have
 * edges of their own. */
static void resolve_branches(struct mas_flow *flow,
                             struct mas_flow_node *node)
{
	size_t count = 0;

	while (node->argv && node->argv[count])
		count++;
	node->branches = calloc(count + 1, sizeof(*node->branches));
	if (!node->branches)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	for (size_t i = 0; i < count; i++) {
		int index = find_node(flow, node->argv[i]);
		struct mas_flow_node *branch;

		if (index < 0) {
			mas_flow_problem(flow, node->line, "node '%s': unknown "
			                 "branch '%s'", node->name,
			                 node->argv[i]);
			continue;
		}
		branch = &flow->nodes[index];
		if (branch == node || branch->kind == MAS_FLOW_PARALLEL ||
		    branch->kind == MAS_FLOW_INTERRUPT) {
			mas_flow_problem(flow, node->line, "node '%s': branch "
			                 "'%s' must be a jq, run, flow, agent or "
			                 "llm node", node->name, branch->name);
			continue;
		}
		branch->is_branch = 1;
		node->branches[node->branch_count++] = index;
	}
}

static void check_branch_edges(struct mas_flow *flow)
{
	for (size_t i = 0; i < flow->edge_count; i++) {
		const struct mas_flow_edge *edge = &flow->edges[i];
		int ends[2] = { edge->from, edge->to };

		for (int e = 0; e < 2; e++)
			if (ends[e] >= 0 && flow->nodes[ends[e]].is_branch)
				mas_flow_problem(flow, edge->line, "node '%s' "
				                 "is a parallel branch: it takes "
				                 "no edges", flow->nodes[ends[e]]
				                 .name);
	}
}

static void resolve_edges(struct mas_flow *flow, char **names)
{
	for (size_t i = 0; i < flow->node_count; i++)
		if (flow->nodes[i].kind == MAS_FLOW_PARALLEL)
			resolve_branches(flow, &flow->nodes[i]);
	resolve_on_error(flow);
	for (size_t i = 0; i < flow->edge_count; i++) {
		struct mas_flow_edge *edge = &flow->edges[i];
		char *from = names[2 * i], *to = names[2 * i + 1];

		edge->from = edge->to = MAS_FLOW_UNKNOWN;
		if (from && to) {
			edge->from = edge_end(flow, edge->line, from);
			edge->to = edge_end(flow, edge->line, to);
		}
		if (edge->from == MAS_FLOW_END)
			mas_flow_problem(flow, edge->line, "no edge leaves 'end'");
		if (edge->to == MAS_FLOW_START)
			mas_flow_problem(flow, edge->line, "no edge enters 'start'");
		free(from);
		free(to);
	}
	free(names);
	check_branch_edges(flow);
}

/* Mark every node reachable along edges, forwards from start or
 * backwards from end, in SEEN (one flag per node). */
static void reach(const struct mas_flow *flow, char *seen, int forwards)
{
	int changed = 1;

	while (changed) {
		changed = 0;
		for (size_t i = 0; i < flow->edge_count; i++) {
			const struct mas_flow_edge *e = &flow->edges[i];
			int a = forwards ? e->from : e->to;
			int b = forwards ? e->to : e->from;
			int a_seen = a == (forwards ? MAS_FLOW_START :
			                   MAS_FLOW_END) ||
			             (a >= 0 && seen[a]);

			if (a_seen && b >= 0 && !seen[b]) {
				seen[b] = 1;
				changed = 1;
			}
		}
		/* an on_error target is reached from its node, and
		 * branches are reached, and reach on, through theirs */
		for (size_t i = 0; i < flow->node_count; i++) {
			const struct mas_flow_node *node = &flow->nodes[i];
			int target = node->on_error;

			if (forwards && seen[i] && target >= 0 &&
			    !seen[target]) {
				seen[target] = 1;
				changed = 1;
			}
			for (size_t b = 0; seen[i] && b < node->branch_count;
			     b++) {
				if (!seen[node->branches[b]]) {
					seen[node->branches[b]] = 1;
					changed = 1;
				}
			}
		}
	}
}

static int has_edge(const struct mas_flow *flow, int from, int to)
{
	for (size_t i = 0; i < flow->edge_count; i++)
		if (flow->edges[i].from == from &&
		    (to == MAS_FLOW_UNKNOWN || flow->edges[i].to == to))
			return 1;
	return 0;
}

static void check_graph(struct mas_flow *flow)
{
	char *from_start = calloc(flow->node_count + 1, 1);
	char *to_end = calloc(flow->node_count + 1, 1);

	if (!from_start || !to_end)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	if (!has_edge(flow, MAS_FLOW_START, MAS_FLOW_UNKNOWN))
		mas_flow_problem(flow, 0, "no edge from start");
	reach(flow, from_start, 1);
	reach(flow, to_end, 0);
	for (size_t i = 0; i < flow->node_count; i++) {
		const struct mas_flow_node *node = &flow->nodes[i];

		if (find_node(flow, node->name) != (int)i)
			continue; /* a duplicate, reported already */
		if (!from_start[i])
			mas_flow_problem(flow, node->line, "node '%s' is unreachable "
			        "from start", node->name);
		else if (!to_end[i])
			mas_flow_problem(flow, node->line, "node '%s' has no path to "
			        "end", node->name);
	}
	free(from_start);
	free(to_end);
}

static void parse_line(struct mas_flow *flow, int line, const char *text,
                       char ***names)
{
	const char *p = skip_space(text);

	if (*p == '\0' || *p == '#')
		return;
	if (strncmp(p, "node", 4) == 0 &&
	    (p[4] == '\0' || isspace((unsigned char)p[4])))
		parse_node(flow, line, p + 4);
	else
		parse_edge(flow, line, p, names);
}

static void start_flow(struct mas_flow *flow, const char *path,
                       const struct mas_engine *engine)
{
	memset(flow, 0, sizeof(*flow));
	flow->path = copy(path, strlen(path));
	flow->recursion_limit = DEFAULT_RECURSION_LIMIT;
	flow->engine = engine;
}

/* One jq expression of the file: a jq node's program or an edge's
 * condition, and where its compiled form goes. */
struct pending_expr {
	int line;
	const char *text;
	struct mas_expr **slot;
	const char *node;         /* a node's name, or NULL: an edge's "if" */
};

static int by_line(const void *a, const void *b)
{
	const struct pending_expr *x = a, *y = b;

	return (x->line > y->line) - (x->line < y->line);
}

/* The file's expressions, in the order of its lines: *COUNT of them,
 * malloc'd. */
static struct pending_expr *pending_exprs(struct mas_flow *flow,
                                          size_t *count)
{
	struct pending_expr *all = calloc(flow->node_count + flow->edge_count
	                                  + 1, sizeof(*all));

	if (!all)
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	*count = 0;
	for (size_t i = 0; i < flow->node_count; i++) {
		struct mas_flow_node *node = &flow->nodes[i];

		if (node->kind == MAS_FLOW_JQ && *node->text)
			all[(*count)++] = (struct pending_expr){ node->line,
				node->text, &node->expr, node->name };
	}
	for (size_t i = 0; i < flow->edge_count; i++) {
		struct mas_flow_edge *edge = &flow->edges[i];

		if (edge->condition_text)
			all[(*count)++] = (struct pending_expr){ edge->line,
				edge->condition_text, &edge->condition, NULL };
	}
	qsort(all, *count, sizeof(*all), by_line);
	return all;
}

/*
 * Compile every jq expression of FLOW as one program: libjq builds its
 * library of builtins anew for each program it compiles, which is most
 * of the start-up of a small flow (a 5-node flow cost 3.3 times a
 * `jq -n 1` process compiling node by node).  When the whole does not
 * compile, each is compiled alone, so that the problems name their
 * lines as before.
 */
static void compile_expressions(struct mas_flow *flow)
{
	size_t count;
	struct pending_expr *all = pending_exprs(flow, &count);
	const char **texts = calloc(count + 1, sizeof(*texts));
	struct mas_expr **exprs = calloc(count + 1, sizeof(*exprs));

	if (!texts || !exprs)
		mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
	for (size_t i = 0; i < count; i++)
		texts[i] = all[i].text;
	if (mas_expr_compile_many(texts, count, exprs) == 0) {
		for (size_t i = 0; i < count; i++)
			*all[i].slot = exprs[i];
	} else {
		for (size_t i = 0; i < count; i++) {
			char what[128];

			if (all[i].node)
				snprintf(what, sizeof(what), "node '%s'",
				         all[i].node);
			else
				snprintf(what, sizeof(what), "if");
			*all[i].slot = compile(flow, all[i].line, what,
			                       all[i].text);
		}
	}
	free(texts);
	free(exprs);
	free(all);
}

/* Every line of TEXT (LENGTH bytes), then the graph.  A line is read up
 * to its first NUL byte, as getline(3) and C strings would have it. */
static int parse_text(struct mas_flow *flow, const char *text,
                      size_t length)
{
	const char *end = text + length;
	char **names = NULL;
	int line = 0;

	while (text < end) {
		const char *newline = memchr(text, '\n', (size_t)(end - text));
		size_t size = newline ? (size_t)(newline - text)
		                      : (size_t)(end - text);
		char *one = copy(text, size);

		parse_line(flow, ++line, one, &names);
		free(one);
		text += size + (newline ? 1 : 0);
	}
	resolve_edges(flow, names);
	check_graph(flow);
	if (!flow->syntax_only)
		compile_expressions(flow);
	return flow->problems;
}

/* The whole of FILE, malloc'd, *LENGTH bytes; NULL on a read error. */
static char *read_all(FILE *file, size_t *length)
{
	char *text = NULL;
	size_t capacity = 0;
	size_t got;

	*length = 0;
	do {
		if (capacity - *length < 4096) {
			capacity = capacity * 2 + 4096;
			text = realloc(text, capacity);
			if (!text)
				mas_die(MAS_EXIT_USAGE, "out of memory");
		}
		got = fread(text + *length, 1, capacity - *length, file);
		*length += got;
	} while (got > 0);
	if (ferror(file)) {
		free(text);
		return NULL;
	}
	return text;
}

int mas_flow_load(struct mas_flow *flow, const char *path,
                  const struct mas_engine *engine)
{
	return mas_flow_load_to(flow, path, engine, NULL);
}

int mas_flow_load_to(struct mas_flow *flow, const char *path,
                     const struct mas_engine *engine, FILE *problem_log)
{
	FILE *file = fopen(path, "r");
	size_t length;
	char *text;

	start_flow(flow, path, engine);
	flow->problem_log = problem_log;
	if (!file) {
		mas_flow_problem(flow, 0, "%s", strerror(errno));
		return -1;
	}
	text = read_all(file, &length);
	if (!text) {
		mas_flow_problem(flow, 0, "%s", strerror(errno));
		fclose(file);
		return -1;
	}
	fclose(file);
	parse_text(flow, text, length);
	free(text);
	return flow->problems;
}

int mas_flow_parse(struct mas_flow *flow, const char *name,
                   const char *text, size_t length)
{
	start_flow(flow, name, NULL);
	flow->syntax_only = 1;
	return parse_text(flow, text, length);
}

/* DOT and Mermaid both take a quoted label; escape what would end it. */
static void put_label(FILE *out, const char *text, int mermaid)
{
	for (; *text; text++) {
		if (mermaid && *text == '"')
			fputs("#quot;", out);
		else if (!mermaid && (*text == '"' || *text == '\\'))
			fprintf(out, "\\%c", *text);
		else
			fputc(*text, out);
	}
}

/* Mermaid reads "end" as a keyword, so there the ends are __start__ and
 * __end__, LangGraph's names. */
static const char *end_name(const struct mas_flow *flow, int index,
                            int mermaid)
{
	if (index == MAS_FLOW_START)
		return mermaid ? "__start__" : "start";
	if (index == MAS_FLOW_END)
		return mermaid ? "__end__" : "end";
	if (index < 0)
		return "?";
	return flow->nodes[index].name;
}

static const char *kind_name(enum mas_flow_kind kind)
{
	return kinds[kind].name;
}

static void edge_label(FILE *out, const struct mas_flow_edge *edge,
                       int mermaid)
{
	if (edge->condition_text) {
		fputs("if ", out);
		put_label(out, edge->condition_text, mermaid);
	}
	if (edge->max)
		fprintf(out, "%smax %ld", edge->condition_text ? " " : "",
		        edge->max);
}

static void graph_dot(const struct mas_flow *flow, FILE *out)
{
	fputs("digraph flow {\n\tstart [shape=circle];\n"
	      "\tend [shape=doublecircle];\n", out);
	for (size_t i = 0; i < flow->node_count; i++)
		fprintf(out, "\t\"%s\" [shape=box, label=\"%s\\n(%s)\"];\n",
		        flow->nodes[i].name, flow->nodes[i].name,
		        kind_name(flow->nodes[i].kind));
	for (size_t i = 0; i < flow->edge_count; i++) {
		const struct mas_flow_edge *edge = &flow->edges[i];

		fprintf(out, "\t\"%s\" -> \"%s\"",
		        end_name(flow, edge->from, 0),
		        end_name(flow, edge->to, 0));
		if (edge->condition_text || edge->max) {
			fputs(" [label=\"", out);
			edge_label(out, edge, 0);
			fputs("\"]", out);
		}
		fputs(";\n", out);
	}
	for (size_t i = 0; i < flow->node_count; i++)
		for (size_t b = 0; b < flow->nodes[i].branch_count; b++)
			fprintf(out, "\t\"%s\" -> \"%s\" [style=dashed];\n",
			        flow->nodes[i].name,
			        flow->nodes[flow->nodes[i].branches[b]].name);
	/* where a failure goes: a node reached only so is no orphan */
	for (size_t i = 0; i < flow->node_count; i++)
		if (flow->nodes[i].on_error != MAS_FLOW_UNKNOWN)
			fprintf(out, "\t\"%s\" -> \"%s\" [style=dashed, "
			        "label=\"on error\"];\n", flow->nodes[i].name,
			        end_name(flow, flow->nodes[i].on_error, 0));
	fputs("}\n", out);
}

static void graph_mermaid(const struct mas_flow *flow, FILE *out)
{
	fputs("flowchart TD\n\t__start__((start))\n"
	      "\t__end__(((end)))\n", out);
	for (size_t i = 0; i < flow->node_count; i++)
		fprintf(out, "\t%s[\"%s (%s)\"]\n", flow->nodes[i].name,
		        flow->nodes[i].name, kind_name(flow->nodes[i].kind));
	for (size_t i = 0; i < flow->edge_count; i++) {
		const struct mas_flow_edge *edge = &flow->edges[i];

		fprintf(out, "\t%s -->", end_name(flow, edge->from, 1));
		if (edge->condition_text || edge->max) {
			fputs("|\"", out);
			edge_label(out, edge, 1);
			fputs("\"|", out);
		}
		fprintf(out, " %s\n", end_name(flow, edge->to, 1));
	}
	for (size_t i = 0; i < flow->node_count; i++)
		for (size_t b = 0; b < flow->nodes[i].branch_count; b++)
			fprintf(out, "\t%s -.-> %s\n", flow->nodes[i].name,
			        flow->nodes[flow->nodes[i].branches[b]].name);
	for (size_t i = 0; i < flow->node_count; i++)
		if (flow->nodes[i].on_error != MAS_FLOW_UNKNOWN)
			fprintf(out, "\t%s -.->|\"on error\"| %s\n",
			        flow->nodes[i].name,
			        end_name(flow, flow->nodes[i].on_error, 1));
}

int mas_flow_graph(const struct mas_flow *flow, const char *format,
                   FILE *out)
{
	if (strcmp(format, "dot") == 0)
		graph_dot(flow, out);
	else if (strcmp(format, "mermaid") == 0)
		graph_mermaid(flow, out);
	else
		return -1;
	return 0;
}

static void release_node(struct mas_flow_node *node)
{
	free(node->name);
	free(node->text);
	mas_expr_free(node->expr);
	free_argv(node->argv);
	free(node->on_error_name);
	free(node->output);
	free(node->branches);
	mas_flow_release(node->sub);
	free(node->sub);
	if (node->release)
		node->release(node->agent);
}

void mas_flow_release(struct mas_flow *flow)
{
	if (!flow)
		return;
	mas_flow_runner_free(flow);
	for (size_t i = 0; i < flow->node_count; i++)
		release_node(&flow->nodes[i]);
	for (size_t i = 0; i < flow->edge_count; i++) {
		mas_expr_free(flow->edges[i].condition);
		free(flow->edges[i].condition_text);
	}
	free(flow->nodes);
	free(flow->edges);
	free(flow->path);
	memset(flow, 0, sizeof(*flow));
}
