/*
 * classify.c — features, a linear model by LIBLINEAR and its threshold (see
 * classify.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "classify.h"
#include "linear-lazy.h"
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
	struct raw_space *space; /* the caller's, or NULL */
};

/*
 * Room for the features of a message, on the stack of whoever answers
 * it: a message of a few hundred characters fits, so answering one
 * mallocs nothing here (the arrays move to the heap when it does not).
 */
#define RAW_SPACE 256
struct raw_space {
	uint64_t hash[RAW_SPACE];
	uint32_t count[RAW_SPACE];
	int32_t table[RAW_SPACE * 2];
};

static void raw_init(struct raw *raw, struct raw_space *space)
{
	memset(raw, 0, sizeof(*raw));
	raw->space = space;
	raw->hash = space->hash;
	raw->count = space->count;
	raw->table = space->table;
	raw->capacity = RAW_SPACE;
	raw->mask = RAW_SPACE * 2 - 1;
}

static void raw_clear(struct raw *raw)
{
	raw->n = 0;
	if (raw->table)
		memset(raw->table, 0xFF,
		       (raw->mask + 1) * sizeof(*raw->table));
}

static void raw_free(struct raw *raw)
{
	if (raw->space && raw->hash == raw->space->hash)
		return;
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

	if (raw->space && raw->hash == raw->space->hash) {
		raw->hash = malloc(capacity * sizeof(*raw->hash));
		raw->count = malloc(capacity * sizeof(*raw->count));
		if (raw->hash && raw->count) {
			memcpy(raw->hash, raw->space->hash,
			       raw->n * sizeof(*raw->hash));
			memcpy(raw->count, raw->space->count,
			       raw->n * sizeof(*raw->count));
		}
	} else {
		raw->hash = realloc(raw->hash, capacity * sizeof(*raw->hash));
		raw->count = realloc(raw->count,
		                     capacity * sizeof(*raw->count));
		free(raw->table);
	}
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

/* How many features ahead a message's lookups (weigh) and weight rows
 * (accumulate) are asked of memory: a big model is not in cache. */
#define PREFETCH_AHEAD 4

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

/* KEY's slot, or the empty one where it would go; the probes are
 * bounded by the table's size, as a table read from a file may be full
 * (damaged): then a slot holding another key. */
static size_t vocab_slot(const struct vocab *v, uint64_t key)
{
	size_t i = (size_t)(key ^ (key >> 29)) & v->mask;

	for (size_t probes = 0; probes < v->mask; probes++) {
		if (!v->keys[i] || v->keys[i] == key)
			break;
		i = (i + 1) & v->mask;
	}
	return i;
}

/* Asks the memory for KEY's slot before vocab_find reads it: a
 * message's features are scattered over a table of a megabyte. */
static void vocab_prefetch(const struct vocab *v, uint64_t key)
{
	size_t i;

	key = key ? key : 1;
	i = (size_t)(key ^ (key >> 29)) & v->mask;
	__builtin_prefetch(v->keys + i);
	__builtin_prefetch(v->values + i);
}

/* The index of KEY, or -1; an index past the count (a damaged file)
 * is none. */
static long vocab_find(const struct vocab *v, uint64_t key)
{
	size_t i;

	key = key ? key : 1;
	i = vocab_slot(v, key);
	if (v->keys[i] != key || v->values[i] >= v->count)
		return -1;
	return (long)v->values[i];
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
	/* a message's features sort on the stack */
	uint32_t index_space[RAW_SPACE];
	float value_space[RAW_SPACE];
	int heap = n > RAW_SPACE;
	uint32_t *index = heap ? malloc(n * sizeof(*index)) : index_space;
	float *value = heap ? malloc(n * sizeof(*value)) : value_space;

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
	if (heap) {
		free(index);
		free(value);
	}
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

/*
 * Eight floats at once, in GCC's and Clang's vector extension: the
 * compiler uses SIMD where the machine has it and plain code where not.
 * Every message costs (features x classes) multiply-adds, so this is
 * where the time goes, in training and in answering alike.
 */
typedef float vec8 __attribute__((vector_size(32)));
#define LANES 8

struct mas_classifier {
	size_t classes, features;
	struct vocab vocab;
	float *idf;         /* per feature */
	size_t stride;      /* classes rounded up to a whole vector */
	float *weights;     /* features x stride, row per feature,
	                     * 32-byte aligned */
	float *bias;        /* per class */
	double scale;       /* of the scores, in the softmax */
	/* A model attached to a file's bytes (mas_classify_attach) points
	 * into BLOCK, read only, for vocab, idf, weights and bias: */
	void *block;        /* NULL for a model trained here */
	size_t block_size;
	int mapped;         /* munmap'ed when freed, else free'd */
	const void *extra;  /* the caller's bytes in it */
	size_t extra_size;
};

/* Zeroed weights and biases for C's classes and features. */
static void allocate_weights(struct mas_classifier *c)
{
	size_t size;

	c->stride = (c->classes + LANES - 1) / LANES * LANES;
	size = (c->features ? c->features : 1) * c->stride *
	       sizeof(*c->weights);
	c->weights = aligned_alloc(32, size);
	if (c->weights)
		memset(c->weights, 0, size);
	c->bias = calloc(c->classes, sizeof(*c->bias));
	if (!c->weights || !c->bias)
		mas_die(MAS_EXIT_IO, "out of memory");
}

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
	for (size_t i = 0; i < raw->n && i < PREFETCH_AHEAD; i++)
		vocab_prefetch(vocab, raw->hash[i]);
	for (size_t i = 0; i < raw->n; i++) {
		long index;
		if (i + PREFETCH_AHEAD < raw->n)
			vocab_prefetch(vocab, raw->hash[i + PREFETCH_AHEAD]);
		index = vocab_find(vocab, raw->hash[i]);
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
	struct raw_space space;
	struct raw raw;

	raw_init(&raw, &space);
	extract(text, &raw);
	weigh(&classifier->vocab, classifier->idf, &raw, features);
	raw_free(&raw);
}



/* Asks the memory for ROW (BYTES long) before it is read. */
static void prefetch_row(const float *row, size_t bytes)
{
	for (size_t b = 0; b < bytes; b += 64)
		__builtin_prefetch((const char *)row + b);
}

/*
 * ACC (STRIDE / LANES vectors) = sum of X's values times their rows.
 * Built twice, for AVX2 and for the baseline, and chosen when the
 * program starts: one 8-float operation instead of two 4-float ones.
 * The same products and sums in the same order (no fused multiply-add:
 * -std=c11 keeps them apart), so both give the same scores, bit for
 * bit.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void accumulate(const struct mas_classifier *c,
                       const struct mas_features *x, vec8 *acc)
{
	size_t n = c->stride / LANES, bytes = c->stride * sizeof(float);

	for (size_t j = 0; j < n; j++)
		acc[j] = (vec8){ 0 };
	for (size_t i = 0; i < x->count && i < PREFETCH_AHEAD; i++)
		prefetch_row(c->weights + (size_t)x->index[i] * c->stride,
		             bytes);
	for (size_t i = 0; i < x->count; i++) {
		size_t at = (size_t)x->index[i] * c->stride;
		const vec8 *row = (const vec8 *)(c->weights + at);
		float v = x->value[i];
		if (i + PREFETCH_AHEAD < x->count)
			prefetch_row(c->weights + (size_t)x->index[
			                     i + PREFETCH_AHEAD] * c->stride,
			             bytes);
		for (size_t j = 0; j < n; j++)
			acc[j] += v * row[j];
	}
}

/* Class probabilities of X into P: the softmax of its scores times the
 * model's scale (fitted by mas_classify_calibrate). */
static void softmax_scores(const struct mas_classifier *c,
                           const struct mas_features *x, double *p)
{
	size_t K = c->classes;
	vec8 acc[c->stride / LANES];
	const float *scores = (const float *)acc;
	double top = -INFINITY, sum = 0;

	accumulate(c, x, acc);
	for (size_t k = 0; k < K; k++) {
		p[k] = ((double)scores[k] + c->bias[k]) * c->scale;
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
	softmax_scores(classifier, features, probs);
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

/* ---- training, by LIBLINEAR ---- */

static void set_defaults(struct mas_classify_params *p,
                         const struct mas_classify_params *given)
{
	static const struct mas_classify_params zero;

	*p = given ? *given : zero;
	if (p->solver == MAS_CLASSIFY_DEFAULT)
		p->solver = MAS_CLASSIFY_SVM;
	if (p->c <= 0)
		p->c = 1;
	if (p->scale <= 0)
		p->scale = p->solver == MAS_CLASSIFY_LR ? 1 : 5;
}

/* LIBLINEAR prints its progress to stdout, which is the record stream. */
static void quiet(const char *message)
{
	(void)message;
}

/* The vectors as LIBLINEAR's problem: 1-based feature nodes, then the
 * bias feature (index FEATURES + 1, value 1), then index -1.  *SPACE
 * holds the nodes; the caller frees it, PROB->x and PROB->y. */
static void problem_build(struct problem *prob, struct feature_node **space,
                          const struct mas_features *vectors,
                          const size_t *labels, size_t n, size_t features)
{
	size_t total = 0, at = 0;

	for (size_t i = 0; i < n; i++)
		total += vectors[i].count + 2;
	*space = malloc(total * sizeof(**space));
	prob->x = malloc(n * sizeof(*prob->x));
	prob->y = malloc(n * sizeof(*prob->y));
	if (!*space || !prob->x || !prob->y)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct feature_node *x = *space + at;
		prob->x[i] = x;
		prob->y[i] = (double)labels[i];
		for (size_t j = 0; j < vectors[i].count; j++) {
			x[j].index = (int)vectors[i].index[j] + 1;
			x[j].value = vectors[i].value[j];
		}
		x[vectors[i].count].index = (int)features + 1;
		x[vectors[i].count].value = 1;
		x[vectors[i].count + 1].index = -1;
		at += vectors[i].count + 2;
	}
	prob->l = (int)n;
	prob->n = (int)features + 1;
	prob->bias = 1;
}

static int solver_type(enum mas_classify_solver solver)
{
	switch (solver) {
	case MAS_CLASSIFY_LR:
		return L2R_LR;
	case MAS_CLASSIFY_CS:
		return MCSVM_CS;
	default:
		return L2R_L2LOSS_SVC_DUAL;
	}
}

/* Copies MODEL's weights into C's rows, class by class.  A binary model
 * has one weight vector, for its first label: the other class scores 0,
 * so that the softmax of the two is the logistic of the one.  A class
 * that had no examples scores far below any other. */
static void take_weights(struct mas_classifier *c, const struct model *m)
{
	int nr_w = m->nr_class == 2 && m->param.solver_type != MCSVM_CS
	                   ? 1 : m->nr_class;
	size_t F = c->features;

	for (size_t k = 0; k < c->classes; k++)
		c->bias[k] = -1e9f;
	for (int j = 0; j < m->nr_class; j++) {
		size_t k = (size_t)m->label[j];
		if (j >= nr_w) {
			c->bias[k] = 0;
			continue;
		}
		for (size_t f = 0; f < F; f++)
			c->weights[f * c->stride + k] =
			        (float)m->w[f * (size_t)nr_w + (size_t)j];
		c->bias[k] = (float)(m->w[F * (size_t)nr_w + (size_t)j] *
		                     m->bias);
	}
}

static size_t distinct_labels(const size_t *labels, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (labels[i] != labels[0])
			return 2;
	return 1;
}

/* Trains C's weights on PROB (borrowed), whose labels are not all the
 * same. */
static void fit_problem(struct mas_classifier *c, const struct problem *prob,
                        const struct mas_classify_params *p)
{
	struct parameter param = { 0 };
	struct model *model;
	char *error = NULL;

	if (mas_linear_load(&error))
		mas_die(MAS_EXIT_USAGE, "training a model: %s",
		        error ? error : "cannot load " MAS_LINEAR_SONAME);
	param.solver_type = solver_type(p->solver);
	param.C = p->c;
	param.eps = param.solver_type == L2R_LR ? 0.01 : 0.1;
	mas_linear_api.set_print_string_function(quiet);
	/* The dual solvers visit examples in an order drawn by rand():
	 * seeded, the same texts give the same model, bit for bit. */
	srand(1);
	model = mas_linear_api.train(prob, &param);
	take_weights(c, model);
	mas_linear_api.free_and_destroy_model(&model);
}

/* Nothing to separate: that class, always. */
static void fit_one(struct mas_classifier *c, size_t label)
{
	for (size_t k = 0; k < c->classes; k++)
		c->bias[k] = k == label ? 0 : -1e9f;
}

static void fit(struct mas_classifier *c, const struct mas_features *vectors,
                const size_t *labels, size_t n,
                const struct mas_classify_params *p)
{
	struct problem prob;
	struct feature_node *space;

	if (distinct_labels(labels, n) == 1) {
		fit_one(c, labels[0]);
		return;
	}
	problem_build(&prob, &space, vectors, labels, n, c->features);
	fit_problem(c, &prob, p);
	free(space);
	free(prob.x);
	free(prob.y);
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

	if (n == 0 || classes == 0)
		return NULL;
	set_defaults(&p, params);
	c = calloc(1, sizeof(*c));
	raws = calloc(n, sizeof(*raws));
	vectors = calloc(n, sizeof(*vectors));
	if (!c || !raws || !vectors)
		mas_die(MAS_EXIT_IO, "out of memory");
	c->classes = classes;
	c->scale = p.scale;
	build_vocabulary(c, texts, n, raws);
	for (size_t t = 0; t < n; t++) {
		weigh(&c->vocab, c->idf, &raws[t], &vectors[t]);
		raw_free(&raws[t]);
	}
	free(raws);
	allocate_weights(c);
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
	if (classifier->mapped) {
		munmap(classifier->block, classifier->block_size);
	} else if (classifier->block) {
		free(classifier->block);
	} else {
		vocab_release(&classifier->vocab);
		free(classifier->idf);
		free(classifier->weights);
		free(classifier->bias);
	}
	free(classifier);
}

double mas_classify_scale(const struct mas_classifier *classifier)
{
	return classifier->scale;
}

void mas_classify_set_scale(struct mas_classifier *classifier, double scale)
{
	if (scale > 0)
		classifier->scale = scale;
}

/* ---- training from a stream ---- */

#define STREAM_BITS 21
#define STREAM_BUCKETS ((size_t)1 << STREAM_BITS)
#define STREAM_CHUNK ((size_t)1 << 18)  /* nodes per allocation */

struct chunk {
	struct feature_node *nodes;
	size_t used, capacity;
};

struct mas_classify_stream {
	size_t classes;
	struct mas_classify_params params;
	size_t max_nodes;
	size_t counted, *docs;   /* texts counted, per class */
	uint32_t *counts;        /* counting: bucket x class texts */
	uint32_t *df;            /* adding: bucket -> texts, 0 unkept */
	size_t kept_buckets;
	struct mas_classifier *c;
	size_t idf_capacity;
	struct raw raw;
	struct mas_features vector;
	struct chunk *chunks;
	size_t chunk_count;
	struct feature_node **x;
	double *y;
	size_t added, x_capacity, nodes;
};

static size_t bucket_of(uint64_t hash)
{
	return (size_t)((hash ^ (hash >> 32)) & (STREAM_BUCKETS - 1));
}

struct mas_classify_stream *mas_classify_stream_new(
	size_t classes, size_t max_nodes,
	const struct mas_classify_params *params)
{
	struct mas_classify_stream *s = calloc(1, sizeof(*s));

	if (!s)
		mas_die(MAS_EXIT_IO, "out of memory");
	s->classes = classes ? classes : 1;
	set_defaults(&s->params, params);
	s->max_nodes = max_nodes ? max_nodes : MAS_CLASSIFY_STREAM_NODES;
	s->docs = calloc(s->classes, sizeof(*s->docs));
	s->counts = calloc(STREAM_BUCKETS * s->classes, sizeof(*s->counts));
	if (!s->docs || !s->counts)
		mas_die(MAS_EXIT_IO, "out of memory");
	mas_features_init(&s->vector);
	return s;
}

void mas_classify_stream_count(struct mas_classify_stream *s,
                               const char *text, size_t label)
{
	if (!s->counts || label >= s->classes)
		return;
	extract(text, &s->raw);
	for (size_t i = 0; i < s->raw.n; i++) {
		uint32_t *n = &s->counts[bucket_of(s->raw.hash[i]) *
		                         s->classes + label];
		if (*n < UINT32_MAX)
			(*n)++;
	}
	s->docs[label]++;
	s->counted++;
}

/* How much knowing whether a text holds a feature of COUNTS tells of
 * its class: the chi-squared statistic of the 2 x classes table. */
static double chi_squared(const struct mas_classify_stream *s,
                          const uint32_t *counts, double df)
{
	double n = (double)s->counted, sum = 0;

	for (size_t k = 0; k < s->classes; k++) {
		double share = (double)s->docs[k] / n;
		double in = df * share, out = (n - df) * share;
		if (s->docs[k] == 0)
			continue;
		if (in > 0)
			sum += (counts[k] - in) * (counts[k] - in) / in;
		if (out > 0)
			sum += ((double)s->docs[k] - counts[k] - out) *
			       ((double)s->docs[k] - counts[k] - out) / out;
	}
	return sum;
}

struct ranked {
	float score;
	uint32_t bucket;
};

static int compare_ranked(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->bucket < y->bucket ? -1 : x->bucket > y->bucket;
}

/* From the counts to the buckets kept: those in at least MIN_DF texts,
 * the most telling first, until their texts add up to the node budget
 * (a bucket's texts are the nodes it will cost, or more). */
static void select_buckets(struct mas_classify_stream *s)
{
	uint32_t min_df = s->counted > PRUNE_ABOVE ? 2 : 1;
	struct ranked *r = malloc(STREAM_BUCKETS * sizeof(*r));
	size_t m = 0, nodes = 0;

	s->df = calloc(STREAM_BUCKETS, sizeof(*s->df));
	if (!r || !s->df)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t b = 0; b < STREAM_BUCKETS; b++) {
		const uint32_t *counts = s->counts + b * s->classes;
		uint64_t df = 0;
		for (size_t k = 0; k < s->classes; k++)
			df += counts[k];
		if (df < min_df)
			continue;
		s->df[b] = df > UINT32_MAX ? UINT32_MAX : (uint32_t)df;
		r[m].score = (float)chi_squared(s, counts, (double)df);
		r[m++].bucket = (uint32_t)b;
	}
	free(s->counts);
	s->counts = NULL;
	qsort(r, m, sizeof(*r), compare_ranked);
	for (size_t i = 0; i < m; i++) {
		nodes += s->df[r[i].bucket];
		if (nodes > s->max_nodes)
			s->df[r[i].bucket] = 0;
		else
			s->kept_buckets++;
	}
	free(r);
	s->c = calloc(1, sizeof(*s->c));
	if (!s->c)
		mas_die(MAS_EXIT_IO, "out of memory");
	s->c->classes = s->classes;
	s->c->scale = s->params.scale;
	vocab_init(&s->c->vocab, s->kept_buckets);
}

/* The index of the feature HASH, in a kept bucket of DF texts, added to
 * the vocabulary with its idf when new. */
static uint32_t stream_feature(struct mas_classify_stream *s, uint64_t hash,
                               uint32_t df)
{
	struct mas_classifier *c = s->c;
	size_t before = c->vocab.count;
	uint32_t index = vocab_add(&c->vocab, hash);

	if (c->vocab.count == before)
		return index;
	if (index >= s->idf_capacity) {
		s->idf_capacity = s->idf_capacity ? s->idf_capacity * 2
		                                  : 4096;
		c->idf = realloc(c->idf, s->idf_capacity * sizeof(*c->idf));
		if (!c->idf)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	c->idf[index] = (float)(log((double)(s->counted + 1) / (df + 1)) + 1);
	return index;
}

/* Room for COUNT nodes in one piece; returns where. */
static struct feature_node *stream_nodes(struct mas_classify_stream *s,
                                         size_t count)
{
	struct chunk *last = s->chunk_count ? &s->chunks[s->chunk_count - 1]
	                                    : NULL;

	if (!last || last->capacity - last->used < count) {
		size_t capacity = count > STREAM_CHUNK ? count : STREAM_CHUNK;
		s->chunks = realloc(s->chunks, (s->chunk_count + 1) *
		                                       sizeof(*s->chunks));
		if (!s->chunks)
			mas_die(MAS_EXIT_IO, "out of memory");
		last = &s->chunks[s->chunk_count++];
		last->nodes = malloc(capacity * sizeof(*last->nodes));
		if (!last->nodes)
			mas_die(MAS_EXIT_IO, "out of memory");
		last->used = 0;
		last->capacity = capacity;
	}
	last->used += count;
	return last->nodes + last->used - count;
}

static void stream_row(struct mas_classify_stream *s,
                       struct feature_node *row, size_t label)
{
	if (s->added == s->x_capacity) {
		s->x_capacity = s->x_capacity ? s->x_capacity * 2 : 1024;
		s->x = realloc(s->x, s->x_capacity * sizeof(*s->x));
		s->y = realloc(s->y, s->x_capacity * sizeof(*s->y));
		if (!s->x || !s->y)
			mas_die(MAS_EXIT_IO, "out of memory");
	}
	s->x[s->added] = row;
	s->y[s->added++] = (double)label;
}

void mas_classify_stream_add(struct mas_classify_stream *s, const char *text,
                             size_t label)
{
	struct mas_features *v = &s->vector;
	struct feature_node *row;

	if (label >= s->classes || s->counted == 0)
		return;
	if (s->counts)
		select_buckets(s);
	extract(text, &s->raw);
	v->count = 0;
	features_reserve(v, s->raw.n ? s->raw.n : 1);
	for (size_t i = 0; i < s->raw.n; i++) {
		uint32_t df = s->df[bucket_of(s->raw.hash[i])];
		uint32_t count = s->raw.count[i], index;
		if (df == 0)
			continue;
		index = stream_feature(s, s->raw.hash[i], df);
		v->index[v->count] = index;
		v->value[v->count++] = (float)((count == 1 ? 1
		                                          : 1 + log(count)) *
		                               s->c->idf[index]);
	}
	features_sort(v);
	features_normalise(v);
	/* the features, the bias (its index known at the end), the end */
	row = stream_nodes(s, v->count + 2);
	for (size_t j = 0; j < v->count; j++) {
		row[j].index = (int)v->index[j] + 1;
		row[j].value = v->value[j];
	}
	row[v->count].index = 0;
	row[v->count].value = 1;
	row[v->count + 1].index = -1;
	s->nodes += v->count;
	stream_row(s, row, label);
}

size_t mas_classify_stream_nodes(const struct mas_classify_stream *s)
{
	return s->nodes;
}

static void stream_release(struct mas_classify_stream *s)
{
	for (size_t i = 0; i < s->chunk_count; i++)
		free(s->chunks[i].nodes);
	free(s->chunks);
	free(s->x);
	free(s->y);
	free(s->df);
	free(s->counts);
	free(s->docs);
	raw_free(&s->raw);
	mas_features_release(&s->vector);
	free(s);
}

struct mas_classifier *mas_classify_stream_finish(
	struct mas_classify_stream *s)
{
	struct mas_classifier *c = s->c;
	struct problem prob;
	int mixed = 0;

	if (!c || s->added == 0) {
		mas_classify_free(c);
		stream_release(s);
		return NULL;
	}
	c->features = c->vocab.count;
	if (!c->idf)
		c->idf = calloc(1, sizeof(*c->idf));
	allocate_weights(c);
	for (size_t i = 0; i < s->added; i++) {
		struct feature_node *x = s->x[i];
		while (x->index > 0)
			x++;
		x->index = (int)c->features + 1; /* the bias */
		mixed |= s->y[i] != s->y[0];
	}
	if (!mixed) {
		fit_one(c, (size_t)s->y[0]);
	} else {
		prob.l = (int)s->added;
		prob.n = (int)c->features + 1;
		prob.x = s->x;
		prob.y = s->y;
		prob.bias = 1;
		fit_problem(c, &prob, &s->params);
	}
	stream_release(s);
	return c;
}

/* ---- calibration ---- */

/* The scores of X, before the softmax's scale, into S (CLASSES). */
static void raw_scores(const struct mas_classifier *c,
                       const struct mas_features *x, double *s)
{
	vec8 acc[c->stride / LANES];
	const float *scores = (const float *)acc;

	accumulate(c, x, acc);
	for (size_t k = 0; k < c->classes; k++)
		s[k] = (double)scores[k] + c->bias[k];
}

/* The softmax of SCALE times S into P; returns the log of its sum
 * relative to the top score (for the log-loss). */
static double softmax(const double *s, size_t n, double scale, double *p)
{
	double top = -INFINITY, sum = 0;

	for (size_t k = 0; k < n; k++)
		if (s[k] * scale > top)
			top = s[k] * scale;
	for (size_t k = 0; k < n; k++) {
		p[k] = exp(s[k] * scale - top);
		sum += p[k];
	}
	for (size_t k = 0; k < n; k++)
		p[k] /= sum;
	return log(sum) + top;
}

/* Held-out scores: row I of SCORES (CLASSES each) for example I, when
 * HELD[I]. */
struct heldout {
	double *scores;
	unsigned char *held;
	size_t n, classes;
};

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
                     const size_t *fold, size_t f,
                     const struct mas_classify_params *params,
                     struct heldout *h)
{
	const char **train = malloc(h->n * sizeof(*train));
	size_t *train_labels = malloc(h->n * sizeof(*train_labels));
	struct mas_classifier *model;
	struct mas_features x;
	size_t m = 0;

	if (!train || !train_labels)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (size_t i = 0; i < h->n; i++)
		if (fold[i] != f) {
			train[m] = texts[i];
			train_labels[m++] = labels[i];
		}
	model = mas_classify_train(train, train_labels, m, h->classes,
	                           params);
	mas_features_init(&x);
	for (size_t i = 0; model && i < h->n; i++) {
		if (fold[i] != f)
			continue;
		mas_classify_vector(model, texts[i], &x);
		raw_scores(model, &x, h->scores + i * h->classes);
		h->held[i] = 1;
	}
	mas_features_release(&x);
	mas_classify_free(model);
	free(train);
	free(train_labels);
}

/* The slope and curvature of the held-out log-loss in SCALE: the mean,
 * over examples, of the expected score less the true one, and of the
 * scores' variance. */
static void loss_slope(const struct heldout *h, const size_t *labels,
                       double scale, double *slope, double *curve,
                       double *p)
{
	size_t m = 0;

	*slope = *curve = 0;
	for (size_t i = 0; i < h->n; i++) {
		const double *s = h->scores + i * h->classes;
		double mean = 0, square = 0;
		if (!h->held[i])
			continue;
		softmax(s, h->classes, scale, p);
		for (size_t k = 0; k < h->classes; k++) {
			mean += p[k] * s[k];
			square += p[k] * s[k] * s[k];
		}
		*slope += mean - s[labels[i]];
		*curve += square - mean * mean;
		m++;
	}
	*slope /= m ? (double)m : 1;
	*curve /= m ? (double)m : 1;
}

/*
 * The softmax scale that minimises the held-out log-loss: the loss is
 * convex in the scale, so Newton's method within a bracket that
 * bisection keeps (a scale from 0.01 to 1000).
 */
static double fit_scale(const struct heldout *h, const size_t *labels)
{
	double low = 0.01, high = 1000, scale = 5;
	double *p = malloc(h->classes * sizeof(*p));

	if (!p)
		mas_die(MAS_EXIT_IO, "out of memory");
	for (int i = 0; i < 50 && high - low > 1e-4 * scale; i++) {
		double slope, curve, next;
		loss_slope(h, labels, scale, &slope, &curve, p);
		if (slope > 0)
			high = scale;
		else
			low = scale;
		next = curve > 0 ? scale - slope / curve : -1;
		scale = next > low && next < high ? next : (low + high) / 2;
		if (fabs(slope) < 1e-9)
			break;
	}
	free(p);
	return scale;
}

struct scored {
	double p;
	int kind; /* 1 correct in scope, 0 wrong in scope, -1 out of scope
	           * (-2 when it was taken for out of scope already) */
};

static int compare_scored(const void *a, const void *b)
{
	double x = ((const struct scored *)a)->p;
	double y = ((const struct scored *)b)->p;

	return x < y ? -1 : x > y;
}

/* A threshold midway between S[I] and the next, or just above S[I]. */
static double between(const struct scored *s, size_t n, size_t i)
{
	return i + 1 < n ? (s[i].p + s[i + 1].p) / 2 : s[i].p + 1e-6;
}

/* The threshold with the most in-scope accuracy plus out-of-scope
 * recall, each as a fraction; S is sorted. */
static double best_sum(const struct scored *s, size_t n, size_t in,
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
			best_t = between(s, n, i);
		}
	}
	return best_t;
}

/* The lowest threshold at which out-of-scope recall reaches TARGET;
 * S is sorted.  REFUSED already are those taken for out of scope. */
static double recall_target(const struct scored *s, size_t n, size_t oos,
                            size_t refused, double target)
{
	size_t caught = refused;

	if ((double)caught >= target * (double)oos)
		return 0;
	for (size_t i = 0; i < n; i++) {
		caught += s[i].kind == -1;
		if ((double)caught >= target * (double)oos - 1e-9 &&
		    (i + 1 == n || s[i + 1].p > s[i].p))
			return between(s, n, i);
	}
	return s[n - 1].p + 1e-6;
}

/* The highest threshold under which at most a fraction CAP of the IN
 * in-scope texts were right answers; S is sorted. */
static double loss_cap(const struct scored *s, size_t n, size_t in,
                       double cap)
{
	size_t lost = 0;
	double best = 0;

	for (size_t i = 0; i < n; i++) {
		lost += s[i].kind == 1;
		if ((double)lost > cap * (double)in + 1e-9)
			break;
		if (i + 1 == n || s[i + 1].p > s[i].p)
			best = between(s, n, i);
	}
	return best;
}

/* The default rule with out-of-scope examples (classify.h): the recall
 * target, unless it costs more in-scope accuracy than the cap. */
static double capped_recall(const struct scored *s, size_t n,
                            const size_t c[3])
{
	double t = recall_target(s, n, c[1], c[2], MAS_CLASSIFY_OOS_RECALL);
	double cap = loss_cap(s, n, c[0], MAS_CLASSIFY_LOSS_CAP);

	return t < cap ? t : cap;
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

/* Each held-out example's top probability under SCALE and its kind;
 * returns how many, with the counts of in-scope and out-of-scope ones
 * and of those taken for out of scope whatever the threshold. */
static size_t score_heldout(const struct heldout *h, const size_t *labels,
                            size_t oos_label, double scale,
                            struct scored *s, size_t counts[3])
{
	double *p = malloc(h->classes * sizeof(*p));
	size_t m = 0;

	if (!p)
		mas_die(MAS_EXIT_IO, "out of memory");
	counts[0] = counts[1] = counts[2] = 0;
	for (size_t i = 0; i < h->n; i++) {
		size_t best = 0;
		if (!h->held[i])
			continue;
		softmax(h->scores + i * h->classes, h->classes, scale, p);
		for (size_t k = 1; k < h->classes; k++)
			if (p[k] > p[best])
				best = k;
		s[m].p = p[best];
		if (labels[i] != oos_label) {
			s[m].kind = best == labels[i];
			counts[0]++;
		} else {
			s[m].kind = best == oos_label ? -2 : -1;
			counts[1]++;
			counts[2] += best == oos_label;
		}
		m++;
	}
	free(p);
	return m;
}

/* The cross-validated figures at threshold OUT->threshold. */
static void estimate(const struct scored *s, size_t m, const size_t c[3],
                     struct mas_classify_calibration *out)
{
	size_t top1 = 0, kept = 0, refused = c[2];

	for (size_t i = 0; i < m; i++) {
		top1 += s[i].kind == 1;
		kept += s[i].kind == 1 && s[i].p >= out->threshold;
		refused += s[i].kind == -1 && s[i].p < out->threshold;
	}
	out->top1 = c[0] ? (double)top1 / (double)c[0] : 0;
	out->accuracy = c[0] ? (double)kept / (double)c[0] : 0;
	out->oos_recall = c[1] ? (double)refused / (double)c[1] : -1;
}

static void choose_threshold(struct scored *s, size_t m, const size_t c[3],
                             double target,
                             struct mas_classify_calibration *out)
{
	qsort(s, m, sizeof(*s), compare_scored);
	if (m == 0 || c[0] == 0) {
		out->threshold = 0;
		out->rule = "none";
	} else if (c[1] == 0) {
		out->threshold = low_percentile(s, m);
		out->rule = "correct_p5";
	} else if (target > 0) {
		out->threshold = recall_target(s, m, c[1], c[2], target);
		out->rule = "oos_recall";
	} else if (target < 0) {
		out->threshold = best_sum(s, m, c[0], c[1]);
		out->rule = "accuracy+recall";
	} else {
		out->threshold = capped_recall(s, m, c);
		out->rule = "oos_recall_capped";
		out->target = MAS_CLASSIFY_OOS_RECALL;
	}
	estimate(s, m, c, out);
}

int mas_classify_calibrate(const char *const *texts, const size_t *labels,
                           size_t n, size_t classes, size_t oos_label,
                           size_t folds, double oos_recall,
                           const struct mas_classify_params *params,
                           struct mas_classify_calibration *out)
{
	struct mas_classify_params p;
	struct heldout h = { 0 };
	struct scored *s;
	size_t *fold, m, counts[3];

	set_defaults(&p, params);
	memset(out, 0, sizeof(*out));
	out->scale = p.scale;
	out->rule = "none";
	out->target = oos_recall;
	out->oos_recall = -1;
	if (n < 2 || classes == 0)
		return -1;
	folds = folds < 2 ? 2 : folds;
	h.n = n;
	h.classes = classes;
	h.scores = malloc(n * classes * sizeof(*h.scores));
	h.held = calloc(n, 1);
	s = malloc(n * sizeof(*s));
	if (!h.scores || !h.held || !s)
		mas_die(MAS_EXIT_IO, "out of memory");
	fold = assign_folds(labels, n, classes, folds);
	/* Past 5,000 texts one fold (an 80/20 split with 5 folds) is
	 * plenty, and training four more models would cost seconds. */
	for (size_t f = 0; f < (n > 5000 ? 1 : folds); f++)
		run_fold(texts, labels, fold, f, &p, &h);
	out->scale = fit_scale(&h, labels);
	m = score_heldout(&h, labels, oos_label, out->scale, s, counts);
	choose_threshold(s, m, counts, oos_recall, out);
	free(fold);
	free(s);
	free(h.scores);
	free(h.held);
	return 0;
}

/* ---- a model as bytes, used where they lie ---- */

#define MODEL_MAGIC "mas-clf"     /* with its NUL: 8 bytes */
#define MODEL_VERSION 2
#define MODEL_ORDER 0x01020304u
#define MODEL_ALIGN 64            /* every section: a cache line */
/* Bounds a damaged header cannot pass: sizes are then products that
 * fit in 64 bits with room to spare. */
#define MODEL_MAX_CLASSES ((uint64_t)1 << 20)
#define MODEL_MAX_FEATURES ((uint64_t)1 << 28)

/*
 * The header; each section starts at its offset from the start of the
 * block, a multiple of MODEL_ALIGN: the vocabulary's table as it is in
 * memory (TABLE_SIZE keys of 8 bytes, 0 for an empty slot, then
 * TABLE_SIZE feature numbers of 4), the idf of each feature, the
 * weights (a row of stride floats per feature, stride the classes
 * rounded up to LANES), the bias of each class, and the caller's bytes.
 */
struct model_header {
	char magic[8];
	uint32_t version, byte_order;
	uint32_t header_size, lanes;
	uint64_t classes, features, table_size;
	double scale;
	uint64_t off_keys, off_values, off_idf, off_weights, off_bias,
	         off_extra, extra_size, size;
};

static uint64_t align_up(uint64_t n)
{
	return (n + MODEL_ALIGN - 1) / MODEL_ALIGN * MODEL_ALIGN;
}

static uint64_t stride_of(uint64_t classes)
{
	return (classes + LANES - 1) / LANES * LANES;
}

/* The bytes each section of H takes, in the order of its offsets. */
static void section_sizes(const struct model_header *h, uint64_t out[6])
{
	out[0] = h->table_size * sizeof(uint64_t);
	out[1] = h->table_size * sizeof(uint32_t);
	out[2] = h->features * sizeof(float);
	out[3] = h->features * stride_of(h->classes) * sizeof(float);
	out[4] = h->classes * sizeof(float);
	out[5] = h->extra_size;
}

/* Lays out H's sections one after the other, and its size. */
static void layout(struct model_header *h)
{
	uint64_t *offsets[6] = { &h->off_keys, &h->off_values, &h->off_idf,
	                         &h->off_weights, &h->off_bias,
	                         &h->off_extra };
	uint64_t sizes[6], at = align_up(sizeof(*h));

	section_sizes(h, sizes);
	for (int i = 0; i < 6; i++) {
		*offsets[i] = at;
		at = align_up(at + sizes[i]);
	}
	h->size = at;
}

void *mas_classify_save(const struct mas_classifier *c, const void *extra,
                        size_t extra_size, size_t *size)
{
	struct model_header h = { MODEL_MAGIC, MODEL_VERSION, MODEL_ORDER,
	                          sizeof(h), LANES, c->classes, c->features,
	                          c->vocab.mask + 1, c->scale, 0, 0, 0, 0,
	                          0, 0, extra_size, 0 };
	char *block;

	layout(&h);
	block = aligned_alloc(MODEL_ALIGN, h.size);
	if (!block)
		mas_die(MAS_EXIT_IO, "out of memory");
	memset(block, 0, h.size);
	memcpy(block, &h, sizeof(h));
	memcpy(block + h.off_keys, c->vocab.keys,
	       h.table_size * sizeof(uint64_t));
	memcpy(block + h.off_values, c->vocab.values,
	       h.table_size * sizeof(uint32_t));
	memcpy(block + h.off_idf, c->idf, c->features * sizeof(float));
	memcpy(block + h.off_weights, c->weights,
	       c->features * c->stride * sizeof(float));
	memcpy(block + h.off_bias, c->bias, c->classes * sizeof(float));
	if (extra_size)
		memcpy(block + h.off_extra, extra, extra_size);
	*size = h.size;
	return block;
}

/* Whether H's counts are a model's and every section of it lies,
 * aligned, inside SIZE bytes. */
static int header_ok(const struct model_header *h, uint64_t size)
{
	const uint64_t offsets[6] = { h->off_keys, h->off_values, h->off_idf,
	                              h->off_weights, h->off_bias,
	                              h->off_extra };
	uint64_t sizes[6];

	if (memcmp(h->magic, MODEL_MAGIC, sizeof(h->magic)) != 0 ||
	    h->version != MODEL_VERSION || h->byte_order != MODEL_ORDER ||
	    h->header_size != sizeof(*h) || h->lanes != LANES ||
	    h->size != size || h->classes == 0 ||
	    h->classes > MODEL_MAX_CLASSES ||
	    h->features > MODEL_MAX_FEATURES ||
	    h->table_size < 2 || h->table_size > 2 * MODEL_MAX_FEATURES ||
	    (h->table_size & (h->table_size - 1)) != 0 ||
	    h->features >= h->table_size || h->extra_size > size ||
	    !(h->scale > 0) || !isfinite(h->scale))
		return 0;
	section_sizes(h, sizes);
	for (int i = 0; i < 6; i++)
		if (offsets[i] % MODEL_ALIGN != 0 || offsets[i] > size ||
		    sizes[i] > size - offsets[i])
			return 0;
	return 1;
}

struct mas_classifier *mas_classify_attach(void *block, size_t size,
                                           int mapped)
{
	struct model_header h;
	struct mas_classifier *c;
	char *at = block;

	if (size < sizeof(h) || (uintptr_t)block % MODEL_ALIGN != 0)
		goto bad;
	memcpy(&h, block, sizeof(h));
	if (!header_ok(&h, size))
		goto bad;
	c = calloc(1, sizeof(*c));
	if (!c)
		mas_die(MAS_EXIT_IO, "out of memory");
	c->classes = h.classes;
	c->features = h.features;
	c->stride = stride_of(h.classes);
	c->scale = h.scale;
	/* read only: only training writes them */
	c->vocab.keys = (uint64_t *)(void *)(at + h.off_keys);
	c->vocab.values = (uint32_t *)(void *)(at + h.off_values);
	c->vocab.mask = h.table_size - 1;
	c->vocab.count = h.features;
	c->idf = (float *)(void *)(at + h.off_idf);
	c->weights = (float *)(void *)(at + h.off_weights);
	c->bias = (float *)(void *)(at + h.off_bias);
	c->block = block;
	c->block_size = size;
	c->mapped = mapped;
	c->extra = at + h.off_extra;
	c->extra_size = h.extra_size;
	return c;
bad:
	if (mapped)
		munmap(block, size);
	else
		free(block);
	return NULL;
}

const void *mas_classify_extra(const struct mas_classifier *classifier,
                               size_t *size)
{
	*size = classifier->extra_size;
	return classifier->extra;
}

uint64_t mas_classify_fingerprint(void)
{
	static const char probe[] =
		"The runners were running quickly, don't they? "
		"Prices: 1,000 ÉTÉ naïve 价格是多少 ＡＩ";
	struct raw raw = { 0 };
	uint64_t sum = FNV_OFFSET;

	extract(probe, &raw);
	/* order-free: the sum and the xor of the features' hashes, each
	 * weighed by its count */
	for (size_t i = 0; i < raw.n; i++)
		sum += raw.hash[i] * raw.count[i] ^ (raw.hash[i] >> 7);
	raw_free(&raw);
	return mix(sum, (uint32_t)raw.n) ^ ((uint64_t)LIBLINEAR_VERSION << 48);
}
