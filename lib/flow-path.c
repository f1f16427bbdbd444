/*
 * flow-path.c — meta.flow as C fields (see flow-path.h).
 */
#include <stdlib.h>
#include <string.h>

#include "flow-path.h"
#include "json.h"
#include "log.h"
#include "mas.h"

#include "banned.h"

void mas_flow_path_init(struct mas_flow_path *path)
{
	memset(path, 0, sizeof(*path));
}

static struct mas_flow_step *new_step(struct mas_flow_path *path)
{
	if (path->count == path->capacity) {
		size_t capacity = path->capacity ? path->capacity * 2 : 8;
		struct mas_flow_step *steps = realloc(path->steps, capacity *
		                                      sizeof(*steps));

		if (!steps)
			mas_die(MAS_EXIT_TEMPFAIL, "out of memory");
		path->steps = steps;
		path->capacity = capacity;
	}
	return &path->steps[path->count++];
}

void mas_flow_path_add(struct mas_flow_path *path, const char *node,
                       double ms, int tries, jv extra)
{
	struct mas_flow_step *step = new_step(path);

	step->node = node;
	/* microseconds are enough, and keep the lines short */
	step->us = (long long)(ms * 1000);
	step->ms = (double)step->us / 1000;
	step->tries = tries;
	step->extra = extra;
}

void mas_flow_path_add_entry(struct mas_flow_path *path, jv entry)
{
	struct mas_flow_step *step = new_step(path);

	memset(step, 0, sizeof(*step));
	step->extra = entry;
}

jv mas_flow_step_json(const struct mas_flow_step *step)
{
	jv entry;

	if (!step->node)
		return jv_copy(step->extra);
	entry = JV_OBJECT(jv_string("node"), jv_string(step->node),
	                  jv_string("ms"), jv_number(step->ms));
	if (step->tries > 1)
		entry = jv_object_set(entry, jv_string("tries"),
		                      jv_number(step->tries));
	if (jv_is_valid(step->extra))
		entry = jv_object_merge(entry, jv_copy(step->extra));
	return entry;
}

jv mas_flow_path_json(const struct mas_flow_path *path)
{
	jv array = jv_array_sized((int)path->count);

	for (size_t i = 0; i < path->count; i++)
		array = jv_array_append(array,
		                        mas_flow_step_json(&path->steps[i]));
	return array;
}

static void put_str(struct mas_json_text *t, const char *text)
{
	mas_json_put(t, text, strlen(text));
}

/* A string constant, its length known when compiled. */
#define PUT_LITERAL(t, s) mas_json_put((t), (s), sizeof(s) - 1)

/* Node names are letters, digits, '_' and '-' (flow.c): no escapes. */
static void put_step(struct mas_json_text *t,
                     const struct mas_flow_step *step)
{
	char number[MAS_JSON_NUMBER_SIZE];
	/* most steps have no extra members: no call into libjq for them */
	int bare = mas_jv_is_bare_invalid(step->extra);

	if (!step->node || (!bare && jv_is_valid(step->extra) &&
	                    jv_object_has(jv_copy(step->extra),
	                                  jv_string("node")))) {
		mas_json_put_value(t, mas_flow_step_json(step));
		return;
	}
	PUT_LITERAL(t, "{\"node\":\"");
	put_str(t, step->node);
	PUT_LITERAL(t, "\",\"ms\":");
	mas_json_put(t, number, mas_json_millis(step->us, number));
	if (step->tries > 1) {
		PUT_LITERAL(t, ",\"tries\":");
		mas_json_put(t, number, mas_json_number(step->tries, number));
	}
	if (!bare && jv_is_valid(step->extra)) {
		jv extra = jv_copy(step->extra);
		jv_object_foreach(extra, key, value) {
			PUT_LITERAL(t, ",");
			mas_json_put_value(t, key);
			PUT_LITERAL(t, ":");
			mas_json_put_value(t, value);
		}
		jv_free(extra);
	}
	PUT_LITERAL(t, "}");
}

char *mas_flow_step_text(const struct mas_flow_step *step, size_t *length)
{
	struct mas_json_text t = { NULL, 0, 0 };

	put_step(&t, step);
	*length = t.length;
	return t.data;
}

void mas_flow_path_put(struct mas_json_text *t,
                       const struct mas_flow_path *path)
{
	/* {"node":"NAME","ms":0.123} is about 40 bytes */
	mas_json_reserve(t, 48 * path->count + 16);
	PUT_LITERAL(t, "[");
	for (size_t i = 0; i < path->count; i++) {
		if (i)
			PUT_LITERAL(t, ",");
		put_step(t, &path->steps[i]);
	}
	PUT_LITERAL(t, "]");
}

char *mas_flow_path_text(const struct mas_flow_path *path, size_t *length)
{
	struct mas_json_text t = { NULL, 0, 0 };

	mas_flow_path_put(&t, path);
	*length = t.length;
	return t.data;
}

void mas_flow_path_clear(struct mas_flow_path *path)
{
	for (size_t i = 0; i < path->count; i++)
		mas_jv_drop(path->steps[i].extra);
	path->count = 0;
}

void mas_flow_path_release(struct mas_flow_path *path)
{
	mas_flow_path_clear(path);
	free(path->steps);
	mas_flow_path_init(path);
}
