/*
 * sentiment.h — how a message feels: positive, neutral or negative, with
 * a score in [-1, 1] (mas-chat(1), METHODS).
 *
 * By default from a bilingual lexicon (English words and phrases, Chinese
 * words matched longest first inside runs of Han characters), each entry
 * weighing -3 to +3, in the manner of VADER:
 *   - a negator (not, never, no, don't, 不, 没, 没有, 别, 未, ...) flips
 *     and damps (x -0.74) the sentiment words in the three units after it;
 *   - an intensifier (very, so, really, 非常, 太, 很, 特别, ...) scales the
 *     next sentiment word within two units, a diminisher (slightly,
 *     有点, ...) shrinks it;
 *   - after "but" (但是, 可是, 不过) words weigh 1.5, before it 0.5;
 *   - exclamation marks add emphasis;
 *   - the sum s becomes s / sqrt(s^2 + 15).
 * Or from a linear model trained on labelled examples (--sentiment-train),
 * the same learning code as intents (classify.h): the score is then
 * P(positive) - P(negative).
 */
#ifndef MAS_SENTIMENT_H
#define MAS_SENTIMENT_H

/* A score at or above this is positive, at or below its negation
 * negative, in between neutral. */
#define MAS_SENTIMENT_CUT 0.2

/* The lexicon's score of TEXT (UTF-8), in [-1, 1]. */
double mas_sentiment_lexicon(const char *text);

/* "positive", "neutral" or "negative" for SCORE (static strings). */
const char *mas_sentiment_label(double score);

struct mas_sentiment;

/*
 * Train a model from PATH, JSON Lines of {"text": "...", "label":
 * "positive"|"neutral"|"negative"} (blank lines and lines starting with #
 * skipped).  Returns NULL with a malloc'd "PATH:LINE: ..." message in
 * *ERROR when the file cannot be read, a line is not such an object, or
 * a label has no example.
 */
struct mas_sentiment *mas_sentiment_train_file(const char *path,
                                               char **error);

/* Examples the model was trained on. */
unsigned long mas_sentiment_examples(const struct mas_sentiment *model);

/*
 * Score TEXT with MODEL, or with the lexicon when MODEL is NULL; returns
 * the label as mas_sentiment_label names it, and the score in *SCORE.
 */
const char *mas_sentiment_analyse(const struct mas_sentiment *model,
                                  const char *text, double *score);

void mas_sentiment_free(struct mas_sentiment *model);

#endif
