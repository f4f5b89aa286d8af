/* file.h: opening and reading whole files for the loaders in src/data and src/io, with every
 * failure reported through a tg_error naming the file (never a crash, never a print).
 * Private to the library; nothing in include/ depends on it. */
#ifndef TG_DATA_FILE_H
#define TG_DATA_FILE_H

#include <stdio.h>

#include "tapegrad.h"

/* Opens path for binary reading after checking that it names a regular file, and sets *size to
 * its length in bytes. NULL with err set (TG_ERR_IO) when it is missing, a directory, or
 * cannot be opened. `who` starts the message ("idx", "checkpoint"). */
FILE *tg_file_open_regular(const char *who, const char *path, int64_t *size, tg_error *err);

/* Reads exactly n bytes into buf. TG_ERR_IO (a read error) or TG_ERR_FORMAT (the file ended
 * early) naming the file otherwise. */
tg_status tg_file_read(const char *who, const char *path, FILE *f, void *buf, size_t n,
                       tg_error *err);

#endif
