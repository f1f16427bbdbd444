/*
 * serve.h — mas-serve: the original REST API as a daemon (mas-serve(1)).
 *
 * An HTTP/1.1 server on libmicrohttpd: a pool of threads (epoll) reads
 * requests; whatever needs an agent goes to the request workers
 * (serve-pool.h) and tasks go to the bus (serve-tasks.h), the
 * connection suspended meanwhile, so no HTTP thread ever waits on an
 * agent.  serve.c is the daemon: listening, reading and checking
 * requests (route, method, API key, rate, body size, content type,
 * UTF-8, JSON), time limits, answering, the access log, metrics per
 * request, traces, and a clean stop; serve-api.c says what each
 * endpoint answers.
 *
 * Time limits: a request must arrive whole within header_timeout of the
 * connection opening (or of the previous response on it), or the
 * connection is closed, so a client sending a byte a second holds
 * nothing for long; an idle connection is closed after idle_timeout; an
 * agent gets timeout seconds, after which the request is answered 504.
 *
 * SIGTERM or SIGINT: stop accepting, answer what is in flight (within
 * shutdown_timeout; what is left then is answered 503), store the tasks
 * waiting to be stored, and return 0.
 */
#ifndef MAS_SERVE_H
#define MAS_SERVE_H

#include <stddef.h>

#include "cli.h"
#include "engine.h"

struct mas_serve_options {
	struct mas_cli *cli;          /* configuration (borrowed) */
	const struct mas_engine *engine; /* model options from flags */
	const char *listen;           /* "HOST:PORT" (port 0: any) */
	const char *keys;             /* key file, or NULL: open */
	const char *flows_dir;        /* or NULL: no flows */
	const char *www;              /* console folder, NULL: built in */
	const char *bus_url;          /* or NULL: bus.url, the store */
	const char *flow_command;     /* mas-flow to run flows with */
	const char *access_log;       /* "-" stderr, "off", or a file */
	unsigned threads;             /* HTTP threads */
	unsigned workers;             /* request workers */
	unsigned task_workers;        /* task workers (0: none here) */
	size_t queue;                 /* jobs waiting, at most */
	size_t max_body;              /* bytes */
	unsigned connections;         /* open at once, at most */
	double timeout;               /* seconds an agent may take */
	double task_timeout;          /* seconds a task may take */
	double header_timeout, idle_timeout, shutdown_timeout;
	double rate, burst;           /* per key; rate 0: no limit */
	int sessions;                 /* keep chat sessions */
};

/*
 * Fill OPTIONS from CLI's configuration (the serve.* keys, which flags
 * set) and CPU count.  Returns 0, or -1 with a malloc'd message in
 * *ERROR naming the key or option that is wrong.
 */
int mas_serve_options_read(struct mas_serve_options *options,
                           struct mas_cli *cli, char **error);

/*
 * Serve until SIGTERM or SIGINT.  Returns the exit status: 0 after a
 * clean stop; MAS_EXIT_USAGE for a configuration the server refuses
 * (a key file readable by others, no key file on an address other than
 * loopback, a bad bus URL); MAS_EXIT_TEMPFAIL when it cannot listen or
 * reach its state store or bus.
 */
int mas_serve_main(const struct mas_serve_options *options);

/*
 * mas_serve_main in three parts, for a caller that is not a daemon (the
 * fuzz target of tests/fuzz): start serving (listening as OPTIONS say,
 * but waiting for no signal) and return the server, or NULL with the
 * exit status mas_serve_main would give in *STATUS, the reason logged;
 * a connection of the caller's own, the other end of a socket pair the
 * server handles as a client on loopback (-1 when it cannot be made);
 * and the clean stop mas_serve_main makes on SIGTERM.
 */
struct mas_serve_server;
struct mas_serve_server *mas_serve_start(
	const struct mas_serve_options *options, int *status);
int mas_serve_connect(struct mas_serve_server *server);
void mas_serve_stop(struct mas_serve_server *server);

/* The OpenAPI 3.1 document describing every endpoint (borrowed; a
 * constant). */
const char *mas_serve_openapi(void);

#endif
