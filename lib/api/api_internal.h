/* api_internal.h - what the public handles of dlor.h hold (lib/api/). */
#ifndef DLOR_API_INTERNAL_H
#define DLOR_API_INTERNAL_H

#include "convert_run.h"
#include "dlor.h"
#include "dlor_container.h"
#include "dlor_graph.h"
#include "dlor_tensor.h"
#include "model_load.h"
#include "verify_result.h"

struct dlor_file {
    char *path;
    const char *format;        /* dlor_sniff_format's name */
    int is_dlor;
    dlor_container c;          /* a .dlor file: everything; another format: its tensors, metadata, graph */
    const char *graph_source;  /* where the graph came from (static string) */
    char why[512];             /* why there is no graph */
};

struct dlor_conversion {
    const dlor_file *src;
    dlor_converted conv;
};

struct dlor_report {
    dlor_verify_state vs;
    char *in, *out;            /* the paths the report names */
};

struct dlor_runner {
    dlor_loaded l;
};

#endif
