/*
 * corpus.c — files and folders into documents and passages (corpus.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpus.h"
#include "log.h"
#include "mas.h"
#include "utf8.h"
#include "banned.h"

/* Folders nested deeper are not walked (a symbolic link loop ends). */
#define MAX_DEPTH 32

static char *join_path(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	char *path;

	if (asprintf(&path, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/",
	             name) < 0)
		mas_die(MAS_EXIT_IO, "out of memory");
	return path;
}

static int has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), m = strlen(suffix);

	return n > m && strcasecmp(name + n - m, suffix) == 0;
}

static int default_kind(const char *name)
{
	return has_suffix(name, ".txt") || has_suffix(name, ".text") ||
	       has_suffix(name, ".md") || has_suffix(name, ".markdown") ||
	       has_suffix(name, ".jsonl");
}

/* A glob with a '/' is matched against the path below the root, one
 * without against the name (corpus.h). */
static int matches(char *const *patterns, size_t count, const char *rel,
                   const char *name)
{
	for (size_t i = 0; i < count; i++) {
		if (strchr(patterns[i], '/')) {
			if (fnmatch(patterns[i], rel, FNM_PATHNAME) == 0)
				return 1;
		} else if (fnmatch(patterns[i], name, 0) == 0) {
			return 1;
		}
	}
	return 0;
}

static int excluded(const struct mas_corpus *corpus, const char *rel,
                    const char *name)
{
	return matches(corpus->exclude, corpus->exclude_count, rel, name);
}

static int wanted(const struct mas_corpus *corpus, const char *rel,
                  const char *name)
{
	if (excluded(corpus, rel, name))
		return 0;
	if (corpus->include_count == 0)
		return default_kind(name);
	return matches(corpus->include, corpus->include_count, rel, name);
}

static void add_file(struct mas_corpus *corpus, const char *path,
                     const char *real, const struct stat *st)
{
	struct mas_corpus_file *file;

	if (corpus->count == corpus->capacity) {
		size_t capacity = corpus->capacity ? corpus->capacity * 2 : 64;
		void *grown = realloc(corpus->files,
		                      capacity * sizeof(*corpus->files));
		if (!grown)
			mas_die(MAS_EXIT_IO, "out of memory");
		corpus->files = grown;
		corpus->capacity = capacity;
	}
	file = &corpus->files[corpus->count++];
	file->path = strdup(path);
	file->real = strdup(real);
	if (!file->path || !file->real)
		mas_die(MAS_EXIT_IO, "out of memory");
	file->size = (long long)st->st_size;
	file->mtime_ns = (long long)st->st_mtim.tv_sec * 1000000000LL +
	                 st->st_mtim.tv_nsec;
	file->jsonl = has_suffix(path, ".jsonl");
	corpus->bytes += file->size;
}

/* Names in byte order, so a corpus reads the same on every machine. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* One entry NAME of a folder: PATH as reached, REAL its real path, REL
 * its path below the root. */
static void walk(struct mas_corpus *corpus, const char *dir,
                 const char *real, const char *rel, int depth);

static void walk_entry(struct mas_corpus *corpus, const char *name,
                       const char *path, const char *real, const char *rel,
                       int depth)
{
	struct stat st;

	if (name[0] == '.') {
		if (strcmp(name, ".") && strcmp(name, ".."))
			mas_info("%s: hidden, skipped", path);
	} else if (stat(path, &st) != 0) {
		mas_warn("%s: %s; skipped", path, strerror(errno));
	} else if (S_ISDIR(st.st_mode)) {
		if (excluded(corpus, rel, name))
			mas_info("%s: excluded, skipped", path);
		else if (depth < MAX_DEPTH)
			walk(corpus, path, real, rel, depth + 1);
		else
			mas_warn("%s: nested too deep; skipped", path);
	} else if (S_ISREG(st.st_mode) && wanted(corpus, rel, name)) {
		add_file(corpus, path, real, &st);
	} else if (corpus->include_count || corpus->exclude_count) {
		mas_info("%s: not matched by the patterns, skipped", path);
	} else {
		mas_info("%s: not .txt, .md or .jsonl, skipped", path);
	}
}

static void walk(struct mas_corpus *corpus, const char *dir,
                 const char *real, const char *rel, int depth)
{
	struct dirent **names;
	int count = scandir(dir, &names, NULL, by_name);

	if (count < 0) {
		mas_warn("%s: %s; skipped", dir, strerror(errno));
		return;
	}
	for (int i = 0; i < count; i++) {
		const char *name = names[i]->d_name;
		char *path = join_path(dir, name);
		char *real_path = join_path(real, name);
		char *rel_path = *rel ? join_path(rel, name) : strdup(name);

		if (!rel_path)
			mas_die(MAS_EXIT_IO, "out of memory");
		walk_entry(corpus, name, path, real_path, rel_path, depth);
		free(path);
		free(real_path);
		free(rel_path);
		free(names[i]);
	}
	free(names);
}

static void append_key(struct mas_corpus *corpus, const char *format,
                       const char *value)
{
	size_t length = corpus->key ? strlen(corpus->key) : 0;
	int more = snprintf(NULL, 0, format, value);

	corpus->key = realloc(corpus->key, length + (size_t)more + 1);
	if (!corpus->key)
		mas_die(MAS_EXIT_IO, "out of memory");
	snprintf(corpus->key + length, (size_t)more + 1, format, value);
}

static int add_root(struct mas_corpus *corpus, const char *root, char **error)
{
	char *real = realpath(root, NULL);
	struct stat st;
	int fd;

	if (!real || stat(real, &st) != 0) {
		free(real);
		return mas_error_set(error, "--corpus: %s: %s", root,
		                     strerror(errno));
	}
	fd = open(real, O_RDONLY);
	if (fd < 0) {
		mas_error_set(error, "--corpus: %s: %s", root,
		              strerror(errno));
		free(real);
		return -1;
	}
	close(fd);
	append_key(corpus, "%s\n", real);
	if (S_ISDIR(st.st_mode))
		walk(corpus, root, real, "", 0);
	else if (S_ISREG(st.st_mode))
		add_file(corpus, root, real, &st);
	else
		mas_warn("%s: not a file or folder; skipped", root);
	free(real);
	return 0;
}

static void add_pattern(char ***list, size_t *count, char *pattern)
{
	*list = realloc(*list, (*count + 1) * sizeof(**list));
	if (!*list)
		mas_die(MAS_EXIT_IO, "out of memory");
	(*list)[(*count)++] = pattern;
}

/* The globs of RULES into CORPUS, split in one copy. */
static void take_rules(struct mas_corpus *corpus,
                       const struct mas_corpus_rules *rules)
{
	const char *include = rules && rules->include ? rules->include : "";
	const char *exclude = rules && rules->exclude ? rules->exclude : "";
	size_t n = strlen(include);
	char *save = NULL;

	if (asprintf(&corpus->patterns, "%s%c%s", include, 0, exclude) < 0)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (char *p = strtok_r(corpus->patterns, ":", &save); p;
	     p = strtok_r(NULL, ":", &save))
		add_pattern(&corpus->include, &corpus->include_count, p);
	save = NULL;
	for (char *p = strtok_r(corpus->patterns + n + 1, ":", &save); p;
	     p = strtok_r(NULL, ":", &save))
		add_pattern(&corpus->exclude, &corpus->exclude_count, p);
	if (rules && rules->id_field && *rules->id_field) {
		corpus->id_field = strdup(rules->id_field);
		if (!corpus->id_field)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
}

/* The rules that are set join the key: another choice of files or ids
 * is another index (and the default's key is what it always was). */
static void key_rules(struct mas_corpus *corpus,
                      const struct mas_corpus_rules *rules)
{
	if (corpus->include_count)
		append_key(corpus, "include=%s\n", rules->include);
	if (corpus->exclude_count)
		append_key(corpus, "exclude=%s\n", rules->exclude);
	if (corpus->id_field)
		append_key(corpus, "id_field=%s\n", corpus->id_field);
}

int mas_corpus_scan(struct mas_corpus *corpus, char *const *roots,
                    size_t count, const struct mas_corpus_rules *rules,
                    char **error)
{
	memset(corpus, 0, sizeof(*corpus));
	*error = NULL;
	take_rules(corpus, rules);
	for (size_t i = 0; i < count; i++)
		if (add_root(corpus, roots[i], error) != 0)
			return -1;
	key_rules(corpus, rules);
	return 0;
}

char *mas_corpus_signature(const struct mas_corpus *corpus)
{
	jv list = jv_array();
	jv text;
	char *signature;

	for (size_t i = 0; i < corpus->count; i++) {
		const struct mas_corpus_file *f = &corpus->files[i];
		list = jv_array_append(list, JV_ARRAY(
			jv_string(f->real), jv_number((double)f->size),
			jv_number((double)f->mtime_ns)));
	}
	text = jv_dump_string(list, 0);
	signature = strdup(jv_string_value(text));
	jv_free(text);
	if (!signature)
		mas_die(MAS_EXIT_IO, "out of memory");
	return signature;
}

void mas_corpus_release(struct mas_corpus *corpus)
{
	for (size_t i = 0; i < corpus->count; i++) {
		free(corpus->files[i].path);
		free(corpus->files[i].real);
	}
	free(corpus->files);
	free(corpus->key);
	free(corpus->include);
	free(corpus->exclude);
	free(corpus->patterns);
	free(corpus->id_field);
	memset(corpus, 0, sizeof(*corpus));
}

/* ---- passages ---- */

struct spans {
	const char **start, **end;
	size_t count, capacity;
};

static void add_span(void *user, const char *start, size_t length)
{
	struct spans *spans = user;

	if (spans->count == spans->capacity) {
		spans->capacity = spans->capacity ? spans->capacity * 2 : 32;
		spans->start = realloc(spans->start,
		                       spans->capacity * sizeof(char *));
		spans->end = realloc(spans->end,
		                     spans->capacity * sizeof(char *));
		if (!spans->start || !spans->end)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	spans->start[spans->count] = start;
	spans->end[spans->count++] = start + length;
}

/* A long paragraph in pieces of about the target size. */
static void cut(const char *start, const char *end, mas_text_span_fn fn,
                void *user)
{
	struct spans sentences = { 0 };
	const char *piece = NULL;

	mas_text_sentences(start, (size_t)(end - start), add_span, &sentences);
	for (size_t i = 0; i < sentences.count; i++) {
		if (!piece)
			piece = sentences.start[i];
		if (sentences.end[i] - piece >= MAS_CORPUS_PASSAGE_TARGET ||
		    i + 1 == sentences.count) {
			fn(user, piece, (size_t)(sentences.end[i] - piece));
			piece = NULL;
		}
	}
	free(sentences.start);
	free(sentences.end);
}

static int blank_line(const char *p, const char *end)
{
	while (p < end && *p != '\n') {
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return 0;
		p++;
	}
	return 1;
}

static const char *line_end(const char *p, const char *end)
{
	const char *nl;

	if (p >= end)
		return end;
	nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl + 1 : end;
}

/* The next paragraph at or after *P: its span, or 0 at the end. */
static int next_paragraph(const char **p, const char *end, const char **start,
                          const char **stop)
{
	while (*p < end && blank_line(*p, end))
		*p = line_end(*p, end);
	if (*p >= end)
		return 0;
	*start = *p;
	while (*p < end && !blank_line(*p, end))
		*p = line_end(*p, end);
	*stop = *p;
	while (*stop > *start && ((*stop)[-1] == '\n' || (*stop)[-1] == '\r' ||
	                          (*stop)[-1] == ' ' || (*stop)[-1] == '\t'))
		(*stop)--;
	return 1;
}

void mas_corpus_passages(const char *text, size_t size, mas_text_span_fn fn,
                         void *user)
{
	const char *p = text, *end = text + size;
	const char *start, *stop, *from = NULL, *to = NULL;

	while (next_paragraph(&p, end, &start, &stop)) {
		if (stop - start > MAS_CORPUS_PASSAGE_MAX) {
			if (from)
				fn(user, from, (size_t)(to - from));
			from = NULL;
			cut(start, stop, fn, user);
			continue;
		}
		if (from && to - from < MAS_CORPUS_PASSAGE_MIN &&
		    stop - from <= MAS_CORPUS_PASSAGE_MAX) {
			to = stop;
			continue;
		}
		if (from)
			fn(user, from, (size_t)(to - from));
		from = start;
		to = stop;
	}
	if (from)
		fn(user, from, (size_t)(to - from));
}

/* ---- reading files ---- */

static char *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t length = 0, capacity = 0;

	if (!f)
		return NULL;
	for (;;) {
		size_t got;
		if (length + 65536 + 1 > capacity) {
			capacity = capacity ? capacity * 2 : 65536 * 2;
			data = realloc(data, capacity);
			if (!data)
				mas_die(MAS_EXIT_IO, "out of memory");
		}
		got = fread(data + length, 1, capacity - length - 1, f);
		length += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		int saved = errno;
		fclose(f);
		free(data);
		errno = saved ? saved : EIO;
		return NULL;
	}
	fclose(f);
	data[length] = '\0';
	*size = length;
	return data;
}

/* Whether the head of DATA says binary (see corpus.h). */
static const char *binary_reason(const char *data, size_t size)
{
	size_t n = size < MAS_CORPUS_SNIFF ? size : MAS_CORPUS_SNIFF;
	size_t bad;

	if (memchr(data, '\0', n))
		return "a NUL byte";
	bad = mas_utf8_invalid_offset(data, n);
	/* A character cut by the 8 KiB boundary is not a fault. */
	if (bad < n && !(size > n && bad + 4 > n))
		return "invalid UTF-8";
	return NULL;
}

/* DATA, bytes BASE on of the file PATH, with invalid sequences as U+FFFD
 * and NUL as space, in place or in a new buffer (DATA is then freed, and
 * *CAP, when not NULL, is the new one's size); warns unless *WARNED,
 * which it sets. */
static char *repair(const char *path, char *data, size_t *size, size_t base,
                    int *warned, size_t *cap)
{
	size_t bad = mas_utf8_invalid_offset(data, *size);
	char *out, *to;
	const char *p = data, *end = data + *size;

	if (bad == *size && !memchr(data, '\0', *size))
		return data;
	if (!*warned)
		mas_warn("%s: invalid UTF-8 or NUL bytes from byte %zu, "
		         "replaced", path, base + bad);
	*warned = 1;
	if (cap)
		*cap = *size * 3 + 1;
	out = malloc(*size * 3 + 1);
	if (!out)
		mas_die(MAS_EXIT_IO, "out of memory");
	to = out;
	while (p < end) {
		const char *at = p;
		int32_t cp = mas_text_decode(&p, end);
		if (cp < 0) {
			memcpy(to, "\xEF\xBF\xBD", 3);
			to += 3;
		} else if (cp == 0) {
			*to++ = ' ';
		} else {
			memcpy(to, at, (size_t)(p - at));
			to += p - at;
		}
	}
	*to = '\0';
	*size = (size_t)(to - out);
	free(data);
	return out;
}

static void add_passage(void *user, const char *start, size_t length)
{
	mas_index_add_passage(user, start, length);
}

static int sentence_like_end(const char *line, size_t length)
{
	static const char *const ends[] = { ".", "!", "?", ":", ";", ",",
		"。", "！", "？", "：", "；", "，", NULL };

	for (int i = 0; ends[i]; i++) {
		size_t n = strlen(ends[i]);
		if (length >= n && memcmp(line + length - n, ends[i], n) == 0)
			return 1;
	}
	return 0;
}

/* The file's name without folder and extension, as a title. */
static char *name_title(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	const char *dot = strrchr(name, '.');
	size_t n = dot && dot > name ? (size_t)(dot - name) : strlen(name);

	return strndup(name, n);
}

/* Splits the title line off TEXT (see corpus.h); returns the title
 * (malloc'd) and moves *TEXT past it. */
static char *take_title(const char *path, const char **text, const char *end)
{
	const char *p = *text, *eol, *stop;

	while (p < end && blank_line(p, end) && line_end(p, end) < end)
		p = line_end(p, end);
	eol = line_end(p, end);
	if (eol >= end) /* one line: it is the text */
		return name_title(path);
	stop = eol;
	while (stop > p && (stop[-1] == '\n' || stop[-1] == '\r' ||
	                    stop[-1] == ' '))
		stop--;
	if (*p == '#') {
		while (p < stop && (*p == '#' || *p == ' '))
			p++;
	} else if (stop - p > 100 || stop == p ||
	           sentence_like_end(p, (size_t)(stop - p))) {
		return name_title(path);
	}
	*text = eol;
	return strndup(p, (size_t)(stop - p));
}

/* Where each document's id came from, to find the ids held twice. */
struct seen {
	char *id;
	const char *path;     /* borrowed from the corpus */
	size_t line;          /* 0: a whole file */
	size_t order;
};

struct reader {
	struct mas_index_builder *builder;
	const struct mas_corpus *corpus;
	struct seen *seen;
	size_t seen_count, seen_capacity;
};

static void add_document(struct reader *reader, const char *id,
                         const char *title, const char *path, size_t line)
{
	struct seen *s;

	mas_index_add_document(reader->builder, id, title, path);
	if (reader->seen_count == reader->seen_capacity) {
		reader->seen_capacity = reader->seen_capacity
		                                ? reader->seen_capacity * 2
		                                : 256;
		reader->seen = realloc(reader->seen, reader->seen_capacity *
		                                     sizeof(*reader->seen));
		if (!reader->seen)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	s = &reader->seen[reader->seen_count];
	s->id = strdup(id);
	if (!s->id)
		mas_die(MAS_EXIT_IO, "out of memory");
	s->path = path;
	s->line = line;
	s->order = reader->seen_count++;
}

static int by_id(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Ids warned about one by one; past these, only how many more. */
#define DUPLICATES_NAMED 10
#define PLACES_NAMED 10

static void warn_duplicate(const struct seen *run, size_t n)
{
	char *places = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&places, &size);

	if (!out)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < n && i < PLACES_NAMED; i++) {
		fprintf(out, "%s%s", i ? ", " : "", run[i].path);
		if (run[i].line)
			fprintf(out, ":%zu", run[i].line);
	}
	if (n > PLACES_NAMED)
		fprintf(out, " and %zu more", n - PLACES_NAMED);
	fclose(out);
	mas_warn("duplicate id '%s' in %zu documents: %s; each is kept",
	         run[0].id, n, places);
	free(places);
}

/* Warns about each id held more than once; returns how many there are. */
static size_t check_ids(struct reader *reader)
{
	struct seen *seen = reader->seen;
	size_t count = reader->seen_count, duplicated = 0;

	if (count == 0)
		return 0; /* no document: SEEN is NULL, which qsort may not take */
	qsort(seen, count, sizeof(*seen), by_id);
	for (size_t i = 0; i < count;) {
		size_t j = i + 1;
		while (j < count && strcmp(seen[j].id, seen[i].id) == 0)
			j++;
		if (j - i > 1 && duplicated++ < DUPLICATES_NAMED)
			warn_duplicate(&seen[i], j - i);
		i = j;
	}
	if (duplicated > DUPLICATES_NAMED)
		mas_warn("%zu more ids are held by more than one document",
		         duplicated - DUPLICATES_NAMED);
	for (size_t i = 0; i < count; i++)
		free(seen[i].id);
	free(seen);
	return duplicated;
}

static void index_text(struct reader *reader,
                       const struct mas_corpus_file *file, const char *data,
                       size_t size)
{
	const char *text = data, *end = data + size;
	char *title;

	if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		text += 3; /* a byte order mark */
	title = take_title(file->path, &text, end);
	if (!title)
		mas_die(MAS_EXIT_IO, "out of memory");
	add_document(reader, file->path, title, file->path, 0);
	mas_corpus_passages(text, (size_t)(end - text), add_passage,
	                    reader->builder);
	free(title);
}

/* DOC's (borrowed) field NAME as an id, or invalid. */
static jv id_named(jv doc, const char *name)
{
	jv id = jv_object_get(jv_copy(doc), jv_string(name));

	if (jv_get_kind(id) == JV_KIND_STRING && jv_string_length_bytes(
		    jv_copy(id)) > 0)
		return id;
	if (jv_get_kind(id) == JV_KIND_NUMBER)
		return jv_dump_string(id, 0);
	jv_free(id);
	return jv_invalid();
}

/* The document id of a JSON line: the field named, else "id", else
 * "_id", as text; else PATH:LINE. */
static jv line_id(jv doc, const char *field, const char *path, size_t line)
{
	jv id = id_named(doc, field ? field : "id");

	if (!jv_is_valid(id) && !field) {
		jv_free(id);
		id = id_named(doc, "_id");
	}
	if (jv_is_valid(id))
		return id;
	jv_free(id);
	return jv_string_fmt("%s:%zu", path, line);
}

static int index_line(struct reader *reader, const char *path,
                      size_t line, const char *start, size_t length)
{
	jv doc = jv_parse_sized(start, (int)length);
	jv text, title, id;

	if (jv_get_kind(doc) != JV_KIND_OBJECT) {
		mas_warn("%s:%zu: not a JSON object; skipped", path, line);
		jv_free(doc);
		return -1;
	}
	text = jv_object_get(jv_copy(doc), jv_string("text"));
	if (jv_get_kind(text) != JV_KIND_STRING ||
	    jv_string_length_bytes(jv_copy(text)) == 0) {
		mas_warn("%s:%zu: \"text\" is not a non-empty string; skipped",
		         path, line);
		jv_free(text);
		jv_free(doc);
		return -1;
	}
	id = line_id(doc, reader->corpus->id_field, path, line);
	title = jv_object_get(doc, jv_string("title"));
	if (jv_get_kind(title) != JV_KIND_STRING) {
		jv_free(title);
		title = jv_copy(id);
	}
	add_document(reader, jv_string_value(id), jv_string_value(title),
	             path, line);
	mas_corpus_passages(jv_string_value(text),
	                    (size_t)jv_string_length_bytes(jv_copy(text)),
	                    add_passage, reader->builder);
	jv_free(id);
	jv_free(title);
	jv_free(text);
	return 0;
}

/* The file at F's head is binary: why, or NULL.  F is left at its
 * start. */
static const char *binary_head(FILE *f)
{
	char head[MAS_CORPUS_SNIFF + 1];
	size_t n = fread(head, 1, sizeof(head), f);

	rewind(f);
	/* one byte more than the sniff says whether the file goes on */
	return n ? binary_reason(head, n) : NULL;
}

/*
 * A JSON Lines file, read a line at a time: reading it takes the memory
 * of its longest line, not of the file.  Returns 0, or -1 with errno
 * when it cannot be read (documents read before a read error are kept).
 */
static int read_jsonl(struct reader *reader,
                      const struct mas_corpus_file *file,
                      struct mas_corpus_stats *counts)
{
	FILE *f = fopen(file->path, "rb");
	const char *reason;
	char *line = NULL;
	size_t cap = 0, number = 0, offset = 0;
	ssize_t got;
	int warned = 0, saved;

	if (!f)
		return -1;
	reason = binary_head(f);
	mas_index_add_file(reader->builder, file->real, file->size,
	                   file->mtime_ns);
	if (reason) {
		mas_warn("%s: binary file (%s in the first 8 KiB); skipped",
		         file->path, reason);
		counts->skipped++;
		fclose(f);
		return 0;
	}
	counts->files++;
	while ((got = getline(&line, &cap, f)) > 0) {
		size_t size = (size_t)got;
		number++;
		line = repair(file->path, line, &size, offset, &warned, &cap);
		offset += (size_t)got;
		if (blank_line(line, line + size))
			continue;
		if (index_line(reader, file->path, number, line, size) == 0)
			counts->documents++;
	}
	saved = ferror(f) ? (errno ? errno : EIO) : 0;
	free(line);
	fclose(f);
	if (saved)
		mas_warn("%s: %s; read up to line %zu", file->path,
		         strerror(saved), number);
	return 0;
}

void mas_corpus_read(const struct mas_corpus *corpus,
                     struct mas_index_builder *builder,
                     struct mas_corpus_stats *stats)
{
	struct reader reader = { builder, corpus, NULL, 0, 0 };
	struct mas_corpus_stats counts = { 0 };

	for (size_t i = 0; i < corpus->count; i++) {
		const struct mas_corpus_file *file = &corpus->files[i];
		size_t size = 0;
		int warned = 0;
		char *data;
		const char *reason;

		if (file->jsonl && read_jsonl(&reader, file, &counts) == 0)
			continue;
		data = file->jsonl ? NULL : read_file(file->path, &size);
		if (!data) {
			mas_warn("%s: %s; skipped", file->path,
			         strerror(errno));
			counts.skipped++;
			continue;
		}
		/* a file read is listed, so that the next index takes its
		 * documents (or that it has none) from this one */
		mas_index_add_file(builder, file->real, file->size,
		                   file->mtime_ns);
		reason = binary_reason(data, size);
		if (reason) {
			mas_warn("%s: binary file (%s in the first 8 KiB); "
			         "skipped", file->path, reason);
			counts.skipped++;
			free(data);
			continue;
		}
		data = repair(file->path, data, &size, 0, &warned, NULL);
		counts.files++;
		index_text(&reader, file, data, size);
		counts.documents++;
		free(data);
	}
	counts.duplicate_ids = check_ids(&reader);
	if (stats)
		*stats = counts;
}

struct mas_index *mas_corpus_index(const struct mas_corpus *corpus,
                                   struct mas_corpus_stats *stats,
                                   char **error)
{
	struct mas_index_builder *builder = mas_index_builder_new();

	mas_corpus_read(corpus, builder, stats);
	return mas_index_build(builder, error);
}
