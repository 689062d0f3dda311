/* test_comm.c: the communication layer (src/comm/comm.h) and gradient
 * buckets (src/comm/buckets.h) on the CPU, as CI runs them:
 *   - one rank: every collective leaves the buffer as it was;
 *   - thread ranks, N = 1..4, odd lengths: the all-reduce equals the float
 *     sum taken in rank order 0..N-1, bit for bit, on every rank; broadcast
 *     gives rank 0's buffer; a barrier lets nobody through early;
 *   - failures: a rank that aborts, one that returns an error, and one that
 *     never arrives in time each make the others return S24_ERR_COMM
 *     (before the deadline in the first two, at it in the third); nothing
 *     hangs (an alarm kills the binary if something does);
 *   - buckets: boundaries for several sizes B (reverse order, every
 *     gradient in exactly one bucket, the size rule); through a fake
 *     communicator that triples what it reduces, every element reduced
 *     exactly once and divided by N, a bucket launched as its last gradient
 *     is reported; with thread ranks the average is the rank-order sum
 *     times 1/N, identical on every rank.
 * Not shown here: NCCL beyond refusing a CPU backend (no GPU in CI), speed. The training
 * equivalence is in test_comm_dp.c. */
#include "t.h"

#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "comm/buckets.h"
#include "comm/comm.h"
#include "sparse24/sparse24_nn.h"

/* A float of varied magnitude from (rank, index), so the order of the sum
 * changes its rounding. */
static float val(int r, int64_t i)
{
    uint64_t z = (uint64_t)(r + 1) * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0xbf58476d1ce4e5b9ull;
    z ^= z >> 31;
    z *= 0x94d049bb133111ebull;
    z ^= z >> 29;
    float u = (float)(z >> 40) / 16777216.0f - 0.5f;
    return ldexpf(u, (int)(z % 24) - 12);
}

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&t, NULL);
}

/* ---------------------------------------------------------------- one rank */
static void test_one(void)
{
    s24_backend_t *be = NULL;
    struct s24_comm *c = NULL;
    CHECK_OK(s24_backend_create(S24_DEVICE_CPU, 0, &be));
    CHECK_OK(s24_comm_one_init(be, &c));
    if (!c) return;
    CHECK(c->rank == 0 && c->size == 1);
    float x[7], y[7];
    for (int i = 0; i < 7; i++)
        x[i] = y[i] = val(0, i);
    CHECK_OK(s24_comm_allreduce(c, x, 7));
    CHECK_OK(s24_comm_broadcast(c, x, 7));
    CHECK_OK(s24_comm_barrier(c));
    CHECK_OK(s24_comm_wait(c));
    CHECK(!memcmp(x, y, sizeof x), "one rank changed the buffer");
    CHECK(s24_comm_allreduce(c, x, -1) == S24_ERR_INVALID);
    CHECK(s24_comm_allreduce(c, NULL, 3) == S24_ERR_INVALID);
    s24_comm_free(c);
    /* NCCL wants a CUDA backend; without NCCL it is not built: either way
     * unsupported here, and the C names link in both builds */
    struct s24_comm_id id;
    memset(&id, 0, sizeof id);
    c = NULL;
    CHECK(s24_comm_nccl_init(be, 0, 2, &id, 1.0, &c) == S24_ERR_UNSUPPORTED && !c, "%s",
          s24_last_error());
    s24_backend_free(be);
}

/* ---------------------------------------------------------------- thread ranks */
enum mode { M_REDUCE, M_BCAST, M_BARRIER, M_ABORT, M_RETURN, M_LATE, M_LENGTH };

struct job {
    enum mode mode;
    int size;
    int64_t len;
    int bad_rank;       /* the failing rank of the failure modes */
    double late_s;      /* how late M_LATE's rank arrives */
    atomic_int counter; /* barrier */
    int wrong[8];       /* per rank: elements differing from the expectation */
    int status[8];      /* per rank: the collective's result */
    double waited[8];   /* per rank: seconds in the collective */
};

/* The expected all-reduce of element i: the float sum in rank order. */
static float want_sum(int size, int64_t i)
{
    float s = val(0, i);
    for (int r = 1; r < size; r++)
        s += val(r, i);
    return s;
}

static int rank_main(struct s24_comm_group *g, int rank, void *arg)
{
    struct job *j = arg;
    s24_backend_t *be = NULL;
    struct s24_comm *c = NULL;
    float *buf = malloc(sizeof(float) * (size_t)(j->len > 0 ? j->len : 1));
    int rc = buf ? s24_backend_create(S24_DEVICE_CPU, 0, &be) : S24_ERR_NOMEM;
    if (rc == S24_OK) rc = s24_comm_thread_init(g, rank, be, &c);
    if (rc != S24_OK) goto out;
    for (int64_t i = 0; i < j->len; i++)
        buf[i] = val(rank, i);
    int fails = rank == j->bad_rank;
    double t0 = s24_now();
    switch (j->mode) {
    case M_REDUCE:
        rc = s24_comm_allreduce(c, buf, j->len);
        for (int64_t i = 0; i < j->len && rc == S24_OK; i++) {
            float w = want_sum(j->size, i);
            j->wrong[rank] += memcmp(&buf[i], &w, sizeof w) != 0;
        }
        break;
    case M_BCAST:
        rc = s24_comm_broadcast(c, buf, j->len);
        for (int64_t i = 0; i < j->len && rc == S24_OK; i++)
            j->wrong[rank] += buf[i] != val(0, i);
        break;
    case M_BARRIER:
        for (int k = 0; k < 20 && rc == S24_OK; k++) {
            atomic_fetch_add(&j->counter, 1);
            rc = s24_comm_barrier(c);
            /* everyone has counted round k before anyone passes it */
            j->wrong[rank] += atomic_load(&j->counter) < j->size * (k + 1);
        }
        break;
    case M_ABORT:
        if (fails) {
            sleep_s(0.05);
            s24_comm_abort(c, S24_ERR_IO, "disk full");
            rc = s24_error(S24_ERR_IO, "rank %d: disk full", rank);
            break;
        }
        rc = s24_comm_allreduce(c, buf, j->len);
        break;
    case M_RETURN: /* fails without telling anyone: the launcher does */
        if (fails) {
            sleep_s(0.05);
            rc = s24_error(S24_ERR_NOMEM, "rank %d: out of memory", rank);
            break;
        }
        rc = s24_comm_allreduce(c, buf, j->len);
        break;
    case M_LATE:
        if (fails) sleep_s(j->late_s);
        rc = s24_comm_allreduce(c, buf, j->len);
        break;
    case M_LENGTH:
        rc = s24_comm_allreduce(c, buf, fails ? j->len - 1 : j->len);
        break;
    }
    j->waited[rank] = s24_now() - t0;
    j->status[rank] = rc;
out:
    s24_comm_free(c);
    s24_backend_free(be);
    free(buf);
    return rc;
}

static struct job *job_new(enum mode m, int size, int64_t len, int bad)
{
    struct job *j = calloc(1, sizeof *j);
    j->mode = m, j->size = size, j->len = len, j->bad_rank = bad;
    atomic_init(&j->counter, 0);
    return j;
}

static void test_collectives(void)
{
    static const int64_t lens[] = {0, 1, 7, 1001, 4099};
    for (int size = 1; size <= 4; size++) {
        for (int k = 0; k < (int)(sizeof lens / sizeof lens[0]); k++) {
            struct job *j = job_new(M_REDUCE, size, lens[k], -1);
            CHECK_OK(s24_comm_threads_run(size, 10.0, rank_main, j, NULL));
            for (int r = 0; r < size; r++)
                CHECK(j->wrong[r] == 0 && j->status[r] == S24_OK,
                      "N=%d len %lld rank %d: %d elements differ from the rank-order sum", size,
                      (long long)lens[k], r, j->wrong[r]);
            free(j);
            j = job_new(M_BCAST, size, lens[k], -1);
            CHECK_OK(s24_comm_threads_run(size, 10.0, rank_main, j, NULL));
            for (int r = 0; r < size; r++)
                CHECK(j->wrong[r] == 0, "N=%d broadcast rank %d: %d differ", size, r, j->wrong[r]);
            free(j);
        }
        struct job *j = job_new(M_BARRIER, size, 0, -1);
        CHECK_OK(s24_comm_threads_run(size, 10.0, rank_main, j, NULL));
        for (int r = 0; r < size; r++)
            CHECK(j->wrong[r] == 0, "N=%d barrier: rank %d passed early %d times", size, r,
                  j->wrong[r]);
        free(j);
    }
    /* the sum's order is visible: rank order differs from the reverse order somewhere */
    int differ = 0;
    for (int64_t i = 0; i < 4099; i++) {
        float rev = val(3, i);
        for (int r = 2; r >= 0; r--)
            rev += val(r, i);
        differ += rev != want_sum(4, i);
    }
    CHECK(differ > 0, "the test values do not tell summation orders apart");
}

static void test_failures(void)
{
    struct s24_rank_result res[4];
    /* a rank that aborts: the others fail at once, not at the 5 s deadline */
    struct job *j = job_new(M_ABORT, 3, 100, 1);
    int rc = s24_comm_threads_run(3, 5.0, rank_main, j, res);
    CHECK(rc == S24_ERR_IO, "run returned %s (the failing rank's cause expected)",
          s24_status_str(rc));
    CHECK(strstr(s24_last_error(), "disk full") != NULL, "%s", s24_last_error());
    for (int r = 0; r < 3; r += 2) {
        CHECK(j->status[r] == S24_ERR_COMM, "rank %d: %s", r, s24_status_str(j->status[r]));
        CHECK(j->waited[r] < 2.0, "rank %d waited %.3f s", r, j->waited[r]);
        CHECK(strstr(res[r].msg, "rank 1 aborted") != NULL, "rank %d: '%s'", r, res[r].msg);
    }
    free(j);
    /* a rank that returns an error without aborting: the launcher fails the group */
    j = job_new(M_RETURN, 4, 100, 3);
    rc = s24_comm_threads_run(4, 5.0, rank_main, j, res);
    CHECK(rc == S24_ERR_NOMEM, "run returned %s", s24_status_str(rc));
    for (int r = 0; r < 3; r++) {
        CHECK(j->status[r] == S24_ERR_COMM, "rank %d: %s", r, s24_status_str(j->status[r]));
        CHECK(j->waited[r] < 2.0, "rank %d waited %.3f s", r, j->waited[r]);
        CHECK(strstr(res[r].msg, "rank 3 failed") != NULL, "rank %d: '%s'", r, res[r].msg);
    }
    free(j);
    /* a rank that does not arrive within the 0.2 s deadline: the others give
     * up at it, and the late one finds the group failed when it comes */
    j = job_new(M_LATE, 3, 100, 2);
    j->late_s = 0.8;
    rc = s24_comm_threads_run(3, 0.2, rank_main, j, res);
    CHECK(rc == S24_ERR_COMM, "run returned %s", s24_status_str(rc));
    for (int r = 0; r < 3; r++)
        CHECK(j->status[r] == S24_ERR_COMM, "rank %d", r);
    for (int r = 0; r < 2; r++)
        CHECK(j->waited[r] >= 0.19 && j->waited[r] < 0.75, "rank %d gave up after %.3f s", r,
              j->waited[r]);
    CHECK(j->waited[2] >= 0.79 && j->waited[2] < 1.5, "late rank: %.3f s", j->waited[2]);
    CHECK(strstr(res[2].msg, "did not arrive") != NULL, "late rank: '%s'", res[2].msg);
    free(j);
    /* lengths that differ are a programming error, reported on every rank */
    j = job_new(M_LENGTH, 2, 10, 1);
    rc = s24_comm_threads_run(2, 5.0, rank_main, j, NULL);
    CHECK(rc == S24_ERR_INVALID && j->status[0] == S24_ERR_INVALID &&
              j->status[1] == S24_ERR_INVALID,
          "%s / %s", s24_status_str(j->status[0]), s24_status_str(j->status[1]));
    free(j);
    /* a group that failed answers at once */
    struct s24_comm_group *g = NULL;
    s24_backend_t *be = NULL;
    struct s24_comm *c = NULL;
    float x = 1;
    CHECK_OK(s24_comm_group_create(2, 30.0, &g));
    CHECK_OK(s24_backend_create(S24_DEVICE_CPU, 0, &be));
    CHECK_OK(s24_comm_thread_init(g, 0, be, &c));
    CHECK(s24_comm_thread_init(g, 0, be, &(struct s24_comm *){NULL}) == S24_ERR_INVALID);
    s24_comm_abort(c, S24_OK, "test");
    double t0 = s24_now();
    CHECK(s24_comm_allreduce(c, &x, 1) == S24_ERR_COMM);
    CHECK(s24_now() - t0 < 1.0);
    s24_comm_free(c);
    s24_comm_group_free(g);
    s24_backend_free(be);
}

/* ---------------------------------------------------------------- buckets */
static size_t grad_bytes(s24_model_t *m, int i)
{
    struct s24_param *p = s24_model_param(m, i);
    return p->is_buffer || !p->bgrad ? 0 : sizeof(float) * (size_t)p->numel;
}

static void test_bucket_plan(void)
{
    s24_model_t *m = NULL;
    struct s24_comm *c = NULL;
    CHECK_OK(s24_model_create("smallcnn", 10, 3, NULL, &m));
    if (!m) return;
    CHECK_OK(s24_comm_one_init(s24_model_backend(m), &c));
    int np = s24_model_num_params(m), ngrad = 0;
    int64_t elems = 0;
    for (int i = 0; i < np; i++)
        if (grad_bytes(m, i)) ngrad++, elems += s24_model_param(m, i)->numel;
    static const size_t caps[] = {1, 256, 4096, 20000, (size_t)1 << 30};
    for (int t = 0; t < (int)(sizeof caps / sizeof caps[0]); t++) {
        struct s24_buckets b;
        size_t B = caps[t];
        CHECK_OK(s24_buckets_init(&b, m, c, B));
        int next = np - 1, seen = 0, rule = 0;
        int64_t off = 0;
        for (int k = 0; k < b.nb; k++) {
            struct s24_bucket *bk = &b.b[k];
            size_t bytes = 0;
            while (next >= 0 && !grad_bytes(m, next))
                next--;
            CHECK(bk->hi == next, "B=%zu bucket %d starts at %d, not %d", B, k, bk->hi, next);
            CHECK(bk->offset == off);
            for (int i = bk->hi; i >= bk->lo; i--) {
                if (!grad_bytes(m, i)) {
                    CHECK(b.of[i] == -1);
                    continue;
                }
                CHECK(b.of[i] == k && b.at[i] == off + (int64_t)(bytes / sizeof(float)),
                      "B=%zu param %d", B, i);
                bytes += grad_bytes(m, i);
                seen++;
            }
            next = bk->lo - 1;
            off += bk->numel;
            CHECK(bytes == sizeof(float) * (size_t)bk->numel);
            rule += !(bytes <= B || bk->count == 1);
            /* maximal: the next gradient would not have fitted */
            int j = bk->lo - 1;
            while (j >= 0 && !grad_bytes(m, j))
                j--;
            if (j >= 0) rule += bytes + grad_bytes(m, j) <= B;
        }
        CHECK(seen == ngrad && off == elems && b.total == elems,
              "B=%zu: %d of %d gradients, %lld of %lld elements", B, seen, ngrad, (long long)off,
              (long long)elems);
        CHECK(rule == 0, "B=%zu: %d buckets break the size rule", B, rule);
        if (B == 1) CHECK(b.nb == ngrad, "B=1: %d buckets for %d gradients", b.nb, ngrad);
        if (B == ((size_t)1 << 30)) CHECK(b.nb == 1);
        if (B == 4096) CHECK(b.nb > 2 && b.nb < ngrad, "B=4096: %d buckets", b.nb);
        s24_buckets_free(&b);
    }
    s24_comm_free(c);
    s24_model_free(m);
}

/* A communicator of two "ranks" whose all-reduce triples the buffer and
 * records the call: an element reduced once ends as g*3/2, twice as g*9/4,
 * never as g. */
struct spy {
    int calls;
    int64_t n[64];
};
static int spy_reduce(struct s24_comm *c, float *buf, int64_t n)
{
    struct spy *s = c->ctx;
    if (s->calls < 64) s->n[s->calls] = n;
    s->calls++;
    for (int64_t i = 0; i < n; i++)
        buf[i] *= 3.0f;
    return S24_OK;
}
static int spy_sync(struct s24_comm *c)
{
    return S24_OK;
}
static void spy_abort(struct s24_comm *c, int status, const char *why) {}
static void spy_free(struct s24_comm *c) {}
static const struct s24_comm_ops spy_ops = {spy_reduce, spy_reduce, spy_sync,
                                            spy_sync,   spy_abort,  spy_free};

static void test_bucket_spy(void)
{
    s24_model_t *m = NULL;
    CHECK_OK(s24_model_create("smallcnn", 10, 3, NULL, &m));
    if (!m) return;
    struct spy s = {0, {0}};
    struct s24_comm c = {&spy_ops, "spy", 0, 2, s24_model_backend(m), 1.0, &s};
    struct s24_buckets b;
    int np = s24_model_num_params(m);
    CHECK_OK(s24_buckets_init(&b, m, &c, 4096));
    for (int i = 0; i < np; i++) {
        struct s24_param *p = s24_model_param(m, i);
        for (int64_t e = 0; grad_bytes(m, i) && e < p->numel; e++)
            p->grad[e] = val(i, e);
    }
    /* reported one by one, last first: bucket k goes when its lowest index does */
    CHECK_OK(s24_buckets_begin(&b));
    int early = 0;
    for (int i = np - 1; i >= 0; i--) {
        CHECK_OK(s24_buckets_ready(&b, i));
        int done = 0;
        for (int k = 0; k < b.nb; k++)
            done += b.b[k].lo >= i;
        early += s.calls != done;
    }
    CHECK(early == 0, "%d reports launched the wrong number of buckets", early);
    CHECK(s24_buckets_ready(&b, np - 1) == S24_ERR_INVALID || !grad_bytes(m, np - 1),
          "a second report of the same gradient is refused");
    CHECK_OK(s24_buckets_finish(&b));
    CHECK(s.calls == b.nb, "%d all-reduces for %d buckets", s.calls, b.nb);
    int64_t sum = 0;
    for (int k = 0; k < b.nb && k < 64; k++) {
        CHECK(s.n[k] == b.b[k].numel, "call %d: %lld floats, bucket %lld", k, (long long)s.n[k],
              (long long)b.b[k].numel);
        sum += s.n[k];
    }
    CHECK(sum == b.total);
    int64_t bad = 0;
    for (int i = 0; i < np; i++) {
        struct s24_param *p = s24_model_param(m, i);
        for (int64_t e = 0; grad_bytes(m, i) && e < p->numel; e++) {
            float tripled = val(i, e) * 3.0f, want = tripled * 0.5f;
            bad += memcmp(&p->grad[e], &want, sizeof want) != 0;
        }
    }
    CHECK(bad == 0, "%lld gradient elements not reduced exactly once and halved", (long long)bad);
    /* not all reported: finish launches the rest, each once */
    s.calls = 0;
    CHECK_OK(s24_buckets_begin(&b));
    CHECK_OK(s24_buckets_ready(&b, np - 1));
    CHECK_OK(s24_buckets_finish(&b));
    CHECK(s.calls == b.nb, "%d all-reduces after a partial report, %d buckets", s.calls, b.nb);
    CHECK(s24_buckets_ready(&b, np) == S24_ERR_INVALID);
    s24_buckets_free(&b);
    s24_model_free(m);
}

/* Thread ranks, each with its own model replica: gradients val(rank*1000+i, e). */
struct avg_job {
    int size;
    int64_t bad[8];
    int nb[8];
};

static int avg_rank(struct s24_comm_group *g, int rank, void *arg)
{
    struct avg_job *j = arg;
    s24_backend_t *be = NULL;
    s24_model_t *m = NULL;
    struct s24_comm *c = NULL;
    struct s24_buckets b;
    memset(&b, 0, sizeof b);
    int rc = s24_backend_create(S24_DEVICE_CPU, 0, &be);
    if (rc == S24_OK) rc = s24_model_create("smallcnn", 10, 3, be, &m);
    if (rc == S24_OK) rc = s24_comm_thread_init(g, rank, be, &c);
    if (rc == S24_OK) rc = s24_buckets_init(&b, m, c, 2048);
    if (rc != S24_OK) goto out;
    int np = s24_model_num_params(m);
    for (int i = 0; i < np; i++) {
        struct s24_param *p = s24_model_param(m, i);
        for (int64_t e = 0; grad_bytes(m, i) && e < p->numel; e++)
            p->grad[e] = val(rank * 1000 + i, e);
    }
    rc = s24_buckets_average(&b);
    float inv = 1.0f / (float)j->size;
    for (int i = 0; i < np && rc == S24_OK; i++) {
        struct s24_param *p = s24_model_param(m, i);
        for (int64_t e = 0; grad_bytes(m, i) && e < p->numel; e++) {
            float s = val(i, e);
            for (int r = 1; r < j->size; r++)
                s += val(r * 1000 + i, e);
            float want = j->size == 1 ? s : s * inv;
            j->bad[rank] += memcmp(&p->grad[e], &want, sizeof want) != 0;
        }
    }
    j->nb[rank] = b.nb;
out:
    s24_buckets_free(&b);
    s24_comm_free(c);
    s24_model_free(m);
    s24_backend_free(be);
    return rc;
}

static void test_bucket_threads(void)
{
    for (int size = 1; size <= 4; size++) {
        struct avg_job j;
        memset(&j, 0, sizeof j);
        j.size = size;
        CHECK_OK(s24_comm_threads_run(size, 10.0, avg_rank, &j, NULL));
        for (int r = 0; r < size; r++)
            CHECK(j.bad[r] == 0 && j.nb[r] > 1,
                  "N=%d rank %d: %lld elements off the average "
                  "(%d buckets)",
                  size, r, (long long)j.bad[r], j.nb[r]);
    }
}

int main(void)
{
    alarm(120); /* a hang is a failure, not a stuck CI job */
    s24_threads_set(1);
    test_one();
    test_collectives();
    test_failures();
    test_bucket_plan();
    test_bucket_spy();
    test_bucket_threads();
    return t_done("test_comm");
}
