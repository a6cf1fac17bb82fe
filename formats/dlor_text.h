/* dlor_text.h - text quoted from an input into a message (C99, header only:
 * shared by the host library and the stand-alone runtime). */
#ifndef DLOR_TEXT_H
#define DLOR_TEXT_H

/* Turns every control byte of s (a newline in a graph string or a metadata
 * value, say) into '?', so that a message quoting it stays one line. */
static inline void dlor_one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

#endif
