/* check_dlor - whether dlor's readers accept a .dlor file: check_dlor FILE...
 * prints one line per file, "ok" or the reader's message, and exits 0 when
 * every file was accepted, 1 otherwise. A file is read as the hosts read it
 * (inflated when compressed, every check of DLOR_FORMAT.md section 9, tensor
 * CRCs included) and, uncompressed, by the in-place parser alone (the
 * runtime's); the two must agree, or the line says so. The format tests set
 * its verdicts beside an independent reader's (tests/dlor_pyreader.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_container.h"
#include "dlor_fileio.h"

int main(int argc, char **argv)
{
    int bad = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: check_dlor FILE...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        unsigned char *img = NULL;
        size_t len = 0;
        dlor_error err;
        dlor_container c;
        dlor_container_init(&c);
        dlor_status st = dlor_image_load_file(argv[i], &img, &len, &err);
        if (st == DLOR_OK) st = dlor_container_parse(img, len, argv[i], DLOR_IMAGE_CHECK_CRC, &c, &err);
        /* the in-place parser on the same (inflated) bytes */
        dlor_image view;
        dlor_image_error ie;
        int in_place = img ? dlor_image_open(&view, img, len, DLOR_IMAGE_CHECK_CRC, &ie) : -1;
        if (img && (in_place == 0) != (st == DLOR_OK))
            printf("DISAGREE: host %s, in-place %s\n", st == DLOR_OK ? "ok" : err.msg, in_place == 0 ? "ok" : ie.msg);
        else if (st == DLOR_OK)
            printf("ok\n");
        else
            printf("%s\n", err.msg);
        bad |= st != DLOR_OK || (img && (in_place == 0) != (st == DLOR_OK));
        dlor_container_free(&c);
        free(img);
    }
    return bad ? 1 : 0;
}
