/*
 * sentiment.h — how a message feels: positive, neutral or negative, with
 * a score in [-1, 1] (mas-chat(1), METHODS).
 *
 * By default from a bilingual lexicon (English words and phrases, Chinese
 * words matched longest first, up to six characters, inside runs of Han
 * characters), each entry weighing -4 to +4: the entries written in
 * sentiment.c first, then lib/sentiment-lexicon.tsv, made from VADER's
 * lexicon, Hu and Liu's opinion words and HowNet's Chinese lists by
 * lib/sentiment-lexicon.sh (sources and licences in
 * lib/sentiment-lexicon.README); the first entry of a text wins.  The
 * rules are VADER's:
 *   - a negator (VADER's: not, never, no, don't, wouldn't, nor, no
 *     longer, ..., with or without the apostrophe; 不, 没, 没有, 别, 未,
 *     ...) flips and damps (x -0.74) the sentiment words in the three
 *     units after it;
 *   - an intensifier (very, so, really, 非常, 太, 很, 特别, ...) scales the
 *     next sentiment word within two units, a diminisher (slightly,
 *     有点, ...) shrinks it;
 *   - after "but" (但是, 可是, 不过) words weigh 1.5, before it 0.5;
 *   - exclamation marks add emphasis;
 *   - the sum s becomes s / sqrt(s^2 + 15).
 * Where that is neutral (|s| < MAS_SENTIMENT_CUT) and the message is
 * neither a question nor a request (no greeting or request word that
 * the written entries hold neutral: "please", "cancel", 取消, ...), a
 * review model speaks if it is sure enough (its score m at least 0.15
 * away from 0; that range mapped onto [MAS_SENTIMENT_CUT, 1], so that
 * its label is polar): logistic regression over English
 * words and word pairs, trained on 2,700 review sentences
 * (lib/sentiment-model.tsv, made by lib/sentiment-model.sh; corpus and
 * licence in lib/sentiment-model.README), its score P(positive) -
 * P(negative).  Reviews state opinions the lexicon has no word for
 * ("we will definitely be back", "doesn't hold a charge"); the cut keeps it
 * from calling most requests negative, which reviews did not teach it.
 * Or from a linear model trained on labelled examples (--sentiment-train),
 * the same learning code as intents (classify.h), streamed so that memory
 * stays bounded: the score is then P(positive) - P(negative).
 */
#ifndef MAS_SENTIMENT_H
#define MAS_SENTIMENT_H

#include <stddef.h>

/* A score at or above this is positive, at or below its negation
 * negative, in between neutral. */
#define MAS_SENTIMENT_CUT 0.2

/* The default engine's score of TEXT (UTF-8), in [-1, 1]: the lexicon's,
 * or the review model's where the lexicon is neutral (above). */
double mas_sentiment_lexicon(const char *text);

/* "positive", "neutral" or "negative" for SCORE (static strings). */
const char *mas_sentiment_label(double score);

struct mas_sentiment;

/* Where labelled examples are, and how to read them. */
struct mas_sentiment_source {
	const char *path;
	const char *text_field;   /* the text's field or column; NULL:
	                           * "text" */
	const char *label_field;  /* the label's; NULL: "label" */
	const char *label_map;    /* "1=positive,0=negative": label values
	                           * to classes; NULL: the values positive,
	                           * neutral, negative (or pos, neu, neg) */
};

/* What training did, for -v and mas_chat_info. */
struct mas_sentiment_report {
	unsigned long examples;
	unsigned long per_label[3];  /* negative, neutral, positive */
	int binary;                  /* no neutral example */
	size_t features;             /* distinct features in the model */
	size_t nodes;                /* feature values trained on */
	double seconds;              /* reading and training */
};

/*
 * Train a model on the examples of SOURCE->path: JSON Lines of objects
 * (blank lines and lines starting with # skipped), or CSV or TSV with a
 * header line naming the columns when the name ends in .csv, or .tsv or
 * .tab (RFC 4180 quoting in both: mas_dataset_csv_record).  A label may
 * be a string or, in JSON, a number ("1" to the label map).  Positive
 * and negative examples are needed; with neutral ones too the model has
 * three labels, else two, and an unsure score is neutral
 * (mas_sentiment_label).
 *
 * The file is read twice and never held whole: the first pass checks
 * and counts, the second keeps each example as its vector, and only as
 * many feature values as classify.h's stream budget
 * (MAS_CLASSIFY_STREAM_NODES) allows; a pipe is copied to a temporary
 * file on the first pass.  Returns NULL with a malloc'd "PATH:LINE: ..."
 * message in *ERROR when the file cannot be read, a line is not such an
 * example, the label map is not VALUE=LABEL,..., or positive or
 * negative has no example.
 */
struct mas_sentiment *mas_sentiment_train_file(
	const struct mas_sentiment_source *source, char **error);

/* What training MODEL did (borrowed from it). */
const struct mas_sentiment_report *mas_sentiment_report(
	const struct mas_sentiment *model);

/*
 * Score TEXT with MODEL, or with the lexicon when MODEL is NULL; returns
 * the label as mas_sentiment_label names it, and the score in *SCORE.
 * FOLDED is mas_classify_fold's TEXT (borrowed) when the caller has it
 * (the lexicon reads it: not folding twice saves a pass per message),
 * or NULL.
 */
const char *mas_sentiment_analyse(const struct mas_sentiment *model,
                                  const char *text, const char *folded,
                                  double *score);

void mas_sentiment_free(struct mas_sentiment *model);

#endif
