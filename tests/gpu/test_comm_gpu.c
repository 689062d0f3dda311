/* test_comm_gpu.c: the NCCL communicator on one GPU (`make test-gpu`), the
 * part of issue 12 a one-GPU host can show: a one-rank NCCL communicator
 * through the same calls the trainer makes (all-reduce, broadcast, barrier,
 * wait leave a device buffer bit for bit; buckets over a CUDA smallcnn),
 * and the deadline: rank 0 of a two-rank communicator whose second rank
 * never comes returns S24_ERR_COMM from init within a few seconds of its
 * deadline instead of hanging. Several ranks, a failing peer during a
 * collective and bandwidth need a several-GPU host and are not here.
 * Without a GPU or NCCL it reports the skip and passes. */
#include "t.h"

#include <unistd.h>

#include "comm/buckets.h"
#include "comm/comm.h"
#include "sparse24/sparse24_nn.h"

static void test_one_rank(s24_backend_t *be, const struct s24_comm_id *id)
{
    struct s24_comm *c = NULL;
    CHECK_OK(s24_comm_nccl_init(be, 0, 1, id, 30.0, &c));
    if (!c) return;
    enum { N = 1001 };
    float h[N], back[N], *d = NULL;
    for (int i = 0; i < N; i++)
        h[i] = (float)i * 0.37f - 50.0f;
    CHECK_OK(s24_be_alloc(be, sizeof h, (void **)&d));
    CHECK_OK(be->ops->upload(be, d, h, sizeof h));
    CHECK_OK(s24_comm_allreduce(c, d, N));
    CHECK_OK(s24_comm_broadcast(c, d, N));
    CHECK_OK(s24_comm_barrier(c));
    CHECK_OK(s24_comm_wait(c));
    CHECK_OK(be->ops->download(be, back, d, sizeof back));
    CHECK(!memcmp(h, back, sizeof h), "one NCCL rank changed the buffer");
    s24_be_free(be, d, sizeof h);

    s24_model_t *m = NULL;
    struct s24_buckets b;
    CHECK_OK(s24_model_create("smallcnn", 10, 3, be, &m));
    if (m && s24_buckets_init(&b, m, c, 4096) == S24_OK) {
        CHECK_OK(s24_buckets_average(&b));
        s24_buckets_free(&b);
    }
    s24_model_free(m);
    s24_comm_free(c);
}

static void test_missing_peer(s24_backend_t *be)
{
    struct s24_comm_id id;
    struct s24_comm *c = NULL;
    CHECK_OK(s24_comm_nccl_id(&id));
    double t0 = s24_now();
    int rc = s24_comm_nccl_init(be, 0, 2, &id, 2.0, &c);
    double t = s24_now() - t0;
    printf("init with a missing peer: %s after %.2f s: %s\n", s24_status_str(rc), t,
           s24_last_error());
    CHECK(rc == S24_ERR_COMM && !c, "%s", s24_status_str(rc));
    CHECK(t >= 1.9 && t < 15.0, "gave up after %.2f s (deadline 2 s)", t);
    s24_comm_free(c);
}

int main(void)
{
    alarm(180); /* a hang is a failure */
    s24_backend_t *be = NULL;
    struct s24_comm_id id;
    int rc = s24_backend_create(S24_DEVICE_CUDA, 0, &be);
    if (rc != S24_OK) {
        printf("test_comm_gpu: skipped: %s\n", s24_last_error());
        CHECK(rc == S24_ERR_NO_DEVICE || rc == S24_ERR_CUDA);
        return t_done("test_comm_gpu");
    }
    rc = s24_comm_nccl_id(&id);
    if (rc == S24_ERR_UNSUPPORTED) {
        printf("test_comm_gpu: skipped: %s\n", s24_last_error());
    } else {
        CHECK_OK(rc);
        test_one_rank(be, &id);
        test_missing_peer(be);
    }
    s24_backend_free(be);
    return t_done("test_comm_gpu");
}
