/* st_lookup.c: which tensors of a checkpoint are lookup tables (token and
 * position embeddings) or the output head that shares their shape, so that
 * prune leaves them dense unless asked. An embedding is indexed, not
 * multiplied: 2:4 buys no speed there and costs accuracy on every token.
 *
 * It judges by name first (the module names of PyTorch, Hugging Face and
 * GPT-2-style code), then by shape: a weight outside the numbered blocks
 * shaped exactly like the largest embedding table (vocabulary x hidden) is
 * the output head. It does not
 * read config files or guess from values. */
#include <ctype.h>
#include <string.h>

#include "st_util.h"

/* The component [s, s+len) of a dotted name, lower-cased into buf. */
static void component(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++) buf[i] = (char)tolower((unsigned char)s[i]);
    buf[n] = 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

enum st_table st_table_by_name(const char *name)
{
    char c[128];
    enum st_table kind = ST_TABLE_NONE;
    /* T5 and BART keep their token table at the top level as "shared" */
    if (!strcmp(name, "shared.weight")) return ST_TABLE_EMBEDDING;
    for (const char *p = name; *p;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        component(p, len, c, sizeof c);
        /* embed, embeds, embedding(s), embed_tokens, word_embeddings, ... */
        if (strstr(c, "embed") || !strcmp(c, "wte") || !strcmp(c, "wpe") || !strcmp(c, "emb") ||
            ends_with(c, "_emb") || !strcmp(c, "relative_attention_bias"))
            return ST_TABLE_EMBEDDING;
        if (!strcmp(c, "lm_head")) kind = ST_TABLE_HEAD;
        p = dot ? dot + 1 : p + len;
    }
    return kind;
}

/* 1 if a dotted component is all digits: "layers.3." marks a repeated block,
 * which holds no output head whatever its shape. */
static int in_numbered_block(const char *name)
{
    for (const char *p = name; *p;) {
        size_t len = strcspn(p, ".");
        if (len && strspn(p, "0123456789") == len) return 1;
        p += len;
        if (*p) p++;
    }
    return 0;
}

/* A 2-D floating-point tensor named *weight: what could be a table. */
static int table_shaped(const struct s24_st_tensor *t)
{
    return t->ndim == 2 && s24_dtype_is_float(t->dtype) && st_is_weight_name(t->name);
}

const struct s24_st_tensor *st_vocab_table(const struct s24_st *st)
{
    const struct s24_st_tensor *best = NULL;
    for (int i = 0; i < st->n; i++) {
        const struct s24_st_tensor *t = &st->t[i];
        if (!table_shaped(t) || st_table_by_name(t->name) != ST_TABLE_EMBEDDING) continue;
        if (!best || t->shape[0] > best->shape[0]) best = t;
    }
    /* a position table is often square or short; a vocabulary has more rows
     * than the hidden size, which is what makes the shape say "head" */
    return best && best->shape[0] > best->shape[1] ? best : NULL;
}

enum st_table st_table_of(const struct s24_st_tensor *t, const struct s24_st_tensor *vocab)
{
    enum st_table k = st_table_by_name(t->name);
    if (k != ST_TABLE_NONE || !vocab || t == vocab || !table_shaped(t) ||
        in_numbered_block(t->name))
        return k;
    if (t->shape[0] == vocab->shape[0] && t->shape[1] == vocab->shape[1])
        return ST_TABLE_TIED_HEAD;
    return ST_TABLE_NONE;
}

const char *st_table_why(enum st_table k)
{
    switch (k) {
    case ST_TABLE_EMBEDDING: return "embedding (lookup table)";
    case ST_TABLE_HEAD: return "lm_head (output head)";
    case ST_TABLE_TIED_HEAD: return "output head (vocab shape)";
    default: return NULL;
    }
}
