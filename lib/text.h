/*
 * text.h — Unicode-aware text for retrieval and classification: UTF-8
 * decoding, case folding, tokens, sentences and character n-grams.
 * Shared by mas-research (BM25 over a corpus) and mas-chat (intent
 * classifier, FAQ retrieval).
 *
 * Tokens (mas_text_tokens), what a search engine indexes:
 *
 * - Words in Latin, Greek and Cyrillic script are runs of letters and
 *   digits, case-folded and stripped of accents: ASCII, Latin-1, Latin
 *   Extended-A, the precomposed Greek letters with tonos, Cyrillic
 *   (ё as е), full-width Latin letters and digits (ＡＩ is ai).  Combining
 *   accents (U+0300–U+036F) inside a word are dropped.  An apostrophe
 *   between letters joins them ("don't" is dont) except a final 's,
 *   which is dropped ("patient's" is patient).
 * - Numbers are tokens like words: "2024", "3.5" (a '.' between digits
 *   stays), "1,000" (a ',' between digits is dropped: 1000), "co2".
 * - English stop words (the, of, is, ...; mas_text_is_stopword) are
 *   dropped, then words are stemmed (mas_text_stem) by the Snowball
 *   stemmers of libstemmer: Porter2 ("english") for words of a-z,
 *   "russian" for Cyrillic words and "greek" for Greek ones; words with
 *   digits or of mixed scripts are left alone.  Porter2 replaced a
 *   hand-written Porter step 1 (plurals, -ed, -ing only): on the shipped
 *   judged queries (tests/fixtures/research) it is as good, and it also
 *   merges derivations (connection, connected and connecting are
 *   connect) with a maintained list of exceptions.
 * - Case folding is this module's own tables (below) for the letters
 *   of the scripts above; a code point they take as a separator but
 *   whose Unicode compatibility decomposition (NFKC, case-folded, by
 *   utf8proc) is letters and digits is those letters: the ligatures of
 *   text copied from PDFs ("ﬁnancial" is financial, not "nancial"),
 *   superscript and circled digits ("m²" is m2), "㎏" is kg.  utf8proc
 *   holds thousands of such mappings that hand-written tables would not;
 *   the tables stay for the common letters, which they fold as
 *   retrieval wants and NFKC does not (accents stripped, ß as ss).
 * - CJK text — Han, Hiragana, Katakana, Hangul — has no spaces, so a run
 *   of CJK characters becomes its overlapping character bigrams
 *   ("人工智能" is 人工, 工智, 智能), the usual choice for Chinese,
 *   Japanese and Korean retrieval without a dictionary; a run of one
 *   character is a unigram.
 * - Everything else — spaces, punctuation (ASCII, CJK and full-width),
 *   symbols, emoji — separates tokens and is dropped.  A byte that is not
 *   valid UTF-8 is skipped like punctuation (input is validated upstream;
 *   this only keeps the tokenizer total).
 *
 * Every function here is thread-safe: the stemmers, which keep state,
 * are one set per thread (made on a thread's first word, freed when it
 * ends), with the stems of the last words seen (up to 1,024, 48 KB).
 * Token text handed to a
 * callback is NUL-terminated and valid only during the call.
 */
#ifndef MAS_TEXT_H
#define MAS_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include <jv.h>

/* The tokenizer's version: raised whenever the tokens of some text
 * change (another stemmer, other folding), so that an index built by an
 * older tokenizer is never used with this one (index.h). */
#define MAS_TEXT_VERSION 2

/* The longest token passed to a callback, in bytes; longer runs are cut
 * (such "words" are hashes or base64, never what a reader searches). */
#define MAS_TEXT_MAX_TOKEN 64

/*
 * Decode the code point at *P, before END, and move *P past it.
 * Returns the code point, or -1 for a byte that does not start a
 * well-formed sequence (then *P moves one byte).  *P must be < END.
 */
int32_t mas_text_decode(const char **p, const char *end);

/* Encode CP (a valid code point) as UTF-8 into OUT; returns its length,
 * 1 to 4. */
size_t mas_text_encode(uint32_t cp, char out[4]);

/* What a code point is to the tokenizer. */
enum mas_text_class {
	MAS_TEXT_SEPARATOR,  /* space, punctuation, symbols, emoji, invalid */
	MAS_TEXT_LETTER,     /* Latin, Greek, Cyrillic letter */
	MAS_TEXT_DIGIT,      /* 0-9 and full-width digits */
	MAS_TEXT_MARK,       /* combining accent: part of a word, dropped */
	MAS_TEXT_CJK,        /* Han, Hiragana, Katakana, Hangul */
};
enum mas_text_class mas_text_class_of(int32_t cp);

/*
 * The folded form of a letter or digit: lowercase, without accent, as
 * UTF-8 into OUT (ß is "ss", æ "ae", œ "oe", þ "th", so up to 4 bytes).
 * Returns the length.  CJK and other code points are encoded unchanged.
 */
size_t mas_text_fold(int32_t cp, char out[4]);

/* Flags for mas_text_tokens. */
enum {
	MAS_TEXT_KEEP_STOPWORDS = 1, /* do not drop English stop words */
	MAS_TEXT_NO_STEM = 2,        /* do not stem words */
};

/* What a token is. */
enum mas_text_token_kind {
	MAS_TEXT_WORD,     /* a Latin, Greek or Cyrillic word, or a number */
	MAS_TEXT_BIGRAM,   /* two CJK characters */
	MAS_TEXT_UNIGRAM,  /* a lone CJK character */
};

typedef void (*mas_text_token_fn)(void *user, const char *token,
                                  size_t length,
                                  enum mas_text_token_kind kind);

/* Call FN with each token of TEXT[0..SIZE), in order, as described at
 * the top; FLAGS are MAS_TEXT_* or 0. */
void mas_text_tokens(const char *text, size_t size, unsigned flags,
                     mas_text_token_fn fn, void *user);

/* The tokens of TEXT[0..SIZE) as a jv array of strings (for tests and
 * for callers that want a list rather than a callback). */
jv mas_text_token_array(const char *text, size_t size, unsigned flags);

/* Whether WORD (folded, LENGTH bytes) is an English stop word. */
int mas_text_is_stopword(const char *word, size_t length);

/*
 * Stem WORD (a folded word, LENGTH bytes) in place with the Snowball
 * stemmer of its script, as said at the top, and return the new length,
 * at most MAS_TEXT_MAX_TOKEN (a stem may be longer than its word: WORD
 * must have room for MAS_TEXT_MAX_TOKEN bytes).  Words of 2 bytes or less, longer than
 * MAS_TEXT_MAX_TOKEN, or with digits or mixed scripts are left alone.
 */
size_t mas_text_stem(char *word, size_t length);

/*
 * Call FN with each sentence of TEXT[0..SIZE), as a span of TEXT without
 * leading or trailing space.  A sentence ends:
 * - after 。！？；!? and the full-width ！？；, and after a run of them,
 *   with any closing quotes or brackets that follow (”’"')）」』);
 * - after '.' followed by space or the end, unless the word before the
 *   dot is a known abbreviation (e.g., i.e., Dr., Mr., Mrs., Ms., Prof.,
 *   vs., etc. before a lowercase word, Fig., No., St., Inc., Ltd., Jr.,
 *   et al., U.S.) or a single letter (an initial), or the next word
 *   starts with a lowercase letter (an abbreviation we do not know);
 *   a '.' between digits (3.5) or letters (e.g) never ends one;
 * - at a blank line, and at a line break before a Markdown heading,
 *   list item or quote ("#", "-", "*", "+", ">", "1.").
 * Text without any of these is one sentence.  Empty spans are skipped.
 */
typedef void (*mas_text_span_fn)(void *user, const char *start,
                                 size_t length);
void mas_text_sentences(const char *text, size_t size, mas_text_span_fn fn,
                        void *user);

/* The sentences of TEXT as a jv array of strings. */
jv mas_text_sentence_array(const char *text, size_t size);

/*
 * Character n-grams for a classifier: TEXT is folded (as for tokens,
 * stop words kept, nothing stemmed), every run of separators becomes one
 * space, and a space is put at each end; then every run of N code
 * points, for N from N_MIN to N_MAX (1 to 8), is passed to FN, in order
 * of position and then of N.  N-grams that are only a space are skipped.
 * So "Hi!" with N 2..3 gives " h", " hi", "hi", "hi ", "i ".
 */
void mas_text_char_ngrams(const char *text, size_t size, int n_min,
                          int n_max, mas_text_span_fn fn, void *user);

/* Whether TEXT[0..SIZE) holds a CJK character (a quick language guess:
 * such text is answered in Chinese). */
int mas_text_has_cjk(const char *text, size_t size);

#endif
