/* dl_cudnn.h: the cuDNN functions sparse24 calls, as a table filled at run
 * time (dl_cudnn.c). Included after <cudnn.h> by every file that calls
 * cuDNN, it maps each name to its table entry, so the call sites read as
 * plain cuDNN. A call with no #define here is a link error (nothing links
 * libcudnn) and a #define with no table entry a compile error, so the
 * lists cannot drift silently. Call s24_dl_cudnn_load (dl.h) first. */
#ifndef S24_DL_CUDNN_H
#define S24_DL_CUDNN_H

#include <cudnn.h>

#include "dl.h"

#define S24_CUDNN_FUNCS(X)                                                                       \
    X(cudnnGetVersion) X(cudnnGetErrorString) X(cudnnGetLastErrorString) X(cudnnCreate)          \
    X(cudnnDestroy) X(cudnnSetStream) X(cudnnCreateTensorDescriptor)                             \
    X(cudnnDestroyTensorDescriptor) X(cudnnSetTensor4dDescriptor) X(cudnnCreateFilterDescriptor) \
    X(cudnnDestroyFilterDescriptor) X(cudnnSetFilter4dDescriptor)                                \
    X(cudnnCreateConvolutionDescriptor) X(cudnnDestroyConvolutionDescriptor)                     \
    X(cudnnSetConvolution2dDescriptor) X(cudnnSetConvolutionGroupCount)                          \
    X(cudnnSetConvolutionMathType) X(cudnnGetConvolutionForwardAlgorithm_v7)                     \
    X(cudnnFindConvolutionForwardAlgorithm) X(cudnnGetConvolutionForwardWorkspaceSize)           \
    X(cudnnConvolutionForward) X(cudnnGetConvolutionBackwardDataAlgorithm_v7)                    \
    X(cudnnFindConvolutionBackwardDataAlgorithm) X(cudnnGetConvolutionBackwardDataWorkspaceSize) \
    X(cudnnConvolutionBackwardData) X(cudnnGetConvolutionBackwardFilterAlgorithm_v7)             \
    X(cudnnFindConvolutionBackwardFilterAlgorithm)                                               \
    X(cudnnGetConvolutionBackwardFilterWorkspaceSize) X(cudnnConvolutionBackwardFilter)          \
    X(cudnnAddTensor) X(cudnnConvolutionBiasActivationForward)                                   \
    X(cudnnCreateActivationDescriptor) X(cudnnSetActivationDescriptor)                           \
    X(cudnnDestroyActivationDescriptor) X(cudnnBackendCreateDescriptor)                          \
    X(cudnnBackendDestroyDescriptor) X(cudnnBackendSetAttribute) X(cudnnBackendGetAttribute)     \
    X(cudnnBackendFinalize) X(cudnnBackendExecute)

#ifdef __cplusplus
extern "C" {
#endif
#define S24_DL_MEMBER(f) S24_DL_PTR(f) f;
struct s24_cudnn_fns {
    S24_CUDNN_FUNCS(S24_DL_MEMBER)
};
#undef S24_DL_MEMBER
extern struct s24_cudnn_fns s24_cudnn_fns;
#ifdef __cplusplus
}
#endif

#ifndef S24_DL_CUDNN_TABLE /* dl_cudnn.c fills the table under the real names */
#define cudnnGetVersion s24_cudnn_fns.cudnnGetVersion
#define cudnnGetErrorString s24_cudnn_fns.cudnnGetErrorString
#define cudnnGetLastErrorString s24_cudnn_fns.cudnnGetLastErrorString
#define cudnnCreate s24_cudnn_fns.cudnnCreate
#define cudnnDestroy s24_cudnn_fns.cudnnDestroy
#define cudnnSetStream s24_cudnn_fns.cudnnSetStream
#define cudnnCreateTensorDescriptor s24_cudnn_fns.cudnnCreateTensorDescriptor
#define cudnnDestroyTensorDescriptor s24_cudnn_fns.cudnnDestroyTensorDescriptor
#define cudnnSetTensor4dDescriptor s24_cudnn_fns.cudnnSetTensor4dDescriptor
#define cudnnCreateFilterDescriptor s24_cudnn_fns.cudnnCreateFilterDescriptor
#define cudnnDestroyFilterDescriptor s24_cudnn_fns.cudnnDestroyFilterDescriptor
#define cudnnSetFilter4dDescriptor s24_cudnn_fns.cudnnSetFilter4dDescriptor
#define cudnnCreateConvolutionDescriptor s24_cudnn_fns.cudnnCreateConvolutionDescriptor
#define cudnnDestroyConvolutionDescriptor s24_cudnn_fns.cudnnDestroyConvolutionDescriptor
#define cudnnSetConvolution2dDescriptor s24_cudnn_fns.cudnnSetConvolution2dDescriptor
#define cudnnSetConvolutionGroupCount s24_cudnn_fns.cudnnSetConvolutionGroupCount
#define cudnnSetConvolutionMathType s24_cudnn_fns.cudnnSetConvolutionMathType
#define cudnnGetConvolutionForwardAlgorithm_v7 s24_cudnn_fns.cudnnGetConvolutionForwardAlgorithm_v7
#define cudnnFindConvolutionForwardAlgorithm s24_cudnn_fns.cudnnFindConvolutionForwardAlgorithm
#define cudnnGetConvolutionForwardWorkspaceSize                                                  \
    s24_cudnn_fns.cudnnGetConvolutionForwardWorkspaceSize
#define cudnnConvolutionForward s24_cudnn_fns.cudnnConvolutionForward
#define cudnnGetConvolutionBackwardDataAlgorithm_v7                                              \
    s24_cudnn_fns.cudnnGetConvolutionBackwardDataAlgorithm_v7
#define cudnnFindConvolutionBackwardDataAlgorithm                                                \
    s24_cudnn_fns.cudnnFindConvolutionBackwardDataAlgorithm
#define cudnnGetConvolutionBackwardDataWorkspaceSize                                             \
    s24_cudnn_fns.cudnnGetConvolutionBackwardDataWorkspaceSize
#define cudnnConvolutionBackwardData s24_cudnn_fns.cudnnConvolutionBackwardData
#define cudnnGetConvolutionBackwardFilterAlgorithm_v7                                            \
    s24_cudnn_fns.cudnnGetConvolutionBackwardFilterAlgorithm_v7
#define cudnnFindConvolutionBackwardFilterAlgorithm                                              \
    s24_cudnn_fns.cudnnFindConvolutionBackwardFilterAlgorithm
#define cudnnGetConvolutionBackwardFilterWorkspaceSize                                           \
    s24_cudnn_fns.cudnnGetConvolutionBackwardFilterWorkspaceSize
#define cudnnConvolutionBackwardFilter s24_cudnn_fns.cudnnConvolutionBackwardFilter
#define cudnnAddTensor s24_cudnn_fns.cudnnAddTensor
#define cudnnConvolutionBiasActivationForward                                                    \
    s24_cudnn_fns.cudnnConvolutionBiasActivationForward
#define cudnnCreateActivationDescriptor s24_cudnn_fns.cudnnCreateActivationDescriptor
#define cudnnSetActivationDescriptor s24_cudnn_fns.cudnnSetActivationDescriptor
#define cudnnDestroyActivationDescriptor s24_cudnn_fns.cudnnDestroyActivationDescriptor
/* the graph (backend) API: conv_graph.cu */
#define cudnnBackendCreateDescriptor s24_cudnn_fns.cudnnBackendCreateDescriptor
#define cudnnBackendDestroyDescriptor s24_cudnn_fns.cudnnBackendDestroyDescriptor
#define cudnnBackendSetAttribute s24_cudnn_fns.cudnnBackendSetAttribute
#define cudnnBackendGetAttribute s24_cudnn_fns.cudnnBackendGetAttribute
#define cudnnBackendFinalize s24_cudnn_fns.cudnnBackendFinalize
#define cudnnBackendExecute s24_cudnn_fns.cudnnBackendExecute
#endif

#endif
