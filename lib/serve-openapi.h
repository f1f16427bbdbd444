/*
 * serve-openapi.h — mas-serve's description of itself: the OpenAPI 3.1
 * document (GET /openapi.json, `mas-serve openapi`) and a page rendered
 * from it to read (GET /docs), plain HTML with its style inside, so it
 * works with no network.
 *
 * The document is written as JSON in lib/serve-openapi.json and built
 * in as a string (the Makefile turns it into lib/serve-openapi.inc); a
 * test checks real answers against its schemas, so it cannot drift.
 * mas_serve_openapi() is declared in serve.h.
 */
#ifndef MAS_SERVE_OPENAPI_H
#define MAS_SERVE_OPENAPI_H

#include "serve.h"

/* The page /docs serves, made on first use (thread-safe), kept for the
 * life of the process (borrowed); NULL when memory is short. */
const char *mas_serve_docs_page(void);

#endif
