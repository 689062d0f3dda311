/* train_data.c: --data DIR|synthetic for the training commands (see
 * train_data.h). It does not download CIFAR-10. */
#include "train_data.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

void train_data_defaults(struct train_data_opts *o)
{
    memset(o, 0, sizeof *o);
    o->data = "synthetic";
    s24_synth_default(&o->synth);
}

int train_data_load(const char *cmd, const struct train_data_opts *o, struct s24_dataset *train,
                    struct s24_dataset *test)
{
    int rc;
    int synth = !strcmp(o->data, "synthetic");
    struct s24_synth_cfg sc = o->synth;
    /* synthetic images are drawn on demand: draw no more than will be used */
    if (synth && o->limit_train > 0 && o->limit_train < sc.n_train) sc.n_train = o->limit_train;
    if (synth && o->limit_test > 0 && o->limit_test < sc.n_test) sc.n_test = o->limit_test;
    s24_dataset_init(test);
    if (train) {
        s24_dataset_init(train);
        rc = synth ? s24_synth_make(&sc, 1, train) : s24_cifar10_load(o->data, 1, train);
        if (rc != S24_OK) return cli_lib_fail(cmd, rc);
        if (o->limit_train > 0) s24_dataset_truncate(train, o->limit_train);
    }
    rc = synth ? s24_synth_make(&sc, 0, test) : s24_cifar10_load(o->data, 0, test);
    if (rc != S24_OK) {
        if (train) s24_dataset_free(train);
        return cli_lib_fail(cmd, rc);
    }
    if (o->limit_test > 0) s24_dataset_truncate(test, o->limit_test);
    return S24_EXIT_OK;
}
