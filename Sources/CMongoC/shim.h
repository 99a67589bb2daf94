#ifndef BOOKSTORE_CMONGOC_SHIM_H
#define BOOKSTORE_CMONGOC_SHIM_H
// libmongoc 1.23 (Debian libmongoc-dev), with libbson.
#include <mongoc/mongoc.h>
#include <stdlib.h>

// libbson declares bson_t and bson_iter_t 128-byte aligned, so Swift sees their pointers as OpaquePointer and cannot
// allocate them itself. These helpers give Swift correctly aligned, uninitialised storage for one of each, to pass to
// the functions that initialise them (bson_append_document_begin, bson_iter_init, a command's reply, ...), and free it.

/// Uninitialised storage for one bson_t (128-byte aligned), or NULL when out of memory. Free with bookstore_free.
static inline bson_t *bookstore_bson_storage_new(void) {
    void *storage = NULL;
    if (posix_memalign(&storage, BSON_ALIGNOF(bson_t) < sizeof(void *) ? sizeof(void *) : BSON_ALIGNOF(bson_t), sizeof(bson_t)) != 0) {
        return NULL;
    }
    return (bson_t *)storage;
}

/// Uninitialised storage for one bson_iter_t (suitably aligned), or NULL when out of memory. Free with bookstore_free.
static inline bson_iter_t *bookstore_bson_iter_storage_new(void) {
    void *storage = NULL;
    if (posix_memalign(&storage, BSON_ALIGNOF(bson_iter_t) < sizeof(void *) ? sizeof(void *) : BSON_ALIGNOF(bson_iter_t), sizeof(bson_iter_t)) != 0) {
        return NULL;
    }
    return (bson_iter_t *)storage;
}

/// Frees storage from bookstore_bson_storage_new or bookstore_bson_iter_storage_new.
static inline void bookstore_free(void *storage) { free(storage); }

#endif
