/* arch.h: the registry's inside (src/nn/arch.c): each architecture's public
 * description and its builder (src/nn/model_<arch>.c). */
#ifndef S24_NN_ARCH_H
#define S24_NN_ARCH_H

#include "sparse24/sparse24_nn.h"

struct s24_model;
struct s24_arch {
    struct s24_arch_info info;
    int (*build)(struct s24_model *m);
};
/* NULL (with the error set, naming the known ones) when unknown. */
const struct s24_arch *s24_arch_get(const char *name);

int s24_build_smallcnn(struct s24_model *m);
int s24_build_resnet18(struct s24_model *m);
int s24_build_efficientnet_b0(struct s24_model *m);

#endif
