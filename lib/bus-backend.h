/*
 * bus-backend.h — what a backend of the message bus implements (bus.h).
 *
 * bus.c makes envelopes and checks topics; a backend only stores
 * envelope texts and hands them out.  Each function has the contract of
 * the bus.h function of the same name, with these differences:
 *
 * - open gets the URL already known to be the backend's (NULL for the
 *   default store) and fills bus->state;
 * - publish gets the message as its text plus the fields it indexes;
 * - sub_init gets SUB with bus, pattern, group and from_start filled and
 *   fills sub->state;
 * - fetch waits up to WAIT seconds (0: not at all) for a first message;
 * - stored may be NULL: nothing of a failed commit is stored;
 * - ack acknowledges the COUNT oldest messages owed (SIZE_MAX: all).
 *
 * Errors are malloc'd messages in *ERROR; every function may assume
 * *ERROR is NULL on entry.
 */
#ifndef MAS_BUS_BACKEND_H
#define MAS_BUS_BACKEND_H

#include <stddef.h>

#include <jv.h>

#include "bus.h"
#include "config.h"

/* One message to store: its envelope's text and indexed fields, all
 * borrowed. */
struct mas_bus_message {
	const char *id;
	const char *topic;
	int priority;
	const char *text;
	size_t len;
};

struct mas_bus_backend {
	const char *name;
	int (*open)(struct mas_bus *bus, const struct mas_config *config,
	            const char *url, int *usage, char **error);
	void (*close)(struct mas_bus *bus);
	int (*begin)(struct mas_bus *bus, char **error);
	int (*commit)(struct mas_bus *bus, char **error);
	int (*stored)(struct mas_bus *bus, size_t i);
	long long (*publish)(struct mas_bus *bus,
	                     const struct mas_bus_message *message,
	                     char **error);
	int (*sub_init)(struct mas_bus_sub *sub, char **error);
	long (*fetch)(struct mas_bus_sub *sub, size_t max, double wait,
	              struct mas_bus_batch *batch, char **error);
	int (*ack)(struct mas_bus_sub *sub, size_t count, char **error);
	void (*sub_release)(struct mas_bus_sub *sub);
	jv (*stat)(struct mas_bus *bus);
	long (*gc)(struct mas_bus *bus, double seconds, char **error);
	                           /* NULL: the backend keeps its own */
};

extern const struct mas_bus_backend mas_bus_sqlite;
extern const struct mas_bus_backend mas_bus_nats;

#endif
