/*
 * lineedit.h — a person's lines from the terminal, over libedit (the BSD
 * editline library, Debian libedit-dev, BSD licence), for interactive
 * programs (mas-chat -i).  libedit does the editing, UTF-8 (CJK wide
 * characters included), the history and the terminal's modes; this
 * module adds what a program that streams answers between two lines
 * needs: a history file, Ctrl-C that never kills, and a terminal that
 * is quiet while an answer prints and restored on every way out.
 *
 * Keys (libedit's emacs bindings, ~/.editrc or $EDITRC read after ours):
 * Left/Right, Ctrl-B/F move by a character, Home/End, Ctrl-A/E to the
 * ends, Alt-B/F by words; Backspace, Delete, Ctrl-D on a non-empty line
 * delete; Ctrl-U cuts the line, Ctrl-K to its end, Ctrl-W the word
 * before the cursor, Ctrl-Y puts back; Up/Down, Ctrl-P/N walk the
 * history; Ctrl-L clears the screen; Ctrl-C drops the line and starts a
 * new one; Enter accepts; Ctrl-D on an empty line is end of input.
 *
 * The history file (mas_lineedit_history_path) is loaded when the
 * editor is made and written again, whole, after each line added: the
 * last MAS_LINEEDIT_HISTORY_MAX lines, no line twice in a row, mode
 * 0600, written to FILE.tmp and renamed.  Two sessions at once: the one
 * that writes last keeps its lines and what it loaded.
 *
 * Signals, on a terminal: SIGINT never kills.  At the prompt the
 * terminal sends no signal for Ctrl-C (the key is bound instead); while
 * the program is busy (mas_lineedit_busy) SIGINT makes a descriptor
 * readable.  SIGTERM, SIGHUP and SIGQUIT, and exit(3), put the terminal
 * back as it was first, then do what they do.  One editor at a time.
 *
 * When the input or the output is not a terminal, lines are read as
 * they come, without a prompt, editing, history or signal handling, so
 * the same program can be driven by a pipe.
 *
 * Why libedit, not readline: same features, BSD licence (readline is
 * GPL), and it is what the BSDs ship.  The hand-written editor it
 * replaces had no history file and no signal handling.
 */
#ifndef MAS_LINEEDIT_H
#define MAS_LINEEDIT_H

#define MAS_LINEEDIT_HISTORY_MAX 1000

struct mas_lineedit;

/*
 * An editor reading stdin and drawing on stdout.  HISTORY (copied) is
 * the history file, NULL for mas_lineedit_history_path's; on a terminal
 * it is loaded now when it exists (a file that cannot be read is warned
 * about and the session goes on without what it held).  PROGRAM names
 * the editor for ~/.editrc.  Exits on allocation failure only.
 */
struct mas_lineedit *mas_lineedit_new(const char *program,
                                      const char *history);

/* Puts the terminal and signals back.  NULL is fine. */
void mas_lineedit_free(struct mas_lineedit *editor);

/* Whether lines come from a person at a terminal (1) or a pipe (0). */
int mas_lineedit_terminal(const struct mas_lineedit *editor);

/*
 * The next line, without its newline, malloc'd; NULL at end of input
 * (Ctrl-D) or on a read error.  PROMPT is drawn before it on a terminal.
 */
char *mas_lineedit_read(struct mas_lineedit *editor, const char *prompt);

/* Add LINE (copied) to the history, unless empty or a repeat of the
 * last one, and write the history file.  A file that cannot be written
 * is warned about once. */
void mas_lineedit_add_history(struct mas_lineedit *editor, const char *line);

/*
 * The history file: $XDG_STATE_HOME/mas/history, else
 * $HOME/.local/state/mas/history (malloc'd), its directory made (0700)
 * when missing; NULL, warned about, when neither variable is set or the
 * directory cannot be made.
 */
char *mas_lineedit_history_path(void);

/*
 * The program starts work between two lines (an answer streaming): the
 * terminal stops echoing, so what is typed meanwhile is not mixed into
 * the answer (it waits for the next prompt, unseen), and Ctrl-C makes
 * the returned descriptor readable (the caller polls it, never reads
 * it).  Returns -1 when not on a terminal.
 */
int mas_lineedit_busy(struct mas_lineedit *editor);

/* The work is over: echo back; returns 1 when Ctrl-C was pressed since
 * mas_lineedit_busy, else 0. */
int mas_lineedit_idle(struct mas_lineedit *editor);

#endif
