/* arch.h: the registry's inside (src/nn/arch.c): each architecture's public
 * description and its builder (src/nn/model_<arch>.c). */
#ifndef S24_NN_ARCH_H
#define S24_NN_ARCH_H

#include "sparse24/sparse24_nn.h"

struct s24_model;
struct s24_pnet; /* a network's channel spaces (permute_net.c) */
struct s24_arch {
    struct s24_arch_info info;
    int (*build)(struct s24_model *m);
    /* channel permutations: the spaces of a checkpoint, the conv reading
     * the images (never permuted) and a note for the report (may be NULL) */
    void (*permute_describe)(struct s24_pnet *net, const struct s24_st *st);
    const char *permute_input, *permute_note;
};
/* NULL (with the error set, naming the known ones) when unknown. */
const struct s24_arch *s24_arch_get(const char *name);

int s24_build_smallcnn(struct s24_model *m);
int s24_build_resnet18(struct s24_model *m);
int s24_build_resnet18_imagenet(struct s24_model *m);
int s24_build_efficientnet_b0(struct s24_model *m);
/* Both resnet18 forms: the max-pool is channel-wise, so the spaces are the same. */
void s24_pnet_resnet18(struct s24_pnet *net, const struct s24_st *st);
void s24_pnet_efficientnet_b0(struct s24_pnet *net, const struct s24_st *st);

#endif
