/*
 * lineedit.c — a small line editor (see lineedit.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "lineedit.h"
#include "log.h"
#include "mas.h"
#include "text.h"
#include "banned.h"

void mas_lineedit_init(struct mas_lineedit *editor, int in, int out)
{
	memset(editor, 0, sizeof(*editor));
	editor->in = in;
	editor->out = out;
	editor->terminal = isatty(in) && isatty(out);
}

void mas_lineedit_release(struct mas_lineedit *editor)
{
	for (size_t i = 0; i < editor->history_count; i++)
		free(editor->history[i]);
	free(editor->history);
	free(editor->pending);
	memset(editor, 0, sizeof(*editor));
}

void mas_lineedit_add_history(struct mas_lineedit *editor, const char *line)
{
	char **grown;

	if (!*line || (editor->history_count &&
	               strcmp(editor->history[editor->history_count - 1],
	                      line) == 0))
		return;
	grown = realloc(editor->history,
	                (editor->history_count + 1) * sizeof(*grown));
	if (!grown)
		mas_die(MAS_EXIT_IO, "out of memory");
	editor->history = grown;
	editor->history[editor->history_count] = strdup(line);
	if (!editor->history[editor->history_count])
		mas_die(MAS_EXIT_IO, "out of memory");
	editor->history_count++;
}

static int wide(int32_t c)
{
	return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) ||
	       (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
	       (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
	       (c >= 0xFFE0 && c <= 0xFFE6) ||
	       (c >= 0x1F300 && c <= 0x1FAFF) ||
	       (c >= 0x20000 && c <= 0x3FFFD);
}

size_t mas_lineedit_width(const char *text, size_t length)
{
	const char *p = text, *end = text + length;
	size_t width = 0;

	while (p < end) {
		int32_t c = mas_text_decode(&p, end);
		if (c >= 0x300 && c <= 0x36F)
			continue;
		width += wide(c) ? 2 : 1;
	}
	return width;
}

/* ---- not a terminal: plain lines ---- */

static char *plain_read(struct mas_lineedit *e)
{
	for (;;) {
		char *newline = e->pending_length
		        ? memchr(e->pending, '\n', e->pending_length) : NULL;
		char buf[4096];
		ssize_t n;
		if (newline || (e->eof && e->pending_length)) {
			size_t length = e->pending_length;
			if (newline)
				length = (size_t)(newline - e->pending);
			char *line = strndup(e->pending, length);
			size_t used = newline ? length + 1 : length;
			if (!line)
				mas_die(MAS_EXIT_IO, "out of memory");
			memmove(e->pending, e->pending + used,
			        e->pending_length - used);
			e->pending_length -= used;
			if (length && line[length - 1] == '\r')
				line[length - 1] = '\0';
			return line;
		}
		if (e->eof)
			return NULL;
		n = read(e->in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e->eof = 1;
			continue;
		}
		if (e->pending_length + (size_t)n > e->pending_capacity) {
			e->pending_capacity =
				(e->pending_length + (size_t)n) * 2;
			e->pending = realloc(e->pending, e->pending_capacity);
			if (!e->pending)
				mas_die(MAS_EXIT_IO, "out of memory");
		}
		memcpy(e->pending + e->pending_length, buf, (size_t)n);
		e->pending_length += (size_t)n;
	}
}

/* ---- a terminal: editing ---- */

struct line {
	char *text;
	size_t length, capacity, cursor;  /* in bytes */
	size_t history_at;                /* history index being shown */
	const char *prompt;
};

static void out(struct mas_lineedit *e, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(e->out, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void outs(struct mas_lineedit *e, const char *s)
{
	out(e, s, strlen(s));
}

static void redraw(struct mas_lineedit *e, const struct line *l)
{
	char move[32];
	size_t back = mas_lineedit_width(l->text + l->cursor,
	                                 l->length - l->cursor);

	outs(e, "\r");
	outs(e, l->prompt);
	out(e, l->text, l->length);
	outs(e, "\x1b[K");
	if (back > 0) {
		snprintf(move, sizeof(move), "\x1b[%zuD", back);
		outs(e, move);
	}
}

static void reserve(struct line *l, size_t more)
{
	if (l->length + more + 1 <= l->capacity)
		return;
	l->capacity = (l->length + more + 1) * 2;
	l->text = realloc(l->text, l->capacity);
	if (!l->text)
		mas_die(MAS_EXIT_IO, "out of memory");
}

static void insert(struct line *l, const char *s, size_t n)
{
	reserve(l, n);
	memmove(l->text + l->cursor + n, l->text + l->cursor,
	        l->length - l->cursor);
	memcpy(l->text + l->cursor, s, n);
	l->length += n;
	l->cursor += n;
	l->text[l->length] = '\0';
}

static void erase(struct line *l, size_t from, size_t to)
{
	memmove(l->text + from, l->text + to, l->length - to);
	l->length -= to - from;
	if (l->cursor > to)
		l->cursor -= to - from;
	else if (l->cursor > from)
		l->cursor = from;
	l->text[l->length] = '\0';
}

static size_t previous_char(const struct line *l, size_t at)
{
	while (at > 0 && (l->text[--at] & 0xC0) == 0x80)
		;
	return at;
}

static size_t next_char(const struct line *l, size_t at)
{
	if (at < l->length)
		at++;
	while (at < l->length && (l->text[at] & 0xC0) == 0x80)
		at++;
	return at;
}

static void set_text(struct line *l, const char *text)
{
	l->length = 0;
	reserve(l, strlen(text));
	memcpy(l->text, text, strlen(text) + 1);
	l->length = l->cursor = strlen(text);
}

static void walk_history(struct mas_lineedit *e, struct line *l, int step)
{
	size_t at = l->history_at;

	if (step < 0 && at > 0)
		at--;
	else if (step > 0 && at < e->history_count)
		at++;
	else
		return;
	l->history_at = at;
	set_text(l, at < e->history_count ? e->history[at] : "");
}

static void cut_word(struct line *l)
{
	size_t at = l->cursor;

	while (at > 0 && l->text[at - 1] == ' ')
		at--;
	while (at > 0 && l->text[at - 1] != ' ')
		at = previous_char(l, at);
	erase(l, at, l->cursor);
}

static int read_byte(struct mas_lineedit *e, unsigned char *c)
{
	for (;;) {
		ssize_t n = read(e->in, c, 1);
		if (n == 1)
			return 1;
		if (n < 0 && errno == EINTR)
			continue;
		return 0;
	}
}

/* An escape sequence after ESC: arrows, Home, End, Delete. */
static void escape(struct mas_lineedit *e, struct line *l)
{
	unsigned char a, b, c;

	if (!read_byte(e, &a) || (a != '[' && a != 'O') || !read_byte(e, &b))
		return;
	if (b >= '0' && b <= '9') {
		if (!read_byte(e, &c) || c != '~')
			return;
		if (b == '3')
			erase(l, l->cursor, next_char(l, l->cursor));
		else if (b == '1' || b == '7')
			l->cursor = 0;
		else if (b == '4' || b == '8')
			l->cursor = l->length;
		return;
	}
	switch (b) {
	case 'A': walk_history(e, l, -1); break;
	case 'B': walk_history(e, l, 1); break;
	case 'C': l->cursor = next_char(l, l->cursor); break;
	case 'D': l->cursor = previous_char(l, l->cursor); break;
	case 'H': l->cursor = 0; break;
	case 'F': l->cursor = l->length; break;
	}
}

/* The bytes of one UTF-8 character starting with LEAD. */
static void insert_char(struct mas_lineedit *e, struct line *l,
                        unsigned char lead)
{
	char buf[4];
	size_t n = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
	unsigned char c;

	buf[0] = (char)lead;
	for (size_t i = 1; i < n; i++) {
		if (!read_byte(e, &c))
			return;
		buf[i] = (char)c;
	}
	insert(l, buf, n);
}

enum outcome { GO_ON, ACCEPT, END };

static enum outcome key(struct mas_lineedit *e, struct line *l,
                        unsigned char c)
{
	switch (c) {
	case '\r': case '\n': return ACCEPT;
	case 4: /* Ctrl-D */
		if (l->length == 0)
			return END;
		erase(l, l->cursor, next_char(l, l->cursor));
		break;
	case 3: /* Ctrl-C: a new, empty line */
		outs(e, "^C\r\n");
		l->length = l->cursor = 0;
		l->text[0] = '\0';
		break;
	case 127: case 8:
		erase(l, previous_char(l, l->cursor), l->cursor);
		break;
	case 1: l->cursor = 0; break;
	case 5: l->cursor = l->length; break;
	case 2: l->cursor = previous_char(l, l->cursor); break;
	case 6: l->cursor = next_char(l, l->cursor); break;
	case 11: erase(l, l->cursor, l->length); break;
	case 21: erase(l, 0, l->cursor); break;
	case 23: cut_word(l); break;
	case 16: walk_history(e, l, -1); break;
	case 14: walk_history(e, l, 1); break;
	case 12: outs(e, "\x1b[H\x1b[2J"); break;
	case 27: escape(e, l); break;
	default:
		if (c >= 32)
			insert_char(e, l, c);
	}
	return GO_ON;
}

static char *edit(struct mas_lineedit *e, const char *prompt)
{
	struct line l = { .prompt = prompt,
	                  .history_at = e->history_count };
	enum outcome outcome = GO_ON;
	unsigned char c;

	reserve(&l, 64);
	l.text[0] = '\0';
	redraw(e, &l);
	while (outcome == GO_ON) {
		if (!read_byte(e, &c)) {
			outcome = END;
			break;
		}
		outcome = key(e, &l, c);
		if (outcome == GO_ON)
			redraw(e, &l);
	}
	outs(e, "\r\n");
	if (outcome == END) {
		free(l.text);
		return NULL;
	}
	return l.text;
}

char *mas_lineedit_read(struct mas_lineedit *editor, const char *prompt)
{
	struct termios saved, raw;
	char *line;

	if (!editor->terminal || tcgetattr(editor->in, &saved) != 0)
		return plain_read(editor);
	raw = saved;
	/* Raw input, so that every key comes at once and Ctrl-C is ours
	 * (TCSANOW: keys typed ahead are kept, not flushed);
	 * output processing stays on, so "\n" still returns the carriage. */
	raw.c_iflag &= (tcflag_t)~(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
	raw.c_cflag |= CS8;
	raw.c_lflag &= (tcflag_t)~(ECHO | ICANON | IEXTEN | ISIG);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(editor->in, TCSANOW, &raw) != 0)
		return plain_read(editor);
	line = edit(editor, prompt);
	tcsetattr(editor->in, TCSANOW, &saved);
	return line;
}
