/*
 * lineedit.h — a small line editor for interactive programs: reads a
 * line from a terminal with editing and history, in UTF-8, CJK wide
 * characters included.  Not readline: no configuration, no completion,
 * one line at a time (a line longer than the terminal is redrawn on
 * several rows but edited correctly only on the last).
 *
 * Keys: printable text is inserted at the cursor; Left/Right, Ctrl-B/F
 * move by a character, Home/End, Ctrl-A/E to the ends; Backspace and
 * Delete (Ctrl-D on a non-empty line) delete; Ctrl-U and Ctrl-K cut to
 * the start or the end, Ctrl-W the word before the cursor; Up/Down,
 * Ctrl-P/N walk the history; Ctrl-L clears the screen; Ctrl-C drops the
 * line and starts a new one; Enter accepts; Ctrl-D on an empty line is
 * end of input.
 *
 * When the input is not a terminal, lines are read as they are, without
 * a prompt or echo, so the same program can be driven by a pipe.
 */
#ifndef MAS_LINEEDIT_H
#define MAS_LINEEDIT_H

#include <stddef.h>

struct mas_lineedit {
	int in, out;        /* file descriptors */
	int terminal;       /* IN is a terminal */
	char **history;
	size_t history_count;
	/* for the plain (not terminal) reader */
	char *pending;
	size_t pending_length, pending_capacity;
	int eof;
};

/* Read from IN, echo and draw to OUT (both borrowed). */
void mas_lineedit_init(struct mas_lineedit *editor, int in, int out);
void mas_lineedit_release(struct mas_lineedit *editor);

/*
 * The next line, without its newline, malloc'd; NULL at end of input
 * (or on a read error).  PROMPT is drawn before it on a terminal.
 */
char *mas_lineedit_read(struct mas_lineedit *editor, const char *prompt);

/* Add LINE (copied) to the history, unless empty or a repeat of the
 * last one. */
void mas_lineedit_add_history(struct mas_lineedit *editor, const char *line);

/* Display width of TEXT[0..LENGTH) in terminal columns (CJK wide
 * characters count two, combining marks none). */
size_t mas_lineedit_width(const char *text, size_t length);

#endif
