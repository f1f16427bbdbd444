/*
 * mas/mas.h — libmas, the agents of mas embedded in a C program.
 *
 * This header is the whole public interface of libmas (libmas(3) is its
 * manual page); everything else in the library is internal and may
 * change.  Build with `pkg-config --cflags --libs mas`.
 *
 *	mas_settings *settings = mas_settings_new(NULL, &error);
 *	mas_settings_set(settings, "research.corpus", "docs", &error);
 *	mas_agent *research = mas_agent_open(settings, "research", &error);
 *	char *answer;
 *	int status = mas_agent_run_json(research,
 *	        "{\"query\":\"why solar?\"}", &answer);
 *	puts(answer);
 *	free(answer);
 *	mas_agent_close(research);
 *	mas_settings_free(settings);
 *
 * The agents answer exactly as their programs do (mas-research(1),
 * mas-analyze(1), mas-chat(1)): a record goes in, the same record comes
 * out with the agent's result under its key ("research", "analysis",
 * "chat"), or with an "error" object {"code","message",...}, and every
 * other field kept.  A record without an "id" is given one.
 *
 * Conventions, the same for every function below:
 *
 * - Ownership of jv values follows jq's rule: a function that takes a jv
 *   consumes it (pass jv_copy(v) to keep yours); a returned jv is the
 *   caller's.  A function that only looks at a jv says "borrows".
 * - Text in is borrowed.  Text out (char *) is malloc'd: the caller
 *   frees it with free(3).
 * - CHAR **ERROR arguments may be NULL.  When not, a function that fails
 *   sets *ERROR to a malloc'd one-line message (lowercase, naming what
 *   failed first) for the caller to free, and leaves it alone otherwise.
 * - Functions that return an int return an exit status (enum mas_exit),
 *   so that a program may exit with it: MAS_EXIT_OK, MAS_EXIT_RECORDS
 *   when a record came back with an error, MAS_EXIT_USAGE for a bad
 *   argument, MAS_EXIT_TEMPFAIL for a failure that may pass if tried
 *   again later (a bus that is busy or unreachable, a timeout).
 * - A SETTINGS argument may be NULL: the environment and the defaults,
 *   with no configuration file.
 * - Handles are opaque; every *_free and *_close accepts NULL.  A handle
 *   is used by one thread at a time: open one per thread (libjq, which
 *   holds the records, is not thread-safe).
 * - The library writes nothing on standard output.  Warnings go to
 *   standard error, as the programs write them ("log.level" quietens
 *   them).
 */
#ifndef MAS_MAS_H
#define MAS_MAS_H

#include <jv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What libmas exports; every other symbol of the library is hidden. */
#define MAS_API __attribute__((visibility("default")))

/*
 * Exit statuses, as every mas program exits (mas(7)).  Only ever
 * appended to.
 */
enum mas_exit {
	MAS_EXIT_OK = 0,         /* every record succeeded */
	MAS_EXIT_RECORDS = 1,    /* some records carry errors */
	MAS_EXIT_USAGE = 2,      /* bad option, configuration or input file */
	MAS_EXIT_WAITING = 3,    /* a flow is waiting for a person */
	MAS_EXIT_IO = 74,        /* writing the output failed (EX_IOERR) */
	MAS_EXIT_TEMPFAIL = 75,  /* only transient failures (EX_TEMPFAIL) */
};

/*
 * Error codes carried in a record's "error".code, as in the original
 * API.  Only ever appended to; mas_error_code_name() gives the wire name.
 */
enum mas_error_code {
	MAS_ERR_INVALID_REQUEST,
	MAS_ERR_UNAUTHORIZED,
	MAS_ERR_FORBIDDEN,
	MAS_ERR_NOT_FOUND,
	MAS_ERR_RATE_LIMITED,
	MAS_ERR_TIMEOUT,
	MAS_ERR_UPSTREAM_ERROR,
	MAS_ERR_INTERNAL,
};

/* The library's version, "0.1.0" (static). */
MAS_API const char *mas_version(void);

/* The wire name of CODE, e.g. "INVALID_REQUEST" (static); "INTERNAL"
 * for a value the library does not know. */
MAS_API const char *mas_error_code_name(enum mas_error_code code);

/*
 * Whether the code named NAME ("TIMEOUT") names a failure that may pass
 * if tried again later: RATE_LIMITED, TIMEOUT, UPSTREAM_ERROR.
 */
MAS_API int mas_error_code_is_transient(const char *name);

/*
 * What RECORD (borrows) says about itself: MAS_EXIT_OK without an
 * "error" object; MAS_EXIT_TEMPFAIL when its error is transient (its
 * own boolean "transient" field decides, else its code);
 * MAS_EXIT_RECORDS for any other error.  An invalid jv or one that is
 * not an object is MAS_EXIT_RECORDS.
 */
MAS_API int mas_record_status(jv record);

/* ---- settings ---- */

/*
 * The configuration agents, flows and the bus are opened from: the keys
 * the programs read (mas(7), "CONFIGURATION": "research.corpus",
 * "chat.kb", "llm.model", "bus.url", ...), in the programs' order of
 * precedence: values set with mas_settings_set (as flags are), then the
 * environment (MAS_CORPUS, OPENAI_API_KEY, ...), then the file, then
 * the built-in defaults.
 */
typedef struct mas_settings mas_settings;

/*
 * Read the environment and the configuration file FILE (NULL: the
 * default, $XDG_CONFIG_HOME/mas/config, where a missing file is fine).
 * Returns NULL with *ERROR on a file that is missing (when named), not
 * readable, wrong on a line (the message names it), or that holds a
 * secret while readable by others; or when memory is short.
 */
MAS_API mas_settings *mas_settings_new(const char *file, char **error);

/*
 * Set KEY to VALUE (copied), above every other source.  Returns
 * MAS_EXIT_OK, or MAS_EXIT_USAGE with *ERROR when KEY is not one mas
 * knows.  Handles opened before keep the values they were opened with.
 */
MAS_API int mas_settings_set(mas_settings *settings, const char *key,
                             const char *value, char **error);

/* KEY's value from its strongest source (borrowed: valid until KEY is
 * set again or SETTINGS freed), or NULL when none has it. */
MAS_API const char *mas_settings_get(const mas_settings *settings,
                                     const char *key);

MAS_API void mas_settings_free(mas_settings *settings);

/* ---- agents ---- */

typedef struct mas_agent mas_agent;

/*
 * Open the agent KIND, "analyze", "research" or "chat", set up from
 * SETTINGS (borrowed, copied: it may be freed at once) exactly as its
 * program and mas-flow's "agent KIND" node set it up: research indexes
 * "research.corpus" now, chat loads and trains on "chat.kb" now (and
 * keeps sessions in the state store), analyze reads series from
 * "analyze.data_dir".  With a model configured ("llm.base_url",
 * "llm.api_key") the agent asks it, falling back to its embedded engine
 * as the programs do.  Returns NULL with *ERROR for an unknown KIND
 * (MAS_EXIT_USAGE's kind of mistake), a missing corpus or knowledge base,
 * bad model settings, or memory short.
 */
MAS_API mas_agent *mas_agent_open(const mas_settings *settings,
                                  const char *kind, char **error);

/*
 * Hand RECORD (consumed: an object such as {"query": "..."} for research,
 * {"message": "..."} for chat, {"data_source": "..."} for analyze) to
 * AGENT and return the record as the agent's program writes it: the
 * result under the agent's key, or an "error" object (also for a RECORD
 * that is no object).  Waits at most "serve.task_timeout" seconds (300),
 * as a mas-serve task does, then answers with a TIMEOUT error.  Never
 * returns an invalid jv; mas_record_status() tells success from failure.
 */
MAS_API jv mas_agent_run(mas_agent *agent, jv record);

/*
 * The same for the JSON text of a record (borrowed).  *OUT is set to the
 * answer as one line of JSON text without a newline (malloc'd), also
 * when the text is not a JSON object (an INVALID_REQUEST error record).
 * Returns mas_record_status() of the answer, or MAS_EXIT_TEMPFAIL with
 * *OUT NULL when memory is short.
 */
MAS_API int mas_agent_run_json(mas_agent *agent, const char *json,
                               char **out);

/* The key the agent puts its result under: "analysis", "research" or
 * "chat" (static). */
MAS_API const char *mas_agent_key(const mas_agent *agent);

MAS_API void mas_agent_close(mas_agent *agent);

/* ---- flows ---- */

typedef struct mas_workflow mas_workflow;

/*
 * Open the flow file PATH (mas-flow(5)), checked now as `mas-flow check`
 * checks it, with SETTINGS (borrowed, copied).  Records run through it
 * in a `mas-flow run PATH` co-process, as mas-serve runs its flows
 * (the program is looked for on PATH, started on first use and again if
 * the file changes).  Returns NULL with *ERROR naming the file and line
 * of the first problem, or when memory is short.
 */
MAS_API mas_workflow *mas_workflow_open(const mas_settings *settings,
                                        const char *path, char **error);

/*
 * Walk RECORD (consumed) through the flow and return its final state, as
 * `mas-flow run` writes it (with "meta"."flow", the path taken), or the
 * record with an "error" object: the flow's own, or INTERNAL when
 * mas-flow could not run, TIMEOUT past "serve.task_timeout".  Never an
 * invalid jv.
 */
MAS_API jv mas_workflow_run(mas_workflow *flow, jv record);

/* The same for JSON text, as mas_agent_run_json. */
MAS_API int mas_workflow_run_json(mas_workflow *flow, const char *json,
                                  char **out);

MAS_API void mas_workflow_close(mas_workflow *flow);

/* ---- the message bus ---- */

/*
 * A connection to the bus mas-bus(1) uses: messages are envelopes
 * {"id","topic","type","priority","sender","timestamp",
 * "correlation_id","reply_to","payload"}, handed over as JSON text.
 * Topics are tokens of letters, digits, '-' and '_' joined by '.';
 * patterns may use '*' for one token and a last '>' for the rest.
 */
typedef struct mas_bus_client mas_bus_client;

/*
 * Open the bus URL names: "sqlite:PATH", "nats://HOST:PORT", or NULL for
 * "bus.url" of SETTINGS (borrowed), else the state store.  Returns NULL
 * with *ERROR; *STATUS (when not NULL) is then MAS_EXIT_USAGE for a bad
 * URL, MAS_EXIT_TEMPFAIL for a store or server that cannot be reached.
 */
MAS_API mas_bus_client *mas_bus_client_open(const mas_settings *settings,
                                            const char *url, int *status,
                                            char **error);

/*
 * Publish PAYLOAD (JSON text of any value, borrowed) as an event on
 * TOPIC with priority "normal", stored once this returns.  Returns
 * MAS_EXIT_OK; MAS_EXIT_USAGE for a bad topic or a payload that is not
 * JSON; MAS_EXIT_TEMPFAIL when the bus is busy, full or unreachable.
 */
MAS_API int mas_bus_client_publish(mas_bus_client *bus, const char *topic,
                                   const char *payload, char **error);

/*
 * Publish PAYLOAD (JSON text, borrowed) as a request on TOPIC and wait
 * up to TIMEOUT seconds for the reply of a worker (`mas-bus serve`, a
 * mas-serve task worker).  On MAS_EXIT_OK *REPLY is the reply envelope's
 * text (malloc'd), its answer under "payload".  MAS_EXIT_USAGE for a bad
 * topic or payload; MAS_EXIT_TEMPFAIL when no reply came in time or the
 * bus failed.
 */
MAS_API int mas_bus_client_request(mas_bus_client *bus, const char *topic,
                                   const char *payload, double timeout,
                                   char **reply, char **error);

MAS_API void mas_bus_client_close(mas_bus_client *bus);

typedef struct mas_bus_subscription mas_bus_subscription;

/*
 * Subscribe to PATTERN on BUS (borrowed: close the subscription first).
 * Without GROUP (NULL), every message published from now on; with one, a
 * share of the messages among the group's members, from the first the
 * bus keeps that the group has not taken, each delivered again after 30
 * s unless acknowledged (mas_bus_subscription_ack).  Returns NULL with
 * *ERROR.
 */
MAS_API mas_bus_subscription *mas_bus_subscribe(mas_bus_client *bus,
                                                const char *pattern,
                                                const char *group,
                                                char **error);

/*
 * The iterator: the next message's envelope text (malloc'd), waiting up
 * to WAIT seconds for one.  NULL when none came in time (*ERROR left
 * alone) or when the bus failed (*ERROR set).
 */
MAS_API char *mas_bus_subscription_next(mas_bus_subscription *sub,
                                        double wait, char **error);

/*
 * Acknowledge every message next() gave so far (a group's; nothing to
 * do without one).  Returns MAS_EXIT_OK, or MAS_EXIT_TEMPFAIL.
 */
MAS_API int mas_bus_subscription_ack(mas_bus_subscription *sub,
                                     char **error);

/*
 * The callback: call EACH(DATA, ENVELOPE) for each message (ENVELOPE
 * borrowed for the call), acknowledging it once EACH returns 0, until
 * COUNT messages (0: no limit), until none comes within WAIT seconds,
 * or until EACH returns non-zero (that message stays unacknowledged, to
 * be delivered again).  Returns MAS_EXIT_OK, or MAS_EXIT_TEMPFAIL with
 * *ERROR when the bus failed.
 */
MAS_API int mas_bus_subscription_each(mas_bus_subscription *sub,
                                      long count, double wait,
                                      int (*each)(void *data,
                                                  const char *envelope),
                                      void *data, char **error);

MAS_API void mas_bus_subscription_close(mas_bus_subscription *sub);

#ifdef __cplusplus
}
#endif

#endif
