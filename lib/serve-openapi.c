/*
 * serve-openapi.c — the OpenAPI document and its page (see
 * serve-openapi.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jv.h>

#include "serve-openapi.h"
#include "banned.h"

static const char document[] =
#include "serve-openapi.inc"
	;

const char *mas_serve_openapi(void)
{
	return document;
}

/* ---- the page ---- */

static void put_escaped(FILE *out, const char *text)
{
	for (const char *p = text; *p; p++)
		switch (*p) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(*p, out);
		}
}

/* VALUE's string field KEY, escaped, inside BEFORE and AFTER; nothing
 * when it has none.  VALUE is borrowed. */
static void put_field(FILE *out, jv value, const char *key,
                      const char *before, const char *after)
{
	jv field = jv_get_kind(value) == JV_KIND_OBJECT
	         ? jv_object_get(jv_copy(value), jv_string(key)) : jv_null();

	if (jv_get_kind(field) == JV_KIND_STRING) {
		fputs(before, out);
		put_escaped(out, jv_string_value(field));
		fputs(after, out);
	}
	jv_free(field);
}

/* VALUE (consumed) as indented JSON in a <pre>. */
static void put_json(FILE *out, jv value)
{
	jv text = jv_dump_string(value, JV_PRINT_PRETTY | JV_PRINT_SPACE1);

	fputs("<pre>", out);
	put_escaped(out, jv_string_value(text));
	fputs("</pre>\n", out);
	jv_free(text);
}

static void put_parameters(FILE *out, jv operation)
{
	jv parameters = jv_object_get(jv_copy(operation),
	                              jv_string("parameters"));

	if (jv_get_kind(parameters) == JV_KIND_ARRAY &&
	    jv_array_length(jv_copy(parameters)) > 0) {
		fputs("<h4>Parameters</h4>\n<ul>\n", out);
		jv_array_foreach(parameters, i, p) {
			put_field(out, p, "name", "<li><code>", "</code>");
			put_field(out, p, "in", " (in ", ")");
			fputs("</li>\n", out);
			jv_free(p);
		}
		fputs("</ul>\n", out);
	}
	jv_free(parameters);
}

static void put_body(FILE *out, jv operation)
{
	jv example = jv_getpath(jv_copy(operation), JV_ARRAY(
		jv_string("requestBody"), jv_string("content"),
		jv_string("application/json"), jv_string("example")));

	if (jv_is_valid(example) && jv_get_kind(example) != JV_KIND_NULL) {
		fputs("<h4>Request body, for example</h4>\n", out);
		put_json(out, example);
	} else {
		jv_free(example);
	}
}

static void put_responses(FILE *out, jv operation)
{
	jv responses = jv_object_get(jv_copy(operation),
	                             jv_string("responses"));

	fputs("<h4>Answers</h4>\n<table>\n", out);
	if (jv_get_kind(responses) == JV_KIND_OBJECT)
		jv_object_foreach(responses, status, response) {
			jv ref = jv_object_get(jv_copy(response),
			                       jv_string("$ref"));
			fprintf(out, "<tr><td><code>%s</code></td><td>",
			        jv_string_value(status));
			put_field(out, response, "description", "", "");
			const char *name = jv_get_kind(ref) ==
			        JV_KIND_STRING ? strrchr(jv_string_value(ref),
			                                 '/') : NULL;
			if (name)
				fprintf(out, "<a href=\"#response-%s\">%s</a>",
				        name + 1, name + 1);
			fputs("</td></tr>\n", out);
			jv_free(ref);
			jv_free(status);
			jv_free(response);
		}
	fputs("</table>\n", out);
	jv_free(responses);
}

static void put_operation(FILE *out, const char *path, const char *method,
                          jv operation)
{
	char upper[16];
	size_t i;

	for (i = 0; method[i] && i < sizeof(upper) - 1; i++)
		upper[i] = (char)(method[i] - 32 * (method[i] >= 'a' &&
		                                    method[i] <= 'z'));
	upper[i] = '\0';
	fprintf(out, "<section>\n<h2><code>%s ", upper);
	put_escaped(out, path);
	fputs("</code></h2>\n", out);
	put_field(out, operation, "summary", "<p><b>", "</b></p>\n");
	put_field(out, operation, "description", "<p>", "</p>\n");
	put_parameters(out, operation);
	put_body(out, operation);
	put_responses(out, operation);
	fputs("</section>\n", out);
	jv_free(operation);
}

static void put_paths(FILE *out, jv paths)
{
	jv_object_foreach(paths, path, methods) {
		jv_object_foreach(methods, method, operation) {
			put_operation(out, jv_string_value(path),
			              jv_string_value(method), operation);
			jv_free(method);
		}
		jv_free(methods);
		jv_free(path);
	}
	jv_free(paths);
}

static void put_components(FILE *out, jv components)
{
	jv responses = jv_object_get(jv_copy(components),
	                             jv_string("responses"));
	jv schemas = jv_object_get(components, jv_string("schemas"));

	fputs("<h2>Error answers</h2>\n<p>Every error is the envelope "
	      "<a href=\"#schema-ErrorEnvelope\">ErrorEnvelope</a>.</p>\n"
	      "<table>\n", out);
	jv_object_foreach(responses, name, response) {
		fprintf(out, "<tr id=\"response-%s\"><td><code>%s</code></td>"
		        "<td>", jv_string_value(name), jv_string_value(name));
		put_field(out, response, "description", "", "");
		fputs("</td></tr>\n", out);
		jv_free(name);
		jv_free(response);
	}
	fputs("</table>\n<h2>Schemas</h2>\n", out);
	jv_free(responses);
	jv_object_foreach(schemas, name, schema) {
		fprintf(out, "<h3 id=\"schema-%s\">%s</h3>\n",
		        jv_string_value(name), jv_string_value(name));
		put_json(out, schema);
		jv_free(name);
	}
	jv_free(schemas);
}

static const char style[] =
	"body{font:15px/1.5 system-ui,sans-serif;max-width:60em;"
	"margin:2em auto;padding:0 1em;color:#222}"
	"code,pre{font:13px ui-monospace,monospace}"
	"pre{background:#f4f4f4;padding:.6em;overflow:auto}"
	"section{border-top:1px solid #ddd;margin-top:1.5em}"
	"td{padding:.1em .8em .1em 0;vertical-align:top}";

static char *page;

static void make_page(void)
{
	jv doc = jv_parse(document);
	size_t length = 0;
	FILE *out = open_memstream(&page, &length);

	if (!out || jv_get_kind(doc) != JV_KIND_OBJECT) {
		if (out)
			fclose(out);
		jv_free(doc);
		free(page);
		page = NULL;
		return;
	}
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	        "<meta charset=\"utf-8\">\n<title>mas-serve API</title>\n"
	        "<style>%s</style>\n</head>\n<body>\n", style);
	{
		jv info = jv_object_get(jv_copy(doc), jv_string("info"));
		put_field(out, info, "title", "<h1>", " API</h1>\n");
		put_field(out, info, "description", "<p>", "</p>\n");
		jv_free(info);
	}
	fputs("<p>The machine-readable form: <a href=\"/openapi.json\">"
	      "/openapi.json</a> (OpenAPI 3.1).</p>\n", out);
	put_paths(out, jv_object_get(jv_copy(doc), jv_string("paths")));
	put_components(out, jv_object_get(doc, jv_string("components")));
	fputs("</body>\n</html>\n", out);
	if (fclose(out) != 0) {
		free(page);
		page = NULL;
	}
}

const char *mas_serve_docs_page(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, make_page);
	return page;
}
