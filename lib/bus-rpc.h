/*
 * bus-rpc.h — request and reply over the message bus (bus.h), and the
 * loop of a worker that answers requests: what `mas-bus req` and
 * `mas-bus serve` do, and what mas-serve's task workers do with the
 * same envelopes, so that a task may be run by either.
 *
 * A request is an envelope of type "request" whose reply_to names where
 * the answer goes and whose correlation_id is its own id.  The reply is
 * an envelope of type "response" on reply_to (or, without one, on the
 * request's topic with ".done" added), whose correlation_id is the
 * request's id and whose own id is the request's with "-reply" added:
 * a request answered twice after a crash is stored once, since the log
 * keeps an id once.
 *
 * A worker fetches a batch of requests from its group, computes every
 * answer, publishes the replies in one batch (one transaction on
 * SQLite, one wait for acknowledgements on NATS) and acknowledges the
 * requests only then: a worker killed at any point leaves its requests
 * to be delivered again, and no lock is held while answers are being
 * computed.
 */
#ifndef MAS_BUS_RPC_H
#define MAS_BUS_RPC_H

#include <stddef.h>

#include <jv.h>

#include "bus.h"

/*
 * Make ENVELOPE (consumed, as mas_bus_envelope made it) a request: type
 * "request", correlation_id its id, reply_to a private inbox
 * "_inbox.ID" whose name is also written to INBOX (SIZE bytes).
 */
jv mas_bus_make_request(jv envelope, char *inbox, size_t size);

/*
 * Wait up to TIMEOUT seconds on INBOX, a plain subscription started
 * before the request was published, for the envelope whose
 * correlation_id is ID.  Returns it, or jv_invalid_with_msg(error):
 * TIMEOUT when none came, UPSTREAM_ERROR when the bus failed.
 */
jv mas_bus_await_reply(struct mas_bus_sub *inbox, const char *id,
                       double timeout);

/*
 * Publish PAYLOAD (consumed) as a request on TOPIC with PRIORITY and
 * wait up to TIMEOUT seconds for its reply, listening on the inbox
 * before asking so a quick reply is not missed.  Returns the reply
 * envelope, or jv_invalid_with_msg(error) as mas_bus_await_reply.
 */
jv mas_bus_request(struct mas_bus *bus, const char *topic, int priority,
                   jv payload, double timeout);

/* Whether ENVELOPE (borrowed) is of type "response". */
int mas_bus_is_response(jv envelope);

/* The reply to REQUEST (borrowed) carrying ANSWER (consumed), as the
 * header says. */
jv mas_bus_make_reply(struct mas_bus *bus, jv request, jv answer);

/*
 * A worker's answer to REQUEST (the whole envelope, consumed): the
 * reply's payload; jv_invalid() without a message for no reply (the
 * request is acknowledged all the same); or jv_invalid_with_msg(error
 * object) when the worker cannot go on (its command died): the batch is
 * then neither replied to nor acknowledged.
 */
typedef jv (*mas_bus_answer_fn)(void *data, jv request);

/*
 * Fetch up to MAX requests from SUB (a group), waiting up to WAIT
 * seconds for a first one, answer each through ANSWER, publish the
 * replies together and then acknowledge the batch.  Responses among the
 * messages (a worker's own replies, when its pattern matches them) are
 * skipped.  Returns how many messages were fetched (0: none came), or
 * -1 with a malloc'd message in *ERROR.
 */
long mas_bus_serve_batch(struct mas_bus_sub *sub, size_t max, double wait,
                         mas_bus_answer_fn answer, void *data,
                         char **error);

/*
 * mas_bus_serve_batch in a loop, PREFETCH requests a batch (0: one, what
 * a worker can start at once, so that the workers of a group share slow
 * requests as they free up): until COUNT messages (0: no limit) are
 * done, and, unless FOLLOW, until a fetch finds none.  Returns 0, or -1
 * with *ERROR.
 */
int mas_bus_serve(struct mas_bus_sub *sub, long count, int follow,
                  size_t prefetch,
                  mas_bus_answer_fn answer, void *data, char **error);

#endif
