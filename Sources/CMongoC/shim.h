#ifndef BOOKSTORE_CMONGOC_SHIM_H
#define BOOKSTORE_CMONGOC_SHIM_H
// libmongoc 1.23 (Debian libmongoc-dev), with libbson.
#include <mongoc/mongoc.h>
#endif
