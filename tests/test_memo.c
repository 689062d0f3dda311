/* test_memo.c: the process-wide result tables (src/core/memo.c): a miss
 * leaves the entry alone, a hit copies the kept entry whole, only the key's
 * bytes decide, the first of two entries with one key stays, a full table
 * keeps nothing more, and threads putting and getting at once lose nothing. */
#include <pthread.h>
#include <stdint.h>

#include "core/memo.h"
#include "t.h"

struct entry {
    struct {
        int64_t a;
        int b, c;
    } k;
    double v;
};

static struct entry store[8];
static struct s24_memo memo = S24_MEMO_INIT(store, sizeof(store[0].k));

static struct entry make(int64_t a, int b, int c, double v)
{
    struct entry e;
    memset(&e, 0, sizeof e);
    e.k.a = a, e.k.b = b, e.k.c = c, e.v = v;
    return e;
}

static void test_basic(void)
{
    struct entry e = make(1, 2, 3, -1);
    CHECK(s24_memo_get(&memo, &e) == 0 && e.v == -1, "a miss leaves the entry");
    struct entry p = make(1, 2, 3, 4.5);
    s24_memo_put(&memo, &p);
    CHECK(s24_memo_get(&memo, &e) == 1 && e.v == 4.5, "a hit copies the value: %g", e.v);
    struct entry q = make(1, 2, 3, 9);
    s24_memo_put(&memo, &q);
    e = make(1, 2, 3, 0);
    CHECK(s24_memo_get(&memo, &e) == 1 && e.v == 4.5, "the first entry of a key stays");
    e = make(1, 2, 4, 0);
    CHECK(s24_memo_get(&memo, &e) == 0, "another key misses");
    for (int i = 0; i < 20; i++) {
        struct entry f = make(100 + i, 0, 0, i);
        s24_memo_put(&memo, &f);
    }
    CHECK(memo.n == 8, "a full table keeps %d of its 8", memo.n);
    e = make(100, 0, 0, -1);
    CHECK(s24_memo_get(&memo, &e) == 1 && e.v == 0, "kept before it filled");
    e = make(119, 0, 0, -1);
    CHECK(s24_memo_get(&memo, &e) == 0, "nothing kept once full");
}

static struct entry tstore[4000];
static struct s24_memo tmemo = S24_MEMO_INIT(tstore, sizeof(tstore[0].k));

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 1000; i++) {
        struct entry e = make(id, i, 0, id * 1000 + i);
        s24_memo_put(&tmemo, &e);
        struct entry g = make(id, i, 0, -1);
        if (!s24_memo_get(&tmemo, &g) || g.v != id * 1000 + i) return (void *)1;
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[4];
    int bad = 0;
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += r != NULL;
    }
    CHECK(bad == 0 && tmemo.n == 4000, "4 threads: %d failed, %d kept", bad, tmemo.n);
}

int main(void)
{
    test_basic();
    test_threads();
    return t_done("test_memo");
}
