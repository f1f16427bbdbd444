/*
 * lineedit.c — a person's lines over libedit (see lineedit.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <histedit.h>

#include "lineedit.h"
#include "log.h"
#include "mas.h"
#include "store.h"
#include "banned.h"

struct mas_lineedit {
	int terminal;
	EditLine *el;
	History *history;
	char *path;                /* the history file, or NULL */
	int save_warned;
	const char *prompt;        /* borrowed, for prompt_of */
	int interrupted;           /* Ctrl-C at the prompt */
	struct sigaction old[4];   /* as `handled` */
	char *plain;               /* the plain reader's line */
	size_t plain_size;
};

static const int handled[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define HANDLED (sizeof(handled) / sizeof(handled[0]))

/* What the signal handlers touch: process-wide, one editor at a time. */
static int stop_pipe[2] = { -1, -1 };
static struct termios first_tty;
static volatile sig_atomic_t tty_saved;

static void on_interrupt(int sig)
{
	int saved = errno;
	ssize_t n = write(stop_pipe[1], "", 1); /* full: one is enough */

	(void)n;
	(void)sig;
	errno = saved;
}

static void restore_tty(void)
{
	if (tty_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &first_tty);
}

static void on_fatal(int sig)
{
	restore_tty();
	signal(sig, SIG_DFL);
	raise(sig); /* delivered when the handler returns */
}

/* Empties the stop pipe; 1 when it held anything. */
static int drain_stop(void)
{
	char buf[64];
	int any = 0;

	while (read(stop_pipe[0], buf, sizeof(buf)) > 0)
		any = 1;
	return any;
}

static void catch_signals(struct mas_lineedit *e)
{
	static int registered;

	if (pipe2(stop_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
		mas_die(MAS_EXIT_IO, "pipe: %s", strerror(errno));
	if (tcgetattr(STDIN_FILENO, &first_tty) == 0)
		tty_saved = 1;
	if (!registered && atexit(restore_tty) == 0)
		registered = 1;
	for (size_t i = 0; i < HANDLED; i++) {
		struct sigaction action = { 0 };
		/* no SA_RESTART: a wait in poll(2) ends at once */
		action.sa_handler = handled[i] == SIGINT ? on_interrupt
		                                         : on_fatal;
		sigemptyset(&action.sa_mask);
		sigaction(handled[i], &action, &e->old[i]);
	}
}

static void release_signals(struct mas_lineedit *e)
{
	restore_tty();
	tty_saved = 0;
	for (size_t i = 0; i < HANDLED; i++)
		sigaction(handled[i], &e->old[i], NULL);
	close(stop_pipe[0]);
	close(stop_pipe[1]);
	stop_pipe[0] = stop_pipe[1] = -1;
}

/* ---- the history file ---- */

char *mas_lineedit_history_path(void)
{
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	char *path = NULL, *error = NULL;
	int n = -1;

	if (xdg && *xdg)
		n = asprintf(&path, "%s/mas/history", xdg);
	else if (home && *home)
		n = asprintf(&path, "%s/.local/state/mas/history", home);
	if (n < 0) {
		mas_warn("no history file: set XDG_STATE_HOME or HOME");
		return NULL;
	}
	if (mas_store_make_parents(path, &error) != 0) {
		mas_warn("no history file: %s", error ? error : path);
		free(error);
		free(path);
		return NULL;
	}
	return path;
}

static void load_history(struct mas_lineedit *e)
{
	HistEvent event;

	if (!e->path || access(e->path, F_OK) != 0)
		return;
	errno = 0;
	if (history(e->history, &event, H_LOAD, e->path) < 0)
		mas_warn("%s: cannot read the history: %s", e->path,
		         errno ? strerror(errno) : "not a history file");
}

/* The whole history to FILE.tmp (0600), then renamed over FILE: a
 * crash never leaves half a file. */
static int save_history(struct mas_lineedit *e)
{
	HistEvent event;
	size_t size = strlen(e->path) + 5;
	char *temporary = malloc(size);
	FILE *file = NULL;
	int fd, ok;

	if (!temporary)
		mas_die(MAS_EXIT_IO, "out of memory");
	snprintf(temporary, size, "%s.tmp", e->path);
	fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && fchmod(fd, 0600) == 0)
		file = fdopen(fd, "w");
	else if (fd >= 0)
		close(fd);
	ok = file && history(e->history, &event, H_SAVE_FP, file) >= 0;
	if (file && fclose(file) != 0)
		ok = 0;
	if (ok && rename(temporary, e->path) != 0)
		ok = 0;
	if (!ok)
		unlink(temporary);
	free(temporary);
	return ok ? 0 : -1;
}

void mas_lineedit_add_history(struct mas_lineedit *editor, const char *line)
{
	HistEvent event;

	if (!editor->terminal || !*line)
		return;
	history(editor->history, &event, H_ENTER, line);
	if (!editor->path || save_history(editor) == 0)
		return;
	if (!editor->save_warned)
		mas_warn("%s: cannot write the history: %s", editor->path,
		         strerror(errno));
	editor->save_warned = 1;
}

/* ---- libedit ---- */

static char *prompt_of(EditLine *el)
{
	struct mas_lineedit *e = NULL;

	el_get(el, EL_CLIENTDATA, &e);
	return (char *)e->prompt;
}

/* Ctrl-C: the line is shown ended by "^C" and dropped (the pushed
 * newline ends el_gets, which the reader then ignores). */
static unsigned char interrupt_key(EditLine *el, int key)
{
	struct mas_lineedit *e = NULL;
	const LineInfoW *line = el_wline(el);

	(void)key;
	el_get(el, EL_CLIENTDATA, &e);
	e->interrupted = 1;
	el_cursor(el, (int)(line->lastchar - line->cursor));
	el_insertstr(el, "^C");
	el_push(el, "\n");
	return CC_REFRESH;
}

/*
 * Between two lines (libedit's "ex" mode, set in make_editor, and now
 * until the first el_gets) the terminal neither echoes, edits nor
 * sends signals: what is typed while an answer prints is not mixed
 * into it, and keys typed after el_gets draws its prompt but before it
 * takes the terminal (in that order) reach it as they were typed, not
 * eaten by the terminal's own line editing (a Ctrl-D there was lost, a
 * Ctrl-C flushed the line and sent SIGINT).  mas_lineedit_busy turns
 * signals on for its while.
 */
static void quiet_between_lines(void)
{
	struct termios quiet = first_tty;

	quiet.c_lflag &= (tcflag_t)~(ECHO | ECHONL | ICANON | ISIG);
	quiet.c_cc[VMIN] = 1;
	quiet.c_cc[VTIME] = 0;
	if (tty_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
}

/* Home, End and Delete as the common terminals send them, whatever
 * TERM says (libedit binds only what the terminal's entry lists). */
static void bind_keys(EditLine *el)
{
	static const char *const keys[][2] = {
		{ "\\e[H", "ed-move-to-beg" }, { "\\eOH", "ed-move-to-beg" },
		{ "\\e[1~", "ed-move-to-beg" }, { "\\e[7~", "ed-move-to-beg" },
		{ "\\e[F", "ed-move-to-end" }, { "\\eOF", "ed-move-to-end" },
		{ "\\e[4~", "ed-move-to-end" }, { "\\e[8~", "ed-move-to-end" },
		{ "\\e[3~", "ed-delete-next-char" },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		el_set(el, EL_BIND, keys[i][0], keys[i][1], NULL);
}

/* libedit handles UTF-8 when LC_CTYPE says so; mas speaks UTF-8
 * whatever the locale, so C and POSIX become C.UTF-8. */
static void utf8_locale(void)
{
	if (!setlocale(LC_CTYPE, "") ||
	    strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
		setlocale(LC_CTYPE, "C.UTF-8");
}

static int make_editor(struct mas_lineedit *e, const char *program)
{
	utf8_locale();
	e->el = el_init(program, stdin, stdout, stderr);
	if (!e->el)
		return -1;
	el_set(e->el, EL_CLIENTDATA, e);
	el_set(e->el, EL_EDITOR, "emacs");
	el_set(e->el, EL_PROMPT, prompt_of);
	el_set(e->el, EL_SIGNAL, 0);
	/* Ctrl-C is a key at the prompt, not a signal */
	el_set(e->el, EL_SETTY, "-d", "-isig", NULL);
	el_set(e->el, EL_SETTY, "-x", "-echo", "-echonl", "-icanon", "-isig",
	       NULL);
	/* wide: the narrow el_set copies the name and help and never
	 * frees them (LeakSanitizer) */
	el_wset(e->el, EL_ADDFN, L"mas-interrupt", L"Drop the line",
	        interrupt_key);
	el_set(e->el, EL_BIND, "^C", "mas-interrupt", NULL);
	/* as in readline and the shells, not libedit's cut of a region */
	el_set(e->el, EL_BIND, "^W", "ed-delete-prev-word", NULL);
	bind_keys(e->el);
	el_set(e->el, EL_HIST, history, e->history);
	el_source(e->el, NULL); /* ~/.editrc, $EDITRC; none is fine */
	quiet_between_lines();
	return 0;
}

struct mas_lineedit *mas_lineedit_new(const char *program,
                                      const char *history_path)
{
	struct mas_lineedit *e = calloc(1, sizeof(*e));
	HistEvent event;

	if (!e)
		mas_die(MAS_EXIT_IO, "out of memory");
	e->terminal = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	if (!e->terminal)
		return e;
	e->history = history_init();
	if (!e->history)
		mas_die(MAS_EXIT_IO, "out of memory");
	history(e->history, &event, H_SETSIZE, MAS_LINEEDIT_HISTORY_MAX);
	history(e->history, &event, H_SETUNIQUE, 1);
	e->path = history_path ? strdup(history_path)
	                       : mas_lineedit_history_path();
	if (history_path && !e->path)
		mas_die(MAS_EXIT_IO, "out of memory");
	load_history(e);
	catch_signals(e);
	if (make_editor(e, program) != 0) {
		mas_warn("cannot set up the terminal: lines are read as "
		         "they come");
		e->terminal = 0;
		release_signals(e);
	}
	return e;
}

void mas_lineedit_free(struct mas_lineedit *editor)
{
	if (!editor)
		return;
	if (editor->el)
		el_end(editor->el);
	if (editor->terminal)
		release_signals(editor);
	if (editor->history)
		history_end(editor->history);
	free(editor->path);
	free(editor->plain);
	free(editor);
}

int mas_lineedit_terminal(const struct mas_lineedit *editor)
{
	return editor->terminal;
}

/* ---- reading ---- */

static char *copy_line(const char *text, size_t length)
{
	char *line;

	while (length > 0 && (text[length - 1] == '\n' ||
	                      text[length - 1] == '\r'))
		length--;
	line = strndup(text, length);
	if (!line)
		mas_die(MAS_EXIT_IO, "out of memory");
	return line;
}

static char *plain_read(struct mas_lineedit *e)
{
	ssize_t n = getline(&e->plain, &e->plain_size, stdin);

	return n < 0 ? NULL : copy_line(e->plain, (size_t)n);
}

char *mas_lineedit_read(struct mas_lineedit *editor, const char *prompt)
{
	if (!editor->terminal)
		return plain_read(editor);
	editor->prompt = prompt;
	for (;;) {
		int count = 0;
		const char *line;

		editor->interrupted = 0;
		el_resize(editor->el); /* the window may have changed */
		errno = 0;
		line = el_gets(editor->el, &count);
		if (!line && count < 0 && errno == EINTR)
			continue;
		if (!line) {
			fputs("\n", stdout); /* after the ^D */
			fflush(stdout);
			return NULL;
		}
		if (!editor->interrupted)
			return copy_line(line, (size_t)count);
	}
}

/* ---- between two lines ---- */

/* Ctrl-C as SIGINT (ISIG) or not, the terminal otherwise as it is:
 * quiet (quiet_between_lines). */
static void set_signals(int on)
{
	struct termios now;

	if (tcgetattr(STDIN_FILENO, &now) != 0)
		return;
	if (on)
		now.c_lflag |= ISIG;
	else
		now.c_lflag &= (tcflag_t)~ISIG;
	tcsetattr(STDIN_FILENO, TCSANOW, &now);
}

int mas_lineedit_busy(struct mas_lineedit *editor)
{
	if (!editor->terminal)
		return -1;
	drain_stop();
	set_signals(1);
	return stop_pipe[0];
}

int mas_lineedit_idle(struct mas_lineedit *editor)
{
	if (!editor->terminal)
		return 0;
	set_signals(0);
	return drain_stop();
}
