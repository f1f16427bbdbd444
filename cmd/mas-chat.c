/*
 * mas-chat — the customer-service agent: a message in, a reply with
 * intent, sentiment, confidence and suggested actions out, remembering
 * sessions.  See mas-chat(1) and, for the knowledge base, mas-chat(5).
 */
#include <argp.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "chat.h"
#include "cli.h"
#include "engine.h"
#include "id.h"
#include "lineedit.h"
#include "log.h"
#include "mas.h"
#include "record.h"
#include "session.h"
#include "store.h"

enum {
	OPT_KB = 'k',
	OPT_INTERACTIVE = 'i',
	OPT_SESSION = 's',
	OPT_SENTIMENT_TRAIN = 0x200,
	OPT_LANG,
	OPT_SESSION_TTL,
	OPT_NO_SESSIONS,
	OPT_THRESHOLD,
	OPT_OOS_RECALL,
	OPT_TEXT_FIELD,
	OPT_LABEL_FIELD,
	OPT_LABEL_MAP,
};

struct chat_command {
	struct mas_cli cli;
	struct mas_engine engine;
	struct mas_chat_options options;
	int interactive;
	int no_sessions;
	int sessions_mode;        /* `mas-chat sessions VERB [ID]` */
	int train_mode;           /* `mas-chat train` */
	const char *verb, *id;
	struct mas_store store;
	int store_open;
	struct mas_sessions *sessions;
	jv unavailable;           /* why no record can be answered now */
};

static const struct argp_option options[] = {
	{ "kb", OPT_KB, "FILE", 0,
	  "Knowledge base: intents, FAQ, slots, escalation rules "
	  "(default: chat.kb, MAS_KB); see mas-chat(5)", 0 },
	{ "sentiment-train", OPT_SENTIMENT_TRAIN, "FILE", 0,
	  "Learn sentiment from labelled examples in FILE instead of the "
	  "lexicon: JSON Lines, or CSV or TSV with a header (.csv, .tsv)",
	  0 },
	{ "text-field", OPT_TEXT_FIELD, "NAME", 0,
	  "The text's field or column in --sentiment-train's examples "
	  "(default text)", 0 },
	{ "label-field", OPT_LABEL_FIELD, "NAME", 0,
	  "The label's field or column (default label)", 0 },
	{ "label-map", OPT_LABEL_MAP, "MAP", 0,
	  "Label values to sentiments, as 1=positive,0=negative (default: "
	  "positive, neutral, negative, or pos, neu, neg)", 0 },
	{ "lang", OPT_LANG, "LANG", 0,
	  "Reply in en or zh (default: the record's "
	  "context.preferred_language, else the message's language)", 0 },
	{ "session", OPT_SESSION, "ID", 0,
	  "session_id for records without one, and for -i", 0 },
	{ "session-ttl", OPT_SESSION_TTL, "SECONDS", 0,
	  "Forget sessions idle for SECONDS, 0 never (default 86400)", 0 },
	{ "no-sessions", OPT_NO_SESSIONS, NULL, 0,
	  "Remember nothing: no state store", 0 },
	{ "threshold", OPT_THRESHOLD, "P", 0,
	  "Refuse intents less probable than P (default: calibrated on the "
	  "knowledge base)", 0 },
	{ "oos-recall", OPT_OOS_RECALL, "P", 0,
	  "Calibrate the threshold to refuse a fraction P of the knowledge "
	  "base's out-of-scope examples (default: 0.75 unless it costs more "
	  "than 2 points of in-scope accuracy); 0: for the most in-scope "
	  "accuracy plus out-of-scope recall", 0 },
	{ "interactive", OPT_INTERACTIVE, NULL, 0,
	  "Converse on the terminal, in one session, until Ctrl-D", 0 },
	{ 0 }
};

static double parse_threshold(const char *text)
{
	char *end;
	double value = strtod(text, &end);

	if (end == text || *end != '\0' || !(value >= 0 && value < 1))
		mas_die(MAS_EXIT_USAGE, "--threshold: '%s' is not a number "
		        "from 0 up to 1", text);
	return value;
}

static double parse_recall(const char *text)
{
	char *end;
	double value = strtod(text, &end);

	if (end == text || *end != '\0' || !(value >= 0 && value <= 1))
		mas_die(MAS_EXIT_USAGE, "--oos-recall: '%s' is not a number "
		        "from 0 to 1", text);
	return value > 0 ? value : -1; /* -1: the accuracy+recall rule */
}

/* "en", "zh" or a locale name starting with either. */
static const char *parse_lang(const char *text)
{
	if ((strncmp(text, "en", 2) == 0 || strncmp(text, "zh", 2) == 0) &&
	    strchr("_-.", text[2]))
		return text;
	mas_die(MAS_EXIT_USAGE, "--lang: '%s' is not en or zh", text);
}

static void positional(struct chat_command *command, char *arg,
                       struct argp_state *state)
{
	if (!command->sessions_mode)
		mas_cli_add_file(&command->cli, arg);
	else if (!command->verb)
		command->verb = arg;
	else if (!command->id)
		command->id = arg;
	else
		argp_error(state, "sessions %s: too many arguments",
		           command->verb);
}

static error_t parse_option(int key, char *arg, struct argp_state *state)
{
	struct chat_command *command = state->input;
	struct mas_chat_options *o = &command->options;

	switch (key) {
	case ARGP_KEY_INIT:
		state->child_inputs[0] = &command->cli;
		state->child_inputs[1] = &command->engine;
		break;
	case OPT_KB:
		mas_config_set(&command->cli.config, "chat.kb", arg,
		               MAS_CONFIG_FLAG);
		break;
	case OPT_SENTIMENT_TRAIN: o->sentiment_train = arg; break;
	case OPT_TEXT_FIELD: o->text_field = arg; break;
	case OPT_LABEL_FIELD: o->label_field = arg; break;
	case OPT_LABEL_MAP: o->label_map = arg; break;
	case OPT_LANG: o->lang = parse_lang(arg); break;
	case OPT_SESSION:
		if (*arg == '\0')
			argp_error(state, "--session: must not be empty");
		o->session = arg;
		break;
	case OPT_SESSION_TTL:
		mas_cli_parse_count("--session-ttl", arg, 0, 1L << 40);
		mas_config_set(&command->cli.config, "chat.session_ttl", arg,
		               MAS_CONFIG_FLAG);
		break;
	case OPT_NO_SESSIONS: command->no_sessions = 1; break;
	case OPT_THRESHOLD: o->threshold = parse_threshold(arg); break;
	case OPT_OOS_RECALL: o->oos_recall = parse_recall(arg); break;
	case OPT_INTERACTIVE: command->interactive = 1; break;
	case ARGP_KEY_ARG: positional(command, arg, state); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* chat.session_ttl (--session-ttl, MAS_CHAT_SESSION_TTL) in seconds. */
static double session_ttl(const struct mas_config *config)
{
	const char *text = mas_config_get(config, "chat.session_ttl");
	char *end;
	double ttl;

	if (!text)
		return 0;
	ttl = strtod(text, &end);
	if (end == text || *end != '\0' || !(ttl >= 0) || isinf(ttl))
		mas_die(MAS_EXIT_USAGE, "chat.session_ttl (--session-ttl, "
		        "MAS_CHAT_SESSION_TTL): '%s' is not a number of "
		        "seconds", text);
	return ttl;
}

static void open_sessions(struct chat_command *command)
{
	char *error = NULL;
	int status = mas_store_open_configured(&command->store,
	                                       &command->cli.config, &error);

	if (MAS_STORE_TRANSIENT(status)) {
		/* for now: every record says so, and the run exits 75 */
		command->unavailable = mas_store_unavailable_error(status,
		                                                   error);
		mas_error_log("state store: %s", error);
		free(error);
		return;
	}
	if (status != 0)
		mas_die(MAS_EXIT_USAGE, "state store: %s",
		        error ? error : "cannot open");
	command->store_open = 1;
	command->options.store = &command->store;
	command->sessions = mas_sessions_new(&command->store,
	                                     session_ttl(&command->cli.config),
	                                     &error);
	if (!command->sessions)
		mas_die(MAS_EXIT_USAGE, "state store: %s",
		        error ? error : "cannot use");
	status = mas_sessions_purge(command->sessions, &error);
	if (MAS_STORE_TRANSIENT(status)) {
		command->unavailable = mas_store_unavailable_error(status,
		                                                   error);
		mas_error_log("state store: %s", error);
	} else if (status != 0) {
		mas_die(MAS_EXIT_USAGE, "state store: %s",
		        error ? error : "cannot use");
	}
	free(error);
}

static void close_sessions(struct chat_command *command)
{
	mas_sessions_free(command->sessions);
	if (command->store_open)
		mas_store_close(&command->store);
}

/* ---- mas-chat sessions list|show|delete ---- */

static void print_json(jv value)
{
	jv text = jv_dump_string(value, 0);

	fputs(jv_string_value(text), stdout);
	fputc('\n', stdout);
	jv_free(text);
}

static int sessions_command(struct chat_command *command)
{
	const char *verb = command->verb;
	int status = MAS_EXIT_OK;

	if (!verb || (strcmp(verb, "list") != 0 && strcmp(verb, "show") != 0 &&
	              strcmp(verb, "delete") != 0))
		mas_die(MAS_EXIT_USAGE, "sessions: expected list, show ID or "
		        "delete ID");
	if ((strcmp(verb, "list") == 0) != (command->id == NULL))
		mas_die(MAS_EXIT_USAGE, "sessions %s: %s", verb,
		        command->id ? "takes no session id"
		                    : "which session? give its id");
	open_sessions(command);
	mas_output_init();
	if (strcmp(verb, "list") == 0) {
		jv list = mas_sessions_list(command->sessions);
		jv_array_foreach(list, i, session)
			print_json(session);
		jv_free(list);
	} else if (strcmp(verb, "show") == 0) {
		jv session = mas_sessions_show(command->sessions, command->id);
		if (jv_get_kind(session) == JV_KIND_NULL) {
			mas_error_log("sessions show: no session '%s'",
			              command->id);
			status = MAS_EXIT_RECORDS;
		}
		if (jv_get_kind(session) == JV_KIND_NULL)
			jv_free(session);
		else
			print_json(session);
	} else {
		int deleted = mas_sessions_delete(command->sessions,
		                                  command->id);
		if (deleted == 0)
			mas_error_log("sessions delete: no session '%s'",
			              command->id);
		status = deleted > 0 ? MAS_EXIT_OK : MAS_EXIT_RECORDS;
	}
	close_sessions(command);
	return status;
}

/* ---- the interactive mode ---- */

struct conversation {
	size_t streamed;       /* bytes of the reply printed as they came */
};

static void print_piece(void *user, const char *text, size_t length)
{
	struct conversation *c = user;

	fwrite(text, 1, length, stdout);
	fflush(stdout);
	c->streamed += length;
}

static const char *string_at(jv object, const char *key) /* borrows */
{
	jv value = jv_object_get(jv_copy(object), jv_string(key));
	const char *text = jv_get_kind(value) == JV_KIND_STRING
	                           ? jv_string_value(value) : "";

	jv_free(value); /* OBJECT still holds it */
	return text;
}

/* "a, b, c" from an array of strings (consumed). */
static jv joined(jv list)
{
	jv text = jv_string("");

	if (jv_get_kind(list) == JV_KIND_ARRAY)
		jv_array_foreach(list, i, item) {
			if (i > 0)
				text = jv_string_append_str(text, ", ");
			if (jv_get_kind(item) == JV_KIND_STRING)
				text = jv_string_append_str(
					text, jv_string_value(item));
			jv_free(item);
		}
	jv_free(list);
	return text;
}

/* TEXT on a line of its own after a reply, dimmed on a terminal. */
static void print_note(const char *text)
{
	int tty = isatty(STDOUT_FILENO);

	printf("%s%s%s\n", tty ? "\x1b[2m" : "", text, tty ? "\x1b[0m" : "");
}

/* The line under a reply: what mas-chat understood. */
static void print_understanding(jv result) /* borrows */
{
	jv sentiment = jv_object_get(jv_copy(result), jv_string("sentiment"));
	jv actions = joined(jv_object_get(jv_copy(result),
	                                  jv_string("suggested_actions")));
	jv confidence = jv_object_get(jv_copy(result),
	                              jv_string("confidence"));
	jv line = jv_string_fmt("  [%s %.2f, %s; %s]",
	                        string_at(result, "intent"),
	                        jv_number_value(confidence),
	                        string_at(sentiment, "label"),
	                        jv_string_value(actions));

	print_note(jv_string_value(line));
	jv_free(line);
	jv_free(sentiment);
	jv_free(confidence);
	jv_free(actions);
}

/* The model's text printed so far is no answer: the model failed
 * half-way, and what stands instead follows. */
static void abandon_streamed(const struct conversation *c)
{
	if (c->streamed == 0)
		return;
	printf(" ");
	print_note("[abandoned: the model stopped answering]");
	fflush(stdout);
}

static void print_reply(struct conversation *c, jv result)
{
	jv meta, engine, reason;

	if (!jv_is_valid(result)) {
		jv error = jv_invalid_get_msg(result);
		abandon_streamed(c);
		mas_error_log("%s", string_at(error, "message"));
		jv_free(error);
		return;
	}
	meta = jv_object_get(jv_copy(result), jv_string("meta"));
	engine = jv_object_get(jv_copy(meta), jv_string("engine"));
	reason = jv_object_get(meta, jv_string("fallback_reason"));
	/* A streamed reply is on the screen already, unless the model
	 * failed half-way and the embedded one stands instead: then the
	 * person is told, once, on stderr (the engine logs nothing). */
	if (jv_get_kind(reason) == JV_KIND_STRING) {
		abandon_streamed(c);
		mas_warn("the model failed (%s): this answer is the embedded "
		         "engine's, without the model",
		         jv_string_value(reason));
		c->streamed = 0;
	}
	if (c->streamed == 0)
		printf("%s\n", string_at(result, "response"));
	else
		printf("\n");
	print_understanding(result);
	fflush(stdout);
	jv_free(engine);
	jv_free(reason);
	jv_free(result);
}

/* Ctrl-C while the reply came: dropped, whatever it was. */
static void drop_reply(const struct conversation *c, jv result)
{
	printf("%s", c->streamed ? " " : "");
	print_note("[cancelled]");
	fflush(stdout);
	jv_free(result);
}

static char *trim(char *line)
{
	size_t n = strlen(line);

	while (n > 0 && strchr(" \t\r\n", line[n - 1]))
		line[--n] = '\0';
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

/* One question and its answer; the terminal stays quiet meanwhile, and
 * Ctrl-C cancels the answer (the turn is still remembered). */
static void ask(struct mas_chat *chat, struct mas_lineedit *editor,
                struct conversation *c, const char *message,
                const char *session)
{
	int stop = mas_lineedit_busy(editor);
	jv result;

	c->streamed = 0;
	result = mas_chat_reply_wait(chat, JV_OBJECT(jv_string("message"),
	                                             jv_string(message),
	                                             jv_string("session_id"),
	                                             jv_string(session)),
	                             stop);
	if (mas_lineedit_idle(editor))
		drop_reply(c, result);
	else
		print_reply(c, result);
}

static int interactive(struct chat_command *command, struct mas_chat *chat,
                       struct mas_lineedit *editor,
                       struct conversation *conversation)
{
	char id[MAS_ID_SIZE];
	const char *session = command->options.session;
	char *line;

	if (!session) {
		mas_id_new(id);
		session = id;
	}
	mas_output_init();
	if (mas_lineedit_terminal(editor))
		fprintf(stderr, "mas-chat: session %s; Ctrl-D ends\n",
		        session);
	while ((line = mas_lineedit_read(editor, "> ")) != NULL) {
		char *message = trim(line);
		if (strcmp(message, "/quit") == 0) {
			free(line);
			break;
		}
		if (*message) {
			mas_lineedit_add_history(editor, message);
			ask(chat, editor, conversation, message, session);
		}
		free(line);
	}
	return MAS_EXIT_OK;
}

/* ---- records ---- */

/* The engine comes first: mas_engine_wait finds it there. */
struct loop_context {
	struct mas_engine *engine;
	struct chat_command *command;
	struct mas_chat *chat;
};

static void each_record(struct mas_run *run, jv record, void *data)
{
	struct loop_context *context = data;

	mas_agent_start(&context->command->cli, run, record, mas_chat_start,
	                context->chat);
}

static int records(struct chat_command *command, struct mas_chat *chat)
{
	struct loop_context context = { &command->engine, command, chat };
	struct mas_run_options run = { 0 };

	run.files = command->cli.files;
	run.file_count = command->cli.file_count;
	run.data = &context;
	run.each = each_record;
	run.jobs = mas_engine_jobs(&command->engine);
	run.wait = mas_engine_wait;
	if (jv_is_valid(command->unavailable))
		return mas_run_records_failing(&run,
		                               jv_copy(command->unavailable));
	return mas_run_records(&run);
}

/*
 * With no knowledge base configured, the installed example one answers,
 * and stderr says so once; without it installed, the error names where
 * it was looked for.
 */
static void example_kb(struct mas_config *config)
{
	int found;
	char *path;

	if (mas_config_get(config, "chat.kb"))
		return;
	path = mas_config_example(config, "kb.jsonl", &found);
	if (!path)
		mas_die(MAS_EXIT_USAGE, "out of memory");
	if (!found)
		mas_die(MAS_EXIT_USAGE, "no knowledge base: give --kb FILE or "
		        "set MAS_KB (chat.kb in the config file); the example "
		        "one, %s, is not installed", path);
	mas_warn("no knowledge base configured (--kb, MAS_KB, chat.kb): "
	         "answering from the example one, %s", path);
	mas_config_set(config, "chat.kb", path, MAS_CONFIG_DEFAULT);
	free(path);
}

static struct mas_chat *make_agent(struct chat_command *command)
{
	struct mas_chat *chat;
	char *error = NULL;
	jv info;

	example_kb(&command->cli.config);
	command->options.kb_path = mas_config_get(&command->cli.config,
	                                          "chat.kb");
	chat = mas_chat_new(&command->options, &error);
	if (!chat) {
		mas_error_log("%s", error ? error : "cannot load the "
		              "knowledge base");
		free(error);
		exit(MAS_EXIT_USAGE);
	}
	info = mas_chat_info(chat);
	{
		jv text = jv_dump_string(info, 0);
		mas_info("knowledge base loaded: %s", jv_string_value(text));
		jv_free(text);
	}
	return chat;
}

/* `mas-chat train`: the model into the state store, ahead of the runs
 * that read it; its summary (mas_chat_info) on stdout.  Exit 75 when the
 * store cannot take it for now. */
static int train_command(struct chat_command *command)
{
	char *error = NULL;
	int status = mas_store_open_configured(&command->store,
	                                       &command->cli.config, &error);
	struct mas_chat *chat;
	jv info, text;
	const char *source;

	if (status != 0) {
		mas_error_log("state store: %s", error ? error : "cannot open");
		free(error);
		return MAS_STORE_TRANSIENT(status) ? MAS_EXIT_TEMPFAIL
		                                   : MAS_EXIT_USAGE;
	}
	command->store_open = 1;
	command->options.store = &command->store;
	chat = make_agent(command);
	info = mas_chat_info(chat);
	text = jv_dump_string(jv_copy(info), 0);
	mas_output_init();
	printf("%s\n", jv_string_value(text));
	jv_free(text);
	text = jv_object_get(info, jv_string("model"));
	source = jv_string_value(text);
	status = strcmp(source, "trained in memory") == 0 ? MAS_EXIT_TEMPFAIL
	                                                  : MAS_EXIT_OK;
	if (status)
		mas_error_log("the model could not be stored; try again "
		              "later");
	jv_free(text);
	mas_chat_free(chat);
	mas_store_close(&command->store);
	return status;
}

static void check_usage(struct chat_command *command)
{
	if (command->sessions_mode)
		return;
	if (command->train_mode && (command->cli.file_count > 0 ||
	                            command->interactive))
		mas_die(MAS_EXIT_USAGE, "train takes no input: give --kb");
	if (command->verb)
		mas_die(MAS_EXIT_USAGE, "unexpected argument");
	if (!command->options.sentiment_train &&
	    (command->options.text_field || command->options.label_field ||
	     command->options.label_map))
		mas_die(MAS_EXIT_USAGE, "--text-field, --label-field and "
		        "--label-map describe --sentiment-train's examples: "
		        "give it too");
	if (command->interactive && command->cli.file_count > 0)
		mas_die(MAS_EXIT_USAGE, "--interactive reads the terminal, "
		        "not files");
}

int main(int argc, char **argv)
{
	static const char doc[] =
		"Answer customer messages: a reply with intent, sentiment, "
		"confidence and suggested actions, one JSON record in, one "
		"out, remembering sessions.\v"
		"Reads JSON Lines from the FILEs (or stdin) and writes JSON "
		"Lines to stdout.  `mas-chat sessions list|show ID|delete ID` "
		"inspects the sessions; `mas-chat train` stores the trained "
		"model ahead of the runs.  See mas-chat(1) and mas-chat(5).";
	struct argp_child children[] = {
		{ &mas_cli_argp, 0, "Options every mas program takes:", 0 },
		{ &mas_engine_argp, 0, "Options for a model endpoint "
		  "(OPENAI_BASE_URL, OPENAI_API_KEY):", 0 },
		{ 0 }
	};
	struct argp argp = { options, parse_option,
		             "[FILE...]\nsessions list|show ID|delete ID\ntrain",
		             doc,
		             children, NULL, NULL };
	struct chat_command command = { 0 };
	struct conversation conversation = { 0 };
	struct mas_lineedit *editor = NULL;
	struct mas_chat *chat;
	int status;

	mas_cli_init(&command.cli, "mas-chat", "chat");
	mas_engine_init(&command.engine, &command.cli);
	command.options.threshold = -1;
	if (argc > 1 && strcmp(argv[1], "sessions") == 0) {
		command.sessions_mode = 1;
		argv[1] = argv[0];
		argv++;
		argc--;
	} else if (argc > 1 && strcmp(argv[1], "train") == 0) {
		command.train_mode = 1;
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	mas_cli_parse(&command.cli, &argp, argc, argv, &command);
	check_usage(&command);
	mas_cli_setup(&command.cli);
	if (command.sessions_mode) {
		status = sessions_command(&command);
		mas_cli_release(&command.cli);
		mas_output_close();
		return status;
	}
	if (command.train_mode) {
		status = train_command(&command);
		mas_cli_release(&command.cli);
		mas_output_close();
		return status;
	}
	mas_engine_setup(&command.engine);
	if (!command.no_sessions)
		open_sessions(&command);
	if (command.interactive && jv_is_valid(command.unavailable))
		exit(MAS_EXIT_TEMPFAIL);
	command.options.sessions = command.sessions;
	command.options.engine = &command.engine;
	if (command.interactive) {
		command.options.on_text = print_piece;
		command.options.text_user = &conversation;
		command.engine.fallback_silent = 1; /* print_reply tells */
		/* before the agent is made: keys typed while it loads wait
		 * for the first prompt, not mangled by the terminal */
		editor = mas_lineedit_new("mas-chat", NULL);
	}
	chat = make_agent(&command);
	status = command.interactive
	                 ? interactive(&command, chat, editor, &conversation)
	                 : records(&command, chat);
	mas_lineedit_free(editor);
	mas_chat_free(chat);
	jv_free(command.unavailable);
	close_sessions(&command);
	mas_engine_release(&command.engine);
	mas_cli_release(&command.cli);
	mas_output_close();
	return status;
}
