/*
 * classify.c — features, softmax regression and its threshold (see
 * classify.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "log.h"
#include "mas.h"
#include "text.h"
#include "banned.h"

/* ---- folding, on lib/text's classes and case folding ---- */

static int is_apostrophe(int32_t cp)
{
	return cp == '\'' || cp == 0x2019;
}

static int is_word_char(int32_t cp)
{
	enum mas_text_class c = mas_text_class_of(cp);

	return c == MAS_TEXT_LETTER || c == MAS_TEXT_DIGIT;
}

char *mas_classify_fold(const char *text, size_t length)
{
	/* mas_text_fold may write up to 4 bytes for a 2-byte letter. */
	char *out = malloc(length * 2 + 1);
	const char *p = text, *end = text + length;
	size_t at = 0;
	int32_t previous = ' ';

	if (!out)
		mas_die(MAS_EXIT_IO, "out of memory");
	while (p < end) {
		int32_t cp = mas_text_decode(&p, end);
		const char *q = p;
		enum mas_text_class c = mas_text_class_of(cp);

		if (c == MAS_TEXT_MARK)
			continue;
		/* "don't" keeps its apostrophe: negation needs it */
		if (is_apostrophe(cp) && is_word_char(previous) && q < end &&
		    is_word_char(mas_text_decode(&q, end))) {
			out[at++] = '\'';
		} else if (c == MAS_TEXT_SEPARATOR) {
			if (at > 0 && out[at - 1] != ' ')
				out[at++] = ' ';
		} else {
			at += mas_text_fold(cp, out + at);
		}
		previous = cp;
		if (at + 4 > length * 2 + 1) /* cannot happen; stay safe */
			break;
	}
	if (at > 0 && out[at - 1] == ' ')
		at--;
	out[at] = '\0';
	return out;
}

int mas_classify_has_han(const char *text)
{
	return mas_text_has_cjk(text, strlen(text));
}

/* ---- raw features: 64-bit hashes with counts ---- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t mix(uint64_t h, uint32_t c)
{
	for (int i = 0; i < 4; i++) {
		h ^= (c >> (8 * i)) & 0xFF;
		h *= FNV_PRIME;
	}
	return h;
}

/* The distinct raw features of a text with their counts, collected in
 * a small open-addressing table (no sort: this runs per message). */
struct raw {
	uint64_t *hash;
	uint32_t *count;
	size_t n, capacity;
	int32_t *table;         /* slot -> entry, -1 empty */
	size_t mask;
};

static void raw_clear(struct raw *raw)
{
	raw->n = 0;
	if (raw->table)
		memset(raw->table, 0xFF,
		       (raw->mask + 1) * sizeof(*raw->table));
}

static void raw_free(struct raw *raw)
{
	free(raw->hash);
	free(raw->count);
	free(raw->table);
}

static size_t raw_slot(const struct raw *raw, uint64_t hash)
{
	size_t i = (size_t)(hash ^ (hash >> 31)) & raw->mask;

	while (raw->table[i] >= 0 && raw->hash[raw->table[i]] != hash)
		i = (i + 1) & raw->mask;
	return i;
}

/* Room for twice as many entries, the table kept half empty. */
static void raw_grow(struct raw *raw)
{
	size_t capacity = raw->capacity ? raw->capacity * 2 : 256;

	raw->hash = realloc(raw->hash, capacity * sizeof(*raw->hash));
	raw->count = realloc(raw->count, capacity * sizeof(*raw->count));
	free(raw->table);
	raw->mask = capacity * 2 - 1;
	raw->table = malloc((raw->mask + 1) * sizeof(*raw->table));
	if (!raw->hash || !raw->count || !raw->table)
		mas_die(MAS_EXIT_IO, "out of memory");
	raw->capacity = capacity;
	memset(raw->table, 0xFF, (raw->mask + 1) * sizeof(*raw->table));
	for (size_t e = 0; e < raw->n; e++)
		raw->table[raw_slot(raw, raw->hash[e])] = (int32_t)e;
}

/* Only the entries are kept, at their size: 15,000 texts at the
 * table's starting capacity would take 45 MB. */
static void shrink(struct raw *raw)
{
	size_t n = raw->n ? raw->n : 1;

	free(raw->table);
	raw->table = NULL;
	raw->hash = realloc(raw->hash, n * sizeof(*raw->hash));
	raw->count = realloc(raw->count, n * sizeof(*raw->count));
	raw->capacity = n;
	if (!raw->hash || !raw->count)
		mas_die(MAS_EXIT_IO, "out of memory");
}

static void raw_add(struct raw *raw, uint64_t hash)
{
	size_t i;

	if (raw->n == raw->capacity)
		raw_grow(raw);
	i = raw_slot(raw, hash);
	if (raw->table[i] >= 0) {
		raw->count[raw->table[i]]++;
		return;
	}
	raw->table[i] = (int32_t)raw->n;
	raw->hash[raw->n] = hash;
	raw->count[raw->n++] = 1;
}

static uint64_t hash_bytes(uint64_t h, const char *bytes, size_t length)
{
	for (size_t i = 0; i < length; i++) {
		h ^= (unsigned char)bytes[i];
		h *= FNV_PRIME;
	}
	return h;
}

static void add_char_ngram(void *user, const char *start, size_t length)
{
	raw_add(user, hash_bytes(mix(FNV_OFFSET, 'c'), start, length));
}

/* Word unigrams and bigrams, from lib/text's words (stemmed, stop words
 * kept: "how" and "what" tell intents apart).  CJK bigrams are left out:
 * the character n-grams have them already. */
struct words {
	struct raw *raw;
	uint64_t previous;
};

static void add_word(void *user, const char *token, size_t length,
                     enum mas_text_token_kind kind)
{
	struct words *w = user;
	uint64_t h;

	if (kind != MAS_TEXT_WORD) {
		w->previous = 0;
		return;
	}
	h = hash_bytes(mix(FNV_OFFSET, 'w'), token, length);
	raw_add(w->raw, h);
	if (w->previous)
		raw_add(w->raw, mix(mix(w->previous, 'b'), (uint32_t)h));
	w->previous = h;
}

/* The distinct raw features of TEXT with their counts. */
static void extract(const char *text, struct raw *raw)
{
	size_t length = strlen(text);
	struct words words = { raw, 0 };

	raw_clear(raw);
	mas_text_char_ngrams(text, length, 1, 3, add_char_ngram, raw);
	mas_text_tokens(text, length, MAS_TEXT_KEEP_STOPWORDS, add_word,
	                &words);
}

/* ---- vocabulary: hash → index, open addressing ---- */

struct vocab {
	uint64_t *keys;     /* 0: empty (a hash of 0 is nudged to 1) */
	uint32_t *values;
	size_t mask, count;
};

static void vocab_init(struct vocab *v, size_t expected)
{
	size_t size = 1024;

	while (size < expected * 2)
		size *= 2;
	v->keys = calloc(size, sizeof(*v->keys));
	v->values = calloc(size, sizeof(*v->values));
	if (!v->keys || !v->values)
		mas_die(MAS_EXIT_IO, "out of memory");
	v->mask = size - 1;
	v->count = 0;
}

static size_t vocab_slot(const struct vocab *v, uint64_t key)
{
	size_t i = (size_t)(key ^ (key >> 29)) & v->mask;

	while (v->keys[i] && v->keys[i] != key)
		i = (i + 1) & v->mask;
	return i;
}

static long vocab_find(const struct vocab *v, uint64_t key)
{
	size_t i;

	key = key ? key : 1;
	i = vocab_slot(v, key);
	return v->keys[i] ? (long)v->values[i] : -1;
}

static void vocab_grow(struct vocab *v)
{
	struct vocab bigger;

	vocab_init(&bigger, (v->mask + 1));
	for (size_t i = 0; i <= v->mask; i++)
		if (v->keys[i]) {
			size_t j = vocab_slot(&bigger, v->keys[i]);
			bigger.keys[j] = v->keys[i];
			bigger.values[j] = v->values[i];
		}
	bigger.count = v->count;
	free(v->keys);
	free(v->values);
	*v = bigger;
}

/* The index of KEY, added with the next index when new. */
static uint32_t vocab_add(struct vocab *v, uint64_t key)
{
	size_t i;

	key = key ? key : 1;
	i = vocab_slot(v, key);
	if (v->keys[i])
		return v->values[i];
	if ((v->count + 1) * 2 > v->mask + 1) {
		vocab_grow(v);
		i = vocab_slot(v, key);
	}
	v->keys[i] = key;
	v->values[i] = (uint32_t)v->count;
	return (uint32_t)v->count++;
}

static void vocab_release(struct vocab *v)
{
	free(v->keys);
	free(v->values);
}

/* ---- sparse vectors ---- */

void mas_features_init(struct mas_features *features)
{
	memset(features, 0, sizeof(*features));
}

void mas_features_release(struct mas_features *features)
{
	free(features->index);
	free(features->value);
	mas_features_init(features);
}

static void features_reserve(struct mas_features *f, size_t count)
{
	if (count <= f->capacity)
		return;
	f->index = realloc(f->index, count * sizeof(*f->index));
	f->value = realloc(f->value, count * sizeof(*f->value));
	if (!f->index || !f->value)
		mas_die(MAS_EXIT_IO, "out of memory");
	f->capacity = count;
}

double mas_features_dot(const struct mas_features *a,
                        const struct mas_features *b)
{
	size_t i = 0, j = 0;
	double sum = 0;

	while (i < a->count && j < b->count) {
		if (a->index[i] < b->index[j]) {
			i++;
		} else if (a->index[i] > b->index[j]) {
			j++;
		} else {
			sum += (double)a->value[i++] * b->value[j++];
		}
	}
	return sum;
}

static void insertion_sort(struct mas_features *f)
{
	for (size_t i = 1; i < f->count; i++) {
		uint32_t index = f->index[i];
		float value = f->value[i];
		size_t j = i;
		while (j > 0 && f->index[j - 1] > index) {
			f->index[j] = f->index[j - 1];
			f->value[j] = f->value[j - 1];
			j--;
		}
		f->index[j] = index;
		f->value[j] = value;
	}
}

/* Least-significant-byte radix sort of the indices, VALUE following;
 * a byte that is the same everywhere costs no pass. */
static void radix_sort(struct mas_features *f)
{
	size_t n = f->count;
	uint32_t *index = malloc(n * sizeof(*index));
	float *value = malloc(n * sizeof(*value));

	if (!index || !value)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (int shift = 0; shift < 32; shift += 8) {
		size_t counts[256] = { 0 }, at = 0;
		for (size_t i = 0; i < n; i++)
			counts[(f->index[i] >> shift) & 0xFF]++;
		if (counts[(f->index[0] >> shift) & 0xFF] == n)
			continue;
		for (int b = 0; b < 256; b++) {
			size_t c = counts[b];
			counts[b] = at;
			at += c;
		}
		for (size_t i = 0; i < n; i++) {
			size_t to = counts[(f->index[i] >> shift) & 0xFF]++;
			index[to] = f->index[i];
			value[to] = f->value[i];
		}
		memcpy(f->index, index, n * sizeof(*index));
		memcpy(f->value, value, n * sizeof(*value));
	}
	free(index);
	free(value);
}

/* Sorts F by index, as mas_features_dot needs. */
static void features_sort(struct mas_features *f)
{
	if (f->count <= 32)
		insertion_sort(f);
	else
		radix_sort(f);
}

static void features_normalise(struct mas_features *f)
{
	double norm = 0;

	for (size_t i = 0; i < f->count; i++)
		norm += (double)f->value[i] * f->value[i];
	norm = sqrt(norm);
	if (norm > 0)
		for (size_t i = 0; i < f->count; i++)
			f->value[i] = (float)(f->value[i] / norm);
}

/* ---- the model ---- */

struct mas_classifier {
	size_t classes, features;
	struct vocab vocab;
	float *idf;         /* per feature */
	size_t stride;      /* classes rounded up to a whole vector */
	float *weights;     /* features x stride, row per feature,
	                     * 32-byte aligned */
	float *bias;        /* per class */
};

size_t mas_classify_classes(const struct mas_classifier *classifier)
{
	return classifier->classes;
}

size_t mas_classify_feature_count(const struct mas_classifier *classifier)
{
	return classifier->features;
}

/* Turns RAW features into a weighted unit vector; unknown features are
 * dropped. */
static void weigh(const struct vocab *vocab, const float *idf,
                  const struct raw *raw, struct mas_features *out)
{
	out->count = 0;
	features_reserve(out, raw->n ? raw->n : 1);
	for (size_t i = 0; i < raw->n; i++) {
		long index = vocab_find(vocab, raw->hash[i]);
		double tf = raw->count[i] == 1 ? 1 : 1 + log(raw->count[i]);
		if (index < 0)
			continue;
		out->index[out->count] = (uint32_t)index;
		out->value[out->count++] = (float)(tf * idf[index]);
	}
	features_sort(out);
	features_normalise(out);
}

void mas_classify_vector(const struct mas_classifier *classifier,
                         const char *text, struct mas_features *features)
{
	struct raw raw = { 0 };

	extract(text, &raw);
	weigh(&classifier->vocab, classifier->idf, &raw, features);
	raw_free(&raw);
}

/*
 * Eight floats at once, in GCC's and Clang's vector extension: the
 * compiler uses SIMD where the machine has it and plain code where not.
 * Every message costs (features x classes) multiply-adds, so this is
 * where the time goes, in training and in answering alike.
 */
typedef float vec8 __attribute__((vector_size(32)));
#define LANES 8

/* ACC (STRIDE / LANES vectors) = sum of X's values times their rows. */
static void accumulate(const struct mas_classifier *c,
                       const struct mas_features *x, vec8 *acc)
{
	size_t n = c->stride / LANES;

	for (size_t j = 0; j < n; j++)
		acc[j] = (vec8){ 0 };
	for (size_t i = 0; i < x->count; i++) {
		size_t at = (size_t)x->index[i] * c->stride;
		const vec8 *row = (const vec8 *)(c->weights + at);
		float v = x->value[i];
		for (size_t j = 0; j < n; j++)
			acc[j] += v * row[j];
	}
}

/* Class probabilities of X into P, the weights times SCALE. */
static void softmax_scores(const struct mas_classifier *c,
                           const struct mas_features *x, double scale,
                           double *p)
{
	size_t K = c->classes;
	vec8 acc[c->stride / LANES];
	const float *scores = (const float *)acc;
	double top = -INFINITY, sum = 0;

	accumulate(c, x, acc);
	for (size_t k = 0; k < K; k++) {
		p[k] = scores[k] * scale + c->bias[k];
		if (p[k] > top)
			top = p[k];
	}
	for (size_t k = 0; k < K; k++) {
		p[k] = exp(p[k] - top);
		sum += p[k];
	}
	for (size_t k = 0; k < K; k++)
		p[k] /= sum;
}

static size_t argmax(const double *p, size_t n)
{
	size_t best = 0;

	for (size_t k = 1; k < n; k++)
		if (p[k] > p[best])
			best = k;
	return best;
}

size_t mas_classify_predict_vector(const struct mas_classifier *classifier,
                                   const struct mas_features *features,
                                   double *probs)
{
	softmax_scores(classifier, features, 1.0, probs);
	return argmax(probs, classifier->classes);
}

size_t mas_classify_predict(const struct mas_classifier *classifier,
                            const char *text, double *probs)
{
	struct mas_features f;
	size_t best;

	mas_features_init(&f);
	mas_classify_vector(classifier, text, &f);
	best = mas_classify_predict_vector(classifier, &f, probs);
	mas_features_release(&f);
	return best;
}

/* ---- training ---- */

static uint64_t next_random(uint64_t *state)
{
	/* xorshift64*: enough for shuffling, and the same everywhere. */
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void shuffle(size_t *order, size_t n, uint64_t *state)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(next_random(state) % i);
		size_t t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
}

/*
 * Past this many texts, features seen in only one are dropped: they can
 * only memorise that text, and on a 15,000-example knowledge base they
 * are half the vocabulary, so half the weights to train and to fetch
 * from memory for every message.
 */
#define PRUNE_ABOVE 5000

/* Keeps the features of DF at least 2, renumbered, their counts moved
 * down in DF to the new numbers. */
static void prune(struct mas_classifier *c, uint32_t *df)
{
	struct vocab kept;
	uint32_t *moved = malloc((c->vocab.count + 1) * sizeof(*moved));

	if (!moved)
		mas_die(MAS_EXIT_IO, "out of memory");
	vocab_init(&kept, c->vocab.count);
	for (size_t i = 0; i <= c->vocab.mask; i++) {
		uint64_t key = c->vocab.keys[i];
		if (key && df[c->vocab.values[i]] >= 2)
			moved[vocab_add(&kept, key)] = df[c->vocab.values[i]];
	}
	memcpy(df, moved, kept.count * sizeof(*df));
	free(moved);
	vocab_release(&c->vocab);
	c->vocab = kept;
}

/* Builds the vocabulary and idf from the texts; their raw features are
 * kept in RAWS for the vectors. */
static void build_vocabulary(struct mas_classifier *c,
                             const char *const *texts, size_t n,
                             struct raw *raws)
{
	uint32_t *df = NULL;
	size_t df_capacity = 0;

	vocab_init(&c->vocab, n * 32);
	for (size_t t = 0; t < n; t++) {
		extract(texts[t], &raws[t]);
		shrink(&raws[t]);
		for (size_t i = 0; i < raws[t].n; i++) {
			uint32_t index = vocab_add(&c->vocab, raws[t].hash[i]);
			if (index >= df_capacity) {
				size_t grown = df_capacity ? df_capacity * 2
				                           : 4096;
				df = realloc(df, grown * sizeof(*df));
				if (!df)
					mas_die(MAS_EXIT_IO, "out of memory");
				memset(df + df_capacity, 0,
				       (grown - df_capacity) * sizeof(*df));
				df_capacity = grown;
			}
			df[index]++;
		}
	}
	if (n > PRUNE_ABOVE)
		prune(c, df);
	c->features = c->vocab.count;
	c->idf = malloc((c->features ? c->features : 1) * sizeof(*c->idf));
	if (!c->idf)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t f = 0; f < c->features; f++)
		c->idf[f] = (float)(log((double)(n + 1) / (df[f] + 1)) + 1);
	free(df);
}

static void set_defaults(struct mas_classify_params *p,
                         const struct mas_classify_params *given)
{
	static const struct mas_classify_params zero;

	*p = given ? *given : zero;
	if (p->rate <= 0)
		p->rate = 4;
	if (p->l2 <= 0)
		p->l2 = 1e-5;
	if (!p->seed)
		p->seed = 0x6d61732d63686174ULL; /* "mas-chat" */
}

/* Weights are kept divided by SCALE, so that L2 decay of every weight
 * is one multiplication of SCALE (the trick of Bottou's SGD). */
static void rescale(struct mas_classifier *c, double *scale)
{
	size_t total = c->features * c->stride;

	for (size_t i = 0; i < total; i++)
		c->weights[i] = (float)(c->weights[i] * *scale);
	*scale = 1;
}

static void sgd_step(struct mas_classifier *c, const struct mas_features *x,
                     size_t label, double rate, double *scale,
                     double *p)
{
	size_t K = c->classes, n = c->stride / LANES;
	double step = rate / *scale;
	vec8 gradient[n];
	float *g = (float *)gradient;

	softmax_scores(c, x, *scale, p);
	p[label] -= 1; /* the gradient of the loss for each score */
	for (size_t j = 0; j < n; j++)
		gradient[j] = (vec8){ 0 };
	for (size_t k = 0; k < K; k++)
		g[k] = (float)(p[k] * step);
	for (size_t i = 0; i < x->count; i++) {
		vec8 *row = (vec8 *)(c->weights +
		                     (size_t)x->index[i] * c->stride);
		float v = x->value[i];
		for (size_t j = 0; j < n; j++)
			row[j] -= v * gradient[j];
	}
	for (size_t k = 0; k < K; k++)
		c->bias[k] -= (float)(rate * p[k]);
}

static void fit(struct mas_classifier *c, const struct mas_features *vectors,
                const size_t *labels, size_t n,
                const struct mas_classify_params *p)
{
	size_t *order = malloc(n * sizeof(*order));
	double *probs = malloc(c->classes * sizeof(*probs));
	uint64_t state = p->seed;
	double scale = 1;
	int epochs = p->epochs;

	/* Larger sets converge in fewer passes: each pass makes more
	 * updates, and a 15,000-text KB must train in about a second. */
	if (epochs <= 0)
		epochs = n <= 2000 ? 30 : (int)(60000 / n) < 3
		                                ? 3 : (int)(60000 / n);

	if (!order || !probs)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (int epoch = 0; epoch < epochs; epoch++) {
		/* A rate that shrinks over epochs settles the weights. */
		double rate = p->rate / (1 + epoch * 0.5);
		shuffle(order, n, &state);
		for (size_t i = 0; i < n; i++) {
			sgd_step(c, &vectors[order[i]], labels[order[i]], rate,
			         &scale, probs);
			scale *= 1 - rate * p->l2;
			if (scale < 1e-6)
				rescale(c, &scale);
		}
	}
	rescale(c, &scale);
	free(order);
	free(probs);
}

struct mas_classifier *mas_classify_train(const char *const *texts,
                                          const size_t *labels, size_t n,
                                          size_t classes,
                                          const struct mas_classify_params
                                                  *params)
{
	struct mas_classifier *c;
	struct mas_classify_params p;
	struct raw *raws;
	struct mas_features *vectors;
	size_t weights_size;

	if (n == 0 || classes == 0)
		return NULL;
	set_defaults(&p, params);
	c = calloc(1, sizeof(*c));
	raws = calloc(n, sizeof(*raws));
	vectors = calloc(n, sizeof(*vectors));
	if (!c || !raws || !vectors)
		mas_die(MAS_EXIT_IO, "out of memory");
	c->classes = classes;
	build_vocabulary(c, texts, n, raws);
	for (size_t t = 0; t < n; t++) {
		weigh(&c->vocab, c->idf, &raws[t], &vectors[t]);
		raw_free(&raws[t]);
	}
	free(raws);
	c->stride = (classes + LANES - 1) / LANES * LANES;
	weights_size = (c->features ? c->features : 1) * c->stride *
	               sizeof(*c->weights);
	c->weights = aligned_alloc(sizeof(vec8), weights_size);
	if (c->weights)
		memset(c->weights, 0, weights_size);
	c->bias = calloc(classes, sizeof(*c->bias));
	if (!c->weights || !c->bias)
		mas_die(MAS_EXIT_IO, "out of memory");
	fit(c, vectors, labels, n, &p);
	for (size_t t = 0; t < n; t++)
		mas_features_release(&vectors[t]);
	free(vectors);
	return c;
}

void mas_classify_free(struct mas_classifier *classifier)
{
	if (!classifier)
		return;
	vocab_release(&classifier->vocab);
	free(classifier->idf);
	free(classifier->weights);
	free(classifier->bias);
	free(classifier);
}

/* ---- calibration ---- */

struct scored {
	double p;
	int kind; /* 1 correct in scope, 0 wrong in scope, -1 out of scope */
};

static int compare_scored(const void *a, const void *b)
{
	double x = ((const struct scored *)a)->p;
	double y = ((const struct scored *)b)->p;

	return x < y ? -1 : x > y;
}

/* The threshold with the best balanced accuracy: accepted correct
 * answers plus refused out-of-scope texts, each as a fraction.  S is
 * sorted; thresholds fall midway between neighbours. */
static double best_split(const struct scored *s, size_t n, size_t in,
                         size_t oos)
{
	size_t correct = 0;
	double j, best_j, best_t = 0;

	for (size_t i = 0; i < n; i++)
		correct += s[i].kind == 1;
	j = best_j = (double)correct / (double)in;
	for (size_t i = 0; i < n; i++) {
		if (s[i].kind == 1)
			j -= 1.0 / (double)in;
		else if (s[i].kind == -1)
			j += 1.0 / (double)oos;
		if (j > best_j + 1e-12 &&
		    (i + 1 == n || s[i + 1].p > s[i].p)) {
			best_j = j;
			best_t = i + 1 < n ? (s[i].p + s[i + 1].p) / 2
			                   : s[i].p + 1e-6;
		}
	}
	return best_t;
}

/* Without out-of-scope examples: accept 95% of correct answers. */
static double low_percentile(const struct scored *s, size_t n)
{
	size_t correct = 0, seen = 0, want;

	for (size_t i = 0; i < n; i++)
		correct += s[i].kind == 1;
	if (correct == 0)
		return 0;
	want = correct / 20;
	for (size_t i = 0; i < n; i++)
		if (s[i].kind == 1 && seen++ == want)
			return s[i].p;
	return 0;
}

/* Which fold each example is held out in: round-robin within its label,
 * so every fold sees every label in proportion. */
static size_t *assign_folds(const size_t *labels, size_t n, size_t classes,
                            size_t folds)
{
	size_t *fold = malloc(n * sizeof(*fold));
	size_t *seen = calloc(classes, sizeof(*seen));

	if (!fold || !seen)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < n; i++)
		fold[i] = seen[labels[i]]++ % folds;
	free(seen);
	return fold;
}

/* Trains without fold F and scores the texts held out. */
static void run_fold(const char *const *texts, const size_t *labels,
                     size_t n, size_t classes, const size_t *fold, size_t f,
                     size_t oos_label,
                     const struct mas_classify_params *params,
                     struct scored *out)
{
	const char **train = malloc(n * sizeof(*train));
	size_t *train_labels = malloc(n * sizeof(*train_labels));
	double *probs = malloc(classes * sizeof(*probs));
	struct mas_classifier *model;
	size_t m = 0;

	if (!train || !train_labels || !probs)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (fold[i] != f) {
			train[m] = texts[i];
			train_labels[m++] = labels[i];
		}
	model = mas_classify_train(train, train_labels, m, classes, params);
	for (size_t i = 0; model && i < n; i++) {
		size_t best;
		if (fold[i] != f)
			continue;
		best = mas_classify_predict(model, texts[i], probs);
		out[i].p = probs[best];
		if (labels[i] != oos_label)
			out[i].kind = best == labels[i];
		else /* refused whatever the threshold: no say in it */
			out[i].kind = best == oos_label ? -2 : -1;
	}
	mas_classify_free(model);
	free(train);
	free(train_labels);
	free(probs);
}

double mas_classify_calibrate(const char *const *texts, const size_t *labels,
                              size_t n, size_t classes, size_t oos_label,
                              size_t folds,
                              const struct mas_classify_params *params)
{
	struct scored *s;
	size_t *fold, in = 0, oos = 0, m = 0;
	double threshold;

	if (n < 2 || classes == 0)
		return 0;
	folds = folds < 2 ? 2 : folds;
	s = calloc(n, sizeof(*s));
	if (!s)
		mas_die(MAS_EXIT_IO, "out of memory");
	fold = assign_folds(labels, n, classes, folds);
	for (size_t i = 0; i < n; i++)
		s[i].kind = -3; /* not held out (yet) */
	/* Past 5,000 texts one fold (an 80/20 split with 5 folds) is
	 * plenty, and training four more models would cost seconds. */
	for (size_t f = 0; f < (n > 5000 ? 1 : folds); f++)
		run_fold(texts, labels, n, classes, fold, f, oos_label, params,
		         s);
	for (size_t i = 0; i < n; i++) {
		if (s[i].kind == -3)
			continue;
		in += labels[i] != oos_label;
		oos += labels[i] == oos_label;
		if (s[i].kind != -2)
			s[m++] = s[i];
	}
	qsort(s, m, sizeof(*s), compare_scored);
	threshold = oos && in ? best_split(s, m, in, oos)
	                      : low_percentile(s, m);
	free(fold);
	free(s);
	return threshold;
}
