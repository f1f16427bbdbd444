/*
 * mas-serve — the original REST API as a daemon: the agents, flows and
 * durable tasks over HTTP, with API keys and rate limits.  See
 * mas-serve(1).
 */
#include <argp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"
#include "log.h"
#include "mas.h"
#include "record.h"
#include "serve.h"
#include "serve-keys.h"
#include "banned.h"

enum {
	OPT_LISTEN = 0x200,
	OPT_KEYS,
	OPT_FLOWS_DIR,
	OPT_URL,
	OPT_THREADS,
	OPT_WORKERS,
	OPT_TASK_WORKERS,
	OPT_QUEUE,
	OPT_TIMEOUT,
	OPT_TASK_TIMEOUT,
	OPT_MAX_BODY,
	OPT_HEADER_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_SHUTDOWN_TIMEOUT,
	OPT_CONNECTIONS,
	OPT_RATE,
	OPT_BURST,
	OPT_ACCESS_LOG,
	OPT_NO_SESSIONS,
	OPT_KB,
	OPT_CORPUS,
	OPT_DATA_DIR,
	OPT_ROUTES,
	OPT_WWW,
};

struct serve_command {
	struct mas_cli cli;
	struct mas_engine engine;
	const char *words[3];      /* verb, and its arguments */
	int word_count;
	const char *routes;        /* keys add */
	const char *rate, *burst;  /* as given, for keys add */
	int no_sessions;
};

/* Each option sets its configuration key as a flag: flags > environment
 * > file > defaults, and the server reads the keys. */
static const struct { int key; const char *name; } settings[] = {
	{ OPT_LISTEN, "serve.listen" },
	{ OPT_KEYS, "serve.keys" },
	{ OPT_FLOWS_DIR, "serve.flows_dir" },
	{ OPT_WWW, "serve.www" },
	{ OPT_URL, "bus.url" },
	{ OPT_THREADS, "serve.threads" },
	{ OPT_WORKERS, "serve.workers" },
	{ OPT_TASK_WORKERS, "serve.task_workers" },
	{ OPT_QUEUE, "serve.queue" },
	{ OPT_TIMEOUT, "serve.timeout" },
	{ OPT_TASK_TIMEOUT, "serve.task_timeout" },
	{ OPT_MAX_BODY, "serve.max_body" },
	{ OPT_HEADER_TIMEOUT, "serve.header_timeout" },
	{ OPT_IDLE_TIMEOUT, "serve.idle_timeout" },
	{ OPT_SHUTDOWN_TIMEOUT, "serve.shutdown_timeout" },
	{ OPT_CONNECTIONS, "serve.connections" },
	{ OPT_RATE, "serve.rate" },
	{ OPT_BURST, "serve.burst" },
	{ OPT_ACCESS_LOG, "serve.access_log" },
	{ OPT_KB, "chat.kb" },
	{ OPT_CORPUS, "research.corpus" },
	{ OPT_DATA_DIR, "analyze.data_dir" },
};

static const struct argp_option option_table[] = {
	{ "listen", OPT_LISTEN, "HOST:PORT", 0,
	  "Listen there (default 127.0.0.1:8000; port 0: any free one)", 0 },
	{ "keys", OPT_KEYS, "FILE", 0,
	  "API keys (digests, names, routes); without one the API is open, "
	  "on loopback only", 0 },
	{ "flows-dir", OPT_FLOWS_DIR, "DIR", 0,
	  "Serve the flows DIR/NAME.flow at /flows/NAME", 0 },
	{ "www", OPT_WWW, "DIR", 0,
	  "Serve the console's files from DIR instead of the built-in "
	  "ones", 0 },
	{ "url", OPT_URL, "URL", 0,
	  "The bus for tasks: sqlite:PATH or nats://HOST:PORT (default: "
	  "bus.url, else the state store)", 0 },
	{ "kb", OPT_KB, "FILE", 0, "The chat agent's knowledge base", 0 },
	{ "corpus", OPT_CORPUS, "PATHS", 0,
	  "The research agent's corpus, folders or files separated by ':'",
	  0 },
	{ "data-dir", OPT_DATA_DIR, "DIR", 0,
	  "Where the analysis agent finds data_source files", 0 },
	{ "no-sessions", OPT_NO_SESSIONS, NULL, 0,
	  "Chat remembers no sessions", 0 },
	{ "threads", OPT_THREADS, "N", 0,
	  "HTTP threads (default: one per CPU)", 0 },
	{ "workers", OPT_WORKERS, "N", 0,
	  "Request workers, each with its own agents (default: one per CPU)",
	  0 },
	{ "task-workers", OPT_TASK_WORKERS, "N", 0,
	  "Task workers in this server; 0 leaves tasks to mas-bus serve "
	  "workers (default 2)", 0 },
	{ "queue", OPT_QUEUE, "N", 0,
	  "Requests waiting for a worker before 503 (default 256)", 0 },
	{ "request-timeout", OPT_TIMEOUT, "SECONDS", 0,
	  "Answer 504 when an agent takes longer (default 30)", 0 },
	{ "task-timeout", OPT_TASK_TIMEOUT, "SECONDS", 0,
	  "Time a task may run; a worker that died is replaced after it "
	  "and a second (default 300)", 0 },
	{ "max-body", OPT_MAX_BODY, "BYTES", 0,
	  "Answer 413 to larger bodies (default 1048576)", 0 },
	{ "header-timeout", OPT_HEADER_TIMEOUT, "SECONDS", 0,
	  "Close a connection whose request did not arrive whole in time "
	  "(default 10)", 0 },
	{ "idle-timeout", OPT_IDLE_TIMEOUT, "SECONDS", 0,
	  "Close an idle connection (default 60)", 0 },
	{ "connections", OPT_CONNECTIONS, "N", 0,
	  "Connections open at once, at most (default 1024)", 0 },
	{ "rate", OPT_RATE, "R", 0,
	  "Requests per key (per client when open): N, N/s, N/m or N/h; "
	  "keys add: the key's own", 0 },
	{ "burst", OPT_BURST, "N", 0,
	  "Requests a key may make at once (default: the rate)", 0 },
	{ "shutdown-timeout", OPT_SHUTDOWN_TIMEOUT, "SECONDS", 0,
	  "On SIGTERM, time given to requests in flight (default 10)", 0 },
	{ "access-log", OPT_ACCESS_LOG, "FILE", 0,
	  "Log each request to FILE, - for stderr (the default), off for "
	  "none", 0 },
	{ "routes", OPT_ROUTES, "LIST", 0,
	  "keys add: the routes the key may call: tasks, analysis, chat, "
	  "research, flows, metrics, or * (default)", 0 },
	{ 0 }
};

static error_t parse_option(int key, char *arg, struct argp_state *state)
{
	struct serve_command *c = state->input;

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (settings[i].key == key)
			mas_config_set(&c->cli.config, settings[i].name, arg,
			               MAS_CONFIG_FLAG);
	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &c->cli;
		state->child_inputs[1] = &c->engine;
		break;
	case OPT_RATE: c->rate = arg; break;
	case OPT_BURST: c->burst = arg; break;
	case OPT_ROUTES: c->routes = arg; break;
	case OPT_NO_SESSIONS: c->no_sessions = 1; break;
	case ARGP_KEY_ARG:
		if (c->word_count == 3)
			argp_error(state, "too many arguments");
		c->words[c->word_count++] = arg;
		break;
	default:
		for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]);
		     i++)
			if (settings[i].key == key)
				return 0;
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* ---- mas-serve keys add|list|remove ---- */

static const char *key_file(struct serve_command *c)
{
	const char *path = mas_config_get(&c->cli.config, "serve.keys");

	if (!path)
		mas_die(MAS_EXIT_USAGE, "keys: no key file: give --keys FILE "
		        "(or serve.keys, MAS_SERVE_KEYS)");
	return path;
}

static int keys_add(struct serve_command *c)
{
	char key[MAS_SERVE_KEY_SIZE], *error = NULL;

	if (c->word_count != 3)
		mas_die(MAS_EXIT_USAGE, "keys add: which name? keys add NAME "
		        "[--routes LIST]");
	if (mas_serve_keys_add(key_file(c), c->words[2],
	                       c->routes ? c->routes : "*", c->rate, c->burst,
	                       key, &error))
		mas_die(MAS_EXIT_USAGE, "keys add: %s", error);
	printf("%s\n", key);
	memset(key, 0, sizeof(key));
	mas_info("the key is shown once: keep it; %s holds only its digest",
	         key_file(c));
	return MAS_EXIT_OK;
}

static int keys_list(struct serve_command *c)
{
	jv list = mas_serve_keys_list(key_file(c));

	if (!jv_is_valid(list)) {
		jv message = jv_invalid_get_msg(list);
		mas_error_log("keys list: %s", jv_string_value(message));
		jv_free(message);
		return MAS_EXIT_USAGE;
	}
	jv_array_foreach(list, i, entry) {
		jv line = jv_dump_string(entry, 0);
		puts(jv_string_value(line));
		jv_free(line);
	}
	jv_free(list);
	return MAS_EXIT_OK;
}

static int keys_remove(struct serve_command *c)
{
	char *error = NULL;
	int removed;

	if (c->word_count != 3)
		mas_die(MAS_EXIT_USAGE, "keys remove: which name?");
	removed = mas_serve_keys_remove(key_file(c), c->words[2], &error);
	if (removed < 0)
		mas_die(MAS_EXIT_USAGE, "keys remove: %s", error);
	if (removed == 0)
		mas_error_log("keys remove: no key named '%s'", c->words[2]);
	return removed ? MAS_EXIT_OK : MAS_EXIT_RECORDS;
}

static int keys(struct serve_command *c)
{
	const char *verb = c->word_count > 1 ? c->words[1] : "";

	if (strcmp(verb, "add") == 0)
		return keys_add(c);
	if (strcmp(verb, "list") == 0 && c->word_count == 2)
		return keys_list(c);
	if (strcmp(verb, "remove") == 0)
		return keys_remove(c);
	mas_die(MAS_EXIT_USAGE, "keys: expected add NAME, list or remove "
	        "NAME");
}

/* ---- serving ---- */

/* mas-flow beside this program when it is there (an uninstalled
 * build), else the one on PATH. */
static char *flow_command(void)
{
	char self[PATH_MAX], *slash, *path;
	ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (length > 0) {
		self[length] = '\0';
		slash = strrchr(self, '/');
		if (slash && asprintf(&path, "%.*s/mas-flow",
		                      (int)(slash - self), self) >= 0) {
			if (access(path, X_OK) == 0)
				return path;
			free(path);
		}
	}
	return strdup("mas-flow");
}

static int serve(struct serve_command *c)
{
	struct mas_serve_options options = { 0 };
	char *error = NULL, *command;
	int status;

	if (c->word_count > 0)
		mas_die(MAS_EXIT_USAGE, "'%s' is not a verb: keys or openapi, "
		        "or none to serve", c->words[0]);
	if (mas_serve_options_read(&options, &c->cli, &error))
		mas_die(MAS_EXIT_USAGE, "%s", error);
	/* Checks the model settings now; each worker has its own client. */
	c->engine.per_thread = 1;
	mas_engine_setup(&c->engine);
	command = flow_command();
	options.engine = &c->engine;
	options.flow_command = command;
	options.sessions = !c->no_sessions;
	status = mas_serve_main(&options);
	free(command);
	return status;
}

int main(int argc, char **argv)
{
	static const char doc[] =
		"Serve the agents, flows and durable tasks over HTTP: the "
		"original system's REST API, with API keys, rate limits, "
		"health and metrics.\v"
		"`mas-serve keys add NAME --routes LIST` makes a key (shown "
		"once), `keys list` and `keys remove NAME` manage the key "
		"file; `mas-serve openapi` prints the API's description.  "
		"See mas-serve(1).";
	struct argp_child children[] = {
		{ &mas_cli_argp, 0, "Options every mas program takes:", 0 },
		{ &mas_engine_argp, 0, "Options for a model endpoint "
		  "(OPENAI_BASE_URL, OPENAI_API_KEY):", 0 },
		{ 0 }
	};
	struct argp argp = { option_table, parse_option,
		             "\nkeys add NAME|list|remove NAME\nopenapi", doc,
		             children, NULL, NULL };
	struct serve_command command = { 0 };
	int status;

	mas_cli_init(&command.cli, "mas-serve", "serve");
	mas_engine_init(&command.engine, &command.cli);
	mas_cli_parse(&command.cli, &argp, argc, argv, &command);
	mas_cli_setup(&command.cli);
	mas_output_init();
	if (command.word_count > 0 && strcmp(command.words[0], "keys") == 0)
		status = keys(&command);
	else if (command.word_count == 1 &&
	         strcmp(command.words[0], "openapi") == 0)
		status = puts(mas_serve_openapi()) < 0 ? MAS_EXIT_IO
		                                        : MAS_EXIT_OK;
	else
		status = serve(&command);
	mas_engine_release(&command.engine);
	mas_cli_release(&command.cli);
	mas_output_close();
	return status;
}
