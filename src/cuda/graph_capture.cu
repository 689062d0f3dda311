/* graph_capture.cu: recording a stream's work as one executable CUDA graph,
 * shared by the inference plan (infer_cuda.cu) and the training backend's
 * step graphs (nn_backend.cu). The caller's fn queues the work; nothing of
 * it runs here. Thread-local capture mode, so a call that cannot be
 * captured (a synchronisation, cudaMalloc, a legacy-stream copy) made by
 * this thread fails and ends the recording instead of breaking another
 * thread's work. Not here: when to record or replay (the callers). */
#include <stdio.h>

#include "cuda/gpu_internal.h"

int s24_cu_capture(cudaStream_t s, int (*fn)(void *), void *arg, cudaGraphExec_t *ge, char *why,
                   size_t len)
{
    cudaGraph_t g = NULL;
    int rc = S24_OK;
    *ge = NULL;
    cudaError_t e = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
    if (e == cudaSuccess) {
        rc = fn(arg);
        /* ended whatever fn did, so the stream leaves capture mode */
        cudaError_t e2 = cudaStreamEndCapture(s, &g);
        if (rc == S24_OK && e2 == cudaSuccess && g) e = cudaGraphInstantiate(ge, g, 0);
        else if (e2 != cudaSuccess) e = e2;
        if (g) cudaGraphDestroy(g);
    }
    if (rc == S24_OK && e == cudaSuccess && *ge) return S24_OK;
    if (why && len)
        snprintf(why, len, "%s", rc != S24_OK ? s24_last_error()
                                 : e != cudaSuccess ? cudaGetErrorString(e) : "no graph");
    s24_clear_error();
    cudaGetLastError(); /* a refused call leaves its error behind: not the next call's */
    if (*ge) cudaGraphExecDestroy(*ge);
    *ge = NULL;
    return rc != S24_OK ? rc : S24_ERR_CUDA;
}
