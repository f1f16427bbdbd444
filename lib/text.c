/*
 * text.c — tokens, sentences and n-grams over UTF-8 text (see text.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <libstemmer.h>
#include <utf8proc.h>

#include "log.h"
#include "mas.h"
#include "text.h"
#include "banned.h"

/* ---- UTF-8 ---- */

int32_t mas_text_decode(const char **p, const char *end)
{
	const unsigned char *s = (const unsigned char *)*p;
	size_t left = (size_t)(end - *p), length;
	unsigned char low = 0x80, high = 0xBF;
	int32_t cp;

	if (s[0] < 0x80) {
		*p += 1;
		return s[0];
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		length = 2;
		cp = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		length = 3;
		cp = s[0] & 0x0F;
		low = s[0] == 0xE0 ? 0xA0 : 0x80;  /* no overlong forms */
		high = s[0] == 0xED ? 0x9F : 0xBF; /* no surrogates */
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		length = 4;
		cp = s[0] & 0x07;
		low = s[0] == 0xF0 ? 0x90 : 0x80;
		high = s[0] == 0xF4 ? 0x8F : 0xBF;
	} else {
		*p += 1;
		return -1;
	}
	if (left < length || s[1] < low || s[1] > high) {
		*p += 1;
		return -1;
	}
	for (size_t i = 1; i < length; i++) {
		if (i > 1 && (s[i] < 0x80 || s[i] > 0xBF)) {
			*p += 1;
			return -1;
		}
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	*p += length;
	return cp;
}

size_t mas_text_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* ---- classes and folding ---- */

static int is_cjk(int32_t cp)
{
	return (cp >= 0x3040 && cp <= 0x30FF && cp != 0x30FB) ||
	       (cp >= 0x31F0 && cp <= 0x31FF) ||
	       (cp >= 0x3400 && cp <= 0x4DBF) ||
	       (cp >= 0x4E00 && cp <= 0x9FFF) ||
	       (cp >= 0xF900 && cp <= 0xFAFF) ||
	       (cp >= 0xAC00 && cp <= 0xD7AF) ||
	       (cp >= 0x1100 && cp <= 0x11FF) ||
	       (cp >= 0x3130 && cp <= 0x318F) ||
	       (cp >= 0xFF66 && cp <= 0xFF9F) ||
	       cp == 0x3005 || cp == 0x3007 ||
	       (cp >= 0x20000 && cp <= 0x2FA1F);
}

/* Punctuation inside the scripts taken as letters wholesale. */
static int is_script_punctuation(int32_t cp)
{
	switch (cp) {
	case 0x037E: case 0x0387: case 0x0375: case 0x0384: case 0x0385:
	case 0x055D: case 0x0589: case 0x05BE: case 0x05C0: case 0x05C3:
	case 0x060C: case 0x061B: case 0x061F: case 0x06D4: case 0x0964:
	case 0x0965: case 0x0E2F: case 0x0E5A: case 0x0E5B: case 0x0482:
		return 1;
	}
	return 0;
}

enum mas_text_class mas_text_class_of(int32_t cp)
{
	if (cp < 0)
		return MAS_TEXT_SEPARATOR;
	if (cp < 0x80) {
		if (cp >= '0' && cp <= '9')
			return MAS_TEXT_DIGIT;
		if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
			return MAS_TEXT_LETTER;
		return MAS_TEXT_SEPARATOR;
	}
	if (cp >= 0xFF10 && cp <= 0xFF19)
		return MAS_TEXT_DIGIT;
	if ((cp >= 0xFF21 && cp <= 0xFF3A) || (cp >= 0xFF41 && cp <= 0xFF5A))
		return MAS_TEXT_LETTER;
	if (cp >= 0x0300 && cp <= 0x036F)
		return MAS_TEXT_MARK;
	if (is_cjk(cp))
		return MAS_TEXT_CJK;
	if (cp >= 0xC0 && cp <= 0xFF)
		return cp == 0xD7 || cp == 0xF7 ? MAS_TEXT_SEPARATOR
		                                : MAS_TEXT_LETTER;
	/* Latin Extended-A and -B, IPA, Greek, Cyrillic, Armenian, Hebrew,
	 * Arabic, Indic scripts, Thai...: letters, bar their punctuation. */
	if (cp >= 0x0100 && cp < 0x1100 && !(cp >= 0x02B0 && cp < 0x0370))
		return is_script_punctuation(cp) ? MAS_TEXT_SEPARATOR
		                                 : MAS_TEXT_LETTER;
	if (cp >= 0x1E00 && cp <= 0x1EFF)
		return MAS_TEXT_LETTER; /* Latin Extended Additional */
	return MAS_TEXT_SEPARATOR;
}

/* Base letters of U+0100..U+017F; 'J' stands for "ij", 'O' for "oe". */
static const char latin_a[] =
	"aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiJJjjkkk"
	"llllllllllnnnnnnnnnooooooOOrrrrrrssssssssttttttuuuuuuuuuuuu"
	"wwyyyzzzzzzs";

/* Latin-1 U+00C0..U+00FF; 'A' stands for "ae", 'T' "th", 'S' "ss". */
static const char latin_1[] =
	"aaaaaaAceeeeiiiidnooooo-ouuuuyTSaaaaaaAceeeeiiiidnooooo-ouuuuyTy";

static size_t fold_latin(char base, char out[4])
{
	static const char *const pairs[] = { "ij", "oe", "ae", "th", "ss" };
	const char *marks = "JOATS";
	const char *hit = strchr(marks, base);

	if (hit) {
		memcpy(out, pairs[hit - marks], 2);
		return 2;
	}
	out[0] = base;
	return 1;
}

static int32_t fold_greek(int32_t cp)
{
	static const struct { int32_t from, to; } table[] = {
		{ 0x0386, 0x03B1 }, { 0x0388, 0x03B5 }, { 0x0389, 0x03B7 },
		{ 0x038A, 0x03B9 }, { 0x038C, 0x03BF }, { 0x038E, 0x03C5 },
		{ 0x038F, 0x03C9 }, { 0x0390, 0x03B9 }, { 0x03AA, 0x03B9 },
		{ 0x03AB, 0x03C5 }, { 0x03AC, 0x03B1 }, { 0x03AD, 0x03B5 },
		{ 0x03AE, 0x03B7 }, { 0x03AF, 0x03B9 }, { 0x03B0, 0x03C5 },
		{ 0x03C2, 0x03C3 }, { 0x03CA, 0x03B9 }, { 0x03CB, 0x03C5 },
		{ 0x03CC, 0x03BF }, { 0x03CD, 0x03C5 }, { 0x03CE, 0x03C9 },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].from == cp)
			return table[i].to;
	if (cp >= 0x0391 && cp <= 0x03A9)
		return cp + 0x20;
	return cp;
}

static int32_t fold_cyrillic(int32_t cp)
{
	if (cp == 0x0401 || cp == 0x0451)
		return 0x0435; /* ё is е */
	if (cp >= 0x0400 && cp <= 0x040F)
		return cp + 0x50;
	if (cp >= 0x0410 && cp <= 0x042F)
		return cp + 0x20;
	if (cp == 0x04C0)
		return 0x04CF;
	if (cp >= 0x04C1 && cp <= 0x04CE)
		return cp % 2 ? cp + 1 : cp;
	if ((cp >= 0x0460 && cp <= 0x0481) || (cp >= 0x048A && cp <= 0x04BF) ||
	    (cp >= 0x04D0 && cp <= 0x052F))
		return cp % 2 ? cp : cp + 1;
	return cp;
}

size_t mas_text_fold(int32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)(cp >= 'A' && cp <= 'Z' ? cp + 0x20 : cp);
		return 1;
	}
	if (cp >= 0xFF10 && cp <= 0xFF19) {
		out[0] = (char)('0' + cp - 0xFF10);
		return 1;
	}
	if (cp >= 0xFF21 && cp <= 0xFF3A) {
		out[0] = (char)('a' + cp - 0xFF21);
		return 1;
	}
	if (cp >= 0xFF41 && cp <= 0xFF5A) {
		out[0] = (char)('a' + cp - 0xFF41);
		return 1;
	}
	if (cp >= 0xC0 && cp <= 0xFF && latin_1[cp - 0xC0] != '-')
		return fold_latin(latin_1[cp - 0xC0], out);
	if (cp >= 0x0100 && cp <= 0x017F)
		return fold_latin(latin_a[cp - 0x0100], out);
	if (cp >= 0x0370 && cp <= 0x03FF)
		cp = fold_greek(cp);
	else if (cp >= 0x0400 && cp <= 0x052F)
		cp = fold_cyrillic(cp);
	return mas_text_encode((uint32_t)cp, out);
}

/* ---- stop words ---- */

/* English function words, sorted for bsearch: articles, pronouns,
 * auxiliaries, prepositions and conjunctions.  Content words that often
 * carry meaning in a question ("best", "new", "should") are kept out. */
static const char *const stopwords[] = {
	"a", "about", "above", "after", "again", "against", "all", "am",
	"an", "and", "any", "are", "as", "at", "be", "because", "been",
	"before", "being", "below", "between", "both", "but", "by", "can",
	"could", "did", "do", "does", "doing", "down", "during", "each",
	"few", "for", "from", "further", "had", "has", "have", "having",
	"he", "her", "here", "hers", "herself", "him", "himself", "his",
	"how", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
	"me", "more", "most", "my", "myself", "no", "nor", "not", "of",
	"off", "on", "once", "only", "or", "other", "our", "ours",
	"ourselves", "out", "over", "own", "same", "she", "so", "some",
	"such", "than", "that", "the", "their", "theirs", "them",
	"themselves", "then", "there", "these", "they", "this", "those",
	"through", "to", "too", "under", "until", "up", "very", "was", "we",
	"were", "what", "when", "where", "which", "while", "who", "whom",
	"why", "will", "with", "would", "you", "your", "yours", "yourself",
	"yourselves",
};

struct word {
	const char *text;
	size_t length;
};

static int compare_stopword(const void *key, const void *item)
{
	const struct word *word = key;
	const char *stop = *(const char *const *)item;
	size_t stop_length = strlen(stop);
	size_t n = word->length < stop_length ? word->length : stop_length;
	int c = memcmp(word->text, stop, n);

	if (c != 0)
		return c;
	return word->length < stop_length ? -1 : word->length > stop_length;
}

int mas_text_is_stopword(const char *word, size_t length)
{
	struct word key = { word, length };

	return bsearch(&key, stopwords, sizeof(stopwords) / sizeof(*stopwords),
	               sizeof(*stopwords), compare_stopword) != NULL;
}

/* ---- stemming ---- */

/*
 * The Snowball stemmers, one set per thread: an sb_stemmer keeps its
 * result and work space inside, so it may not be shared, and opening one
 * per word would cost more than stemming it.  A thread's set is made on
 * its first word and freed when the thread ends (the key's destructor)
 * or, for the thread that calls exit (whose destructors do not run), by
 * an atexit handler: a stemmer holds its buffer by a pointer into it,
 * which valgrind counts as possibly lost if it is left for exit.
 *
 * Beside them, the stems of the words seen last, in a table indexed by
 * the word's hash (a word replaces the one in its slot): text repeats
 * its words, and Snowball was a quarter of the instructions mas-chat
 * spent turning a message into features (callgrind, 150 intents).
 */
enum { STEM_ENGLISH, STEM_RUSSIAN, STEM_GREEK, STEM_LANGUAGES };

static const char *const stem_names[STEM_LANGUAGES] = {
	"english", "russian", "greek",
};

#define STEM_CACHE 1024    /* slots, a power of 2 */
#define STEM_CACHE_WORD 23 /* longest word (and stem) kept, in bytes */

struct stem_entry {
	unsigned char length, stem_length; /* length 0: empty */
	char word[STEM_CACHE_WORD], stem[STEM_CACHE_WORD];
};

struct stem_state {
	struct sb_stemmer *set[STEM_LANGUAGES];
	struct stem_entry cache[STEM_CACHE];
};

static pthread_key_t stem_key;
static pthread_once_t stem_once = PTHREAD_ONCE_INIT;

static void free_stemmers(void *data)
{
	struct stem_state *state = data;

	for (int i = 0; i < STEM_LANGUAGES; i++)
		sb_stemmer_delete(state->set[i]);
	free(state);
}

static void free_exiting_stemmers(void)
{
	struct stem_state *state = pthread_getspecific(stem_key);

	if (state) {
		pthread_setspecific(stem_key, NULL);
		free_stemmers(state);
	}
}

static void make_stem_key(void)
{
	if (pthread_key_create(&stem_key, free_stemmers) != 0 ||
	    atexit(free_exiting_stemmers) != 0)
		mas_die(MAS_EXIT_IO, "out of memory");
}

/* This thread's stemmers and cache. */
static struct stem_state *stem_state(void)
{
	struct stem_state *state;

	pthread_once(&stem_once, make_stem_key);
	state = pthread_getspecific(stem_key);
	if (!state) {
		state = calloc(1, sizeof(*state));
		if (!state || pthread_setspecific(stem_key, state) != 0)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	return state;
}

static struct sb_stemmer *stemmer(struct stem_state *state, int language)
{
	if (!state->set[language]) {
		state->set[language] = sb_stemmer_new(stem_names[language],
		                                      "UTF_8");
		if (!state->set[language])
			mas_die(MAS_EXIT_IO, "libstemmer: cannot open the "
			        "%s stemmer", stem_names[language]);
	}
	return state->set[language];
}

/* The cache slot of WORD (FNV-1a of its bytes). */
static struct stem_entry *stem_slot(struct stem_state *state,
                                    const char *word, size_t length)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < length; i++) {
		h ^= (unsigned char)word[i];
		h *= 16777619u;
	}
	return &state->cache[(h ^ (h >> 15)) & (STEM_CACHE - 1)];
}

/* The language of a folded word: all a-z, all lowercase Cyrillic or all
 * lowercase Greek; -1 for digits or mixed scripts. */
static int word_language(const char *word, size_t length)
{
	const char *p = word, *end = word + length;
	int language = -1;

	while (p < end) {
		int32_t cp = mas_text_decode(&p, end);
		int this;
		if (cp >= 'a' && cp <= 'z')
			this = STEM_ENGLISH;
		else if ((cp >= 0x0430 && cp <= 0x044F) || cp == 0x0451)
			this = STEM_RUSSIAN;
		else if (cp >= 0x03B1 && cp <= 0x03C9)
			this = STEM_GREEK;
		else
			return -1;
		if (language >= 0 && this != language)
			return -1;
		language = this;
	}
	return language;
}

size_t mas_text_stem(char *word, size_t length)
{
	struct stem_state *state;
	struct stem_entry *slot = NULL;
	struct sb_stemmer *s;
	const sb_symbol *stem;
	int language = word_language(word, length);
	size_t n;

	if (language < 0 || length <= 2 || length > MAS_TEXT_MAX_TOKEN)
		return length;
	state = stem_state();
	if (length <= STEM_CACHE_WORD) {
		slot = stem_slot(state, word, length);
		if (slot->length == length &&
		    memcmp(slot->word, word, length) == 0) {
			memcpy(word, slot->stem, slot->stem_length);
			return slot->stem_length;
		}
	}
	s = stemmer(state, language);
	stem = sb_stemmer_stem(s, (const sb_symbol *)word, (int)length);
	if (!stem)
		mas_die(MAS_EXIT_IO, "out of memory");
	n = (size_t)sb_stemmer_length(s);
	if (n > MAS_TEXT_MAX_TOKEN)
		return length; /* never seen; keeps the word's room */
	if (slot && n <= STEM_CACHE_WORD) {
		slot->length = (unsigned char)length;
		memcpy(slot->word, word, length);
		slot->stem_length = (unsigned char)n;
		memcpy(slot->stem, stem, n);
	}
	memcpy(word, stem, n);
	return n;
}

/* ---- tokens ---- */

struct tokenizer {
	unsigned flags;
	mas_text_token_fn fn;
	void *user;
	char word[MAS_TEXT_MAX_TOKEN + 8];
	size_t length;
	int last_digit;          /* the word's last code point was a digit */
	const char *cjk_prev;    /* the previous CJK character, or NULL */
	size_t cjk_prev_length;
	size_t cjk_run;
};

static int ascii_letters(const char *word, size_t length)
{
	for (size_t i = 0; i < length; i++)
		if (word[i] < 'a' || word[i] > 'z')
			return 0;
	return 1;
}

static void flush_word(struct tokenizer *t)
{
	size_t length = t->length;

	t->length = 0;
	if (length == 0)
		return;
	if (!(t->flags & MAS_TEXT_KEEP_STOPWORDS) &&
	    ascii_letters(t->word, length) &&
	    mas_text_is_stopword(t->word, length))
		return;
	if (!(t->flags & MAS_TEXT_NO_STEM))
		length = mas_text_stem(t->word, length);
	t->word[length] = '\0';
	t->fn(t->user, t->word, length, MAS_TEXT_WORD);
}

static void flush_cjk(struct tokenizer *t)
{
	if (t->cjk_run == 1) {
		char one[8];
		memcpy(one, t->cjk_prev, t->cjk_prev_length);
		one[t->cjk_prev_length] = '\0';
		t->fn(t->user, one, t->cjk_prev_length, MAS_TEXT_UNIGRAM);
	}
	t->cjk_run = 0;
	t->cjk_prev = NULL;
}

static void add_cjk(struct tokenizer *t, const char *at, size_t length)
{
	if (t->cjk_prev) {
		char pair[16];
		size_t n = t->cjk_prev_length + length;
		memcpy(pair, t->cjk_prev, t->cjk_prev_length);
		memcpy(pair + t->cjk_prev_length, at, length);
		pair[n] = '\0';
		t->fn(t->user, pair, n, MAS_TEXT_BIGRAM);
	}
	t->cjk_prev = at;
	t->cjk_prev_length = length;
	t->cjk_run++;
}

static void add_folded(struct tokenizer *t, int32_t cp)
{
	char folded[4];
	size_t n = mas_text_fold(cp, folded);

	if (t->length + n <= MAS_TEXT_MAX_TOKEN) {
		memcpy(t->word + t->length, folded, n);
		t->length += n;
	}
	t->last_digit = mas_text_class_of(cp) == MAS_TEXT_DIGIT;
}

static int32_t peek(const char *p, const char *end)
{
	return p < end ? mas_text_decode(&p, end) : -1;
}

static int is_word_class(int32_t cp)
{
	enum mas_text_class c = mas_text_class_of(cp);

	return c == MAS_TEXT_LETTER || c == MAS_TEXT_DIGIT;
}

/*
 * Inside a word, '.' and ',' between digits and an apostrophe between
 * letters do not end it.  Returns the new position, or NULL when CP at
 * P is an ordinary separator.
 */
static const char *joiner(struct tokenizer *t, int32_t cp, const char *p,
                          const char *end)
{
	int32_t next = peek(p, end);

	if (t->length == 0)
		return NULL;
	if ((cp == '.' || cp == ',') && t->last_digit &&
	    mas_text_class_of(next) == MAS_TEXT_DIGIT) {
		if (cp == '.' && t->length < MAS_TEXT_MAX_TOKEN)
			t->word[t->length++] = '.';
		return p;
	}
	if ((cp == '\'' || cp == 0x2019) && !t->last_digit &&
	    mas_text_class_of(next) == MAS_TEXT_LETTER) {
		const char *after = p;
		mas_text_decode(&after, end);
		if ((next == 's' || next == 'S') && !is_word_class(peek(after,
		                                                        end)))
			return after; /* possessive 's */
		return p;
	}
	return NULL;
}

/*
 * The compatibility decomposition (NFKC's, case-folded) of a code point
 * the tables above take as a separator, into OUT, when it is made of
 * letters and digits only: the ligatures "ﬁ" and "ﬂ" of text copied from
 * PDFs, superscript and circled digits, "㎏".  Returns how many code
 * points, or 0 when CP stays a separator.  utf8proc's tables, not ours:
 * there are thousands of such characters.
 */
static size_t compatibility(int32_t cp, int32_t out[8])
{
	utf8proc_ssize_t n;

	if (cp < 0x80)
		return 0;
	n = utf8proc_decompose_char(cp, out, 8, UTF8PROC_DECOMPOSE |
	                            UTF8PROC_COMPAT | UTF8PROC_CASEFOLD,
	                            NULL);
	if (n <= 0 || n > 8 || (n == 1 && out[0] == cp))
		return 0;
	for (utf8proc_ssize_t i = 0; i < n; i++)
		if (!is_word_class(out[i]))
			return 0;
	return (size_t)n;
}

/* A separator that is letters in disguise (compatibility()) goes into
 * the word; returns whether CP was one. */
static int add_compatible(struct tokenizer *t, int32_t cp)
{
	int32_t parts[8];
	size_t n = compatibility(cp, parts);

	if (n > 0)
		flush_cjk(t);
	for (size_t i = 0; i < n; i++)
		add_folded(t, parts[i]);
	return n > 0;
}

void mas_text_tokens(const char *text, size_t size, unsigned flags,
                     mas_text_token_fn fn, void *user)
{
	struct tokenizer t = { .flags = flags, .fn = fn, .user = user };
	const char *p = text, *end = text + size;

	while (p < end) {
		const char *at = p;
		int32_t cp = mas_text_decode(&p, end);
		const char *joined;

		switch (mas_text_class_of(cp)) {
		case MAS_TEXT_LETTER:
		case MAS_TEXT_DIGIT:
			flush_cjk(&t);
			add_folded(&t, cp);
			break;
		case MAS_TEXT_MARK:
			if (t.length == 0)
				flush_cjk(&t);
			break;
		case MAS_TEXT_CJK:
			flush_word(&t);
			add_cjk(&t, at, (size_t)(p - at));
			break;
		case MAS_TEXT_SEPARATOR:
			if (add_compatible(&t, cp))
				break;
			joined = joiner(&t, cp, p, end);
			if (joined) {
				p = joined;
				break;
			}
			flush_word(&t);
			flush_cjk(&t);
			break;
		}
	}
	flush_word(&t);
	flush_cjk(&t);
}

static void append_token(void *user, const char *token, size_t length,
                         enum mas_text_token_kind kind)
{
	jv *array = user;

	*array = jv_array_append(*array, jv_string_sized(token, (int)length));
}

jv mas_text_token_array(const char *text, size_t size, unsigned flags)
{
	jv array = jv_array();

	mas_text_tokens(text, size, flags, append_token, &array);
	return array;
}

int mas_text_has_cjk(const char *text, size_t size)
{
	const char *p = text, *end = text + size;

	while (p < end)
		if (mas_text_class_of(mas_text_decode(&p, end)) ==
		    MAS_TEXT_CJK)
			return 1;
	return 0;
}

/* ---- sentences ---- */

static int is_space(int32_t cp)
{
	return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' ||
	       cp == '\f' || cp == '\v' || cp == 0xA0 || cp == 0x3000;
}

static int is_terminator(int32_t cp)
{
	return cp == '!' || cp == '?' || cp == 0x3002 || cp == 0xFF01 ||
	       cp == 0xFF1F || cp == 0xFF1B || cp == 0xFF0E || cp == 0x203C ||
	       cp == 0x2047 || cp == 0x2049;
}

static int is_closer(int32_t cp)
{
	return cp == '"' || cp == '\'' || cp == ')' || cp == ']' ||
	       cp == 0x201D || cp == 0x2019 || cp == 0xFF09 || cp == 0x300D ||
	       cp == 0x300F || cp == 0x3011 || cp == 0x300B;
}

/* Lowercase abbreviations whose dot does not end a sentence. */
static int is_abbreviation(const char *word, size_t length)
{
	static const char *const known[] = {
		"al", "approx", "cf", "co", "corp", "dept", "dr", "e.g", "eg",
		"fig", "figs", "i.e", "ie", "inc", "jr", "ltd", "mr", "mrs",
		"ms", "no", "nos", "p", "pp", "prof", "sr", "st", "u.k",
		"u.s", "vol", "vs", NULL
	};
	char lower[16];

	if (length == 0 || length >= sizeof(lower))
		return 0;
	for (size_t i = 0; i < length; i++)
		lower[i] = (char)(word[i] >= 'A' && word[i] <= 'Z'
		                          ? word[i] + 0x20 : word[i]);
	lower[length] = '\0';
	for (int i = 0; known[i]; i++)
		if (strcmp(lower, known[i]) == 0)
			return 1;
	return 0;
}

/* Whether the '.' at DOT, with the text going on at AFTER, ends a
 * sentence. */
static int dot_ends(const char *text, const char *dot, const char *after,
                    const char *end)
{
	const char *word = dot;
	int32_t next;
	const char *p = after;

	if (p < end && !is_space(peek(p, end)))
		return 0; /* "3.5", "e.g", "example.com" */
	while (word > text && (((word[-1] | 0x20) >= 'a' &&
	                        (word[-1] | 0x20) <= 'z') || word[-1] == '.'))
		word--;
	if (dot - word == 1)
		return 0; /* an initial: "J. Smith" */
	if (is_abbreviation(word, (size_t)(dot - word)))
		return 0;
	while (p < end && is_space(peek(p, end)))
		mas_text_decode(&p, end);
	if (p >= end)
		return 1;
	next = peek(p, end);
	return !(next >= 'a' && next <= 'z');
}

/* Whether the line starting at P is blank, or opens a Markdown block. */
static int line_breaks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p >= end || *p == '\n' || *p == '\r')
		return 1;
	if (strchr("#->*+", *p) && p + 1 < end && (p[1] == ' ' || p[1] == '#'))
		return 1;
	{
		const char *digits = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		return p > digits && p + 1 < end && p[0] == '.' &&
		       p[1] == ' ';
	}
}

static void emit_span(const char *start, const char *stop,
                      mas_text_span_fn fn, void *user)
{
	const char *p;

	while (start < stop) {
		p = start;
		if (!is_space(mas_text_decode(&p, stop)))
			break;
		start = p;
	}
	while (stop > start) {
		p = stop - 1;
		while (p > start && (*p & 0xC0) == 0x80)
			p--;
		{
			const char *q = p;
			if (!is_space(mas_text_decode(&q, stop)))
				break;
		}
		stop = p;
	}
	if (stop > start)
		fn(user, start, (size_t)(stop - start));
}

/* After a terminator: more terminators, dots and closing quotes. */
static const char *absorb(const char *p, const char *end)
{
	while (p < end) {
		const char *q = p;
		int32_t cp = mas_text_decode(&q, end);
		if (!is_terminator(cp) && !is_closer(cp) && cp != '.' &&
		    cp != 0x2026)
			break;
		p = q;
	}
	return p;
}

void mas_text_sentences(const char *text, size_t size, mas_text_span_fn fn,
                        void *user)
{
	const char *p = text, *end = text + size, *start = text;
	const char *line = text;

	while (p < end) {
		const char *at = p;
		int32_t cp = mas_text_decode(&p, end);

		if (is_terminator(cp) || cp == 0x2026) {
			p = absorb(p, end);
			emit_span(start, p, fn, user);
			start = p;
		} else if (cp == '.') {
			const char *after = absorb(p, end);
			if (dot_ends(text, at, after, end)) {
				emit_span(start, after, fn, user);
				start = after;
			}
			p = after;
		} else if (cp == '\n') {
			int heading = *line == '#';
			if (heading || line_breaks(p, end)) {
				emit_span(start, p, fn, user);
				start = p;
			}
			line = p;
		}
	}
	emit_span(start, end, fn, user);
}

static void append_span(void *user, const char *start, size_t length)
{
	jv *array = user;

	*array = jv_array_append(*array, jv_string_sized(start, (int)length));
}

jv mas_text_sentence_array(const char *text, size_t size)
{
	jv array = jv_array();

	mas_text_sentences(text, size, append_span, &array);
	return array;
}

/* ---- character n-grams ---- */

void mas_text_char_ngrams(const char *text, size_t size, int n_min,
                          int n_max, mas_text_span_fn fn, void *user)
{
	/* The folded text, and where each of its code points starts. */
	char *folded = malloc(size * 4 + 8);
	size_t *starts = malloc((size * 4 + 8) * sizeof(size_t));
	size_t length = 0, count = 0;
	const char *p = text, *end = text + size;

	if (!folded || !starts)
		mas_die(MAS_EXIT_IO, "out of memory");
	if (n_min < 1)
		n_min = 1;
	if (n_max > 8)
		n_max = 8;
	starts[count++] = length;
	folded[length++] = ' ';
	while (p < end) {
		int32_t cp = mas_text_decode(&p, end);
		enum mas_text_class c = mas_text_class_of(cp);
		char out[4];
		size_t n;

		if (c == MAS_TEXT_MARK)
			continue;
		if (c == MAS_TEXT_SEPARATOR) {
			if (folded[length - 1] != ' ') {
				starts[count++] = length;
				folded[length++] = ' ';
			}
			continue;
		}
		n = mas_text_fold(cp, out);
		for (size_t i = 0; i < n; i++) {
			/* ß gives "ss": two code points */
			if (i == 0 || (out[i] & 0xC0) != 0x80)
				starts[count++] = length;
			folded[length++] = out[i];
		}
	}
	if (folded[length - 1] != ' ') {
		starts[count++] = length;
		folded[length++] = ' ';
	}
	starts[count] = length;
	for (size_t i = 0; i < count; i++)
		for (int n = n_min; n <= n_max && i + (size_t)n <= count;
		     n++) {
			size_t from = starts[i], to = starts[i + (size_t)n];
			if (n == 1 && folded[from] == ' ')
				continue;
			fn(user, folded + from, to - from);
		}
	free(starts);
	free(folded);
}
