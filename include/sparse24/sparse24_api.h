/* sparse24_api.h: S24_API, the mark on every function (and object) of the
 * public headers that libsparse24.so exports.
 *
 * The library is built with -fvisibility=hidden (C and CUDA), so only what
 * carries S24_API is in the shared library's dynamic symbol table: its
 * surface is what include/sparse24/ says, and the internal s24_ functions
 * of src/ (declared in src/ headers, which never use S24_API) stay
 * private to it, as in ggml (GGML_API) and curl (CURL_EXTERN). The build
 * defines S24_BUILD for the library's own objects only; a program that
 * includes these headers sees an empty S24_API, which changes nothing for
 * it, shared or static. No dllexport: the build is for gcc and clang.
 */
#ifndef SPARSE24_API_H
#define SPARSE24_API_H

#if defined(S24_BUILD) && (defined(__GNUC__) || defined(__clang__))
#define S24_API __attribute__((visibility("default")))
#else
#define S24_API
#endif

#endif
