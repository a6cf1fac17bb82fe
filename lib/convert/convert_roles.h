/* convert_roles.h - what each tensor of a weight file is for, and what
 * 'dlor convert' factors when no --include says otherwise.
 *
 * Roles: LINEAR (the weight of a matrix multiplication), EMBEDDING (a table of
 * rows picked by index), NORM (the scale or shift of a LayerNorm / RMSNorm),
 * OTHER (biases, vectors, buffers, integer tensors, anything else).
 *
 * With a graph: the weights of its LINEAR operations are LINEAR, the tables of
 * its EMBED / POS_EMBED operations EMBEDDING (a tied head that is also a
 * LINEAR weight stays EMBEDDING), the parameters of its norm operations NORM.
 * Without one, names and shapes decide: a 2-D float tensor with both sides
 * above 1 is LINEAR unless named like an embedding table ('*embed*', 'wte',
 * 'wpe', '*position*', '*token_type*') or a norm ('*norm*', 'ln', 'ln_f',
 * 'ln_1', ...). With a graph, tensors it does not name fall back to the same
 * name rules but are never LINEAR. */
#ifndef DLOR_CONVERT_ROLES_H
#define DLOR_CONVERT_ROLES_H

#include <stddef.h>

#include "convert.h"
#include "dlor_graph.h"
#include "dlor_tensor.h"

typedef enum dlor_tensor_role {
    DLOR_ROLE_LINEAR = 0,
    DLOR_ROLE_EMBEDDING = 1,
    DLOR_ROLE_NORM = 2,
    DLOR_ROLE_OTHER = 3
} dlor_tensor_role;

/* The role of t in a model whose graph is g (g may be NULL or empty). */
dlor_tensor_role dlor_tensor_role_of(const dlor_tensor *t, const dlor_graph *g);
/* "linear", "embedding", "norm", "other". */
const char *dlor_role_name(dlor_tensor_role r);

/* Which tensors of src convert's layer forms factor: selected[i] = 1 for
 * those. Without include globs, the LINEAR tensors; with them, every 2-D
 * tensor matching one (whatever its role); never one matching an exclude
 * glob, and never a table an embedding lookup of g reads (the runtime needs
 * it as rows). A tensor asked for by --include that cannot be factored (not
 * float, empty, a table) gets one note through hooks naming 'in' and why.
 * Returns the count selected. */
size_t dlor_convert_select(const dlor_tensor_list *src, const dlor_graph *g, const char *const *include,
                           int ninclude, const char *const *exclude, int nexclude, const char *in, int *selected,
                           const dlor_convert_hooks *hooks);

#endif
