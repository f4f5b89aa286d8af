/* outfile.h: writing a file so that it appears whole or not at all: the text goes to
 * "<path>.tmp.<pid>" and is renamed over path only when every write and the close succeeded.
 *
 * Invariant: after ex_outfile_commit or ex_outfile_abort returns, no temporary file is left. */
#ifndef EXAMPLES_COMMON_OUTFILE_H
#define EXAMPLES_COMMON_OUTFILE_H

#include <stdio.h>

#include <tapegrad.h>

typedef struct ex_outfile {
    FILE *f; /* write here between open and commit */
    const char *path;
    char tmp[4096];
} ex_outfile;

/* Opens the temporary file. TG_ERR_IO (err set, naming it) when it cannot be created; `what`
 * names the writer in messages ("csv", "svg"). */
tg_status ex_outfile_open(ex_outfile *o, const char *path, const char *what, tg_error *err);
/* Closes and renames over the target; on any failure removes the temporary file and returns
 * TG_ERR_IO naming the file and the reason. A failed write is caught here, through ferror, so
 * writers need not check every fprintf. */
tg_status ex_outfile_commit(ex_outfile *o, const char *what, tg_error *err);

/* Whether a file can be written at path, checked by creating and removing the temporary file
 * ex_outfile_open would use (and refusing a folder). Run before training, so that a bad output
 * path costs a message, not an epoch. TG_ERR_IO (err set, naming `what` and path) when not. */
tg_status ex_outfile_check(const char *path, const char *what, tg_error *err);

#endif
