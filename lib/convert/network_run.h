/* network_run.h - the network form's pipeline (network_run.c): each dense
 * layer of the graph replaced by DLoR sub-layers with the activation between
 * them, h searched on the end-to-end error, into a container ready to write. */
#ifndef DLOR_NETWORK_RUN_H
#define DLOR_NETWORK_RUN_H

#include "convert_run.h"
#include "network.h"

typedef struct net_cfg {
    dlor_net_opts no;
    int h_auto;
    double h;
    dlor_dtype storage;
    int u_layout;         /* --layout */
    const char *calib;    /* model inputs (.npy) the error is measured on (NULL: 256 seeded normal samples) */
    const char *const *include; /* globs selecting the dense layers to replace (ninclude 0: all) */
    size_t ninclude;
    const char *const *exclude;
    size_t nexclude;
} net_cfg;

/* What the network form came to, for the command's summary line. */
typedef struct dlor_net_summary {
    double h, err64, err32;  /* the h used; max abs error to the dense model, f64 and f32 runtime */
    uint64_t nsamples;       /* inputs the error was measured on */
    char inputs[300];        /* their name (the calibration file, or "seeded normal inputs") */
    size_t nlayers;          /* linear layers of the graph */
    int constructed;         /* of those, built of several components */
    uint64_t params, params_dense; /* parameters the network uses, and the dense model's */
} dlor_net_summary;

/* Builds the network form of src (read from the file in; graph: its graph,
 * from graph_source, which must not be empty: why says why it is) into
 * out->c (free out with dlor_converted_free either way; src must outlive it). */
dlor_status dlor_convert_network_source(const char *in, const dlor_tensor_list *src, const dlor_graph *graph,
                                        const char *graph_source, const char *why, const net_cfg *cfg,
                                        const dlor_convert_hooks *hooks, dlor_converted *out, dlor_net_summary *sum,
                                        dlor_error *err);

#endif
