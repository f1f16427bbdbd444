/*
 * classify.h — text classification for mas-chat: features, a linear model,
 * and the threshold that tells "none of these" (mas-chat(1), METHODS).
 *
 * Features, from lib/text's folding and tokens (text.h):
 *   - character n-grams, n = 1 to 3, over the folded text with a space at
 *     each end (mas_text_char_ngrams): Chinese needs no segmenter, and
 *     English gets word boundaries and some morphology for free;
 *   - word unigrams and bigrams of the stemmed words, stop words kept
 *     ("how" and "what" tell intents apart); CJK bigrams are left to the
 *     character n-grams.
 * Each feature weighs (1 + log tf) * idf, the idf taken from the training
 * texts, and the vector is scaled to unit length.  Features never seen in
 * training are dropped, and past 5,000 training texts so are those seen
 * in only one; so the same vectors serve for retrieval: the cosine of two
 * texts is the dot product of their vectors.
 *
 * Model.  Multinomial logistic regression (softmax), L2-regularised,
 * trained by stochastic gradient descent over a fixed number of epochs in
 * an order drawn from a fixed seed: the same texts give the same model,
 * bit for bit.  Chosen over naive Bayes because its probabilities are
 * calibrated well enough to threshold, which out-of-scope detection needs,
 * and it stands beside a linear SVM on short texts (make bench).
 *
 * Threshold.  mas_classify_calibrate cross-validates (k folds, stratified
 * by label, round-robin so that it is deterministic; past 5,000 texts only
 * the first fold is held out, an 80/20 split) and picks the top
 * probability under which an answer is refused: the 5th percentile of the
 * top probability of correct held-out answers; or, given a label for
 * out-of-scope examples, the threshold that best separates correct
 * held-out answers from held-out out-of-scope texts (balanced accuracy).
 * mas-chat uses the first: its out-of-scope examples are a class of their
 * own already, and balanced accuracy over a few dozen of them refused too
 * many good answers on the held-out set.
 */
#ifndef MAS_CLASSIFY_H
#define MAS_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

/*
 * Fold TEXT (LENGTH bytes of UTF-8) for matching slot synonyms, keywords
 * and the sentiment lexicon: letters and digits as mas_text_fold folds
 * them (lower case, no accents, full-width to ASCII), CJK as it is,
 * apostrophes between letters kept ("don't"), everything else to one
 * space, no space at either end.  Returns a malloc'd string; invalid
 * bytes count as separators.
 */
char *mas_classify_fold(const char *text, size_t length);

/* Whether TEXT holds a CJK character (mas_text_has_cjk): the language
 * guess mas-chat makes when no language is given. */
int mas_classify_has_han(const char *text);

/* A sparse vector: indices ascending, unit length. */
struct mas_features {
	uint32_t *index;
	float *value;
	size_t count, capacity;
};

void mas_features_init(struct mas_features *features);
void mas_features_release(struct mas_features *features);

/* Dot product of two vectors (their cosine). */
double mas_features_dot(const struct mas_features *a,
                        const struct mas_features *b);

struct mas_classify_params {
	int epochs;         /* passes over the data; 0: 30, fewer for
	                     * more than 2,000 texts (60,000 updates in
	                     * all, at least 3 passes) */
	double rate;        /* initial learning rate; 0: 4 */
	double l2;          /* regularisation per example; 0: 1e-5 */
	uint64_t seed;      /* order of examples; 0: a fixed default */
};

struct mas_classifier;

/*
 * Train on N TEXTS (borrowed) with LABELS in [0, CLASSES).  PARAMS may be
 * NULL for the defaults.  Returns NULL only when N or CLASSES is 0; dies
 * on out of memory.
 */
struct mas_classifier *mas_classify_train(const char *const *texts,
                                          const size_t *labels, size_t n,
                                          size_t classes,
                                          const struct mas_classify_params
                                                  *params);
void mas_classify_free(struct mas_classifier *classifier);

size_t mas_classify_classes(const struct mas_classifier *classifier);

/* Distinct features the model knows (for benchmarks and meta). */
size_t mas_classify_feature_count(const struct mas_classifier *classifier);

/* The vector of TEXT under the model's vocabulary, into FEATURES
 * (cleared first). */
void mas_classify_vector(const struct mas_classifier *classifier,
                         const char *text, struct mas_features *features);

/*
 * Class probabilities of a vector or a text into PROBS (CLASSES doubles,
 * summing to 1).  Returns the most probable class (the lowest index on a
 * tie).
 */
size_t mas_classify_predict_vector(const struct mas_classifier *classifier,
                                   const struct mas_features *features,
                                   double *probs);
size_t mas_classify_predict(const struct mas_classifier *classifier,
                            const char *text, double *probs);

/*
 * The out-of-scope threshold for a model trained on TEXTS/LABELS, by
 * FOLDS-fold cross-validation (at least 2; a class with fewer examples
 * than folds is missing from some folds' held-out parts).  Texts labelled
 * OOS_LABEL are out-of-scope examples, trained as a class of their own;
 * pass (size_t)-1 when there are none.  Returns a probability in [0, 1);
 * 0 when there is too little to calibrate on (fewer than 2 examples).
 */
double mas_classify_calibrate(const char *const *texts, const size_t *labels,
                              size_t n, size_t classes, size_t oos_label,
                              size_t folds,
                              const struct mas_classify_params *params);

#endif
