/* network_cmd.h - the commands' side of the network form: convert --form network,
 * and float64 inputs for dlor run --dtype f64. */
#ifndef DLOR_NETWORK_CMD_H
#define DLOR_NETWORK_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_error.h"
#include "opts.h"

struct net_cfg;
/* dlor convert IN -o OUT --form network ...: called by dlor convert with its
 * parsed options, option table and the network form's configuration checked
 * from them (dlor_convert_args_check). Returns the exit status. */
int dlor_convert_network(const dlor_opts *o, const dlor_optdef *defs, const struct net_cfg *cfg);

struct dlor_model;
/* dlor run: a note on stderr when a network form made for float64 is run in float32. */
void dlor_network_run_note(const char *path, const struct dlor_model *m, int f64);

#endif
