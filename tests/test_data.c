/* test_data.c: the CIFAR-10 binary reader on small files written here (good
 * and malformed), normalisation, the crop/flip augmentation replayed from the
 * documented draw order, shuffling, and the synthetic set's determinism. */
#include "t.h"

#include <sys/stat.h>

#include "sparse24/sparse24_train.h"

static void write_bytes(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (n) fwrite(b, 1, n, f);
    fclose(f);
}

/* n random records; rec holds them (n x 3073) */
static uint8_t *random_records(int n, struct s24_rng *r)
{
    uint8_t *rec = malloc((size_t)n * 3073);
    for (int i = 0; i < n; i++) {
        rec[(size_t)i * 3073] = (uint8_t)s24_rng_below(r, 10);
        for (int j = 1; j < 3073; j++) rec[(size_t)i * 3073 + j] = (uint8_t)s24_rng_below(r, 256);
    }
    return rec;
}

static void test_cifar(void)
{
    const char *dir = t_tmpdir();
    char path[600];
    struct s24_rng r;
    s24_rng_seed(&r, 11);
    uint8_t *rec = random_records(5, &r);
    snprintf(path, sizeof path, "%s/one.bin", dir);
    write_bytes(path, rec, 5 * 3073);
    struct s24_dataset d;
    s24_dataset_init(&d);
    CHECK_OK(s24_cifar10_read_file(path, &d));
    CHECK(d.n == 5 && d.h == 32 && d.w == 32 && d.classes == 10);
    int bad = 0;
    for (int i = 0; i < 5; i++) {
        if (d.labels[i] != rec[(size_t)i * 3073]) bad++;
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                for (int c = 0; c < 3; c++)
                    if (d.images[(((size_t)i * 32 + y) * 32 + x) * 3 + c] !=
                        rec[(size_t)i * 3073 + 1 + c * 1024 + y * 32 + x])
                        bad++;
    }
    CHECK(bad == 0, "%d pixels/labels differ", bad);
    /* appending a second file */
    CHECK_OK(s24_cifar10_read_file(path, &d));
    CHECK(d.n == 10 && memcmp(d.images, d.images + 5 * 3072, 5 * 3072) == 0);
    s24_dataset_free(&d);

    /* malformed: truncated record, label 10, empty, missing */
    snprintf(path, sizeof path, "%s/trunc.bin", dir);
    write_bytes(path, rec, 2 * 3073 + 100);
    CHECK(s24_cifar10_read_file(path, &d) == S24_ERR_FORMAT);
    CHECK(strstr(s24_last_error(), "trunc.bin") && strstr(s24_last_error(), "multiple"), "%s",
          s24_last_error());
    CHECK(d.n == 0);
    rec[3073] = 10;
    snprintf(path, sizeof path, "%s/label.bin", dir);
    write_bytes(path, rec, 3 * 3073);
    CHECK(s24_cifar10_read_file(path, &d) == S24_ERR_FORMAT);
    CHECK(strstr(s24_last_error(), "label 10") != NULL, "%s", s24_last_error());
    snprintf(path, sizeof path, "%s/empty.bin", dir);
    write_bytes(path, rec, 0);
    CHECK(s24_cifar10_read_file(path, &d) == S24_ERR_FORMAT);
    snprintf(path, sizeof path, "%s/nothere.bin", dir);
    CHECK(s24_cifar10_read_file(path, &d) == S24_ERR_IO);
    rec[3073] = 3;

    /* a folder: five train files of 1..5 records, and a test file */
    char sub[300];
    snprintf(sub, sizeof sub, "%s/cifar", dir);
    CHECK(mkdir(sub, 0755) == 0);
    for (int k = 1; k <= 5; k++) {
        snprintf(path, sizeof path, "%s/data_batch_%d.bin", sub, k);
        write_bytes(path, rec, (size_t)k * 3073 > 5 * 3073 ? 5 * 3073 : (size_t)k * 3073);
    }
    CHECK(s24_cifar10_load(sub, 0, &d) == S24_ERR_NOT_FOUND);
    CHECK(strstr(s24_last_error(), "test_batch.bin") != NULL, "%s", s24_last_error());
    snprintf(path, sizeof path, "%s/test_batch.bin", sub);
    write_bytes(path, rec, 4 * 3073);
    CHECK_OK(s24_cifar10_load(sub, 1, &d));
    CHECK(d.n == 15, "%lld", (long long)d.n);
    CHECK(d.labels[1] == rec[0] && d.labels[14] == rec[4 * 3073]);
    s24_dataset_free(&d);
    CHECK_OK(s24_cifar10_load(sub, 0, &d));
    CHECK(d.n == 4);
    s24_dataset_free(&d);
    snprintf(path, sizeof path, "%s/data_batch_3.bin", sub);
    remove(path);
    CHECK(s24_cifar10_load(sub, 1, &d) == S24_ERR_NOT_FOUND);
    CHECK(strstr(s24_last_error(), "data_batch_3.bin") != NULL, "%s", s24_last_error());
    CHECK(d.n == 0 && d.images == NULL);
    snprintf(path, sizeof path, "%s/data_batch_3.bin", sub);
    write_bytes(path, rec, 3073 + 1);
    CHECK(s24_cifar10_load(sub, 1, &d) == S24_ERR_FORMAT);
    free(rec);
}

static float norm(uint8_t v, int c)
{
    return ((float)v / 255.0f - s24_cifar_mean[c]) / s24_cifar_std[c];
}

static void test_batch(void)
{
    struct s24_synth_cfg sc;
    s24_synth_default(&sc);
    sc.size = 12;
    sc.n_train = 40;
    struct s24_dataset d;
    CHECK_OK(s24_synth_make(&sc, 1, &d));
    const int n = 16, h = 12, w = 12, hw3 = 12 * 12 * 3;
    int64_t idx[16];
    for (int i = 0; i < n; i++) idx[i] = (i * 7) % 40;
    float *x = malloc(sizeof(float) * (size_t)(n * hw3)),
          *x2 = malloc(sizeof(float) * (size_t)(n * hw3));
    int lab[16], lab2[16];
    for (int i = 0; i < n * hw3; i++) x[i] = NAN;
    for (int i = 0; i < n; i++) lab[i] = -1;
    /* plain: exact normalisation */
    CHECK_OK(s24_batch_fill(&d, idx, n, NULL, NULL, x, lab));
    int bad = 0;
    for (int b = 0; b < n; b++) {
        if (lab[b] != d.labels[idx[b]]) bad++;
        for (int j = 0; j < hw3; j++)
            if (x[b * hw3 + j] != norm(d.images[idx[b] * hw3 + j], j % 3)) bad++;
    }
    CHECK(bad == 0, "%d values differ", bad);

    /* augmented: replay the documented draws (dy, dx in 0..2p, then flip) */
    struct s24_augment aug = {4, 1};
    struct s24_rng r, rr;
    s24_rng_seed(&r, 5);
    rr = r;
    for (int i = 0; i < n * hw3; i++) x[i] = NAN;
    CHECK_OK(s24_batch_fill(&d, idx, n, &aug, &r, x, lab));
    bad = 0;
    int flips = 0, shifted = 0;
    for (int b = 0; b < n; b++) {
        int dy = (int)s24_rng_below(&rr, 9), dx = (int)s24_rng_below(&rr, 9);
        int fl = s24_rng_uniform(&rr) < 0.5;
        flips += fl;
        shifted += (dy != 4 || dx != 4);
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                /* torchvision: pad by 4, crop at (dy, dx), then flip the crop */
                int cx = fl ? w - 1 - xx : xx;
                int sy = y + dy - 4, sx = cx + dx - 4;
                for (int c = 0; c < 3; c++) {
                    float want = (sy < 0 || sy >= h || sx < 0 || sx >= w)
                                     ? norm(0, c)
                                     : norm(d.images[idx[b] * hw3 + (sy * w + sx) * 3 + c], c);
                    if (x[b * hw3 + (y * w + xx) * 3 + c] != want) bad++;
                }
            }
    }
    CHECK(bad == 0, "%d augmented values differ", bad);
    CHECK(flips > 0 && flips < n && shifted > 0, "flips %d shifted %d", flips, shifted);
    CHECK(memcmp(&r, &rr, sizeof r) == 0, "generator advanced by a different number of draws");
    /* determinism: same seed, same batch; other seed, other batch; threads don't matter */
    s24_rng_seed(&r, 5);
    s24_threads_set(1);
    CHECK_OK(s24_batch_fill(&d, idx, n, &aug, &r, x2, lab2));
    s24_threads_set(0);
    CHECK(memcmp(x, x2, sizeof(float) * (size_t)(n * hw3)) == 0 &&
          memcmp(lab, lab2, sizeof lab) == 0);
    s24_rng_seed(&r, 6);
    CHECK_OK(s24_batch_fill(&d, idx, n, &aug, &r, x2, lab2));
    CHECK(memcmp(x, x2, sizeof(float) * (size_t)(n * hw3)) != 0);
    /* flip-only frequency over many draws */
    struct s24_augment fo = {0, 1};
    int64_t one = 3;
    int nf = 0;
    for (int t = 0; t < 2000; t++) {
        CHECK_OK(s24_batch_fill(&d, &one, 1, &fo, &r, x2, lab2));
        nf += x2[0] != norm(d.images[3 * hw3], 0);
    }
    CHECK(nf > 850 && nf < 1150, "flipped %d of 2000", nf);
    /* bad input */
    int64_t out_of_range = 40;
    CHECK(s24_batch_fill(&d, &out_of_range, 1, NULL, NULL, x2, lab2) == S24_ERR_INVALID);
    CHECK(s24_batch_fill(&d, idx, 1, &aug, NULL, x2, lab2) == S24_ERR_INVALID);

    /* shuffle: a permutation, seeded */
    int64_t p[100], q[100];
    for (int i = 0; i < 100; i++) p[i] = q[i] = i;
    s24_rng_seed(&r, 9);
    s24_shuffle(p, 100, &r);
    s24_rng_seed(&r, 9);
    s24_shuffle(q, 100, &r);
    int seen[100] = {0}, moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[p[i]]++;
        moved += p[i] != i;
    }
    int perm = 1;
    for (int i = 0; i < 100; i++) perm &= seen[i] == 1;
    CHECK(perm && moved > 80 && memcmp(p, q, sizeof p) == 0);
    free(x);
    free(x2);
    s24_dataset_free(&d);
}

static void test_synth(void)
{
    struct s24_synth_cfg c;
    s24_synth_default(&c);
    c.size = 16;
    c.n_train = 200;
    c.n_test = 50;
    struct s24_dataset a, b, t;
    CHECK_OK(s24_synth_make(&c, 1, &a));
    c.n_train = 100;
    CHECK_OK(s24_synth_make(&c, 1, &b));
    CHECK_OK(s24_synth_make(&c, 0, &t));
    CHECK(a.n == 200 && b.n == 100 && t.n == 50 && a.h == 16 && a.classes == 10);
    /* image i depends on (seed, split, i) only */
    CHECK(memcmp(a.images, b.images, 100 * 16 * 16 * 3) == 0);
    CHECK(memcmp(a.images, t.images, 50 * 16 * 16 * 3) != 0);
    int count[10] = {0};
    for (int i = 0; i < 200; i++) count[a.labels[i]]++;
    int balanced = 1;
    for (int k = 0; k < 10; k++) balanced &= count[k] == 20;
    CHECK(balanced);
    /* not flat: per-image pixel spread */
    double var = 0;
    for (int i = 0; i < 16 * 16 * 3; i++) var += fabs((double)a.images[i] - a.images[0]);
    CHECK(var > 16 * 16 * 3 * 5.0);
    s24_dataset_free(&b);
    c.seed = 8;
    c.n_train = 100;
    CHECK_OK(s24_synth_make(&c, 1, &b));
    CHECK(memcmp(a.images, b.images, 100 * 16 * 16 * 3) != 0);
    s24_dataset_truncate(&b, 10);
    CHECK(b.n == 10);
    s24_dataset_free(&b);
    c.size = 4;
    CHECK(s24_synth_make(&c, 1, &b) == S24_ERR_INVALID && b.images == NULL);
    c.size = 16;
    c.n_train = 0;
    CHECK(s24_synth_make(&c, 1, &b) == S24_ERR_INVALID);
    CHECK(strcmp(s24_synth_class_name(3), "ring") == 0);
    s24_dataset_free(&a);
    s24_dataset_free(&t);
}

int main(void)
{
    test_cifar();
    test_batch();
    test_synth();
    return t_done("test_data");
}
